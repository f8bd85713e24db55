//! Job policies: a flaky step tried again with a backoff, and a step whose own deadline
//! fires while the rest of the run goes on.
//!
//! A "download" fails its first two attempts (say, a server that is not up yet) and is
//! tried again with an exponential backoff; a "slow mirror" ignores cancellation and is
//! given its own timeout, then given up on after the grace while its successors run;
//! the debrief tells the attempts and the timeout.
//!
//! ```text
//! cargo run --release --example policies
//! ```

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

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
    Ok(())
}
