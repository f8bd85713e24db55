//! Awaiting a run of CPU-heavy jobs from tokio, while other tasks keep going.
//!
//! ```text
//! cargo run --release --example async_adapter
//! ```
//!
//! The runtime is a current-thread one: a single thread polls every task. The jobs
//! (summing the primes of a range, chunk by chunk, then adding the chunks up) run on
//! jobgraph's worker threads, and `run_async()` only waits for them, so the other tasks
//! on that one thread keep ticking all along; the tick counts printed show it. A last
//! job needs tokio's own timer: it is a closure job that enters the runtime through a
//! captured `Handle` (a `Job::future` runs under `pollster`, where tokio's timer has
//! no reactor).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use jobgraph::{Error, Job, Scheduler};

/// The primes below this are summed.
const LIMIT: u64 = 10_000_000;
/// In this many jobs.
const CHUNKS: u64 = 32;

fn is_prime(n: u64) -> bool {
    if n < 4 {
        return n >= 2;
    }
    if n % 2 == 0 || n % 3 == 0 {
        return false;
    }
    let mut d = 5;
    while d * d <= n {
        if n % d == 0 || n % (d + 2) == 0 {
            return false;
        }
        d += 6;
    }
    true
}

/// How many primes lie in `range`, and their sum.
fn primes_in(range: std::ops::Range<u64>) -> (u64, u64) {
    range
        .filter(|&n| is_prime(n))
        .fold((0, 0), |(count, sum), p| (count + 1, sum + p))
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let start = Instant::now();

    // Two tasks on this same thread: a fast heartbeat, and a clock that prints.
    let beats = Arc::new(AtomicU64::new(0));
    let heartbeat = tokio::spawn({
        let beats = beats.clone();
        async move {
            loop {
                tokio::time::sleep(Duration::from_millis(5)).await;
                beats.fetch_add(1, Ordering::Relaxed);
            }
        }
    });
    let clock = tokio::spawn({
        let beats = beats.clone();
        async move {
            let mut every = tokio::time::interval(Duration::from_millis(250));
            every.tick().await;
            loop {
                every.tick().await;
                println!(
                    "  [clock task] {:5.2} s, {} heartbeats so far",
                    start.elapsed().as_secs_f64(),
                    beats.load(Ordering::Relaxed)
                );
            }
        }
    });

    // The graph: one job per chunk, one that adds them up (reading their results,
    // typed), and one that uses tokio's timer through the runtime's handle.
    let step = LIMIT.div_ceil(CHUNKS);
    let chunks: Vec<Job<(u64, u64)>> = (0..CHUNKS)
        .map(|i| {
            let range = i * step..((i + 1) * step).min(LIMIT);
            Job::new(move |_| primes_in(range)).label(format!("chunk {i:02}"))
        })
        .collect();
    let total = Job::new({
        let chunks = chunks.clone();
        move |ctx| {
            let mut total = (0, 0);
            for chunk in &chunks {
                let (count, sum) = ctx.get(chunk)?;
                total = (total.0 + count, total.1 + sum);
            }
            Ok::<_, Error>(total)
        }
    })
    .label("total")
    .requires(&chunks);
    let handle = tokio::runtime::Handle::current();
    let publish = Job::new({
        let total = total.clone();
        move |ctx| {
            let (count, sum) = *ctx.get(&total)?;
            // tokio's timer, on a jobgraph worker: through the runtime's handle. The
            // future is made inside the async block, once in the runtime's context.
            handle.block_on(async { tokio::time::sleep(Duration::from_millis(100)).await });
            Ok::<_, Error>(format!("{count} primes below {LIMIT}, summing to {sum}"))
        }
    })
    .label("publish")
    .requires(&total);

    let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
    let scheduler = Scheduler::new().label("primes").window(workers);
    scheduler.add((&chunks, &total, &publish));

    println!("running {} jobs on {workers} worker(s)...", scheduler.len());
    let before = beats.load(Ordering::Relaxed);
    let run_start = Instant::now();
    let ok = scheduler.run_async().await?;
    let took = run_start.elapsed();
    let during = beats.load(Ordering::Relaxed) - before;
    heartbeat.abort();
    clock.abort();

    println!("run ok: {ok}, in {:.2} s", took.as_secs_f64());
    println!("{}", publish.result()?);
    println!(
        "the heartbeat task, on the thread that awaited the run, ticked {during} times \
         meanwhile (a tick takes 5 ms or a little more: at most {})",
        took.as_millis() / 5
    );
    Ok(())
}
