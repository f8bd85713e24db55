//! What happens when the things a job hands back misbehave as they are dropped: a
//! panic payload whose `Drop` panics, a cancelled job's value whose `Drop` panics or
//! blocks. None of them may hang `run()`, panic on the caller's thread, or hold the run
//! past its grace.

mod support;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use jobgraph::{Batch, Error, Job, JobState, Scheduler};
use support::{poll_until, quiet_job_panics};

/// Runs `f` on a thread of its own and waits for it at most `within`: `None` when it
/// did not return by then (the thread is left behind), else what it returned, or the
/// panic's message when it panicked.
fn within<R: Send + 'static>(
    within: Duration,
    f: impl FnOnce() -> R + Send + 'static,
) -> Option<Result<R, String>> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let outcome = catch_unwind(AssertUnwindSafe(f)).map_err(|payload| {
            payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "non-string panic".to_string())
        });
        let _ = tx.send(outcome);
    });
    rx.recv_timeout(within).ok()
}

/// A panic payload that panics when it is dropped.
struct Bomb;

impl Drop for Bomb {
    fn drop(&mut self) {
        panic!("the payload exploded as it was dropped");
    }
}

/// Far more than any run here needs: a run that has not returned by then hangs.
const HANG: Duration = Duration::from_secs(30);

#[test]
fn a_panic_whose_payload_panics_when_dropped_fails_its_scheduler_job() {
    quiet_job_panics();
    let answer = within(HANG, || {
        let bad = Job::new(|_| -> u8 { std::panic::panic_any(Bomb) }).label("bad");
        let s = Scheduler::new();
        s.add(&bad);
        (s.run(), bad.state(), bad.raised_exception())
    });
    let Some(Ok((run, state, error))) = answer else {
        panic!(
            "run() did not return normally: {answer:?}",
            answer = answer.map(|a| a.err())
        );
    };
    match run {
        Err(Error::JobFailed { label, source }) => {
            assert_eq!(label, "bad");
            assert!(source.is_panic());
        }
        other => panic!("expected the job's panic as the error, got {other:?}"),
    }
    assert_eq!(state, JobState::Done);
    let message = error.unwrap().panic_message().unwrap().to_string();
    assert!(
        message.contains("the payload exploded as it was dropped"),
        "{message}"
    );
}

#[test]
fn a_panic_whose_payload_panics_when_dropped_does_not_wait_for_the_timeout() {
    quiet_job_panics();
    let answer = within(HANG, || {
        let bad = Job::new(|_| -> u8 { std::panic::panic_any(Bomb) })
            .label("bad")
            .critical(false);
        let after = Job::new(|_| 7u8).label("after").requires(&bad);
        // With a deadline the run used to end only there, as a timeout.
        let s = Scheduler::new().timeout(Duration::from_secs(120));
        s.add((&bad, &after));
        let run = s.run();
        (run, after.result().copied().ok())
    });
    let Some(Ok((run, after))) = answer else {
        panic!("run() did not return normally");
    };
    assert!(matches!(run, Ok(true)), "{run:?}");
    assert_eq!(after, Some(7));
}

#[test]
fn a_panic_whose_payload_panics_when_dropped_fails_its_batch_job() {
    quiet_job_panics();
    let answer = within(HANG, || {
        let mut batch = Batch::<u8>::new();
        let bad = batch
            .add(|_| -> u8 { std::panic::panic_any(Bomb) })
            .label("bad")
            .id();
        let run = batch.run();
        (run, batch.raised_exception(bad))
    });
    let Some(Ok((run, error))) = answer else {
        panic!("Batch::run() did not return normally");
    };
    assert!(matches!(run, Err(Error::JobFailed { .. })), "{run:?}");
    let error = error.unwrap();
    assert!(error.is_panic());
    assert!(error
        .panic_message()
        .unwrap()
        .contains("the payload exploded as it was dropped"));
}

/// A value whose `Drop` panics, or takes a while, and counts the drops that began.
#[derive(Debug)]
struct Unruly {
    panics: bool,
    takes: Duration,
    drops: Arc<AtomicUsize>,
}

impl Drop for Unruly {
    fn drop(&mut self) {
        self.drops.fetch_add(1, Ordering::SeqCst);
        std::thread::sleep(self.takes);
        if self.panics {
            panic!("the value exploded as it was dropped");
        }
    }
}

/// A forever job that returns `value` once its run cancels it.
fn returns_when_cancelled(value: Unruly) -> Job<Unruly> {
    Job::new(move |ctx| {
        while !ctx.is_cancelled() {
            ctx.sleep(Duration::from_millis(5));
        }
        Ok::<_, Error>(value)
    })
    .label("forever")
    .forever(true)
}

#[test]
fn a_cancelled_jobs_value_that_panics_when_dropped_leaves_run_and_its_caller_alone() {
    quiet_job_panics();
    let drops = Arc::new(AtomicUsize::new(0));
    let value = Unruly {
        panics: true,
        takes: Duration::ZERO,
        drops: drops.clone(),
    };
    let answer = within(HANG, move || {
        let forever = returns_when_cancelled(value);
        let quick = Job::new(|ctx| ctx.sleep(Duration::from_millis(20))).label("quick");
        let s = Scheduler::new();
        s.add((&forever, &quick));
        let run = s.run();
        let listing = s.list().to_string();
        (run, forever.state(), forever.result().is_err(), listing)
    });
    let Some(Ok((run, state, no_result, listing))) = answer else {
        panic!(
            "run() panicked or hung: {answer:?}",
            answer = answer.map(|a| a.err())
        );
    };
    assert!(matches!(run, Ok(true)), "{run:?}");
    assert_eq!(state, JobState::Cancelled);
    assert!(no_result);
    assert!(listing.contains("forever"), "{listing}");
    assert!(poll_until(HANG, Duration::from_millis(5), || drops
        .load(Ordering::SeqCst)
        == 1));
}

#[test]
fn a_cancelled_jobs_value_that_is_slow_to_drop_does_not_hold_run_past_its_grace() {
    quiet_job_panics();
    let drops = Arc::new(AtomicUsize::new(0));
    let forever = returns_when_cancelled(Unruly {
        panics: false,
        takes: Duration::from_secs(4),
        drops: drops.clone(),
    });
    let quick = Job::new(|ctx| ctx.sleep(Duration::from_millis(20))).label("quick");
    let s = Scheduler::new().grace(Duration::from_millis(100));
    s.add((&forever, &quick));
    let start = Instant::now();
    assert!(s.run().unwrap());
    let took = start.elapsed();
    // The value takes 4 s to drop; the run ends at about 20 ms + the grace.
    assert!(took < Duration::from_secs(2), "run() took {took:?}");
    assert_eq!(forever.state(), JobState::Cancelled);
    // It is dropped all the same, on the job's own thread.
    assert!(poll_until(HANG, Duration::from_millis(5), || drops
        .load(Ordering::SeqCst)
        == 1));
}

#[test]
fn a_cancelled_batch_jobs_value_that_panics_when_dropped_leaves_its_worker_running() {
    quiet_job_panics();
    let drops = Arc::new(AtomicUsize::new(0));
    let drops_ = drops.clone();
    let answer = within(HANG, move || {
        // A worker that died of the panic would never say it returned: the run would
        // wait for it the whole grace.
        let mut batch = Batch::<Option<Unruly>>::new()
            .window(2)
            .grace(Duration::from_secs(20));
        let forever = batch
            .add(move |ctx| {
                while !ctx.is_cancelled() {
                    ctx.sleep(Duration::from_millis(5));
                }
                Some(Unruly {
                    panics: true,
                    takes: Duration::ZERO,
                    drops: drops_,
                })
            })
            .forever(true)
            .id();
        let quick = batch
            .add(|ctx| {
                ctx.sleep(Duration::from_millis(20));
                None
            })
            .id();
        let start = Instant::now();
        let run = batch.run();
        (
            run,
            start.elapsed(),
            batch.state(forever),
            batch.state(quick),
        )
    });
    let Some(Ok((run, took, forever, quick))) = answer else {
        panic!("Batch::run() panicked or hung");
    };
    assert!(matches!(run, Ok(true)), "{run:?}");
    assert!(took < Duration::from_secs(10), "run() took {took:?}");
    assert_eq!(forever, Some(JobState::Cancelled));
    assert_eq!(quick, Some(JobState::Done));
    assert!(poll_until(HANG, Duration::from_millis(5), || drops
        .load(Ordering::SeqCst)
        == 1));
}

#[test]
fn an_observer_whose_panic_payload_panics_when_dropped_does_not_hang_the_run() {
    quiet_job_panics();
    let answer = within(HANG, || {
        let a = Job::new(|_| 1u8).label("a");
        let b = Job::new(|_| 2u8).label("b").requires(&a);
        let s = Scheduler::new().observe(|_| std::panic::panic_any(Bomb));
        s.add((&a, &b));
        (s.run(), b.result().copied().ok())
    });
    let Some(Ok((run, b))) = answer else {
        panic!("run() panicked or hung");
    };
    assert!(matches!(run, Ok(true)), "{run:?}");
    assert_eq!(b, Some(2));
}

/// A job whose shutdown hook panics with a payload that panics when dropped.
struct BombOnShutdown;

impl jobgraph::AbstractJob for BombOnShutdown {
    type Output = ();

    fn run(&mut self, _: &jobgraph::Context<'_>) {}

    fn shutdown(&mut self) {
        std::panic::panic_any(Bomb)
    }
}

#[test]
fn a_shutdown_hook_whose_panic_payload_panics_when_dropped_does_not_fail_shutdown() {
    quiet_job_panics();
    let job = Job::custom(BombOnShutdown).label("bomb");
    let after = Job::custom(BombOnShutdown).label("after");
    let s = Scheduler::new().shutdown_timeout(Duration::from_secs(20));
    s.add((&job, &after));
    assert!(s.run().unwrap());
    // Both hooks ran, and returned (as panics) well within the timeout.
    assert!(s.shutdown());
}
