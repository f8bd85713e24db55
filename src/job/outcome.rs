//! How a job's one execution ends: its [`Status`], the panic guard around its body, and
//! the write-once [`Outcome`] that seals what it returned.

use std::panic::{catch_unwind, AssertUnwindSafe};

use super::lifecycle::state;
use crate::error::{drop_payload, JobError};
use crate::sync::{AtomicU8, Once, Ordering};

/// How one execution of a job ended, as the engine sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Status {
    Done,
    Failed,
    Cancelled,
    /// Its own timeout passed: cancelled, and ended as timed out (a failure).
    TimedOut,
    /// It failed, and is to be tried again: nothing was sealed.
    Retry,
    /// The run had given up on the job before it returned; nothing was recorded.
    Lost,
}

/// Whether a job is to stop, and why: what its context says as the job starts and as
/// it ends (see `Context::halt`).
#[derive(Debug, Clone)]
pub(crate) enum Halt {
    /// Neither its run nor its own timeout stopped it.
    Go,
    /// Its run cancelled it (or the run's deadline passed).
    Cancelled,
    /// Its own timeout passed: the failure it ends with.
    TimedOut(JobError),
}

impl From<bool> for Halt {
    /// `true`: cancelled by its run.
    fn from(cancelled: bool) -> Self {
        if cancelled {
            Halt::Cancelled
        } else {
            Halt::Go
        }
    }
}

impl Status {
    /// How a job that returned `result` ends, and the state that says so: cancelled
    /// (or timed out) when its run cancelled it (or its timeout passed) meanwhile,
    /// whatever it returned.
    pub(crate) fn ending<T>(halt: &Halt, result: &Result<T, JobError>) -> (u8, Status) {
        match (halt, result) {
            (Halt::TimedOut(_), _) => (state::TIMED_OUT, Status::TimedOut),
            (Halt::Cancelled, _) => (state::CANCELLED, Status::Cancelled),
            (Halt::Go, Ok(_)) => (state::DONE, Status::Done),
            (Halt::Go, Err(_)) => (state::DONE, Status::Failed),
        }
    }
}

/// Runs a job's body; a panic becomes the job's failure.
pub(crate) fn caught<T>(body: impl FnOnce() -> Result<T, JobError>) -> Result<T, JobError> {
    catch_unwind(AssertUnwindSafe(body))
        .unwrap_or_else(|payload| Err(JobError::from_panic(payload)))
}

/// Drops a value that the run does not keep (a cancelled job's value, what a job the
/// run gave up on returned), on the job's own thread, after its end is published. A
/// `Drop` that panics is caught: the panic hook reports it as it reports any panic,
/// and neither the worker nor the run is disturbed.
pub(crate) fn drop_caught<V>(value: V) {
    if let Err(payload) = catch_unwind(AssertUnwindSafe(move || drop(value))) {
        let _ = drop_payload(payload);
    }
}

/// What a job's one execution left, sealed once: by the worker that ran the job, with
/// what it returned, or with [`JobError::nothing_kept`] when the run cancelled the job
/// or gave up on it while it still ran. Sealing is the job's commit: one
/// compare-and-swap, which a worker and its run's `abandon` race.
pub(crate) struct Outcome<T>(Once<Result<T, JobError>>);

impl<T> Outcome<T> {
    pub(crate) fn new() -> Self {
        Outcome(Once::new())
    }

    /// Seals what a job returned and publishes its end in `lifecycle`. `Lost` when
    /// its run had given up on it first: what it returned is dropped.
    ///
    /// What is not kept (a cancelled job's value, or whatever a job the run gave up on
    /// returned) is dropped after the seal, on this thread, outside the cell: a `Drop`
    /// that blocks holds back neither the run's `abandon` nor a reader, and one that
    /// panics neither poisons the cell nor unwinds the worker (see [`drop_caught`]).
    ///
    /// A job that timed out keeps its timeout as its failure, and drops what it
    /// returned.
    pub(crate) fn seal(
        &self,
        lifecycle: &AtomicU8,
        halt: impl Into<Halt>,
        result: Result<T, JobError>,
    ) -> Status {
        self.seal_as(lifecycle, halt.into(), result, false)
    }

    /// [`seal`](Outcome::seal) for a job that its run may give up on after its own
    /// timeout ([`give_up`](Outcome::give_up), which swaps its state first): the end
    /// is published by a swap, which that compare-and-swap cannot be ordered after
    /// (a plain store could be, in the model checker's eyes at least).
    pub(crate) fn seal_raced(
        &self,
        lifecycle: &AtomicU8,
        halt: Halt,
        result: Result<T, JobError>,
    ) -> Status {
        self.seal_as(lifecycle, halt, result, true)
    }

    fn seal_as(
        &self,
        lifecycle: &AtomicU8,
        halt: Halt,
        result: Result<T, JobError>,
        raced: bool,
    ) -> Status {
        let (end, status) = Status::ending(&halt, &result);
        let (kept, unkept) = match halt {
            Halt::Go => (result, None),
            Halt::Cancelled => (Err(JobError::nothing_kept()), Some(result)),
            Halt::TimedOut(error) => (Err(error), Some(result)),
        };
        let mut kept = Some(kept);
        self.0
            .call_once(|| kept.take().unwrap_or_else(|| Err(JobError::nothing_kept())));
        let sealed = kept.is_none();
        if sealed && raced {
            lifecycle.swap(end, Ordering::AcqRel);
        } else if sealed {
            lifecycle.store(end, Ordering::Release);
        }
        drop_caught(kept);
        drop_caught(unkept);
        if sealed {
            status
        } else {
            Status::Lost
        }
    }

    /// Gives up on a job still running when its run ends: it stays reported as
    /// running, and its own seal, when it returns, fails.
    pub(crate) fn abandon(&self, lifecycle: &AtomicU8) {
        if lifecycle.load(Ordering::Acquire) != state::RUNNING {
            return;
        }
        let mut sealed = false;
        self.0.call_once(|| {
            sealed = true;
            Err(JobError::nothing_kept())
        });
        if sealed {
            lifecycle.store(state::ABANDONED, Ordering::Release);
        }
    }

    /// Gives up on a job still running after its own timeout and the grace that
    /// followed: it ends with `error` (its timeout), reported as timed out and still
    /// running, and its own seal, when it returns, fails. False when it had ended
    /// first.
    pub(crate) fn give_up(&self, lifecycle: &AtomicU8, error: JobError) -> bool {
        // The state first: a job that its run is about to try again (`RUNNING` to
        // `SCHEDULED`, see `engine::retry`) is not given up on, nor the reverse.
        if lifecycle
            .compare_exchange(
                state::RUNNING,
                state::TIMED_OUT_RUNNING,
                Ordering::AcqRel,
                Ordering::Acquire,
            )
            .is_err()
        {
            return false;
        }
        let mut error = Some(error);
        self.0
            .call_once(|| Err(error.take().unwrap_or_else(JobError::nothing_kept)));
        // When the job sealed its own end first, it publishes its state next, over this
        // one (read meanwhile as timed out, for a few instructions).
        error.is_none()
    }

    /// Moves out what the job returned, once it ended and its run kept it: for the
    /// one holder of the job, through `&mut`. Leaves nothing kept behind.
    pub(crate) fn take(&mut self) -> Option<Result<T, JobError>> {
        let kept = self.0.get_mut()?;
        if matches!(kept, Err(error) if error.is_nothing_kept()) {
            return None;
        }
        Some(std::mem::replace(kept, Err(JobError::nothing_kept())))
    }

    /// What the job returned, once it ended and its run kept it.
    pub(crate) fn get(&self) -> Option<&Result<T, JobError>> {
        match self.0.get() {
            Some(Err(error)) if error.is_nothing_kept() => None,
            outcome => outcome,
        }
    }

    /// The job's value, once it is done without failure.
    pub(crate) fn value(&self) -> Option<&T> {
        self.get()?.as_ref().ok()
    }

    /// The job's failure, once it failed.
    pub(crate) fn error(&self) -> Option<&JobError> {
        self.get()?.as_ref().err()
    }
}

impl<T: Send + 'static> Outcome<T> {
    /// [`take`](Outcome::take), the value boxed: what `Node::take_outcome` gives.
    pub(crate) fn take_boxed(&mut self) -> Option<Result<Box<dyn std::any::Any + Send>, JobError>> {
        let taken = self.take()?;
        Some(taken.map(|value| Box::new(value) as Box<dyn std::any::Any + Send>))
    }
}
