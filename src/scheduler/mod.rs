//! The asynciojobs front door: [`Scheduler`] (building a graph of jobs with handles,
//! running it, nesting it as a job), [`Sequence`], [`run_async`](Scheduler::run_async),
//! observers, the graph operations and the report methods.
//!
//! May use: `engine`, `job`, `graph`, `report` (for the methods that return a report)
//! and the leaves; never `batch`.

use std::collections::HashSet;
use std::fmt;
use std::ptr::NonNull;
use std::sync::Arc;
use std::time::Duration;

use crate::engine::{Observer, Pool, DEFAULT_GRACE, DEFAULT_STALL_TIMEOUT};
use crate::error::Error;
use crate::graph::{self, place};
use crate::job::{
    release_unreachable, requirements_added, warm_ahead, AnyJob, Core, Group, Jobs, Node, Outcome,
    Shared, Shell, WeakShared, NESTED, WARM_AHEAD,
};
use crate::report::{run_stats, tally, Recorder};
use crate::sync::global::AtomicU32;
use crate::sync::{AtomicU64, Mutex, Ordering};
use crate::watch::Watch;

mod graph_ops;
mod jobs;
mod nesting;
mod observe;
mod reports;
mod run;
mod run_async;
mod sequence;
mod shutdown;

pub(crate) use nesting::inner_of;
pub use run_async::RunFuture;
pub use sequence::Sequence;

static NEXT_ID: AtomicU32 = AtomicU32::new(1);

/// See [`SchedInner::acyclic`]: a count [`requirements_added`] never reaches.
pub(crate) const NOT_ACYCLIC: u64 = u64::MAX;

/// A graph of jobs and the pool that runs it: asynciojobs' `Scheduler`.
///
/// Add jobs (and sequences, and other schedulers) with [`add`](Scheduler::add), then
/// [`run`](Scheduler::run) it once. A scheduler is itself a job: add it to another one
/// and it runs there as one job, with its own window, timeout and criticality.
///
/// Like jobs, a scheduler is a handle: clones are the same scheduler, and setters take
/// and return it. It dereferences to [`AnyJob`] for its state, label and flags: as a
/// nested job, or, run on its own, of that run ([`result`](Scheduler::result) too).
///
/// ```
/// use jobgraph::{Job, Scheduler};
/// let a = Job::new(|_| 1).label("a");
/// let b = Job::new(|_| 2).label("b").requires(&a);
/// let s = Scheduler::new().window(2).add((&a, &b)).clone();
/// assert!(s.run().unwrap());
/// ```
#[derive(Clone)]
pub struct Scheduler {
    pub(crate) inner: Shared<SchedInner>,
    any: AnyJob,
}

pub(crate) struct SchedInner {
    pub(crate) id: u32,
    pub(crate) core: Core,
    pub(crate) conf: Mutex<Conf>,
    pub(crate) jobs: Mutex<Arc<Vec<AnyJob>>>,
    /// Mistakes made while adding jobs, reported by `run`.
    pub(crate) problems: Mutex<Vec<Error>>,
    pub(crate) parent: Mutex<Option<WeakShared<SchedInner>>>,
    pub(crate) report: Mutex<Report>,
    pub(crate) outcome: Outcome<bool>,
    shutdown: Mutex<Option<bool>>,
    /// The jobs whose shutdown hooks had not returned in time.
    pending_shutdowns: Mutex<Vec<AnyJob>>,
    /// Nested: the graph its parent checked and froze for it, until it runs.
    prepared: Mutex<Option<Prepared>>,
    /// What records its run's timeline, when it records one (see `record_timeline`).
    pub(crate) recorder: Mutex<Option<Arc<Recorder>>>,
    /// The list as last frozen had no cycle (every job required only earlier ones)
    /// and has not changed since, when [`requirements_added`] still gives this count;
    /// [`NOT_ACYCLIC`] otherwise: what lets a drop skip looking for cycles. Written
    /// under `jobs`' lock.
    pub(crate) acyclic: AtomicU64,
}

/// A scheduler checked and ready to run: its jobs, and their frozen graph.
pub(crate) struct Prepared {
    jobs: Arc<Vec<AnyJob>>,
    frozen: graph::Frozen,
    /// The named limits of the tree it heads; `None` for a nested scheduler (it
    /// shares its parent's) or a tree whose jobs use none.
    limits: Option<Arc<crate::limits::Limits>>,
}

#[derive(Clone)]
pub(crate) struct Conf {
    pub(crate) window: usize,
    pub(crate) timeout: Option<Duration>,
    pub(crate) grace: Duration,
    pub(crate) shutdown_timeout: Duration,
    pub(crate) verbose: bool,
    /// Calls the shutdown hooks at the end of each run it starts.
    pub(crate) shutdown_after_run: bool,
    pub(crate) watch: Option<Watch>,
    pub(crate) observers: Vec<Observer>,
    pub(crate) stall_timeout: Option<Duration>,
    /// `None`: the pool of the thread that runs it (see `Pool::current`).
    pub(crate) pool: Option<Pool>,
    /// Named limits it defines, `(name, limit)`, each name once.
    pub(crate) limits: Vec<(Box<str>, u32)>,
    /// Records the run's timeline (see `Scheduler::record_timeline`).
    pub(crate) timeline: bool,
    /// Ready jobs start longest remaining path first, even when none has a priority
    /// or a cost.
    pub(crate) longest_path_first: bool,
}

#[derive(Default)]
pub(crate) struct Report {
    pub(crate) ran: bool,
    pub(crate) failed_critical: bool,
    pub(crate) timed_out: bool,
    pub(crate) stalled: bool,
    /// Cancelled from outside: its `run_async` future dropped, or, nested, its
    /// parent's run cancelled it.
    pub(crate) cancelled: bool,
    /// Run on its own (`run`, `run_async`) rather than as a job of a parent.
    pub(crate) top_level: bool,
    /// Nested in a scheduler that records its run's timeline: records its own.
    pub(crate) record_for_parent: bool,
}

impl Drop for SchedInner {
    /// Frees the requirement cycles among this scheduler's jobs that nothing else holds
    /// (see `release_unreachable`): a graph refused for its cycle is freed with its
    /// scheduler, once its handles are gone.
    fn drop(&mut self) {
        // A nested scheduler's graph, checked by its parent and never run, shares the
        // list, and so does the recorder of a run's timeline.
        drop(self.prepared.get_mut().take());
        drop(self.recorder.get_mut().take());
        // Shared with a run still going (a job abandoned by it): leave it be.
        if let Some(jobs) = Arc::get_mut(self.jobs.get_mut()) {
            let acyclic = self.acyclic.load(Ordering::Relaxed) == requirements_added();
            release_unreachable(self.id, jobs, acyclic);
            // A few at a time, the next few asked for ahead: their reference counts'
            // misses overlap, where each decrement would wait for its own.
            let mut left = std::mem::take(jobs).into_iter();
            while !left.as_slice().is_empty() {
                warm_ahead(left.as_slice(), 0);
                left.by_ref().take(WARM_AHEAD).for_each(drop);
            }
        }
    }
}

impl Default for Scheduler {
    fn default() -> Self {
        Scheduler::new()
    }
}

impl Scheduler {
    /// An empty scheduler: critical, unlimited window, no timeout, label `NOLABEL`.
    pub fn new() -> Self {
        let inner = Shared::new(SchedInner {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            core: Core::new(true).with_flag(NESTED),
            conf: Mutex::new(Conf {
                window: 0,
                timeout: None,
                grace: DEFAULT_GRACE,
                shutdown_timeout: Duration::from_secs(1),
                verbose: false,
                shutdown_after_run: false,
                watch: None,
                observers: Vec::new(),
                stall_timeout: Some(DEFAULT_STALL_TIMEOUT),
                pool: None,
                limits: Vec::new(),
                timeline: false,
                longest_path_first: false,
            }),
            jobs: Mutex::new(Arc::new(Vec::new())),
            problems: Mutex::new(Vec::new()),
            parent: Mutex::new(None),
            report: Mutex::new(Report::default()),
            outcome: Outcome::new(),
            shutdown: Mutex::new(None),
            pending_shutdowns: Mutex::new(Vec::new()),
            prepared: Mutex::new(None),
            recorder: Mutex::new(None),
            acyclic: AtomicU64::new(NOT_ACYCLIC),
        });
        Scheduler::from_inner(inner)
    }

    /// The scheduler as the group of jobs that reports list.
    pub(crate) fn as_group(&self) -> Shared<dyn Group> {
        Shared::map_ptr(self.inner.clone(), |inner| -> NonNull<Shell<dyn Group>> {
            inner
        })
    }

    pub(crate) fn from_inner(inner: Shared<SchedInner>) -> Self {
        let any = AnyJob(Shared::map_ptr(
            inner.clone(),
            |inner| -> NonNull<Shell<dyn Node>> { inner },
        ));
        Scheduler { inner, any }
    }

    /// Sets the label shown in listings and errors.
    pub fn label(self, label: impl Into<String>) -> Self {
        self.any.set_label(label);
        self
    }

    /// Whether the scheduler is critical (default: true). A critical scheduler's `run`
    /// returns `Err` when it fails; a non-critical one returns `Ok(false)`. Nested, a
    /// critical scheduler that fails stops its parent.
    pub fn critical(self, critical: bool) -> Self {
        self.any.set_critical(critical);
        self
    }

    /// The pool of worker threads this scheduler's runs use. Without one, a run uses
    /// the pool of the worker thread that starts it (a nested scheduler), else
    /// [`Pool::global`].
    pub fn pool(self, pool: &Pool) -> Self {
        self.inner.conf.lock().pool = Some(pool.clone());
        self
    }

    /// Whether the scheduler, nested in another, runs as a forever job.
    pub fn forever(self, forever: bool) -> Self {
        self.any.set_forever(forever);
        self
    }

    /// Requirements of the scheduler as a nested job.
    pub fn requires(self, jobs: impl Jobs) -> Self {
        self.any.add_requires(jobs);
        self
    }

    /// At most this many jobs run at once; `0` (the default) means no limit. Either
    /// way a run uses at most
    /// [`UNLIMITED_WINDOW_WORKERS`](crate::UNLIMITED_WINDOW_WORKERS) workers: the jobs
    /// beyond wait for a free one. The run hires workers from its [`Pool`] as jobs
    /// need them, never more than the window.
    pub fn window(self, window: usize) -> Self {
        self.inner.conf.lock().window = window;
        self
    }

    /// The run's global timeout, counted from its start, waiting included. At the
    /// deadline nothing new starts and running jobs are cancelled. A job that returns
    /// after the deadline has not completed in time: it is cancelled (what it returned
    /// is not kept) and the run times out, even when the thread that called `run` is
    /// late to notice. `Duration::MAX` (or any duration too long to count from the
    /// start) means no deadline.
    pub fn timeout(self, timeout: Duration) -> Self {
        self.inner.conf.lock().timeout = Some(timeout);
        self
    }

    /// How long a run that ends waits for its cancelled jobs to return (default
    /// [`DEFAULT_GRACE`]). A job still running after that is abandoned: reported as
    /// running, whatever it returns later dropped. `Duration::MAX` (or any duration too
    /// long to count from now) waits for them however long they take.
    ///
    /// A value the run does not keep (a cancelled job's, an abandoned job's) is dropped
    /// on the job's own thread once its end is recorded: a `Drop` that is slow does not
    /// hold the run, and one that panics is caught (the panic hook reports it).
    pub fn grace(self, grace: Duration) -> Self {
        self.inner.conf.lock().grace = grace;
        self
    }

    /// How long the run may stay stalled before it ends (default
    /// [`DEFAULT_STALL_TIMEOUT`]); `None`, or `Some(Duration::MAX)`, never ends a
    /// stalled run.
    ///
    /// A run is stalled when every running job is a future job parked on something that
    /// no job can provide (not a [`sleep`](crate::sleep)), while no other job can start:
    /// say, with a window of 1, a future that awaits a channel fed by a later job. It
    /// then ends as a timeout does, with [`Error::Stalled`] from a critical scheduler.
    /// Futures that wait longer than this on the world outside the run (another
    /// thread, a socket) while they fill the window need a longer bound, or `None`.
    pub fn stall_timeout(self, timeout: Option<Duration>) -> Self {
        self.inner.conf.lock().stall_timeout = timeout;
        self
    }

    /// A named limit: at most `limit` of `name` in use at once, over the jobs that use
    /// it ([`Job::uses`](crate::Job::uses)), on top of the window. The jobs of the
    /// schedulers nested in this one share it (one of theirs that defines the same
    /// name has a limit of its own). A second call for the same name replaces the
    /// limit; a limit of 0 is refused before the run ([`Error::Limit`]).
    ///
    /// ```
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use std::sync::Arc;
    /// use jobgraph::{Job, Scheduler};
    ///
    /// let (now, most) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    /// let s = Scheduler::new().window(8).limit("gpu", 2);
    /// for _ in 0..8 {
    ///     let (now, most) = (now.clone(), most.clone());
    ///     s.add(Job::new(move |ctx| {
    ///         most.fetch_max(now.fetch_add(1, Ordering::SeqCst) + 1, Ordering::SeqCst);
    ///         ctx.sleep(std::time::Duration::from_millis(5));
    ///         now.fetch_sub(1, Ordering::SeqCst);
    ///     })
    ///     .uses("gpu", 1));
    /// }
    /// assert!(s.run().unwrap());
    /// assert!(most.load(Ordering::SeqCst) <= 2);
    /// ```
    pub fn limit(self, name: &str, limit: u32) -> Self {
        {
            let mut conf = self.inner.conf.lock();
            match conf.limits.iter_mut().find(|(old, _)| &**old == name) {
                Some((_, old)) => *old = limit,
                None => conf.limits.push((name.into(), limit)),
            }
        }
        self
    }

    /// The named limits this scheduler defines, `(name, limit)` (see
    /// [`limit`](Scheduler::limit)).
    pub fn limits(&self) -> Vec<(String, u32)> {
        let conf = self.inner.conf.lock();
        conf.limits
            .iter()
            .map(|(name, limit)| (name.to_string(), *limit))
            .collect()
    }

    /// Whether ready jobs start longest remaining path first (default: false, unless a
    /// job has a [`priority`](crate::Job::priority) or a [`cost`](crate::Job::cost)).
    ///
    /// By default a free worker takes the job that became ready first. Ranked, it takes
    /// the ready job of highest priority, then of longest remaining path to the end of
    /// the graph (the sum of the costs of the jobs along it, each counting 1 unless it
    /// has a cost), then the one added first: the long chains start early, and a
    /// narrow window ends sooner on a graph whose jobs differ in length (the
    /// repository's `tools/compare` measures it). A job with a priority or a cost ranks its whole scheduler, whatever
    /// this says; a nested scheduler has its own setting.
    ///
    /// Ranking costs a lock per ready job (the ready jobs wait in one shared queue),
    /// which the first-ready order does not pay: it is for jobs that take long enough
    /// for their order to matter.
    pub fn longest_path_first(self, on: bool) -> Self {
        self.inner.conf.lock().longest_path_first = on;
        self
    }

    /// How long [`shutdown`](Scheduler::shutdown) waits for the jobs' hooks (default 1 s).
    /// `Duration::MAX` (or any duration too long to count from now) waits however long
    /// they take.
    pub fn shutdown_timeout(self, timeout: Duration) -> Self {
        self.inner.conf.lock().shutdown_timeout = timeout;
        self
    }

    /// Whether [`run`](Scheduler::run) (and [`run_async`](Scheduler::run_async)) calls
    /// [`shutdown`](Scheduler::shutdown) when the run ends, whatever its outcome.
    ///
    /// Off by default, as in the asynciojobs this crate follows (0.14.2), where shutdown
    /// is the caller's to ask for once it has read the results; later asynciojobs calls
    /// it at the end of each run, which this setting gives. A nested scheduler's hooks
    /// are its parent's to call.
    ///
    /// ```
    /// use std::sync::atomic::{AtomicBool, Ordering};
    /// use std::sync::Arc;
    /// use jobgraph::{Job, Scheduler};
    /// let closed = Arc::new(AtomicBool::new(false));
    /// let seen = closed.clone();
    /// let job = Job::new(|_| 1).on_shutdown(move || seen.store(true, Ordering::SeqCst));
    /// let s = Scheduler::new().shutdown_after_run(true).with(&job);
    /// assert!(s.run().unwrap());
    /// assert!(closed.load(Ordering::SeqCst));
    /// ```
    pub fn shutdown_after_run(self, shutdown: bool) -> Self {
        self.inner.conf.lock().shutdown_after_run = shutdown;
        self
    }

    /// Whether `run` prints its events.
    pub fn verbose(self, verbose: bool) -> Self {
        self.inner.conf.lock().verbose = verbose;
        self
    }

    /// Whether `run` records its timeline (off by default): when each job started and
    /// ended, on which worker, how many attempts it took and how it ended, here and in
    /// nested schedulers. Read it after the run with [`timeline`](Scheduler::timeline);
    /// [`debrief`](Scheduler::debrief) then ends with the run's critical path, and
    /// [`dot_format`](Scheduler::dot_format) draws that path bold.
    ///
    /// Recording is an observer of the run's events (see [`Event`](crate::Event)): a
    /// clock reading and a short lock per event of each job. A run that records
    /// nothing, and has no other observer, builds no event at all.
    pub fn record_timeline(self, record: bool) -> Self {
        self.inner.conf.lock().timeline = record;
        self
    }

    /// Whether `run` records its timeline.
    pub fn is_recording_timeline(&self) -> bool {
        self.inner.conf.lock().timeline
    }

    /// The watch that time-stamps verbose output.
    pub fn watch(self, watch: Watch) -> Self {
        self.inner.conf.lock().watch = Some(watch);
        self
    }

    /// The window, as set.
    pub fn window_size(&self) -> usize {
        self.inner.conf.lock().window
    }

    /// The timeout, as set.
    pub fn timeout_duration(&self) -> Option<Duration> {
        self.inner.conf.lock().timeout
    }

    /// Whether `run` prints its events.
    pub fn is_verbose(&self) -> bool {
        self.inner.conf.lock().verbose
    }

    /// The watch, as set.
    pub fn get_watch(&self) -> Option<Watch> {
        self.inner.conf.lock().watch.clone()
    }

    /// [`add`](Scheduler::add) as the last step of building a scheduler: takes the
    /// scheduler and gives it back, so that the chain ends with a value, not a
    /// reference to clone.
    ///
    /// ```
    /// use jobgraph::{Job, Scheduler};
    /// let a = Job::new(|_| 1);
    /// let b = Job::after(&a, |_, a| a + 1);
    /// let s = Scheduler::new().window(2).with((&a, &b));
    /// assert!(s.run().unwrap());
    /// assert_eq!(*b.result().unwrap(), 2);
    /// ```
    pub fn with(self, jobs: impl Jobs) -> Scheduler {
        self.add(jobs);
        self
    }

    /// Adds jobs: a job, a scheduler, a sequence (all its jobs), or a collection or
    /// tuple of those. Adding a job that is already here does nothing.
    ///
    /// A job belongs to one scheduler: adding it to a second one, or a scheduler to
    /// itself, is refused, and [`run`](Scheduler::run) reports it before anything starts.
    pub fn add(&self, jobs: impl Jobs) -> &Self {
        let mut list = self.inner.jobs.lock();
        let list = Arc::make_mut(&mut list);
        self.inner.acyclic.store(NOT_ACYCLIC, Ordering::Relaxed);
        let known = list.len();
        // Straight into the list, then keep, in order, those that take their place here.
        let pushed =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| jobs.push_jobs(list)));
        if let Err(panic) = pushed {
            // A `Jobs` of the user's that panicked halfway: the list as it was.
            list.truncate(known);
            std::panic::resume_unwind(panic);
        }
        let mut kept = known;
        for i in known..list.len() {
            warm_ahead(&list[known..], i - known);
            match self.adopt(&mut list[i], kept) {
                Ok(true) => {
                    list.swap(kept, i);
                    kept += 1;
                }
                Ok(false) => {}
                Err(reason) => self.inner.problems.lock().push(Error::Misplaced {
                    job: list[i].text_label(),
                    scheduler: self.text_label(),
                    reason,
                }),
            }
        }
        list.truncate(kept);
        self
    }

    /// asynciojobs' name for [`add`](Scheduler::add) with several jobs.
    pub fn update(&self, jobs: impl Jobs) -> &Self {
        self.add(jobs)
    }

    /// Takes `job` in at `index`: `Ok(true)` when it is new here, `Ok(false)` when it
    /// is here already. A compare-and-swap on its place: of two threads adding one job
    /// to two schedulers at once, exactly one takes it.
    fn adopt(&self, job: &mut AnyJob, index: usize) -> Result<bool, &'static str> {
        let here = place(self.inner.id, index);
        // A job whose one handle is the list's (as `add(Job::new(..))` or a vector of
        // jobs nothing requires leaves it) is nobody else's: its place is set with no
        // locked instruction.
        if let Some(core) = job.unique().filter(|core| !core.has_flag(NESTED)) {
            if core.place.load(Ordering::Relaxed) == 0 {
                core.place.store(here, Ordering::Relaxed);
                return Ok(true);
            }
        }
        let core = job.node().core();
        if let Err(found) =
            core.place
                .compare_exchange(0, here, Ordering::AcqRel, Ordering::Acquire)
        {
            return if found >> 32 == u64::from(self.inner.id) {
                Ok(false)
            } else {
                Err("it already belongs to another scheduler, and a job belongs to one scheduler only")
            };
        }
        if core.has_flag(NESTED) {
            if let Some(nested) = inner_of(job) {
                let mut ancestor = Some(self.inner.clone());
                while let Some(a) = ancestor {
                    if std::ptr::eq(&*a, nested) {
                        core.place.store(0, Ordering::Release);
                        return Err("a scheduler cannot contain itself");
                    }
                    ancestor = a.parent.lock().as_ref().and_then(WeakShared::upgrade);
                }
                *nested.parent.lock() = Some(Shared::downgrade(&self.inner));
            }
        }
        Ok(true)
    }

    /// Removes jobs (those not here are ignored).
    pub fn remove(&self, jobs: impl Jobs) -> &Self {
        let mut removed = Vec::new();
        jobs.push_jobs(&mut removed);
        let removed: HashSet<AnyJob> = removed.into_iter().collect();
        let mut list = self.inner.jobs.lock();
        let list = Arc::make_mut(&mut list);
        self.inner.acyclic.store(NOT_ACYCLIC, Ordering::Relaxed);
        list.retain(|job| {
            if !removed.contains(job) {
                return true;
            }
            job.node().core().place.store(0, Ordering::Release);
            if let Some(nested) = inner_of(job) {
                *nested.parent.lock() = None;
            }
            false
        });
        for (i, job) in list.iter().enumerate() {
            job.node()
                .core()
                .place
                .store(place(self.inner.id, i), Ordering::Release);
        }
        self
    }

    /// How many jobs were added (a nested scheduler counts as one).
    pub fn len(&self) -> usize {
        self.inner.jobs.lock().len()
    }

    /// Whether no job was added.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The jobs, in the order they were added.
    pub fn jobs(&self) -> Vec<AnyJob> {
        self.inner.jobs.lock().to_vec()
    }

    /// The scheduler as a job, untyped.
    pub fn any(&self) -> AnyJob {
        self.any.clone()
    }

    /// Runs every job, each once all its requirements are done, at most `window` at a
    /// time; blocks until the end.
    ///
    /// `Ok(true)` when every non-forever job completed within the timeout and no
    /// critical job failed. Otherwise a non-critical scheduler returns `Ok(false)`, and
    /// a critical one `Err`: [`Error::Timeout`], or the failed critical job's own error
    /// (the first in insertion order, looking inside nested schedulers).
    ///
    /// Mistakes in the graph (a cycle, a requirement outside the scheduler or on a
    /// forever job, a second run, ...) are reported before anything starts.
    ///
    /// Called in the body of a job of another run (a scheduler's or a batch's), the run
    /// is part of that job: when that run cancels the job (its timeout, a critical
    /// failure elsewhere, its own cancellation), this run is cancelled too, and returns
    /// `Ok(false)`, as a nested scheduler would. Anywhere else (on a thread that is not
    /// running a job) nothing but its own timeout and jobs ends it.
    ///
    /// Once it ran, the scheduler's own [`state`](AnyJob::state) (`Done`, or `Cancelled`
    /// after a run cancelled from outside: its [`run_async`](Scheduler::run_async)
    /// future dropped, or the job it ran in cancelled) and
    /// [`result`](Scheduler::result) answer for this run, as they do for a nested
    /// scheduler's.
    pub fn run(&self) -> Result<bool, Error> {
        let result = self.inner.run_top(None);
        self.shutdown_if_asked();
        result
    }

    /// Whether the last run stopped because a critical job failed.
    pub fn failed_critical(&self) -> bool {
        self.inner.report.lock().failed_critical
    }

    /// The timeout, when the last run ran past it.
    pub fn failed_time_out(&self) -> Option<Duration> {
        if self.inner.report.lock().timed_out {
            self.timeout_duration()
        } else {
            None
        }
    }

    /// Why the run ended, as asynciojobs says it: `FINE`, `TIMED OUT after 0.25s`, or
    /// `a CRITICAL job has raised an exception`; `STALLED: ...` after a stall, and
    /// `CANCELLED before it ended` after a run cancelled from outside (its
    /// [`run_async`](Scheduler::run_async) future dropped, or, nested, with its parent).
    pub fn why(&self) -> String {
        self.inner.why_text()
    }

    /// Counts of jobs as `3D + 1R + 0I = 4`: done, started but not done, not started;
    /// `0D + 1R + 0I = 1, CANCELLED` after a run cancelled from outside (its
    /// [`run_async`](Scheduler::run_async) future dropped).
    pub fn stats(&self) -> String {
        let cancelled = self.inner.report.lock().cancelled;
        run_stats(self.inner.jobs.lock().iter().map(AnyJob::state), cancelled)
    }

    fn counts(&self) -> (usize, usize, usize) {
        tally(self.inner.jobs.lock().iter().map(AnyJob::state))
    }

    /// Whether the graph is free of cycles and of requirements on jobs that are not in
    /// it, here and in nested schedulers.
    pub fn check_cycles(&self) -> bool {
        self.graph_is_sound()
    }

    /// One cycle of the graph, here or in a nested scheduler, when it has one: jobs
    /// each requiring the one before it (the first requires the last).
    pub fn find_cycle(&self) -> Option<Vec<AnyJob>> {
        self.first_cycle()
    }

    /// Drops requirements on jobs that are not in this scheduler, here and in nested
    /// schedulers. True when nothing had to change.
    ///
    /// A [verbose](Scheduler::verbose) scheduler prints, as asynciojobs'
    /// `sanitize(verbose=True)` does, one line for each job that lost requirements,
    /// in nested schedulers too, naming the scheduler that held it:
    /// `********** WARNING: job <Job `b`> in NOLABEL had 1 requirements removed`.
    /// [`sanitize_removed`](Scheduler::sanitize_removed) returns them instead.
    pub fn sanitize(&self) -> bool {
        let removed = self.sanitize_removed();
        let verbose = self.is_verbose();
        for (job, requirements) in &removed {
            let scheduler = self.find_owner(job);
            if verbose || scheduler.is_verbose() {
                println!(
                    "********** WARNING: job <{} `{}`> in {} had {} requirements removed",
                    job.kind(),
                    job.text_label(),
                    scheduler.text_label(),
                    requirements.len()
                );
            }
        }
        removed.is_empty()
    }

    /// Does what [`sanitize`](Scheduler::sanitize) does, and says what it removed:
    /// each job that lost requirements (here and in nested schedulers, depth first in
    /// insertion order) with the requirements it lost. Empty when nothing had to change.
    ///
    /// ```
    /// use jobgraph::{Job, Scheduler};
    /// let outside = Job::new(|_| 0).label("outside");
    /// let a = Job::new(|_| 1).label("a").requires(&outside);
    /// let s = Scheduler::new();
    /// s.add(&a);
    /// assert_eq!(s.sanitize_removed(), vec![(a.any(), vec![outside.any()])]);
    /// assert!(s.sanitize_removed().is_empty());
    /// ```
    pub fn sanitize_removed(&self) -> Vec<(AnyJob, Vec<AnyJob>)> {
        let mut removed = Vec::new();
        self.sanitize_into(&mut removed);
        removed
    }

    fn sanitize_into(&self, removed: &mut Vec<(AnyJob, Vec<AnyJob>)>) {
        for job in &self.jobs() {
            let mut meta = job.node().core().meta.lock();
            let (kept, lost): (Vec<AnyJob>, Vec<AnyJob>) = std::mem::take(&mut meta.requires)
                .into_iter()
                .partition(|required| {
                    let found = required.node().core().place.load(Ordering::Relaxed);
                    found >> 32 == u64::from(self.inner.id)
                });
            meta.requires = kept.into_iter().collect();
            // The removed handles leave the lock before anything drops them: dropping a
            // handle may look at this job's list.
            drop(meta);
            if !lost.is_empty() {
                removed.push((job.clone(), lost));
            }
            if let Some(nested) = job.as_scheduler() {
                nested.sanitize_into(removed);
            }
        }
    }

    /// The scheduler, this one or one nested in it, that holds `job`.
    fn find_owner(&self, job: &AnyJob) -> Scheduler {
        let place = job.node().core().place.load(Ordering::Relaxed) >> 32;
        self.iterate_jobs_and_schedulers()
            .iter()
            .filter_map(AnyJob::as_scheduler)
            .find(|s| u64::from(s.inner.id) == place)
            .unwrap_or_else(|| self.clone())
    }

    /// The outcome of the scheduler's run, once it ran: what [`run`](Scheduler::run)
    /// (or [`run_async`](Scheduler::run_async)) returned when it ran on its own; as a
    /// nested job, its value (`true` or `false`), or [`Error::JobFailed`] with its
    /// error. [`Error::NotDone`] before the run, while it runs, and after a run
    /// cancelled from outside (state `cancelled`).
    ///
    /// ```
    /// use jobgraph::{Job, JobState, Scheduler};
    /// let s = Scheduler::new();
    /// s.add(Job::new(|_| 1));
    /// assert!(s.result().is_err()); // not run yet
    /// assert!(s.run().unwrap());
    /// assert_eq!(s.state(), JobState::Done);
    /// assert!(s.result().unwrap());
    /// ```
    pub fn result(&self) -> Result<bool, Error> {
        match self.inner.outcome.get() {
            Some(Ok(value)) => Ok(*value),
            Some(Err(error)) => match error.downcast_ref::<Error>() {
                Some(own) if self.inner.report.lock().top_level => Err(own.clone()),
                _ => Err(Error::JobFailed {
                    label: self.text_label(),
                    source: error.clone(),
                }),
            },
            None => Err(Error::NotDone {
                label: self.text_label(),
                state: self.state().name(),
            }),
        }
    }
}

impl std::ops::Deref for Scheduler {
    type Target = AnyJob;
    fn deref(&self) -> &AnyJob {
        &self.any
    }
}

impl fmt::Display for Scheduler {
    /// `Scheduler with 0 done + 0 ongoing + 3 idle = 3 job(s)`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (done, ongoing, idle) = self.counts();
        write!(
            f,
            "Scheduler with {done} done + {ongoing} ongoing + {idle} idle = {} job(s)",
            done + ongoing + idle
        )
    }
}

impl fmt::Debug for Scheduler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}
