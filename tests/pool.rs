//! The standing pool and graphs that run again: nesting without deadlock, a stuck job
//! kept out of the pool, a window that sizes nothing before it is used, deadlines
//! kept while workers start, batches that run again as fresh ones would.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use jobgraph::{Batch, Error, Job, Pool, Scheduler, UNLIMITED_WINDOW_WORKERS};

mod support;

/// Nested schedulers 100 deep, each of window 2, on one pool: a worker that waits on a
/// nested run makes the pool start another, so the deepest job runs and all return.
#[test]
fn nested_runs_a_hundred_deep_on_a_pool_of_two_workers_per_run_finish() {
    let pool = Pool::new().keep_alive(Duration::from_millis(200));
    let deepest = Job::new(|_| "bottom").label("bottom");
    let mut level = Scheduler::new().window(2).label("level 100");
    level.add(&deepest);
    level.add(Job::new(|_| 1));
    for depth in (1..100).rev() {
        let outer = Scheduler::new().window(2).label(format!("level {depth}"));
        outer.add(&level);
        outer.add(Job::new(|_| 2));
        level = outer;
    }
    let top = level.pool(&pool);
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || sender.send(top.run()));
    let result = receiver
        .recv_timeout(Duration::from_secs(60))
        .expect("nested runs deadlocked");
    assert!(result.unwrap());
    assert_eq!(*deepest.result().unwrap(), "bottom");
    assert!(pool.shutdown(Duration::from_secs(10)));
}

/// A job that never returns (until told, long after its run) keeps its thread: the
/// pool serves later runs with its other threads, and the thread comes back once the
/// job returns.
#[test]
fn a_job_that_never_returns_keeps_its_thread_and_the_pool_serves_later_runs() {
    let pool = Pool::new().keep_alive(Duration::from_secs(60));
    let (release, stuck) = std::sync::mpsc::channel::<()>();
    let stuck = Mutex::new(stuck);
    let s = Scheduler::new()
        .critical(false)
        .timeout(Duration::from_millis(30))
        .grace(Duration::from_millis(10))
        .pool(&pool);
    s.add(Job::new(move |_| {
        let _ = stuck.lock().unwrap().recv();
    }));
    assert!(!s.run().unwrap());
    assert_eq!(pool.threads(), 1);
    assert_eq!(pool.idle(), 0, "its thread is still in the job");
    for round in 0..20 {
        let later = Scheduler::new().window(2).pool(&pool);
        let a = Job::new(move |_| round);
        later.add(&a);
        later.add(Job::new(|_| 0));
        assert!(later.run().unwrap());
        assert_eq!(*a.result().unwrap(), round);
    }
    assert!(pool.threads() <= 3, "{:?}", pool);
    release.send(()).unwrap();
    assert!(support::poll_until(
        Duration::from_secs(10),
        Duration::from_millis(5),
        || pool.idle() == pool.threads()
    ));
    assert!(pool.shutdown(Duration::from_secs(10)));
}

/// An explicit window wider than the cap starts no more workers than the cap, as an
/// unlimited one does; a run of a chain starts one worker, whatever its window.
#[test]
fn a_wide_window_is_capped_and_a_chain_uses_one_worker() {
    let pool = Pool::new().keep_alive(Duration::from_secs(60));
    let running = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let s = Scheduler::new().window(5_000).pool(&pool);
    for _ in 0..600 {
        let (running, most) = (running.clone(), most.clone());
        s.add(Job::new(move |_| {
            let now = running.fetch_add(1, Ordering::SeqCst) + 1;
            most.fetch_max(now, Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(5));
            running.fetch_sub(1, Ordering::SeqCst);
        }));
    }
    assert!(s.run().unwrap());
    assert!(most.load(Ordering::SeqCst) <= UNLIMITED_WINDOW_WORKERS);
    assert!(pool.threads() <= UNLIMITED_WINDOW_WORKERS, "{:?}", pool);
    assert!(pool.shutdown(Duration::from_secs(10)));

    let pool = Pool::new().keep_alive(Duration::from_secs(60));
    let mut chain = Batch::new().window(usize::MAX).pool(&pool);
    let mut last = chain.add(|_| 0u64).id();
    for i in 1..100_000u64 {
        last = chain.add(move |_| i).requires(last).id();
    }
    assert!(chain.run().unwrap());
    assert_eq!(*chain.result(last).unwrap(), 99_999);
    assert_eq!(pool.threads(), 1, "a chain needs one worker");
    assert!(pool.shutdown(Duration::from_secs(10)));
}

/// No job starts after the deadline, even while the first workers are being started:
/// 256 sleeping jobs and a 1 ms timeout. A job tells its start by reading the clock
/// just after the engine did, and the run's deadline is counted from a little after
/// `run()` is called: the margin allows for both, far under the tens of milliseconds
/// that starting 256 threads takes.
#[test]
fn no_job_starts_after_the_deadline_while_workers_start() {
    let starts = Arc::new(Mutex::new(Vec::new()));
    let s = Scheduler::new()
        .critical(false)
        .timeout(Duration::from_millis(1));
    for _ in 0..256 {
        let starts = starts.clone();
        s.add(Job::new(move |ctx| {
            starts.lock().unwrap().push(Instant::now());
            ctx.sleep(Duration::from_millis(50));
        }));
    }
    let begin = Instant::now();
    assert!(!s.run().unwrap());
    let deadline = begin + Duration::from_millis(1) + Duration::from_millis(5);
    let late: Vec<_> = starts
        .lock()
        .unwrap()
        .iter()
        .filter(|&&at| at > deadline)
        .map(|at| at.duration_since(deadline))
        .collect();
    assert!(
        late.is_empty(),
        "{} job(s) started after the deadline",
        late.len()
    );
    assert!(s.failed_time_out().is_some());
}

/// `timeout(Duration::ZERO)`: the run times out before any job starts, however many
/// jobs there are; a scheduler with nothing to wait for still succeeds.
#[test]
fn a_zero_timeout_starts_no_job() {
    for jobs in [1, 100] {
        let ran = Arc::new(AtomicUsize::new(0));
        let s = Scheduler::new().timeout(Duration::ZERO);
        for _ in 0..jobs {
            let ran = ran.clone();
            s.add(Job::new(move |_| ran.fetch_add(1, Ordering::SeqCst)));
        }
        assert!(matches!(s.run(), Err(Error::Timeout { .. })), "{jobs} jobs");
        assert_eq!(ran.load(Ordering::SeqCst), 0);
    }
    let empty = Scheduler::new().timeout(Duration::ZERO);
    assert!(empty.run().unwrap());
}

/// Ten thousand small runs on one pool: the memory the process holds stays flat.
#[test]
fn ten_thousand_runs_keep_memory_flat() {
    let pool = Pool::new().keep_alive(Duration::from_secs(60));
    let run = |round: usize| {
        let s = Scheduler::new().window(2).pool(&pool);
        let a = Job::new(move |_| vec![round; 16]);
        let b = Job::new({
            let a = a.clone();
            move |ctx| Ok::<_, Error>(ctx.get(&a)?.len())
        })
        .requires(&a);
        s.add((&a, &b));
        assert!(s.run().unwrap());
    };
    for round in 0..1_000 {
        run(round);
    }
    let Some(before) = support::rss_kib() else {
        eprintln!("skipped the memory check: /proc/self/status is not available");
        return;
    };
    for round in 0..10_000 {
        run(round);
    }
    let after = support::rss_kib().unwrap();
    assert!(
        after < before + 8 * 1024,
        "resident memory grew from {before} KiB to {after} KiB"
    );
    assert!(pool.threads() <= 2);
}

/// A batch of `add_mut` jobs runs again: results are those of the last run, and a
/// batch of one-shot jobs, or one changed after its run, is refused with a clear error.
#[test]
fn a_batch_of_add_mut_jobs_runs_again_and_others_say_why_not() {
    let mut batch = Batch::new().window(2);
    let calls = Arc::new(AtomicUsize::new(0));
    let first = {
        let calls = calls.clone();
        batch
            .add_mut(move |_| calls.fetch_add(1, Ordering::SeqCst))
            .id()
    };
    let sum = batch
        .add_mut(move |ctx| Ok::<_, Error>(ctx.input::<usize>(first)? + 100))
        .requires(first)
        .id();
    for round in 0..50 {
        assert!(batch.run().unwrap());
        assert_eq!(*batch.result(first).unwrap(), round);
        assert_eq!(*batch.result(sum).unwrap(), round + 100);
    }
    assert_eq!(batch.why(), "FINE");

    let mut once = Batch::new();
    let job = once.add(|_| 1).id();
    assert!(once.run().unwrap());
    assert!(matches!(once.run(), Err(Error::AlreadyRan { .. })));
    assert_eq!(*once.result(job).unwrap(), 1, "the last results stay");

    let mut changed = Batch::new();
    changed.add_mut(|_| 1);
    assert!(changed.run().unwrap());
    changed.add_mut(|_| 2);
    let error = changed.run().unwrap_err();
    assert!(matches!(error, Error::ChangedAfterRun { .. }), "{error}");
}

/// A batch run again while a job its last run gave up on is still running is refused
/// until that job returns; then it runs again.
#[test]
fn a_batch_waits_for_a_job_its_last_run_gave_up_on() {
    let (release, stuck) = std::sync::mpsc::channel::<()>();
    let stuck = Mutex::new(stuck);
    let first = Arc::new(AtomicUsize::new(1));
    let mut batch = Batch::new()
        .timeout(Duration::from_millis(30))
        .grace(Duration::from_millis(10));
    let job = {
        let first = first.clone();
        batch
            .add_mut(move |_| {
                if first.swap(0, Ordering::SeqCst) == 1 {
                    let _ = stuck.lock().unwrap().recv();
                }
                7
            })
            .id()
    };
    assert!(matches!(batch.run(), Err(Error::Timeout { .. })));
    let error = batch.run().unwrap_err();
    assert!(matches!(error, Error::StillRunning { .. }), "{error}");
    release.send(()).unwrap();
    assert!(support::poll_until(
        Duration::from_secs(10),
        Duration::from_millis(5),
        || !matches!(batch.run(), Err(Error::StillRunning { .. }))
    ));
    assert!(batch.run().unwrap());
    assert_eq!(*batch.result(job).unwrap(), 7);
}
