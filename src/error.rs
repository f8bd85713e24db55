//! Errors: [`Error`], what a scheduler or a batch reports (naming which with a
//! [`Runner`]), and [`JobError`], what a job failed with.

use std::any::Any;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// Any error a job may return, boxed.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why a job failed: the error it returned, or the panic it raised.
///
/// Cheap to clone (one reference count) and one pointer wide, so that a job's outcome
/// costs little room. It keeps the job's own error, so callers can
/// [`downcast_ref`](JobError::downcast_ref) it back to their type, and its
/// [`source`](std::error::Error::source) chain.
#[derive(Clone)]
pub struct JobError(Arc<Repr>);

enum Repr {
    Error {
        type_name: &'static str,
        error: BoxError,
    },
    Panic(Box<str>),
}

impl JobError {
    /// Wraps an error a job returned, remembering its type's name for reports.
    pub fn new<E: Into<BoxError> + 'static>(error: E) -> Self {
        let type_name = short_type_name(std::any::type_name::<E>());
        JobError(Arc::new(Repr::Error {
            type_name,
            error: error.into(),
        }))
    }

    /// What seals the outcome of a job whose run cancelled it or gave up on it: one
    /// shared value, never shown, that says nothing was kept.
    pub(crate) fn nothing_kept() -> Self {
        Self::nothing().clone()
    }

    /// Whether this is [`nothing_kept`](JobError::nothing_kept).
    pub(crate) fn is_nothing_kept(&self) -> bool {
        Arc::ptr_eq(&self.0, &Self::nothing().0)
    }

    fn nothing() -> &'static JobError {
        static NOTHING: std::sync::OnceLock<JobError> = std::sync::OnceLock::new();
        NOTHING.get_or_init(|| JobError(Arc::new(Repr::Panic(Box::from("nothing kept")))))
    }

    /// Builds the failure of a job that panicked, from the panic's payload.
    ///
    /// The payload is dropped here, and its own `Drop` may panic too (`panic_any` of
    /// such a value): that panic is caught, and its message added to the job's.
    pub(crate) fn from_panic(payload: Box<dyn Any + Send>) -> Self {
        let mut message = panic_message(&*payload);
        if let Some(also) = drop_payload(payload) {
            message = format!("{message} (dropping its payload panicked too: {also})");
        }
        JobError(Arc::new(Repr::Panic(message.into_boxed_str())))
    }

    /// The message of the panic, when the job panicked.
    pub fn panic_message(&self) -> Option<&str> {
        match &*self.0 {
            Repr::Panic(message) => Some(message),
            Repr::Error { .. } => None,
        }
    }

    /// Whether the job ran past its own timeout ([`Error::JobTimedOut`]).
    pub fn is_timeout(&self) -> bool {
        matches!(
            self.downcast_ref::<Error>(),
            Some(Error::JobTimedOut { .. })
        )
    }

    /// Whether the job panicked rather than returned an error.
    pub fn is_panic(&self) -> bool {
        matches!(*self.0, Repr::Panic(_))
    }

    /// The short name of the error's type (`io::Error` gives `Error`), or `panic`.
    ///
    /// Reports show it the way asynciojobs shows an exception's class: `Type:message`.
    pub fn type_name(&self) -> &'static str {
        match &*self.0 {
            Repr::Error { type_name, .. } => type_name,
            Repr::Panic(_) => "panic",
        }
    }

    /// The job's own error, as its concrete type, when it is one.
    pub fn downcast_ref<E: std::error::Error + 'static>(&self) -> Option<&E> {
        match &*self.0 {
            Repr::Error { error, .. } => error.downcast_ref::<E>(),
            Repr::Panic(_) => None,
        }
    }
}

impl fmt::Display for JobError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &*self.0 {
            Repr::Error { error, .. } => fmt::Display::fmt(error, f),
            Repr::Panic(message) => write!(f, "panicked: {message}"),
        }
    }
}

impl fmt::Debug for JobError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &*self.0 {
            Repr::Error { type_name, error } => write!(f, "{type_name}({error:?})"),
            Repr::Panic(message) => write!(f, "panic({message:?})"),
        }
    }
}

impl std::error::Error for JobError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &*self.0 {
            Repr::Error { error, .. } => error.source(),
            Repr::Panic(_) => None,
        }
    }
}

/// The message a panic's payload carries: a `&str` or a `String`, as `panic!` makes.
pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_string()
    }
}

/// Drops a panic's payload where its own `Drop` panicking cannot unwind the caller:
/// that panic is caught and its payload dropped the same way, a few times over; a
/// payload that still panics after that is leaked rather than dropped. Returns the
/// message of the first panic that dropping raised, if any.
pub(crate) fn drop_payload(payload: Box<dyn Any + Send>) -> Option<String> {
    /// Payloads whose drop panics with payloads whose drop panics... stop somewhere.
    const TRIES: usize = 4;
    let mut payload = payload;
    let mut first = None;
    for _ in 0..TRIES {
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || drop(payload))) {
            Ok(()) => return first,
            Err(next) => {
                first.get_or_insert_with(|| panic_message(&*next));
                payload = next;
            }
        }
    }
    std::mem::forget(payload);
    first
}

/// `alloc::string::String` → `String`, `Box<dyn Error + Send + Sync>` → `Error`.
fn short_type_name(full: &'static str) -> &'static str {
    if full.starts_with("alloc::boxed::Box<dyn") {
        return "Error";
    }
    let head = full.split('<').next().unwrap_or(full);
    head.rsplit("::").next().unwrap_or(head)
}

/// Which front door an [`Error`] comes from: its messages name a scheduler or a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Runner {
    /// A [`Scheduler`](crate::Scheduler).
    Scheduler,
    /// A [`Batch`](crate::Batch).
    Batch,
}

impl Runner {
    /// What ran past its timeout: a scheduler times out as an error only when critical,
    /// a batch always.
    fn timed_out(self) -> &'static str {
        match self {
            Runner::Scheduler => "critical scheduler",
            Runner::Batch => "batch",
        }
    }

    /// The type whose `stall_timeout` sets how long a run may stay stalled.
    fn type_name(self) -> &'static str {
        match self {
            Runner::Scheduler => "Scheduler",
            Runner::Batch => "Batch",
        }
    }

    /// How to mend a requirement on a job outside the run.
    fn missing_hint(self) -> &'static str {
        match self {
            Runner::Scheduler => {
                "add it to that scheduler, or call sanitize() to drop such requirements"
            }
            Runner::Batch => "require only jobs of the same batch",
        }
    }

    /// What a second run is told.
    fn already_ran(self, label: &str) -> String {
        match self {
            Runner::Scheduler => format!("`{label}` has already run: its jobs run once; build a new scheduler to run again (a batch whose jobs were all added with add_mut() runs again)"),
            Runner::Batch => format!("batch `{label}` has already run: a job added with add() or add_future() runs once; add every job with add_mut() to run a batch again, or build a new batch"),
        }
    }
}

impl fmt::Display for Runner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Runner::Scheduler => "scheduler",
            Runner::Batch => "batch",
        })
    }
}

/// Everything that can go wrong in building or running a scheduler or a batch.
///
/// Build mistakes (a cycle, a requirement outside the scheduler, ...) are found by
/// [`Scheduler::run`](crate::Scheduler::run) (or [`Batch::run`](crate::Batch::run))
/// before any job starts. The errors a scheduler and a batch both make name which one
/// they come from (their `runner`).
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A job failed: the error a critical scheduler returns for its failed critical job.
    #[error("job `{label}` failed: {source}")]
    JobFailed {
        /// The failed job's label.
        label: String,
        /// What the job returned or panicked with.
        #[source]
        source: JobError,
    },
    /// A job ran past its own timeout ([`Job::timeout`](crate::Job::timeout)): its run
    /// cancelled it, and it ended as timed out. This is the job's failure (read it with
    /// [`AnyJob::raised_exception`](crate::AnyJob::raised_exception) and
    /// [`JobError::downcast_ref`]), and the error a critical scheduler returns when the
    /// job is critical.
    #[error("job `{label}` timed out after {timeout:?}: its run cancelled it; give it a longer timeout(), or make it look at ctx.is_cancelled() to stop sooner")]
    JobTimedOut {
        /// The job's label.
        label: String,
        /// Its own timeout, counted from its start.
        timeout: Duration,
    },
    /// A job's policies (its retries, its backoff) cannot be carried out: found before
    /// anything runs.
    #[error("job `{job}` cannot run as set up: {problem}")]
    Policy {
        /// The job.
        job: String,
        /// What is wrong, and what to do.
        problem: String,
    },
    /// A named limit cannot be kept (see [`Scheduler::limit`](crate::Scheduler::limit),
    /// [`Batch::limit`](crate::Batch::limit)): found before anything runs.
    #[error("{runner} `{scheduler}` cannot run as set up: {problem}")]
    Limit {
        /// The scheduler's or the batch's label.
        scheduler: String,
        /// What is wrong, and what to do.
        problem: String,
        /// Whether a scheduler's or a batch's limit.
        runner: Runner,
    },
    /// A critical scheduler, or a batch, ran past its timeout.
    #[error("{} `{label}` took too long: timed out after {timeout:?}", .runner.timed_out())]
    Timeout {
        /// The scheduler's or the batch's label.
        label: String,
        /// Its timeout.
        timeout: Duration,
        /// Whether a scheduler or a batch timed out.
        runner: Runner,
    },
    /// The requirements form a cycle, so no job on it could ever start.
    #[error("{runner} `{scheduler}` has a cycle: {} -> (back to the first); remove one of these requirements", .jobs.join(" -> "))]
    Cycle {
        /// The scheduler's or the batch's label.
        scheduler: String,
        /// The labels of the jobs on the cycle, each requiring the one before it.
        jobs: Vec<String>,
        /// Whether a scheduler's or a batch's jobs form the cycle.
        runner: Runner,
    },
    /// A job requires a job that is not in the same scheduler (or batch).
    #[error("job `{job}` requires `{required}`, which is not in {runner} `{scheduler}`: {}", .runner.missing_hint())]
    MissingRequirement {
        /// The scheduler's or the batch's label.
        scheduler: String,
        /// Whether the job is a scheduler's or a batch's.
        runner: Runner,
        /// The requiring job.
        job: String,
        /// The job it requires.
        required: String,
    },
    /// A job requires a forever job, which never ends.
    #[error("job `{job}` requires `{forever}`, a forever job, which never ends: the requirement could never be met; remove it, or make `{forever}` an ordinary job")]
    RequiresForever {
        /// The requiring job.
        job: String,
        /// The forever job it requires.
        forever: String,
    },
    /// A scheduler was run a second time, or a batch with a job whose body runs once.
    #[error("{}", .runner.already_ran(.label))]
    AlreadyRan {
        /// The scheduler's or the batch's label.
        label: String,
        /// Whether a scheduler or a batch was run again.
        runner: Runner,
    },
    /// A job was added to a second scheduler, or a scheduler into itself.
    #[error("job `{job}` cannot be added to scheduler `{scheduler}`: {reason}")]
    Misplaced {
        /// The job.
        job: String,
        /// The scheduler it was added to.
        scheduler: String,
        /// Why that is refused.
        reason: &'static str,
    },
    /// A job's result was asked for, but the job has no result.
    #[error("job `{label}` has no result: it is {state}")]
    NotDone {
        /// The job's label.
        label: String,
        /// Its state: idle, scheduled, running or cancelled.
        state: &'static str,
    },
    /// A job asked its context for the result of a job it does not require.
    #[error("job `{job}` read the result of `{other}`, which it does not require: add `{other}` to its requirements")]
    NotRequired {
        /// The asking job.
        job: String,
        /// The job whose result it asked for.
        other: String,
    },
    /// A job's result could not be moved out of it
    /// ([`Job::into_result`](crate::Job::into_result), [`Batch::take`](crate::Batch::take)):
    /// others still hold the job.
    #[error("the result of job `{label}` cannot be moved out while {handles} other holder(s) of the job remain (for a scheduler's job: its scheduler, the jobs that require it, clones of its handle): drop them first, or read it in place with result()")]
    Shared {
        /// The job's label.
        label: String,
        /// How many others hold the job.
        handles: usize,
    },
    /// A job read the result of a job it requires as a type that result is not.
    #[error("job `{job}` is read as {asked}, which is not the type of its result")]
    WrongType {
        /// The job whose result was read.
        job: String,
        /// The type asked for.
        asked: &'static str,
    },
    /// A job was named that is not in the scheduler (or the batch).
    #[error("job `{job}` is not in {runner} `{scheduler}`")]
    NotInScheduler {
        /// The job.
        job: String,
        /// The scheduler's or the batch's label.
        scheduler: String,
        /// Whether a scheduler or a batch was asked.
        runner: Runner,
    },
    /// Graphviz's `dot` program, needed for PNG and SVG pictures, is not installed.
    #[error("cannot make `{path}`: Graphviz's `dot` program is not on the PATH; install Graphviz (`apt-get install graphviz`, `brew install graphviz`, or see https://graphviz.org/download/), or write the DOT text with export_as_dotfile() and convert it elsewhere")]
    GraphvizMissing {
        /// The picture that could not be made.
        path: String,
    },
    /// Graphviz's `dot` ran but did not make the picture.
    #[error("Graphviz's `dot` failed to make `{path}`: {message}")]
    Graphviz {
        /// The picture that could not be made.
        path: String,
        /// What `dot` said.
        message: String,
    },
    /// A file could not be written.
    #[error("could not write `{path}`: {source}")]
    Write {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: Arc<std::io::Error>,
    },
    /// A critical scheduler's (or a batch's) run stalled: every running job was a future
    /// waiting for something no job could provide, and no other job could start.
    #[error("{runner} `{label}` stalled: its running job(s) {} are futures waiting for something no job of the run can provide, while {ready} ready job(s) cannot start; nothing moved for {timeout:?}. A future job that awaits another job of the same run needs that job running at the same time: widen the window, or make it a requirement; see {}::stall_timeout", .running.iter().map(|l| format!("`{l}`")).collect::<Vec<_>>().join(", "), .runner.type_name())]
    Stalled {
        /// The scheduler's or the batch's label.
        label: String,
        /// Whether a scheduler's or a batch's run stalled.
        runner: Runner,
        /// Its stall timeout.
        timeout: Duration,
        /// The labels of the jobs that were running (parked futures).
        running: Vec<String>,
        /// How many jobs were ready, waiting for a slot.
        ready: usize,
    },
    /// The run's [`Pool`](crate::Pool) was shut down before the run started.
    #[error(
        "the pool of worker threads was shut down: build a new Pool (or use the global one) to run"
    )]
    PoolClosed,
    /// A batch was run again while a job that its last run gave up on is still
    /// running: its body cannot be called again before it returns.
    #[error("batch `{label}` cannot run again yet: job `{job}` of its last run, given up on when that run ended, has not returned")]
    StillRunning {
        /// The batch's label.
        label: String,
        /// The job still running.
        job: String,
    },
    /// A batch was run again after jobs or requirements were added or set up since its
    /// last run.
    #[error("batch `{label}` cannot run again: jobs were added or set up since its last run; set a batch up fully before its first run, or build a new one")]
    ChangedAfterRun {
        /// The batch's label.
        label: String,
    },
    /// The operating system refused to start a worker thread, and none was running.
    #[error("could not start a worker thread: {0}")]
    Spawn(#[source] Arc<std::io::Error>),
}

impl Error {
    /// The job's own failure, when this error is a failed job.
    pub fn job_error(&self) -> Option<&JobError> {
        match self {
            Error::JobFailed { source, .. } => Some(source),
            _ => None,
        }
    }
}
