//! [`JobOutput`]: what a job may return, a plain value or a `Result`, and the
//! [`job_output!`](crate::job_output) macro for a type of one's own.

use std::fmt::Debug;
use std::sync::Arc;
use std::time::Duration;

use crate::error::{BoxError, JobError};

/// What a job's closure, future or [`AbstractJob::run`](crate::AbstractJob::run) may return: a plain value, or a
/// `Result` whose error makes the job fail.
///
/// Implemented for `Result<T, E>` (the job's value is `T`) and for the common plain
/// types of `std`. For a type of your own, return it in a `Result`
/// (`Ok::<_, jobgraph::Error>(value)`) or implement it with
/// [`job_output!`](crate::job_output); the compiler's message says so when you forget.
///
/// ```
/// #[derive(Debug)]
/// struct Summary {
///     jobs: usize,
/// }
/// jobgraph::job_output!(Summary);
///
/// let plain = jobgraph::Job::new(|_| Summary { jobs: 3 });
/// let wrapped = jobgraph::Job::new(|_| Ok::<_, jobgraph::Error>(vec![Summary { jobs: 4 }]));
/// # let _ = (plain, wrapped);
/// ```
#[diagnostic::on_unimplemented(
    message = "a job cannot return `{Self}`: it is not a `JobOutput`",
    label = "this job's return value",
    note = "return it in a `Result`, as `Ok::<_, jobgraph::Error>(value)` (or any error type), or make `{Self}` a job's return value once with `jobgraph::job_output!({Self});` (it must be `Send + Sync + Debug + 'static`)"
)]
pub trait JobOutput: Send + 'static {
    /// The job's value when it succeeds: what its handle's `result()` gives.
    type Value: Send + Sync + Debug + 'static;
    /// Splits the output into the job's value or its failure.
    fn into_result(self) -> Result<Self::Value, JobError>;
}

impl<T, E> JobOutput for Result<T, E>
where
    T: Send + Sync + Debug + 'static,
    E: Into<BoxError> + Send + 'static,
{
    type Value = T;
    fn into_result(self) -> Result<T, JobError> {
        self.map_err(JobError::new)
    }
}

/// Makes plain types usable as a job's return value (see [`JobOutput`]):
/// `jobgraph::job_output!(MyReport, MyStats);`
#[macro_export]
macro_rules! job_output {
    ($($t:ty),* $(,)?) => {$(
        impl $crate::JobOutput for $t {
            type Value = $t;
            fn into_result(self) -> ::std::result::Result<$t, $crate::JobError> {
                ::std::result::Result::Ok(self)
            }
        }
    )*};
}

job_output!(
    (),
    bool,
    char,
    u8,
    u16,
    u32,
    u64,
    u128,
    usize,
    i8,
    i16,
    i32,
    i64,
    i128,
    isize,
    f32,
    f64,
    String,
    &'static str,
    Duration,
    std::path::PathBuf,
    std::process::ExitStatus,
    std::process::Output,
);

macro_rules! generic_job_output {
    ($(($($p:ident),+) $t:ty;)*) => {$(
        impl<$($p: Send + Sync + Debug + 'static),+> JobOutput for $t {
            type Value = $t;
            fn into_result(self) -> Result<$t, JobError> {
                Ok(self)
            }
        }
    )*};
}

generic_job_output! {
    (T) Vec<T>;
    (T) Option<T>;
    (T) Box<T>;
    (T) Arc<T>;
    (T) std::collections::VecDeque<T>;
    (K, V) std::collections::HashMap<K, V>;
    (K, V) std::collections::BTreeMap<K, V>;
    (T) std::collections::HashSet<T>;
    (T) std::collections::BTreeSet<T>;
    (A, B) (A, B);
    (A, B, C) (A, B, C);
    (A, B, C, D) (A, B, C, D);
}
