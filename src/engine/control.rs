//! What a running job's context asks of its run ([`Control`], implemented here for
//! every run), and [`CancelRun`], the waker that cancels a run from outside.

use std::sync::Arc;
use std::task::Waker;

use super::run::Run;
use super::settings::Reason;
use super::table::Table;
use crate::error::Error;
use crate::job::{link_to_running_job, Context, Control, JobState, Linked};
use crate::sync::Ordering;

impl<J: Table> Control for Run<J> {
    fn future_parked(&self) {
        Run::future_parked(self)
    }
    fn future_unparked(&self) {
        Run::future_unparked(self)
    }
    fn on_cancel(&self, index: u32, waker: &Waker) {
        Run::on_cancel(self, index, waker)
    }
    fn forget_waker(&self, index: u32) {
        Run::forget_waker(self, index)
    }
    fn time_out(&self) {
        self.finish(Reason::Timeout)
    }
    fn retry(&self, index: u32, error: &crate::error::JobError) -> bool {
        Run::retry(self, index, error)
    }
    fn label(&self, index: u32) -> String {
        self.jobs.label(index as usize)
    }
    fn limits(&self) -> Option<Arc<crate::limits::Limits>> {
        self.limits.clone()
    }

    fn input(
        &self,
        index: u32,
        batch: u32,
        other: u32,
    ) -> Result<&(dyn std::any::Any + Send + Sync), Error> {
        let o = other as usize;
        if batch != self.jobs.id() || o >= self.jobs.len() {
            return Err(Error::NotInScheduler {
                runner: self.jobs.runner(),
                job: format!("#{other}"),
                scheduler: self.label.clone(),
            });
        }
        // Successor lists are in job order.
        if self.graph.successors(o).binary_search(&index).is_err() {
            return Err(Error::NotRequired {
                job: self.jobs.label(index as usize),
                other: self.jobs.label(o),
            });
        }
        if let Some(value) = self.jobs.value(o) {
            return Ok(value);
        }
        Err(match self.jobs.error(o) {
            Some(error) => Error::JobFailed {
                label: self.jobs.label(o),
                source: error.clone(),
            },
            None => Error::NotDone {
                label: self.jobs.label(o),
                state: JobState::from_code(self.jobs.state(o).load(Ordering::Acquire)).name(),
            },
        })
    }
}

/// Cancels a nested run (a scheduler's, or a batch's run inside a job) when the run
/// of the job it runs in cancels that job: what that job registers with its context.
pub(crate) struct CancelRun<J: Table>(std::sync::Weak<Run<J>>);

impl<J: Table> CancelRun<J> {
    pub(crate) fn waker(run: &Arc<Run<J>>) -> Waker {
        Waker::from(Arc::new(CancelRun(Arc::downgrade(run))))
    }
}

impl<J: Table> CancelRun<J> {
    /// Makes `run` cancelled with the job it runs in: `parent`, the job whose context it
    /// was given (a nested scheduler, `Batch::run_within`), or else the job whose body
    /// started it on this thread (see `link_to_running_job`). Held for the run.
    pub(crate) fn with_job(run: &Arc<Run<J>>, parent: Option<&Context<'_>>) -> Option<Linked> {
        match parent {
            Some(ctx) => {
                ctx.on_cancel(&CancelRun::waker(run));
                None
            }
            None => link_to_running_job(|| CancelRun::waker(run)),
        }
    }
}

impl<J: Table> std::task::Wake for CancelRun<J> {
    fn wake(self: Arc<Self>) {
        if let Some(run) = self.0.upgrade() {
            run.finish(Reason::Cancelled);
        }
    }
}
