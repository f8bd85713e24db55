//! Making a picture runs Graphviz's `dot`: when the process that asked for it is
//! interrupted or killed meanwhile, `dot` goes with it, and nothing is left in the
//! temporary directory (the DOT text goes to `dot` through a pipe, never a file).
//!
//! Each test runs an export of a big graph in a child process (this test binary again,
//! running the ignored `child_exports_a_big_graph_to_png`), with a temporary directory
//! of its own, signals the child once its `dot` has started, then looks for survivors.

#![cfg(all(target_os = "linux", feature = "pictures"))]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use jobgraph::{Job, Scheduler};

/// The environment variable that tells the child where to write its picture.
const EXPORT_TO: &str = "JOBGRAPH_TEST_EXPORT_TO";

/// Run only as the child of the tests below: exports 20,000 jobs (a grid 100 wide) as a
/// PNG, which keeps `dot` busy for a long while.
#[test]
#[ignore = "the child process of the dot_process tests"]
fn child_exports_a_big_graph_to_png() {
    let Some(out) = std::env::var_os(EXPORT_TO) else {
        return;
    };
    let jobs: Vec<Job<()>> = (0..20_000)
        .map(|i| Job::new(|_| ()).label(format!("job {i}")))
        .collect();
    for i in 100..jobs.len() {
        jobs[i].add_requires(&jobs[i - 100]);
    }
    let s = Scheduler::new();
    s.add(&jobs[..]);
    let _ = s.export_as_pngfile(Path::new(&out).join("graph"));
}

/// The processes whose parent is `parent` and whose command is `name`, as `/proc`
/// shows them (zombies left out: they are gone, only not reaped yet).
fn children_named(parent: u32, name: &str) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| {
            let pid: u32 = entry.ok()?.file_name().to_str()?.parse().ok()?;
            let (command, state, ppid) = stat(pid)?;
            (ppid == parent && command == name && state != "Z").then_some(pid)
        })
        .collect()
}

/// A process's command, state and parent, from `/proc/PID/stat`.
fn stat(pid: u32) -> Option<(String, String, u32)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let command = text[open + 1..close].to_string();
    let mut rest = text[close + 1..].split_whitespace();
    let state = rest.next()?.to_string();
    let ppid = rest.next()?.parse().ok()?;
    Some((command, state, ppid))
}

/// Whether process `pid` still runs (a zombie does not).
fn alive(pid: u32) -> bool {
    stat(pid).is_some_and(|(_, state, _)| state != "Z")
}

fn signal(pid: u32, name: &str) {
    let status = Command::new("kill")
        .args(["-s", name, &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success(), "kill -s {name} {pid}");
}

/// A fresh directory for one test.
fn fresh_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "jobgraph-dot-process-{}-{name}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Starts the child with its own temporary directory `tmp`, writing under `out`.
///
/// Its SIGINT is set back to the default: a shell's background job (`cmd &` without job
/// control, or under `nohup`) ignores SIGINT, and its children inherit that, where the
/// test asks what becomes of `dot` when SIGINT ends the program.
fn start_child(tmp: &Path, out: &Path) -> Child {
    use std::os::unix::process::CommandExt;
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .args([
            "--exact",
            "child_exports_a_big_graph_to_png",
            "--ignored",
            "--nocapture",
        ])
        .env("TMPDIR", tmp)
        .env(EXPORT_TO, out)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    // SAFETY: between `fork` and `exec`, one async-signal-safe call.
    unsafe {
        command.pre_exec(|| {
            if libc::signal(libc::SIGINT, libc::SIG_DFL) == libc::SIG_ERR {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    command.spawn().unwrap()
}

/// Waits for the child to end, a minute at most: a child that outlives its signal is
/// killed, and the test fails rather than hangs.
fn wait_ended(child: &mut Child, name: &str) -> std::process::ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the child still ran a minute after {name}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Signals the child with `name` once its `dot` runs; then whether that `dot`
/// survived it, and what the child left in its temporary directory.
fn interrupt_an_export(test: &str, name: &str) -> Option<(bool, Vec<PathBuf>)> {
    if jobgraph::find_dot().is_none() {
        jobgraph_test_support::skipped("the real check: Graphviz's `dot` is not installed");
        return None;
    }
    let dir = fresh_dir(test);
    let (tmp, out) = (dir.join("tmp"), dir.join("out"));
    std::fs::create_dir_all(&tmp).unwrap();
    std::fs::create_dir_all(&out).unwrap();
    let mut child = start_child(&tmp, &out);
    let started = Instant::now();
    let dot = loop {
        if let Some(&dot) = children_named(child.id(), "dot").first() {
            break dot;
        }
        if started.elapsed() > Duration::from_secs(120) || child.try_wait().unwrap().is_some() {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the child never started dot");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    // Let `dot` read its input and start its layout.
    std::thread::sleep(Duration::from_millis(500));
    signal(child.id(), name);
    let status = wait_ended(&mut child, name);
    assert!(!status.success(), "the child was not stopped by {name}");
    let gone_by = Instant::now() + Duration::from_secs(10);
    while alive(dot) && Instant::now() < gone_by {
        std::thread::sleep(Duration::from_millis(10));
    }
    let survived = alive(dot);
    if survived {
        // Not left running past this test.
        signal(dot, "KILL");
    }
    let left: Vec<PathBuf> = std::fs::read_dir(&tmp)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    let _ = std::fs::remove_dir_all(&dir);
    Some((survived, left))
}

#[test]
fn dot_does_not_outlive_an_export_interrupted_by_sigint_nor_leave_a_temporary_file() {
    let Some((survived, left)) = interrupt_an_export("int", "INT") else {
        return;
    };
    assert!(
        !survived && left.is_empty(),
        "after SIGINT: dot ran on: {survived}; left in the temporary directory: {left:?}"
    );
}

#[test]
fn dot_does_not_outlive_an_export_killed_by_sigkill_nor_leave_a_temporary_file() {
    let Some((survived, left)) = interrupt_an_export("kill", "KILL") else {
        return;
    };
    assert!(
        !survived && left.is_empty(),
        "after SIGKILL: dot ran on: {survived}; left in the temporary directory: {left:?}"
    );
}
