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
    CancelRun, Reason, Run, Settings, Table, DEFAULT_GRACE, DEFAULT_STALL_TIMEOUT,
    UNLIMITED_WINDOW_WORKERS,
};
use crate::error::{Error, JobError};
use crate::graph;
use crate::job::{
    drive, state, AnyJob, Context, JobId, JobOutput, JobState, Status, CRITICAL, FOREVER,
};
use crate::report::{stats_line, why_line};
use crate::sync::global::AtomicU32;
use crate::sync::{AtomicU8, Ordering};

mod body;
mod slot;

use body::Body;
use slot::Slot;

static NEXT_ID: AtomicU32 = AtomicU32::new(1);

/// How many of a job's requirements given together are checked for repeats as they
/// come; past that, they are checked when the batch is frozen.
const TIDY_CHECK: usize = 8;

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
/// ([`run_within`](Batch::run_within)), cancelled with that job. What a batch does not
/// have: jobs of other value types (use an enum, or a `Box<dyn Any + Send + Sync>`),
/// jobs of your own types, observers, and the listings and pictures of a scheduler; use
/// a scheduler for those.
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
pub struct Batch<T: 'static> {
    id: u32,
    label: String,
    window: usize,
    timeout: Option<Duration>,
    grace: Duration,
    stall_timeout: Option<Duration>,
    /// The jobs, while building; moved into `ran` by the run.
    building: Cells<T>,
    ran: Option<Arc<Cells<T>>>,
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

/// A batch's jobs, as its run sees them.
struct Cells<T: 'static> {
    batch: u32,
    slots: Vec<Slot<T>>,
    /// Labels given, by index: most jobs of a big batch have none.
    labels: HashMap<u32, Box<str>>,
}

impl<T: 'static> Default for Cells<T> {
    fn default() -> Self {
        Cells {
            batch: 0,
            slots: Vec::new(),
            labels: HashMap::new(),
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
        // contract asks, and a batch's cells make one run: `Batch::run` moves them into
        // it and refuses to run again.
        unsafe { self.slots[i].execute(ctx) }
    }

    fn abandon(&self, i: usize) {
        self.slots[i].abandon()
    }

    fn label(&self, i: usize) -> String {
        Cells::label(self, i)
    }

    fn handle(&self, _: usize) -> Option<&AnyJob> {
        None
    }

    fn ended_earlier(&self, _: usize) -> Status {
        // A batch runs once: its jobs are sealed by that run or not at all.
        Status::Lost
    }

    fn value(&self, i: usize) -> Option<&(dyn Any + Send + Sync)> {
        match self.slots.get(i)?.outcome() {
            Some(Ok(value)) => Some(value),
            _ => None,
        }
    }

    fn error(&self, i: usize) -> Option<&JobError> {
        match self.slots.get(i)?.outcome() {
            Some(Err(error)) => Some(error),
            _ => None,
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
            },
            ran: None,
            flags: Vec::with_capacity(jobs),
            pairs: Vec::with_capacity(requirements),
            untidy: false,
            problems: Vec::new(),
            ending: None,
        }
    }

    /// Names the batch in errors.
    pub fn label(mut self, label: impl Into<String>) -> Self {
        self.label = label.into();
        self
    }

    /// At most this many jobs run at once; 0 (the default) means as many as there are
    /// ready jobs, up to [`UNLIMITED_WINDOW_WORKERS`] worker threads.
    pub fn window(mut self, window: usize) -> Self {
        self.window = window;
        self
    }

    /// Ends the run once it has lasted this long: nothing new starts, running jobs are
    /// cancelled, and `run` returns [`Error::Timeout`].
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// How long a run that has ended waits for its running jobs to return before it
    /// gives up on them (default [`DEFAULT_GRACE`]).
    pub fn grace(mut self, grace: Duration) -> Self {
        self.grace = grace;
        self
    }

    /// How long the run may stay stalled (every running job a future waiting for
    /// something no job can provide, and no other job able to start) before it ends
    /// with [`Error::Stalled`]; `None` never ends it. Default
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
        // Numbered across runs: a job added after the run is not mistaken for one of
        // the jobs that ran (it never runs: a batch runs once).
        let index = self.flags.len() as u32;
        self.building.slots.push(Slot::new(body));
        self.flags.push(CRITICAL);
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
        if self.ran.is_some() {
            return Err(Error::AlreadyRan {
                label: self.label.clone(),
            });
        }
        let frozen = self.freeze()?;
        let cells = Arc::new(std::mem::take(&mut self.building));
        self.ran = Some(Arc::clone(&cells));
        self.pairs = Vec::new();
        let settings = Settings {
            max_workers: match self.window {
                0 => UNLIMITED_WINDOW_WORKERS,
                window => window,
            },
            timeout: self.timeout,
            grace: self.grace,
            label: self.label.clone(),
            events: None,
            stall_timeout: self.stall_timeout,
        };
        let run = Run::new(cells, frozen, &settings);
        if let Some(ctx) = parent {
            ctx.on_cancel(&CancelRun::waker(&run));
        }
        let ending = run
            .execute(&settings)
            .map_err(|error| Error::Spawn(Arc::new(error)))?;
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
                    Some((i, error)) => Err(Error::JobFailed {
                        label: cells.label(i),
                        source: error.clone(),
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
        let frozen = graph::from_sorted_pairs(self.flags.clone(), &self.pairs);
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
            Some(slot) => slot.lifecycle().load(Ordering::Acquire),
            // Added after the run.
            None => state::IDLE,
        };
        Some(JobState::from_code(lifecycle))
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
            None => Err(Error::NotDone {
                label: cells.label(i),
                state: self.state(id).unwrap_or(JobState::Idle).name(),
            }),
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
    /// `STALLED: ...`, or `a CRITICAL job has raised an exception`.
    pub fn why(&self) -> String {
        let stalled = self.ending == Some(Reason::Stalled);
        why_line(self.failed_time_out(), stalled, self.failed_critical())
    }

    /// Counts of jobs as `3D + 1R + 0I = 4`: done, started but not done, not started.
    pub fn stats(&self) -> String {
        let slots = &self.cells().slots;
        stats_line(
            slots
                .iter()
                .map(|slot| JobState::from_code(slot.lifecycle().load(Ordering::Acquire))),
        )
    }
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

    fn set(self, flag: u8, on: bool) -> Self {
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
