//! The asynciojobs front door: [`Scheduler`] (building a graph of jobs with handles,
//! running it, nesting it as a job), [`Sequence`], [`run_async`](Scheduler::run_async),
//! observers, the graph operations and the report methods.
//!
//! May use: `engine`, `job`, `graph`, `report` (for the methods that return a report)
//! and the leaves; never `batch`.

use std::collections::HashSet;
use std::fmt;
use std::sync::{mpsc, Arc, Weak};
use std::time::Duration;

use crate::engine::{Observer, DEFAULT_GRACE, DEFAULT_STALL_TIMEOUT};
use crate::error::Error;
use crate::graph::{self, place};
use crate::job::{AnyJob, Core, Jobs, Outcome, NESTED};
use crate::report::{stats_line, tally};
use crate::sync::global::AtomicU32;
use crate::sync::{thread, Mutex, Ordering};
use crate::watch::Watch;

mod graph_ops;
mod jobs;
mod nesting;
mod observe;
mod reports;
mod run;
mod run_async;
mod sequence;

pub(crate) use nesting::inner_of;
pub use run_async::RunFuture;
pub use sequence::Sequence;

static NEXT_ID: AtomicU32 = AtomicU32::new(1);

/// A graph of jobs and the pool that runs it: asynciojobs' `Scheduler`.
///
/// Add jobs (and sequences, and other schedulers) with [`add`](Scheduler::add), then
/// [`run`](Scheduler::run) it once. A scheduler is itself a job: add it to another one
/// and it runs there as one job, with its own window, timeout and criticality.
///
/// Like jobs, a scheduler is a handle: clones are the same scheduler, and setters take
/// and return it. It dereferences to [`AnyJob`] for its state as a nested job.
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
    pub(crate) inner: Arc<SchedInner>,
    any: AnyJob,
}

pub(crate) struct SchedInner {
    pub(crate) id: u32,
    pub(crate) core: Core,
    pub(crate) conf: Mutex<Conf>,
    pub(crate) jobs: Mutex<Arc<Vec<AnyJob>>>,
    /// Mistakes made while adding jobs, reported by `run`.
    pub(crate) problems: Mutex<Vec<Error>>,
    pub(crate) parent: Mutex<Weak<SchedInner>>,
    pub(crate) report: Mutex<Report>,
    pub(crate) outcome: Outcome<bool>,
    shutdown: Mutex<Option<bool>>,
    /// Nested: the graph its parent checked and froze for it, until it runs.
    prepared: Mutex<Option<Prepared>>,
}

/// A scheduler checked and ready to run: its jobs, and their frozen graph.
pub(crate) struct Prepared {
    jobs: Arc<Vec<AnyJob>>,
    frozen: graph::Frozen,
}

#[derive(Clone)]
pub(crate) struct Conf {
    pub(crate) window: usize,
    pub(crate) timeout: Option<Duration>,
    pub(crate) grace: Duration,
    pub(crate) shutdown_timeout: Duration,
    pub(crate) verbose: bool,
    pub(crate) watch: Option<Watch>,
    pub(crate) observers: Vec<Observer>,
    pub(crate) stall_timeout: Option<Duration>,
}

#[derive(Default)]
pub(crate) struct Report {
    pub(crate) ran: bool,
    pub(crate) failed_critical: bool,
    pub(crate) timed_out: bool,
    pub(crate) stalled: bool,
}

impl Default for Scheduler {
    fn default() -> Self {
        Scheduler::new()
    }
}

impl Scheduler {
    /// An empty scheduler: critical, unlimited window, no timeout, label `NOLABEL`.
    pub fn new() -> Self {
        let inner = Arc::new(SchedInner {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            core: Core::new(true).with_flag(NESTED),
            conf: Mutex::new(Conf {
                window: 0,
                timeout: None,
                grace: DEFAULT_GRACE,
                shutdown_timeout: Duration::from_secs(1),
                verbose: false,
                watch: None,
                observers: Vec::new(),
                stall_timeout: Some(DEFAULT_STALL_TIMEOUT),
            }),
            jobs: Mutex::new(Arc::new(Vec::new())),
            problems: Mutex::new(Vec::new()),
            parent: Mutex::new(Weak::new()),
            report: Mutex::new(Report::default()),
            outcome: Outcome::new(),
            shutdown: Mutex::new(None),
            prepared: Mutex::new(None),
        });
        let any = AnyJob(inner.clone());
        Scheduler { inner, any }
    }

    pub(crate) fn from_inner(inner: Arc<SchedInner>) -> Self {
        let any = AnyJob(inner.clone());
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

    /// At most this many jobs run at once; `0` (the default) means no limit, up to
    /// [`UNLIMITED_WINDOW_WORKERS`](crate::UNLIMITED_WINDOW_WORKERS). The run starts worker threads as jobs need them,
    /// never more than the window.
    pub fn window(self, window: usize) -> Self {
        self.inner.conf.lock().window = window;
        self
    }

    /// The run's global timeout, counted from its start, waiting included. At the
    /// deadline nothing new starts and running jobs are cancelled.
    pub fn timeout(self, timeout: Duration) -> Self {
        self.inner.conf.lock().timeout = Some(timeout);
        self
    }

    /// How long a run that ends waits for its cancelled jobs to return (default
    /// [`DEFAULT_GRACE`]). A job still running after that is abandoned: reported as
    /// running, whatever it returns later dropped.
    pub fn grace(self, grace: Duration) -> Self {
        self.inner.conf.lock().grace = grace;
        self
    }

    /// How long the run may stay stalled before it ends (default
    /// [`DEFAULT_STALL_TIMEOUT`]); `None` never ends a stalled run.
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

    /// How long [`shutdown`](Scheduler::shutdown) waits for the jobs' hooks (default 1 s).
    pub fn shutdown_timeout(self, timeout: Duration) -> Self {
        self.inner.conf.lock().shutdown_timeout = timeout;
        self
    }

    /// Whether `run` prints its events.
    pub fn verbose(self, verbose: bool) -> Self {
        self.inner.conf.lock().verbose = verbose;
        self
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

    /// Adds jobs: a job, a scheduler, a sequence (all its jobs), or a collection or
    /// tuple of those. Adding a job that is already here does nothing.
    ///
    /// A job belongs to one scheduler: adding it to a second one, or a scheduler to
    /// itself, is refused, and [`run`](Scheduler::run) reports it before anything starts.
    pub fn add(&self, jobs: impl Jobs) -> &Self {
        let mut list = self.inner.jobs.lock();
        let list = Arc::make_mut(&mut list);
        let known = list.len();
        // Straight into the list, then keep, in order, those that take their place here.
        jobs.push_jobs(list);
        let mut kept = known;
        for i in known..list.len() {
            match self.adopt(&list[i], kept) {
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
    fn adopt(&self, job: &AnyJob, index: usize) -> Result<bool, &'static str> {
        let core = job.node().core();
        let here = place(self.inner.id, index);
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
                    ancestor = a.parent.lock().upgrade();
                }
                *nested.parent.lock() = Arc::downgrade(&self.inner);
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
        list.retain(|job| {
            if !removed.contains(job) {
                return true;
            }
            job.node().core().place.store(0, Ordering::Release);
            if let Some(nested) = inner_of(job) {
                *nested.parent.lock() = Weak::new();
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
    pub fn run(&self) -> Result<bool, Error> {
        let prepared = self.inner.prepare()?;
        self.inner.run_prepared(prepared, None, None)
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
    /// `a CRITICAL job has raised an exception`.
    pub fn why(&self) -> String {
        self.inner.why_text()
    }

    /// Counts of jobs as `3D + 1R + 0I = 4`: done, started but not done, not started.
    pub fn stats(&self) -> String {
        stats_line(self.inner.jobs.lock().iter().map(AnyJob::state))
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
    pub fn sanitize(&self) -> bool {
        let jobs = self.jobs();
        let mut unchanged = true;
        for job in &jobs {
            let mut meta = job.node().core().meta.lock();
            let before = meta.requires.len();
            meta.requires.retain(|required| {
                let found = required.node().core().place.load(Ordering::Relaxed);
                found >> 32 == u64::from(self.inner.id)
            });
            unchanged &= meta.requires.len() == before;
            drop(meta);
            if let Some(nested) = job.as_scheduler() {
                unchanged &= nested.sanitize();
            }
        }
        unchanged
    }

    /// Calls every job's shutdown hook, in nested schedulers too, on a helper thread;
    /// waits for them at most the shutdown timeout. True when all returned in time.
    /// Hooks run once: later calls return the first answer.
    pub fn shutdown(&self) -> bool {
        let mut done = self.inner.shutdown.lock();
        if let Some(answer) = *done {
            return answer;
        }
        let timeout = self.inner.conf.lock().shutdown_timeout;
        let (sender, receiver) = mpsc::channel();
        let inner = self.inner.clone();
        let spawned = thread::Builder::new()
            .name("jobgraph shutdown".into())
            .spawn(move || {
                inner.shutdown_jobs();
                let _ = sender.send(());
            });
        let answer = spawned.is_ok() && receiver.recv_timeout(timeout).is_ok();
        *done = Some(answer);
        answer
    }

    /// The scheduler's outcome as a nested job: its `run` result, once it ran nested.
    pub fn result(&self) -> Result<bool, Error> {
        match self.inner.outcome.get() {
            Some(Ok(value)) => Ok(*value),
            Some(Err(error)) => Err(Error::JobFailed {
                label: self.text_label(),
                source: error.clone(),
            }),
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
