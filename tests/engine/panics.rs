//! A panicking job is a failed job: caught, reported, never fatal to the pool.

use crate::common::{endless, sleeper, Recorder};
use crate::support::quiet_job_panics;
use jobgraph::{Error, Job, Scheduler};

#[test]
fn a_critical_panic_stops_the_run_with_its_message() {
    quiet_job_panics();
    let rec = Recorder::new();
    let bad = Job::new(|_| -> u8 { panic!("kaboom") }).label("bad");
    let after = sleeper(&rec, "after", 1).requires(&bad);
    let s = Scheduler::new();
    s.add((&bad, &after));
    match s.run() {
        Err(Error::JobFailed { label, source }) => {
            assert_eq!(label, "bad");
            assert!(source.is_panic());
            assert_eq!(source.panic_message(), Some("kaboom"));
        }
        other => panic!("expected the panic as the error, got {other:?}"),
    }
    assert!(!rec.started("after"));
}

#[test]
fn a_non_critical_panic_lets_the_run_go_on() {
    quiet_job_panics();
    let rec = Recorder::new();
    let bad = Job::new(|_| -> u8 { panic!("formatted {}", 42) })
        .label("bad")
        .critical(false);
    let after = sleeper(&rec, "after", 1).requires(&bad);
    let s = Scheduler::new();
    s.add((&bad, &after));
    assert!(s.run().unwrap());
    assert!(rec.started("after"));
    let error = bad.raised_exception().unwrap();
    assert_eq!(error.panic_message(), Some("formatted 42"));
    assert!(matches!(bad.result(), Err(Error::JobFailed { .. })));
}

#[test]
fn a_thousand_panics_on_two_workers_leave_everything_usable() {
    quiet_job_panics();
    let s = Scheduler::new().window(2);
    let jobs: Vec<Job<u8>> = (0..1000)
        .map(|i| Job::new(move |_| -> u8 { panic!("panic {i}") }).critical(false))
        .collect();
    s.add(&jobs[..]);
    assert!(s.run().unwrap());
    for (i, job) in jobs.iter().enumerate() {
        let error = job.raised_exception().expect("every job panicked");
        assert_eq!(error.panic_message(), Some(format!("panic {i}").as_str()));
    }
    // Nothing is poisoned: the jobs can still be inspected, a new run works.
    assert!(jobs[0].text_label().starts_with("Job["));
    let ok = Job::new(|_| 1);
    assert!(Scheduler::new().window(2).add(&ok).run().unwrap());
}

#[test]
fn a_panicking_future_job_is_caught_too() {
    quiet_job_panics();
    let bad = Job::future(endless(async {
        jobgraph::sleep(std::time::Duration::from_millis(5)).await;
        panic!("async kaboom");
    }))
    .critical(false);
    let s = Scheduler::new();
    s.add(&bad);
    assert!(s.run().unwrap());
    assert_eq!(
        bad.raised_exception().unwrap().panic_message(),
        Some("async kaboom")
    );
}
