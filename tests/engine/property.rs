//! Random DAGs against a sequential model of the semantics.

use crate::common::Boom;
use crate::support::quiet_job_panics;
use jobgraph::{Batch, Error, Job, JobError, JobId, JobState, Scheduler};
use parking_lot::Mutex;
use proptest::prelude::*;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    Ok,
    Fail,
    Panic,
}

#[derive(Clone, Debug)]
struct Spec {
    requires: Vec<usize>,
    kind: Kind,
    critical: bool,
}

fn graph() -> impl Strategy<Value = Vec<Spec>> {
    let spec = (
        prop::collection::vec(any::<prop::sample::Index>(), 0..4),
        0u8..20,
        prop::bool::weighted(0.3),
    );
    prop::collection::vec(spec, 1..200).prop_map(|specs| {
        specs
            .into_iter()
            .enumerate()
            .map(|(i, (picks, kind, critical))| Spec {
                // Requirements among the earlier jobs: a DAG by construction.
                requires: if i == 0 {
                    vec![]
                } else {
                    picks.iter().map(|p| p.index(i)).collect()
                },
                kind: match kind {
                    0 => Kind::Fail,
                    1 => Kind::Panic,
                    _ => Kind::Ok,
                },
                critical,
            })
            .collect()
    })
}

/// What the jobs saw: a global tick for starts and ends, and the concurrency.
#[derive(Default)]
struct Trace {
    tick: AtomicUsize,
    running: AtomicUsize,
    max_running: AtomicUsize,
    spans: Mutex<Vec<Option<(usize, usize)>>>,
    runs: Vec<AtomicUsize>,
}

/// What job `i` does: records its span in the trace, then ends as its kind says.
fn body(i: usize, kind: Kind, trace: &Trace) -> Result<usize, Boom> {
    trace.runs[i].fetch_add(1, Ordering::SeqCst);
    let start = trace.tick.fetch_add(1, Ordering::SeqCst);
    let now = trace.running.fetch_add(1, Ordering::SeqCst) + 1;
    trace.max_running.fetch_max(now, Ordering::SeqCst);
    for _ in 0..(i % 7) {
        std::thread::yield_now();
    }
    trace.running.fetch_sub(1, Ordering::SeqCst);
    let end = trace.tick.fetch_add(1, Ordering::SeqCst);
    trace.spans.lock()[i] = Some((start, end));
    match kind {
        Kind::Ok => Ok(i),
        Kind::Fail => Err(Boom(format!("job{i}"))),
        Kind::Panic => panic!("panic in job{i}"),
    }
}

fn build(specs: &[Spec], trace: &Arc<Trace>) -> Vec<Job<usize>> {
    let mut jobs: Vec<Job<usize>> = Vec::with_capacity(specs.len());
    for (i, spec) in specs.iter().enumerate() {
        let trace = trace.clone();
        let kind = spec.kind;
        let job = Job::new(move |_| body(i, kind, &trace))
            .label(format!("job{i}"))
            .critical(spec.critical)
            .requires(
                spec.requires
                    .iter()
                    .map(|&r| jobs[r].any())
                    .collect::<Vec<_>>(),
            );
        jobs.push(job);
    }
    jobs
}

/// The same jobs in a batch; requirements given with each job, or all at the end.
fn build_batch(specs: &[Spec], trace: &Arc<Trace>, late: bool) -> (Batch<usize>, Vec<JobId>) {
    let mut batch = Batch::new();
    let mut ids: Vec<JobId> = Vec::with_capacity(specs.len());
    for (i, spec) in specs.iter().enumerate() {
        let trace = trace.clone();
        let kind = spec.kind;
        let mut added = batch
            .add(move |_| body(i, kind, &trace))
            .label(format!("job{i}"))
            .critical(spec.critical);
        if !late {
            added = added.requires_all(spec.requires.iter().map(|&r| ids[r]));
        }
        ids.push(added.id());
    }
    if late {
        for (i, spec) in specs.iter().enumerate().rev() {
            let job = batch.job(ids[i]).unwrap();
            job.requires_all(spec.requires.iter().rev().map(|&r| ids[r]));
        }
    }
    (batch, ids)
}

/// Job `i` ended as its spec says: `result` and `raised` are what its handle or its
/// batch tell of it.
fn check_outcome(i: usize, spec: &Spec, result: Result<&usize, Error>, raised: Option<JobError>) {
    match spec.kind {
        Kind::Ok => assert_eq!(*result.unwrap(), i),
        Kind::Fail => {
            let error = raised.unwrap();
            assert_eq!(error.downcast_ref::<Boom>().unwrap().0, format!("job{i}"));
        }
        Kind::Panic => {
            let error = raised.unwrap();
            assert_eq!(error.panic_message().unwrap(), format!("panic in job{i}"));
        }
    }
}

impl Trace {
    fn for_jobs(n: usize) -> Arc<Trace> {
        Arc::new(Trace {
            spans: Mutex::new(vec![None; n]),
            runs: (0..n).map(|_| AtomicUsize::new(0)).collect(),
            ..Trace::default()
        })
    }

    /// Checks that each job ran at most once, only after all its requirements ended, and
    /// never more than `window` at once; the jobs' spans.
    fn check_order(
        &self,
        specs: &[Spec],
        window: usize,
    ) -> Result<Vec<Option<(usize, usize)>>, TestCaseError> {
        let spans = self.spans.lock().clone();
        for (i, spec) in specs.iter().enumerate() {
            prop_assert!(self.runs[i].load(Ordering::SeqCst) <= 1);
            if let Some((start, _)) = spans[i] {
                for &r in &spec.requires {
                    let (_, required_end) = spans[r].expect("a requirement ran first");
                    prop_assert!(
                        required_end < start,
                        "job{} started before job{} ended",
                        i,
                        r
                    );
                }
            }
        }
        if window > 0 {
            prop_assert!(self.max_running.load(Ordering::SeqCst) <= window);
        }
        Ok(spans)
    }
}

proptest! {
    #![proptest_config(jobgraph_test_support::seeded(48))]

    #[test]
    fn random_dags_follow_the_sequential_model(
        specs in graph(),
        window in 0usize..5,
        critical_scheduler in any::<bool>(),
    ) {
        quiet_job_panics();
        let trace = Trace::for_jobs(specs.len());
        let jobs = build(&specs, &trace);
        let s = Scheduler::new().window(window).critical(critical_scheduler);
        s.add(&jobs[..]);
        let result = s.run();
        let spans = trace.check_order(&specs, window)?;

        // The model: the run fails exactly when some critical job fails, because the
        // first such job in topological order has only successful or non-critical
        // failed ancestors, so it runs unless another critical failure stopped the run.
        let critical_failures = specs.iter().any(|s| s.critical && s.kind != Kind::Ok);
        if !critical_failures {
            prop_assert!(result.unwrap());
            for (i, spec) in specs.iter().enumerate() {
                prop_assert_eq!(jobs[i].state(), JobState::Done);
                check_outcome(i, spec, jobs[i].result(), jobs[i].raised_exception());
            }
        } else {
            prop_assert!(s.failed_critical());
            match result {
                Ok(value) => {
                    prop_assert!(!critical_scheduler);
                    prop_assert!(!value);
                }
                Err(Error::JobFailed { label, .. }) => {
                    prop_assert!(critical_scheduler);
                    let i: usize = label.trim_start_matches("job").parse().unwrap();
                    prop_assert!(specs[i].critical && specs[i].kind != Kind::Ok);
                    prop_assert!(spans[i].is_some());
                    prop_assert_eq!(jobs[i].state(), JobState::Done);
                }
                Err(other) => prop_assert!(false, "unexpected error {:?}", other),
            }
            for (i, spec) in specs.iter().enumerate() {
                match jobs[i].state() {
                    JobState::Done => {
                        prop_assert!(spans[i].is_some());
                        check_outcome(i, spec, jobs[i].result(), jobs[i].raised_exception());
                    }
                    // Cancelled while it ran, or taken by a worker just as the run
                    // ended: then its body never starts (no span).
                    JobState::Cancelled => {}
                    JobState::Idle | JobState::Scheduled => prop_assert!(spans[i].is_none()),
                    JobState::Running => prop_assert!(false, "job{} left running", i),
                }
            }
        }
    }

    #[test]
    fn random_dags_in_a_batch_follow_the_sequential_model(
        specs in graph(),
        window in 0usize..5,
        late in any::<bool>(),
    ) {
        quiet_job_panics();
        let trace = Trace::for_jobs(specs.len());
        let (batch, ids) = build_batch(&specs, &trace, late);
        let mut batch = batch.window(window);
        let result = batch.run();
        check_batch_run(&specs, &trace, &batch, &ids, window, result)?;
    }

    /// The same batch, its jobs added with `add_mut`, run three times: each run follows
    /// the model as a fresh batch's would.
    #[test]
    fn random_dags_in_a_batch_run_again_follow_the_sequential_model(
        specs in graph(),
        window in 0usize..5,
    ) {
        quiet_job_panics();
        let current = Arc::new(Mutex::new(Trace::for_jobs(specs.len())));
        let mut batch = Batch::new().window(window);
        let mut ids: Vec<JobId> = Vec::with_capacity(specs.len());
        for (i, spec) in specs.iter().enumerate() {
            let current = current.clone();
            let kind = spec.kind;
            let id = batch
                .add_mut(move |_| {
                    let trace = current.lock().clone();
                    body(i, kind, &trace)
                })
                .label(format!("job{i}"))
                .critical(spec.critical)
                .requires_all(spec.requires.iter().map(|&r| ids[r]))
                .id();
            ids.push(id);
        }
        for _ in 0..3 {
            let trace = Trace::for_jobs(specs.len());
            *current.lock() = trace.clone();
            let result = batch.run();
            check_batch_run(&specs, &trace, &batch, &ids, window, result)?;
        }
    }
}

/// One run of a batch of `specs` ended as the sequential model says.
fn check_batch_run(
    specs: &[Spec],
    trace: &Trace,
    batch: &Batch<usize>,
    ids: &[JobId],
    window: usize,
    result: Result<bool, Error>,
) -> Result<(), TestCaseError> {
    let spans = trace.check_order(specs, window)?;
    let critical_failures = specs.iter().any(|s| s.critical && s.kind != Kind::Ok);
    if !critical_failures {
        prop_assert!(result.unwrap());
        for (i, spec) in specs.iter().enumerate() {
            prop_assert_eq!(batch.state(ids[i]), Some(JobState::Done));
            check_outcome(
                i,
                spec,
                batch.result(ids[i]),
                batch.raised_exception(ids[i]),
            );
        }
    } else {
        prop_assert!(batch.failed_critical());
        match result {
            Err(Error::JobFailed { label, .. }) => {
                let i: usize = label.trim_start_matches("job").parse().unwrap();
                prop_assert!(specs[i].critical && specs[i].kind != Kind::Ok);
                prop_assert!(spans[i].is_some());
            }
            other => prop_assert!(false, "unexpected end {:?}", other),
        }
        for (i, _) in specs.iter().enumerate() {
            match batch.state(ids[i]).unwrap() {
                JobState::Done => prop_assert!(spans[i].is_some()),
                // Cancelled while it ran, or taken by a worker just as the run ended:
                // then its body never starts (no span).
                JobState::Cancelled => {}
                JobState::Idle | JobState::Scheduled => prop_assert!(spans[i].is_none()),
                JobState::Running => prop_assert!(false, "job{} left running", i),
            }
        }
    }
    Ok(())
}

/// A case the batch's property test once found (a chain of two non-critical jobs,
/// window 0), kept as a test of its own: the property tests run from a fixed seed
/// and keep no failure file.
#[test]
fn a_batch_chain_of_two_non_critical_jobs_with_window_0_follows_the_model() {
    quiet_job_panics();
    let specs = vec![
        Spec {
            requires: vec![],
            kind: Kind::Ok,
            critical: false,
        },
        Spec {
            requires: vec![0],
            kind: Kind::Ok,
            critical: false,
        },
    ];
    let trace = Trace::for_jobs(specs.len());
    let (batch, ids) = build_batch(&specs, &trace, false);
    let mut batch = batch.window(0);
    let result = batch.run();
    check_batch_run(&specs, &trace, &batch, &ids, 0, result).unwrap();
}
