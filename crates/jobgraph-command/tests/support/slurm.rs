//! Whether a Slurm cluster answers here (`tools/slurm/start.sh` starts a single-node one
//! on localhost), and small helpers to look at it from tests.
//!
//! Without one, the tests that need it print a `SKIPPED` line and pass, unless
//! `JOBGRAPH_REQUIRE_SLURM=1` is set (CI sets it): then they fail.

#![allow(dead_code)]

use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Why no cluster can be used, or `None` when one answers with a usable node.
fn why_not() -> Option<String> {
    let mut child = match Command::new("sinfo")
        .args(["--noheader", "--format=%t"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(child) => child,
        Err(_) => {
            return Some("`sinfo` is not on the PATH (apt-get install slurm-wlm munge)".into())
        }
    };
    // sinfo retries for a minute when SLURM_CONF names a missing file: a bounded wait.
    let answered = eventually(Duration::from_secs(20), || {
        matches!(child.try_wait(), Ok(Some(_)))
    });
    if !answered {
        let _ = child.kill();
        let _ = child.wait();
        return Some("`sinfo` did not answer within 20 s".into());
    }
    let output = child.wait_with_output().expect("sinfo's output");
    if !output.status.success() {
        return Some(format!(
            "no Slurm cluster answers (start one with tools/slurm/start.sh DIR and export SLURM_CONF=DIR/slurm.conf): {}",
            // Its last word, on one line.
            String::from_utf8_lossy(&output.stderr)
                .lines()
                .rfind(|line| !line.trim().is_empty())
                .unwrap_or("sinfo said nothing")
                .trim()
        ));
    }
    let states = String::from_utf8_lossy(&output.stdout).to_string();
    // A node busy ending the jobs of a test before is usable (`comp`); one marked
    // with a flag (`idle*`: not responding, `idle~`: powered off, ...) is not.
    let usable = states
        .split_whitespace()
        .any(|s| ["idle", "mix", "alloc", "comp", "plnd"].contains(&s));
    if usable {
        None
    } else {
        Some(format!(
            "the cluster has no usable node (sinfo says {:?})",
            states.trim()
        ))
    }
}

/// Whether the test can use a cluster; prints why not, or panics when one is required.
pub(crate) fn available(test: &str) -> bool {
    static WHY_NOT: OnceLock<Option<String>> = OnceLock::new();
    match WHY_NOT.get_or_init(why_not) {
        None => true,
        Some(why) => {
            if std::env::var("JOBGRAPH_REQUIRE_SLURM").as_deref() == Ok("1") {
                panic!("JOBGRAPH_REQUIRE_SLURM=1 but {why}");
            }
            jobgraph_test_support::skipped(&format!("{test}: {why}"));
            false
        }
    }
}

/// `squeue`'s view of a job: its state, or `None` once it is gone.
pub(crate) fn state_of(id: &str) -> Option<String> {
    let output = Command::new("squeue")
        .args([
            "--noheader",
            "--states=all",
            &format!("--jobs={id}"),
            "--format=%T",
        ])
        .output()
        .expect("squeue runs");
    let text = String::from_utf8_lossy(&output.stdout).trim().to_string();
    (!text.is_empty()).then_some(text)
}

/// Whether the job is still pending, running or ending in Slurm's view.
pub(crate) fn is_active(id: &str) -> bool {
    matches!(
        state_of(id).as_deref(),
        Some("PENDING" | "RUNNING" | "COMPLETING" | "CONFIGURING" | "SUSPENDED")
    )
}

/// The steps of a job that are running now (`ID.N`, without the batch step).
pub(crate) fn running_steps(id: &str) -> Vec<String> {
    let output = Command::new("squeue")
        .args([
            "--noheader",
            "--steps",
            &format!("--jobs={id}"),
            "--format=%i",
        ])
        .output()
        .expect("squeue runs");
    String::from_utf8_lossy(&output.stdout)
        .split_whitespace()
        .filter(|s| !s.ends_with(".batch") && !s.ends_with(".extern"))
        .map(str::to_string)
        .collect()
}

/// Waits, at most `within`, for `done`; whether it came.
pub(crate) fn eventually(within: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + within;
    loop {
        if done() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// An allocation of `cpus` CPUs held by a batch job that sleeps, for steps to run in;
/// cancelled when dropped.
pub(crate) struct Allocation {
    /// Its Slurm job id.
    pub(crate) id: String,
}

impl Allocation {
    /// Submits it and waits (at most 60 s) until it runs.
    pub(crate) fn new(cpus: u32) -> Allocation {
        let output = Command::new("sbatch")
            .args([
                "--parsable",
                "--job-name=jobgraph-test-allocation",
                &format!("--ntasks={cpus}"),
                "--output=/dev/null",
                "--wrap=sleep 600",
            ])
            .output()
            .expect("sbatch runs");
        assert!(
            output.status.success(),
            "sbatch failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let id = String::from_utf8_lossy(&output.stdout)
            .trim()
            .split(';')
            .next()
            .unwrap()
            .to_string();
        let allocation = Allocation { id };
        assert!(
            eventually(Duration::from_secs(60), || state_of(&allocation.id)
                .as_deref()
                == Some("RUNNING")),
            "the allocation {} did not start",
            allocation.id
        );
        allocation
    }
}

impl Drop for Allocation {
    fn drop(&mut self) {
        let _ = Command::new("scancel").arg(&self.id).status();
    }
}
