//! Named limits (`Scheduler::limit`, `Job::uses`): at most a limit's worth in use at
//! once on top of the window, several names and amounts per job, taken only when a job
//! is about to start and given back however it ends (done, failed, timed out while its
//! thread runs on, waiting for its next attempt, cancelled), shared with nested
//! schedulers, a job waiting for one holding no worker; and misuse refused before the
//! run. Timing is only ever order and overlap, with sleeps far apart.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use jobgraph::{Backoff, Error, Job, JobState, Scheduler};

/// Bodies in use of each limit now, and the most seen at once.
#[derive(Default)]
struct Gauge {
    now: AtomicUsize,
    most: AtomicUsize,
}

impl Gauge {
    /// Counts `amount` in while `body` runs.
    fn during<T>(&self, amount: usize, body: impl FnOnce() -> T) -> T {
        let now = self.now.fetch_add(amount, Ordering::SeqCst) + amount;
        self.most.fetch_max(now, Ordering::SeqCst);
        let value = body();
        self.now.fetch_sub(amount, Ordering::SeqCst);
        value
    }

    fn most(&self) -> usize {
        self.most.load(Ordering::SeqCst)
    }
}

/// When things happened, on one clock.
#[derive(Default)]
struct Times(Mutex<Vec<(String, Instant)>>);

impl Times {
    fn mark(&self, what: impl Into<String>) {
        self.0.lock().unwrap().push((what.into(), Instant::now()));
    }

    fn at(&self, what: &str) -> Instant {
        let times = self.0.lock().unwrap();
        times
            .iter()
            .find(|(w, _)| w == what)
            .map(|(_, at)| *at)
            .unwrap_or_else(|| panic!("no {what} in {times:?}"))
    }
}

const NAP: Duration = Duration::from_millis(20);
const LONG: Duration = Duration::from_millis(300);

#[test]
fn a_limit_caps_the_jobs_that_use_it_on_top_of_the_window() {
    let gpu = Arc::new(Gauge::default());
    let all = Arc::new(Gauge::default());
    let s = Scheduler::new().window(8).limit("gpu", 2);
    for i in 0..12 {
        let (gpu, all) = (gpu.clone(), all.clone());
        let job = Job::new(move |ctx| {
            all.during(1, || {
                if i % 2 == 0 {
                    gpu.during(1, || ctx.sleep(NAP))
                } else {
                    ctx.sleep(NAP)
                }
            })
        });
        s.add(if i % 2 == 0 { job.uses("gpu", 1) } else { job });
    }
    assert!(s.run().unwrap());
    assert_eq!(gpu.most(), 2, "two of the six gpu jobs at once, never more");
    assert!(all.most() > 2, "jobs without the limit run beside them");
}

#[test]
fn amounts_above_one_and_several_names_are_taken_all_at_once() {
    let gpu = Arc::new(Gauge::default());
    let disk = Arc::new(Gauge::default());
    let s = Scheduler::new().window(8).limit("gpu", 3).limit("disk", 1);
    let mut jobs = Vec::new();
    for i in 0..9 {
        let (gpu, disk) = (gpu.clone(), disk.clone());
        let (g, d) = (1 + i % 3, usize::from(i % 2 == 0));
        let mut job = Job::new(move |ctx| gpu.during(g, || disk.during(d, || ctx.sleep(NAP))))
            .uses("gpu", g as u32);
        if d > 0 {
            job = job.uses("disk", 1);
        }
        jobs.push(job.any());
        s.add(job);
    }
    assert!(s.run().unwrap());
    assert!(gpu.most() <= 3, "gpu in use {}", gpu.most());
    assert_eq!(disk.most(), 1);
    assert_eq!(
        jobs[0].uses_limits(),
        vec![("gpu".to_string(), 1), ("disk".to_string(), 1)]
    );
}

#[test]
fn a_job_waiting_for_a_limit_holds_no_worker() {
    // Window 2: the first gpu job runs, the second waits for the gpu, and the third,
    // which uses none, takes the other worker at once.
    let times = Arc::new(Times::default());
    let s = Scheduler::new().window(2).limit("gpu", 1);
    let mark = |name: &'static str, times: &Arc<Times>| {
        let times = times.clone();
        Job::new(move |ctx| {
            times.mark(format!("{name} start"));
            ctx.sleep(LONG);
            times.mark(format!("{name} end"));
        })
    };
    s.add((
        mark("first", &times).uses("gpu", 1),
        mark("second", &times).uses("gpu", 1),
        mark("free", &times),
    ));
    assert!(s.run().unwrap());
    // Whichever gpu job went first, the other waited for it, and the free job did not.
    let (a, b) = (times.at("first end"), times.at("second end"));
    assert!(times.at("free start") < a.min(b));
    assert!(times.at("second start") >= a || times.at("first start") >= b);
}

#[test]
fn a_job_takes_its_share_only_once_its_requirements_are_done() {
    // The gpu job that waits for a slow requirement does not hold the gpu meanwhile.
    let times = Arc::new(Times::default());
    let s = Scheduler::new().window(4).limit("gpu", 1);
    let slow = {
        let times = times.clone();
        Job::new(move |ctx| {
            ctx.sleep(LONG);
            times.mark("slow end");
        })
    };
    let after = {
        let times = times.clone();
        Job::new(move |_| times.mark("after start"))
            .uses("gpu", 1)
            .requires(&slow)
    };
    let other = {
        let times = times.clone();
        Job::new(move |_| times.mark("other start")).uses("gpu", 1)
    };
    s.add((&slow, &after, &other));
    assert!(s.run().unwrap());
    assert!(times.at("other start") < times.at("slow end"));
    assert!(times.at("after start") >= times.at("slow end"));
}

#[test]
fn a_job_given_up_on_for_its_timeout_gives_its_share_back_while_its_thread_runs_on() {
    let times = Arc::new(Times::default());
    let s = Scheduler::new()
        .window(4)
        .limit("gpu", 1)
        .grace(Duration::from_millis(10));
    let deaf = {
        let times = times.clone();
        Job::new(move |_| {
            // Deaf to its cancellation.
            std::thread::sleep(LONG);
            times.mark("deaf end");
        })
        .uses("gpu", 1)
        .timeout(NAP)
        .critical(false)
    };
    let next = {
        let times = times.clone();
        Job::new(move |_| times.mark("next start")).uses("gpu", 1)
    };
    s.add((&deaf, &next));
    assert!(s.run().unwrap());
    assert!(deaf.is_timed_out());
    assert_eq!(next.state(), JobState::Done);
    let deadline = Instant::now() + Duration::from_secs(20);
    while deaf.is_running() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(times.at("next start") < times.at("deaf end"));
}

#[test]
fn a_failed_attempt_waiting_for_its_retry_and_a_failure_give_the_share_back() {
    let times = Arc::new(Times::default());
    let s = Scheduler::new().window(4).limit("gpu", 1);
    let flaky = {
        let times = times.clone();
        let mut calls = 0;
        Job::new_mut(move |_| {
            calls += 1;
            times.mark(format!("flaky {calls}"));
            if calls == 1 {
                Err("first attempt fails".to_string())
            } else {
                Ok(calls)
            }
        })
        .uses("gpu", 1)
        .retries(1)
        .backoff(Backoff::fixed(LONG))
    };
    let failing = Job::new(|_| Err::<(), _>("fails".to_string()))
        .uses("gpu", 1)
        .critical(false);
    // Starts once the flaky job's first attempt has long been over.
    let gate = Job::new(|ctx| ctx.sleep(LONG / 3));
    let other = {
        let times = times.clone();
        Job::new(move |_| times.mark("other"))
            .uses("gpu", 1)
            .requires(&gate)
    };
    s.add((&flaky, &failing, &gate, &other));
    assert!(s.run().unwrap());
    assert_eq!(flaky.result().ok(), Some(&2));
    assert!(failing.raised_exception().is_some());
    // The other job ran in the wait between the flaky job's attempts.
    assert!(times.at("flaky 1") < times.at("other"));
    assert!(times.at("other") < times.at("flaky 2"));
}

#[test]
fn nested_schedulers_share_their_parents_limits() {
    let gpu = Arc::new(Gauge::default());
    let user = |gpu: &Arc<Gauge>| {
        let gpu = gpu.clone();
        Job::new(move |ctx| gpu.during(1, || ctx.sleep(NAP))).uses("gpu", 1)
    };
    let inner = Scheduler::new().window(4);
    inner.add((user(&gpu), user(&gpu), user(&gpu)));
    let outer = Scheduler::new().window(4).limit("gpu", 1);
    outer.add((user(&gpu), user(&gpu), inner.clone()));
    assert!(outer.run().unwrap());
    assert_eq!(gpu.most(), 1);
    assert!(inner.is_done());
}

#[test]
fn a_nested_scheduler_may_define_a_limit_of_its_own_with_the_same_name() {
    let gpu = Arc::new(Gauge::default());
    let user = |gpu: &Arc<Gauge>| {
        let gpu = gpu.clone();
        Job::new(move |ctx| gpu.during(1, || ctx.sleep(NAP))).uses("gpu", 1)
    };
    let inner = Scheduler::new().window(4).limit("gpu", 2);
    inner.add((user(&gpu), user(&gpu), user(&gpu)));
    let outer = Scheduler::new().window(4).limit("gpu", 1);
    outer.add(inner.clone());
    assert!(outer.run().unwrap());
    assert!(gpu.most() <= 2);
}

#[test]
fn a_run_that_ends_with_jobs_waiting_for_a_limit_ends_at_once_and_they_never_start() {
    let s = Scheduler::new().window(4).limit("gpu", 1);
    let holder = Job::new(|ctx| {
        ctx.sleep(LONG);
        Err::<(), _>("the critical holder fails".to_string())
    })
    .uses("gpu", 1);
    // They come to the gpu once the holder has long had it.
    let gate = Job::new(|ctx| ctx.sleep(LONG / 3)).critical(false);
    let waiting: Vec<Job<()>> = (0..3)
        .map(|_| {
            Job::new(|_| ())
                .uses("gpu", 1)
                .critical(false)
                .requires(&gate)
        })
        .collect();
    s.add((&holder, &gate));
    for job in &waiting {
        s.add(job);
    }
    let start = Instant::now();
    assert!(matches!(s.run(), Err(Error::JobFailed { .. })));
    assert!(start.elapsed() < Duration::from_secs(20));
    for job in &waiting {
        assert!(!job.is_done(), "a waiting job started after the run ended");
    }
    let s = Scheduler::new()
        .window(4)
        .limit("gpu", 1)
        .timeout(Duration::from_millis(100));
    s.add(Job::new(|ctx| ctx.sleep(Duration::from_secs(60))).uses("gpu", 1));
    s.add(Job::new(|_| ()).uses("gpu", 1));
    let start = Instant::now();
    assert!(matches!(s.run(), Err(Error::Timeout { .. })));
    assert!(start.elapsed() < Duration::from_secs(20));
}

#[test]
fn misused_limits_are_refused_before_anything_runs() {
    let ran = Arc::new(AtomicUsize::new(0));
    let counted = |ran: &Arc<AtomicUsize>| {
        let ran = ran.clone();
        Job::new(move |_| ran.fetch_add(1, Ordering::SeqCst))
    };
    let problem = |s: &Scheduler| match s.run() {
        Err(Error::Policy { problem, .. }) => problem,
        Err(Error::Limit { problem, .. }) => problem,
        other => panic!("not refused: {other:?}"),
    };

    let s = Scheduler::new();
    s.add((counted(&ran), counted(&ran).uses("gpu", 1)));
    assert!(problem(&s).contains("no scheduler around it defines"));

    let s = Scheduler::new().limit("gpu", 2);
    s.add((counted(&ran), counted(&ran).uses("gpu", 3)));
    let text = problem(&s);
    assert!(
        text.contains("3 of `gpu`") && text.contains("limit is 2"),
        "{text}"
    );

    let s = Scheduler::new().limit("gpu", 2);
    s.add(counted(&ran).uses("gpu", 0));
    assert!(problem(&s).contains("at least 1"));

    let s = Scheduler::new().limit("gpu", 0);
    s.add(counted(&ran));
    assert!(problem(&s).contains("is 0"));

    let s = Scheduler::new().limit("gpu", 1);
    s.add((
        counted(&ran),
        Job::new(|ctx| ctx.sleep(Duration::from_secs(60)))
            .forever(true)
            .uses("gpu", 1),
    ));
    assert!(problem(&s).contains("forever job"));

    // A nested scheduler that holds the only gpu while its own jobs want one.
    let inner = Scheduler::new().label("inner");
    inner.add(counted(&ran).uses("gpu", 1));
    inner.any().set_uses("gpu", 1);
    let outer = Scheduler::new().limit("gpu", 1);
    outer.add((counted(&ran), &inner));
    let text = problem(&outer);
    assert!(text.contains("inside `inner`"), "{text}");

    assert_eq!(ran.load(Ordering::SeqCst), 0, "nothing ran");
}

#[test]
fn a_batch_keeps_its_own_limits_run_after_run_and_refuses_their_misuse() {
    let gpu = Arc::new(Gauge::default());
    let mut batch = jobgraph::Batch::new().window(8).limit("gpu", 2);
    for _ in 0..8 {
        let gpu = gpu.clone();
        batch
            .add_mut(move |ctx| gpu.during(1, || ctx.sleep(NAP)))
            .uses("gpu", 1);
    }
    assert!(batch.run().unwrap());
    assert!(batch.run().unwrap(), "it runs again with the same limit");
    assert_eq!(gpu.most(), 2);

    let mut batch = jobgraph::Batch::new().label("b");
    batch.add(|_| ()).uses("gpu", 1);
    assert!(
        matches!(batch.run(), Err(Error::Policy { problem, .. }) if problem.contains("no scheduler around it defines"))
    );
    let mut batch = jobgraph::Batch::new().label("b").limit("gpu", 0);
    batch.add(|_| ()).uses("gpu", 1);
    let error = batch.run().unwrap_err().to_string();
    assert!(
        error.starts_with("batch `b` cannot run") && error.contains("is 0"),
        "{error}"
    );
}
