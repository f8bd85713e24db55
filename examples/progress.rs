//! A progress bar drawn from a run's events.
//!
//! ```text
//! cargo run --release --example progress
//! ```
//!
//! A few thousand small jobs in layers, each requiring a few jobs of the layer before;
//! some of them non-critical and failing. An observer (`Scheduler::observe`), called on
//! the workers as jobs end, moves an `indicatif` bar and counts the failures; the
//! summary comes from the scheduler and the handles once the run is over.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};
use jobgraph::{AnyJob, EventKind, Job, Scheduler};

const LAYERS: usize = 40;
const WIDTH: usize = 100;
/// One job in this many fails (non-critical, so the run goes on).
const FAIL_EVERY: usize = 397;

/// A fraction of a millisecond of arithmetic, standing for a small piece of real work.
fn busy(seed: u64) -> u64 {
    let mut x = seed | 1;
    for _ in 0..500_000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
    }
    x
}

/// A small deterministic generator, for the shape of the graph.
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 33) % n as u64) as usize
    }
}

#[derive(Debug, thiserror::Error)]
#[error("job {0} hit a bad input")]
struct BadInput(usize);

fn main() {
    let mut shape = Lcg(42);
    let mut jobs: Vec<AnyJob> = Vec::with_capacity(LAYERS * WIDTH);
    for layer in 0..LAYERS {
        for i in 0..WIDTH {
            let n = layer * WIDTH + i;
            let job = Job::new(move |_| {
                let value = busy(n as u64);
                if n % FAIL_EVERY == FAIL_EVERY - 1 {
                    Err(BadInput(n))
                } else {
                    Ok(value)
                }
            })
            .label(format!("L{layer:02}-{i:03}"))
            .critical(n % FAIL_EVERY != FAIL_EVERY - 1);
            if layer > 0 {
                for _ in 0..1 + shape.below(3) {
                    job.add_requires(&jobs[(layer - 1) * WIDTH + shape.below(WIDTH)]);
                }
            }
            jobs.push(job.any());
        }
    }

    let bar = ProgressBar::new(jobs.len() as u64);
    bar.set_style(
        ProgressStyle::with_template(
            "{elapsed_precise} [{bar:40.cyan/blue}] {pos}/{len} jobs ({per_sec}) {msg}",
        )
        .expect("a valid template")
        .progress_chars("=> "),
    );
    let failed = Arc::new(AtomicUsize::new(0));
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
    let scheduler = Scheduler::new().label("progress").window(workers).observe({
        let (bar, failed) = (bar.clone(), failed.clone());
        move |event| {
            match &event.kind {
                EventKind::Failed(_) => {
                    let failed = failed.fetch_add(1, Ordering::Relaxed) + 1;
                    bar.set_message(format!("{failed} failed"));
                }
                EventKind::RunEnded(_) => bar.finish(),
                _ => {}
            }
            if event.is_job_end() {
                bar.inc(1);
            }
        }
    });
    scheduler.add(&jobs);

    let start = Instant::now();
    let result = scheduler.run();
    let took = start.elapsed();

    println!("run: {result:?} in {:.2} s", took.as_secs_f64());
    println!(
        "{} ({:.0} jobs/s): {}",
        scheduler.stats(),
        jobs.len() as f64 / took.as_secs_f64(),
        scheduler.why()
    );
    let failures: Vec<&AnyJob> = jobs
        .iter()
        .filter(|job| job.raised_exception().is_some())
        .collect();
    println!("{} non-critical job(s) failed:", failures.len());
    for job in failures {
        let error = job.raised_exception().expect("it failed");
        println!("  {}: {error}", job.text_label());
    }
}
