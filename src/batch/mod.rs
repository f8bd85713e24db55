//! The by-index front door: [`Batch`], many jobs of one value type, built in one go
//! with `&mut`, named by index ([`JobId`]): the scheduler's engine without a handle
//! per job. Its slots and bodies are the crate's unsafe places (see `slot` and `body`).
//!
//! May use: `engine`, `job`, `graph`, `report` (for `why` and `stats`) and the leaves;
//! never `scheduler`.

use std::any::Any;
use std::collections::HashMap;
use std::fmt::{self, Debug};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use crate::engine::{
    no_worker, CancelRun, Pool, Reason, Run, Settings, Table, Workers, DEFAULT_GRACE,
    DEFAULT_STALL_TIMEOUT,
};
use crate::error::{Error, JobError};
use crate::graph;
use crate::job::{
    drive, link_to_running_job, state, AnyJob, Backoff, Context, Hint, JobId, JobOutput, JobState,
    Policy, RetryOn, Status, CRITICAL, FOREVER,
};
use crate::report::{run_stats, why_line};
use crate::sync::global::{AtomicU32, AtomicU64};
use crate::sync::{AtomicU8, Mutex, Ordering};

mod body;
mod slot;

use body::Body;
use slot::{Slot, RETURNED};

static NEXT_ID: AtomicU32 = AtomicU32::new(1);

/// A bit of a batch's own flags (masked out of its frozen graph): the job's body runs
/// once (added with `add` or `add_future`), so it cannot be retried.
const ONCE: u8 = 0x08;

/// How many of a job's requirements given together are checked for repeats as they
/// come; past that, they are checked when the batch is frozen.
const TIDY_CHECK: usize = 8;

/// How long a new run waits for the workers of the last one to leave it.
const LET_GO: Duration = Duration::from_secs(1);

/// A graph of many jobs of one value type, built in one go: Taskflow's way of building,
/// with the scheduler's engine and semantics.
///
/// A [`Scheduler`](crate::Scheduler) holds handles: each job is an object of its own
/// that can be made before any scheduler, shared, and read by anyone. That costs
/// each job an allocation and a few atomic operations while it is built. A `Batch` owns
/// its jobs: they are added with `&mut self`, named by a [`JobId`] (an index), and
/// stored side by side; nothing is shared until the run. For graphs of many small jobs
/// (hundreds of thousands of tasks of a computation), that makes building and running a
/// job several times cheaper.
///
/// What stays the same: each job starts once all its requirements are done, at most
/// `window` at a time; a job is critical unless told otherwise (a failure stops the
/// run) or forever (never waited for, cancelled once the rest is done); the timeout; a
/// panic is the job's failure; a cycle, a requirement on a forever job or on a job of
/// another batch, and a second run are errors before anything starts. `run` answers as
/// [`Scheduler::run`](crate::Scheduler::run) does for a critical scheduler.
///
/// Jobs are closures ([`add`](Batch::add)) or futures ([`add_future`](Batch::add_future)).
/// A batch runs on its own ([`run`](Batch::run)) or inside a job of a scheduler
/// ([`run_within`](Batch::run_within)), cancelled with that job.
///
/// # Which front door
///
/// A batch has the run, [`why`](Batch::why), [`stats`](Batch::stats) and each job's
/// outcome by id. It has no `run_async`, no observer, no listing and no picture, on
/// purpose: an [`Event`](crate::Event) names its job by handle, and listings and
/// pictures read jobs through handles, while a batch job has no handle of its own;
/// giving each one would cost the allocation and atomic operations per job that a
/// batch exists to save. Nor does it have jobs of other value types (use an enum, or a
/// `Box<dyn Any + Send + Sync>`) or of your own types. So:
///
/// - a [`Scheduler`](crate::Scheduler) for jobs of your own types or of mixed value
///   types, for observers, [`tracing`](crate::Event#tracing), verbose mode, listings,
///   pictures and shutdown hooks, and for async code (`run_async`);
/// - a `Batch` for many small jobs of one value type, where the cost per job counts;
/// - both, for a large computation in async code or with a progress report: the batch
///   runs inside a job of a scheduler ([`run_within`](Batch::run_within)), and the
///   scheduler is awaited or observed, as here:
///
/// ```
/// use jobgraph::{Batch, Job, Scheduler};
///
/// let sum = Job::new(|ctx| {
///     let mut batch = Batch::new();
///     let ids: Vec<_> = (1..=1000u64).map(|i| batch.add(move |_| i).id()).collect();
///     batch.run_within(ctx)?; // cancelled with this job
///     Ok::<_, jobgraph::Error>(ids.iter().map(|&id| *batch.result(id).unwrap()).sum::<u64>())
/// })
/// .label("sum");
/// let s = Scheduler::new();
/// s.add(&sum);
/// // Any executor: the run happens on jobgraph's threads.
/// assert!(pollster::block_on(s.run_async()).unwrap());
/// assert_eq!(*sum.result().unwrap(), 500_500);
/// ```
///
/// ```
/// use jobgraph::Batch;
///
/// let mut batch = Batch::new().window(2);
/// let fetch = batch.add(|_| 20).label("fetch").id();
/// let double = batch.add(move |ctx| Ok::<_, jobgraph::Error>(ctx.input::<i32>(fetch)? * 2))
///     .requires(fetch)
///     .id();
/// let rest: Vec<_> = (0..1000).map(|i| batch.add(move |_| i).requires(double).id()).collect();
/// assert!(batch.run().unwrap());
/// assert_eq!(*batch.result(double).unwrap(), 40);
/// assert_eq!(*batch.result(rest[999]).unwrap(), 999);
/// ```
#[must_use = "a batch does nothing until it runs (Batch::run)"]
pub struct Batch<T: 'static> {
    id: u32,
    label: String,
    window: usize,
    timeout: Option<Duration>,
    grace: Duration,
    stall_timeout: Option<Duration>,
    /// The jobs, while building; moved into `ran` by the first run.
    building: Cells<T>,
    ran: Option<Arc<Cells<T>>>,
    /// The graph the first run froze, for the runs after it.
    graph: Option<Arc<graph::Frozen>>,
    /// The last run, while a worker of it may still hold it.
    last_run: Option<std::sync::Weak<dyn Workers>>,
    /// Jobs were added or set up after the first run: the batch cannot run again.
    changed: bool,
    /// A job was added with `add` or `add_future`: its body runs once, and so does the
    /// batch.
    one_shot: bool,
    pool: Option<Pool>,
    /// Ready jobs start longest remaining path first (see `Batch::longest_path_first`).
    longest_path_first: bool,
    flags: Vec<u8>,
    /// Requirements as `(job, required)`, in the order given.
    pairs: Vec<(u32, u32)>,
    /// Whether `pairs` may not be grouped by job, or may hold a repeat: each job's
    /// requirements are checked for repeats as they come only when they come together
    /// and are few.
    untidy: bool,
    /// Mistakes made while building, reported by `run`.
    problems: Vec<Error>,
    ending: Option<Reason>,
}

/// A job of a [`Batch`] being set up: from [`Batch::add`] or [`Batch::job`].
pub struct JobMut<'a, T: 'static> {
    batch: &'a mut Batch<T>,
    index: u32,
}

impl<T: 'static> std::fmt::Debug for JobMut<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobMut")
            .field("index", &self.index)
            .finish_non_exhaustive()
    }
}

/// A batch's jobs, as its run sees them.
struct Cells<T: 'static> {
    batch: u32,
    slots: Vec<Slot<T>>,
    /// Labels given, by index: most jobs of a big batch have none.
    labels: HashMap<u32, Box<str>>,
    /// Policies given (a timeout, retries), by index, and the failure of a job that
    /// timed out, made when first asked for.
    policies: HashMap<u32, (Policy, std::sync::OnceLock<JobError>)>,
    /// The failures of the attempts that were tried again, by index, in the last run.
    failed: Mutex<HashMap<u32, Vec<JobError>>>,
    /// Priorities and cost hints given, by index.
    hints: HashMap<u32, Hint>,
    /// How long each job took in the last run, in nanoseconds (0: it did not end),
    /// when the runs are ranked: the next run ranks by them.
    measured: Option<Box<[AtomicU64]>>,
}

impl<T: 'static> Default for Cells<T> {
    fn default() -> Self {
        Cells {
            batch: 0,
            slots: Vec::new(),
            labels: HashMap::new(),
            policies: HashMap::new(),
            failed: Mutex::new(HashMap::new()),
            hints: HashMap::new(),
            measured: None,
        }
    }
}

impl<T: 'static> Cells<T> {
    fn label(&self, i: usize) -> String {
        match self.labels.get(&(i as u32)) {
            Some(label) => label.to_string(),
            None => format!("#{i}"),
        }
    }
}

// `execute` implements `Table`'s unsafe method.
#[allow(unsafe_code)]
impl<T: Send + Sync + Debug + 'static> Table for Cells<T> {
    fn len(&self) -> usize {
        self.slots.len()
    }

    fn state(&self, i: usize) -> &AtomicU8 {
        self.slots[i].lifecycle()
    }

    unsafe fn execute(&self, i: usize, ctx: &Context<'_>) -> Status {
        // SAFETY: the engine executes each index at most once per run, as `Table`'s
        // contract asks, and the runs of a batch's cells never overlap: `Batch::run`
        // takes `&mut`, and runs again only once every job of the last run has returned
        // (`Batch::prepare_again`).
        unsafe { self.slots[i].execute(ctx) }
    }

    fn abandon(&self, i: usize) {
        self.slots[i].abandon()
    }

    fn give_up(&self, i: usize, _: JobError) -> bool {
        // Its failure is made when asked for (see `error`).
        self.slots[i].give_up()
    }

    fn label(&self, i: usize) -> String {
        Cells::label(self, i)
    }

    fn handle(&self, _: usize) -> Option<&AnyJob> {
        None
    }

    fn ended_earlier(&self, _: usize) -> Status {
        // A batch's jobs are reset before each run: a job sealed earlier than this run
        // was given up on by it.
        Status::Lost
    }

    fn failed_attempt(&self, i: usize, error: JobError) {
        self.failed.lock().entry(i as u32).or_default().push(error);
    }

    const KEEPS_TIMES: bool = true;

    fn measured(&self, i: usize, took: Duration) {
        if let Some(measured) = &self.measured {
            let nanos = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX).max(1);
            measured[i].store(nanos, Ordering::Relaxed);
        }
    }

    fn value(&self, i: usize) -> Option<&(dyn Any + Send + Sync)> {
        match self.slots.get(i)?.outcome() {
            Some(Ok(value)) => Some(value),
            _ => None,
        }
    }

    fn error(&self, i: usize) -> Option<&JobError> {
        let slot = self.slots.get(i)?;
        match slot.lifecycle().load(Ordering::Acquire) {
            state::TIMED_OUT | state::TIMED_OUT_RUNNING => {
                let (policy, error) = self.policies.get(&(i as u32))?;
                Some(error.get_or_init(|| {
                    JobError::new(Error::JobTimedOut {
                        label: self.label(i),
                        timeout: policy.timeout.unwrap_or_default(),
                    })
                }))
            }
            _ => match slot.outcome() {
                Some(Err(error)) => Some(error),
                _ => None,
            },
        }
    }

    fn id(&self) -> u32 {
        self.batch
    }
}

impl<T: Send + Sync + Debug + 'static> Default for Batch<T> {
    fn default() -> Self {
        Batch::new()
    }
}

impl<T: Send + Sync + Debug + 'static> Batch<T> {
    /// An empty batch: unlimited window, no timeout, label `NOLABEL`.
    pub fn new() -> Self {
        Batch::with_capacity(0, 0)
    }

    /// An empty batch with room for `jobs` jobs and `requirements` requirements.
    pub fn with_capacity(jobs: usize, requirements: usize) -> Self {
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        Batch {
            id,
            label: "NOLABEL".to_string(),
            window: 0,
            timeout: None,
            grace: DEFAULT_GRACE,
            stall_timeout: Some(DEFAULT_STALL_TIMEOUT),
            building: Cells {
                batch: id,
                slots: Vec::with_capacity(jobs),
                labels: HashMap::new(),
                policies: HashMap::new(),
                failed: Mutex::new(HashMap::new()),
                hints: HashMap::new(),
                measured: None,
            },
            ran: None,
            graph: None,
            last_run: None,
            changed: false,
            one_shot: false,
            pool: None,
            longest_path_first: false,
            flags: Vec::with_capacity(jobs),
            pairs: Vec::with_capacity(requirements),
            untidy: false,
            problems: Vec::new(),
            ending: None,
        }
    }

    /// The pool of worker threads this batch's runs use. Without one, a run uses the
    /// pool of the worker thread that starts it (`run_within`), else [`Pool::global`].
    pub fn pool(mut self, pool: &Pool) -> Self {
        self.pool = Some(pool.clone());
        self
    }

    /// Names the batch in errors.
    pub fn label(mut self, label: impl Into<String>) -> Self {
        self.label = label.into();
        self
    }

    /// At most this many jobs run at once; 0 (the default) means as many as there are
    /// ready jobs, up to [`UNLIMITED_WINDOW_WORKERS`](crate::UNLIMITED_WINDOW_WORKERS) worker threads.
    pub fn window(mut self, window: usize) -> Self {
        self.window = window;
        self
    }

    /// Whether ready jobs start longest remaining path first, as
    /// [`Scheduler::longest_path_first`](crate::Scheduler::longest_path_first) says
    /// (default: false, unless a job has a [`priority`](JobMut::priority) or a
    /// [`cost`](JobMut::cost)). When a ranked batch runs again, a job without a cost
    /// counts the time it took in the last run (in seconds; a job that did not end
    /// then counts the mean of those that did): the longest chain of the last run
    /// starts first.
    pub fn longest_path_first(mut self, on: bool) -> Self {
        self.changed |= self.ran.is_some();
        self.longest_path_first = on;
        self
    }

    /// Ends the run once it has lasted this long: nothing new starts, running jobs are
    /// cancelled, and `run` returns [`Error::Timeout`]. A job that returns after the
    /// deadline has not completed in time: it is cancelled (what it returned is not
    /// kept) and the run times out. `Duration::MAX` (or any duration too long to count
    /// from the start) means no deadline.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// How long a run that has ended waits for its running jobs to return before it
    /// gives up on them (default [`DEFAULT_GRACE`]). `Duration::MAX` (or any duration
    /// too long to count from now) waits for them however long they take. A value the
    /// run does not keep is dropped on the job's own thread, as
    /// [`Scheduler::grace`](crate::Scheduler::grace) says.
    pub fn grace(mut self, grace: Duration) -> Self {
        self.grace = grace;
        self
    }

    /// How long the run may stay stalled (every running job a future waiting for
    /// something no job can provide, and no other job able to start) before it ends
    /// with [`Error::Stalled`]; `None`, or `Some(Duration::MAX)`, never ends it. Default
    /// [`DEFAULT_STALL_TIMEOUT`]; see
    /// [`Scheduler::stall_timeout`](crate::Scheduler::stall_timeout).
    pub fn stall_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.stall_timeout = timeout;
        self
    }

    /// Adds a job that runs a closure on a worker thread: it gets the job's [`Context`]
    /// and returns a value or a `Result` (see [`JobOutput`]). Set it up through the
    /// [`JobMut`] returned, and keep its [`id`](JobMut::id).
    pub fn add<F, R>(&mut self, f: F) -> JobMut<'_, T>
    where
        F: FnOnce(&Context<'_>) -> R + Send + 'static,
        R: JobOutput<Value = T>,
    {
        self.push(Body::new(move |ctx| f(ctx).into_result()))
    }

    /// Adds a job whose closure runs at each run of the batch: a batch whose jobs were
    /// all added so can [`run`](Batch::run) again and again without being rebuilt (a
    /// loop that runs the same graph every frame). Otherwise as [`add`](Batch::add).
    ///
    /// ```
    /// use std::sync::atomic::{AtomicU64, Ordering};
    /// use std::sync::Arc;
    /// use jobgraph::Batch;
    ///
    /// let frame = Arc::new(AtomicU64::new(0));
    /// let mut batch = Batch::new().window(2);
    /// let read = {
    ///     let frame = frame.clone();
    ///     batch.add_mut(move |_| frame.load(Ordering::Relaxed)).id()
    /// };
    /// let twice = batch
    ///     .add_mut(move |ctx| Ok::<_, jobgraph::Error>(ctx.input::<u64>(read)? * 2))
    ///     .requires(read)
    ///     .id();
    /// for n in 1..=3 {
    ///     frame.store(n, Ordering::Relaxed);
    ///     assert!(batch.run().unwrap());
    ///     assert_eq!(*batch.result(twice).unwrap(), 2 * n);
    /// }
    /// ```
    pub fn add_mut<F, R>(&mut self, mut f: F) -> JobMut<'_, T>
    where
        F: FnMut(&Context<'_>) -> R + Send + 'static,
        R: JobOutput<Value = T>,
    {
        self.push(Body::new_mut(move |ctx| f(ctx).into_result()))
    }

    /// Adds a job that drives a future to completion on a worker thread, as
    /// [`Job::future`](crate::Job::future) does (what it can await is told there). A
    /// cancelled future is dropped at its next pending poll.
    pub fn add_future<Fut>(&mut self, future: Fut) -> JobMut<'_, T>
    where
        Fut: Future + Send + 'static,
        Fut::Output: JobOutput<Value = T>,
    {
        self.push(Body::new(move |ctx| match drive(future, ctx) {
            Some(output) => output.into_result(),
            // Cancelled: the run records the cancellation, not this.
            None => Err(JobError::new("cancelled")),
        }))
    }

    fn push(&mut self, body: Body<T>) -> JobMut<'_, T> {
        // Numbered across runs: a job added after the first run is not mistaken for one
        // of the jobs that ran (it never runs: the batch cannot run again).
        self.changed |= self.ran.is_some();
        let once = !body.again();
        self.one_shot |= once;
        let index = self.flags.len() as u32;
        self.building.slots.push(Slot::new(body));
        self.flags
            .push(if once { CRITICAL | ONCE } else { CRITICAL });
        JobMut { batch: self, index }
    }

    /// A job added earlier, to set it up further; [`Error::NotInScheduler`] for a job
    /// of another batch.
    pub fn job(&mut self, id: JobId) -> Result<JobMut<'_, T>, Error> {
        let index = self.index(id)?;
        Ok(JobMut {
            batch: self,
            index: index as u32,
        })
    }

    /// How many jobs were added.
    pub fn len(&self) -> usize {
        self.flags.len()
    }

    /// Whether no job was added.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Runs every job, each once all its requirements are done, at most `window` at a
    /// time; blocks until the end.
    ///
    /// `Ok(true)` when every non-forever job completed. `Err` with the failed job's own
    /// error ([`Error::JobFailed`]) when a critical job failed (the first in index
    /// order), [`Error::Timeout`] past the timeout, and, before anything starts, for a
    /// mistake in the graph: a cycle, a requirement on a forever job or on a job of
    /// another batch, a second run.
    ///
    /// Called in the body of a job of another run (a scheduler's or a batch's), the run
    /// is part of that job, as with [`run_within`](Batch::run_within): it is cancelled
    /// when that job is, and then returns `Ok(false)`.
    pub fn run(&mut self) -> Result<bool, Error> {
        self.run_in(None)
    }

    /// Runs the batch from inside a job of a scheduler (or of another batch), as a
    /// nested scheduler runs: on workers of its own, with its own window and timeout,
    /// and cancelled when that job is (its timeout, a critical failure elsewhere, the
    /// end of a forever job's run). `Ok(false)` when it was cancelled so; otherwise as
    /// [`run`](Batch::run).
    ///
    /// ```
    /// use jobgraph::{Batch, Job, Scheduler};
    ///
    /// // A job of a scheduler whose value is the batch it ran.
    /// let squares = Job::new(|ctx| {
    ///     let mut batch = Batch::new().window(2);
    ///     let ids: Vec<_> = (0..100u64).map(|i| batch.add(move |_| i * i).id()).collect();
    ///     let fine = batch.run_within(ctx)?;
    ///     let sum: u64 = ids.iter().map(|&id| *batch.result(id).unwrap_or(&0)).sum();
    ///     Ok::<_, jobgraph::Error>((fine, sum))
    /// });
    /// Scheduler::new().add(&squares).run().unwrap();
    /// assert_eq!(*squares.result().unwrap(), (true, 328_350));
    /// ```
    pub fn run_within(&mut self, ctx: &Context<'_>) -> Result<bool, Error> {
        self.run_in(Some(ctx))
    }

    fn run_in(&mut self, parent: Option<&Context<'_>>) -> Result<bool, Error> {
        if let Some(problem) = self.problems.first() {
            return Err(problem.clone());
        }
        let (cells, frozen) = match self.ran.take() {
            None => {
                let mut frozen = self.freeze()?;
                if self.longest_path_first || !frozen.hints.is_empty() {
                    graph::rank(&mut frozen, |_| None);
                    let n = self.building.slots.len();
                    self.building.measured = Some((0..n).map(|_| Default::default()).collect());
                }
                let frozen = Arc::new(frozen);
                self.pairs = Vec::new();
                (Arc::new(std::mem::take(&mut self.building)), frozen)
            }
            Some(cells) => match self.prepare_again(&cells) {
                Ok(frozen) => (cells, frozen),
                Err(error) => {
                    self.ran = Some(cells);
                    return Err(error);
                }
            },
        };
        self.ran = Some(Arc::clone(&cells));
        self.graph = Some(Arc::clone(&frozen));
        self.ending = None;
        let settings = Settings::for_run(
            self.window,
            self.timeout,
            self.grace,
            self.label.clone(),
            None,
            self.stall_timeout,
            self.pool.clone(),
        );
        let run = Run::new(cells, frozen, &settings);
        let workers: Arc<dyn Workers> = run.clone();
        self.last_run = Some(Arc::downgrade(&workers));
        // Cancelled with the job it runs in: the one given, or the job whose body called
        // `run` on this thread.
        let _linked = match parent {
            Some(ctx) => {
                ctx.on_cancel(&CancelRun::waker(&run));
                None
            }
            None => link_to_running_job(|| CancelRun::waker(&run)),
        };
        let ending = run.execute(&settings).map_err(no_worker)?;
        self.ending = Some(ending);
        match ending {
            Reason::Finished => Ok(true),
            Reason::Timeout => Err(Error::Timeout {
                label: self.label.clone(),
                timeout: self.timeout.unwrap_or_default(),
            }),
            Reason::Critical => {
                let cells = self.cells();
                let failed = (0..cells.len())
                    .filter(|&i| self.flags[i] & CRITICAL != 0)
                    .find_map(|i| cells.error(i).map(|error| (i, error)));
                match failed {
                    Some((i, error)) => Err(match error.downcast_ref::<Error>() {
                        // A critical job that timed out: its own error, as a scheduler's.
                        Some(timed_out @ Error::JobTimedOut { .. }) => timed_out.clone(),
                        _ => Error::JobFailed {
                            label: cells.label(i),
                            source: error.clone(),
                        },
                    }),
                    None => Ok(false),
                }
            }
            Reason::Stalled => {
                let (running, ready) = run.stall.seen.lock().take().unwrap_or_default();
                Err(Error::Stalled {
                    label: self.label.clone(),
                    timeout: self.stall_timeout.unwrap_or_default(),
                    running,
                    ready,
                })
            }
            Reason::Cancelled => Ok(false),
        }
    }

    /// Makes the jobs of the last run idle again for a new one, once that is sound:
    /// every job added with `add_mut` (else [`Error::AlreadyRan`]), none added or set
    /// up since, every job of the last run returned. The results of the last run stay readable when it is not.
    #[allow(unsafe_code)] // `Slot::reset`
    fn prepare_again(&mut self, cells: &Arc<Cells<T>>) -> Result<Arc<graph::Frozen>, Error> {
        if self.one_shot {
            return Err(Error::AlreadyRan {
                label: self.label.clone(),
            });
        }
        let (Some(frozen), false) = (&self.graph, self.changed) else {
            return Err(Error::ChangedAfterRun {
                label: self.label.clone(),
            });
        };
        let still_running = |cells: &Cells<T>| {
            (0..cells.len())
                .find(|&i| !cells.slots[i].returned())
                .map(|i| Error::StillRunning {
                    label: self.label.clone(),
                    job: cells.label(i),
                })
        };
        if let Some(error) = still_running(cells) {
            return Err(error);
        }
        // A worker of the last run that has not left its job loop yet might still
        // start a job it took before that run ended (it would be given up on): wait for
        // them all to leave, which takes microseconds unless one is in a job.
        if let Some(run) = self.last_run.as_ref().and_then(std::sync::Weak::upgrade) {
            let waited = std::time::Instant::now();
            while run.workers_alive() > 0 {
                if waited.elapsed() >= LET_GO {
                    return Err(still_running(cells).unwrap_or(Error::StillRunning {
                        label: self.label.clone(),
                        job: "a worker of the last run".to_string(),
                    }));
                }
                std::thread::yield_now();
            }
        }
        let frozen = match &cells.measured {
            Some(measured) => Arc::new(rerank(frozen, measured)),
            None => Arc::clone(frozen),
        };
        cells.failed.lock().clear();
        for slot in &cells.slots {
            // SAFETY: every job of the last run has returned and every worker of that
            // run has left its job loop (above): no execution of a slot is in flight,
            // and nothing starts one until the next run, after this; `&mut self` rules
            // out a borrowed result.
            unsafe { slot.reset() }
        }
        Ok(frozen)
    }

    /// Checks the graph and builds its dense form.
    fn freeze(&mut self) -> Result<graph::Frozen, Error> {
        if self.untidy {
            // Requirements added out of job order, or many to one job: group them by
            // job, and drop the repeats.
            self.pairs.sort_unstable();
            self.pairs.dedup();
        }
        for &(job, required) in &self.pairs {
            if self.flags[required as usize] & FOREVER != 0 {
                return Err(Error::RequiresForever {
                    job: self.building.label(job as usize),
                    forever: self.building.label(required as usize),
                });
            }
        }
        // `ONCE` is the batch's own: not a bit of the frozen graph.
        let flags = self.flags.iter().map(|&flags| flags & !ONCE).collect();
        let mut frozen = graph::from_sorted_pairs(flags, &self.pairs);
        for (&i, (policy, _)) in &self.building.policies {
            if let Some(problem) = graph::policy_problem(policy, self.flags[i as usize] & ONCE == 0)
            {
                return Err(Error::Policy {
                    job: self.building.label(i as usize),
                    problem,
                });
            }
        }
        let policies = self.building.policies.iter();
        frozen.policies = policies
            .filter(|(_, (policy, _))| !policy.is_empty())
            .map(|(&i, (policy, _))| (i, policy.clone()))
            .collect();
        frozen.policies.sort_unstable_by_key(|(i, _)| *i);
        for (&i, hint) in &self.building.hints {
            if let Some(problem) = hint.problem(self.flags[i as usize] & FOREVER != 0) {
                return Err(Error::Policy {
                    job: self.building.label(i as usize),
                    problem,
                });
            }
        }
        let hints = self
            .building
            .hints
            .iter()
            .filter(|(_, hint)| !hint.is_empty());
        frozen.hints = hints.map(|(&i, &hint)| (i, hint)).collect();
        frozen.hints.sort_unstable_by_key(|(i, _)| *i);
        if !frozen.forward {
            if let Some(cycle) = graph::find_cycle(&frozen) {
                return Err(Error::Cycle {
                    scheduler: self.label.clone(),
                    jobs: cycle.iter().map(|&i| self.building.label(i)).collect(),
                });
            }
        }
        Ok(frozen)
    }

    fn cells(&self) -> &Cells<T> {
        self.ran.as_deref().unwrap_or(&self.building)
    }

    /// `id`'s index, when it is a job of this batch.
    fn index(&self, id: JobId) -> Result<usize, Error> {
        if id.batch() == self.id && id.index() < self.len() {
            Ok(id.index())
        } else {
            Err(Error::NotInScheduler {
                job: format!("{id:?}"),
                scheduler: self.label.clone(),
            })
        }
    }

    /// Where a job is in its lifecycle; `None` for a job of another batch.
    pub fn state(&self, id: JobId) -> Option<JobState> {
        let i = self.index(id).ok()?;
        let lifecycle = match self.cells().slots.get(i) {
            // A job given up on that has returned since is still reported running.
            Some(slot) => slot.lifecycle().load(Ordering::Acquire) & !RETURNED,
            // Added after the run.
            None => state::IDLE,
        };
        Some(JobState::from_code(lifecycle))
    }

    /// How many attempts a job made in the last run: its failed attempts that were
    /// tried again (see [`JobMut::retries`]), and the one that ended it. 0 when it never
    /// started.
    pub fn attempts(&self, id: JobId) -> usize {
        let Ok(i) = self.index(id) else {
            return 0;
        };
        let cells = self.cells();
        let failed = cells.failed.lock().get(&(i as u32)).map_or(0, Vec::len);
        let started = matches!(
            self.state(id),
            Some(JobState::Running | JobState::Done | JobState::Cancelled)
        );
        failed + usize::from(started)
    }

    /// The failures of a job's attempts that were tried again in the last run, in
    /// order.
    pub fn failed_attempts(&self, id: JobId) -> Vec<JobError> {
        let Ok(i) = self.index(id) else {
            return Vec::new();
        };
        let failed = self.cells().failed.lock();
        failed.get(&(i as u32)).cloned().unwrap_or_default()
    }

    /// Whether a job ended by its own timeout (see [`JobMut::timeout`]): then it is
    /// [done](JobState::Done), or [running](JobState::Running) while its thread, given
    /// up on after the grace, still runs.
    pub fn is_timed_out(&self, id: JobId) -> bool {
        let Ok(i) = self.index(id) else {
            return false;
        };
        self.cells().slots.get(i).is_some_and(|slot| {
            matches!(
                slot.lifecycle().load(Ordering::Acquire),
                state::TIMED_OUT | state::TIMED_OUT_RUNNING
            )
        })
    }

    /// A job's value, once it is done without failure; otherwise an error that says
    /// why, as [`Job::result`](crate::Job::result) does.
    pub fn result(&self, id: JobId) -> Result<&T, Error> {
        let i = self.index(id)?;
        let cells = self.cells();
        match cells.slots.get(i).and_then(Slot::outcome) {
            Some(Ok(value)) => Ok(value),
            Some(Err(error)) => Err(Error::JobFailed {
                label: cells.label(i),
                source: error.clone(),
            }),
            None if cells.error(i).is_some() => Err(Error::JobFailed {
                label: cells.label(i),
                source: cells
                    .error(i)
                    .cloned()
                    .unwrap_or_else(JobError::nothing_kept),
            }),
            None => Err(Error::NotDone {
                label: cells.label(i),
                state: match cells
                    .slots
                    .get(i)
                    .map(|slot| slot.lifecycle().load(Ordering::Acquire))
                {
                    Some(state::MOVED) => "done, its value moved out",
                    _ => self.state(id).unwrap_or(JobState::Idle).name(),
                },
            }),
        }
    }

    /// Moves a job's value out, once it is done without failure: for a large value,
    /// where [`result`](Batch::result) lends it. Afterwards the job is still done, and
    /// `result` says its value was moved out. [`Error::Shared`] while a job that its run
    /// gave up on still holds the run's jobs; otherwise the errors of `result`.
    ///
    /// ```
    /// use jobgraph::Batch;
    /// let mut batch = Batch::new();
    /// let table = batch.add(|_| vec![0u8; 1 << 20]).id();
    /// batch.run().unwrap();
    /// let table: Vec<u8> = batch.take(table).unwrap(); // moved, not copied
    /// assert_eq!(table.len(), 1 << 20);
    /// ```
    pub fn take(&mut self, id: JobId) -> Result<T, Error> {
        let i = self.index(id)?;
        let label = self.cells().label(i);
        let state = self.state(id).unwrap_or(JobState::Idle).name();
        let Some(ran) = self.ran.as_mut() else {
            return Err(Error::NotDone { label, state });
        };
        let handles = Arc::strong_count(ran) - 1;
        let Some(cells) = Arc::get_mut(ran) else {
            return Err(Error::Shared { label, handles });
        };
        let Some(slot) = cells.slots.get_mut(i) else {
            return Err(Error::NotDone { label, state });
        };
        let moved = slot.lifecycle().load(Ordering::Relaxed) == state::MOVED;
        match slot.take() {
            Some(Ok(value)) => Ok(value),
            Some(Err(error)) => Err(Error::JobFailed {
                label,
                source: error,
            }),
            None if moved => Err(Error::NotDone {
                label,
                state: "done, its value moved out",
            }),
            None => Err(Error::NotDone { label, state }),
        }
    }

    /// What a job failed with (an error it returned, or its panic), once it failed:
    /// asynciojobs' `raised_exception`.
    pub fn raised_exception(&self, id: JobId) -> Option<JobError> {
        let i = self.index(id).ok()?;
        self.cells().error(i).cloned()
    }

    /// A job's label: the one given, or `#index`.
    pub fn text_label(&self, id: JobId) -> Option<String> {
        let i = self.index(id).ok()?;
        Some(self.cells().label(i))
    }

    /// Whether the run stopped because a critical job failed.
    pub fn failed_critical(&self) -> bool {
        self.ending == Some(Reason::Critical)
    }

    /// The timeout, when the run ran past it.
    pub fn failed_time_out(&self) -> Option<Duration> {
        match self.ending {
            Some(Reason::Timeout) => self.timeout,
            _ => None,
        }
    }

    /// Why the run ended, as a scheduler says it: `FINE`, `TIMED OUT after 0.25s`,
    /// `STALLED: ...`, `a CRITICAL job has raised an exception`, or `CANCELLED before
    /// it ended` (by the job it ran within).
    pub fn why(&self) -> String {
        let stalled = self.ending == Some(Reason::Stalled);
        let cancelled = self.ending == Some(Reason::Cancelled);
        why_line(
            self.failed_time_out(),
            stalled,
            self.failed_critical(),
            cancelled,
        )
    }

    /// Counts of jobs as `3D + 1R + 0I = 4`: done, started but not done, not started;
    /// `..., CANCELLED` after a run cancelled by the job it ran within.
    pub fn stats(&self) -> String {
        let slots = &self.cells().slots;
        run_stats(
            slots.iter().map(|slot| {
                JobState::from_code(slot.lifecycle().load(Ordering::Acquire) & !RETURNED)
            }),
            self.ending == Some(Reason::Cancelled),
        )
    }
}

/// `frozen`, ranked again for a run that follows one whose jobs took `measured`
/// nanoseconds each (0: it did not end): a job without a cost hint counts its time in
/// seconds, or the mean of the measured ones when it has none.
fn rerank(frozen: &graph::Frozen, measured: &[AtomicU64]) -> graph::Frozen {
    let nanos: Vec<u64> = measured
        .iter()
        .map(|m| m.swap(0, Ordering::Relaxed))
        .collect();
    let ended = nanos.iter().filter(|&&n| n > 0);
    let (count, sum) = ended.fold((0u64, 0f64), |(c, s), &n| (c + 1, s + n as f64));
    let mean = if count > 0 { sum / count as f64 } else { 1e9 };
    let mut frozen = frozen.clone();
    graph::rank(&mut frozen, |i| {
        Some(if nanos[i] > 0 { nanos[i] as f64 } else { mean } / 1e9)
    });
    frozen
}

impl<T: 'static> Debug for Batch<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Batch(`{}`, {} jobs)", self.label, self.flags.len())
    }
}

impl<T: Send + Sync + Debug + 'static> JobMut<'_, T> {
    /// The job's id: what names it in its batch.
    pub fn id(&self) -> JobId {
        JobId::new(self.batch.id, self.index)
    }

    /// Labels the job, for errors and results (unlabelled jobs are `#index`).
    pub fn label(self, label: impl Into<String>) -> Self {
        self.batch.changed |= self.batch.ran.is_some();
        let label = label.into().into_boxed_str();
        self.batch.building.labels.insert(self.index, label);
        self
    }

    /// Whether a failure of this job stops the run (default: true).
    pub fn critical(self, critical: bool) -> Self {
        self.set(CRITICAL, critical)
    }

    /// Whether the job runs until the rest is done: never waited for, cancelled once
    /// every other job has ended (default: false). No job may require it.
    pub fn forever(self, forever: bool) -> Self {
        self.set(FOREVER, forever)
    }

    /// The job's priority among the jobs ready at the same time (default 0; higher
    /// first), as [`Job::priority`](crate::Job::priority) gives a scheduler's job: a
    /// batch where any job has a priority or a cost starts its ready jobs by rank.
    pub fn priority(self, priority: i32) -> Self {
        self.hint(|hint| hint.priority = priority)
    }

    /// A hint of how long the job runs, relative to the others (finite, at least 0),
    /// as [`Job::cost`](crate::Job::cost) gives a scheduler's job.
    pub fn cost(self, cost: f64) -> Self {
        self.hint(|hint| hint.cost = Some(cost))
    }

    fn hint(self, change: impl FnOnce(&mut Hint)) -> Self {
        self.batch.changed |= self.batch.ran.is_some();
        change(self.batch.building.hints.entry(self.index).or_default());
        self
    }

    /// A timeout of the job's own, counted from its start, as
    /// [`Job::timeout`](crate::Job::timeout) gives a scheduler's job: at its deadline
    /// the job is cancelled, it ends as timed out (a failure, its error
    /// [`Error::JobTimedOut`]; see [`Batch::is_timed_out`]), and it is given up on if it
    /// has not returned once the batch's grace has passed.
    ///
    /// ```
    /// use std::time::Duration;
    /// use jobgraph::{Batch, Error, JobState};
    /// let mut batch = Batch::new();
    /// let slow = batch
    ///     .add(|ctx| {
    ///         ctx.sleep(Duration::from_secs(60));
    ///     })
    ///     .label("slow")
    ///     .timeout(Duration::from_millis(20))
    ///     .id();
    /// assert!(matches!(batch.run(), Err(Error::JobTimedOut { .. })));
    /// assert_eq!(batch.state(slow).unwrap(), JobState::Done);
    /// assert!(batch.is_timed_out(slow));
    /// ```
    pub fn timeout(self, timeout: Duration) -> Self {
        self.policy(|policy| policy.timeout = Some(timeout))
    }

    /// Tries the job again, up to `retries` more times, after a failure, as
    /// [`Job::retries`](crate::Job::retries) does for a scheduler's job: the job must
    /// be one whose body runs again ([`Batch::add_mut`]), or the run is refused
    /// ([`Error::Policy`]).
    ///
    /// ```
    /// use jobgraph::Batch;
    /// let mut batch = Batch::new();
    /// let mut tries = 0;
    /// let flaky = batch
    ///     .add_mut(move |_| {
    ///         tries += 1;
    ///         if tries < 3 { Err("not yet") } else { Ok(tries) }
    ///     })
    ///     .retries(5)
    ///     .id();
    /// assert!(batch.run().unwrap());
    /// assert_eq!(*batch.result(flaky).unwrap(), 3);
    /// assert_eq!(batch.attempts(flaky), 3);
    /// ```
    pub fn retries(self, retries: u32) -> Self {
        self.policy(|policy| {
            Arc::make_mut(policy.retry.get_or_insert_with(Default::default)).times = retries
        })
    }

    /// How long the job waits before each next attempt (see [`JobMut::retries`]).
    pub fn backoff(self, backoff: Backoff) -> Self {
        self.policy(|policy| {
            Arc::make_mut(policy.retry.get_or_insert_with(Default::default)).backoff = backoff
        })
    }

    /// Which failures the job is tried again after (see [`JobMut::retries`]).
    pub fn retry_on(self, on: RetryOn) -> Self {
        self.policy(|policy| {
            Arc::make_mut(policy.retry.get_or_insert_with(Default::default)).on = on
        })
    }

    fn policy(self, change: impl FnOnce(&mut Policy)) -> Self {
        self.batch.changed |= self.batch.ran.is_some();
        let index = self.index;
        let policies = &mut self.batch.building.policies;
        let (policy, _) = policies.entry(index).or_default();
        change(policy);
        let set = !policy.is_empty();
        self.set(graph::POLICY, set)
    }

    fn set(self, flag: u8, on: bool) -> Self {
        self.batch.changed |= self.batch.ran.is_some();
        let flags = &mut self.batch.flags[self.index as usize];
        if on {
            *flags |= flag;
        } else {
            *flags &= !flag;
        }
        self
    }

    /// Makes the job wait for `required`. Requiring a job twice, or itself, does
    /// nothing; requiring a job of another batch is an error that `run` reports.
    pub fn requires(self, required: JobId) -> Self {
        let job = self.index;
        let batch = &mut *self.batch;
        batch.changed |= batch.ran.is_some();
        match batch.index(required) {
            Ok(r) if r as u32 == job => {}
            Ok(r) => {
                // The common case, a job's few requirements given together and after
                // those of earlier jobs, is checked for repeats here; any other is
                // sorted out when the batch is frozen.
                let mut repeat = false;
                let mut seen = 0;
                for &(j, other) in batch.pairs.iter().rev().take(TIDY_CHECK) {
                    if j != job {
                        batch.untidy |= j > job;
                        break;
                    }
                    repeat |= other == r as u32;
                    seen += 1;
                }
                batch.untidy |= seen == TIDY_CHECK;
                if !repeat {
                    batch.pairs.push((job, r as u32));
                }
            }
            Err(_) => batch.problems.push(Error::MissingRequirement {
                scheduler: batch.label.clone(),
                job: batch.building.label(job as usize),
                required: format!("{required:?} of another batch"),
            }),
        }
        self
    }

    /// Makes the job wait for each of `required`.
    pub fn requires_all(mut self, required: impl IntoIterator<Item = JobId>) -> Self {
        for id in required {
            self = self.requires(id);
        }
        self
    }
}
