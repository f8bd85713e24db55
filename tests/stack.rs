//! A million-job graph needs no deep stack: nothing on the way from building a graph
//! to dropping it recurses along a chain of requirements.

use jobgraph::{Job, Scheduler};

/// A quarter of a megabyte: a recursion of one frame per job would need hundreds.
const SMALL_STACK: usize = 256 * 1024;

/// Runs `f` on a thread with a small stack; fails if it overflows or panics.
fn on_small_stack(f: impl FnOnce() + Send + 'static) {
    std::thread::Builder::new()
        .stack_size(SMALL_STACK)
        .spawn(f)
        .expect("a thread")
        .join()
        .expect("no stack overflow, no panic");
}

#[test]
fn a_million_job_chain_builds_checks_runs_and_drops_on_a_small_stack() {
    on_small_stack(|| {
        let n = 1_000_000;
        let mut jobs: Vec<Job<usize>> = Vec::with_capacity(n);
        for i in 0..n {
            let job = Job::new(move |_| i);
            if let Some(previous) = jobs.last() {
                job.add_requires(previous);
            }
            jobs.push(job);
        }
        let last = jobs[n - 1].clone();
        let scheduler = Scheduler::new().window(2);
        scheduler.add(jobs);
        assert!(scheduler.check_cycles());
        // The workers run the chain: each job's end starts the next in a loop.
        assert!(scheduler.run().unwrap());
        assert_eq!(*last.result().unwrap(), n - 1);
        // The last handle to the scheduler, then to the tail: each job holds the
        // one it requires, a million deep.
        drop(scheduler);
        drop(last);
    });
}

#[test]
fn a_million_job_batch_with_a_cycle_at_its_end_is_refused_then_runs_on_a_small_stack() {
    on_small_stack(|| {
        let n = 1_000_000;
        let mut batch = jobgraph::Batch::with_capacity(n, n).window(2);
        let mut ids = Vec::with_capacity(n);
        for i in 0..n {
            let mut job = batch.add(move |_| i);
            if let Some(&previous) = ids.last() {
                job = job.requires(previous);
            }
            ids.push(job.id());
        }
        // The first job requires the last: the cycle search walks the whole chain.
        batch.job(ids[0]).unwrap().requires(ids[n - 1]);
        match batch.run() {
            Err(jobgraph::Error::Cycle { jobs, .. }) => assert_eq!(jobs.len(), n),
            other => panic!("expected the cycle, got {other:?}"),
        }
        let mut batch = jobgraph::Batch::with_capacity(n, n).window(2);
        let mut last = None;
        for i in 0..n {
            let mut job = batch.add(move |_| i);
            if let Some(previous) = last {
                job = job.requires(previous);
            }
            last = Some(job.id());
        }
        assert!(batch.run().unwrap());
        assert_eq!(*batch.result(last.unwrap()).unwrap(), n - 1);
        drop(batch);
    });
}
