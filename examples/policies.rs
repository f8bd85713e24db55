//! Job policies: a flaky step tried again with a backoff, a step whose own deadline
//! fires while the rest of the run goes on, and a named limit of 2 GPUs over 8 jobs.
//!
//! A "download" fails its first two attempts (say, a server that is not up yet) and is
//! tried again with an exponential backoff; a "slow mirror" ignores cancellation and is
//! given its own timeout, then given up on after the grace while its successors run;
//! the debrief tells the attempts and the timeout. Then 8 training jobs, each using 1 of
//! a limit of 2 "gpu", run in a window of 8 beside 4 jobs that need no GPU: never more
//! than 2 of them at once, while the others take the free workers.
//!
//! ```text
//! cargo run --release --example policies
//! ```

use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use jobgraph::{Backoff, Error, EventKind, Job, RetryOn, Scheduler};

fn main() -> Result<(), Error> {
    let tries = Arc::new(AtomicU32::new(0));
    let download = {
        let tries = tries.clone();
        Job::new_mut(move |_| match tries.fetch_add(1, Ordering::SeqCst) {
            0 | 1 => Err("connection refused"),
            _ => Ok(1_024),
        })
        .label("download")
        .retries(4)
        .backoff(
            Backoff::exponential(Duration::from_millis(20), 2.0).max(Duration::from_millis(200)),
        )
        .retry_on(RetryOn::Failure)
    };
    // Ignores its context: its deadline cancels it, and the run gives up on it after
    // the grace, handing its place to the next job.
    let mirror = Job::new(|_| std::thread::sleep(Duration::from_millis(400)))
        .label("slow mirror")
        .timeout(Duration::from_millis(100))
        .critical(false);
    let checksum = Job::new(|_| "ok")
        .label("checksum")
        .requires((&download, &mirror));
    let scheduler = Scheduler::new()
        .label("policies")
        .window(1)
        .grace(Duration::from_millis(50))
        .observe(|event| match &event.kind {
            EventKind::Retrying {
                attempt,
                after,
                error,
            } => {
                println!("attempt {attempt} failed ({error}); next in {after:?}")
            }
            EventKind::TimedOut { still_running } => println!(
                "{} timed out{}",
                event
                    .job
                    .as_ref()
                    .map(|job| job.text_label())
                    .unwrap_or_default(),
                if *still_running {
                    ", still running: given up on"
                } else {
                    ""
                }
            ),
            _ => {}
        });
    scheduler.add((&download, &mirror, &checksum));
    let fine = scheduler.run()?;
    println!("{}", scheduler.debrief());
    println!(
        "run fine: {fine}; download took {} attempts; checksum: {}",
        download.attempts(),
        checksum.result()?
    );
    assert!(fine && mirror.is_timed_out() && download.attempts() == 3);
    gpus()
}

/// 8 jobs share a limit of 2 GPUs in a window of 8; 4 more need none.
fn gpus() -> Result<(), Error> {
    let on_gpu = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let scheduler = Scheduler::new().label("gpus").window(8).limit("gpu", 2);
    for i in 0..8 {
        let (on_gpu, most) = (on_gpu.clone(), most.clone());
        scheduler.add(
            Job::new(move |ctx| {
                let now = on_gpu.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(now, Ordering::SeqCst);
                ctx.sleep(Duration::from_millis(40));
                on_gpu.fetch_sub(1, Ordering::SeqCst);
            })
            .label(format!("train {i}"))
            .uses("gpu", 1),
        );
    }
    for i in 0..4 {
        scheduler
            .add(Job::new(|ctx| ctx.sleep(Duration::from_millis(40))).label(format!("plot {i}")));
    }
    let start = Instant::now();
    let fine = scheduler.run()?;
    let most = most.load(Ordering::SeqCst);
    println!(
        "12 jobs, 8 of them on a limit of 2 gpus, window 8: at most {most} on the gpus at once, {:?} in all (4 rounds of 40 ms)",
        start.elapsed()
    );
    assert!(fine && most <= 2);
    Ok(())
}
