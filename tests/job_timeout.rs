//! A job's own timeout (`Job::timeout`, `AnyJob::set_timeout`, `JobMut::timeout`):
//! counted from the job's start; at its deadline the job is cancelled (closures, futures,
//! custom jobs, nested schedulers), ends as timed out (its own state, event, error and
//! symbols), and is given up on after the grace if its thread does not return, the run
//! going on without it. Margins are wide: the deadlines are tens of milliseconds, and
//! what must not happen (a job sleeping its whole 60 seconds) is seconds away.

mod support;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use jobgraph::{AbstractJob, Batch, Context, Error, EventKind, Job, JobState, Scheduler, Symbols};
use support::{poll_until, record_events};

const SHORT: Duration = Duration::from_millis(50);
const LONG: Duration = Duration::from_secs(60);
/// Far less than [`LONG`]: a run that ends before this did not wait for a job's sleep.
const PROMPT: Duration = Duration::from_secs(20);

fn timed_out_after(job: &jobgraph::AnyJob) -> Option<Duration> {
    match job.raised_exception()?.downcast_ref::<Error>()? {
        Error::JobTimedOut { timeout, .. } => Some(*timeout),
        _ => None,
    }
}

#[test]
fn a_closure_asleep_is_woken_at_its_deadline_and_ends_timed_out() {
    let slow = Job::new(|ctx| ctx.sleep(LONG))
        .label("slow")
        .timeout(SHORT)
        .critical(false);
    let s = Scheduler::new();
    s.add(&slow);
    let start = Instant::now();
    assert!(
        s.run().unwrap(),
        "a non-critical failure leaves the run fine"
    );
    assert!(start.elapsed() < PROMPT);
    assert_eq!(slow.state(), JobState::Done);
    assert!(slow.is_timed_out() && !slow.is_running());
    assert_eq!(timed_out_after(&slow), Some(SHORT));
    assert!(slow.raised_exception().unwrap().is_timeout());
    // What it returned is not kept.
    assert!(matches!(slow.result(), Err(Error::JobFailed { .. })));
}

#[test]
fn a_closure_that_looks_at_is_cancelled_sees_its_timeout() {
    let looks = Job::new(|ctx| {
        let start = Instant::now();
        while !ctx.is_cancelled() && start.elapsed() < LONG {
            std::thread::sleep(Duration::from_millis(1));
        }
        ctx.is_cancelled()
    })
    .timeout(SHORT)
    .critical(false);
    let s = Scheduler::new();
    s.add(&looks);
    let start = Instant::now();
    s.run().unwrap();
    assert!(start.elapsed() < PROMPT);
    assert!(looks.is_timed_out());
}

#[test]
fn a_future_is_dropped_at_its_deadline() {
    struct Flag(Arc<AtomicBool>);
    impl Drop for Flag {
        fn drop(&mut self) {
            self.0.store(true, Ordering::SeqCst);
        }
    }
    let dropped = Arc::new(AtomicBool::new(false));
    let flag = Flag(dropped.clone());
    let waits = Job::future(async move {
        let _flag = flag;
        jobgraph::sleep(LONG).await;
        1
    })
    .timeout(SHORT)
    .critical(false);
    let s = Scheduler::new();
    s.add(&waits);
    let start = Instant::now();
    s.run().unwrap();
    assert!(start.elapsed() < PROMPT);
    assert!(dropped.load(Ordering::SeqCst));
    assert!(waits.is_done() && waits.is_timed_out());
}

#[test]
fn a_custom_job_sees_its_timeout_through_its_context() {
    struct Poll;
    impl AbstractJob for Poll {
        type Output = &'static str;
        fn run(&mut self, ctx: &Context<'_>) -> &'static str {
            let start = Instant::now();
            while !ctx.is_cancelled() && start.elapsed() < LONG {
                std::thread::sleep(Duration::from_millis(1));
            }
            "stopped"
        }
    }
    let job = Job::custom(Poll).timeout(SHORT).critical(false);
    let s = Scheduler::new();
    s.add(&job);
    s.run().unwrap();
    assert!(job.is_timed_out());
}

#[test]
fn a_critical_job_that_times_out_fails_the_run_with_its_timeout() {
    let slow = Job::new(|ctx| ctx.sleep(LONG)).label("slow").timeout(SHORT);
    let after = Job::new(|_| ()).label("after").requires(&slow);
    let s = Scheduler::new();
    s.add((&slow, &after));
    match s.run() {
        Err(Error::JobTimedOut { label, timeout }) => {
            assert_eq!(label, "slow");
            assert_eq!(timeout, SHORT);
        }
        other => panic!("expected the job's timeout, got {other:?}"),
    }
    assert!(s.failed_critical());
    assert_eq!(after.state(), JobState::Idle);
}

#[test]
fn a_non_critical_job_that_times_out_lets_its_successors_run() {
    let slow = Job::new(|ctx| ctx.sleep(LONG))
        .timeout(SHORT)
        .critical(false);
    let after = Job::new(|_| 2).requires(&slow);
    let s = Scheduler::new();
    s.add((&slow, &after));
    assert!(s.run().unwrap());
    assert_eq!(*after.result().unwrap(), 2);
}

#[test]
fn a_job_within_its_timeout_keeps_its_value() {
    let quick = Job::new(|_| 7).timeout(Duration::from_secs(30));
    let s = Scheduler::new();
    s.add(&quick);
    assert!(s.run().unwrap());
    assert_eq!(*quick.result().unwrap(), 7);
    assert_eq!(quick.job_timeout(), Some(Duration::from_secs(30)));
}

#[test]
fn a_job_that_returns_late_without_looking_has_timed_out() {
    // It never looks at its context: it returns after its deadline, within the grace.
    let deaf = Job::new(|_| {
        std::thread::sleep(Duration::from_millis(200));
        1
    })
    .timeout(Duration::from_millis(20))
    .critical(false);
    let s = Scheduler::new().grace(Duration::from_secs(30));
    s.add(&deaf);
    s.run().unwrap();
    assert!(deaf.is_done() && deaf.is_timed_out());
    assert!(deaf.result().is_err());
}

#[test]
fn the_timeout_counts_from_the_jobs_start() {
    let first = Job::new(|_| std::thread::sleep(Duration::from_millis(600)));
    // Counted from the run's start it would pass while `first` runs.
    let second = Job::new(|_| 3)
        .timeout(Duration::from_millis(300))
        .requires(&first);
    let s = Scheduler::new();
    s.add((&first, &second));
    assert!(s.run().unwrap());
    assert_eq!(*second.result().unwrap(), 3);
}

#[test]
fn the_runs_own_timeout_still_bounds_a_job_with_a_longer_one() {
    let slow = Job::new(|ctx| ctx.sleep(LONG)).timeout(Duration::from_secs(40));
    let s = Scheduler::new().timeout(SHORT);
    s.add(&slow);
    let start = Instant::now();
    assert!(matches!(s.run(), Err(Error::Timeout { .. })));
    assert!(start.elapsed() < PROMPT);
    // Stopped by its run, not by its own timeout.
    assert_eq!(slow.state(), JobState::Cancelled);
    assert!(!slow.is_timed_out());
}

/// A job that ignores cancellation until `release` is set.
fn deaf(release: &Arc<AtomicBool>) -> Job<()> {
    let release = release.clone();
    Job::new(move |_| {
        let start = Instant::now();
        while !release.load(Ordering::SeqCst) && start.elapsed() < LONG {
            std::thread::sleep(Duration::from_millis(2));
        }
    })
}

#[test]
fn a_job_still_running_after_the_grace_is_given_up_on_and_its_successors_run() {
    let release = Arc::new(AtomicBool::new(false));
    let stuck = deaf(&release).label("stuck").timeout(SHORT).critical(false);
    let after = Job::new(|_| "ran").label("after").requires(&stuck);
    // Window 1: the successor runs only because the stuck job's place was given to it.
    let (s, events) = record_events(Scheduler::new().window(1).grace(SHORT));
    s.add((&stuck, &after));
    let start = Instant::now();
    assert!(s.run().unwrap());
    assert!(start.elapsed() < PROMPT);
    assert_eq!(*after.result().unwrap(), "ran");
    assert_eq!(stuck.state(), JobState::Running);
    assert!(stuck.is_timed_out());
    assert_eq!(timed_out_after(&stuck), Some(SHORT));
    {
        let events = events.lock().unwrap();
        let ends: Vec<String> = events
            .iter()
            .filter(|e| e.is_job_end() && e.job.as_ref() == Some(&stuck))
            .map(|e| e.kind.to_string())
            .collect();
        assert_eq!(ends, ["timed out, still running"]);
        // Its end comes before its successor starts.
        let end = events.iter().position(|e| {
            matches!(
                e.kind,
                EventKind::TimedOut {
                    still_running: true
                }
            )
        });
        let started = events
            .iter()
            .position(|e| matches!(e.kind, EventKind::Started) && e.job.as_ref() == Some(&after));
        assert!(end < started);
    }
    assert!(s.list().symbols(Symbols::Ascii).to_string().contains(" t "));
    assert!(s.stats().starts_with("1D + 1R + 0I"), "{}", s.stats());
    // Once its thread returns, it is timed out, no longer running.
    release.store(true, Ordering::SeqCst);
    assert!(poll_until(PROMPT, Duration::from_millis(5), || {
        stuck.state() == JobState::Done
    }));
    assert!(stuck.is_timed_out());
    assert!(s.list().symbols(Symbols::Ascii).to_string().contains(" T "));
}

#[test]
fn a_critical_job_given_up_on_fails_the_run() {
    let release = Arc::new(AtomicBool::new(false));
    let stuck = deaf(&release).label("stuck").timeout(SHORT);
    let s = Scheduler::new().grace(SHORT);
    s.add(&stuck);
    let start = Instant::now();
    assert!(matches!(s.run(), Err(Error::JobTimedOut { .. })));
    assert!(start.elapsed() < PROMPT);
    assert!(stuck.is_running() && stuck.is_timed_out());
    release.store(true, Ordering::SeqCst);
}

#[test]
fn a_nested_scheduler_with_a_timeout_cancels_its_run() {
    let inner_job = Job::new(|ctx| ctx.sleep(LONG)).label("inner");
    let inner = Scheduler::new().label("nested");
    inner.add(&inner_job);
    inner.set_timeout(SHORT).set_critical(false);
    let after = Job::new(|_| ()).requires(&*inner);
    let s = Scheduler::new();
    s.add((&inner, &after));
    let start = Instant::now();
    assert!(s.run().unwrap());
    assert!(start.elapsed() < PROMPT);
    assert!(inner.is_done() && inner.is_timed_out());
    assert_eq!(inner_job.state(), JobState::Cancelled);
    assert!(after.is_done());
}

#[test]
fn reports_show_a_timed_out_job() {
    let slow = Job::new(|ctx| ctx.sleep(LONG))
        .label("slow")
        .timeout(SHORT)
        .critical(false);
    let fine = Job::new(|_| ()).label("fine");
    let s = Scheduler::new();
    s.add((&slow, &fine));
    s.run().unwrap();
    let unicode = s.list().symbols(Symbols::Unicode).to_string();
    assert!(unicode.contains("★ ⧖"), "{unicode}");
    let ascii = s.list().symbols(Symbols::Ascii).to_string();
    assert!(ascii.contains(":( T"), "{ascii}");
    let debrief = s.debrief().to_string();
    assert!(debrief.contains("timed out after 50ms"), "{debrief}");
    let dot = s.dot_format();
    assert!(dot.contains("fillcolor=\"orange\""), "{dot}");
    assert!(dot.contains("legend_timed_out"), "{dot}");
    assert!(s.stats().starts_with("2D + 0R + 0I"), "{}", s.stats());
}

#[test]
fn no_timed_out_legend_when_no_job_timed_out() {
    let s = Scheduler::new();
    s.add(Job::new(|_| ()).timeout(Duration::from_secs(30)));
    s.run().unwrap();
    assert!(!s.dot_format().contains("legend_timed_out"));
}

#[test]
fn a_timed_out_job_sends_a_timed_out_event_and_no_failure() {
    let slow = Job::new(|ctx| ctx.sleep(LONG))
        .timeout(SHORT)
        .critical(false);
    let (s, events) = record_events(Scheduler::new());
    s.add(&slow);
    s.run().unwrap();
    let kinds: Vec<String> = events
        .lock()
        .unwrap()
        .iter()
        .filter(|e| e.job.is_some())
        .map(|e| e.kind.to_string())
        .collect();
    assert_eq!(kinds, ["scheduled", "started", "timed out"]);
}

#[test]
fn many_jobs_with_timeouts_in_a_narrow_window() {
    // Some time out, some do not, some ignore it: every job ends, the run ends, and
    // every successor of a non-critical job runs.
    let release = Arc::new(AtomicBool::new(false));
    let ran = Arc::new(AtomicUsize::new(0));
    let s = Scheduler::new().window(2).grace(Duration::from_millis(20));
    let mut jobs = Vec::new();
    for k in 0..12 {
        let job = match k % 3 {
            0 => Job::new(|ctx| {
                ctx.sleep(LONG);
            }),
            1 => deaf(&release),
            _ => Job::new(|_| ()),
        }
        .timeout(Duration::from_millis(20))
        .critical(false);
        let ran = ran.clone();
        let next = Job::new(move |_| {
            ran.fetch_add(1, Ordering::SeqCst);
        })
        .requires(&job);
        s.add((&job, &next));
        jobs.push(job);
    }
    let start = Instant::now();
    assert!(s.run().unwrap());
    assert!(start.elapsed() < PROMPT);
    assert_eq!(ran.load(Ordering::SeqCst), 12);
    for (k, job) in jobs.iter().enumerate() {
        match k % 3 {
            0 => assert!(job.is_done() && job.is_timed_out()),
            1 => assert!(job.is_timed_out()),
            _ => assert!(job.is_done()),
        }
    }
    release.store(true, Ordering::SeqCst);
}

#[test]
fn a_batch_job_times_out() {
    let mut batch = Batch::new().window(1).grace(SHORT);
    let slow = batch
        .add(|ctx| {
            ctx.sleep(LONG);
            0
        })
        .label("slow")
        .timeout(SHORT)
        .critical(false)
        .id();
    let after = batch.add(|_| 1).requires(slow).id();
    let start = Instant::now();
    assert!(batch.run().unwrap());
    assert!(start.elapsed() < PROMPT);
    assert_eq!(batch.state(slow), Some(JobState::Done));
    assert!(batch.is_timed_out(slow));
    assert!(batch.raised_exception(slow).unwrap().is_timeout());
    assert!(matches!(batch.result(slow), Err(Error::JobFailed { .. })));
    assert_eq!(*batch.result(after).unwrap(), 1);
}

#[test]
fn a_batch_job_given_up_on_lets_its_successor_run_and_its_batch_run_again_once_back() {
    let release = Arc::new(AtomicBool::new(false));
    let runs = Arc::new(Mutex::new(0));
    let mut batch = Batch::new().window(1).grace(SHORT);
    let stuck = {
        let release = release.clone();
        batch
            .add_mut(move |_| {
                let start = Instant::now();
                while !release.load(Ordering::SeqCst) && start.elapsed() < LONG {
                    std::thread::sleep(Duration::from_millis(2));
                }
            })
            .timeout(SHORT)
            .critical(false)
            .id()
    };
    let after = {
        let runs = runs.clone();
        batch
            .add_mut(move |_| *runs.lock().unwrap() += 1)
            .requires(stuck)
            .id()
    };
    assert!(batch.run().unwrap());
    assert_eq!(batch.state(stuck), Some(JobState::Running));
    assert!(batch.is_timed_out(stuck));
    assert!(batch.state(after) == Some(JobState::Done));
    // Not again while it runs.
    assert!(matches!(batch.run(), Err(Error::StillRunning { .. })));
    release.store(true, Ordering::SeqCst);
    assert!(poll_until(PROMPT, Duration::from_millis(5), || {
        batch.state(stuck) == Some(JobState::Done)
    }));
    assert!(batch.run().unwrap());
    assert_eq!(*runs.lock().unwrap(), 2);
    assert_eq!(batch.state(stuck), Some(JobState::Done));
    assert!(!batch.is_timed_out(stuck));
}

#[test]
fn a_critical_batch_job_that_times_out_is_the_runs_error() {
    let mut batch = Batch::new();
    batch
        .add(|ctx| {
            ctx.sleep(LONG);
        })
        .label("slow")
        .timeout(SHORT);
    match batch.run() {
        Err(Error::JobTimedOut { label, .. }) => assert_eq!(label, "slow"),
        other => panic!("expected the job's timeout, got {other:?}"),
    }
}
