//! Helpers shared by the integration test crates: quiet panics, recorded events,
//! bounded waits, jobgraph's threads, expected texts, and tests run again in a child
//! process.

// Each test crate uses only some of these helpers.
#![allow(dead_code)]

use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use jobgraph::{Event, Scheduler};

/// Silences the panic messages of code that panics on purpose on jobgraph's threads
/// (named `jobgraph ...`), keeping the default report for the test threads.
pub(crate) fn quiet_job_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let name = std::thread::current().name().unwrap_or("").to_string();
            if !name.starts_with("jobgraph") {
                default(info);
            }
        }));
    });
}

/// Records every event of `s`'s run, in the order observers see them.
pub(crate) fn record_events(s: Scheduler) -> (Scheduler, Arc<Mutex<Vec<Event>>>) {
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = events.clone();
    let s = s.observe(move |event| sink.lock().unwrap().push(event.clone()));
    (s, events)
}

/// Calls `ready` every `every` until it holds or `within` has passed; whether it held.
pub(crate) fn poll_until(
    within: Duration,
    every: Duration,
    mut ready: impl FnMut() -> bool,
) -> bool {
    let deadline = Instant::now() + within;
    loop {
        if ready() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(every);
    }
}

/// The threads of this process whose name starts with `jobgraph` (workers, the
/// coordinator of `run_async`, the timer), or `None` where `/proc` cannot tell.
pub(crate) fn jobgraph_threads() -> Option<usize> {
    let tasks = std::fs::read_dir("/proc/self/task").ok()?;
    Some(
        tasks
            .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
            .filter(|name| name.starts_with("jobgraph"))
            .count(),
    )
}

/// Waits (at most `within`) for jobgraph's threads to be gone, since a thread that
/// has returned may take a moment to leave `/proc`; returns how many are left, or
/// `None` where `/proc` cannot tell.
pub(crate) fn settled_threads(within: Duration) -> Option<usize> {
    let mut left = None;
    poll_until(within, Duration::from_millis(10), || {
        left = jobgraph_threads();
        matches!(left, None | Some(0))
    });
    left
}

/// The resident memory of this process in KiB, or `None` where `/proc` cannot tell.
pub(crate) fn rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// The lines, each ended by a newline: how listings and DOT texts come out.
pub(crate) fn text(lines: &[&str]) -> String {
    lines.iter().map(|line| format!("{line}\n")).collect()
}

/// Runs the ignored test `name` of this test binary in a child process, its
/// environment set by `env`; asserts that it passed and returns what it printed.
#[track_caller]
pub(crate) fn child_test_stdout(name: &str, env: impl FnOnce(&mut Command)) -> String {
    let mut child = Command::new(std::env::current_exe().unwrap());
    child.args(["--exact", name, "--ignored", "--nocapture"]);
    env(&mut child);
    let output = child.output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}
