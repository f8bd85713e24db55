//! The floor under the scheduler's handles: what building a job costs when it is its
//! own reference-counted allocation, as a `Job` is, before anything is scheduled.
//!
//! The stand-in job has the size of an empty closure job's allocation in jobgraph
//! (checked here with the counting allocator) and holds strong handles to its
//! requirements, two inline as jobgraph's list does. It is built in the cheaper order
//! (the requirements' counts first, then the allocation) and has nothing else: no
//! scheduler, no lock, no label. Beside it, the scheduler's own build and the batch's
//! whole job (build and run), all in this process: the target "a handle's job at most
//! twice a batch's" leaves the scheduler twice the batch's total, and the floor shows
//! how much of it the allocation and the counts take before any scheduling.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

use jobgraph::Job;

use crate::common;
use crate::{peak_bytes, Front, Results, EMPTY};

/// A job reduced to what a handle's job cannot do without.
struct StandIn {
    _requires: [Option<Arc<StandIn>>; 2],
    _rest: [u64; 10],
}

/// The best of `reps` builds of `shape` as stand-ins, in ns per job; freeing is not timed.
fn floor_build(shape: &common::Shape, reps: usize) -> f64 {
    let n = shape.len();
    (0..reps)
        .map(|_| {
            let start = Instant::now();
            let mut jobs: Vec<Arc<StandIn>> = Vec::with_capacity(n);
            for i in 0..n {
                let mut requires = [None, None];
                for (slot, &r) in requires.iter_mut().zip(shape.requirements(i)) {
                    *slot = Some(jobs[r as usize].clone());
                }
                jobs.push(Arc::new(StandIn {
                    _requires: requires,
                    _rest: [0; 10],
                }));
            }
            let jobs = black_box(jobs);
            let elapsed = start.elapsed();
            drop(jobs);
            elapsed.as_secs_f64() * 1e9 / n as f64
        })
        .fold(f64::MAX, f64::min)
}

/// Prints the floor for the four Taskflow shapes of `jobs` jobs, beside the scheduler's
/// build and the batch's total measured earlier in this process.
pub fn section(results: &Results, jobs: usize, reps: usize) {
    let (job_bytes, job) = peak_bytes(|| Job::new(|_| ()));
    drop(job);
    let stand_in = std::mem::size_of::<StandIn>() + 2 * std::mem::size_of::<usize>();
    println!(
        "\n== the floor under a handle's job: each job its own Arc of {stand_in} bytes (an empty closure job: {job_bytes}), its requirements counted, nothing scheduled; ns per job, window 2"
    );
    println!(
        "{:<26} {:>12} {:>16} {:>16} {:>14}",
        "shape", "floor build", "scheduler build", "batch b+r", "floor / batch"
    );
    for name in crate::TASKFLOW {
        let shape = common::by_name(name, jobs).expect("a known shape");
        let n = shape.len();
        let floor = floor_build(&shape, reps);
        let get = |front: Front| results.get(EMPTY, name, 2, 0, n, front.system());
        let (Some(scheduler), Some(batch)) = (get(Front::Scheduler), get(Front::Batch)) else {
            continue;
        };
        println!(
            "{name:<26} {floor:>12.1} {:>16.1} {:>16.1} {:>13.2}x",
            scheduler.build,
            batch.total,
            floor / batch.total
        );
    }
    println!(
        "(the target of at most 2x a batch job leaves a handle's job, once allocated and counted, 2x minus 'floor / batch' of a batch job for everything else: adding, checking, running, sealing)"
    );
}
