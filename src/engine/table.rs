//! What a run needs of its jobs, by index: a scheduler's handles, or a batch's cells.
// `Table::execute` is an unsafe method: its contract is what lets a batch's cells do
// without locks (see `batch::slot`).
#![allow(unsafe_code)]

use std::any::Any;

use crate::error::{JobError, Runner};
use crate::job::{state, AnyJob, Context, Status};
use crate::sync::AtomicU8;

/// The jobs of one run, by index.
pub(crate) trait Table: Send + Sync + 'static {
    fn len(&self) -> usize;
    /// Job `i`'s lifecycle, one of the `job::state` constants.
    fn state(&self, i: usize) -> &AtomicU8;
    /// Runs job `i` and seals its outcome.
    ///
    /// # Safety
    ///
    /// At most once per index in the table's life, from one thread, once the engine
    /// has stored `RUNNING` in its state; again only after an execution that returned
    /// `Retry` (it sealed nothing), never while one is in flight: a batch's cells rely
    /// on it to reach the job's body and outcome without a lock.
    unsafe fn execute(&self, i: usize, ctx: &Context<'_>) -> Status;
    /// Gives up on job `i` if it still runs once its run has ended.
    fn abandon(&self, i: usize);
    /// Gives up on job `i` if it still runs after its own timeout and grace: it ends
    /// with `error`, as timed out and still running. False when it had ended first.
    fn give_up(&self, i: usize, error: JobError) -> bool;
    fn label(&self, i: usize) -> String;
    /// Asks for job `i`'s lines, about to be touched by a worker: nothing by default.
    #[inline(always)]
    fn prefetch(&self, _i: usize) {}
    /// Job `i`'s handle, for events and `Context::job`; `None` for a batch's jobs.
    fn handle(&self, i: usize) -> Option<&AnyJob>;
    /// Job `i` was sealed by an earlier run (its seal returned `Lost` while this run
    /// went on): restores the state it ended in then, and says how it ended.
    fn ended_earlier(&self, i: usize) -> Status;
    /// An attempt of job `i` failed with `error`, and the job is tried again.
    fn failed_attempt(&self, i: usize, error: JobError);
    /// Whether the table keeps how long its jobs took ([`measured`](Table::measured)):
    /// a ranked run times its jobs only then.
    const KEEPS_TIMES: bool = false;
    /// Job `i`'s last attempt took `took`, in a ranked run: a table that runs again
    /// keeps it to rank the next run by. Nothing by default.
    fn measured(&self, _i: usize, _took: std::time::Duration) {}
    /// Job `i`'s value, once it is done without failure.
    fn value(&self, i: usize) -> Option<&(dyn Any + Send + Sync)>;
    /// Job `i`'s failure, once it failed.
    fn error(&self, i: usize) -> Option<&JobError>;
    /// The batch the jobs are, for [`JobId`](crate::JobId)s; 0 for a scheduler's.
    fn id(&self) -> u32;
    /// Whose jobs these are, for errors: a scheduler's unless said otherwise.
    fn runner(&self) -> Runner {
        Runner::Scheduler
    }
}

impl Table for Vec<AnyJob> {
    fn len(&self) -> usize {
        self.len()
    }

    fn state(&self, i: usize) -> &AtomicU8 {
        &self[i].node().core().state
    }

    unsafe fn execute(&self, i: usize, ctx: &Context<'_>) -> Status {
        self[i].node().execute(ctx)
    }

    fn abandon(&self, i: usize) {
        self[i].node().abandon()
    }

    fn give_up(&self, i: usize, error: JobError) -> bool {
        self[i].node().give_up(error)
    }

    fn label(&self, i: usize) -> String {
        self[i].text_label()
    }

    fn handle(&self, i: usize) -> Option<&AnyJob> {
        Some(&self[i])
    }

    #[inline(always)]
    fn prefetch(&self, i: usize) {
        if let Some(job) = self.get(i) {
            crate::job::prefetch(job);
        }
    }

    fn ended_earlier(&self, i: usize) -> Status {
        let node = self[i].node();
        let (end, earlier) = if node.error().is_some_and(JobError::is_timeout) {
            (state::TIMED_OUT, Status::TimedOut)
        } else if node.error().is_some() {
            (state::DONE, Status::Failed)
        } else if node.value().is_some() {
            (state::DONE, Status::Done)
        } else {
            (state::CANCELLED, Status::Done)
        };
        node.core().state.store(end, crate::sync::Ordering::Release);
        earlier
    }

    fn failed_attempt(&self, i: usize, error: JobError) {
        self[i].node().core().meta.lock().push_failed_attempt(error);
    }

    fn value(&self, i: usize) -> Option<&(dyn Any + Send + Sync)> {
        self.get(i)?.node().value()
    }

    fn error(&self, i: usize) -> Option<&JobError> {
        self.get(i)?.node().error()
    }

    fn id(&self) -> u32 {
        0
    }
}
