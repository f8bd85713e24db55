//! The by-index front door: [`Batch`], many jobs of one value type, built in one go
//! with `&mut`, named by index ([`JobId`]): the scheduler's engine without a handle
//! per job. Its slots and bodies are the crate's unsafe places (see `slot` and `body`).
//!
//! Here the [`Batch`] type, its building and its reading; in `job_mut` the setting up
//! of one job ([`JobMut`]); in `run` its run; in `cells` its jobs as the engine sees
//! them; in `slot` and `body` one job's cell and its type-erased body.
//!
//! May use: `engine`, `job`, `graph`, `report` (for `why` and `stats`) and the leaves;
//! never `scheduler`.

use std::collections::HashMap;
use std::fmt::{self, Debug};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use crate::engine::{Pool, Reason, Table, Workers, DEFAULT_GRACE, DEFAULT_STALL_TIMEOUT};
use crate::error::{Error, JobError, Runner};
use crate::graph;
use crate::job::{drive, state, Context, JobId, JobOutput, JobState, CRITICAL};
use crate::report::{run_stats, why_line};
use crate::sync::global::AtomicU32;
use crate::sync::{Mutex, Ordering};

mod body;
mod cells;
mod job_mut;
#[cfg(all(test, loom))]
mod loom_models;
mod run;
mod slot;

use body::Body;
use cells::Cells;
pub use job_mut::JobMut;
use slot::{Slot, RETURNED};

static NEXT_ID: AtomicU32 = AtomicU32::new(1);

/// A bit of a batch's own flags (masked out of its frozen graph): the job's body runs
/// once (added with `add` or `add_future`), so it cannot be retried.
const ONCE: u8 = 0x08;

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
    /// Named limits, `(name, limit)`, each name once.
    limits: Vec<(Box<str>, u32)>,
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
            limits: Vec::new(),
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

    /// A named limit: at most `limit` of `name` in use at once by the jobs that use it
    /// ([`JobMut::uses`]), on top of the window, as
    /// [`Scheduler::limit`](crate::Scheduler::limit) does; a batch's limits are its own
    /// (a batch run within a scheduler's job does not share the scheduler's). A second
    /// call for the same name replaces the limit; a limit of 0 is refused by `run`.
    ///
    /// ```
    /// use jobgraph::Batch;
    /// let mut batch = Batch::new().window(8).limit("disk", 1);
    /// let ids: Vec<_> = (0..4u32).map(|i| batch.add(move |_| i).uses("disk", 1).id()).collect();
    /// assert!(batch.run().unwrap());
    /// assert_eq!(*batch.result(ids[3]).unwrap(), 3);
    /// ```
    pub fn limit(mut self, name: &str, limit: u32) -> Self {
        match self.limits.iter_mut().find(|(old, _)| &**old == name) {
            Some((_, old)) => *old = limit,
            None => self.limits.push((name.into(), limit)),
        }
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
        // Made where it goes: `push(Slot::new(body))` built the slot on the stack, to
        // outlive the call that grows the vector, and copied it with loads wider than
        // the stores just made, which wait for them (3 ns of a chain's 10 per job).
        self.building
            .slots
            .extend(std::iter::once_with(|| Slot::new(body)));
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

    fn cells(&self) -> &Cells<T> {
        self.ran.as_deref().unwrap_or(&self.building)
    }

    /// `id`'s index, when it is a job of this batch.
    fn index(&self, id: JobId) -> Result<usize, Error> {
        if id.batch() == self.id && id.index() < self.len() {
            Ok(id.index())
        } else {
            Err(Error::NotInScheduler {
                runner: Runner::Batch,
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

impl<T: 'static> Debug for Batch<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Batch(`{}`, {} jobs)", self.label, self.flags.len())
    }
}
