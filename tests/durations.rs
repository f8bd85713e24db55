//! Every duration a user gives saturates: `Duration::MAX` (or any duration too long to
//! count from now) means "never", whether it is a timeout, a grace, a stall timeout,
//! a shutdown timeout, or a sleep, which then lasts until its job is cancelled.

mod support;

use std::future::Future;
use std::pin::pin;
use std::task::Waker;
use std::time::Duration;

use jobgraph::{Batch, Error, Job, JobState, PrintJob, Scheduler};
use support::quiet_job_panics;

#[test]
fn a_scheduler_timeout_of_duration_max_is_no_deadline() {
    let a = Job::new(|ctx| ctx.sleep(Duration::from_millis(10))).label("a");
    let s = Scheduler::new().timeout(Duration::MAX);
    s.add(&a);
    assert!(s.run().unwrap());
    assert!(*a.result().unwrap());
    assert_eq!(s.failed_time_out(), None);
    assert_eq!(s.timeout_duration(), Some(Duration::MAX));
}

#[test]
fn a_scheduler_grace_of_duration_max_waits_for_a_job_that_ignores_cancellation() {
    quiet_job_panics();
    let bad = Job::new(|ctx| {
        ctx.sleep(Duration::from_millis(20));
        Err::<(), _>("bad")
    })
    .label("bad");
    // Ignores the cancellation, and returns well after the default grace.
    let stubborn = Job::new(|_| std::thread::sleep(Duration::from_millis(400))).label("stubborn");
    let s = Scheduler::new().grace(Duration::MAX);
    s.add((&bad, &stubborn));
    assert!(matches!(s.run(), Err(Error::JobFailed { .. })));
    // Waited for: it ended (as cancelled), it was not given up on.
    assert_eq!(stubborn.state(), JobState::Cancelled);
}

#[test]
fn a_batch_timeout_and_grace_of_duration_max_mean_never() {
    let mut batch = Batch::<u8>::new()
        .timeout(Duration::MAX)
        .grace(Duration::MAX)
        .stall_timeout(Some(Duration::MAX));
    let a = batch.add(|_| 1u8).id();
    let b = batch.add(|_| 2u8).requires(a).id();
    assert!(batch.run().unwrap());
    assert_eq!(batch.result(b).unwrap(), &2);
    assert_eq!(batch.failed_time_out(), None);
}

#[test]
fn a_stall_timeout_of_duration_max_never_ends_a_waiting_run() {
    let (tx, rx) = async_channel::bounded::<u8>(1);
    // Parked on a channel that another thread feeds a little later.
    let waiting = Job::future(async move { rx.recv().await.unwrap_or(0) }).label("waiting");
    let s = Scheduler::new().stall_timeout(Some(Duration::MAX));
    s.add(&waiting);
    let feeder = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(50));
        tx.send_blocking(9).unwrap();
    });
    assert!(s.run().unwrap());
    feeder.join().unwrap();
    assert_eq!(*waiting.result().unwrap(), 9);
}

#[test]
fn a_shutdown_timeout_of_duration_max_waits_for_the_hooks() {
    let a = Job::new(|_| ()).label("a");
    let s = Scheduler::new().shutdown_timeout(Duration::MAX);
    s.add(&a);
    assert!(s.run().unwrap());
    assert!(s.shutdown());
}

#[test]
fn ctx_sleep_of_duration_max_lasts_until_the_job_is_cancelled() {
    quiet_job_panics();
    let forever = Job::new(|ctx| ctx.sleep(Duration::MAX))
        .label("forever")
        .forever(true);
    let quick = Job::new(|ctx| ctx.sleep(Duration::from_millis(20))).label("quick");
    let s = Scheduler::new();
    s.add((&forever, &quick));
    assert!(s.run().unwrap());
    assert_eq!(forever.state(), JobState::Cancelled);
    assert!(forever.raised_exception().is_none());
}

#[test]
fn jobgraph_sleep_of_duration_max_lasts_until_the_job_is_cancelled() {
    quiet_job_panics();
    let forever = Job::future(async { jobgraph::sleep(Duration::MAX).await })
        .label("forever")
        .forever(true);
    let quick = Job::new(|ctx| ctx.sleep(Duration::from_millis(20))).label("quick");
    let s = Scheduler::new();
    s.add((&forever, &quick));
    assert!(s.run().unwrap());
    assert_eq!(forever.state(), JobState::Cancelled);
    assert!(forever.raised_exception().is_none());
}

#[test]
fn jobgraph_sleep_of_duration_max_outside_a_job_stays_pending() {
    let mut sleep = pin!(jobgraph::sleep(Duration::MAX));
    let mut cx = std::task::Context::from_waker(Waker::noop());
    assert!(sleep.as_mut().poll(&mut cx).is_pending());
    assert!(sleep.as_mut().poll(&mut cx).is_pending());
}

#[test]
fn a_print_job_sleep_of_duration_max_lasts_until_the_job_is_cancelled() {
    quiet_job_panics();
    let forever = Job::custom(PrintJob::new(["waiting"]).sleep(Duration::MAX))
        .label("forever")
        .forever(true);
    let quick = Job::new(|ctx| ctx.sleep(Duration::from_millis(20))).label("quick");
    let s = Scheduler::new();
    s.add((&forever, &quick));
    assert!(s.run().unwrap());
    assert_eq!(forever.state(), JobState::Cancelled);
    assert!(forever.raised_exception().is_none());
}

#[test]
fn a_batch_future_sleeping_duration_max_is_cancelled_with_its_run() {
    let mut batch = Batch::<()>::new();
    let forever = batch
        .add_future(async { jobgraph::sleep(Duration::MAX).await })
        .forever(true)
        .id();
    let quick = batch
        .add(|ctx| {
            ctx.sleep(Duration::from_millis(20));
        })
        .id();
    assert!(batch.run().unwrap());
    assert_eq!(batch.state(forever), Some(JobState::Cancelled));
    assert_eq!(batch.state(quick), Some(JobState::Done));
}
