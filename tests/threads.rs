//! After `run()` returns, no worker or timer thread of that run is left.
//!
//! One test in its own binary, so no other test's threads are counted.

use jobgraph::{Job, Scheduler};
use std::time::Duration;

mod support;
use support::{jobgraph_threads, settled_threads};

/// How long the threads of a run that has returned may take to leave `/proc`.
const SETTLE: Duration = Duration::from_secs(2);

#[test]
fn no_worker_or_timer_thread_outlives_its_run() {
    if jobgraph_threads().is_none() {
        eprintln!("skipped: /proc/self/task is not available on this system");
        return;
    }
    assert_eq!(jobgraph_threads(), Some(0));

    // A plain run with a wide window, a nested scheduler, futures using the timer.
    let inner = Scheduler::new().label("inner").window(3);
    for _ in 0..6 {
        inner.add(Job::future(async {
            jobgraph::sleep(Duration::from_millis(20)).await;
        }));
    }
    let outer = Scheduler::new().window(0);
    outer.add(&inner);
    for i in 0..50 {
        outer.add(Job::new(move |ctx| {
            ctx.sleep(Duration::from_millis(10));
            i
        }));
    }
    // While it runs, there are threads to count: the check can fail.
    let probe = Job::new(|_| jobgraph_threads().unwrap());
    outer.add(&probe);
    assert!(outer.run().unwrap());
    assert!(
        *probe.result().unwrap() >= 1,
        "the probe ran on a jobgraph worker"
    );
    assert_eq!(settled_threads(SETTLE).unwrap(), 0, "after a complete run");

    // A run cut by its timeout, with a forever future parked on the timer.
    let s = Scheduler::new()
        .critical(false)
        .timeout(Duration::from_millis(50));
    s.add(Job::future(async {
        jobgraph::sleep(Duration::from_secs(60)).await
    }));
    async fn tick() {
        loop {
            jobgraph::sleep(Duration::from_millis(5)).await;
        }
    }
    s.add(Job::future(tick()).forever(true));
    assert!(!s.run().unwrap());
    assert_eq!(settled_threads(SETTLE).unwrap(), 0, "after a timed-out run");
}
