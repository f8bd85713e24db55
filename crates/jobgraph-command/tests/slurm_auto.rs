//! `Placement::Auto` against a real Slurm cluster: a step when `SLURM_JOB_ID` is set, as
//! inside `salloc` or a batch script. In a test binary of its own, since it sets that
//! variable for the whole process.

#[path = "support/slurm.rs"]
mod cluster;

use cluster::{available, Allocation};
use jobgraph::{Job, Scheduler};
use jobgraph_command::{Placement, Slurm, SlurmJob};

#[test]
fn inside_an_allocation_a_job_is_a_step_of_it_unless_asked_otherwise() {
    if !available("inside_an_allocation_a_job_is_a_step_of_it_unless_asked_otherwise") {
        return;
    }
    let allocation = Allocation::new(2);
    // As salloc and sbatch set it for the programs they run; no other thread reads the
    // environment yet.
    std::env::set_var("SLURM_JOB_ID", &allocation.id);
    let report = "echo $SLURM_JOB_ID ${SLURM_STEP_ID:-none}";
    let auto = SlurmJob::shell(report);
    assert_eq!(auto.allocation().as_deref(), Some(allocation.id.as_str()));
    let step = Job::custom(auto);
    let batch =
        Job::custom(SlurmJob::shell(report).slurm(Slurm::new().placement(Placement::Batch)));
    assert!(Scheduler::new().add((&step, &batch)).run().unwrap());
    let step_says = step.result().unwrap().stdout.text();
    let words: Vec<&str> = step_says.split_whitespace().collect();
    assert_eq!(words[0], allocation.id, "{step_says}");
    assert!(words[1].parse::<u32>().is_ok(), "not a step: {step_says}");
    let batch_says = batch.result().unwrap().stdout.text();
    let words: Vec<&str> = batch_says.split_whitespace().collect();
    assert_ne!(words[0], allocation.id, "{batch_says}");
    assert!(words[0].parse::<u32>().is_ok(), "{batch_says}");
}
