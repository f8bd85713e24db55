//! CPU-heavy jobs with dependencies, results flowing downstream: a map/reduce.
//!
//! Counts the primes below a bound: one "map" job per chunk counts its chunk's primes,
//! "reduce" jobs add pairs of partial counts in a tree, and a last job checks the
//! total. The window is the number of CPUs, so the map jobs keep every core busy.
//!
//! The run records its timeline: it prints the critical path (the chain of jobs that
//! set the run's length) and writes the run as a Chrome trace,
//! `target/pipeline/primes.trace.json` (under `CARGO_TARGET_DIR` when it is set), one
//! track per worker: open it in
//! <https://ui.perfetto.dev> (drop the file on the page) or in `chrome://tracing`.
//!
//! ```text
//! cargo run --release --example pipeline [-- BOUND CHUNKS]
//! ```

use jobgraph::{Error, Job, Scheduler, Watch};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Primes in `range`, by trial division: deliberately CPU-bound.
fn count_primes(range: std::ops::Range<u64>) -> u64 {
    let is_prime = |n: u64| n >= 2 && (2..).take_while(|d| d * d <= n).all(|d| n % d != 0);
    range.filter(|&n| is_prime(n)).count() as u64
}

fn main() -> Result<(), Error> {
    let mut args = std::env::args().skip(1).map(|a| a.parse::<u64>());
    let bound = args.next().and_then(Result::ok).unwrap_or(3_000_000);
    let chunks = args.next().and_then(Result::ok).unwrap_or(64).max(1);
    let cpus = std::thread::available_parallelism().map_or(2, |n| n.get());

    let scheduler = Scheduler::new()
        .label("primes")
        .window(cpus)
        .record_timeline(true);
    // Map: one job per chunk.
    let step = bound.div_ceil(chunks);
    let mut level: Vec<Job<u64>> = (0..chunks)
        .map(|c| {
            let range = c * step..((c + 1) * step).min(bound);
            Job::new(move |_| count_primes(range)).label(format!("map {c}"))
        })
        .collect();
    scheduler.add(&level[..]);
    // Reduce: add pairs until one job holds the total.
    let mut depth = 0;
    while level.len() > 1 {
        depth += 1;
        level = level
            .chunks(2)
            .enumerate()
            .map(|(i, pair)| {
                let inputs = pair.to_vec();
                let job = Job::new({
                    let inputs = inputs.clone();
                    move |ctx| -> Result<u64, Error> {
                        inputs.iter().map(|job| ctx.get(job).copied()).sum()
                    }
                })
                .label(format!("reduce {depth}.{i}"))
                .requires(&inputs[..]);
                scheduler.add(&job);
                job
            })
            .collect();
    }
    let total = level.pop().expect("at least one chunk");

    println!(
        "{} jobs ({chunks} map, {} reduce), window {cpus}",
        scheduler.len(),
        scheduler.len() as u64 - chunks
    );
    let watch = Watch::start();
    let started = Instant::now();
    let ok = scheduler.run()?;
    let parallel = started.elapsed();
    watch.print_elapsed(&format!("run() -> {ok}\n"));
    let primes = *total.result()?;
    println!("primes below {bound}: {primes}");

    // Where the time went: the critical path, and the trace of every worker.
    let timeline = scheduler.timeline().expect("the run recorded its timeline");
    print!("{}", timeline.critical_path());
    let dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"))
        .join("pipeline");
    let trace = dir.join("primes.trace.json");
    let written = std::fs::create_dir_all(&dir)
        .and_then(|()| std::fs::File::create(&trace))
        .and_then(|file| timeline.write_chrome_trace(std::io::BufWriter::new(file)));
    match written {
        Ok(()) => println!(
            "trace written to {}: open it in https://ui.perfetto.dev or chrome://tracing",
            trace.display()
        ),
        Err(e) => eprintln!("cannot write {}: {e}", trace.display()),
    }

    // The same work on this thread alone, to show what the window bought.
    let started = Instant::now();
    let sequential = count_primes(0..bound);
    let alone = started.elapsed();
    assert_eq!(sequential, primes, "the pipeline and the plain loop agree");
    println!(
        "one thread: {:.3}s, {cpus} workers: {:.3}s, speedup {:.2}x",
        alone.as_secs_f64(),
        parallel.as_secs_f64(),
        alone.as_secs_f64() / parallel.as_secs_f64()
    );
    Ok(())
}
