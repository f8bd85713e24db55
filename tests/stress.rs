//! Random graphs, run for real: random sleeps, errors, panics, slow (and, when
//! enabled, panicking) `Drop`s of what jobs return, critical and non-critical jobs,
//! forever jobs, timeouts, nested schedulers and batches, windows 1 to 4. Each case
//! checks what must hold whatever the interleaving: no job runs twice, none before
//! its requirements, none after a critical failure of one it requires, the window is
//! never exceeded, `run()` returns within the timeout plus the grace plus a wide
//! margin, a run that succeeds had every job return before its deadline, and, where
//! the outcome does not depend on timing, it is the one a sequential reading of the
//! graph gives.
//!
//! A watchdog runs each case on a thread of its own and fails, naming the case's seed,
//! when it does not end in time, instead of hanging. A fixed list of seeds runs each
//! time; to replay one, or to try others:
//!
//! ```sh
//! JOBGRAPH_STRESS_SEED=12345 cargo test --release --test stress
//! JOBGRAPH_STRESS_CASES=500 cargo test --release --test stress   # more seeds
//! ```

mod support;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use jobgraph::{AnyJob, Batch, Context, Error, Job, Scheduler};

/// Cases per run when no seed is given: the CI figure.
const CASES: u64 = 200;
/// How long one case may take before the watchdog fails it.
const WATCHDOG: Duration = Duration::from_secs(20);
/// Slack over timeout + grace for `run()` to return, on a shared, noisy machine.
const MARGIN: Duration = Duration::from_secs(3);
/// Whether jobs may return values whose `Drop` panics: a value not kept is dropped on
/// the job's own thread, its panic caught (see RELIABILITY.md).
const PANICKING_DROPS: bool = true;
/// The grace the runs get for jobs that ignore cancellation.
const GRACE: Duration = Duration::from_millis(20);

/// xorshift64*: small, seeded, the same everywhere.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        // Never zero, and nearby seeds give unrelated streams.
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// In `lo..=hi`.
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }

    /// True with probability `percent` / 100.
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

/// What a job does.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    /// Sleeps, heeding cancellation or not, and returns its value.
    Ok { micros: u64, heeds: bool },
    /// Returns an error.
    Fails,
    /// Panics.
    Panics,
    /// Runs until cancelled; never required.
    Forever,
    /// Runs a batch of `jobs` small jobs inside itself (`Batch::run_within`).
    NestedBatch { jobs: u64 },
    /// Is a scheduler of a chain of `jobs` small jobs, nested in the run.
    NestedScheduler { jobs: u64 },
}

impl Kind {
    fn fails(self) -> bool {
        matches!(self, Kind::Fails | Kind::Panics)
    }
}

/// How the value a job returns is dropped.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Dropping {
    Plain,
    Slow,
    Panics,
}

/// What a job returns: which job it was, and how it drops.
#[derive(Debug)]
struct Payload {
    job: usize,
    dropping: Dropping,
}

impl Drop for Payload {
    fn drop(&mut self) {
        match self.dropping {
            Dropping::Plain => {}
            Dropping::Slow => std::thread::sleep(Duration::from_millis(1)),
            // On jobgraph's threads only: what the engine drops must not hurt it; what
            // the test drops itself, at the end, two at a time, would abort.
            Dropping::Panics if on_jobgraph_thread() => panic!("stress: a payload's drop panics"),
            Dropping::Panics => {}
        }
    }
}

fn on_jobgraph_thread() -> bool {
    std::thread::current()
        .name()
        .is_some_and(|name| name.starts_with("jobgraph"))
}

/// One random case.
#[derive(Debug)]
struct Case {
    window: usize,
    critical: bool,
    timeout: Option<Duration>,
    kinds: Vec<Kind>,
    critical_jobs: Vec<bool>,
    dropping: Vec<Dropping>,
    /// Job `i`'s requirements, all earlier jobs that are not forever.
    requires: Vec<Vec<usize>>,
}

impl Case {
    fn new(seed: u64) -> Case {
        let mut rng = Rng::new(seed);
        let n = rng.range(10, 200) as usize;
        let window = rng.range(1, 4) as usize;
        let mut forever_left = window - 1;
        let kinds: Vec<Kind> = (0..n)
            .map(|_| match rng.range(0, 99) {
                0..=69 => Kind::Ok {
                    micros: rng.range(0, 2000),
                    heeds: rng.chance(70),
                },
                70..=79 => Kind::Fails,
                80..=86 => Kind::Panics,
                87..=90 if forever_left > 0 => {
                    forever_left -= 1;
                    Kind::Forever
                }
                87..=94 => Kind::NestedBatch {
                    jobs: rng.range(1, 8),
                },
                _ => Kind::NestedScheduler {
                    jobs: rng.range(1, 5),
                },
            })
            .collect();
        // Failing jobs are critical now and then; others at random (it matters not).
        let critical_jobs = kinds
            .iter()
            .map(|k| rng.chance(if k.fails() { 3 } else { 50 }))
            .collect();
        let dropping = (0..n)
            .map(|_| match rng.range(0, 99) {
                0..=9 => Dropping::Slow,
                10..=14 if PANICKING_DROPS => Dropping::Panics,
                _ => Dropping::Plain,
            })
            .collect();
        let density = rng.range(1, 30);
        let requires = (0..n)
            .map(|i| {
                (i.saturating_sub(20)..i)
                    .filter(|&j| kinds[j] != Kind::Forever && rng.chance(density))
                    .collect()
            })
            .collect();
        Case {
            window,
            critical: rng.chance(50),
            timeout: rng
                .chance(30)
                .then(|| Duration::from_millis(rng.range(5, 60))),
            kinds,
            critical_jobs,
            dropping,
            requires,
        }
    }
}

/// What the jobs of a run record, shared with them.
#[derive(Default)]
struct Record {
    /// `(job, started, when)` in the order they happened.
    log: Mutex<Vec<(usize, bool, Instant)>>,
    running: AtomicUsize,
    most: AtomicUsize,
}

impl Record {
    fn start(&self, job: usize) {
        self.log.lock().unwrap().push((job, true, Instant::now()));
        let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
        self.most.fetch_max(now, Ordering::SeqCst);
    }

    fn end(&self, job: usize) {
        self.running.fetch_sub(1, Ordering::SeqCst);
        self.log.lock().unwrap().push((job, false, Instant::now()));
    }
}

/// Sleeps `micros`, heeding cancellation or not.
fn nap(ctx: &Context<'_>, micros: u64, heeds: bool) {
    let d = Duration::from_micros(micros);
    if heeds {
        ctx.sleep(d);
    } else {
        std::thread::sleep(d);
    }
}

/// The job body of job `i` of `case`, for the kinds that are closures.
fn body(
    case: &Case,
    i: usize,
    record: &Arc<Record>,
) -> impl FnOnce(&Context<'_>) -> Result<Payload, String> + Send + 'static {
    let (kind, dropping, record) = (case.kinds[i], case.dropping[i], record.clone());
    move |ctx| {
        record.start(i);
        let outcome = match kind {
            Kind::Ok { micros, heeds } => {
                nap(ctx, micros, heeds);
                Ok(())
            }
            Kind::Fails => Err(format!("job {i} fails")),
            Kind::Panics => {
                record.end(i);
                panic!("stress: job {i} panics");
            }
            Kind::Forever => {
                while ctx.sleep(Duration::from_millis(1)) {}
                Ok(())
            }
            Kind::NestedBatch { jobs } => {
                let mut batch = Batch::<u64>::new().window(2);
                let mut last = None;
                for k in 0..jobs {
                    let job = batch.add(move |ctx: &Context<'_>| {
                        ctx.sleep(Duration::from_micros(200));
                        k
                    });
                    last = Some(job.requires_all(last).id());
                }
                match batch.run_within(ctx) {
                    Ok(true) => Ok(()),
                    Ok(false) => Err(format!("job {i}'s batch did not complete")),
                    Err(error) => Err(error.to_string()),
                }
            }
            Kind::NestedScheduler { .. } => unreachable!("a scheduler, not a closure"),
        };
        record.end(i);
        outcome.map(|()| Payload { job: i, dropping })
    }
}

/// A nested scheduler for job `i`: a chain whose first job records the start of `i`
/// and whose last records its end.
fn nested(case: &Case, i: usize, record: &Arc<Record>) -> Scheduler {
    let Kind::NestedScheduler { jobs } = case.kinds[i] else {
        unreachable!()
    };
    let scheduler = Scheduler::new()
        .label(format!("nested {i}"))
        .window(2)
        .grace(GRACE)
        .critical(case.critical_jobs[i]);
    let mut previous: Option<AnyJob> = None;
    for k in 0..jobs {
        let record = record.clone();
        let job = Job::new(move |ctx: &Context<'_>| {
            if k == 0 {
                record.start(i);
            }
            ctx.sleep(Duration::from_micros(300));
            if k == jobs - 1 {
                record.end(i);
            }
        })
        .requires(previous.take());
        previous = Some(job.any());
        scheduler.add(&job);
    }
    scheduler
}

/// Runs `case` and checks it; panics with what went wrong.
fn check(case: &Case) {
    let record = Arc::new(Record::default());
    let scheduler = Scheduler::new()
        .window(case.window)
        .critical(case.critical)
        .grace(GRACE);
    let scheduler = match case.timeout {
        Some(t) => scheduler.timeout(t),
        None => scheduler,
    };
    let n = case.kinds.len();
    let mut handles: Vec<AnyJob> = Vec::with_capacity(n);
    let mut typed: HashMap<usize, Job<Payload>> = HashMap::new();
    for i in 0..n {
        let requires: Vec<AnyJob> = case.requires[i]
            .iter()
            .map(|&r| handles[r].clone())
            .collect();
        let handle = match case.kinds[i] {
            Kind::NestedScheduler { .. } => {
                let inner = nested(case, i, &record).requires(requires);
                scheduler.add(&inner);
                inner.any()
            }
            kind => {
                let job = Job::new(body(case, i, &record))
                    .label(format!("{i}"))
                    .critical(case.critical_jobs[i])
                    .forever(kind == Kind::Forever)
                    .requires(requires);
                scheduler.add(&job);
                typed.insert(i, job.clone());
                job.any()
            }
        };
        handles.push(handle);
    }

    let start = Instant::now();
    let result = scheduler.run();
    let took = start.elapsed();

    // The log: each job starts once, after all it requires ended, and none after a
    // critical failure of a job it requires.
    let log = record.log.lock().unwrap().clone();
    let mut started = vec![0; n];
    let mut ended = vec![false; n];
    for &(job, start, _) in &log {
        if start {
            started[job] += 1;
            assert_eq!(started[job], 1, "job {job} started twice");
            for &r in &case.requires[job] {
                assert!(
                    ended[r],
                    "job {job} started before job {r}, which it requires, ended"
                );
                assert!(
                    !(case.kinds[r].fails() && case.critical_jobs[r]),
                    "job {job} started after job {r}, which it requires, failed critically"
                );
            }
        } else {
            ended[job] = true;
        }
    }
    let most = record.most.load(Ordering::SeqCst);
    assert!(
        most <= case.window,
        "{most} jobs ran at once in a window of {}",
        case.window
    );

    // A run that succeeded ended in time: every job (but the forever ones, stopped once
    // the rest is done) returned before the deadline. The deadline is counted from a
    // moment before the first job started, so the first start plus the timeout is no
    // earlier than the deadline: a job that ended after that ended late.
    let completed = matches!(result, Ok(true));
    let first_start = log
        .iter()
        .filter(|entry| entry.1)
        .map(|entry| entry.2)
        .min();
    if let (true, Some(timeout), Some(first_start)) = (completed, case.timeout, first_start) {
        for &(job, start, at) in &log {
            if !start && case.kinds[job] != Kind::Forever {
                assert!(
                    at < first_start + timeout,
                    "job {job} returned {:?} after the deadline, and the run succeeded",
                    at - (first_start + timeout)
                );
            }
        }
    }

    if let Some(timeout) = case.timeout {
        assert!(
            took <= timeout + GRACE + MARGIN,
            "run() took {took:?} with a timeout of {timeout:?}"
        );
    }

    // What does not depend on timing: without a timeout, the run ends in a failure
    // when a critical job fails (some critical failure always happens: the first of
    // them in a sequential order has all it requires done), and in full success
    // otherwise, every job but the forever ones having run once.
    let critical_fails = (0..n).any(|i| case.kinds[i].fails() && case.critical_jobs[i]);
    let ending = match (completed, scheduler.failed_time_out().is_some()) {
        (true, _) => 0,
        (false, false) => 1,
        (false, true) => 2,
    };
    ENDINGS[ending].fetch_add(1, Ordering::Relaxed);
    if let (2, Some(timeout)) = (ending, case.timeout) {
        let late = took.saturating_sub(timeout).as_micros() as u64;
        LATEST.fetch_max(late, Ordering::Relaxed);
    }
    if case.timeout.is_none() {
        if critical_fails {
            match &result {
                Ok(ok) => assert!(!ok && !case.critical, "{result:?} after a critical failure"),
                Err(Error::Timeout { .. }) => panic!("a timeout without one"),
                Err(_) => assert!(case.critical),
            }
        } else {
            assert!(completed, "{result:?} where every critical job succeeds");
        }
    }
    if completed {
        for (i, (&kind, &starts)) in case.kinds.iter().zip(&started).enumerate() {
            if kind == Kind::Forever {
                continue;
            }
            assert_eq!(starts, 1, "job {i} never ran in a run that completed");
            if let Some(job) = typed.get(&i) {
                match kind {
                    Kind::Fails | Kind::Panics => {
                        assert!(job.raised_exception().is_some(), "job {i} did not fail")
                    }
                    _ => assert_eq!(job.result().map(|p| p.job).ok(), Some(i)),
                }
            }
        }
    } else if case.timeout.is_some() && !critical_fails {
        assert!(
            scheduler.failed_time_out().is_some(),
            "{result:?} with no critical failure and no timeout reached"
        );
    }
}

/// How the cases ended, for the closing line: completed, failed, timed out.
static ENDINGS: [AtomicUsize; 3] = [
    AtomicUsize::new(0),
    AtomicUsize::new(0),
    AtomicUsize::new(0),
];

/// The most a timed-out run returned after its timeout, in microseconds.
static LATEST: AtomicU64 = AtomicU64::new(0);

/// Runs `check(case)` on a thread of its own; fails, naming the seed, when it panics
/// or does not end within the watchdog's bound.
fn watched(seed: u64) {
    let case = Case::new(seed);
    let (done, finished) = mpsc::channel();
    let summary = format!(
        "{} jobs, window {}, timeout {:?}",
        case.kinds.len(),
        case.window,
        case.timeout
    );
    std::thread::Builder::new()
        .name(format!("stress case {seed}"))
        .spawn(move || {
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| check(&case)));
            let _ = done.send(outcome.err().map(|panic| {
                panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default()
            }));
        })
        .expect("a thread for the case");
    let replay = format!("replay: JOBGRAPH_STRESS_SEED={seed} cargo test --release --test stress");
    match finished.recv_timeout(WATCHDOG) {
        Ok(None) => {}
        Ok(Some(why)) => panic!("stress case {seed} ({summary}) failed: {why}\n{replay}"),
        Err(_) => {
            panic!("stress case {seed} ({summary}) did not end within {WATCHDOG:?}\n{replay}")
        }
    }
}

#[test]
fn random_graphs_keep_their_invariants_under_faults() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    support::quiet_job_panics();
    let seeds: Vec<u64> = match std::env::var("JOBGRAPH_STRESS_SEED") {
        Ok(seed) => vec![seed.parse().expect("JOBGRAPH_STRESS_SEED is a number")],
        Err(_) => {
            let cases = std::env::var("JOBGRAPH_STRESS_CASES")
                .ok()
                .and_then(|c| c.parse().ok())
                .unwrap_or(CASES);
            (1..=cases).collect()
        }
    };
    let start = Instant::now();
    for &seed in &seeds {
        watched(seed);
    }
    let [completed, failed, timed_out] = ENDINGS.each_ref().map(|e| e.load(Ordering::Relaxed));
    println!(
        "stress: {} cases in {:.1?}: {completed} completed, {failed} failed, {timed_out} timed \
         out (returning at most {:.1?} after the timeout)",
        seeds.len(),
        start.elapsed(),
        Duration::from_micros(LATEST.load(Ordering::Relaxed)),
    );
}

/// The tests of this file one at a time: the loaded-machine case keeps the CPUs busy.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Runs, on a machine kept busy, of a job that ignores cancellation and returns after
/// the timeout: alternately a scheduler's and a batch's. None may succeed, nor keep
/// the late job's value, however late the coordinator wakes (on a busy machine it
/// sometimes wakes after the job has returned: before, about one run in a hundred
/// succeeded so).
#[test]
fn a_job_that_returns_after_the_deadline_never_makes_a_loaded_run_succeed() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    const RUNS: usize = 200;
    const TIMEOUT: Duration = Duration::from_millis(20);
    const RETURNS_AFTER: Duration = Duration::from_millis(30);
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let cpus = std::thread::available_parallelism().map_or(2, |n| n.get());
    let busy: Vec<_> = (0..2 * cpus)
        .map(|_| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut x = 1u64;
                while !stop.load(Ordering::Relaxed) {
                    x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
                }
            })
        })
        .collect();
    let mut succeeded = Vec::new();
    for run in 0..RUNS {
        let late_sleep = move || {
            std::thread::sleep(RETURNS_AFTER); // ignores cancellation
            7u32
        };
        let (result, kept) = if run % 2 == 0 {
            let s = Scheduler::new().timeout(TIMEOUT);
            let job = Job::new(move |_| late_sleep());
            s.add(&job);
            let result = s.run();
            (result, job.result().is_ok())
        } else {
            let mut batch = Batch::new().timeout(TIMEOUT);
            let job = batch.add(move |_| late_sleep()).id();
            let result = batch.run();
            let kept = batch.result(job).is_ok();
            (result, kept)
        };
        if !matches!(result, Err(Error::Timeout { .. })) || kept {
            succeeded.push((run, format!("{result:?}, value kept: {kept}")));
        }
    }
    stop.store(true, Ordering::Relaxed);
    for thread in busy {
        thread.join().unwrap();
    }
    assert!(
        succeeded.is_empty(),
        "runs (even: a scheduler's, odd: a batch's) where a job that returned after the \
         deadline made the run succeed or kept its value: {succeeded:?}"
    );
}
