//! What the standing pool buys: the start of a warm run, small graphs against the rayon
//! DAG on its standing pool, and a graph run again against the same graph rebuilt.
//!
//! Each figure is the median (warm starts) or the best (graphs) of many back-to-back
//! runs in this process, next to a peer measured the same way in the same process:
//! "threads per run" is a pool with no keep-alive, whose workers are started for each
//! run and leave after it, as every run did before the standing pool. The external
//! peers' 1,000-job graphs are the best of as many repetitions in their driver's
//! process, on the pool (a `tf::Executor`, a `task_arena`) it made once.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use jobgraph::Pool;

use crate::common::{self, Work};

/// The median of `reps` timings of `f`, after `warm` untimed calls, in microseconds.
fn median_us(warm: usize, reps: usize, mut f: impl FnMut()) -> f64 {
    for _ in 0..warm {
        f();
    }
    let mut samples: Vec<Duration> = (0..reps)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed()
        })
        .collect();
    samples.sort_unstable();
    samples[samples.len() / 2].as_secs_f64() * 1e6
}

/// The best of `reps` timings of `f`, in nanoseconds per job of `n`. What `f` built is
/// dropped after the clock stops, as in every other table and in the peers' drivers.
fn best_ns_per_job<T>(n: usize, reps: usize, mut f: impl FnMut() -> T) -> f64 {
    (0..reps)
        .map(|_| {
            let start = Instant::now();
            let built = std::hint::black_box(f());
            let took = start.elapsed();
            drop(built);
            took
        })
        .min()
        .unwrap_or_default()
        .as_secs_f64()
        * 1e9
        / n as f64
}

/// Prints the standing pool's table and its targets; `quick` measures fewer runs.
/// `drivers` are the external peers that could be built, by the name of their rows.
pub(crate) fn section(quick: bool, dir: &Path, drivers: &[(&'static str, PathBuf)]) {
    let reps = if quick { 2_000 } else { 10_000 };
    let global = Pool::global();
    let cold = Pool::new().keep_alive(Duration::ZERO);
    let rayon = common::rayon_pool(2);

    println!("\n== warm start: one empty job, from run() to Ok, median of {reps} runs, us");
    let warm_s = median_us(200, reps, || common::one_job_scheduler(&global));
    let warm_b = median_us(200, reps, || common::one_job_batch(&global));
    let cold_s = median_us(20, reps / 10, || common::one_job_scheduler(&cold));
    let cold_b = median_us(20, reps / 10, || common::one_job_batch(&cold));
    let rayon_one = median_us(200, reps, || rayon.scope(|s| s.spawn(|_| ())));
    println!("{:<40} {:>9}", "system", "us/run");
    for (system, us) in [
        ("jobgraph scheduler, standing pool", warm_s),
        ("jobgraph batch, standing pool", warm_b),
        ("jobgraph scheduler, threads per run", cold_s),
        ("jobgraph batch, threads per run", cold_b),
        ("rayon scope, standing pool", rayon_one),
    ] {
        println!("{system:<40} {us:>9.2}");
    }

    let graph_reps = if quick { 200 } else { 1_000 };
    println!(
        "\n== 1,000-job graphs, window 2, build+run, best of {graph_reps}: ns per job; ratio = system / rayon"
    );
    println!(
        "{:<26} {:<22} {:>9} {:>9}",
        "shape", "system", "total", "ratio"
    );
    let mut small = Vec::new();
    for name in crate::TASKFLOW {
        let shape = common::by_name(name, 1_000).expect("a known shape");
        let n = shape.len();
        let r = best_ns_per_job(n, graph_reps, || {
            let dag = common::build_rayon(&shape, Work::Empty);
            dag.run(&rayon);
            dag
        });
        let s = best_ns_per_job(n, graph_reps, || {
            let mut s = common::build_jobgraph(&shape, 2, Work::Empty);
            common::run_jobgraph(&mut s);
            s
        });
        let b = best_ns_per_job(n, graph_reps, || {
            let mut b = common::build_batch(&shape, 2, Work::Empty);
            common::run_batch(&mut b);
            b
        });
        let mut rows = vec![("jobgraph", s), ("jobgraph-batch", b), ("rayon", r)];
        for (system, exe) in drivers {
            match crate::peers::time_driver(exe, dir, &shape, 2, Work::Empty, graph_reps) {
                Ok(m) => rows.push((system, m.total)),
                Err(e) => println!("{system} failed on {name} (1,000 jobs): {e}"),
            }
        }
        for (system, ns) in rows {
            println!("{name:<26} {system:<22} {ns:>9.1} {:>8.2}x", ns / r);
        }
        small.push((name, s / r, b / r));
    }

    let again_reps = if quick { 2_000 } else { 10_000 };
    println!(
        "\n== a 100-job graph run {again_reps} times, window 2: us per run; ratio = run again / rebuild"
    );
    println!(
        "{:<26} {:>12} {:>12} {:>9}",
        "shape", "run again", "rebuild", "ratio"
    );
    let mut again = Vec::new();
    for name in ["wavefront", "random_dag"] {
        let shape = common::by_name(name, 100).expect("a known shape");
        let mut batch = common::build_again(&shape, 2);
        let started = Instant::now();
        for _ in 0..again_reps {
            assert!(batch.run().expect("a run again"));
        }
        let rerun = started.elapsed().as_secs_f64() * 1e6 / again_reps as f64;
        // Each rebuilt batch is dropped after its clock stops, as everywhere else.
        let mut rebuilding = Duration::ZERO;
        for _ in 0..again_reps {
            let started = Instant::now();
            let mut fresh = common::build_again(&shape, 2);
            assert!(fresh.run().expect("a fresh run"));
            rebuilding += started.elapsed();
            drop(fresh);
        }
        let rebuild = rebuilding.as_secs_f64() * 1e6 / again_reps as f64;
        println!(
            "{name:<26} {rerun:>12.2} {rebuild:>12.2} {:>8.2}x",
            rerun / rebuild
        );
        again.push((name, rerun, rerun / rebuild));
    }

    println!("\n== standing pool targets");
    let mark = |ok: bool| if ok { "ok  " } else { "MISS" };
    println!(
        "{} warm start <= 5 us: scheduler {warm_s:.2}, batch {warm_b:.2} (threads per run: {cold_s:.2}, {cold_b:.2})",
        mark(warm_s <= 5.0 && warm_b <= 5.0)
    );
    for (name, s, b) in small {
        println!(
            "{} 1,000 jobs, scheduler <= 1.0x the rayon DAG, {name}: {s:.2}x",
            mark(s <= 1.0)
        );
        println!(
            "{} 1,000 jobs, batch <= 1.0x the rayon DAG, {name}: {b:.2}x",
            mark(b <= 1.0)
        );
    }
    for (name, us, ratio) in again {
        println!(
            "{} run again <= 10 us, {name}: {us:.2} us",
            mark(us <= 10.0)
        );
        println!(
            "{} run again <= 0.5x rebuilding, {name}: {ratio:.2}x",
            mark(ratio <= 0.5)
        );
    }
    cold.shutdown(Duration::from_secs(5));
}
