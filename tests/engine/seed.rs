//! The seed README's examples, asserting order and overlap from recorded instants.

use crate::common::{boom_of, failing, sleeper, Recorder};
use jobgraph::{Error, Job, JobState, Scheduler, Sequence};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

#[test]
fn example_a_jobs_without_requirements_run_in_parallel() {
    let rec = Recorder::new();
    let (a1, a2, a3) = (
        sleeper(&rec, "a1", 100),
        sleeper(&rec, "a2", 200),
        sleeper(&rec, "a3", 250),
    );
    let s = Scheduler::new();
    s.add((&a1, &a2, &a3));
    assert!(s.run().unwrap());
    assert!(rec.overlap("a1", "a2") && rec.overlap("a1", "a3") && rec.overlap("a2", "a3"));
    assert_eq!(*a1.result().unwrap(), 100);
    assert_eq!(*a3.result().unwrap(), 250);
    assert!(a1.is_done() && a2.is_done() && a3.is_done());
}

fn example_b_checks(rec: &Recorder) {
    assert!(rec.before("b1", "b2"), "b2 requires b1");
    assert!(rec.overlap("b1", "b3"), "b3 requires nothing");
    assert!(rec.overlap("b2", "b3"));
}

#[test]
fn example_b_a_requirement_delays_its_job() {
    let rec = Recorder::new();
    let b1 = sleeper(&rec, "b1", 100);
    let b2 = sleeper(&rec, "b2", 200).requires(&b1);
    let b3 = sleeper(&rec, "b3", 250);
    let s = Scheduler::new();
    s.add((&b1, &b2, &b3));
    assert!(s.run().unwrap());
    example_b_checks(&rec);
    assert!(b3.raised_exception().is_none());
}

#[test]
fn example_b_prime_a_sequence_is_the_same_graph() {
    let rec = Recorder::new();
    let (b1, b2, b3) = (
        sleeper(&rec, "b1", 100),
        sleeper(&rec, "b2", 200),
        sleeper(&rec, "b3", 250),
    );
    let s = Scheduler::new();
    s.add((Sequence::new((&b1, &b2)), &b3));
    assert!(s.run().unwrap());
    example_b_checks(&rec);
    assert_eq!(b2.requirements(), vec![b1.any()]);
}

#[test]
fn example_c_a_forever_job_is_cancelled_once_the_others_are_done() {
    let rec = Recorder::new();
    let (bus, messages) = mpsc::channel::<String>();
    let seen_total = Arc::new(AtomicUsize::new(0));
    let monitor = {
        let (rec, seen_total) = (rec.clone(), seen_total.clone());
        Job::new(move |ctx| {
            rec.start("monitor");
            let mut seen = 0;
            while !ctx.is_cancelled() {
                if let Ok(_line) = messages.recv_timeout(Duration::from_millis(5)) {
                    seen += 1;
                }
            }
            // Whatever arrived between the last look and the cancellation.
            seen += messages.try_iter().count();
            rec.end("monitor");
            seen_total.store(seen, Ordering::SeqCst);
        })
        .label("monitor")
        .forever(true)
    };
    let emitter = |label: &str, ms: u64| {
        let (bus, rec, name) = (bus.clone(), rec.clone(), label.to_string());
        Job::new(move |ctx| {
            rec.start(&name);
            bus.send(format!("-> {name}")).unwrap();
            ctx.sleep(Duration::from_millis(ms));
            bus.send(format!("<- {name}")).unwrap();
            rec.end(&name);
        })
        .label(label)
    };
    let c1 = emitter("c1", 200);
    let c2 = emitter("c2", 400);
    let c3 = emitter("c3", 300).requires(&c1);
    let s = Scheduler::new();
    s.add((&monitor, &c1, &c2, &c3));
    assert!(s.run().unwrap());
    assert!(rec.before("c1", "c3"));
    // The monitor ran alongside every job and stopped only after the last one ended.
    let (_, monitor_end) = rec.span("monitor");
    assert!(monitor_end >= rec.span("c2").1 && monitor_end >= rec.span("c3").1);
    assert!(rec.overlap("monitor", "c1"));
    // A job still running when its run cancels it ends cancelled, whatever it returns.
    assert_eq!(monitor.state(), JobState::Cancelled);
    assert_eq!(
        seen_total.load(Ordering::SeqCst),
        6,
        "it read every message"
    );
}

#[test]
fn example_d_a_timeout_stops_a_job_that_loops() {
    let rec = Recorder::new();
    let ticks = Job::new({
        let rec = rec.clone();
        move |ctx| {
            rec.start("ticks");
            let mut i = 0;
            while ctx.sleep(Duration::from_millis(100)) {
                i += 1;
            }
            rec.end("ticks");
            i
        }
    })
    .label("ticks");
    let s = Scheduler::new()
        .timeout(Duration::from_millis(250))
        .critical(false);
    s.add(&ticks);
    let started = Instant::now();
    assert!(!s.run().unwrap());
    assert!(started.elapsed() >= Duration::from_millis(250));
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(s.failed_time_out(), Some(Duration::from_millis(250)));
    assert_eq!(ticks.state(), JobState::Cancelled);
    assert!(matches!(ticks.result(), Err(Error::NotDone { .. })));
}

#[test]
fn example_e_a_failing_non_critical_job_lets_the_run_go_on() {
    let rec = Recorder::new();
    let e1 = sleeper(&rec, "begin", 100);
    let e2 = failing(&rec, "boom", 100).critical(false);
    let e3 = sleeper(&rec, "end", 100);
    let s = Scheduler::new().critical(false);
    s.add(Sequence::new((&e1, &e2, &e3)));
    assert!(s.run().unwrap());
    assert!(rec.before("begin", "boom") && rec.before("boom", "end"));
    let error = e2.raised_exception().expect("boom failed");
    assert_eq!(boom_of(&error).unwrap().0, "boom");
    assert!(e3.is_done());
}

#[test]
fn example_f_a_failing_critical_job_stops_the_run() {
    let rec = Recorder::new();
    let f1 = sleeper(&rec, "begin", 100);
    let f2 = failing(&rec, "boom", 100).critical(true);
    let f3 = sleeper(&rec, "end", 100);
    let s = Scheduler::new().critical(false);
    s.add(Sequence::new((&f1, &f2, &f3)));
    assert!(!s.run().unwrap());
    assert!(s.failed_critical());
    assert!(
        !rec.started("end"),
        "nothing starts after a critical failure"
    );
    assert_eq!(f3.state(), JobState::Idle);
    assert!(f2.raised_exception().is_some());
}

#[test]
fn window_four_runs_eight_half_second_jobs_in_two_waves() {
    let rec = Recorder::new();
    let s = Scheduler::new().window(4);
    for i in 0..8 {
        s.add(sleeper(&rec, &format!("job{i}"), 500));
    }
    let started = Instant::now();
    assert!(s.run().unwrap());
    let took = started.elapsed();
    assert!(
        rec.max_overlap() <= 4,
        "window 4: {} overlapped",
        rec.max_overlap()
    );
    assert!(rec.max_overlap() >= 2, "the window lets jobs overlap");
    // Two waves of 0.5 s at least; generous upper bound.
    assert!(took >= Duration::from_millis(1000), "{took:?}");
    assert!(took < Duration::from_secs(10), "{took:?}");
}

#[test]
fn nesting_runs_the_inner_diamond_between_main_start_and_main_end() {
    let rec = Recorder::new();
    let sub = Scheduler::new().label("critical nested").critical(true);
    let subj1 = sleeper(&rec, "subj1", 50);
    let subj2 = sleeper(&rec, "subj2", 50).requires(&subj1);
    let subj3 = sleeper(&rec, "subj3", 50).requires(&subj1);
    let subj4 = sleeper(&rec, "subj4", 50).requires((&subj2, &subj3));
    sub.add((&subj1, &subj2, &subj3, &subj4));

    let start = sleeper(&rec, "main-start", 50);
    let end = sleeper(&rec, "main-end", 50);
    let main = Scheduler::new();
    main.add(Sequence::new((&start, &sub, &end)));
    assert!(main.run().unwrap());

    assert!(rec.before("main-start", "subj1"));
    assert!(rec.before("subj1", "subj2") && rec.before("subj1", "subj3"));
    assert!(rec.overlap("subj2", "subj3"));
    assert!(rec.before("subj2", "subj4") && rec.before("subj3", "subj4"));
    assert!(rec.before("subj4", "main-end"));
    assert!(sub.is_done());
    assert!(sub.result().unwrap());
}
