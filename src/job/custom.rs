//! Jobs of the user's own types: the [`AbstractJob`] trait (asynciojobs' `AbstractJob`)
//! and the body that runs one.

use std::fmt::Debug;

use super::context::Context;
use super::handle::Job;
use super::node::{last_segment, Body, Describe};
use super::output::JobOutput;
use crate::error::JobError;

/// A job type of your own: asynciojobs' `AbstractJob`.
///
/// Implement `run`; the other methods have defaults. Turn a value into a schedulable
/// job with [`Job::custom`] (or `Job::from`).
///
/// ```
/// use jobgraph::{AbstractJob, Context, Job, Scheduler};
///
/// struct Square(u64);
/// impl AbstractJob for Square {
///     type Output = u64;
///     fn run(&mut self, _ctx: &Context<'_>) -> u64 {
///         self.0 * self.0
///     }
/// }
///
/// let job = Job::custom(Square(7));
/// Scheduler::new().add(&job).run().unwrap();
/// assert_eq!(*job.result().unwrap(), 49);
/// ```
pub trait AbstractJob: Send + 'static {
    /// What `run` returns: a value, or a `Result` (see [`JobOutput`]).
    type Output: JobOutput;

    /// Does the job's work, on a worker thread of the scheduler. It should check
    /// `ctx.is_cancelled()` now and then if it runs long.
    fn run(&mut self, ctx: &Context<'_>) -> Self::Output;

    /// Releases what the job holds (connections, ...); called by
    /// [`Scheduler::shutdown`](crate::Scheduler::shutdown), at the same time as the
    /// other jobs' hooks, each on a thread of its own. Does nothing by default.
    fn shutdown(&mut self) {}

    /// The name of the job's kind, shown as `<Kind `label`>` in listings. Defaults to
    /// the type's name.
    fn kind(&self) -> &'static str {
        last_segment(std::any::type_name::<Self>())
    }

    /// The label to show when none was given. `None` shows `NOLABEL`.
    fn text_label(&self) -> Option<String> {
        None
    }

    /// Extra text shown by `list().details()` and in the graph.
    fn details(&self) -> Option<String> {
        None
    }

    /// The label of the job's box in pictures, in full: asynciojobs' `graph_label()`.
    /// `None` (the default) shows `NN: label`, with the listing's number. Taken when
    /// the value becomes a job, like the other descriptions.
    ///
    /// ```
    /// use jobgraph::{AbstractJob, Context, Job, Scheduler};
    /// struct Fetch(&'static str);
    /// impl AbstractJob for Fetch {
    ///     type Output = ();
    ///     fn run(&mut self, _: &Context<'_>) {}
    ///     fn graph_label(&self) -> Option<String> {
    ///         Some(format!("fetch\n{}", self.0))
    ///     }
    /// }
    /// let s = Scheduler::new();
    /// s.add(Job::custom(Fetch("https://example.org/")));
    /// assert!(s.dot_format().contains(r#"label="fetch\nhttps://example.org/""#));
    /// ```
    fn graph_label(&self) -> Option<String> {
        None
    }
}

/// The description of a user's job, taken when it becomes a job.
pub(crate) struct Snapshot {
    kind: &'static str,
    label: Option<String>,
    details: Option<String>,
    graph_label: Option<String>,
}

impl Describe for Snapshot {
    fn kind(&self) -> &'static str {
        self.kind
    }
    fn default_label(&self) -> Option<String> {
        self.label.clone()
    }
    fn details(&self) -> Option<String> {
        self.details.clone()
    }
    fn graph_label(&self) -> Option<String> {
        self.graph_label.clone()
    }
}

pub(crate) struct CustomBody<J>(J);

impl<J: AbstractJob> Body for CustomBody<J> {
    type Value = <J::Output as JobOutput>::Value;
    type Desc = Snapshot;

    fn run(&mut self, ctx: &Context<'_>) -> Result<Self::Value, JobError> {
        self.0.run(ctx).into_result()
    }

    const HAS_SHUTDOWN: bool = true;

    const AGAIN: bool = true;

    fn shutdown(&mut self) {
        self.0.shutdown()
    }

    fn describe(&self) -> Snapshot {
        Snapshot {
            kind: self.0.kind(),
            label: self.0.text_label(),
            details: self.0.details(),
            graph_label: self.0.graph_label(),
        }
    }
}

impl<T: Send + Sync + Debug + 'static> Job<T> {
    /// A job from a type of your own that implements [`AbstractJob`].
    pub fn custom<J>(job: J) -> Self
    where
        J: AbstractJob,
        J::Output: JobOutput<Value = T>,
    {
        Job::from_body(CustomBody(job))
    }
}

impl<J> From<J> for Job<<J::Output as JobOutput>::Value>
where
    J: AbstractJob,
{
    fn from(job: J) -> Self {
        Job::custom(job)
    }
}
