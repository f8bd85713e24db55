//! Misuse is an error, found before anything runs, with a message saying what to do.

use crate::common::{sleeper, Recorder};
use jobgraph::{Error, Job, JobState, Scheduler, Sequence};

#[test]
fn a_cycle_is_refused_and_named() {
    let rec = Recorder::new();
    let a = sleeper(&rec, "a", 1);
    let b = sleeper(&rec, "b", 1).requires(&a);
    let c = sleeper(&rec, "c", 1).requires(&b);
    a.add_requires(&c);
    let free = sleeper(&rec, "free", 1);
    let s = Scheduler::new().label("loopy");
    s.add((&a, &b, &c, &free));
    assert!(!s.check_cycles());
    let cycle: Vec<String> = s
        .find_cycle()
        .unwrap()
        .iter()
        .map(|j| j.text_label())
        .collect();
    assert_eq!(cycle.len(), 3);
    match s.run() {
        Err(error @ Error::Cycle { .. }) => {
            let text = error.to_string();
            for label in ["a", "b", "c", "loopy"] {
                assert!(
                    text.contains(&format!("`{label}`")) || text.contains(label),
                    "{text}"
                );
            }
            if let Error::Cycle { jobs, .. } = &error {
                let mut jobs = jobs.clone();
                jobs.sort();
                assert_eq!(jobs, ["a", "b", "c"]);
            }
        }
        other => panic!("expected a cycle, got {other:?}"),
    }
    assert!(!rec.started("free"), "nothing runs");
    assert_eq!(free.state(), JobState::Idle);
}

#[test]
fn a_requirement_outside_the_scheduler_suggests_sanitize() {
    let rec = Recorder::new();
    let outside = sleeper(&rec, "outside", 1);
    let inside = sleeper(&rec, "inside", 1).requires(&outside);
    let s = Scheduler::new();
    s.add(&inside);
    match s.run() {
        Err(error @ Error::MissingRequirement { .. }) => {
            let text = error.to_string();
            assert!(
                text.contains("outside") && text.contains("sanitize()"),
                "{text}"
            );
        }
        other => panic!("expected MissingRequirement, got {other:?}"),
    }
    assert!(!rec.started("inside"));

    // sanitize() drops the requirement (and says it changed something); then it runs.
    let s = Scheduler::new();
    let inside = sleeper(&rec, "inside2", 1).requires(&outside);
    s.add(&inside);
    assert!(!s.sanitize());
    assert!(s.sanitize(), "nothing left to change");
    assert!(inside.requirements().is_empty());
    assert!(s.run().unwrap());
}

#[test]
fn running_twice_is_refused() {
    let s = Scheduler::new().label("once");
    s.add(Job::new(|_| ()));
    assert!(s.run().unwrap());
    match s.run() {
        Err(error @ Error::AlreadyRan { .. }) => {
            assert!(error.to_string().contains("once"), "{error}")
        }
        other => panic!("expected AlreadyRan, got {other:?}"),
    }
}

#[test]
fn a_job_of_another_scheduler_is_refused() {
    let rec = Recorder::new();
    let shared = sleeper(&rec, "shared", 1);
    let first = Scheduler::new().label("first");
    first.add(&shared);
    let second = Scheduler::new().label("second");
    second.add((&shared, sleeper(&rec, "other", 1)));
    match second.run() {
        Err(error @ Error::Misplaced { .. }) => {
            let text = error.to_string();
            assert!(text.contains("shared") && text.contains("second"), "{text}");
        }
        other => panic!("expected Misplaced, got {other:?}"),
    }
    assert!(!rec.started("other"));
    // The job still belongs to its first scheduler, which runs it.
    assert!(first.run().unwrap());
    assert!(shared.is_done());
}

#[test]
fn a_job_added_to_two_schedulers_at_once_runs_in_exactly_one() {
    // Two threads add the same job to two schedulers at the same time, many times over:
    // whichever way each race goes, one run takes the job and the other refuses it.
    for round in 0..200 {
        let job = Job::new(|_| ()).label("contested");
        let schedulers = [
            Scheduler::new().label("left"),
            Scheduler::new().label("right"),
        ];
        let barrier = std::sync::Barrier::new(2);
        std::thread::scope(|scope| {
            for s in &schedulers {
                let (job, barrier) = (&job, &barrier);
                scope.spawn(move || {
                    barrier.wait();
                    s.add(job);
                });
            }
        });
        let outcomes: Vec<_> = schedulers.iter().map(Scheduler::run).collect();
        let ran = outcomes.iter().filter(|o| matches!(o, Ok(true))).count();
        let refused = outcomes
            .iter()
            .filter(|o| matches!(o, Err(Error::Misplaced { .. })))
            .count();
        assert_eq!((ran, refused), (1, 1), "round {round}: {outcomes:?}");
        assert!(job.is_done());
    }
}

#[test]
fn a_scheduler_inside_itself_is_refused() {
    let s = Scheduler::new().label("ouroboros");
    s.add(Job::new(|_| ()));
    s.add(&s);
    assert!(matches!(s.run(), Err(Error::Misplaced { .. })));
}

#[test]
fn a_cycle_in_a_nested_scheduler_is_found_before_the_outer_run_starts() {
    let rec = Recorder::new();
    let a = sleeper(&rec, "a", 1);
    let b = sleeper(&rec, "b", 1).requires(&a);
    a.add_requires(&b);
    let inner = Scheduler::new().label("inner");
    inner.add((&a, &b));
    let first = sleeper(&rec, "first", 1);
    let outer = Scheduler::new().label("outer");
    outer.add(Sequence::new((&first, &inner)));
    match outer.run() {
        Err(Error::Cycle { scheduler, .. }) => assert_eq!(scheduler, "inner"),
        other => panic!("expected the inner cycle, got {other:?}"),
    }
    assert!(!rec.started("first"));
}

#[test]
fn reading_a_job_that_is_not_required_fails_the_reader() {
    let source = Job::new(|_| 1).label("source");
    let reader = Job::new({
        let source = source.clone();
        move |ctx| ctx.get(&source).copied()
    })
    .label("reader")
    .critical(false);
    let s = Scheduler::new();
    s.add((&source, &reader));
    assert!(s.run().unwrap());
    let error = reader.raised_exception().expect("reader failed");
    match error.downcast_ref::<Error>() {
        Some(Error::NotRequired { job, other }) => {
            assert_eq!((job.as_str(), other.as_str()), ("reader", "source"))
        }
        other => panic!("expected NotRequired, got {other:?}"),
    }
}

#[test]
fn a_result_that_does_not_exist_says_why() {
    let idle = Job::new(|_| 1).label("idle");
    match idle.result() {
        Err(error @ Error::NotDone { state: "idle", .. }) => {
            assert!(error.to_string().contains("idle"))
        }
        other => panic!("expected NotDone, got {other:?}"),
    }
    let failed = Job::new(|_| Err::<u8, _>("no luck")).label("failed");
    Scheduler::new().critical(false).add(&failed).run().unwrap();
    match failed.result() {
        Err(Error::JobFailed { label, source }) => {
            assert_eq!(label, "failed");
            assert_eq!(source.to_string(), "no luck");
        }
        other => panic!("expected JobFailed, got {other:?}"),
    }
}

#[test]
fn a_job_removed_after_its_run_and_run_again_elsewhere_keeps_its_outcome() {
    let job = Job::new(|_| 7).label("again");
    let first = Scheduler::new();
    first.add(&job);
    assert!(first.run().unwrap());
    first.remove(&job);
    let second = Scheduler::new().timeout(std::time::Duration::from_secs(10));
    second.add(&job);
    assert!(second.run().unwrap(), "the second run ends");
    assert_eq!(job.state(), JobState::Done);
    assert_eq!(*job.result().unwrap(), 7);
}
