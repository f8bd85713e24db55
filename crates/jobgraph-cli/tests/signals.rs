//! Ctrl-C with a real signal (and SIGTERM, and the hangup of a closed terminal): the
//! first cancels the run and leaves nothing running, the second exits at once.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{command, finish, gone, scenario};

/// Waits until `path` holds `n` pids; returns them.
fn wait_for_pids(path: &Path, n: usize) -> Vec<i32> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let pids: Vec<i32> = text
            .split_whitespace()
            .filter_map(|w| w.parse().ok())
            .collect();
        if pids.len() >= n {
            return pids;
        }
        assert!(
            Instant::now() < deadline,
            "the scenario's commands did not start: {pids:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn sigint(pid: u32) {
    signal(pid, libc::SIGINT);
}

fn signal(pid: u32, signal: i32) {
    // SAFETY: a plain kill(2) of our own child.
    let rc = unsafe { libc::kill(pid as i32, signal) };
    assert_eq!(rc, 0);
}

#[test]
fn the_first_ctrl_c_cancels_the_run_and_leaves_nothing_running() {
    cancels_the_run_and_leaves_nothing_running(libc::SIGINT);
}

#[test]
fn sigterm_cancels_the_run_and_leaves_nothing_running() {
    cancels_the_run_and_leaves_nothing_running(libc::SIGTERM);
}

/// The terminal closing: its hangup reaches the runner, not its commands, each in a
/// process group of its own.
#[test]
fn a_hangup_cancels_the_run_and_leaves_nothing_running() {
    cancels_the_run_and_leaves_nothing_running(libc::SIGHUP);
}

fn cancels_the_run_and_leaves_nothing_running(sent: i32) {
    let dir = tempfile::tempdir().unwrap();
    let pids = dir.path().join("pids");
    let p = pids.display();
    let file = scenario(
        dir.path(),
        &format!(
            r#"
[[job]]
id = "direct"
shell = "echo $$ >> {p}; exec sleep 60"
[[job]]
id = "with-child"
shell = "sleep 60 & echo $! >> {p}; echo $$ >> {p}; wait"
[[group]]
id = "nested"
  [[group.job]]
  id = "deep"
  shell = "echo $$ >> {p}; sleep 60"
[[job]]
id = "never"
command = ["true"]
requires = ["direct"]
"#
        ),
    );
    let journal = dir.path().join("journal");
    let child = command(
        &[
            "run",
            "--journal",
            journal.to_str().unwrap(),
            file.to_str().unwrap(),
        ],
        dir.path(),
    )
    .spawn()
    .unwrap();
    let pid = child.id();
    let recorded = wait_for_pids(&pids, 4);
    signal(pid, sent);
    let started = Instant::now();
    let run = finish(child, Duration::from_secs(20));
    assert_eq!(run.code, Some(130), "{run}");
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "{:?}",
        started.elapsed()
    );
    assert!(run.stderr.contains("interrupted"), "{run}");
    assert!(
        run.stdout
            .contains("interrupted: 0 ok, 0 failed, 1 not run, 3 cancelled"),
        "{run}"
    );
    for pid in recorded {
        assert!(
            gone(pid),
            "process {pid} of the scenario outlived the Ctrl-C"
        );
    }
    // The journal is there, and readable (nothing ended with a status).
    assert!(journal.exists());
}

#[test]
fn a_second_ctrl_c_exits_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let pids = dir.path().join("pids");
    let p = pids.display();
    // It ignores SIGTERM: after the first Ctrl-C it would run on until the grace ends.
    let file = scenario(
        dir.path(),
        &format!("[[job]]\nid = \"stubborn\"\nshell = \"trap '' TERM; echo $$ >> {p}; while true; do sleep 0.1; done\"\n"),
    );
    let child = command(&["run", file.to_str().unwrap()], dir.path())
        .spawn()
        .unwrap();
    let pid = child.id();
    let recorded = wait_for_pids(&pids, 1);
    sigint(pid);
    std::thread::sleep(Duration::from_millis(300));
    sigint(pid);
    let started = Instant::now();
    let run = finish(child, Duration::from_secs(20));
    assert_eq!(run.code, Some(130), "{run}");
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    assert!(run.stderr.contains("interrupted again"), "{run}");
    for pid in recorded {
        assert!(gone(pid), "process {pid} outlived the second Ctrl-C");
    }
}

#[test]
fn the_journal_survives_a_killed_runner_and_resume_skips_what_was_done() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display();
    let file = scenario(
        dir.path(),
        &format!(
            r#"
[[job]]
id = "fetch"
shell = "echo x >> {d}/fetch.count"
[[job]]
id = "build"
shell = "if [ -e {d}/fixed ]; then echo built; else echo $$ > {d}/build.pid; exec sleep 60; fi"
requires = ["fetch"]
"#
        ),
    );
    let journal = dir.path().join("journal");
    let args = [
        "run",
        "--journal",
        journal.to_str().unwrap(),
        file.to_str().unwrap(),
    ];
    let mut child = command(&args, dir.path()).spawn().unwrap();
    let pid = wait_for_pids(&dir.path().join("build.pid"), 1)[0];
    // The runner dies without a chance to clean up (nothing catches SIGKILL).
    child.kill().unwrap();
    child.wait().unwrap();
    // Its command, in a process group of its own, is left: end it here.
    // SAFETY: kill(2) of the group of a process this test's scenario started.
    unsafe { libc::kill(-pid, libc::SIGKILL) };
    assert!(gone(pid));
    let recorded = std::fs::read_to_string(&journal).unwrap();
    assert!(recorded.ends_with(" 0 fetch\n"), "{recorded:?}");

    std::fs::write(dir.path().join("fixed"), "").unwrap();
    let resume = [
        "run",
        "--journal",
        journal.to_str().unwrap(),
        "--resume",
        file.to_str().unwrap(),
    ];
    let run = finish(
        command(&resume, dir.path()).spawn().unwrap(),
        Duration::from_secs(60),
    );
    assert_eq!(run.code, Some(0), "{run}");
    assert!(run.stdout.contains("[build] built"), "{run}");
    assert!(
        run.stdout.contains("2 ok (1 done in a previous run)"),
        "{run}"
    );
    let count = std::fs::read_to_string(dir.path().join("fetch.count")).unwrap();
    assert_eq!(count.lines().count(), 1, "fetch ran again");
}
