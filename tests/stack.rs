//! A million-job graph needs no deep stack: nothing on the way from building a graph
//! to dropping it recurses along a chain of requirements.

use jobgraph::{Job, Scheduler};

/// A quarter of a megabyte: a recursion of one frame per job would need hundreds.
const SMALL_STACK: usize = 256 * 1024;

#[test]
fn a_million_job_chain_builds_checks_runs_and_drops_on_a_small_stack() {
    let on_small_stack = std::thread::Builder::new()
        .stack_size(SMALL_STACK)
        .spawn(|| {
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
        })
        .expect("a thread");
    on_small_stack
        .join()
        .expect("no stack overflow while building, running or dropping");
}
