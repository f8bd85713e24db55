//! Reports: what a person reads about a graph and its run. `list`, `list_safe`,
//! `debrief` and the `Display` of jobs ([`Listing`], [`Debrief`], [`Badge`]); the
//! counts and verdicts (`stats`, `why`); verbose mode's printer and the timeline's
//! recorder, observers of the engine's events; the [`Timeline`], its critical path
//! and its Chrome trace; the DOT text, and PNG/SVG pictures through Graphviz's `dot` (with the
//! `pictures` feature).
//!
//! May use: `job`, `graph`, `engine` (its events, as plain data) and the leaves. It
//! reads a nested scheduler only through the job layer's `Group` trait, and nothing
//! imports it but the front doors' methods that return a report. The reports are
//! values: they read the jobs when they are formatted, so
//! `println!("{}", scheduler.list())` shows the jobs as they are then.

mod badge;
mod dot;
mod listing;
mod picture;
mod stats;
mod timeline;
mod trace;
mod verbose;

pub use badge::{printable, Badge, Symbols, VALUE_WIDTH};
pub use listing::{Debrief, Listing};
pub use picture::find_dot;
pub use timeline::{Attempt, CriticalPath, JobEnd, Step, TimedJob, Timeline};

pub(crate) use dot::dot_text;
#[cfg(feature = "pictures")]
pub(crate) use picture::export;
pub(crate) use stats::{run_stats, tally, why_line};
pub(crate) use timeline::Recorder;
#[cfg(test)]
pub(crate) use verbose::Output;
pub(crate) use verbose::Verbose;
