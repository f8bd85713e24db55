//! [`Job::after`]: a job that reads the results of the jobs it requires, each
//! requirement said once.

use std::fmt::Debug;

use super::context::Context;
use super::handle::{AnyJob, Job};
use super::output::JobOutput;
use crate::error::{Error, JobError};

/// The jobs whose results a job made with [`Job::after`] reads: a [`Job`] handle, or a
/// tuple of them (nested tuples too).
pub trait Inputs: Send + 'static {
    /// Their results, borrowed for the length of the job's run: `&T` for a `Job<T>`,
    /// a tuple of those for a tuple.
    type Values<'a>
    where
        Self: 'a;

    /// Their results, read through the running job's context.
    fn values<'a>(&'a self, ctx: &Context<'_>) -> Result<Self::Values<'a>, Error>;

    /// Pushes each of them, for the job to require.
    fn push(&self, out: &mut Vec<AnyJob>);
}

impl<T: Send + Sync + Debug + 'static> Inputs for Job<T> {
    type Values<'a> = &'a T;

    fn values<'a>(&'a self, ctx: &Context<'_>) -> Result<&'a T, Error> {
        ctx.get(self)
    }

    fn push(&self, out: &mut Vec<AnyJob>) {
        out.push(self.any.clone());
    }
}

/// What [`Job::after`] takes: a handle by reference (`&a`), or a tuple of those
/// (`(&a, &b)`); the job keeps clones of the handles.
pub trait IntoInputs {
    /// The handles the job keeps.
    type Inputs: Inputs;
    /// Clones the handles.
    fn into_inputs(self) -> Self::Inputs;
}

impl<T: Send + Sync + Debug + 'static> IntoInputs for &Job<T> {
    type Inputs = Job<T>;
    fn into_inputs(self) -> Job<T> {
        self.clone()
    }
}

macro_rules! tuple_inputs {
    ($($name:ident $index:tt),+) => {
        impl<$($name: Inputs),+> Inputs for ($($name,)+) {
            type Values<'a> = ($($name::Values<'a>,)+) where Self: 'a;

            fn values<'a>(&'a self, ctx: &Context<'_>) -> Result<Self::Values<'a>, Error> {
                Ok(($(self.$index.values(ctx)?,)+))
            }

            fn push(&self, out: &mut Vec<AnyJob>) {
                $(self.$index.push(out);)+
            }
        }

        impl<$($name: IntoInputs),+> IntoInputs for ($($name,)+) {
            type Inputs = ($($name::Inputs,)+);
            fn into_inputs(self) -> Self::Inputs {
                ($(self.$index.into_inputs(),)+)
            }
        }
    };
}

tuple_inputs!(A 0);
tuple_inputs!(A 0, B 1);
tuple_inputs!(A 0, B 1, C 2);
tuple_inputs!(A 0, B 1, C 2, D 3);
tuple_inputs!(A 0, B 1, C 2, D 3, E 4);
tuple_inputs!(A 0, B 1, C 2, D 3, E 4, F 5);
tuple_inputs!(A 0, B 1, C 2, D 3, E 4, F 5, G 6);
tuple_inputs!(A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7);

/// The outcome of a job made with [`Job::after`], already split: an input that failed,
/// or what the closure returned.
struct Split<T>(Result<T, JobError>);

impl<T: Send + Sync + Debug + 'static> JobOutput for Split<T> {
    type Value = T;
    fn into_result(self) -> Result<T, JobError> {
        self.0
    }
}

impl<T: Send + Sync + Debug + 'static> Job<T> {
    /// A job that requires `inputs` and gets their results, typed, as its closure's
    /// second argument: the requirement is said once, where a job made with
    /// [`Job::new`] clones each handle, reads it with [`Context::get`] and requires it
    /// with [`requires`](Job::requires).
    ///
    /// `inputs` is `&a` (the closure gets `&A`) or a tuple `(&a, &b, ...)` of up to 8
    /// (the closure gets `(&A, &B, ...)`). When an input failed (it was not critical,
    /// so this job still runs), this job fails with that input's error and its closure
    /// does not run.
    ///
    /// ```
    /// use jobgraph::{Job, Scheduler};
    /// let a = Job::new(|_| 20);
    /// let b = Job::new(|_| "two".to_string());
    /// let sum = Job::after((&a, &b), |_ctx, (a, b)| a + b.len() as i32);
    /// Scheduler::new().with((&a, &b, &sum)).run().unwrap();
    /// assert_eq!(*sum.result().unwrap(), 23);
    /// ```
    pub fn after<I, F, R>(inputs: I, f: F) -> Job<T>
    where
        I: IntoInputs,
        F: for<'a> FnOnce(&Context<'_>, <I::Inputs as Inputs>::Values<'a>) -> R + Send + 'static,
        R: JobOutput<Value = T>,
    {
        let inputs = inputs.into_inputs();
        let mut required = Vec::new();
        inputs.push(&mut required);
        Job::new(move |ctx| {
            Split(match inputs.values(ctx) {
                Ok(values) => f(ctx, values).into_result(),
                Err(error) => Err(JobError::new(error)),
            })
        })
        .requires(required)
    }
}
