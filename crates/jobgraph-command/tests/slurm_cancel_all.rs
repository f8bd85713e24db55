//! `cancel_live_slurm_jobs` against a real Slurm cluster: in a test binary of its own,
//! since it cancels every Slurm job of the process, those of other tests included.

#[path = "support/slurm.rs"]
mod cluster;

use std::time::Duration;

use cluster::{available, eventually, is_active};
use jobgraph::{Job, Scheduler};
use jobgraph_command::{
    cancel_live_slurm_jobs, live_slurm_jobs, CommandError, CommandOutput, Placement, Slurm,
    SlurmJob, SlurmState,
};

#[test]
fn cancel_live_slurm_jobs_leaves_nothing_queued() {
    if !available("cancel_live_slurm_jobs_leaves_nothing_queued") {
        return;
    }
    let jobs: Vec<Job<CommandOutput>> = (0..3)
        .map(|_| {
            Job::custom(
                SlurmJob::new(["sleep", "300"]).slurm(Slurm::new().placement(Placement::Batch)),
            )
            // Each fails by itself, without the run cancelling the others.
            .critical(false)
        })
        .collect();
    let s = Scheduler::new().critical(false);
    for job in &jobs {
        s.add(job);
    }
    let run = std::thread::spawn(move || s.run().unwrap());
    assert!(
        eventually(Duration::from_secs(60), || live_slurm_jobs().len() == 3),
        "the three jobs were not submitted: {:?}",
        live_slurm_jobs()
    );
    let ids = live_slurm_jobs();
    assert_eq!(cancel_live_slurm_jobs(), 3);
    // The run ends by itself: each worker sees its job cancelled by Slurm.
    assert!(run.join().unwrap());
    for job in &jobs {
        let error = job.raised_exception().expect("the job failed");
        let error = error.downcast_ref::<CommandError>().unwrap();
        match error {
            CommandError::Slurm { state, .. } => assert_eq!(*state, SlurmState::Cancelled),
            other => panic!("unexpected error: {other}"),
        }
    }
    assert!(live_slurm_jobs().is_empty());
    for id in &ids {
        assert!(!is_active(id), "job {id} is still in squeue");
    }
}
