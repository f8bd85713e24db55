//! `jobgraph`, the scenario runner: a DAG of shell commands read from a TOML file, run
//! here and on other hosts over ssh with [`jobgraph`] and [`jobgraph_command`].
//!
//! The binary is `src/main.rs`; this library holds its parts, so that they are tested
//! directly too: [`scenario`] (the file format and its checks), [`build`] (schedulers
//! from a scenario), [`journal`] (resuming), [`output`] (what is printed) and [`run`]
//! (a run with Ctrl-C handling, and its summary).

#![warn(missing_docs)]

pub mod build;
pub mod journal;
pub mod output;
pub mod run;
pub mod scenario;
