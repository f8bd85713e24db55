//! The runner with Slurm: jobs placed on a real single-node cluster (`tools/slurm/
//! start.sh`, `SLURM_CONF`), their outcomes and ids, Ctrl-C and a critical failure
//! leaving nothing in `squeue`, and resources checked before anything is submitted.
//! Without a cluster the tests that need one say SKIPPED (a failure under CI's
//! `JOBGRAPH_REQUIRE_TOOLS=1`).

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{command, finish, jobgraph, scenario, Run};

fn assert_code(run: &Run, code: i32) {
    assert_eq!(run.code, Some(code), "{run}");
}

/// Whether a Slurm cluster answers here; says SKIPPED when not.
fn cluster(test: &str) -> bool {
    let answers = Command::new("sinfo")
        .args(["--noheader", "--format=%T"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .output()
        .is_ok_and(|o| {
            o.status.success() && {
                let states = String::from_utf8_lossy(&o.stdout);
                states.contains("idle") || states.contains("mix") || states.contains("alloc")
            }
        });
    if !answers {
        jobgraph_test_support::skipped(&format!(
            "{test}: no Slurm cluster answers `sinfo` (tools/slurm/start.sh DIR, then SLURM_CONF=DIR/slurm.conf)"
        ));
    }
    answers
}

/// The ids `squeue` lists whose job name starts with `jobgraph-` and this runner's pid.
fn queued(pid: u32) -> Vec<String> {
    let out = Command::new("squeue")
        .args(["--noheader", "--format=%i %j"])
        .output()
        .expect("squeue runs");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.contains(&format!("jobgraph-{pid}-")))
        .map(|l| l.split_whitespace().next().unwrap_or("").to_string())
        .collect()
}

/// Waits (60 s at most) until `squeue` lists nothing of runner `pid`.
fn queue_empties(pid: u32) -> bool {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !queued(pid).is_empty() {
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    true
}

#[test]
fn bad_resources_are_refused_by_check_before_anything_is_submitted() {
    for (text, what) in [
        (
            "[slurm]\nmem = \"lots\"\n[[job]]\nid = \"a\"\ncommand = [\"true\"]\n",
            "scenario.toml:1:1: [slurm] bad Slurm option `--mem=lots`",
        ),
        (
            "[[job]]\nid = \"a\"\ncommand = [\"true\"]\nslurm = { partition = \"-x\" }\n",
            "scenario.toml:4:9: job `a`: bad Slurm option `--partition=-x`",
        ),
        (
            "[[job]]\nid = \"a\"\ncommand = [\"true\"]\nslurm = { options = [\"--output=/tmp/x\"] }\n",
            "the job sets this option itself",
        ),
        (
            "[[job]]\nid = \"a\"\ncommand = [\"true\"]\nhost = \"h\"\nslurm = true\n",
            "a job runs on a `host` or on Slurm, not both",
        ),
        (
            "[[job]]\nid = \"a\"\ncommand = [\"true\"]\nslurm = { cpus = 0 }\n",
            "at least one CPU",
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let file = scenario(dir.path(), text);
        let run = jobgraph(&["check", file.to_str().unwrap()], dir.path());
        assert_code(&run, 2);
        assert!(run.stderr.contains(what), "{what}: {run}");
    }
}

#[test]
fn jobs_run_on_slurm_with_their_ids_in_the_summary_and_failures_named() {
    if !cluster("jobs on Slurm") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let file = scenario(
        dir.path(),
        r#"
window = 8
[slurm]
mem = "64M"
[[job]]
id = "prep"
shell = "echo prepared"
[[job]]
id = "sim"
matrix = { n = [1, 2, 3, 4] }
command = ["sh", "-c", "echo sim {n}"]
requires = ["prep"]
[[job]]
id = "merge"
shell = "echo merged"
requires = ["sim"]
slurm = { cpus = 2 }
[[job]]
id = "local"
shell = "echo here"
slurm = false
"#,
    );
    let journal = dir.path().join("journal");
    let run = jobgraph(
        &[
            "run",
            file.to_str().unwrap(),
            "--slurm",
            "--verbose",
            "--journal",
            journal.to_str().unwrap(),
        ],
        dir.path(),
    );
    assert_code(&run, 0);
    for line in [
        "[prep] prepared",
        "[sim[n=3]] sim 3",
        "[merge] merged",
        "[local] here",
    ] {
        assert!(run.stdout.contains(line), "{line}: {run}");
    }
    assert!(
        run.stdout.contains("--- [merge] submitted as Slurm job "),
        "{run}"
    );
    assert!(run.stdout.contains("Slurm job ids: merge="), "{run}");
    assert!(run.stdout.contains("7 ok, 0 failed, 0 not run"), "{run}");
    // `local` ran here: it has no Slurm id.
    assert!(!run.stdout.contains("local="), "{run}");

    // A failing Slurm job: its exit code, Slurm's state and its id are named.
    let failing = scenario(
        dir.path(),
        "[[job]]\nid = \"bad\"\nshell = \"echo broken >&2; exit 3\"\nslurm = true\n",
    );
    let run = jobgraph(&["run", failing.to_str().unwrap()], dir.path());
    assert_code(&run, 1);
    assert!(run.stdout.contains("Slurm job "), "{run}");
    assert!(run.stdout.contains("FAILED"), "{run}");
    assert!(run.stdout.contains("broken"), "{run}");
}

#[test]
fn a_critical_failure_and_ctrl_c_leave_nothing_in_squeue() {
    if !cluster("cancelling Slurm jobs") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let file = scenario(
        dir.path(),
        r#"
[[job]]
id = "long"
matrix = { n = [1, 2] }
command = ["sleep", "120"]
slurm = true
[[job]]
id = "fails"
shell = "sleep 2; exit 1"
slurm = true
"#,
    );
    let child = command(&["run", file.to_str().unwrap()], dir.path())
        .spawn()
        .unwrap();
    let pid = child.id();
    let run = finish(child, Duration::from_secs(90));
    assert_code(&run, 1);
    assert!(queue_empties(pid), "left in squeue: {:?}", queued(pid));

    // Ctrl-C while the jobs run (or wait) in Slurm.
    let only_long = scenario(
        dir.path(),
        "[[job]]\nid = \"long\"\nmatrix = { n = [1, 2, 3] }\ncommand = [\"sleep\", \"120\"]\nslurm = true\n",
    );
    let child = command(&["run", only_long.to_str().unwrap()], dir.path())
        .spawn()
        .unwrap();
    let pid = child.id();
    let deadline = Instant::now() + Duration::from_secs(30);
    while queued(pid).len() < 3 {
        assert!(Instant::now() < deadline, "the jobs never reached squeue");
        std::thread::sleep(Duration::from_millis(100));
    }
    // SAFETY: a plain kill(2) of our own child.
    assert_eq!(unsafe { libc::kill(pid as i32, libc::SIGINT) }, 0);
    let run = finish(child, Duration::from_secs(90));
    assert_code(&run, 130);
    assert!(queue_empties(pid), "left in squeue: {:?}", queued(pid));
}

#[test]
fn submit_hands_the_graph_to_slurm_and_status_reads_it_back() {
    // What Slurm cannot express is refused, cluster or not.
    for (text, what) in [
        (
            "[[job]]\nid = \"a\"\ncommand = [\"true\"]\nhost = \"h\"\n",
            "runs on an ssh host",
        ),
        (
            "[[job]]\nid = \"a\"\ncommand = [\"true\"]\nforever = true\n",
            "forever job",
        ),
        (
            "window = 2\n[[job]]\nid = \"a\"\ncommand = [\"true\"]\n",
            "--ignore-window",
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let file = scenario(dir.path(), text);
        let run = jobgraph(&["submit", file.to_str().unwrap()], dir.path());
        assert_code(&run, 2);
        assert!(run.stderr.contains(what), "{what}: {run}");
        assert!(!dir.path().join("scenario.slurm").exists());
    }
    if !cluster("submit") {
        return;
    }
    // A diamond whose left side fails: Slurm cancels the bottom; a job after a
    // non-critical failure runs (afterany).
    let dir = tempfile::tempdir().unwrap();
    let file = scenario(
        dir.path(),
        r#"
timeout = "5m"
[slurm]
mem = "64M"
[[job]]
id = "top"
shell = "echo top"
[[job]]
id = "left"
shell = "exit 3"
requires = ["top"]
[[job]]
id = "right"
shell = "echo right"
requires = ["top"]
[[job]]
id = "bottom"
shell = "echo bottom"
requires = ["left", "right"]
[[job]]
id = "soft"
shell = "exit 1"
critical = false
[[job]]
id = "after-soft"
shell = "echo after"
requires = ["soft"]
"#,
    );
    let submit = jobgraph(&["submit", file.to_str().unwrap()], dir.path());
    assert_code(&submit, 0);
    assert!(submit.stdout.contains("submitted 6 job(s)"), "{submit}");
    let state = dir.path().join("scenario.slurm");
    // A second submit of the same state is refused.
    let again = jobgraph(&["submit", file.to_str().unwrap()], dir.path());
    assert_code(&again, 2);
    assert!(again.stderr.contains("submitted already"), "{again}");
    let deadline = Instant::now() + Duration::from_secs(90);
    let status = loop {
        let status = jobgraph(&["status", state.to_str().unwrap()], dir.path());
        let done = ["PENDING", "RUNNING", "CONFIGURING", "COMPLETING"]
            .iter()
            .all(|s| !status.stdout.contains(s));
        if done {
            break status;
        }
        assert!(Instant::now() < deadline, "not ended: {status}");
        std::thread::sleep(Duration::from_millis(500));
    };
    assert_code(&status, 1);
    let line = |id: &str| {
        status
            .stdout
            .lines()
            .find(|l| l.starts_with(&format!("{id} ")))
            .unwrap_or_default()
            .to_string()
    };
    assert!(line("top").contains("COMPLETED exit 0"), "{status}");
    assert!(line("left").contains("FAILED exit 3"), "{status}");
    assert!(line("right").contains("COMPLETED"), "{status}");
    assert!(line("bottom").contains("CANCELLED"), "{status}");
    assert!(line("after-soft").contains("COMPLETED"), "{status}");
    let out = std::fs::read_to_string(state.join("jobgraph.scenario.right.out")).unwrap();
    assert_eq!(out, "right\n");

    // Cancel: what has not ended is cancelled.
    let long = scenario(
        dir.path(),
        "[[job]]\nid = \"long\"\ncommand = [\"sleep\", \"300\"]\n[[job]]\nid = \"next\"\ncommand = [\"true\"]\nrequires = [\"long\"]\n",
    );
    let other = dir.path().join("long-state");
    let submit = jobgraph(
        &[
            "submit",
            long.to_str().unwrap(),
            "--state",
            other.to_str().unwrap(),
        ],
        dir.path(),
    );
    assert_code(&submit, 0);
    let cancel = jobgraph(&["cancel", other.to_str().unwrap()], dir.path());
    assert_code(&cancel, 0);
    assert!(cancel.stdout.contains("cancelled 2 job(s)"), "{cancel}");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let status = jobgraph(&["status", other.to_str().unwrap()], dir.path());
        if status.stdout.contains("2 job(s): 2 cancelled") {
            break;
        }
        assert!(Instant::now() < deadline, "{status}");
        std::thread::sleep(Duration::from_millis(300));
    }
}
