//! `Batch`: jobs built with `&mut`, named by index, run by the scheduler's engine with
//! its semantics.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use jobgraph::{Batch, Error, JobId, JobState, Runner};
use support::quiet_job_panics;

/// Each job records when it ran in `log`.
fn logging(log: &Arc<Mutex<Vec<usize>>>, i: usize) -> impl FnOnce(&jobgraph::Context<'_>) + Send {
    let log = log.clone();
    move |_| log.lock().unwrap().push(i)
}

#[test]
fn every_job_runs_once_after_all_its_requirements() {
    let log = Arc::new(Mutex::new(Vec::new()));
    let mut batch = Batch::new().window(3);
    // A wavefront of 20 × 20: each cell requires its upper and left neighbours, given
    // in both orders and repeated, and some requirements given after later jobs.
    // Smaller under Miri, which runs it a thousand times slower.
    let side = if cfg!(miri) { 5 } else { 20 };
    let mut ids: Vec<JobId> = Vec::new();
    for i in 0..side * side {
        let mut job = batch.add(logging(&log, i));
        if i % side > 0 {
            job = job.requires(ids[i - 1]).requires(ids[i - 1]);
        }
        ids.push(job.id());
    }
    for i in side..side * side {
        batch.job(ids[i]).unwrap().requires(ids[i - side]);
    }
    assert!(batch.run().unwrap());
    let log = log.lock().unwrap();
    assert_eq!(log.len(), side * side, "each job ran exactly once");
    let mut at = vec![usize::MAX; side * side];
    for (position, &i) in log.iter().enumerate() {
        assert_eq!(at[i], usize::MAX, "job {i} ran twice");
        at[i] = position;
    }
    for i in 0..side * side {
        if i % side > 0 {
            assert!(at[i - 1] < at[i], "{i} ran before its left neighbour");
        }
        if i >= side {
            assert!(at[i - side] < at[i], "{i} ran before its upper neighbour");
        }
    }
    let jobs = side * side;
    assert_eq!(batch.stats(), format!("{jobs}D + 0R + 0I = {jobs}"));
    assert_eq!(batch.why(), "FINE");
}

#[test]
fn results_are_typed_and_flow_to_the_jobs_that_require_them() {
    let mut batch = Batch::new();
    let a = batch.add(|_| 20u64).label("a").id();
    let b = batch.add(|_| 22u64).id();
    let sum = batch
        .add(move |ctx| Ok::<_, Error>(ctx.input::<u64>(a)? + ctx.input::<u64>(b)?))
        .requires_all([a, b])
        .id();
    // Reading a job it does not require is an error, not a race.
    let nosy = batch
        .add(move |ctx| ctx.input::<u64>(a).copied())
        .label("nosy")
        .critical(false)
        .id();
    let wrong = batch
        .add(move |ctx| ctx.input::<i32>(a).map(|v| *v as u64))
        .requires(a)
        .critical(false)
        .id();
    assert!(batch.run().unwrap());
    assert_eq!(*batch.result(sum).unwrap(), 42);
    let nosy_error = batch.raised_exception(nosy).unwrap().to_string();
    assert!(nosy_error.contains("does not require"), "{nosy_error}");
    assert!(nosy_error.contains("`a`"), "{nosy_error}");
    let wrong_error = batch.raised_exception(wrong).unwrap().to_string();
    assert!(wrong_error.contains("i32"), "{wrong_error}");
    assert!(matches!(batch.result(nosy), Err(Error::JobFailed { .. })));
    assert_eq!(batch.text_label(nosy).as_deref(), Some("nosy"));
    assert_eq!(batch.text_label(b).as_deref(), Some("#1"));
}

#[test]
fn a_critical_failure_stops_the_run_and_is_the_error_of_run() {
    quiet_job_panics();
    let ran_after = Arc::new(AtomicUsize::new(0));
    let mut batch = Batch::new().window(1);
    let boom = batch
        .add(|_| -> Result<(), std::io::Error> { Err(std::io::Error::other("disk on fire")) })
        .label("boom")
        .id();
    let counter = ran_after.clone();
    let after = batch
        .add(move |_| {
            counter.fetch_add(1, Ordering::SeqCst);
        })
        .requires(boom)
        .id();
    match batch.run() {
        Err(Error::JobFailed { label, source }) => {
            assert_eq!(label, "boom");
            assert!(source.to_string().contains("disk on fire"));
        }
        other => panic!("expected the failure of `boom`, got {other:?}"),
    }
    assert_eq!(ran_after.load(Ordering::SeqCst), 0);
    assert_eq!(batch.state(after), Some(JobState::Idle));
    assert!(batch.failed_critical());
    assert_eq!(batch.why(), "a CRITICAL job has raised an exception");
}

#[test]
fn a_non_critical_failure_or_panic_counts_as_done_and_its_successors_run() {
    quiet_job_panics();
    let mut batch = Batch::new();
    let panics = batch
        .add(|_| -> u8 { panic!("not today") })
        .critical(false)
        .id();
    let next = batch.add(|_| 7u8).requires(panics).id();
    assert!(batch.run().unwrap());
    assert_eq!(*batch.result(next).unwrap(), 7);
    assert_eq!(batch.state(panics), Some(JobState::Done));
    let error = batch.raised_exception(panics).unwrap().to_string();
    assert!(error.contains("not today"), "{error}");
}

#[test]
fn forever_jobs_are_cancelled_once_the_rest_is_done() {
    let mut batch = Batch::new();
    let forever = batch
        .add(|ctx| {
            while !ctx.is_cancelled() {
                ctx.sleep(Duration::from_millis(5));
            }
        })
        .forever(true)
        .id();
    let work = batch
        .add(|_| std::thread::sleep(Duration::from_millis(20)))
        .id();
    assert!(batch.run().unwrap());
    assert_eq!(batch.state(work), Some(JobState::Done));
    assert_eq!(batch.state(forever), Some(JobState::Cancelled));
}

#[test]
// Under Miri a job takes longer to start than the timeout lasts: nothing starts.
#[cfg_attr(miri, ignore)]
fn the_timeout_cancels_running_jobs_and_is_the_error_of_run() {
    let mut batch = Batch::new().timeout(Duration::from_millis(50));
    let slow = batch.add(|ctx| ctx.sleep(Duration::from_secs(30))).id();
    let never = batch.add(|_| false).requires(slow).id();
    let start = Instant::now();
    match batch.run() {
        Err(Error::Timeout { timeout, .. }) => assert_eq!(timeout, Duration::from_millis(50)),
        other => panic!("expected a timeout, got {other:?}"),
    }
    assert!(start.elapsed() < Duration::from_secs(20));
    assert_eq!(batch.state(slow), Some(JobState::Cancelled));
    assert_eq!(batch.state(never), Some(JobState::Idle));
    assert_eq!(batch.why(), "TIMED OUT after 0.05s");
}

#[test]
fn the_window_bounds_how_many_jobs_run_at_once() {
    let running = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let mut batch = Batch::new().window(2);
    for _ in 0..12 {
        let (running, most) = (running.clone(), most.clone());
        batch.add(move |_| {
            let now = running.fetch_add(1, Ordering::SeqCst) + 1;
            most.fetch_max(now, Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(5));
            running.fetch_sub(1, Ordering::SeqCst);
        });
    }
    assert!(batch.run().unwrap());
    assert!(most.load(Ordering::SeqCst) <= 2);
}

#[test]
fn a_cycle_is_refused_before_anything_runs_and_names_its_jobs() {
    let ran = Arc::new(AtomicUsize::new(0));
    let mut batch = Batch::new().label("loop");
    let counter = ran.clone();
    let a = batch
        .add(move |_| counter.fetch_add(1, Ordering::SeqCst))
        .label("a")
        .id();
    let b = batch.add(|_| 0usize).label("b").requires(a).id();
    batch.job(a).unwrap().requires(b);
    match batch.run() {
        Err(Error::Cycle {
            scheduler, jobs, ..
        }) => {
            assert_eq!(scheduler, "loop");
            let mut jobs = jobs;
            jobs.sort();
            assert_eq!(jobs, ["a", "b"]);
        }
        other => panic!("expected a cycle, got {other:?}"),
    }
    assert_eq!(ran.load(Ordering::SeqCst), 0);
}

#[test]
fn requiring_a_forever_job_is_refused() {
    let mut batch = Batch::new();
    let forever = batch.add(|_| ()).forever(true).label("ticker").id();
    batch.add(|_| ()).label("waits").requires(forever);
    match batch.run() {
        Err(Error::RequiresForever { job, forever }) => {
            assert_eq!((job.as_str(), forever.as_str()), ("waits", "ticker"));
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn a_job_of_another_batch_is_refused_everywhere() {
    let mut other = Batch::<()>::new();
    let foreign = other.add(|_| ()).id();
    let mut batch = Batch::<()>::new().label("mine");
    assert!(matches!(
        batch.job(foreign),
        Err(Error::NotInScheduler { .. })
    ));
    assert!(matches!(
        batch.result(foreign),
        Err(Error::NotInScheduler { .. })
    ));
    assert_eq!(batch.state(foreign), None);
    batch.add(|_| ()).label("local").requires(foreign);
    match batch.run() {
        Err(Error::MissingRequirement { scheduler, job, .. }) => {
            assert_eq!((scheduler.as_str(), job.as_str()), ("mine", "local"));
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn a_batch_runs_once() {
    let mut batch = Batch::new();
    let job = batch.add(|_| "once").id();
    assert!(batch.run().unwrap());
    assert!(matches!(batch.run(), Err(Error::AlreadyRan { .. })));
    assert_eq!(*batch.result(job).unwrap(), "once");
}

/// Says `error` comes from a batch: its message names a batch, never a scheduler.
fn says_batch(error: &Error) {
    let message = error.to_string();
    assert!(message.contains("batch"), "{message}");
    assert!(!message.to_lowercase().contains("scheduler"), "{message}");
}

#[test]
fn a_batch_errors_name_a_batch_not_a_scheduler() {
    // A cycle.
    let mut cycle = Batch::<()>::new().label("loop");
    let a = cycle.add(|_| ()).id();
    cycle.add(|_| ()).requires(a);
    let b = cycle.add(|_| ()).requires(a).id();
    cycle.job(a).unwrap().requires(b);
    let error = cycle.run().unwrap_err();
    assert!(matches!(
        error,
        Error::Cycle {
            runner: Runner::Batch,
            ..
        }
    ));
    says_batch(&error);
    assert!(
        error.to_string().starts_with("batch `loop` has a cycle"),
        "{error}"
    );

    // Its timeout.
    let mut slow = Batch::new()
        .label("slow")
        .timeout(Duration::from_millis(20));
    slow.add(|ctx| ctx.sleep(Duration::from_secs(60)));
    let error = slow.run().unwrap_err();
    assert!(matches!(
        error,
        Error::Timeout {
            runner: Runner::Batch,
            ..
        }
    ));
    says_batch(&error);

    // A second run of a batch whose bodies run once.
    let mut once = Batch::new().label("once");
    once.add(|_| 1);
    assert!(once.run().unwrap());
    let error = once.run().unwrap_err();
    assert!(matches!(
        error,
        Error::AlreadyRan {
            runner: Runner::Batch,
            ..
        }
    ));
    says_batch(&error);

    // A job of another batch, named or required.
    let mut other = Batch::<()>::new();
    let foreign = other.add(|_| ()).id();
    let mut mine = Batch::<()>::new().label("mine");
    says_batch(&mine.job(foreign).unwrap_err());
    mine.add(|_| ()).requires(foreign);
    says_batch(&mine.run().unwrap_err());

    // A stall.
    let (_keep, never) = futures::channel::oneshot::channel::<()>();
    let mut stuck = Batch::new()
        .label("stuck")
        .stall_timeout(Some(Duration::from_millis(50)));
    stuck.add_future(async move { never.await.is_ok() });
    let error = stuck.run().unwrap_err();
    assert!(
        error.to_string().contains("Batch::stall_timeout"),
        "{error}"
    );
    says_batch(&error);
}

#[test]
fn a_scheduler_errors_still_name_a_scheduler() {
    let s = jobgraph::Scheduler::new().label("s");
    let a = jobgraph::Job::new(|_| ()).label("a");
    let b = jobgraph::Job::new(|_| ()).label("b").requires(&a);
    a.add_requires(&b);
    s.add(&a).add(&b);
    let error = s.run().unwrap_err();
    assert!(matches!(
        error,
        Error::Cycle {
            runner: Runner::Scheduler,
            ..
        }
    ));
    assert!(
        error.to_string().starts_with("scheduler `s` has a cycle"),
        "{error}"
    );
}

#[test]
fn requiring_itself_does_nothing_and_results_before_the_run_say_idle() {
    let mut batch = Batch::new();
    let job = batch.add(|_| 1).id();
    batch.job(job).unwrap().requires(job);
    match batch.result(job) {
        Err(Error::NotDone { state, .. }) => assert_eq!(state, "idle"),
        other => panic!("expected not done, got {other:?}"),
    }
    assert!(batch.run().unwrap());
    assert_eq!(*batch.result(job).unwrap(), 1);
}

#[test]
fn an_empty_batch_and_a_batch_of_forever_jobs_complete_at_once() {
    assert!(Batch::<()>::new().run().unwrap());
    let mut batch = Batch::new().timeout(Duration::from_secs(30));
    let forever = batch
        .add(|ctx| ctx.sleep(Duration::from_secs(60)))
        .forever(true)
        .id();
    let start = Instant::now();
    assert!(batch.run().unwrap());
    assert!(start.elapsed() < Duration::from_secs(20));
    assert_eq!(batch.state(forever), Some(JobState::Idle));
}

#[test]
fn a_wide_fan_in_with_repeated_requirements_runs_its_sink_last() {
    let count = Arc::new(AtomicUsize::new(0));
    let mut batch = Batch::new().window(4);
    let fan_in = if cfg!(miri) { 30 } else { 300 };
    let sources: Vec<JobId> = (0..fan_in)
        .map(|_| {
            let count = count.clone();
            batch
                .add(move |_| count.fetch_add(1, Ordering::SeqCst))
                .id()
        })
        .collect();
    let seen = count.clone();
    // Every source, three times over: more than are checked for repeats as they come.
    let sink = batch
        .add(move |_| seen.load(Ordering::SeqCst))
        .requires_all(sources.iter().chain(&sources).chain(&sources).copied())
        .id();
    assert!(batch.run().unwrap());
    assert_eq!(*batch.result(sink).unwrap(), fan_in);
}

#[test]
// Under Miri a job takes longer to start than the timeout lasts: nothing starts.
#[cfg_attr(miri, ignore)]
fn future_jobs_are_driven_on_their_worker_and_cut_short_by_the_timeout() {
    let mut batch = Batch::new().timeout(Duration::from_millis(300));
    let quick = batch
        .add_future(async {
            jobgraph::sleep(Duration::from_millis(5)).await;
            1
        })
        .id();
    let slow = batch
        .add_future(async {
            jobgraph::sleep(Duration::from_secs(60)).await;
            2
        })
        .requires(quick)
        .id();
    let start = Instant::now();
    assert!(matches!(batch.run(), Err(Error::Timeout { .. })));
    assert!(start.elapsed() < Duration::from_secs(20));
    assert_eq!(*batch.result(quick).unwrap(), 1);
    assert_eq!(batch.state(slow), Some(JobState::Cancelled));
}

#[test]
fn a_future_waiting_for_what_no_job_provides_is_reported_as_a_stall() {
    let (_keep, never) = futures::channel::oneshot::channel::<()>();
    let mut batch = Batch::new()
        .label("stuck")
        .stall_timeout(Some(Duration::from_millis(100)));
    batch
        .add_future(async move { never.await.is_ok() })
        .label("waits");
    match batch.run() {
        Err(Error::Stalled { label, running, .. }) => {
            assert_eq!(label, "stuck");
            assert_eq!(running, ["waits"]);
        }
        other => panic!("expected a stall, got {other:?}"),
    }
    assert!(batch.why().starts_with("STALLED"), "{}", batch.why());
}

#[test]
fn a_job_added_after_the_run_stays_idle_and_is_not_mistaken_for_one_that_ran() {
    let mut batch = Batch::new();
    let first = batch.add(|_| 1).id();
    assert!(batch.run().unwrap());
    let late = batch.add(|_| 2).label("late").id();
    assert_ne!(first, late);
    assert_eq!(batch.state(late), Some(JobState::Idle));
    assert!(matches!(batch.result(late), Err(Error::NotDone { .. })));
    assert!(matches!(batch.run(), Err(Error::AlreadyRan { .. })));
    assert_eq!(*batch.result(first).unwrap(), 1);
}

#[test]
// Timed: under Miri, a thousand times slower, the jobs miss the run's timeout.
#[cfg_attr(miri, ignore)]
fn a_batch_run_within_a_job_is_cancelled_with_that_job() {
    use jobgraph::{Job, Scheduler};
    let started = Arc::new(AtomicUsize::new(0));
    let cut_short = Arc::new(AtomicUsize::new(0));
    let (seen, cut) = (started.clone(), cut_short.clone());
    let outer = Job::new(move |ctx| {
        let mut batch = Batch::new().window(2);
        for _ in 0..4 {
            let (started, cut_short) = (seen.clone(), cut.clone());
            batch.add(move |ctx| {
                started.fetch_add(1, Ordering::SeqCst);
                if !ctx.sleep(Duration::from_secs(60)) {
                    cut_short.fetch_add(1, Ordering::SeqCst);
                }
            });
        }
        batch.run_within(ctx)
    })
    .label("outer");
    let scheduler = Scheduler::new()
        .critical(false)
        .timeout(Duration::from_millis(100));
    scheduler.add(&outer);
    assert!(!scheduler.run().unwrap());
    // Each of the two jobs running in the batch (its window) sees the cancellation: it
    // returns from its minute of sleep at once.
    let both = support::poll_until(Duration::from_secs(20), Duration::from_millis(5), || {
        cut_short.load(Ordering::SeqCst) == 2
    });
    assert!(
        both,
        "the batch's running jobs were cancelled with the job they ran in"
    );
    assert_eq!(
        started.load(Ordering::SeqCst),
        2,
        "nothing new started once cancelled"
    );
}

/// Counts its drops.
struct Dropped(Arc<AtomicUsize>);

impl Drop for Dropped {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn what_a_job_captures_is_dropped_once_whether_it_ran_panicked_or_never_started() {
    quiet_job_panics();
    let drops = Arc::new(AtomicUsize::new(0));
    let mut batch = Batch::new().window(1);
    // Small captures are stored in the job itself, big ones boxed: both kinds, each
    // run, panicking, and never started (the critical failure stops the run first).
    let small = Dropped(drops.clone());
    let ran_small = batch.add(move |_| drop(small)).id();
    let big = (Dropped(drops.clone()), [7u64; 4]);
    let ran_big = batch
        .add(move |_| {
            let (_counted, numbers) = big;
            assert_eq!(numbers[3], 7)
        })
        .requires(ran_small)
        .id();
    let small = Dropped(drops.clone());
    let panics_small = batch
        .add(move |_| -> () {
            let _keep = &small;
            panic!("small")
        })
        .critical(false)
        .requires(ran_big)
        .id();
    let big = (Dropped(drops.clone()), [0u64; 4]);
    let panics_big = batch
        .add(move |_| -> () {
            let _keep = &big;
            panic!("big")
        })
        .critical(false)
        .requires(panics_small)
        .id();
    let boom = batch
        .add(|_| Err::<(), _>("boom"))
        .requires(panics_big)
        .id();
    for captured in [Dropped(drops.clone()), Dropped(drops.clone())] {
        let big = (captured, [1u64; 4]);
        batch.add(move |_| drop(big)).requires(boom);
    }
    let small = Dropped(drops.clone());
    batch.add(move |_| drop(small)).requires(boom);
    assert!(matches!(batch.run(), Err(Error::JobFailed { .. })));
    assert_eq!(batch.state(panics_big), Some(JobState::Done));
    assert_eq!(
        drops.load(Ordering::SeqCst),
        4,
        "the four that ran dropped theirs"
    );
    drop(batch);
    assert_eq!(
        drops.load(Ordering::SeqCst),
        7,
        "the three never started, with the batch"
    );
}

/// A value that counts its drops, as a job's result.
#[derive(Debug)]
struct Counted(#[allow(dead_code)] u8, Arc<AtomicUsize>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.1.fetch_add(1, Ordering::SeqCst);
    }
}

jobgraph::job_output!(Counted);

#[test]
// Timed: under Miri, a thousand times slower, the jobs miss the run's timeout.
#[cfg_attr(miri, ignore)]
fn what_a_job_returns_after_its_run_gave_up_on_it_is_dropped_once_and_never_kept() {
    let drops = Arc::new(AtomicUsize::new(0));
    let returned = Arc::new(AtomicUsize::new(0));
    let mut batch = Batch::new()
        .timeout(Duration::from_millis(50))
        .grace(Duration::from_millis(10));
    let (counter, done) = (drops.clone(), returned.clone());
    // Ignores cancellation: still running when the run gives up on it.
    let stubborn = batch
        .add(move |_| {
            std::thread::sleep(Duration::from_millis(400));
            done.fetch_add(1, Ordering::SeqCst);
            Counted(1, counter)
        })
        .id();
    let kept = batch
        .add({
            let counter = drops.clone();
            move |_| Counted(2, counter)
        })
        .id();
    assert!(matches!(batch.run(), Err(Error::Timeout { .. })));
    assert_eq!(batch.state(stubborn), Some(JobState::Running));
    let late = support::poll_until(Duration::from_secs(20), Duration::from_millis(5), || {
        returned.load(Ordering::SeqCst) == 1 && drops.load(Ordering::SeqCst) == 1
    });
    assert!(
        late,
        "the late value was dropped by the worker that made it"
    );
    assert_eq!(
        batch.state(stubborn),
        Some(JobState::Running),
        "still reported running"
    );
    assert!(batch.result(stubborn).is_err());
    assert_eq!(batch.result(kept).unwrap().0, 2);
    drop(batch);
    assert_eq!(
        drops.load(Ordering::SeqCst),
        2,
        "the kept value with the batch, once"
    );
}

#[test]
fn take_moves_a_value_out_and_the_job_stays_done() {
    let mut batch: Batch<Vec<u8>> = Batch::new();
    let table = batch.add(|_| vec![7u8; 1 << 20]).label("table").id();
    let failed = batch
        .add(|_| Err::<Vec<u8>, _>("no table"))
        .label("failed")
        .critical(false)
        .id();
    assert!(matches!(
        batch.take(table),
        Err(Error::NotDone { state: "idle", .. })
    ));
    assert!(batch.run().unwrap());
    let address = batch.result(table).unwrap().as_ptr();
    let moved = batch.take(table).unwrap();
    assert_eq!((moved.len(), moved.as_ptr()), (1 << 20, address));
    assert_eq!(batch.state(table), Some(JobState::Done));
    let again = batch.take(table).unwrap_err().to_string();
    assert!(again.contains("moved out"), "{again}");
    assert!(batch
        .result(table)
        .unwrap_err()
        .to_string()
        .contains("moved out"));
    assert!(matches!(batch.take(failed), Err(Error::JobFailed { .. })));
    assert_eq!(batch.stats(), "2D + 0R + 0I = 2");
}
