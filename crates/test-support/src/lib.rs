//! What jobgraph's test suites share.
//!
//! * [`seeded`]: the configuration of every property test, so that a run is the same
//!   run every time (CI never fails at random) and any run can be replayed: the seed
//!   is `PROPTEST_RNG_SEED` when set, a fixed one otherwise, and a failure prints it.
//!   Nothing is written beside the tests: a case worth keeping becomes a named test.
//! * [`alive`], [`gone`], [`processes_mentioning`], [`read_pids`]: processes seen
//!   through `/proc`.
//! * [`skipped`]: a test that took its path without an outside tool.
//! * [`sshd`]: a real `sshd` on 127.0.0.1 for the ssh jobs' tests.

#![warn(missing_docs)]

use std::time::{Duration, Instant};

use proptest::test_runner::{Config, RngSeed};

pub mod sshd;

/// The seed of the property tests when `PROPTEST_RNG_SEED` is not set.
pub const DEFAULT_SEED: u64 = 0x6a6f_6267_7261_7068;

/// A property test's configuration: `cases` cases from the seed in
/// `PROPTEST_RNG_SEED`, or [`DEFAULT_SEED`]; no failure file written.
///
/// The seed is printed on stderr, which the test harness shows with a failure:
/// `PROPTEST_RNG_SEED=N cargo test NAME` runs the same cases again, and another `N`
/// explores others.
pub fn seeded(cases: u32) -> Config {
    let seed = std::env::var("PROPTEST_RNG_SEED")
        .ok()
        .and_then(|text| text.trim().parse().ok())
        .unwrap_or(DEFAULT_SEED);
    eprintln!("proptest: seed {seed}; replay with PROPTEST_RNG_SEED={seed}");
    Config {
        cases,
        rng_seed: RngSeed::Fixed(seed),
        failure_persistence: None,
        ..Config::default()
    }
}

/// Whether a process runs (a zombie waiting for its reaper does not count).
pub fn alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            let state = stat.rsplit(')').next().unwrap_or("").trim_start();
            !state.starts_with('Z') && !state.starts_with('X')
        }
        Err(_) => false,
    }
}

/// Waits at most `limit` for a process to be gone; true when it is.
pub fn gone(pid: i32, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    while alive(pid) {
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    true
}

/// The running processes whose command line mentions `needle`.
pub fn processes_mentioning(needle: &str) -> Vec<i32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for entry in entries.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        if let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) {
            if String::from_utf8_lossy(&cmdline).contains(needle) && alive(pid) {
                found.push(pid);
            }
        }
    }
    found
}

/// Whether CI asked every outside tool to be there (`JOBGRAPH_REQUIRE_TOOLS=1`).
pub fn tools_required() -> bool {
    std::env::var("JOBGRAPH_REQUIRE_TOOLS").as_deref() == Ok("1")
}

/// Says that a test took its path without an outside tool (Graphviz's `dot`, sshd,
/// a Slurm cluster) and checked the clear error instead: prints `SKIPPED what`. Under
/// `JOBGRAPH_REQUIRE_TOOLS=1`, which `.ci/run` sets after installing every tool, it
/// fails the test instead: there, a skipped real path is a broken install.
pub fn skipped(what: &str) {
    if tools_required() {
        panic!("JOBGRAPH_REQUIRE_TOOLS=1, but this test would skip: {what}");
    }
    println!("SKIPPED {what}");
}

/// Waits (`limit` at most) until `path` holds at least `n` process ids, whitespace
/// apart (a scenario's commands write theirs); the ids it holds then.
pub fn read_pids(path: &std::path::Path, n: usize, limit: Duration) -> Vec<i32> {
    let deadline = Instant::now() + limit;
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let pids: Vec<i32> = text
            .split_whitespace()
            .filter_map(|w| w.parse().ok())
            .collect();
        if pids.len() >= n || Instant::now() > deadline {
            return pids;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}
