//! Closure jobs: [`Job::new`].

use std::fmt::Debug;
use std::marker::PhantomData;

use super::context::Context;
use super::handle::Job;
use super::node::{Body, Named};
use super::output::JobOutput;
use crate::error::JobError;

pub(crate) struct FnBody<F> {
    f: Option<F>,
}

impl<F, R> Body for FnBody<F>
where
    F: FnOnce(&Context<'_>) -> R + Send + 'static,
    R: JobOutput,
{
    type Value = R::Value;
    type Desc = Named<F>;

    fn run(&mut self, ctx: &Context<'_>) -> Result<R::Value, JobError> {
        match self.f.take() {
            Some(f) => f(ctx).into_result(),
            None => Err(JobError::new("job body already consumed by an earlier run")),
        }
    }

    fn describe(&self) -> Named<F> {
        Named(PhantomData)
    }
}

impl<T: Send + Sync + Debug + 'static> Job<T> {
    /// A job that runs a closure on a worker thread. The closure gets the job's
    /// [`Context`] and returns a value or a `Result` (see [`JobOutput`]).
    ///
    /// ```
    /// use jobgraph::{Job, Scheduler};
    /// let answer = Job::new(|_| 6 * 7).label("answer");
    /// Scheduler::new().add(&answer).run().unwrap();
    /// assert_eq!(*answer.result().unwrap(), 42);
    /// ```
    pub fn new<F, R>(f: F) -> Self
    where
        F: FnOnce(&Context<'_>) -> R + Send + 'static,
        R: JobOutput<Value = T>,
    {
        Job::from_body(FnBody { f: Some(f) })
    }
}

/// The body of a closure job that may run again (for retries): [`Job::new_mut`].
pub(crate) struct FnMutBody<F> {
    f: F,
}

impl<F, R> Body for FnMutBody<F>
where
    F: FnMut(&Context<'_>) -> R + Send + 'static,
    R: JobOutput,
{
    type Value = R::Value;
    type Desc = Named<F>;

    fn run(&mut self, ctx: &Context<'_>) -> Result<R::Value, JobError> {
        (self.f)(ctx).into_result()
    }

    const AGAIN: bool = true;

    fn describe(&self) -> Named<F> {
        Named(PhantomData)
    }
}

impl<T: Send + Sync + Debug + 'static> Job<T> {
    /// A job that runs a closure that may be called again: what a job with
    /// [`retries`](Job::retries) needs (each attempt calls it). Otherwise as
    /// [`Job::new`].
    ///
    /// ```
    /// use jobgraph::{Job, Scheduler};
    /// let mut calls = 0;
    /// let counted = Job::new_mut(move |_| {
    ///     calls += 1;
    ///     calls
    /// });
    /// Scheduler::new().add(&counted).run().unwrap();
    /// assert_eq!(*counted.result().unwrap(), 1);
    /// ```
    pub fn new_mut<F, R>(f: F) -> Self
    where
        F: FnMut(&Context<'_>) -> R + Send + 'static,
        R: JobOutput<Value = T>,
    {
        Job::from_body(FnMutBody { f })
    }
}
