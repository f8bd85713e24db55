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
//! # A standing pool, graphs that run again
//!
//! Runs take their worker threads from a [`Pool`] ([`Pool::global`] by default) and
//! give them back, so a run of a few jobs costs microseconds, not thread starts. A
//! [`Batch`] whose jobs were added with [`Batch::add_mut`] runs again and again without
//! being rebuilt.
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
//! # Reports
//!
//! [`Scheduler::list`], [`Scheduler::debrief`], [`Scheduler::why`] and
//! [`Scheduler::stats`] in asynciojobs' layout (`.details()`, `.silence_done_jobs()`
//! on the listing for its variants; long values cut to [`VALUE_WIDTH`] characters, the
//! handles giving them whole), [`Scheduler::dot_format`] and, with the `pictures`
//! feature, PNG and SVG files. A run that records its [`Timeline`]
//! ([`Scheduler::record_timeline`]) tells when each job ran and on which worker, its
//! [critical path](Timeline::critical_path) (in the debrief, bold in the picture), and
//! writes a [Chrome trace](Timeline::chrome_trace) for Perfetto.
//!
//! # Cargo features
//!
//! - `pictures` (on by default): `Scheduler::export_as_pngfile` and
//!   `Scheduler::export_as_svgfile`, which run Graphviz's `dot` (no extra crate). The
//!   DOT text ([`Scheduler::dot_format`], [`Scheduler::export_as_dotfile`]) needs no
//!   feature. An embedder who never draws can turn it off (`default-features = false`).
//! - `tracing`: a run is a `tracing` span named `run`, with a `job` span per job and
//!   an event per [`Event`], sent to the subscriber in effect where the run began (see
//!   [`Event`]'s docs for the levels and fields). Without it, and without observers, a
//!   run builds no event at all.
//!
//! See the README for the tour of asynciojobs' examples, and ARCHITECTURE.md for the
//! design.
#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(unsafe_code)]
#![warn(missing_docs)]

// The layers, from the bottom up (ARCHITECTURE.md draws them): the leaves, what
// a job is, the dense graph, the engine, the two front doors, and the reports, which
// only the front doors' report methods use. `tests/layers.rs` checks that every
// `use crate::` points down.
mod error;
mod limits;
mod sync;
mod timer;
mod watch;

mod job;

mod graph;

mod engine;

mod batch;
mod scheduler;

mod report;

pub use batch::{Batch, JobMut};
pub use engine::settings::{DEFAULT_GRACE, DEFAULT_STALL_TIMEOUT, UNLIMITED_WINDOW_WORKERS};
pub use engine::{Event, EventKind, Pool, RunEnd, DEFAULT_KEEP_ALIVE};
pub use error::{BoxError, Error, JobError, Runner};
pub use job::{
    AbstractJob, AnyJob, Backoff, Context, Inputs, IntoInputs, Job, JobId, JobOutput, JobState,
    Jobs, PrintJob, RetryOn, MAX_RETRIES,
};
pub use report::{
    find_dot, printable, Attempt, Badge, CriticalPath, Debrief, JobEnd, Listing, Step, Symbols,
    TimedJob, Timeline, VALUE_WIDTH,
};
pub use scheduler::{RunFuture, Scheduler, Sequence};
pub use timer::{sleep, Sleep};
pub use watch::Watch;

/// The README's examples, compiled and run as doctests so that it stays true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

/// POLICIES.md's examples, run as the README's are.
#[cfg(doctest)]
#[doc = include_str!("../POLICIES.md")]
struct PoliciesDoctests;
