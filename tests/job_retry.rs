//! Retries (`Job::retries`, `backoff`, `retry_on`; a batch's `JobMut::retries`): a job
//! that succeeds on a retry is a success, each attempt is an event, the wait between
//! attempts holds no worker and no slot, the run's timeout bounds them all, and a job
//! whose body cannot run again is refused before anything runs.

mod support;

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use jobgraph::{
    AbstractJob, Backoff, Batch, Context, Error, EventKind, Job, RetryOn, Scheduler, MAX_RETRIES,
};
use support::record_events;

/// A closure that fails its first `failures` calls, then returns how many calls it took.
fn flaky(failures: u32) -> impl FnMut(&Context<'_>) -> Result<u32, String> + Send + 'static {
    let mut calls = 0;
    move |_| {
        calls += 1;
        if calls <= failures {
            Err(format!("failure {calls}"))
        } else {
            Ok(calls)
        }
    }
}

#[test]
fn a_job_that_succeeds_on_a_retry_is_a_success() {
    let job = Job::new_mut(flaky(2)).label("flaky").retries(3);
    let after = Job::new(|_| "after").requires(&job);
    let (s, events) = record_events(Scheduler::new());
    s.add((&job, &after));
    assert!(s.run().unwrap());
    assert_eq!(*job.result().unwrap(), 3);
    assert_eq!(job.attempts(), 3);
    let failed: Vec<String> = job
        .failed_attempts()
        .iter()
        .map(|e| e.to_string())
        .collect();
    assert_eq!(failed, ["failure 1", "failure 2"]);
    assert!(after.is_done());
    let kinds: Vec<String> = events
        .lock()
        .unwrap()
        .iter()
        .filter(|e| e.job.as_ref() == Some(&job))
        .map(|e| match &e.kind {
            EventKind::Retrying { attempt, .. } => format!("retrying {attempt}"),
            other => other.to_string(),
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "scheduled",
            "started",
            "retrying 1",
            "scheduled",
            "started",
            "retrying 2",
            "scheduled",
            "started",
            "done"
        ]
    );
}

#[test]
fn a_job_out_of_retries_fails_with_its_last_failure() {
    let job = Job::new_mut(flaky(10)).label("flaky").retries(2);
    let s = Scheduler::new();
    s.add(&job);
    match s.run() {
        Err(Error::JobFailed { label, source }) => {
            assert_eq!(label, "flaky");
            assert_eq!(source.to_string(), "failure 3");
        }
        other => panic!("expected the last failure, got {other:?}"),
    }
    assert_eq!(job.attempts(), 3);
    assert_eq!(job.failed_attempts().len(), 2);
}

#[test]
fn retry_on_chooses_which_failures_are_tried_again() {
    // Failure: an error is retried, a timeout is not.
    let sleeps_then_errs = |first_sleeps: bool| {
        let mut calls = 0;
        move |ctx: &Context<'_>| {
            calls += 1;
            if calls == 1 && first_sleeps {
                ctx.sleep(Duration::from_secs(60));
            }
            if calls == 1 {
                Err("boom")
            } else {
                Ok(calls)
            }
        }
    };
    let cases = [
        (RetryOn::Failure, false, true),
        (RetryOn::Failure, true, false),
        (RetryOn::Timeout, false, false),
        (RetryOn::Timeout, true, true),
        (RetryOn::Any, true, true),
        (RetryOn::Any, false, true),
        (RetryOn::when(|e| e.to_string() == "boom"), false, true),
        (RetryOn::when(|e| e.to_string() == "other"), false, false),
    ];
    for (on, times_out, retried) in cases {
        let description = format!("{on:?}, first attempt times out: {times_out}");
        let job = Job::new_mut(sleeps_then_errs(times_out))
            .timeout(Duration::from_millis(50))
            .retries(1)
            .retry_on(on)
            .critical(false);
        let s = Scheduler::new();
        s.add(&job);
        s.run().unwrap();
        assert_eq!(job.result().is_ok(), retried, "{description}");
        assert_eq!(job.attempts(), if retried { 2 } else { 1 }, "{description}");
        if times_out {
            assert!(job.failed_attempts().iter().all(|e| e.is_timeout()));
        }
    }
}

#[test]
fn a_timed_out_attempt_is_tried_again_with_its_own_timeout() {
    let mut calls = 0;
    let job = Job::new_mut(move |ctx| {
        calls += 1;
        if calls == 1 {
            ctx.sleep(Duration::from_secs(60));
        }
        calls
    })
    .timeout(Duration::from_millis(50))
    .retries(2);
    let s = Scheduler::new();
    s.add(&job);
    let start = Instant::now();
    assert!(s.run().unwrap());
    assert!(start.elapsed() < Duration::from_secs(20));
    assert_eq!(*job.result().unwrap(), 2);
    assert!(!job.is_timed_out());
    assert!(job.failed_attempts()[0].is_timeout());
}

#[test]
fn backoffs_give_the_waits_the_events_tell() {
    let waits = |backoff: Backoff, failures: u32| {
        let job = Job::new_mut(flaky(failures))
            .retries(failures)
            .backoff(backoff);
        let (s, events) = record_events(Scheduler::new());
        s.add(&job);
        assert!(s.run().unwrap());
        let events = events.lock().unwrap();
        events
            .iter()
            .filter_map(|e| match e.kind {
                EventKind::Retrying { after, .. } => Some(after),
                _ => None,
            })
            .collect::<Vec<Duration>>()
    };
    let ms = Duration::from_millis;
    assert_eq!(waits(Backoff::fixed(ms(3)), 2), [ms(3), ms(3)]);
    assert_eq!(
        waits(Backoff::exponential(ms(2), 2.0).max(ms(5)), 3),
        [ms(2), ms(4), ms(5)]
    );
    for after in waits(Backoff::fixed(ms(10)).jitter(0.5), 4) {
        assert!(after >= ms(5) && after <= ms(10), "{after:?}");
    }
}

#[test]
fn a_job_waiting_for_its_next_attempt_holds_no_worker_and_no_slot() {
    // Window 1: the other job runs while the flaky one waits for its next attempt.
    let flaky_job = Job::new_mut(flaky(1))
        .label("flaky")
        .retries(1)
        .backoff(Backoff::fixed(Duration::from_millis(300)));
    let other = Job::new(|_| ()).label("other");
    let (s, events) = record_events(Scheduler::new().window(1));
    s.add((&flaky_job, &other));
    assert!(s.run().unwrap());
    let events = events.lock().unwrap();
    let at = |job: &jobgraph::AnyJob, what: &str, nth: usize| {
        events
            .iter()
            .filter(|e| e.job.as_ref() == Some(job) && e.kind.to_string().starts_with(what))
            .nth(nth)
            .map(|e| e.at)
            .unwrap_or_else(|| panic!("no {what} #{nth}"))
    };
    let retrying = at(&flaky_job, "attempt 1 failed", 0);
    let other_started = at(&other, "started", 0);
    let other_done = at(&other, "done", 0);
    let second = at(&flaky_job, "started", 1);
    assert!(retrying <= other_started);
    assert!(other_done <= second);
}

/// The next attempt is pushed by the timer thread, outside the window: when it comes
/// just as the window's only worker leaves the run (its last look done, its place not
/// yet given back), that worker looks again once its place is back, or the attempt
/// would wait for nobody until the run's timeout (2 runs in 3,000 did before).
#[test]
fn a_next_attempt_pushed_as_the_last_worker_leaves_is_not_stranded() {
    let mut stranded = Vec::new();
    for round in 0..1_500u64 {
        // Waits of 0 to 59 µs: the end of one lands, now and then, in that moment.
        let job = Job::new_mut(flaky(3))
            .retries(3)
            .backoff(Backoff::fixed(Duration::from_micros(round % 60)));
        let s = Scheduler::new().window(1).timeout(Duration::from_secs(5));
        s.add(&job);
        let result = s.run();
        if !matches!(result, Ok(true)) || job.result().ok() != Some(&4) {
            stranded.push((round, result));
        }
    }
    assert!(
        stranded.is_empty(),
        "runs that did not end well: {stranded:?}"
    );
}

#[test]
fn the_runs_timeout_bounds_every_attempt() {
    let job = Job::new_mut(flaky(u32::MAX))
        .retries(MAX_RETRIES)
        .backoff(Backoff::fixed(Duration::from_millis(5)));
    let s = Scheduler::new().timeout(Duration::from_millis(200));
    s.add(&job);
    let start = Instant::now();
    assert!(matches!(s.run(), Err(Error::Timeout { .. })));
    assert!(start.elapsed() < Duration::from_secs(20));
    assert!(job.attempts() < MAX_RETRIES as usize);
}

#[test]
fn future_factories_and_custom_jobs_run_again() {
    let made = Arc::new(AtomicU32::new(0));
    let future = {
        let made = made.clone();
        Job::future_from(move || {
            let n = made.fetch_add(1, Ordering::SeqCst);
            async move {
                jobgraph::sleep(Duration::from_millis(1)).await;
                if n == 0 {
                    Err("first")
                } else {
                    Ok(n)
                }
            }
        })
        .retries(1)
    };
    struct Twice(u32);
    impl AbstractJob for Twice {
        type Output = Result<u32, String>;
        fn run(&mut self, _: &Context<'_>) -> Result<u32, String> {
            self.0 += 1;
            if self.0 < 2 {
                Err("once".into())
            } else {
                Ok(self.0)
            }
        }
    }
    let custom = Job::custom(Twice(0)).retries(1);
    let s = Scheduler::new();
    s.add((&future, &custom));
    assert!(s.run().unwrap());
    assert_eq!(*future.result().unwrap(), 1);
    assert_eq!(*custom.result().unwrap(), 2);
}

#[test]
fn retries_on_a_body_that_runs_once_are_refused_before_the_run() {
    let ran = Arc::new(AtomicBool::new(false));
    let once = {
        let ran = ran.clone();
        Job::new(move |_| ran.store(true, Ordering::SeqCst))
            .label("once")
            .retries(2)
    };
    let s = Scheduler::new();
    s.add(&once);
    match s.run() {
        Err(Error::Policy { job, problem }) => {
            assert_eq!(job, "once");
            assert!(problem.contains("Job::new_mut"), "{problem}");
        }
        other => panic!("expected a policy error, got {other:?}"),
    }
    assert!(!ran.load(Ordering::SeqCst));
    let future = Job::future(async { 1 }).retries(1);
    let s = Scheduler::new();
    s.add(&future);
    assert!(matches!(s.run(), Err(Error::Policy { .. })));
    let nested = Scheduler::new();
    nested.set_retries(1);
    let s = Scheduler::new();
    s.add(&nested);
    assert!(matches!(s.run(), Err(Error::Policy { .. })));
    // Zero retries asks for nothing.
    let s = Scheduler::new();
    s.add(Job::new(|_| ()).retries(0));
    assert!(s.run().unwrap());
}

#[test]
fn out_of_range_retries_and_backoffs_are_refused_before_the_run() {
    let refused = |job: Job<u32>| {
        let s = Scheduler::new();
        s.add(&job);
        match s.run() {
            Err(Error::Policy { problem, .. }) => problem,
            other => panic!("expected a policy error, got {other:?}"),
        }
    };
    let too_many = refused(Job::new_mut(flaky(0)).retries(MAX_RETRIES + 1));
    assert!(too_many.contains("at most 1000"), "{too_many}");
    let factor = refused(
        Job::new_mut(flaky(0))
            .retries(1)
            .backoff(Backoff::exponential(Duration::from_millis(1), 0.5)),
    );
    assert!(factor.contains("factor"), "{factor}");
    let nan = refused(
        Job::new_mut(flaky(0))
            .retries(1)
            .backoff(Backoff::exponential(Duration::from_millis(1), f64::NAN)),
    );
    assert!(nan.contains("factor"), "{nan}");
    let jitter = refused(
        Job::new_mut(flaky(0))
            .retries(1)
            .backoff(Backoff::fixed(Duration::from_millis(1)).jitter(2.0)),
    );
    assert!(jitter.contains("jitter"), "{jitter}");
}

#[test]
fn listings_and_debrief_show_the_attempts() {
    let job = Job::new_mut(flaky(2)).label("flaky").retries(2);
    let s = Scheduler::new();
    s.add(&job);
    s.run().unwrap();
    let listing = s.list().to_string();
    assert!(listing.contains("[[ -> 3]] (3 attempts)"), "{listing}");
    let debrief = s.debrief().to_string();
    assert!(debrief.contains("===== 1 job(s) tried again"), "{debrief}");
    assert!(
        debrief.contains("flaky: attempt 1 failed: String: failure 1"),
        "{debrief}"
    );
    assert!(
        debrief.contains("flaky: attempt 2 failed: String: failure 2"),
        "{debrief}"
    );
}

#[test]
fn a_batch_job_is_retried_and_a_one_shot_one_refused() {
    let mut batch = Batch::new();
    let job = batch.add_mut(flaky(2)).retries(2).id();
    let after = batch.add(|_| Ok::<u32, String>(0)).requires(job).id();
    assert!(batch.run().unwrap());
    assert_eq!(*batch.result(job).unwrap(), 3);
    assert_eq!(batch.attempts(job), 3);
    assert_eq!(batch.failed_attempts(job).len(), 2);
    assert!(batch.result(after).is_ok());

    let mut batch = Batch::<u32>::new();
    batch.add(|_| Ok::<u32, String>(1)).label("once").retries(1);
    match batch.run() {
        Err(Error::Policy { job, .. }) => assert_eq!(job, "once"),
        other => panic!("expected a policy error, got {other:?}"),
    }
}

#[test]
fn a_batch_runs_again_with_its_attempts_counted_afresh() {
    let mut batch = Batch::new();
    let mut calls = 0;
    let job = batch
        .add_mut(move |_| {
            calls += 1;
            if calls % 2 == 1 {
                Err("odd")
            } else {
                Ok(calls)
            }
        })
        .retries(1)
        .id();
    assert!(batch.run().unwrap());
    assert_eq!(batch.attempts(job), 2);
    assert!(batch.run().unwrap());
    assert_eq!(*batch.result(job).unwrap(), 4);
    assert_eq!(batch.attempts(job), 2);
}
