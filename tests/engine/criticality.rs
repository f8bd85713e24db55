//! `run()` for every (outer, inner, job) criticality of a scheduler nested in a
//! scheduler, with one failing job inside.

use crate::common::{boom_of, failing, sleeper, Recorder};
use jobgraph::{Error, Scheduler};

/// Runs outer ⊃ inner ⊃ failing job, returning the outer run's result.
fn nested_failure(outer: bool, inner: bool, job: bool) -> Result<bool, Error> {
    let rec = Recorder::new();
    let boom = failing(&rec, "boom", 1).critical(job);
    let after = sleeper(&rec, "after", 1).requires(&boom);
    let sub = Scheduler::new().label("inner").critical(inner);
    sub.add((&boom, &after));
    let main = Scheduler::new().label("outer").critical(outer);
    main.add(&sub);
    main.run()
}

#[test]
fn a_failure_that_no_critical_level_carries_up_is_a_success() {
    for (outer, inner, job) in [
        (false, false, false),
        (false, false, true),
        (false, true, false),
        (true, false, false),
        (true, false, true),
        (true, true, false),
    ] {
        assert!(
            nested_failure(outer, inner, job).unwrap(),
            "outer={outer} inner={inner} job={job}"
        );
    }
}

#[test]
fn a_non_critical_outer_reports_a_critical_failure_as_false() {
    assert!(!nested_failure(false, true, true).unwrap());
}

#[test]
fn all_critical_returns_the_failed_jobs_own_error() {
    let error = nested_failure(true, true, true).unwrap_err();
    match &error {
        Error::JobFailed { label, source } => {
            assert_eq!(label, "boom");
            assert_eq!(boom_of(source).unwrap().0, "boom");
        }
        other => panic!("expected the job's error, got {other:?}"),
    }
    assert!(error.to_string().contains("boom"), "{error}");
    // The chain keeps the job's own error as the source.
    let source = std::error::Error::source(&error).unwrap();
    assert_eq!(source.to_string(), "boom in boom");
}

#[test]
fn a_critical_failure_stops_the_inner_scheduler_and_its_dependents() {
    let rec = Recorder::new();
    let boom = failing(&rec, "boom", 1);
    let after = sleeper(&rec, "after", 1).requires(&boom);
    let sub = Scheduler::new().label("inner").critical(false);
    sub.add((&boom, &after));
    let tail = sleeper(&rec, "tail", 1).requires(&sub);
    let main = Scheduler::new().label("outer");
    main.add((&sub, &tail));
    assert!(main.run().unwrap());
    assert!(
        !rec.started("after"),
        "critical failure stops the inner run"
    );
    assert!(sub.failed_critical());
    assert!(!sub.result().unwrap());
    assert!(
        rec.started("tail"),
        "a non-critical inner failure counts as done"
    );
}

#[test]
fn the_critical_job_that_failed_is_reported_and_the_others_cancelled() {
    let rec = Recorder::new();
    let first = failing(&rec, "first", 50);
    let second = failing(&rec, "second", 1);
    let s = Scheduler::new().window(2);
    s.add((&first, &second));
    match s.run().unwrap_err() {
        Error::JobFailed { label, .. } => {
            assert_eq!(label, "second", "only second failed before the stop")
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(first.state(), jobgraph::JobState::Cancelled);
}
