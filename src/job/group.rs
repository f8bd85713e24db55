//! [`Group`]: a job made of jobs (a nested scheduler), as the layers below the front
//! doors see it. The scheduler implements it; the graph operations and the reports
//! read a group's jobs through it, without knowing what a scheduler is.

use std::sync::Arc;

use super::handle::AnyJob;

/// A job that holds jobs of its own.
pub(crate) trait Group: Send + Sync {
    /// The group's id: the high half of its jobs' places (see `graph::place`).
    fn id(&self) -> u32;
    /// Its jobs, in insertion order.
    fn members(&self) -> Arc<Vec<AnyJob>>;
    /// Why its last run ended as it did (`FINE`, `TIMED OUT after ...`).
    fn why(&self) -> String;
    /// Whether it has run.
    fn ran(&self) -> bool;
}
