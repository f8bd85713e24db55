//! Builds and runs one shape on one of jobgraph's front doors again and again for a
//! while, to be profiled (`perf record`): the same builders as `compare`, without its
//! counting allocator or its peers.
//!
//! ```text
//! cargo build --release -p compare
//! perf record -e cpu-clock --call-graph dwarf target/release/profile_loop scheduler linear_chain 100000 5
//! ```
//!
//! Arguments: `scheduler`, `scheduler-build` (build only, then drop), `scheduler-drop`
//! (build and run, then drop: the drop is timed as the run), `batch`, `again` (one
//! batch of `FnMut` jobs built once and run again and again, as `compare`'s "run again"
//! row) or `rayon` (the rayon DAG of `compare`, on a standing pool of 2 threads); a
//! shape; its size; seconds. Prints the mean build and run in ns per job.

use jobgraph_shapes as common;

use std::time::{Duration, Instant};

use common::Work;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let usage =
        "usage: profile_loop scheduler|scheduler-build|scheduler-drop|batch|again|rayon SHAPE JOBS SECONDS";
    let [_, front, shape, jobs, seconds] = &args[..] else {
        eprintln!("{usage}");
        std::process::exit(2);
    };
    let (Some(jobs), Some(seconds)) = (jobs.parse().ok(), seconds.parse::<f64>().ok()) else {
        eprintln!("{usage}");
        std::process::exit(2);
    };
    let Some(shape) = common::by_name(shape, jobs) else {
        eprintln!("unknown shape {shape}");
        std::process::exit(2);
    };
    let started = Instant::now();
    let (mut build, mut run, mut rounds) = (Duration::ZERO, Duration::ZERO, 0u32);
    let mut rayon = None;
    let mut again = None;
    while started.elapsed().as_secs_f64() < seconds {
        let (b, r) = match front.as_str() {
            "scheduler" => common::timed(
                || common::build_jobgraph(&shape, 2, Work::Empty),
                common::run_jobgraph,
            ),
            "scheduler-build" => {
                common::timed(|| common::build_jobgraph(&shape, 2, Work::Empty), |_| ())
            }
            "scheduler-drop" => {
                let mut s = common::build_jobgraph(&shape, 2, Work::Empty);
                common::run_jobgraph(&mut s);
                let start = Instant::now();
                drop(s);
                (Duration::ZERO, start.elapsed())
            }
            "batch" => common::timed(
                || common::build_batch(&shape, 2, Work::Empty),
                common::run_batch,
            ),
            "again" => {
                let batch = again.get_or_insert_with(|| common::build_again(&shape, 2));
                common::timed(|| (), |_| common::run_batch(batch))
            }
            "rayon" => {
                let pool = rayon.get_or_insert_with(|| common::rayon_pool(2));
                common::timed(
                    || common::build_rayon(&shape, Work::Empty),
                    |dag| dag.run(pool),
                )
            }
            _ => {
                eprintln!("{usage}");
                std::process::exit(2);
            }
        };
        build += b;
        run += r;
        rounds += 1;
    }
    let per_job = |d: Duration| d.as_secs_f64() * 1e9 / (f64::from(rounds) * shape.len() as f64);
    println!(
        "{front} {} x{rounds}: build {:.1}, run {:.1} ns per job (mean)",
        shape.name,
        per_job(build),
        per_job(run)
    );
}
