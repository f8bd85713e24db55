//! The dense graph: a group of jobs frozen into index arrays (successor lists in CSR
//! form, requirement counts, flags), checked for cycles and for requirements that
//! cannot be met; the order asynciojobs lists jobs in; the index form the graph
//! operations (asynciojobs' `entry_jobs`, `exit_jobs`, `keep_only_between`, `sanitize`) and the reports read.
//!
//! May use: `job` and the leaves. Plain data, built once per run or per call, read by
//! the engine, the front doors and the reports.

mod dense;
mod frozen;
mod limits;

pub(crate) use dense::{listing_order, local_index, Dense};
pub(crate) use frozen::{
    find_cycle, freeze, from_sorted_pairs, is_forever, is_nested, place, policy_problem, rank,
    Frozen, FAR, POLICY, SINGLE,
};
pub(crate) use limits::Scope;
