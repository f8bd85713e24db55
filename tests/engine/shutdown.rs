//! `Scheduler::shutdown` (asynciojobs' `shutdown`): every hook at the same time, bounded by the shutdown
//! timeout, the late ones named; closure and future jobs' hooks; once only.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use jobgraph::{AbstractJob, Context, Job, Scheduler};

/// A job of one's own whose hook takes `pause`.
struct Connection {
    pause: Duration,
    closed: Arc<AtomicUsize>,
}

impl AbstractJob for Connection {
    type Output = ();
    fn run(&mut self, _ctx: &Context<'_>) {}
    fn shutdown(&mut self) {
        std::thread::sleep(self.pause);
        self.closed.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn hooks_run_at_the_same_time_within_the_timeout() {
    // asynciojobs' case: two 0.3 s hooks under a 0.5 s timeout give true after 0.3 s.
    let closed = Arc::new(AtomicUsize::new(0));
    let connection = |ms| {
        Job::custom(Connection {
            pause: Duration::from_millis(ms),
            closed: closed.clone(),
        })
    };
    let nested = Scheduler::new().label("nested");
    nested.add(connection(300));
    let s = Scheduler::new().shutdown_timeout(Duration::from_millis(500));
    s.add((connection(300), &nested));
    assert!(s.run().unwrap());
    let start = Instant::now();
    assert!(s.shutdown());
    let took = start.elapsed();
    assert!(took < Duration::from_millis(500), "took {took:?}");
    assert_eq!(closed.load(Ordering::SeqCst), 2);
    assert!(s.shutdown_pending().is_empty());
}

#[test]
fn a_late_hook_is_named_and_closure_and_future_jobs_have_hooks() {
    let calls = Arc::new(AtomicUsize::new(0));
    let count = || {
        let calls = calls.clone();
        move || {
            calls.fetch_add(1, Ordering::SeqCst);
        }
    };
    let quick = Job::new(|_| 1).label("quick").on_shutdown(count());
    let future = Job::future(async { 2 })
        .label("future")
        .on_shutdown(count());
    let late = Job::new(|_| 3)
        .label("late")
        .on_shutdown(|| std::thread::sleep(Duration::from_millis(400)));
    let s = Scheduler::new().shutdown_timeout(Duration::from_millis(100));
    s.add((&quick, &future, &late));
    assert!(s.run().unwrap());
    let start = Instant::now();
    assert!(!s.shutdown());
    assert!(start.elapsed() < Duration::from_millis(350));
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    assert_eq!(s.shutdown_pending(), vec![late.any()]);
    // Once only: the same answer, no hook called again.
    assert!(!s.shutdown());
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[test]
fn run_calls_no_hook_unless_asked_and_then_after_every_run() {
    let closed = Arc::new(AtomicUsize::new(0));
    let connection = |ms| {
        Job::custom(Connection {
            pause: Duration::from_millis(ms),
            closed: closed.clone(),
        })
    };
    // The seed's default: shutdown is the caller's.
    let s = Scheduler::new().with(connection(10));
    assert!(s.run().unwrap());
    assert_eq!(closed.load(Ordering::SeqCst), 0);
    assert!(s.shutdown());
    assert_eq!(closed.load(Ordering::SeqCst), 1);

    // Later asynciojobs' behaviour, asked for: two 0.3 s hooks under a 0.5 s timeout
    // are called at the run's end, at the same time.
    closed.store(0, Ordering::SeqCst);
    let nested = Scheduler::new().label("nested").with(connection(300));
    let s = Scheduler::new()
        .shutdown_after_run(true)
        .shutdown_timeout(Duration::from_millis(500))
        .with((connection(300), &nested));
    let start = Instant::now();
    assert!(s.run().unwrap());
    assert_eq!(
        closed.load(Ordering::SeqCst),
        2,
        "both hooks ran within run()"
    );
    assert!(start.elapsed() < Duration::from_millis(580 + 2_000));
    assert!(s.shutdown_pending().is_empty());
    // Once only: an explicit shutdown afterwards calls nothing again.
    assert!(s.shutdown());
    assert_eq!(closed.load(Ordering::SeqCst), 2);

    // A hook past the timeout is named, and run() still answers for the run.
    closed.store(0, Ordering::SeqCst);
    let late = connection(1_500);
    let s = Scheduler::new()
        .shutdown_after_run(true)
        .shutdown_timeout(Duration::from_millis(200))
        .with(&late);
    assert!(s.run().unwrap());
    assert_eq!(s.shutdown_pending(), vec![late.any()]);

    // The same through run_async.
    closed.store(0, Ordering::SeqCst);
    let s = Scheduler::new()
        .shutdown_after_run(true)
        .with(connection(10));
    assert!(futures::executor::block_on(s.run_async()).unwrap());
    assert_eq!(closed.load(Ordering::SeqCst), 1);
}
