//! What the order of ready jobs buys: the makespan of a seeded random DAG whose jobs
//! differ in length (`skewed_dag`: short jobs spinning 20 µs, chains of long ones
//! spinning 1 ms added after them), on a scheduler at window 2, first ready first
//! started against longest path first. Run time only, the best of several runs, the
//! two orders taking turns; beside them the bound no order can beat: the longer of the
//! critical path and half the total work.

use crate::common;

/// The graphs measured: (name, jobs, chains, long jobs per chain), as in
/// `benches/makespan.rs`.
const GRAPHS: [(&str, usize, usize, usize); 2] = [("1x10", 500, 1, 10), ("3x8", 300, 3, 8)];

/// How long short and long jobs spin, in nanoseconds.
const LENGTHS: (u64, u64) = (20_000, 1_000_000);

/// The window: 2 workers for the chains and the short jobs to share.
const WINDOW: usize = 2;

/// Prints the makespan table; `quick` runs each order fewer times.
pub(crate) fn section(quick: bool) {
    let reps = if quick { 7 } else { 21 };
    println!(
        "\n== makespan: random DAG, 20 us jobs and chains of 1 ms jobs added last, window {WINDOW}, run only, best of {reps}: ms; ratio = fifo / longest path first"
    );
    println!(
        "{:<10} {:>6} {:>9} {:>9} {:>20} {:>7}",
        "chains", "jobs", "bound", "fifo", "longest path first", "ratio"
    );
    for (name, n, chains, chain_len) in GRAPHS {
        let (shape, long) = common::skewed_dag(n, chains, chain_len);
        let ns = |i: usize| if long[i] { LENGTHS.1 } else { LENGTHS.0 };
        // Index order is a topological order: the longest path to each job, forwards.
        let mut path = vec![0u64; n];
        for i in 0..n {
            let before = shape.requirements(i).iter().map(|&r| path[r as usize]);
            path[i] = before.max().unwrap_or(0) + ns(i);
        }
        let critical = path.iter().copied().max().unwrap_or(0);
        let total: u64 = (0..n).map(ns).sum();
        let bound = critical.max(total / WINDOW as u64) as f64 / 1e6;
        let mut best = [f64::MAX; 2];
        for _ in 0..reps {
            for (k, ranked) in [false, true].into_iter().enumerate() {
                let build = || common::build_skewed(&shape, &long, LENGTHS, WINDOW, ranked);
                let (_, run) = common::timed(build, common::run_jobgraph);
                best[k] = best[k].min(run.as_secs_f64() * 1e3);
            }
        }
        println!(
            "{name:<10} {n:>6} {bound:>9.2} {:>9.2} {:>20.2} {:>6.2}x",
            best[0],
            best[1],
            best[0] / best[1]
        );
    }
}
