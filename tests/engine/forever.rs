//! Forever jobs: cancelled when the rest is done, never waited for, never required.

use crate::common::{endless, sleeper, Recorder};
use jobgraph::{Error, Job, JobState, Scheduler};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

struct Guard(Arc<AtomicBool>);
impl Drop for Guard {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

#[test]
fn a_forever_future_is_dropped_once_the_others_are_done() {
    let rec = Recorder::new();
    let dropped = Arc::new(AtomicBool::new(false));
    let ticks = Arc::new(AtomicUsize::new(0));
    let ticker = Job::future(endless({
        let (guard, ticks) = (Guard(dropped.clone()), ticks.clone());
        async move {
            let _guard = guard;
            loop {
                jobgraph::sleep(Duration::from_millis(10)).await;
                ticks.fetch_add(1, Ordering::SeqCst);
            }
        }
    }))
    .forever(true);
    let work = sleeper(&rec, "work", 200);
    let s = Scheduler::new();
    s.add((&ticker, &work));
    let started = Instant::now();
    assert!(s.run().unwrap());
    assert!(started.elapsed() < Duration::from_secs(3));
    assert!(dropped.load(Ordering::SeqCst), "the future was dropped");
    assert!(ticks.load(Ordering::SeqCst) >= 2, "it ran alongside");
    assert_eq!(ticker.state(), JobState::Cancelled);
    assert!(work.is_done());
}

#[test]
fn a_scheduler_of_only_forever_jobs_completes_at_once() {
    let s = Scheduler::new();
    let a = Job::future(endless(async {
        loop {
            jobgraph::sleep(Duration::from_millis(10)).await;
        }
    }))
    .forever(true);
    let b = Job::new(|ctx| while ctx.sleep(Duration::from_millis(10)) {}).forever(true);
    s.add((&a, &b));
    let started = Instant::now();
    assert!(s.run().unwrap());
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(!a.is_done() && !b.is_done());
}

#[test]
fn requiring_a_forever_job_is_refused_before_anything_runs() {
    let rec = Recorder::new();
    let monitor = sleeper(&rec, "monitor", 10).forever(true);
    let user = sleeper(&rec, "user", 10).requires(&monitor);
    let s = Scheduler::new();
    s.add((&monitor, &user));
    match s.run() {
        Err(error @ Error::RequiresForever { .. }) => {
            let text = error.to_string();
            assert!(text.contains("user") && text.contains("monitor"), "{text}");
        }
        other => panic!("expected RequiresForever, got {other:?}"),
    }
    assert!(!rec.started("monitor") && !rec.started("user"));
}

#[test]
fn a_forever_closure_sees_cancellation_when_the_others_end() {
    let rec = Recorder::new();
    let looping = {
        let rec = rec.clone();
        Job::new(move |ctx| {
            rec.start("loop");
            while ctx.sleep(Duration::from_millis(5)) {}
            rec.end("loop");
        })
        .forever(true)
    };
    let s = Scheduler::new();
    s.add((&looping, sleeper(&rec, "a", 100), sleeper(&rec, "b", 150)));
    assert!(s.run().unwrap());
    assert!(rec.span("loop").1 >= rec.span("b").1);
    assert_eq!(looping.state(), JobState::Cancelled);
}

#[test]
fn a_forever_job_that_requires_the_last_job_does_not_hold_the_run() {
    // The worker that ends `last` goes on with its successor, the forever job: the end
    // of `last` must count before that job starts, or the run waits for it forever.
    let last = Job::new(|_| 1).label("last");
    let watcher =
        Job::new(|ctx: &jobgraph::Context<'_>| while ctx.sleep(Duration::from_millis(1)) {})
            .label("watcher")
            .forever(true)
            .requires(&last);
    let s = Scheduler::new()
        .timeout(Duration::from_secs(30))
        .critical(false);
    s.add((&last, &watcher));
    assert!(s.run().unwrap(), "{}", s.why());
    assert!(last.is_done());
    assert_ne!(watcher.state(), JobState::Done);
}
