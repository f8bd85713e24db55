//! SlurmJob against a real Slurm cluster (tools/slurm/start.sh starts a single-node one):
//! outcomes, output, timeouts, cancellation with nothing left queued, both placements,
//! and one status query per polling round. Without a cluster these tests print a
//! `SKIPPED` line, unless JOBGRAPH_REQUIRE_SLURM=1 makes them fail; the checks of
//! resource values need no cluster.

#[path = "support/slurm.rs"]
mod cluster;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cluster::{available, eventually, is_active, running_steps, Allocation};
use jobgraph::{Job, JobState, Scheduler};
use jobgraph_command::{
    live_slurm_jobs, slurm_queries, slurm_rounds, CommandError, CommandOutput, Line, Placement,
    Slurm, SlurmJob, SlurmState, Stream,
};

/// The job's error, as a `CommandError`.
fn error_of(job: &Job<CommandOutput>) -> CommandError {
    let error = job.raised_exception().expect("the job failed");
    let error = error
        .downcast_ref::<CommandError>()
        .expect("a CommandError");
    // CommandError is not Clone: rebuild what the tests read.
    match error {
        CommandError::Slurm {
            job_id,
            state,
            exit_code,
            signal,
            why,
            command,
            output,
        } => CommandError::Slurm {
            job_id: job_id.clone(),
            state: state.clone(),
            exit_code: *exit_code,
            signal: *signal,
            why: why.clone(),
            command: command.clone(),
            output: output.clone(),
        },
        CommandError::SlurmOption { option, reason } => CommandError::SlurmOption {
            option: option.clone(),
            reason: reason.clone(),
        },
        other => panic!("unexpected error: {other}"),
    }
}

/// A scheduler that waits for its cancelled jobs (scancel, then Slurm's word).
fn scheduler() -> Scheduler {
    Scheduler::new()
        .critical(false)
        .grace(Duration::from_secs(60))
}

#[test]
fn a_batch_job_succeeds_and_its_lines_stream_to_the_sink() {
    if !available("a_batch_job_succeeds_and_its_lines_stream_to_the_sink") {
        return;
    }
    let lines: Arc<Mutex<Vec<Line>>> = Arc::default();
    let seen = lines.clone();
    let job = Job::custom(
        SlurmJob::shell("echo one; echo two >&2; echo \"$GREETING\"; printf last")
            .env("GREETING", "hi there")
            .slurm(Slurm::new().placement(Placement::Batch))
            .sink(Arc::new(move |line: &Line| {
                seen.lock().unwrap().push(line.clone())
            })),
    )
    .label("talker");
    assert!(scheduler().add(&job).run().unwrap());
    let output = job.result().unwrap();
    assert_eq!(output.stdout.text(), "one\nhi there\nlast");
    assert_eq!(output.stderr.text(), "two\n");
    assert_eq!(output.status.code(), Some(0));
    let lines = lines.lock().unwrap();
    let texts: Vec<(Stream, &str)> = lines.iter().map(|l| (l.stream, l.text.as_str())).collect();
    assert!(texts.contains(&(Stream::Stdout, "one")), "{texts:?}");
    assert!(texts.contains(&(Stream::Stderr, "two")), "{texts:?}");
    assert!(texts.contains(&(Stream::Stdout, "last")), "{texts:?}");
    assert!(lines.iter().all(|l| &*l.label == "talker"));
}

#[test]
fn lines_reach_the_sink_while_the_job_runs() {
    if !available("lines_reach_the_sink_while_the_job_runs") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let go = dir.path().join("go");
    // The job prints, then waits until the test has seen the line.
    let script = format!(
        "echo started; i=0; while [ ! -e {go} ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done; echo finished",
        go = go.display()
    );
    let go_file = go.clone();
    let job = Job::custom(
        SlurmJob::shell(script)
            .slurm(Slurm::new().placement(Placement::Batch))
            .sink(Arc::new(move |line: &Line| {
                if line.text == "started" {
                    std::fs::write(&go_file, "").unwrap();
                }
            })),
    );
    let started = Instant::now();
    assert!(scheduler().add(&job).run().unwrap());
    // The job ended through the sink's file, not after its 60 s.
    assert!(started.elapsed() < Duration::from_secs(50));
    assert_eq!(job.result().unwrap().stdout.text(), "started\nfinished\n");
}

#[test]
fn a_failing_batch_job_names_its_id_state_and_exit_code() {
    if !available("a_failing_batch_job_names_its_id_state_and_exit_code") {
        return;
    }
    let job = Job::custom(
        SlurmJob::new(["sh", "-c", "echo oops >&2; exit 3"])
            .slurm(Slurm::new().placement(Placement::Batch)),
    );
    let s = scheduler().add(&job).clone();
    assert!(!s.run().unwrap());
    let error = error_of(&job);
    let text = error.to_string();
    let CommandError::Slurm {
        job_id,
        state,
        exit_code,
        ..
    } = &error
    else {
        unreachable!()
    };
    assert_eq!(*state, SlurmState::Failed);
    assert_eq!(*exit_code, Some(3));
    assert_eq!(error.status().unwrap().code(), Some(3));
    assert!(text.contains(&format!("Slurm job {job_id} ")), "{text}");
    assert!(text.contains("FAILED with exit code 3"), "{text}");
    assert!(text.contains("oops"), "{text}");
    assert!(!live_slurm_jobs().contains(job_id));
}

#[test]
fn the_jobs_own_timeout_is_a_timeout_and_leaves_nothing_queued() {
    if !available("the_jobs_own_timeout_is_a_timeout_and_leaves_nothing_queued") {
        return;
    }
    let job = Job::custom(
        SlurmJob::new(["sleep", "300"])
            .timeout(Duration::from_secs(2))
            .slurm(Slurm::new().placement(Placement::Batch)),
    );
    let started = Instant::now();
    assert!(!scheduler().add(&job).run().unwrap());
    assert!(started.elapsed() < Duration::from_secs(120));
    let error = error_of(&job);
    let CommandError::Slurm { job_id, state, .. } = &error else {
        unreachable!()
    };
    // Slurm says CANCELLED with exit code 0 (signal 15); the job says why.
    assert_eq!(*state, SlurmState::Timeout, "{error}");
    assert!(error.to_string().contains("TIMEOUT"), "{error}");
    assert!(error.to_string().contains("timeout of 2s"), "{error}");
    assert!(!is_active(job_id), "job {job_id} is still in squeue");
}

#[test]
fn slurms_own_time_limit_ends_the_job_as_a_timeout() {
    if !available("slurms_own_time_limit_ends_the_job_as_a_timeout") {
        return;
    }
    // Slurm's shortest limit is a minute, checked every 30 s: this takes 60 to 90 s.
    let job = Job::custom(
        SlurmJob::new(["sleep", "600"]).slurm(
            Slurm::new()
                .time(Duration::from_secs(60))
                .placement(Placement::Batch),
        ),
    );
    assert!(!scheduler().add(&job).run().unwrap());
    let error = error_of(&job);
    let CommandError::Slurm { state, .. } = &error else {
        unreachable!()
    };
    assert_eq!(*state, SlurmState::Timeout, "{error}");
}

#[test]
fn a_cancelled_run_scancels_its_jobs_and_waits_for_their_end() {
    if !available("a_cancelled_run_scancels_its_jobs_and_waits_for_their_end") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let ids = dir.path().join("ids");
    let s = scheduler().timeout(Duration::from_secs(3));
    let jobs: Vec<Job<CommandOutput>> = (0..3)
        .map(|_| {
            Job::custom(
                SlurmJob::shell(format!(
                    "echo $SLURM_JOB_ID >> {}; sleep 300",
                    ids.display()
                ))
                .slurm(Slurm::new().placement(Placement::Batch)),
            )
        })
        .collect();
    for job in &jobs {
        s.add(job);
    }
    assert!(!s.run().unwrap());
    assert!(s.failed_time_out().is_some());
    for job in &jobs {
        assert_eq!(job.state(), JobState::Cancelled);
    }
    let started: Vec<String> = std::fs::read_to_string(&ids)
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_string)
        .collect();
    assert_eq!(started.len(), 3, "{started:?}");
    for id in &started {
        // The run returned once Slurm said each ended: nothing is left in squeue.
        assert!(!is_active(id), "job {id} is still in squeue");
        assert!(!live_slurm_jobs().contains(id));
    }
}

#[test]
fn a_critical_failure_cancels_the_rest() {
    if !available("a_critical_failure_cancels_the_rest") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let ids = dir.path().join("ids");
    let batch = || Slurm::new().placement(Placement::Batch);
    let fails = Job::custom(SlurmJob::shell("sleep 1; exit 1").slurm(batch())).critical(true);
    let slow: Vec<Job<CommandOutput>> = (0..3)
        .map(|_| {
            Job::custom(
                SlurmJob::shell(format!(
                    "echo $SLURM_JOB_ID >> {}; sleep 300",
                    ids.display()
                ))
                .slurm(batch()),
            )
        })
        .collect();
    let after = Job::custom(SlurmJob::new(["true"]).slurm(batch())).requires(&fails);
    let s = scheduler().add((&fails, &after)).clone();
    for job in &slow {
        s.add(job);
    }
    let started = Instant::now();
    assert!(!s.run().unwrap());
    assert!(s.failed_critical());
    assert!(started.elapsed() < Duration::from_secs(200));
    assert_eq!(fails.state(), JobState::Done);
    assert!(fails.raised_exception().is_some());
    assert_eq!(after.state(), JobState::Idle);
    let ids: Vec<String> = std::fs::read_to_string(&ids)
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_string)
        .collect();
    for job in &slow {
        assert_eq!(job.state(), JobState::Cancelled);
    }
    for id in &ids {
        assert!(!is_active(id), "job {id} is still in squeue");
    }
}

#[test]
fn a_hundred_batch_jobs_fan_out_and_in_within_a_window() {
    if !available("a_hundred_batch_jobs_fan_out_and_in_within_a_window") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("parts");
    let log = dir.path().join("log");
    let batch = || Slurm::new().placement(Placement::Batch);
    let first = Job::custom(SlurmJob::new(["mkdir", d.to_str().unwrap()]).slurm(batch()));
    let s = Scheduler::new().window(16);
    s.add(&first);
    let middle: Vec<Job<CommandOutput>> = (0..100)
        .map(|i| {
            // Each needs the directory the first one made, and counts how many run at once.
            Job::custom(
                SlurmJob::shell(format!(
                    "echo + >> {log}; echo {i} > {d}/{i}; sleep 0.2; echo - >> {log}",
                    log = log.display(),
                    d = d.display()
                ))
                .slurm(batch()),
            )
            .requires(&first)
        })
        .collect();
    for job in &middle {
        s.add(job);
    }
    let last = Job::custom(SlurmJob::shell(format!("ls {} | wc -l", d.display())).slurm(batch()))
        .requires(middle.as_slice());
    s.add(&last);
    let started = Instant::now();
    assert!(s.run().unwrap());
    println!(
        "100 batch jobs, window 16, fan-out and fan-in: {:?}",
        started.elapsed()
    );
    assert_eq!(last.result().unwrap().stdout.text().trim(), "100");
    let text = std::fs::read_to_string(&log).unwrap();
    let mut running = 0i32;
    let mut most = 0;
    for line in text.lines() {
        running += if line == "+" { 1 } else { -1 };
        most = most.max(running);
    }
    assert_eq!(running, 0);
    assert!(most <= 16, "{most} ran at once");
}

#[test]
fn a_chain_of_batch_jobs_runs_in_order() {
    if !available("a_chain_of_batch_jobs_runs_in_order") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    let s = Scheduler::new();
    let mut previous: Option<Job<CommandOutput>> = None;
    for i in 0..10 {
        let mut job = Job::custom(
            SlurmJob::shell(format!("echo {i} >> {}", log.display()))
                .slurm(Slurm::new().placement(Placement::Batch)),
        );
        if let Some(previous) = &previous {
            job = job.requires(previous);
        }
        s.add(&job);
        previous = Some(job);
    }
    let started = Instant::now();
    assert!(s.run().unwrap());
    println!(
        "a chain of 10 batch jobs: {:?} per job",
        started.elapsed() / 10
    );
    let expected: String = (0..10).map(|i| format!("{i}\n")).collect();
    assert_eq!(std::fs::read_to_string(&log).unwrap(), expected);
}

#[test]
fn steps_run_in_a_given_allocation() {
    if !available("steps_run_in_a_given_allocation") {
        return;
    }
    let allocation = Allocation::new(4);
    let here = || Slurm::new().placement(Placement::Allocation(allocation.id.clone()));
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    // A chain of ten steps, each appending its number and the allocation it ran in.
    let s = Scheduler::new().critical(false);
    let mut previous: Option<Job<CommandOutput>> = None;
    for i in 0..10 {
        let mut job = Job::custom(
            SlurmJob::shell(format!("echo {i} $SLURM_JOB_ID >> {}", log.display())).slurm(here()),
        );
        if let Some(previous) = &previous {
            job = job.requires(previous);
        }
        s.add(&job);
        previous = Some(job);
    }
    let fails = Job::custom(SlurmJob::shell("echo bad >&2; exit 3").slurm(here())).critical(false);
    s.add(&fails);
    let started = Instant::now();
    assert!(s.run().unwrap());
    println!(
        "a chain of 10 steps in an allocation: {:?} per step",
        started.elapsed() / 10
    );
    let expected: String = (0..10)
        .map(|i| format!("{i} {}\n", allocation.id))
        .collect();
    assert_eq!(std::fs::read_to_string(&log).unwrap(), expected);
    assert_eq!(previous.unwrap().state(), JobState::Done);
    let error = fails.raised_exception().unwrap();
    let error = error.downcast_ref::<CommandError>().unwrap();
    assert_eq!(error.status().unwrap().code(), Some(3));
    assert!(error.to_string().contains("bad"), "{error}");
    assert!(error.to_string().contains(&allocation.id), "{error}");
}

#[test]
fn a_cancelled_step_leaves_no_step_running() {
    if !available("a_cancelled_step_leaves_no_step_running") {
        return;
    }
    let allocation = Allocation::new(2);
    let job = Job::custom(
        SlurmJob::new(["sleep", "300"])
            .slurm(Slurm::new().placement(Placement::Allocation(allocation.id.clone()))),
    );
    let s = scheduler()
        .timeout(Duration::from_secs(2))
        .add(&job)
        .clone();
    assert!(!s.run().unwrap());
    assert_eq!(job.state(), JobState::Cancelled);
    assert!(
        eventually(Duration::from_secs(10), || running_steps(&allocation.id)
            .is_empty()),
        "steps left running: {:?}",
        running_steps(&allocation.id)
    );
}

#[test]
fn status_is_one_query_per_round_whatever_the_number_of_jobs() {
    if !available("status_is_one_query_per_round_whatever_the_number_of_jobs") {
        return;
    }
    let (queries, rounds) = (slurm_queries(), slurm_rounds());
    let started = Instant::now();
    let s = Scheduler::new();
    for _ in 0..40 {
        s.add(Job::custom(
            SlurmJob::new(["sleep", "2"]).slurm(Slurm::new().placement(Placement::Batch)),
        ));
    }
    assert!(s.run().unwrap());
    let elapsed = started.elapsed();
    // Read in the order opposite to a round's (rounds first): a round in flight counts once.
    let rounds = slurm_rounds() - rounds;
    let queries = slurm_queries() - queries;
    println!("40 batch jobs of 2 s: {queries} queries in {rounds} rounds, {elapsed:?}");
    assert!(rounds >= 2, "{rounds} rounds");
    // Other tests' jobs share the poller and its rounds, never adding queries to one.
    assert!(
        queries <= rounds + 1,
        "{queries} queries in {rounds} rounds"
    );
    // A round at most every 50 ms.
    let most = elapsed.as_millis() as u64 / 50 + 2;
    assert!(rounds <= most, "{rounds} rounds in {elapsed:?}");
}

#[test]
fn resources_reach_slurm_in_both_placements() {
    if !available("resources_reach_slurm_in_both_placements") {
        return;
    }
    let allocation = Allocation::new(4);
    let report = "echo $SLURM_CPUS_PER_TASK $SLURM_JOB_NAME";
    let resources = || {
        Slurm::new()
            .cpus_per_task(2)
            .mem("64M")
            .partition("debug")
            .time(Duration::from_secs(120))
    };
    let batch = Job::custom(SlurmJob::shell(report).slurm(resources().placement(Placement::Batch)));
    let step = Job::custom(
        SlurmJob::shell(report)
            .slurm(resources().placement(Placement::Allocation(allocation.id.clone()))),
    );
    assert!(scheduler().add((&batch, &step)).run().unwrap());
    let batch_says = batch.result().unwrap().stdout.text();
    let words: Vec<&str> = batch_says.split_whitespace().collect();
    assert_eq!(words[0], "2", "{batch_says}");
    // A run-unique name: this process's id and a number.
    assert!(
        words[1].starts_with(&format!("jobgraph-{}-", std::process::id())),
        "{batch_says}"
    );
    let step_says = step.result().unwrap().stdout.text();
    assert_eq!(
        step_says.split_whitespace().next(),
        Some("2"),
        "{step_says}"
    );
}

#[test]
fn a_job_past_its_deadline_is_reported_as_deadline() {
    if !available("a_job_past_its_deadline_is_reported_as_deadline") {
        return;
    }
    // A minute's work cannot end before a deadline 20 s away: Slurm drops it at once.
    let job = Job::custom(
        SlurmJob::new(["sleep", "30"]).slurm(
            Slurm::new()
                .time(Duration::from_secs(60))
                .extra("--deadline=now+20")
                .placement(Placement::Batch),
        ),
    );
    assert!(!scheduler().add(&job).run().unwrap());
    let error = error_of(&job);
    let CommandError::Slurm { state, .. } = &error else {
        unreachable!()
    };
    assert_eq!(*state, SlurmState::Deadline, "{error}");
    assert!(error.to_string().contains("DEADLINE"), "{error}");
}

#[test]
fn bad_resource_values_are_refused_before_anything_is_submitted() {
    // No cluster needed: the job fails before sbatch or srun would run.
    let cases = [
        Slurm::new().partition("-debug"),
        Slurm::new().partition(""),
        Slurm::new().account("a\nb"),
        Slurm::new().qos("normal\0"),
        Slurm::new().gres("gpu:1\n#SBATCH --x"),
        Slurm::new().mem("lots"),
        Slurm::new().mem("1GG"),
        Slurm::new().cpus_per_task(0),
        Slurm::new().time(Duration::ZERO),
        Slurm::new().extra("--output=/tmp/elsewhere"),
        Slurm::new().extra("--job-name=x"),
        Slurm::new().extra("-p debug"),
        Slurm::new().extra("--constraint"),
        Slurm::new().extra("--constraint=-x"),
        Slurm::new().extra("--Comment=x"),
        Slurm::new().extra("--comment=a\nb"),
    ];
    for (i, slurm) in cases.into_iter().enumerate() {
        for placement in [Placement::Batch, Placement::Allocation("1".into())] {
            let dir = tempfile::tempdir().unwrap();
            let marker = dir.path().join("ran");
            let job = Job::custom(
                SlurmJob::new(["touch", marker.to_str().unwrap()])
                    .slurm(slurm.clone().placement(placement.clone())),
            );
            let s = scheduler().add(&job).clone();
            assert!(!s.run().unwrap());
            match error_of(&job) {
                CommandError::SlurmOption { .. } => {}
                other => panic!("case {i}: {other}"),
            }
            assert!(!marker.exists());
        }
    }
    let job = Job::custom(
        SlurmJob::new(["echo", "a\0b"]).slurm(Slurm::new().placement(Placement::Batch)),
    );
    let s = scheduler().add(&job).clone();
    assert!(!s.run().unwrap());
    let error = job.raised_exception().unwrap();
    let error = error.downcast_ref::<CommandError>().unwrap();
    assert!(matches!(error, CommandError::Invalid { .. }), "{error}");
    assert!(error.to_string().contains("NUL"), "{error}");
    let text = Slurm::new()
        .account("a\nb")
        .args(None)
        .unwrap_err()
        .to_string();
    assert!(text.contains("nothing was submitted"), "{text}");
    assert!(text.contains(r"a\nb"), "{text}");
}

#[test]
fn resources_become_options_and_the_timeout_a_time_limit() {
    let slurm = Slurm::new()
        .cpus_per_task(2)
        .mem("512M")
        .partition("debug")
        .gres("gpu:1")
        .account("physics")
        .qos("normal")
        .extra("--constraint=avx2");
    assert_eq!(
        slurm.args(Some(Duration::from_secs(61))).unwrap(),
        [
            "--cpus-per-task=2",
            "--mem=512M",
            "--time=2",
            "--partition=debug",
            "--gres=gpu:1",
            "--account=physics",
            "--qos=normal",
            "--constraint=avx2",
        ]
    );
    // Slurm's own limit wins over the job's timeout.
    let slurm = Slurm::new().time(Duration::from_secs(3600));
    assert_eq!(
        slurm.args(Some(Duration::from_secs(5))).unwrap(),
        ["--time=60"]
    );
    assert_eq!(Slurm::new().args(None).unwrap(), Vec::<String>::new());
}
