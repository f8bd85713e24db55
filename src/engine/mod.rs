//! The engine: one run over any [`Table`] of jobs (a scheduler's handles, a batch's
//! slots): the ready jobs, the workers, the completion protocol, the coordinator that
//! owns the deadline, the grace and the stall check, and the run's events as plain
//! data. It prints nothing.
//!
//! May use: `job`, `graph` and the leaves. Used by the front doors (`scheduler`,
//! `batch`); the defaults they share live in [`settings`], and how a run's end becomes
//! their answer in `end`.
//!
//! # The protocol
//!
//! Each job has an atomic counter of unmet requirements (a job with a single
//! requirement needs none: the end of that requirement makes it ready). A worker that
//! finishes a job decrements its successors' counters; of those that reach zero it
//! keeps the first to run next itself, without a trip through any queue, and pushes
//! the rest onto its own deque. Workers are started on demand, up to the window: a
//! chain never needs more than one.
//!
//! Ready jobs live in one FIFO deque per worker (crossbeam's work-stealing deques) and,
//! for the entry jobs, in a list that workers claim in small chunks with one atomic
//! add. A worker takes from its own deque first, then claims entry jobs, then steals
//! from the other workers' deques (the oldest jobs first): no lock on the way, no
//! other worker's cache lines while entry jobs last, and jobs start roughly in the
//! order they became ready (the successor a worker keeps to run next goes first). A
//! ranked run (job priorities, longest path first) keeps its ready jobs in one shared
//! queue instead, best rank first (see `ready`).
//!
//! Non-forever jobs that end are counted per worker, and added to the run's shared
//! `remaining` counter only when the worker runs out of local work; the worker that
//! brings it to zero ends the run. No job can be left over: a worker flushes its count
//! before it looks for work elsewhere, so when all work is done every count has been
//! flushed.
//!
//! The waking rule (who sleeps, who wakes whom, and why no wake-up is lost) is told
//! in `worker.rs`, where it lives.

mod control;
mod end;
pub(crate) mod event;
#[cfg(all(test, loom))]
pub(crate) mod loom_models;
mod pool;
mod ready;
mod retry;
mod rules;
mod run;
pub(crate) mod settings;
mod share;
pub(crate) mod stall;
mod table;
mod timeout;
mod worker;

pub(crate) use control::CancelRun;
pub(crate) use end::{answer, Door};
pub(crate) use event::{Emitter, Observer};
pub use event::{Event, EventKind, RunEnd};
pub use pool::{Pool, DEFAULT_KEEP_ALIVE};
pub(crate) use run::{Run, Workers};

use crate::error::Error;

/// The error of a run that could not get a single worker: `None` when its pool is
/// closed, the OS's refusal otherwise.
pub(crate) fn no_worker(error: Option<std::io::Error>) -> Error {
    match error {
        None => Error::PoolClosed,
        Some(error) => Error::Spawn(std::sync::Arc::new(error)),
    }
}
pub(crate) use settings::{
    Reason, Settings, DEFAULT_GRACE, DEFAULT_STALL_TIMEOUT, UNLIMITED_WINDOW_WORKERS,
};
pub(crate) use table::Table;
