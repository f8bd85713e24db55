//! The global timeout: errors, pending jobs, cooperative and uncooperative jobs.

use crate::common::{sleeper, Recorder};
use jobgraph::{Error, Job, JobState, Scheduler};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[test]
fn a_critical_scheduler_returns_the_timeout_error() {
    let rec = Recorder::new();
    let s = Scheduler::new()
        .label("slow")
        .timeout(Duration::from_millis(100));
    s.add(sleeper(&rec, "long", 5_000));
    match s.run() {
        Err(Error::Timeout { label, timeout, .. }) => {
            assert_eq!(label, "slow");
            assert_eq!(timeout, Duration::from_millis(100));
        }
        other => panic!("expected a timeout, got {other:?}"),
    }
    assert_eq!(s.failed_time_out(), Some(Duration::from_millis(100)));
    assert!(!s.failed_critical());
}

#[test]
fn a_non_critical_scheduler_returns_false() {
    let rec = Recorder::new();
    let s = Scheduler::new()
        .critical(false)
        .timeout(Duration::from_millis(100));
    s.add(sleeper(&rec, "long", 5_000));
    assert!(!s.run().unwrap());
}

#[test]
fn pending_jobs_never_start_and_a_cooperative_job_is_cancelled() {
    let rec = Recorder::new();
    let long = sleeper(&rec, "long", 5_000);
    let next = sleeper(&rec, "next", 1).requires(&long);
    let s = Scheduler::new()
        .critical(false)
        .timeout(Duration::from_millis(150));
    s.add((&long, &next));
    let started = Instant::now();
    assert!(!s.run().unwrap());
    assert!(started.elapsed() < Duration::from_secs(3));
    assert_eq!(long.state(), JobState::Cancelled);
    assert!(
        rec.span("long").1 < Duration::from_secs(3),
        "its sleep ended early"
    );
    assert!(!rec.started("next"));
    assert!(matches!(next.state(), JobState::Idle | JobState::Scheduled));
    assert!(matches!(
        long.result(),
        Err(Error::NotDone {
            state: "cancelled",
            ..
        })
    ));
}

#[test]
fn a_job_ignoring_cancellation_does_not_hold_run_back() {
    let finished = Arc::new(AtomicBool::new(false));
    let stubborn = Job::new({
        let finished = finished.clone();
        move |_| {
            std::thread::sleep(Duration::from_millis(1_500));
            finished.store(true, Ordering::SeqCst);
            7
        }
    })
    .label("stubborn");
    let s = Scheduler::new()
        .critical(false)
        .timeout(Duration::from_millis(100))
        .grace(Duration::from_millis(100));
    s.add(&stubborn);
    let started = Instant::now();
    assert!(!s.run().unwrap());
    let took = started.elapsed();
    assert!(took < Duration::from_millis(1_200), "run() waited {took:?}");
    assert!(!finished.load(Ordering::SeqCst));
    assert_eq!(
        stubborn.state(),
        JobState::Running,
        "reported as still running"
    );

    // When it finally returns, its thread leaves the finished run untouched.
    while !finished.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(stubborn.state(), JobState::Running);
    assert!(stubborn.result().is_err());
    assert!(s.run().unwrap_err().to_string().contains("already run"));
}

#[test]
fn a_pending_future_is_dropped_at_the_timeout() {
    struct Guard(Arc<AtomicBool>);
    impl Drop for Guard {
        fn drop(&mut self) {
            self.0.store(true, Ordering::SeqCst);
        }
    }
    let dropped = Arc::new(AtomicBool::new(false));
    let waiting = Job::future({
        let guard = Guard(dropped.clone());
        async move {
            let _guard = guard;
            jobgraph::sleep(Duration::from_secs(30)).await;
        }
    });
    let s = Scheduler::new()
        .critical(false)
        .timeout(Duration::from_millis(100));
    s.add(&waiting);
    let started = Instant::now();
    assert!(!s.run().unwrap());
    assert!(started.elapsed() < Duration::from_secs(3));
    assert!(dropped.load(Ordering::SeqCst));
    assert_eq!(waiting.state(), JobState::Cancelled);
}

#[test]
fn the_timeout_counts_waiting_time_too() {
    let rec = Recorder::new();
    // Window 1: the second job waits for the first, and the deadline runs meanwhile.
    let s = Scheduler::new()
        .window(1)
        .critical(false)
        .timeout(Duration::from_millis(300));
    s.add((sleeper(&rec, "first", 200), sleeper(&rec, "second", 200)));
    assert!(!s.run().unwrap());
    let ended = ["first", "second"]
        .iter()
        .filter(|l| rec.started(l))
        .count();
    assert!(ended >= 1);
}
