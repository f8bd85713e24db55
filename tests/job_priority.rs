//! Job priorities and longest-path-first order (`Job::priority`, `Job::cost`,
//! `Scheduler::longest_path_first`): at window 1 ready jobs start exactly in rank
//! order, ties keep insertion order, the default order is unchanged, and misuse is
//! refused before anything runs. Order only, never speed.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use jobgraph::{Batch, Error, Job, JobId, Scheduler};

/// The order jobs start in.
#[derive(Clone, Default)]
struct Log(Arc<Mutex<Vec<&'static str>>>);

impl Log {
    fn job(&self, name: &'static str) -> Job<()> {
        let log = self.0.clone();
        Job::new(move |_| log.lock().unwrap().push(name)).label(name)
    }

    fn order(&self) -> Vec<&'static str> {
        self.0.lock().unwrap().clone()
    }
}

#[test]
fn at_window_1_jobs_start_in_priority_order() {
    let log = Log::default();
    let s = Scheduler::new().window(1);
    s.add(log.job("zero"))
        .add(log.job("three").priority(3))
        .add(log.job("minus").priority(-1))
        .add(log.job("seven").priority(7))
        .add(log.job("three again").priority(3));
    assert!(s.run().unwrap());
    assert_eq!(
        log.order(),
        ["seven", "three", "three again", "zero", "minus"]
    );
}

#[test]
fn a_released_job_of_higher_priority_goes_before_jobs_that_waited() {
    let log = Log::default();
    let first = log.job("first").priority(10);
    let urgent = log.job("urgent").priority(5).requires(&first);
    let s = Scheduler::new().window(1);
    s.add(&first)
        .add(log.job("waiting a"))
        .add(log.job("waiting b"))
        .add(&urgent);
    assert!(s.run().unwrap());
    assert_eq!(log.order(), ["first", "urgent", "waiting a", "waiting b"]);
}

#[test]
fn without_priorities_the_longest_path_by_count_goes_first() {
    let log = Log::default();
    // A lone job, then a chain of three, then a chain of two: longest first.
    let lone = log.job("lone");
    let c1 = log.job("c1");
    let c2 = log.job("c2").requires(&c1);
    let c3 = log.job("c3").requires(&c2);
    let d1 = log.job("d1");
    let d2 = log.job("d2").requires(&d1);
    let s = Scheduler::new().window(1).longest_path_first(true);
    s.add((&lone, &c1, &c2, &c3, &d1, &d2));
    assert!(s.run().unwrap());
    // c1 (path 3); then c2 ties d1 (path 2): c2 was added first; then lone, c3 and d2
    // tie (path 1), in the order they were added.
    assert_eq!(log.order(), ["c1", "c2", "d1", "lone", "c3", "d2"]);
}

#[test]
fn a_cost_hint_makes_a_path_longer() {
    let log = Log::default();
    let short_chain = log.job("a1");
    let short_end = log.job("a2").requires(&short_chain);
    let heavy = log.job("heavy").cost(10.0);
    let light = log.job("light").cost(0.5);
    let s = Scheduler::new().window(1);
    s.add((&short_chain, &short_end, &light, &heavy));
    assert!(s.run().unwrap());
    // Paths: heavy 10, a1 2, a2 1, light 0.5.
    assert_eq!(log.order(), ["heavy", "a1", "a2", "light"]);
}

#[test]
fn a_cost_counts_along_the_whole_path() {
    let log = Log::default();
    // b1 is short but leads to a long job: its path is the longest.
    let b1 = log.job("b1");
    let b2 = log.job("b2").cost(5.0).requires(&b1);
    let alone = log.job("alone").cost(3.0);
    let s = Scheduler::new().window(1);
    s.add((&alone, &b1, &b2));
    assert!(s.run().unwrap());
    assert_eq!(log.order(), ["b1", "b2", "alone"]);
}

#[test]
fn priority_goes_before_path_length() {
    let log = Log::default();
    let c1 = log.job("c1");
    let c2 = log.job("c2").requires(&c1);
    let c3 = log.job("c3").requires(&c2);
    let s = Scheduler::new().window(1);
    s.add((&c1, &c2, &c3, &log.job("urgent").priority(1)));
    assert!(s.run().unwrap());
    assert_eq!(log.order(), ["urgent", "c1", "c2", "c3"]);
}

#[test]
fn ties_keep_insertion_order() {
    let log = Log::default();
    let s = Scheduler::new().window(1).longest_path_first(true);
    let names = ["j0", "j1", "j2", "j3", "j4", "j5", "j6", "j7"];
    for name in names {
        s.add(log.job(name).priority(2));
    }
    assert!(s.run().unwrap());
    assert_eq!(log.order(), names);
}

#[test]
fn the_default_order_is_first_ready_first_started() {
    let log = Log::default();
    // The same graph as the longest-path test: without ranking, insertion order among
    // the entry jobs, and a released job runs next on the worker that released it.
    let lone = log.job("lone");
    let c1 = log.job("c1");
    let c2 = log.job("c2").requires(&c1);
    let c3 = log.job("c3").requires(&c2);
    let d1 = log.job("d1");
    let d2 = log.job("d2").requires(&d1);
    let s = Scheduler::new().window(1);
    s.add((&lone, &c1, &c2, &c3, &d1, &d2));
    assert!(s.run().unwrap());
    assert_eq!(log.order(), ["lone", "c1", "c2", "c3", "d1", "d2"]);
}

#[test]
fn a_ranked_run_with_a_wide_window_runs_every_job_after_its_requirements() {
    let ended = Arc::new(Mutex::new(Vec::new()));
    let s = Scheduler::new().window(4).longest_path_first(true);
    let mut jobs: Vec<Job<usize>> = Vec::new();
    for i in 0..200usize {
        let ended = ended.clone();
        let job = Job::new(move |_| {
            ended.lock().unwrap().push(i);
            i
        })
        .priority((i % 3) as i32);
        // Each job requires up to two earlier ones.
        let job = match i {
            0 => job,
            1 => job.requires(&jobs[0]),
            _ => job.requires((&jobs[i / 2], &jobs[i - 1])),
        };
        jobs.push(job);
    }
    for job in &jobs {
        s.add(job);
    }
    assert!(s.run().unwrap());
    let ended = ended.lock().unwrap();
    assert_eq!(ended.len(), 200);
    let at: Vec<usize> = (0..200)
        .map(|i| ended.iter().position(|&j| j == i).unwrap())
        .collect();
    for i in 2..200 {
        assert!(at[i / 2] < at[i] && at[i - 1] < at[i], "{i} ran too early");
    }
}

#[test]
fn a_ranked_job_is_retried_and_timed_out_as_any_other() {
    let tries = Arc::new(Mutex::new(0));
    let flaky = {
        let tries = tries.clone();
        Job::new_mut(move |_| {
            let mut tries = tries.lock().unwrap();
            *tries += 1;
            if *tries < 3 {
                Err("not yet")
            } else {
                Ok("done")
            }
        })
        .retries(5)
        .priority(1)
    };
    let slow = Job::new(|ctx| ctx.sleep(Duration::from_secs(60)))
        .timeout(Duration::from_millis(20))
        .critical(false)
        .cost(2.0);
    let after = Job::new(|_| "after").requires(&slow);
    let s = Scheduler::new().window(2);
    s.add((&flaky, &slow, &after));
    assert!(s.run().unwrap());
    assert_eq!(*flaky.result().unwrap(), "done");
    assert_eq!(flaky.attempts(), 3);
    assert!(slow.is_timed_out());
    assert_eq!(*after.result().unwrap(), "after");
}

#[test]
fn setters_on_any_job_read_back() {
    let job = Job::new(|_| ()).priority(4).cost(2.5);
    assert_eq!(job.any().priority(), 4);
    assert_eq!(job.any().cost_hint(), Some(2.5));
    job.set_priority(0).set_cost(None);
    assert_eq!(job.any().priority(), 0);
    assert_eq!(job.any().cost_hint(), None);
}

fn refused(job: Job<()>) -> String {
    let s = Scheduler::new();
    s.add(job.label("bad"));
    match s.run() {
        Err(Error::Policy { job, problem }) => {
            assert_eq!(job, "bad");
            problem
        }
        other => panic!("expected a policy error, got {other:?}"),
    }
}

#[test]
fn a_cost_that_is_not_finite_or_negative_is_refused_before_the_run() {
    for cost in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, -1.0] {
        let problem = refused(Job::new(|_| -> () { panic!("must not run") }).cost(cost));
        assert!(
            problem.contains("give a finite cost of at least 0"),
            "{problem}"
        );
    }
}

#[test]
fn a_priority_or_cost_on_a_forever_job_is_refused_before_the_run() {
    let problem = refused(Job::new(|_| ()).forever(true).priority(2));
    assert!(problem.contains("forever(false)"), "{problem}");
    let problem = refused(Job::new(|_| ()).forever(true).cost(2.0));
    assert!(
        problem.contains("remove its priority() and cost()"),
        "{problem}"
    );
}

/// A batch job that logs its name each time it runs.
fn logged(batch: &mut Batch<()>, log: &Log, name: &'static str, sleep: Duration) -> JobId {
    let log = log.0.clone();
    batch
        .add_mut(move |_| {
            std::thread::sleep(sleep);
            log.lock().unwrap().push(name);
        })
        .label(name)
        .id()
}

#[test]
fn a_batch_starts_its_jobs_in_priority_order() {
    let log = Log::default();
    let mut batch = Batch::new().window(1);
    let low = logged(&mut batch, &log, "low", Duration::ZERO);
    let high = logged(&mut batch, &log, "high", Duration::ZERO);
    batch.job(high).unwrap().priority(3);
    batch.job(low).unwrap().priority(-3);
    logged(&mut batch, &log, "zero", Duration::ZERO);
    assert!(batch.run().unwrap());
    assert_eq!(log.order(), ["high", "zero", "low"]);
}

#[test]
fn a_batch_run_again_ranks_by_the_times_of_its_last_run() {
    let log = Log::default();
    let mut batch = Batch::new().window(1).longest_path_first(true);
    // By count, the chain a1 -> a2 is longest; once measured, the lone slow job is.
    logged(&mut batch, &log, "slow", Duration::from_millis(30));
    let a1 = logged(&mut batch, &log, "a1", Duration::ZERO);
    let a2 = logged(&mut batch, &log, "a2", Duration::ZERO);
    batch.job(a2).unwrap().requires(a1);
    assert!(batch.run().unwrap());
    assert_eq!(log.order(), ["a1", "slow", "a2"]);
    log.0.lock().unwrap().clear();
    assert!(batch.run().unwrap());
    assert_eq!(log.order(), ["slow", "a1", "a2"]);
}

#[test]
fn a_batch_refuses_a_bad_cost_before_the_run() {
    let mut batch: Batch<()> = Batch::new();
    batch
        .add(|_| -> () { panic!("must not run") })
        .label("bad")
        .cost(-0.5);
    match batch.run() {
        Err(Error::Policy { job, problem }) => {
            assert_eq!(job, "bad");
            assert!(problem.contains("finite cost of at least 0"), "{problem}");
        }
        other => panic!("expected a policy error, got {other:?}"),
    }
}

#[test]
fn the_detailed_listing_shows_a_priority_and_a_cost() {
    let s = Scheduler::new();
    s.add(Job::new(|_| ()).label("ranked").priority(2).cost(1.5))
        .add(Job::new(|_| ()).label("plain"));
    let text = s.list().details().to_string();
    assert!(text.contains("priority 2, cost 1.5"), "{text}");
    assert_eq!(text.matches("priority").count(), 1, "{text}");
}

#[test]
fn the_longest_path_is_found_whatever_order_the_jobs_were_added_in() {
    let log = Log::default();
    // The chain's jobs added last first: insertion order is not a topological order.
    let c1 = log.job("c1");
    let c2 = log.job("c2").requires(&c1);
    let c3 = log.job("c3").requires(&c2);
    let lone = log.job("lone");
    let d1 = log.job("d1");
    let d2 = log.job("d2").requires(&d1);
    let s = Scheduler::new().window(1).longest_path_first(true);
    s.add((&lone, &d2, &c3, &c2, &d1, &c1));
    assert!(s.run().unwrap());
    // c1 (path 3); c2 and d1 tie (path 2): c2 was added first; then lone, d2, c3.
    assert_eq!(log.order(), ["c1", "c2", "d1", "lone", "d2", "c3"]);
}
