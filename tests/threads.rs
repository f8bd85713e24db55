//! Threads and the standing pool: after `run()` returns, no thread of that run is
//! busy; the pool keeps at most the widest run's workers, and they leave after its
//! keep-alive or when it shuts down.
//!
//! Tests of their own binary, run one after the other through one test function, so
//! that no other test's threads are counted.

use jobgraph::{Batch, Job, Pool, Scheduler};
use std::time::Duration;

mod support;
use support::{jobgraph_threads, settled_threads};

/// How long the threads of a run that has returned may take to leave `/proc`.
const SETTLE: Duration = Duration::from_secs(5);

#[test]
fn threads_of_runs_and_pools() {
    if jobgraph_threads().is_none() {
        eprintln!("skipped: /proc/self/task is not available on this system");
        return;
    }
    assert_eq!(jobgraph_threads(), Some(0));
    no_thread_outlives_a_pool_with_no_keep_alive();
    many_runs_keep_at_most_the_widest_window_of_threads();
    a_pool_shut_down_lets_every_worker_go();
    a_closed_pool_refuses_runs_with_a_clear_error();
}

/// With no keep-alive, a pool's workers leave as soon as their run is over: after a
/// run (nested schedulers, futures on the timer, a run cut by its timeout) no thread
/// is left.
fn no_thread_outlives_a_pool_with_no_keep_alive() {
    let pool = Pool::new().keep_alive(Duration::ZERO);
    let inner = Scheduler::new().label("inner").window(3);
    for _ in 0..6 {
        inner.add(Job::future(async {
            jobgraph::sleep(Duration::from_millis(20)).await;
        }));
    }
    let outer = Scheduler::new().window(0).pool(&pool);
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
    assert!(*probe.result().unwrap() >= 1, "the probe ran on a worker");
    assert_eq!(settled_threads(SETTLE).unwrap(), 0, "after a complete run");

    let s = Scheduler::new()
        .critical(false)
        .timeout(Duration::from_millis(50))
        .pool(&pool);
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

/// A hundred runs of windows 1 to 4, one after the other, on one pool: its threads
/// serve them all, and it never holds more than the widest window's workers.
fn many_runs_keep_at_most_the_widest_window_of_threads() {
    let pool = Pool::new().keep_alive(Duration::from_secs(60));
    let mut most = 0;
    for round in 0..100 {
        let window = 1 + round % 4;
        let s = Scheduler::new().window(window).pool(&pool);
        for i in 0..8 {
            s.add(Job::new(move |ctx| {
                ctx.sleep(Duration::from_micros(200));
                i
            }));
        }
        assert!(s.run().unwrap());
        let mut batch = Batch::new().window(window).pool(&pool);
        for i in 0..8u32 {
            batch.add(move |_| i);
        }
        assert!(batch.run().unwrap());
        most = most.max(pool.threads());
    }
    assert!((1..=4).contains(&most), "the pool held {most} threads");
    assert!(jobgraph_threads().unwrap() <= 4);
    assert!(pool.shutdown(SETTLE));
    assert_eq!(settled_threads(SETTLE).unwrap(), 0);
}

/// Shutting a pool down joins its idle workers at once, and a busy one once its job
/// returns; `false` while one is still busy.
fn a_pool_shut_down_lets_every_worker_go() {
    let pool = Pool::new().keep_alive(Duration::from_secs(60));
    let s = Scheduler::new().window(3).pool(&pool);
    for i in 0..3 {
        s.add(Job::new(move |_| i));
    }
    assert!(s.run().unwrap());
    assert!(pool.threads() >= 1);
    // A job that outlives its run keeps its thread busy.
    let stubborn = Scheduler::new()
        .critical(false)
        .timeout(Duration::from_millis(20))
        .grace(Duration::from_millis(10))
        .pool(&pool);
    stubborn.add(Job::new(|_| std::thread::sleep(Duration::from_millis(600))));
    assert!(!stubborn.run().unwrap());
    assert!(
        !pool.shutdown(Duration::from_millis(50)),
        "one is still busy"
    );
    assert!(pool.shutdown(SETTLE), "it left once its job returned");
    assert_eq!(pool.threads(), 0);
    assert_eq!(settled_threads(SETTLE).unwrap(), 0);
}

fn a_closed_pool_refuses_runs_with_a_clear_error() {
    let pool = Pool::new();
    assert!(pool.shutdown(Duration::ZERO));
    let s = Scheduler::new().pool(&pool);
    s.add(Job::new(|_| 1));
    let error = s.run().unwrap_err();
    assert!(matches!(error, jobgraph::Error::PoolClosed), "{error}");
    assert!(error.to_string().contains("shut down"), "{error}");
}
