//! Nesting: a [`Scheduler`] is a job of its parent, through the job layer's `Node` and
//! `Group` traits, implemented here.

use std::any::{Any, TypeId};
use std::sync::Arc;

use super::{SchedInner, Scheduler};
use crate::error::JobError;
use crate::job::{AnyJob, Context, Core, Group, Node, Status};

impl Node for SchedInner {
    fn core(&self) -> &Core {
        &self.core
    }

    fn core_mut(&mut self) -> &mut Core {
        &mut self.core
    }

    fn execute(&self, ctx: &Context<'_>) -> Status {
        // The last look at the run before the nested run starts (see `Context::halted`).
        let result = match ctx.halted() {
            false => self
                .prepare_nested()
                .and_then(|prepared| self.run_prepared(prepared, Some(ctx), None))
                .map_err(JobError::new),
            true => Err(JobError::nothing_kept()),
        };
        let halt = ctx.halt();
        if ctx.may_be_given_up() {
            return self.outcome.seal_raced(&self.core.state, halt, result);
        }
        self.outcome.seal(&self.core.state, halt, result)
    }

    fn abandon(&self) {
        self.outcome.abandon(&self.core.state)
    }

    fn give_up(&self, error: JobError) -> bool {
        self.outcome.give_up(&self.core.state, error)
    }

    fn kind(&self) -> &'static str {
        "Scheduler"
    }

    fn default_label(&self) -> Option<String> {
        None
    }

    fn details(&self) -> Option<String> {
        None
    }

    fn value(&self) -> Option<&(dyn Any + Send + Sync)> {
        Some(self.outcome.value()?)
    }

    fn value_type(&self) -> TypeId {
        TypeId::of::<bool>()
    }

    fn value_text(&self, _max_chars: Option<usize>) -> Option<String> {
        Some(self.outcome.value()?.to_string())
    }

    fn error(&self) -> Option<&JobError> {
        self.outcome.error()
    }

    fn take_outcome(&mut self) -> Option<Result<Box<dyn Any + Send>, JobError>> {
        self.outcome.take_boxed()
    }

    fn shutdown(&self) {
        self.shutdown_jobs()
    }

    fn group(&self) -> Option<&dyn Group> {
        Some(self)
    }
}

impl Group for SchedInner {
    fn id(&self) -> u32 {
        self.id
    }

    fn members(&self) -> Arc<Vec<AnyJob>> {
        self.jobs.lock().clone()
    }

    fn why(&self) -> String {
        self.why_text()
    }

    fn ran(&self) -> bool {
        self.report.lock().ran
    }
}

/// The scheduler behind `job`, when it is a nested scheduler.
pub(crate) fn inner_of(job: &AnyJob) -> Option<&SchedInner> {
    job.node().as_any().downcast_ref::<SchedInner>()
}

impl AnyJob {
    /// The scheduler, when this job is a nested scheduler.
    pub fn as_scheduler(&self) -> Option<Scheduler> {
        let inner = self.0.clone().downcast::<SchedInner>().ok()?;
        Some(Scheduler::from_inner(inner))
    }
}
