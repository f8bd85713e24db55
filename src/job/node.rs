//! A job as the layers above see it, whatever its kind and value type: the [`Node`]
//! trait, and [`Cell`], the one allocation that holds a closure, future or custom job.

use std::any::Any;
use std::fmt::{self, Debug};
use std::marker::PhantomData;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr::NonNull;
use std::time::Duration;

use super::context::Context;
use super::core::Core;
use super::group::Group;
use super::handle::{AnyJob, Job};
use super::outcome::{caught, drop_caught, Outcome, Status};
use super::shared::{Shared, Shell};
use crate::error::{drop_payload, JobError};
use crate::sync::SpinLock;

/// A job as the engine sees it, whatever its kind and value type.
pub(crate) trait Node: super::shared::Erased + Send + Sync + 'static {
    fn core(&self) -> &Core;
    /// The core, through the one handle there is (see [`AnyJob::unique`]): no lock needed.
    fn core_mut(&mut self) -> &mut Core;
    /// Runs the job once and records its outcome.
    fn execute(&self, ctx: &Context<'_>) -> Status;
    /// Gives up on the job if it is still running when its run ends: it stays reported
    /// as running, and what it returns later is dropped.
    fn abandon(&self);
    /// Gives up on the job if it is still running after its own timeout and grace: it
    /// ends with `error`, reported as timed out and still running, and what it returns
    /// later is dropped. False when it had ended first.
    fn give_up(&self, error: JobError) -> bool;
    fn kind(&self) -> &'static str;
    fn default_label(&self) -> Option<String>;
    fn details(&self) -> Option<String>;
    /// The label of the job's box in pictures, when its kind chooses one.
    fn graph_label(&self) -> Option<String> {
        None
    }
    /// The job's value, once it is done without failure.
    fn value(&self) -> Option<&(dyn Any + Send + Sync)>;
    /// The type of the job's value.
    fn value_type(&self) -> std::any::TypeId;
    /// The job's value as text (`Debug`), once done without failure; at most
    /// `max_chars` characters (the last one `…` when cut) when given.
    fn value_text(&self, max_chars: Option<usize>) -> Option<String>;
    /// The job's failure, once it failed.
    fn error(&self) -> Option<&JobError>;
    /// Moves out what the job returned (its value boxed), once it ended; for the one
    /// holder of the job.
    fn take_outcome(&mut self) -> Option<Result<Box<dyn Any + Send>, JobError>>;
    /// Calls the job's shutdown hooks: the one given with `on_shutdown`, then its
    /// kind's (an [`AbstractJob`](crate::AbstractJob)'s `shutdown`).
    fn shutdown(&self);
    /// Whether the job may have a shutdown hook to call.
    fn has_shutdown_hook(&self) -> bool {
        self.core().meta.lock().has_shutdown()
    }
    /// The jobs it holds, when it is made of jobs (a nested scheduler).
    fn group(&self) -> Option<&dyn Group> {
        None
    }
    /// Whether its body can run again after it returned: what retries need.
    fn runs_again(&self) -> bool {
        false
    }
}

/// The body of a job: closure, future or user type.
pub(crate) trait Body: Send + 'static {
    type Value: Send + Sync + Debug + 'static;
    /// What reports show of the job; readable while the body runs.
    type Desc: Describe;
    fn run(&mut self, ctx: &Context<'_>) -> Result<Self::Value, JobError>;
    /// Whether `shutdown` does anything (a user's job type may).
    const HAS_SHUTDOWN: bool = false;
    fn shutdown(&mut self) {}
    /// Whether `run` may be called again after it returned (for retries).
    const AGAIN: bool = false;
    fn describe(&self) -> Self::Desc;
}

/// What reports show of a job's body: kept beside the body, not behind its lock, so a
/// listing taken while the job runs does not wait for it.
pub(crate) trait Describe: Send + Sync + 'static {
    fn kind(&self) -> &'static str {
        "Job"
    }
    fn default_label(&self) -> Option<String>;
    fn details(&self) -> Option<String> {
        None
    }
    fn graph_label(&self) -> Option<String> {
        None
    }
}

/// The description of a closure or future job: its type's name (`Job[f (...)]`), for
/// no bytes at all.
pub(crate) struct Named<F>(pub(crate) PhantomData<fn() -> F>);

impl<F: 'static> Describe for Named<F> {
    fn default_label(&self) -> Option<String> {
        Some(function_label(std::any::type_name::<F>()))
    }
}

/// One job: its lifecycle, its outcome, and its body, in one allocation.
pub(crate) struct Cell<B: Body> {
    core: Core,
    outcome: Outcome<B::Value>,
    desc: B::Desc,
    /// Locked by the one worker that runs the job, and by its shutdown hook.
    body: SpinLock<B>,
}

impl<B: Body> Cell<B> {
    /// Not inlined: built in place by a call, the cell's stores have landed by the time
    /// `Shared::new` copies it into its allocation. Inlined, the copy
    /// read them back at once, before they had (a store that cannot be forwarded to a
    /// wider load waits for it): a build of independent jobs took 4 ns more per job.
    #[inline(never)]
    pub(crate) fn new(body: B) -> Self {
        Cell {
            core: Core::new(true),
            outcome: Outcome::new(),
            desc: body.describe(),
            body: SpinLock::new(body),
        }
    }
}

impl<B: Body> Node for Cell<B> {
    fn core(&self) -> &Core {
        &self.core
    }

    fn core_mut(&mut self) -> &mut Core {
        &mut self.core
    }

    fn execute(&self, ctx: &Context<'_>) -> Status {
        let result = caught(|| {
            let mut body = self.body.lock();
            // The last look at the run before the body starts (see `Context::halted`).
            if ctx.halted() {
                return Err(JobError::nothing_kept());
            }
            body.run(ctx)
        });
        let halt = ctx.halt();
        if ctx.try_again(&halt, &result) {
            // Not sealed: the job runs again later. What it returned is dropped here.
            drop_caught(result);
            return Status::Retry;
        }
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

    fn runs_again(&self) -> bool {
        B::AGAIN
    }

    fn kind(&self) -> &'static str {
        self.desc.kind()
    }

    fn default_label(&self) -> Option<String> {
        self.desc.default_label()
    }

    fn details(&self) -> Option<String> {
        self.desc.details()
    }

    fn graph_label(&self) -> Option<String> {
        self.desc.graph_label()
    }

    fn value(&self) -> Option<&(dyn Any + Send + Sync)> {
        Some(self.outcome.value()?)
    }

    fn value_type(&self) -> std::any::TypeId {
        std::any::TypeId::of::<B::Value>()
    }

    fn value_text(&self, max_chars: Option<usize>) -> Option<String> {
        Some(debug_text(self.outcome.value()?, max_chars))
    }

    fn error(&self) -> Option<&JobError> {
        self.outcome.error()
    }

    fn take_outcome(&mut self) -> Option<Result<Box<dyn Any + Send>, JobError>> {
        self.outcome.take_boxed()
    }

    fn has_shutdown_hook(&self) -> bool {
        B::HAS_SHUTDOWN || self.core.meta.lock().has_shutdown()
    }

    fn shutdown(&self) {
        let hook = self.core.meta.lock().take_shutdown();
        if let Some(hook) = hook {
            // A job that panics in its hook must not take the caller down with it.
            let _ = catch_unwind(AssertUnwindSafe(hook));
        }
        if !B::HAS_SHUTDOWN {
            return;
        }
        // The body is locked while the job runs (one abandoned by its run may still
        // be): wait for it without spinning.
        let mut body = loop {
            match self.body.try_lock() {
                Some(body) => break body,
                None => std::thread::sleep(Duration::from_millis(1)),
            }
        };
        // A job that panics in its hook must not take the caller down with it, nor
        // may its panic's payload, whose own `Drop` may panic too.
        if let Err(payload) = catch_unwind(AssertUnwindSafe(|| body.shutdown())) {
            let _ = drop_payload(payload);
        }
    }
}

/// `value`'s `Debug` text, at most `max_chars` characters when given: cut with `…`
/// as its last character. Formatting stops there, so a huge value costs no more than
/// the characters shown.
fn debug_text(value: &dyn Debug, max_chars: Option<usize>) -> String {
    let Some(max_chars) = max_chars else {
        return format!("{value:?}");
    };
    /// Keeps the first characters written, and fails the write past them.
    struct Bounded {
        text: String,
        left: usize,
        cut: bool,
    }
    impl fmt::Write for Bounded {
        fn write_str(&mut self, s: &str) -> fmt::Result {
            for c in s.chars() {
                if self.left == 0 {
                    self.cut = true;
                    return Err(fmt::Error);
                }
                self.text.push(c);
                self.left -= 1;
            }
            Ok(())
        }
    }
    let mut bounded = Bounded {
        text: String::new(),
        left: max_chars,
        cut: false,
    };
    let _ = fmt::write(&mut bounded, format_args!("{value:?}"));
    if bounded.cut {
        bounded.text.pop();
        bounded.text.push('…');
    }
    bounded.text
}

/// `tour::in_out::{{closure}}` → `in_out`: the name asynciojobs shows as `Job[in_out (...)]`.
pub(crate) fn last_segment(type_name: &'static str) -> &'static str {
    let head = type_name.split('<').next().unwrap_or(type_name);
    head.rsplit("::")
        .find(|s| !s.is_empty() && !s.starts_with('{'))
        .unwrap_or(head)
}

fn function_label(type_name: &'static str) -> String {
    format!("Job[{} (...)]", last_segment(type_name))
}

impl<T: Send + Sync + Debug + 'static> Job<T> {
    /// The handle of a new job with this body.
    pub(crate) fn from_body<B: Body<Value = T>>(body: B) -> Self {
        let node = Shared::map_ptr(
            Shared::new(Cell::new(body)),
            |cell| -> NonNull<Shell<dyn Node>> { cell },
        );
        Job::from_any(AnyJob(node))
    }
}
