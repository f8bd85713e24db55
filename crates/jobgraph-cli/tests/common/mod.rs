//! Running the `jobgraph` binary in tests, bounded in time.

#![allow(dead_code)]

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How a run of the binary ended.
pub(crate) struct Run {
    /// Its exit code (`None`: killed by a signal).
    pub(crate) code: Option<i32>,
    /// What it printed.
    pub(crate) stdout: String,
    /// What it printed on stderr.
    pub(crate) stderr: String,
}

impl fmt::Display for Run {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "exit {:?}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// The binary, with a clean environment for colours.
pub(crate) fn command(args: &[&str], cwd: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_jobgraph"));
    command
        .args(args)
        .current_dir(cwd)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

/// Waits for `child` at most `limit`, killing it after that; collects its output.
pub(crate) fn finish(mut child: Child, limit: Duration) -> Run {
    let stdout = child.stdout.take();
    let mut stderr = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut text = String::new();
        if let Some(mut stdout) = stdout {
            let _ = stdout.read_to_string(&mut text);
        }
        text
    });
    let err = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let status = child.wait().unwrap();
            panic!(
                "jobgraph ran past {limit:?} and was killed ({status}); stdout so far:\n{}",
                out.join().unwrap()
            );
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    Run {
        code: status.code(),
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
    }
}

/// Runs the binary to its end (at most 60 s).
pub(crate) fn jobgraph(args: &[&str], cwd: &Path) -> Run {
    let child = command(args, cwd).spawn().expect("the binary runs");
    finish(child, Duration::from_secs(60))
}

/// Writes a scenario file in `dir`.
pub(crate) fn scenario(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("scenario.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// Waits (at most 5 s) for a process to be gone; true when it is.
pub(crate) fn gone(pid: i32) -> bool {
    jobgraph_test_support::gone(pid, Duration::from_secs(5))
}
