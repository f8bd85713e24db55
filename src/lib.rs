//! # jobgraph
//!
//! Run a graph of jobs on a fixed pool of worker threads: each job starts once all the
//! jobs it requires are done, at most *window* jobs run at once. A synchronous
//! executor in the manner of Python's *asynciojobs*, with its semantics: critical and
//! non-critical jobs, forever jobs, a global timeout, nested schedulers, sequences,
//! and its listings.
//!
//! ```
//! use jobgraph::{Job, Scheduler, Sequence};
//!
//! // Jobs are closures (or futures, or types of your own); they return a value or a Result.
//! let fetch = Job::new(|_| vec![3, 1, 2]).label("fetch");
//! let sort = Job::new({
//!     let fetch = fetch.clone();
//!     move |ctx| {
//!         // A job reads what the jobs it requires returned, typed.
//!         let mut data = ctx.get(&fetch)?.clone();
//!         data.sort();
//!         Ok::<_, jobgraph::Error>(data)
//!     }
//! })
//! .label("sort")
//! .requires(&fetch);
//! let report = Job::new(|_| "done").label("report").critical(false);
//!
//! let scheduler = Scheduler::new().window(2);
//! scheduler.add((&fetch, &sort, Sequence::new(&report)));
//! assert!(scheduler.run().unwrap());
//! assert_eq!(sort.result().unwrap(), &vec![1, 2, 3]);
//! ```
//!
//! # Many small jobs
//!
//! [`Batch`] builds jobs Taskflow's way, with `&mut` and named by index
//! ([`JobId`]), and runs them on the same engine with the same rules: for graphs of
//! hundreds of thousands of small jobs, at a third of a scheduler job's cost.
//!
//! # Async code
//!
//! [`Scheduler::run_async`] is the whole run as a future, for any executor (tokio,
//! smol, a plain `block_on`): the jobs still run on jobgraph's threads, and the
//! executor's threads stay free. [`Job::future`] drives a future on a worker with
//! `pollster`, so it suits runtime-agnostic futures ([`sleep`], `async-channel`,
//! `futures::channel`, `tokio::sync`); tokio's timers and sockets need a closure job
//! that enters a runtime handle, as shown there. To follow a run from code (progress
//! bars, metrics), see [`Scheduler::observe`], [`Scheduler::subscribe`] and [`Event`].
//!
//! See the README for the tour of asynciojobs' examples and the design.
#![deny(unsafe_code)]
#![warn(missing_docs)]

mod batch;
mod context;
mod dot;
mod engine;
mod error;
mod events;
mod graph;
mod handle;
mod job;
mod ops;
mod report;
mod run_async;
mod scheduler;
mod sequence;
mod sync;
mod watch;

pub use batch::{Batch, JobId, JobMut};
pub use context::Context;
pub use dot::find_dot;
pub use engine::timer::{sleep, Sleep};
pub use error::{BoxError, Error, JobError};
pub use events::{Event, EventKind, RunEnd};
pub use handle::{AnyJob, Job, JobState, Jobs};
pub use job::{AbstractJob, JobOutput, PrintJob};
pub use report::{Badge, Debrief, Listing, Symbols};
pub use run_async::RunFuture;
pub use scheduler::{Scheduler, DEFAULT_GRACE, DEFAULT_STALL_TIMEOUT, UNLIMITED_WINDOW_WORKERS};
pub use sequence::Sequence;
pub use watch::Watch;

/// The README's examples, compiled and run as doctests so that it stays true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
