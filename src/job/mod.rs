//! What a job is, and nothing more: the [`AbstractJob`] trait and the closure, future and
//! print jobs; the [`Job<T>`] and [`AnyJob`] handles, their [`JobState`] and outcome;
//! the [`Context`] a running job gets; [`JobId`], a batch's job by index.
//!
//! May use: the leaves (`error`, `sync`, `timer`, `watch`). Knows no scheduler, no
//! batch, no engine: a job reaches its run only through the [`Control`] trait that
//! the engine implements, and a job made of jobs (a nested scheduler) only through
//! the [`Group`] trait that the scheduler implements.

mod after;
mod closure;
mod context;
mod core;
mod custom;
mod cycle;
mod future;
mod group;
mod handle;
mod id;
mod jobs;
mod lifecycle;
#[cfg(all(test, loom))]
mod loom_models;
mod node;
mod outcome;
mod output;
mod print;
mod priority;
mod retry;
mod shared;

pub use after::{Inputs, IntoInputs};
pub use context::Context;
pub use custom::AbstractJob;
pub use handle::{AnyJob, Job};
pub use id::JobId;
pub use jobs::Jobs;
pub use lifecycle::JobState;
pub use output::JobOutput;
pub use print::PrintJob;
pub use retry::{Backoff, RetryOn, MAX_RETRIES};

pub(crate) use self::core::{
    prefetch, requirements_added, warm_ahead, Core, Meta, CRITICAL, FOREVER, NESTED, POLICY,
    RANKED, WARM_AHEAD,
};
pub(crate) use context::{link_to_running_job, Control, Linked, Own, Shift};
pub(crate) use cycle::release_unreachable;
pub(crate) use future::drive;
pub(crate) use group::Group;
pub(crate) use lifecycle::state;
pub(crate) use node::Node;
#[cfg(all(test, loom))]
pub(crate) use outcome::Halt;
pub(crate) use outcome::{caught, drop_caught, Outcome, Status};
pub(crate) use priority::Hint;
pub(crate) use retry::{Policy, Retry};
pub(crate) use shared::{Shared, Shell, WeakShared};
