//! `Scheduler::run_async`: the whole run as a future, under tokio (multi-thread and
//! current-thread), smol and `pollster`; cancellation by dropping the future; errors as
//! `run` gives them; and which futures work inside future jobs.
//!
//! The tests that count jobgraph's threads take `THREADS` for writing, all others for
//! reading, so that no other test's threads are counted.
// smol and async-channel are not built under `--cfg loom` (see Cargo.toml).
#![cfg(not(loom))]

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use jobgraph::{Error, Event, EventKind, Job, JobState, Pool, RunEnd, RunFuture, Scheduler};

mod support;
use support::{jobgraph_threads, poll_until, quiet_job_panics, record_events};

static THREADS: RwLock<()> = RwLock::new(());

/// For a test that starts jobgraph threads: no thread count happens meanwhile.
fn shared() -> RwLockReadGuard<'static, ()> {
    THREADS
        .read()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// For a test that counts jobgraph threads: no other test runs meanwhile.
fn exclusive() -> RwLockWriteGuard<'static, ()> {
    THREADS
        .write()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Asserts that no jobgraph thread is left busy once they have had (generously) the
/// time to return, where `/proc` can tell: every jobgraph thread still alive is an idle
/// worker of the global pool, waiting for the next run.
#[track_caller]
fn assert_no_thread_left() {
    if jobgraph_threads().is_none() {
        return;
    }
    let pool = Pool::global();
    let settled = poll_until(Duration::from_secs(5), Duration::from_millis(10), || {
        jobgraph_threads() == Some(pool.idle())
    });
    assert!(
        settled,
        "no jobgraph thread is left busy: {:?} threads, {pool:?}",
        jobgraph_threads()
    );
}

/// A tokio runtime on the calling thread.
fn current_thread_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// A tokio runtime with `workers` threads of its own.
fn multi_thread_runtime(workers: usize) -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .unwrap()
}

/// A small diamond whose results flow downstream: `sum` = 2 + 3 + 4 = 9, `text` reads it.
struct Diamond {
    scheduler: Scheduler,
    sum: Job<u64>,
    text: Job<String>,
}

fn diamond() -> Diamond {
    let base = Job::new(|_| 2u64).label("base");
    let left = Job::new({
        let base = base.clone();
        move |ctx| Ok::<_, Error>(*ctx.get(&base)? + 1)
    })
    .label("left")
    .requires(&base);
    // A future job, driven by pollster on its worker, with jobgraph's own timer.
    let right = Job::future(async {
        jobgraph::sleep(Duration::from_millis(20)).await;
        4u64
    })
    .label("right")
    .requires(&base);
    let sum = Job::new({
        let (base, left, right) = (base.clone(), left.clone(), right.clone());
        move |ctx| Ok::<_, Error>(ctx.get(&base)? + ctx.get(&left)? + ctx.get(&right)?)
    })
    .label("sum")
    .requires((&base, &left, &right));
    let text = Job::new({
        let sum = sum.clone();
        move |ctx| Ok::<_, Error>(format!("sum={}", ctx.get(&sum)?))
    })
    .label("text")
    .requires(&sum);
    let scheduler = Scheduler::new().window(2);
    scheduler.add((&base, &left, &right, &sum, &text));
    Diamond {
        scheduler,
        sum,
        text,
    }
}

/// Runs a [`diamond`] by driving its `run_async` future with `drive`; checks its results.
#[track_caller]
fn check_diamond(drive: impl FnOnce(RunFuture) -> Result<bool, Error>) {
    let d = diamond();
    let result = drive(d.scheduler.run_async());
    assert!(result.unwrap(), "the run completes");
    assert_eq!(*d.sum.result().unwrap(), 9);
    assert_eq!(d.text.result().unwrap(), "sum=9");
    assert!(d.scheduler.jobs().iter().all(|job| job.is_done()));
}

#[test]
fn run_async_gives_results_under_tokio_multi_thread() {
    let _guard = shared();
    let rt = multi_thread_runtime(2);
    check_diamond(|run| rt.block_on(run));

    // The future is `Send + 'static`: it can be spawned as a task of its own.
    check_diamond(|run| rt.block_on(rt.spawn(run)).unwrap());
}

#[test]
fn run_async_gives_results_under_tokio_current_thread() {
    let _guard = shared();
    let rt = current_thread_runtime();
    check_diamond(|run| rt.block_on(run));
}

#[test]
fn run_async_gives_results_under_smol() {
    let _guard = shared();
    check_diamond(smol::block_on);

    // Spawned on smol's global executor too.
    check_diamond(|run| smol::block_on(smol::spawn(run)));
}

#[test]
fn run_async_gives_results_under_pollster() {
    let _guard = shared();
    check_diamond(pollster::block_on);
}

/// Jobs that sleep (cooperatively) for `ms` each, two at a time, in two layers.
fn sleepy(ms: u64) -> (Scheduler, Vec<Job<u64>>) {
    let first: Vec<Job<u64>> = (0..2)
        .map(|i| Job::new(move |ctx| ctx.sleep(Duration::from_millis(ms)) as u64 + i))
        .collect();
    let second: Vec<Job<u64>> = (0..2)
        .map(|i| {
            Job::new(move |ctx| ctx.sleep(Duration::from_millis(ms)) as u64 + i).requires(&first)
        })
        .collect();
    let s = Scheduler::new().window(2);
    s.add((&first, &second));
    let all = first.into_iter().chain(second).collect();
    (s, all)
}

#[test]
fn current_thread_runtime_keeps_running_other_tasks_during_a_run() {
    let _guard = shared();
    let rt = current_thread_runtime();
    let (s, jobs) = sleepy(200);
    let ticks = Arc::new(AtomicUsize::new(0));
    let (at_end, total) = rt.block_on(async {
        let ticker = tokio::spawn({
            let ticks = ticks.clone();
            async move {
                loop {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    ticks.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
        let result = s.run_async().await;
        let at_end = ticks.load(Ordering::Relaxed);
        ticker.abort();
        (at_end, result)
    });
    assert!(total.unwrap());
    assert!(jobs.iter().all(|job| job.is_done()));
    // The run took about 400 ms: at 5 ms a tick the ticker had time for about 80.
    assert!(
        at_end >= 5,
        "the ticker ticked only {at_end} time(s) while the run was in flight"
    );
}

#[test]
fn smol_keeps_running_other_futures_during_a_run() {
    let _guard = shared();
    let (s, jobs) = sleepy(100);
    let ticks = AtomicUsize::new(0);
    let done = AtomicBool::new(false);
    let ticker = async {
        while !done.load(Ordering::Relaxed) {
            smol::Timer::after(Duration::from_millis(5)).await;
            ticks.fetch_add(1, Ordering::Relaxed);
        }
    };
    let run = async {
        let result = s.run_async().await;
        done.store(true, Ordering::Relaxed);
        (ticks.load(Ordering::Relaxed), result)
    };
    // One thread polls both: the ticker moves only if the run's future never blocks.
    let (_, (at_end, result)) = smol::block_on(futures::future::join(ticker, run));
    assert!(result.unwrap());
    assert!(jobs.iter().all(|job| job.is_done()));
    assert!(at_end >= 5, "only {at_end} tick(s) during the run");
}

/// Waits (generously) for the RunEnded event.
#[track_caller]
fn wait_run_ended(events: &Mutex<Vec<Event>>) {
    let ended = || {
        let events = events.lock().unwrap();
        events
            .iter()
            .any(|e| matches!(e.kind, EventKind::RunEnded(_)))
    };
    assert!(
        poll_until(Duration::from_secs(10), Duration::from_millis(5), ended),
        "the run never ended"
    );
}

fn assert_run_events_bracketed(events: &[Event], end: RunEnd) {
    assert!(
        matches!(
            events.first().map(|e| &e.kind),
            Some(EventKind::RunStarted { .. })
        ),
        "RunStarted comes first: {events:?}"
    );
    match events.last().map(|e| &e.kind) {
        Some(EventKind::RunEnded(reason)) => assert_eq!(*reason, end),
        other => panic!("RunEnded comes last, not {other:?}"),
    }
    let stopping: Vec<_> = events
        .iter()
        .filter(|e| matches!(e.kind, EventKind::RunStopping(_)))
        .collect();
    assert_eq!(stopping.len(), 1, "one RunStopping: {events:?}");
}

#[test]
fn dropping_the_future_cancels_the_run_and_leaves_no_thread() {
    let _guard = exclusive();
    // Each long job says when it runs.
    let (running_tx, mut running_rx) = tokio::sync::mpsc::channel::<&str>(2);
    let first = Job::new(|_| 1).label("first");
    let saw_cancel = Arc::new(AtomicBool::new(false));
    let cooperative = Job::new({
        let saw_cancel = saw_cancel.clone();
        let running = running_tx.clone();
        move |ctx| {
            let _ = running.blocking_send("cooperative");
            let slept = ctx.sleep(Duration::from_secs(30));
            saw_cancel.store(!slept && ctx.is_cancelled(), Ordering::SeqCst);
            slept
        }
    })
    .label("cooperative")
    .requires(&first);
    let parked = Job::future(async move {
        let _ = running_tx.send("parked").await;
        jobgraph::sleep(Duration::from_secs(30)).await;
    })
    .label("parked")
    .requires(&first);
    let pending_started = Arc::new(AtomicBool::new(false));
    let pending = Job::new({
        let started = pending_started.clone();
        move |_| started.store(true, Ordering::SeqCst)
    })
    .label("pending")
    .requires(&cooperative);
    let (s, events) = record_events(Scheduler::new());
    s.add((&first, &cooperative, &parked, &pending));

    let rt = current_thread_runtime();
    rt.block_on(async {
        let mut run = s.run_async();
        for _ in 0..2 {
            tokio::select! {
                result = &mut run => panic!("the run ended early: {result:?}"),
                job = running_rx.recv() => assert!(job.is_some()),
            }
        }
        // Both long jobs run: give up on the run, as a caller's timeout does.
        let outcome = tokio::time::timeout(Duration::from_millis(50), run).await;
        assert!(
            outcome.is_err(),
            "the run was still in flight at the timeout"
        );
    });
    drop(rt);

    wait_run_ended(&events);
    assert!(
        saw_cancel.load(Ordering::SeqCst),
        "the job saw cancellation"
    );
    // Done jobs keep their results; the others are not done; pending never started.
    assert_eq!(*first.result().unwrap(), 1);
    assert_eq!(cooperative.state(), JobState::Cancelled);
    assert_eq!(parked.state(), JobState::Cancelled);
    assert!(!pending_started.load(Ordering::SeqCst));
    assert_eq!(pending.state(), JobState::Idle);
    assert!(matches!(cooperative.result(), Err(Error::NotDone { .. })));
    // The scheduler ran once: it cannot run again.
    assert!(matches!(s.run(), Err(Error::AlreadyRan { .. })));

    assert_no_thread_left();
    assert_run_events_bracketed(&events.lock().unwrap(), RunEnd::Cancelled);
}

#[test]
fn polling_once_then_dropping_cancels_the_run_and_leaves_no_thread_busy() {
    let _guard = exclusive();
    for _ in 0..20 {
        let slow: Vec<Job<bool>> = (0..3)
            .map(|_| Job::new(|ctx| ctx.sleep(Duration::from_secs(30))))
            .collect();
        let (s, events) = record_events(Scheduler::new());
        s.add(&slow);
        let mut run = Box::pin(s.run_async());
        let waker = futures::task::noop_waker();
        let mut cx = Context::from_waker(&waker);
        assert!(run.as_mut().poll(&mut cx).is_pending());
        drop(run);
        // The run goes on, on its coordinator, until it sees the drop.
        wait_run_ended(&events);
        assert_no_thread_left();
        for job in &slow {
            assert!(
                matches!(job.state(), JobState::Cancelled | JobState::Scheduled),
                "{job:?} never ran to its end"
            );
        }
        // Whether the drop came before or after the run started, the events of the
        // run are in order.
        assert_run_events_bracketed(&events.lock().unwrap(), RunEnd::Cancelled);
    }
}

#[test]
fn dropping_a_future_never_polled_runs_nothing() {
    let _guard = shared();
    let ran = Arc::new(AtomicBool::new(false));
    let job = Job::new({
        let ran = ran.clone();
        move |_| ran.store(true, Ordering::SeqCst)
    });
    let s = Scheduler::new();
    s.add(&job);
    drop(s.run_async());
    assert!(!ran.load(Ordering::SeqCst));
    assert!(job.is_idle());
    // Nothing started: the scheduler can still run.
    assert!(s.run().unwrap());
    assert!(ran.load(Ordering::SeqCst));
}

#[derive(Debug, thiserror::Error)]
#[error("disk {0} is full")]
struct DiskFull(u32);

/// A critical job that fails with `DiskFull(7)`, after a job that succeeds.
fn failing_run(critical_scheduler: bool) -> (Scheduler, Job<u32>, Job<()>) {
    let ok = Job::new(|_| 1u32).label("ok");
    let fail = Job::new(|_| Err::<(), _>(DiskFull(7)))
        .label("write")
        .requires(&ok);
    let s = Scheduler::new().critical(critical_scheduler);
    s.add((&ok, &fail));
    (s, ok, fail)
}

#[test]
fn critical_failure_through_run_async_is_the_jobs_own_error() {
    let _guard = shared();
    let (s, ok, fail) = failing_run(true);
    let error = pollster::block_on(s.run_async()).unwrap_err();
    let (sync, _, _) = failing_run(true);
    let sync_error = sync.run().unwrap_err();
    assert_eq!(
        error.to_string(),
        sync_error.to_string(),
        "as run() says it"
    );
    match &error {
        Error::JobFailed { label, source } => {
            assert_eq!(label, "write");
            assert_eq!(source.downcast_ref::<DiskFull>().map(|d| d.0), Some(7));
        }
        other => panic!("expected JobFailed, got {other:?}"),
    }
    assert_eq!(*ok.result().unwrap(), 1);
    assert!(fail.raised_exception().is_some());
    assert!(s.failed_critical());
}

#[test]
fn non_critical_scheduler_gives_ok_false_through_run_async() {
    let _guard = shared();
    let (s, _, fail) = failing_run(false);
    assert!(!smol::block_on(s.run_async()).unwrap());
    assert!(fail.raised_exception().is_some());
}

#[test]
fn timeout_through_run_async_is_error_timeout() {
    let _guard = shared();
    let rt = multi_thread_runtime(1);
    let slow = Job::new(|ctx| ctx.sleep(Duration::from_secs(30))).label("slow");
    let s = Scheduler::new()
        .label("bounded")
        .timeout(Duration::from_millis(100));
    s.add(&slow);
    match rt.block_on(s.run_async()) {
        Err(Error::Timeout { label, timeout, .. }) => {
            assert_eq!(label, "bounded");
            assert_eq!(timeout, Duration::from_millis(100));
        }
        other => panic!("expected a timeout, got {other:?}"),
    }
    assert_eq!(s.failed_time_out(), Some(Duration::from_millis(100)));

    let s = Scheduler::new()
        .critical(false)
        .timeout(Duration::from_millis(50));
    s.add(Job::new(|ctx| ctx.sleep(Duration::from_secs(30))));
    assert!(!rt.block_on(s.run_async()).unwrap());
}

#[test]
fn graph_mistakes_are_reported_through_run_async() {
    let _guard = shared();
    let a = Job::new(|_| ()).label("a");
    let b = Job::new(|_| ()).label("b").requires(&a);
    a.add_requires(&b);
    let s = Scheduler::new();
    s.add((&a, &b));
    assert!(matches!(
        pollster::block_on(s.run_async()),
        Err(Error::Cycle { .. })
    ));
    assert!(a.is_idle() && b.is_idle());
}

#[test]
fn future_waiting_on_a_later_job_with_window_one_is_reported_as_stalled() {
    let _guard = shared();
    let rt = current_thread_runtime();
    let (sender, receiver) = async_channel::bounded::<u32>(1);
    // `wait` takes the only slot and waits for `feed`, which waits for that slot.
    let wait = Job::future(async move { receiver.recv().await.unwrap_or(0) }).label("wait");
    let feed = Job::new(move |_| sender.send_blocking(5).is_ok()).label("feed");
    let s = Scheduler::new()
        .window(1)
        .stall_timeout(Some(Duration::from_millis(200)));
    s.add((&wait, &feed));
    let outcome = rt.block_on(async {
        // Never a silent hang: the test fails rather than waits forever.
        tokio::time::timeout(Duration::from_secs(30), s.run_async()).await
    });
    match outcome {
        Ok(Err(Error::Stalled { running, ready, .. })) => {
            assert_eq!(running, vec!["wait".to_string()]);
            assert_eq!(ready, 1);
        }
        other => panic!("expected the run to stall, got {other:?}"),
    }
    assert!(!feed.is_done());
}

#[test]
fn runtime_agnostic_futures_work_inside_future_jobs() {
    let _guard = shared();
    // async-channel between two future jobs running at once.
    let (tx, rx) = async_channel::unbounded::<u64>();
    let produce = Job::future(async move {
        for i in 1..=10 {
            jobgraph::sleep(Duration::from_millis(1)).await;
            tx.send(i).await.map_err(|e| e.to_string())?;
        }
        Ok::<_, String>(())
    });
    let consume = Job::future(async move {
        let mut sum = 0;
        while let Ok(i) = rx.recv().await {
            sum += i;
        }
        sum
    });
    // futures' oneshot, fed by a plain thread outside the run.
    let (once_tx, once_rx) = futures::channel::oneshot::channel::<&'static str>();
    let oneshot = Job::future(async move { once_rx.await.unwrap_or("dropped") });
    // tokio's sync primitives need no runtime either.
    let (tok_tx, mut tok_rx) = tokio::sync::mpsc::channel::<u8>(4);
    let tokio_sync = Job::future(async move {
        let mut got = Vec::new();
        while let Some(b) = tok_rx.recv().await {
            got.push(b);
        }
        got
    });
    // async-io's (smol's) timer brings its own reactor thread.
    let smol_timer = Job::future(async {
        smol::Timer::after(Duration::from_millis(10)).await;
        "tick"
    });
    let s = Scheduler::new().window(5);
    s.add((&produce, &consume, &oneshot, &tokio_sync, &smol_timer));
    let feeder = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(20));
        let _ = once_tx.send("hello");
        for b in [1, 2, 3] {
            let _ = tok_tx.blocking_send(b);
        }
    });
    assert!(pollster::block_on(s.run_async()).unwrap());
    feeder.join().unwrap();
    assert_eq!(*consume.result().unwrap(), 55);
    assert_eq!(*oneshot.result().unwrap(), "hello");
    assert_eq!(tokio_sync.result().unwrap(), &vec![1, 2, 3]);
    assert_eq!(*smol_timer.result().unwrap(), "tick");
}

#[test]
fn tokio_timer_inside_a_future_job_fails_without_a_runtime() {
    let _guard = shared();
    quiet_job_panics();
    // tokio's timer needs tokio's reactor: under pollster, on a worker, there is none.
    let job = Job::future(async {
        tokio::time::sleep(Duration::from_millis(1)).await;
    })
    .label("tokio-sleep");
    let s = Scheduler::new().critical(false);
    s.add(&job);
    let rt = multi_thread_runtime(1);
    // Even when the run is awaited from inside a tokio runtime.
    assert!(!rt.block_on(s.run_async()).unwrap());
    let error = job.raised_exception().expect("the job failed");
    assert!(error.is_panic(), "{error}");
}

#[test]
fn closure_job_entering_a_runtime_handle_runs_tokio_futures() {
    let _guard = shared();
    let check = |rt: tokio::runtime::Runtime| {
        let handle = rt.handle().clone();
        let jobs: Vec<Job<u64>> = (0..3u64)
            .map(|i| {
                let handle = handle.clone();
                Job::new(move |_| {
                    handle.block_on(async move {
                        tokio::time::sleep(Duration::from_millis(30)).await;
                        tokio::task::yield_now().await;
                        i * 10
                    })
                })
            })
            .collect();
        let s = Scheduler::new().window(3);
        s.add(&jobs);
        assert!(rt.block_on(s.run_async()).unwrap());
        let results: Vec<u64> = jobs.iter().map(|j| *j.result().unwrap()).collect();
        assert_eq!(results, vec![0, 10, 20]);
    };
    check(multi_thread_runtime(1));
    // A current-thread runtime drives its timers while its thread awaits the run.
    check(current_thread_runtime());
}

#[test]
fn polling_a_finished_future_again_gives_the_same_result() {
    let _guard = shared();
    let s = Scheduler::new();
    s.add(Job::new(|_| 1));
    let mut run = Box::pin(s.run_async());
    let waker = futures::task::noop_waker();
    let mut cx = Context::from_waker(&waker);
    let deadline = Instant::now() + Duration::from_secs(10);
    let first = loop {
        if let Poll::Ready(result) = run.as_mut().poll(&mut cx) {
            break result;
        }
        assert!(Instant::now() < deadline, "the run never ended");
        std::thread::sleep(Duration::from_millis(1));
    };
    assert!(first.unwrap());
    assert!(matches!(run.as_mut().poll(&mut cx), Poll::Ready(Ok(true))));
    assert!(format!("{run:?}").contains("ended"));
}

#[test]
fn a_cancelled_run_says_so_in_why_debrief_stats_state_and_result() {
    let _guard = shared();
    let slow = Job::new(|ctx| ctx.sleep(Duration::from_secs(30))).label("slow");
    let s = Scheduler::new().label("cancelled");
    s.add(&slow);
    let rt = current_thread_runtime();
    rt.block_on(async {
        let outcome = tokio::time::timeout(Duration::from_millis(50), s.run_async()).await;
        assert!(
            outcome.is_err(),
            "the run was still in flight at the timeout"
        );
    });
    // The coordinator records the cancellation once the run has wound down.
    assert!(poll_until(
        Duration::from_secs(5),
        Duration::from_millis(5),
        || { s.state() == JobState::Cancelled }
    ));
    assert_eq!(s.why(), "CANCELLED before it ended");
    assert_eq!(s.stats(), "0D + 1R + 0I = 1, CANCELLED");
    let debrief = s.debrief().ascii().to_string();
    assert!(
        debrief.starts_with("----- CANCELLED before it ended\n"),
        "{debrief}"
    );
    assert!(s.is_cancelled() && !s.is_done());
    assert!(
        matches!(
            s.result(),
            Err(Error::NotDone {
                state: "cancelled",
                ..
            })
        ),
        "{:?}",
        s.result()
    );
}

#[test]
fn a_top_level_scheduler_answers_for_its_own_run() {
    let _guard = shared();
    let a = Job::new(|_| 1).label("a");
    let s = Scheduler::new();
    s.add(&a);
    assert!(matches!(
        s.result(),
        Err(Error::NotDone { state: "idle", .. })
    ));
    assert!(s.run().unwrap());
    assert_eq!(s.state(), JobState::Done);
    assert!(s.is_done());
    assert!(s.result().unwrap());
    assert!(s.raised_exception().is_none());

    // Through run_async, and when the run fails: `result()` is what the run returned.
    let (failing, _, _) = failing_run(true);
    let returned = pollster::block_on(failing.run_async());
    assert!(failing.is_done());
    assert_eq!(
        format!("{:?}", failing.result()),
        format!("{returned:?}"),
        "result() gives what run_async gave"
    );
    let (lenient, _, _) = failing_run(false);
    assert!(!lenient.run().unwrap());
    assert!(!lenient.result().unwrap());
}
