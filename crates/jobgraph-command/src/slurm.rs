//! [`SlurmJob`] and its [`Slurm`] resources: a program run on a Slurm cluster, as a
//! step of an allocation or as a batch job of its own, watched by one shared poller.

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use jobgraph::{AbstractJob, Context};

use crate::command::{run_with, short, Options};
use crate::output::{Captured, CommandError, CommandOutput, Line, LineCutter, Sink, Stream};
use crate::quote::{quote, quote_words};
use crate::Program;

/// How long a step's `srun` has, once sent SIGTERM, before SIGKILL, unless the job
/// asks for longer: srun answers SIGTERM by cancelling the step and waiting for it
/// (up to Slurm's `KillWait` and a little more), while an srun killed outright leaves
/// its step running.
pub const STEP_GRACE: Duration = Duration::from_secs(10);

/// How long a cancelled batch job may take to reach a final state in Slurm's view.
const CANCEL_WAIT: Duration = Duration::from_secs(60);
/// How long a job may be missing from Slurm's view, or Slurm unreachable, before the
/// job fails.
const LOST_AFTER: Duration = Duration::from_secs(10);
/// The poller's first interval, and its shortest.
const FIRST_INTERVAL: Duration = Duration::from_millis(50);
/// The poller's longest interval.
const LONGEST_INTERVAL: Duration = Duration::from_secs(1);
/// How often a batch job's worker reads its output files and looks at its flags.
const TICK: Duration = Duration::from_millis(20);
/// How long one Slurm command (`sbatch`, `squeue`, `scancel`) may take.
const COMMAND_DEADLINE: Duration = Duration::from_secs(60);

/// Where a [`SlurmJob`] runs.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub enum Placement {
    /// A step of the allocation this process runs in when `SLURM_JOB_ID` is set in its
    /// environment (inside `salloc` or a batch script), a batch job otherwise.
    #[default]
    Auto,
    /// A batch job of its own (`sbatch`), whatever the environment says.
    Batch,
    /// A step (`srun --jobid=ID`) of this allocation: a Slurm job id.
    Allocation(String),
}

/// The resources and options of a [`SlurmJob`], checked before anything is submitted.
///
/// Each becomes one argv word in `--name=value` form, given to `sbatch` or `srun`
/// without a shell. A value may not be empty, hold a newline or a NUL, or start with
/// `-` (it would read as another option); [`extra`](Slurm::extra) options must be
/// `--name=value` with a name of lowercase letters, digits and `-`, and may not be
/// one of the options the job sets itself (`--output`, `--error`, `--job-name`,
/// `--input`, `--wrap`, `--parsable`, `--jobid`, `--chdir`, `--export`). A bad value fails the
/// job with [`CommandError::SlurmOption`] before `sbatch` or `srun` runs.
///
/// ```
/// use std::time::Duration;
/// use jobgraph_command::Slurm;
/// let slurm = Slurm::new().cpus_per_task(4).mem("2G").time(Duration::from_secs(90));
/// assert_eq!(slurm.args(None).unwrap(), ["--cpus-per-task=4", "--mem=2G", "--time=2"]);
/// assert!(Slurm::new().partition("-x").args(None).is_err());
/// assert!(Slurm::new().extra("--output=/tmp/x").args(None).is_err());
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
#[must_use = "settings do nothing until a SlurmJob takes them (SlurmJob::slurm)"]
pub struct Slurm {
    cpus_per_task: Option<u32>,
    mem: Option<String>,
    time: Option<Duration>,
    partition: Option<String>,
    gres: Option<String>,
    account: Option<String>,
    qos: Option<String>,
    extra: Vec<String>,
    placement: Placement,
    output_dir: Option<PathBuf>,
}

/// The options a [`SlurmJob`] sets itself, which [`Slurm::extra`] may not.
const RESERVED: &[&str] = &[
    "output", "error", "input", "job-name", "wrap", "parsable", "jobid", "chdir", "export",
];

impl Slurm {
    /// No resources asked: Slurm's defaults (one CPU, the default partition).
    pub fn new() -> Slurm {
        Slurm::default()
    }

    /// `--cpus-per-task=N` (at least 1).
    pub fn cpus_per_task(mut self, cpus: u32) -> Self {
        self.cpus_per_task = Some(cpus);
        self
    }

    /// `--mem=VALUE`: a number with an optional unit, `K`, `M` (the default), `G` or `T`.
    pub fn mem(mut self, mem: impl Into<String>) -> Self {
        self.mem = Some(mem.into());
        self
    }

    /// `--time`: Slurm's time limit, in whole minutes, rounded up (Slurm counts no
    /// finer). Without it, the job's own [`timeout`](SlurmJob::timeout) gives it.
    pub fn time(mut self, limit: Duration) -> Self {
        self.time = Some(limit);
        self
    }

    /// `--partition=NAME` (batch jobs; a step runs in its allocation's).
    pub fn partition(mut self, partition: impl Into<String>) -> Self {
        self.partition = Some(partition.into());
        self
    }

    /// `--gres=SPEC` (`gpu:1`, ...).
    pub fn gres(mut self, gres: impl Into<String>) -> Self {
        self.gres = Some(gres.into());
        self
    }

    /// `--account=NAME` (batch jobs).
    pub fn account(mut self, account: impl Into<String>) -> Self {
        self.account = Some(account.into());
        self
    }

    /// `--qos=NAME` (batch jobs).
    pub fn qos(mut self, qos: impl Into<String>) -> Self {
        self.qos = Some(qos.into());
        self
    }

    /// Another option, one argv word in `--name=value` form (`--constraint=avx2`).
    pub fn extra(mut self, option: impl Into<String>) -> Self {
        self.extra.push(option.into());
        self
    }

    /// Where the job runs (default [`Placement::Auto`]).
    pub fn placement(mut self, placement: Placement) -> Self {
        self.placement = placement;
        self
    }

    /// Where a batch job's script and output files are written (a private directory
    /// is made inside, removed when the job ends). It must be seen by the compute
    /// nodes under the same path: on a real cluster, a shared filesystem. Defaults to
    /// the system's temporary directory, which is enough for a single-node cluster.
    pub fn output_dir(mut self, dir: impl AsRef<Path>) -> Self {
        self.output_dir = Some(dir.as_ref().to_path_buf());
        self
    }

    /// The options, checked, for a batch job: `--name=value` words, in a fixed order.
    /// `timeout` is the job's own timeout, which gives `--time` when no
    /// [`time`](Slurm::time) was set.
    pub fn args(&self, timeout: Option<Duration>) -> Result<Vec<String>, CommandError> {
        self.build(timeout, false)
    }

    fn build(&self, timeout: Option<Duration>, step: bool) -> Result<Vec<String>, CommandError> {
        let mut args = Vec::new();
        if let Some(cpus) = self.cpus_per_task {
            if cpus == 0 {
                return Err(bad("--cpus-per-task=0", "at least one CPU is needed"));
            }
            args.push(format!("--cpus-per-task={cpus}"));
        }
        if let Some(mem) = &self.mem {
            let option = format!("--mem={mem}");
            check_value(&option, mem)?;
            let digits = mem.trim_end_matches(['K', 'M', 'G', 'T']);
            if digits.is_empty()
                || !digits.bytes().all(|b| b.is_ascii_digit())
                || mem.len() > digits.len() + 1
            {
                return Err(bad(
                    &option,
                    "memory is a number with an optional unit K, M, G or T",
                ));
            }
            args.push(option);
        }
        if let Some(limit) = self.time.or(timeout) {
            if limit.is_zero() {
                return Err(bad("--time=0", "a time limit of zero would never run"));
            }
            args.push(format!("--time={}", limit.as_secs().div_ceil(60).max(1)));
        }
        let named = [
            ("partition", &self.partition, false),
            ("gres", &self.gres, true),
            ("account", &self.account, false),
            ("qos", &self.qos, false),
        ];
        for (name, value, for_steps) in named {
            if let Some(value) = value {
                let option = format!("--{name}={value}");
                check_value(&option, value)?;
                if for_steps || !step {
                    args.push(option);
                }
            }
        }
        for option in &self.extra {
            check_extra(option)?;
            args.push(option.clone());
        }
        Ok(args)
    }
}

fn bad(option: &str, reason: impl Into<String>) -> CommandError {
    CommandError::SlurmOption {
        option: option.to_string(),
        reason: reason.into(),
    }
}

fn check_value(option: &str, value: &str) -> Result<(), CommandError> {
    if value.is_empty() {
        return Err(bad(option, "the value is empty"));
    }
    if value.contains(['\n', '\r', '\0']) {
        return Err(bad(option, "the value holds a newline or a NUL"));
    }
    if value.starts_with('-') {
        return Err(bad(option, "the value starts with `-`"));
    }
    Ok(())
}

fn check_extra(option: &str) -> Result<(), CommandError> {
    let Some((name, value)) = option
        .strip_prefix("--")
        .and_then(|rest| rest.split_once('='))
    else {
        return Err(bad(option, "an option is one word, `--name=value`"));
    };
    if name.is_empty()
        || name.starts_with('-')
        || !name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Err(bad(
            option,
            "an option's name is lowercase letters, digits and `-`",
        ));
    }
    if RESERVED.contains(&name) {
        return Err(bad(option, "the job sets this option itself"));
    }
    check_value(option, value)
}

/// How a Slurm job ended, in Slurm's words (`squeue`'s `%T`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SlurmState {
    /// `COMPLETED`: every step exited with 0 (a batch script's last status is its own).
    Completed,
    /// `FAILED`: a non-zero exit code or a failure to launch.
    Failed,
    /// `TIMEOUT`: past its time limit; also how a job cancelled at its own
    /// [`timeout`](SlurmJob::timeout) is reported.
    Timeout,
    /// `OUT_OF_MEMORY`: past its memory limit.
    OutOfMemory,
    /// `NODE_FAIL`: a node it ran on failed.
    NodeFail,
    /// `PREEMPTED`: another job took its resources.
    Preempted,
    /// `CANCELLED`: by `scancel`, a user, an administrator, or the run.
    Cancelled,
    /// `BOOT_FAIL`: its nodes failed to boot.
    BootFail,
    /// `DEADLINE`: past its `--deadline`.
    Deadline,
    /// Another final state (`SPECIAL_EXIT`, `REVOKED`, ...), as Slurm names it.
    Other(String),
    /// It left Slurm's view (purged, or Slurm stopped answering) before a final state
    /// was seen.
    Lost,
}

impl SlurmState {
    /// The state for Slurm's name, when it is final; `None` while the job may go on
    /// (`PENDING`, `RUNNING`, `COMPLETING`, `REQUEUED`, `SUSPENDED`, ...).
    pub fn from_final(name: &str) -> Option<SlurmState> {
        Some(match name {
            "COMPLETED" => SlurmState::Completed,
            "FAILED" => SlurmState::Failed,
            "TIMEOUT" => SlurmState::Timeout,
            "OUT_OF_MEMORY" => SlurmState::OutOfMemory,
            "NODE_FAIL" => SlurmState::NodeFail,
            "PREEMPTED" => SlurmState::Preempted,
            "CANCELLED" => SlurmState::Cancelled,
            "BOOT_FAIL" => SlurmState::BootFail,
            "DEADLINE" => SlurmState::Deadline,
            "REVOKED" | "SPECIAL_EXIT" => SlurmState::Other(name.to_string()),
            _ => return None,
        })
    }
}

impl fmt::Display for SlurmState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SlurmState::Completed => "COMPLETED",
            SlurmState::Failed => "FAILED",
            SlurmState::Timeout => "TIMEOUT",
            SlurmState::OutOfMemory => "OUT_OF_MEMORY",
            SlurmState::NodeFail => "NODE_FAIL",
            SlurmState::Preempted => "PREEMPTED",
            SlurmState::Cancelled => "CANCELLED",
            SlurmState::BootFail => "BOOT_FAIL",
            SlurmState::Deadline => "DEADLINE",
            SlurmState::Other(name) => name,
            SlurmState::Lost => "LOST",
        })
    }
}

// ---------------------------------------------------------------------------------
// The poller: one thread per process, one `squeue` per round for all the jobs.

/// Status queries sent to Slurm by this process (`squeue`, and `scontrol show job` or
/// `sacct` for a job gone from `squeue`'s view).
static QUERIES: AtomicU64 = AtomicU64::new(0);
/// Polling rounds done by this process's poller.
static ROUNDS: AtomicU64 = AtomicU64::new(0);
/// Batch jobs of this process not yet seen to end, by Slurm job id.
static LIVE: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());

/// How many status queries this process has sent to Slurm: one `squeue` per polling
/// round whatever the number of jobs watched, plus one `scontrol show job` (and, where
/// the cluster keeps accounting, one `sacct`) for each job that left `squeue`'s view
/// before its end was seen (rare: a job stays there for Slurm's `MinJobAge` after it
/// ends).
pub fn slurm_queries() -> u64 {
    QUERIES.load(Ordering::Relaxed)
}

/// How many polling rounds this process's poller has done (each with one `squeue`).
pub fn slurm_rounds() -> u64 {
    ROUNDS.load(Ordering::Relaxed)
}

/// The Slurm job ids of this process's batch jobs not yet seen to end.
pub fn live_slurm_jobs() -> Vec<String> {
    lock(&LIVE).iter().cloned().collect()
}

/// Cancels every job of [`live_slurm_jobs`] with one `scancel`, now, on this thread
/// (for a program that must leave nothing queued when it stops abruptly: a second
/// Ctrl-C); returns how many there were. The jobs' workers then see them end. Steps
/// are local `srun` processes: [`kill_live_process_groups`](crate::kill_live_process_groups)
/// with SIGTERM ends them, srun cancelling its step.
pub fn cancel_live_slurm_jobs() -> usize {
    let ids = live_slurm_jobs();
    if !ids.is_empty() {
        let _ = slurm_command("scancel", &ids, COMMAND_DEADLINE, &|| false);
    }
    ids.len()
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// What the poller last saw of one job.
#[derive(Clone, Debug, Default)]
struct Seen {
    /// Its final state, once seen.
    end: Option<SlurmState>,
    /// Its exit code as a wait status (`exit << 8 | signal`), with the final state.
    raw_status: i32,
    /// Slurm's reason, or why it was lost.
    reason: String,
}

struct Watch {
    seen: Mutex<Seen>,
    changed: Condvar,
}

impl Watch {
    fn set(&self, seen: Seen) {
        *lock(&self.seen) = seen;
        self.changed.notify_all();
    }

    /// Its end, waiting at most `timeout` for it.
    fn wait_end(&self, timeout: Duration) -> Option<Seen> {
        let seen = lock(&self.seen);
        let (seen, _) = self
            .changed
            .wait_timeout_while(seen, timeout, |s| s.end.is_none())
            .unwrap_or_else(|e| e.into_inner());
        seen.end.is_some().then(|| seen.clone())
    }
}

struct Watched {
    watch: Arc<Watch>,
    /// Since when it has been missing from Slurm's view.
    missing_since: Option<Instant>,
}

#[derive(Default)]
struct PollerState {
    jobs: HashMap<String, Watched>,
    cancels: Vec<String>,
    /// Something new (a job, a cancellation): poll soon, at the first interval again.
    hurry: bool,
}

struct Poller {
    state: Mutex<PollerState>,
    wake: Condvar,
}

/// The process's poller, its thread started by the first call; an error when the
/// thread could not be started (then and at every later call).
fn poller() -> Result<&'static Poller, String> {
    static POLLER: OnceLock<Result<&'static Poller, String>> = OnceLock::new();
    POLLER
        .get_or_init(|| {
            let poller: &'static Poller = Box::leak(Box::new(Poller {
                state: Mutex::new(PollerState::default()),
                wake: Condvar::new(),
            }));
            std::thread::Builder::new()
                .name("jobgraph-slurm-poller".into())
                .spawn(move || poller.run())
                .map(|_| poller)
                .map_err(|e| format!("cannot start the Slurm poller thread: {e}"))
        })
        .clone()
}

impl Poller {
    fn watch(&self, id: &str) -> Arc<Watch> {
        let watch = Arc::new(Watch {
            seen: Mutex::new(Seen::default()),
            changed: Condvar::new(),
        });
        let mut state = lock(&self.state);
        state.jobs.insert(
            id.to_string(),
            Watched {
                watch: watch.clone(),
                missing_since: None,
            },
        );
        state.hurry = true;
        self.wake.notify_all();
        watch
    }

    fn cancel(&self, id: &str) {
        let mut state = lock(&self.state);
        state.cancels.push(id.to_string());
        state.hurry = true;
        self.wake.notify_all();
    }

    fn forget(&self, id: &str) {
        lock(&self.state).jobs.remove(id);
    }

    fn run(&self) {
        let mut interval = FIRST_INTERVAL;
        let mut last_round = Instant::now() - FIRST_INTERVAL;
        let mut failing_since: Option<Instant> = None;
        loop {
            let (ids, cancels) = {
                let mut state = lock(&self.state);
                loop {
                    let busy = !state.jobs.is_empty() || !state.cancels.is_empty();
                    if state.hurry {
                        interval = FIRST_INTERVAL;
                    }
                    let due = last_round + interval;
                    let now = Instant::now();
                    if busy && now >= due {
                        break;
                    }
                    // Idle, it sleeps until a job or a cancellation comes.
                    state = if busy {
                        self.wake
                            .wait_timeout(state, due - now)
                            .unwrap_or_else(|e| e.into_inner())
                            .0
                    } else {
                        self.wake.wait(state).unwrap_or_else(|e| e.into_inner())
                    };
                }
                state.hurry = false;
                let ids: Vec<String> = state.jobs.keys().cloned().collect();
                (ids, std::mem::take(&mut state.cancels))
            };
            last_round = Instant::now();
            interval = (interval * 2).min(LONGEST_INTERVAL);
            if !cancels.is_empty() {
                let _ = slurm_command("scancel", &cancels, COMMAND_DEADLINE, &|| false);
            }
            if ids.is_empty() {
                continue;
            }
            ROUNDS.fetch_add(1, Ordering::Relaxed);
            match squeue(&ids) {
                Ok(rows) => {
                    failing_since = None;
                    self.record(&ids, rows);
                }
                Err(message) => {
                    let since = *failing_since.get_or_insert_with(Instant::now);
                    if since.elapsed() > LOST_AFTER {
                        self.lose_all(&format!(
                            "Slurm did not answer for {} s: {message}",
                            LOST_AFTER.as_secs()
                        ));
                    }
                }
            }
        }
    }

    fn record(&self, ids: &[String], mut rows: HashMap<String, Row>) {
        let mut missing = Vec::new();
        {
            let mut state = lock(&self.state);
            for id in ids {
                let Some(watched) = state.jobs.get_mut(id) else {
                    continue;
                };
                match rows.remove(id) {
                    Some(row) => {
                        watched.missing_since = None;
                        if let Some(end) = SlurmState::from_final(&row.state) {
                            watched.watch.set(Seen {
                                end: Some(end),
                                raw_status: row.raw_status,
                                reason: row.reason,
                            });
                            state.jobs.remove(id);
                        }
                    }
                    None => missing.push(id.clone()),
                }
            }
        }
        // Gone from squeue's view (purged after MinJobAge, or squeue's view lags):
        // scontrol may still know it; otherwise it is lost after a while.
        for id in missing {
            let row = scontrol_show_job(&id).or_else(|| sacct(&id));
            let mut state = lock(&self.state);
            let Some(watched) = state.jobs.get_mut(&id) else {
                continue;
            };
            match row.and_then(|row| SlurmState::from_final(&row.state).map(|s| (s, row))) {
                Some((end, row)) => {
                    watched.watch.set(Seen {
                        end: Some(end),
                        raw_status: row.raw_status,
                        reason: row.reason,
                    });
                    state.jobs.remove(&id);
                }
                None => {
                    let since = *watched.missing_since.get_or_insert_with(Instant::now);
                    if since.elapsed() > LOST_AFTER {
                        watched.watch.set(Seen {
                            end: Some(SlurmState::Lost),
                            raw_status: 0,
                            reason: format!(
                                "it left Slurm's view without a final state (not seen for {} s)",
                                LOST_AFTER.as_secs()
                            ),
                        });
                        state.jobs.remove(&id);
                    }
                }
            }
        }
    }

    fn lose_all(&self, why: &str) {
        let mut state = lock(&self.state);
        for (_, watched) in state.jobs.drain() {
            watched.watch.set(Seen {
                end: Some(SlurmState::Lost),
                raw_status: 0,
                reason: why.to_string(),
            });
        }
    }
}

/// One job as `squeue` or `scontrol` shows it.
#[derive(Debug)]
struct Row {
    state: String,
    raw_status: i32,
    reason: String,
}

/// `squeue` for these jobs: one query.
fn squeue(ids: &[String]) -> Result<HashMap<String, Row>, String> {
    QUERIES.fetch_add(1, Ordering::Relaxed);
    let args = [
        "--noheader".to_string(),
        "--states=all".to_string(),
        format!("--jobs={}", ids.join(",")),
        "--Format=JobID:|,State:|,exit_code:|,Reason:".to_string(),
    ];
    let (status, stdout, stderr) = slurm_command("squeue", &args, COMMAND_DEADLINE, &|| false)?;
    // Every job asked for is unknown (purged): squeue says so and exits with 1.
    if !status.success() && !stderr.contains("Invalid job id") {
        return Err(format!("squeue failed ({status}): {}", stderr.trim()));
    }
    Ok(parse_squeue(&stdout))
}

fn parse_squeue(text: &str) -> HashMap<String, Row> {
    let mut rows = HashMap::new();
    for line in text.lines() {
        let fields: Vec<&str> = line.split('|').map(str::trim).collect();
        if let [id, state, code, reason, ..] = fields[..] {
            // A state may carry a suffix (`CANCELLED by 0`).
            let state = state.split_whitespace().next().unwrap_or("").to_string();
            rows.insert(
                id.to_string(),
                Row {
                    state,
                    raw_status: code.parse().unwrap_or(0),
                    reason: reason.to_string(),
                },
            );
        }
    }
    rows
}

/// Whether `sacct` answered once: without accounting (no slurmdbd) it never will, and
/// is asked no more.
static NO_ACCOUNTING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// `sacct` for a job that `scontrol` no longer knows (purged from the controller's
/// memory): one query, where the cluster keeps accounting.
fn sacct(id: &str) -> Option<Row> {
    if NO_ACCOUNTING.load(Ordering::Relaxed) {
        return None;
    }
    QUERIES.fetch_add(1, Ordering::Relaxed);
    let args = [
        "--noheader".to_string(),
        "--parsable2".into(),
        format!("--jobs={id}"),
        "--format=JobID,State,ExitCode,Reason".into(),
    ];
    let (status, stdout, stderr) =
        slurm_command("sacct", &args, COMMAND_DEADLINE, &|| false).ok()?;
    if !status.success() {
        if stderr.contains("accounting storage is disabled") {
            NO_ACCOUNTING.store(true, Ordering::Relaxed);
        }
        return None;
    }
    parse_sacct(id, &stdout)
}

/// The job's own line (not its steps') of `sacct --parsable2`: `ID|STATE|CODE:SIGNAL|REASON`.
fn parse_sacct(id: &str, text: &str) -> Option<Row> {
    text.lines().find_map(|line| {
        let fields: Vec<&str> = line.split('|').collect();
        match fields[..] {
            [job, state, code, ref reason @ ..] if job == id => Some(Row {
                state: state.split_whitespace().next().unwrap_or("").to_string(),
                raw_status: raw_status(code),
                reason: reason.first().unwrap_or(&"").to_string(),
            }),
            _ => None,
        }
    })
}

/// A wait status (`exit << 8 | signal`) from Slurm's `CODE:SIGNAL`.
fn raw_status(text: &str) -> i32 {
    let (code, signal) = text.split_once(':').unwrap_or((text, "0"));
    (code.parse::<i32>().unwrap_or(0) << 8) | signal.parse::<i32>().unwrap_or(0)
}

/// `scontrol -o show job ID`: one query, for a job gone from `squeue`'s view.
fn scontrol_show_job(id: &str) -> Option<Row> {
    QUERIES.fetch_add(1, Ordering::Relaxed);
    let args = [
        "-o".to_string(),
        "show".into(),
        "job".into(),
        id.to_string(),
    ];
    let (status, stdout, _) = slurm_command("scontrol", &args, COMMAND_DEADLINE, &|| false).ok()?;
    if !status.success() {
        return None;
    }
    let mut state = None;
    let mut raw_status = 0;
    let mut reason = String::new();
    for word in stdout.split_whitespace() {
        if let Some(value) = word.strip_prefix("JobState=") {
            state = Some(value.to_string());
        } else if let Some(value) = word.strip_prefix("ExitCode=") {
            raw_status = self::raw_status(value);
        } else if let Some(value) = word.strip_prefix("Reason=") {
            reason = value.to_string();
        }
    }
    Some(Row {
        state: state?,
        raw_status,
        reason,
    })
}

/// Runs a Slurm client command to its end (at most `deadline`, or until `cancelled`),
/// without a shell; its status, stdout and stderr.
fn slurm_command(
    program: &str,
    args: &[String],
    deadline: Duration,
    cancelled: &dyn Fn() -> bool,
) -> Result<(ExitStatus, String, String), String> {
    slurm_command_env(program, args, &[], deadline, cancelled)
}

/// [`slurm_command`] with these variables added to its environment (`sbatch` passes
/// its environment on to the job).
fn slurm_command_env(
    program: &str,
    args: &[String],
    env: &[(String, String)],
    deadline: Duration,
    cancelled: &dyn Fn() -> bool,
) -> Result<(ExitStatus, String, String), String> {
    let dir = tempfile::tempdir().map_err(|e| format!("cannot make a temporary directory: {e}"))?;
    let out_path = dir.path().join("out");
    let err_path = dir.path().join("err");
    let out = File::create(&out_path).map_err(|e| e.to_string())?;
    let err = File::create(&err_path).map_err(|e| e.to_string())?;
    let mut child = Command::new(program)
        .args(args)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .process_group(0)
        .spawn()
        .map_err(|e| format!("cannot run `{program}`: {e}"))?;
    let started = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if cancelled() || started.elapsed() > deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(if cancelled() {
                    format!("`{program}` was cancelled")
                } else {
                    format!("`{program}` did not end within {} s", deadline.as_secs())
                });
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(2)),
            Err(e) => return Err(format!("cannot wait for `{program}`: {e}")),
        }
    };
    let stdout = std::fs::read_to_string(&out_path).unwrap_or_default();
    let stderr = std::fs::read_to_string(&err_path).unwrap_or_default();
    Ok((status, stdout, stderr))
}

// ---------------------------------------------------------------------------------
// The job.

/// A job that runs a program on a Slurm cluster.
///
/// **Two placements.** Inside an allocation (`SLURM_JOB_ID` set, or
/// [`Placement::Allocation`] given), each job is a step,
/// `srun --exclusive -n1 --quiet [--jobid=ID] <resources> -- argv`, run as a local
/// child process by the same runner as a [`CommandJob`](crate::CommandJob): its
/// output streams through srun's pipes, cancellation sends srun SIGTERM (srun then
/// cancels the step and waits for it; SIGKILL only after a grace of at least
/// [`STEP_GRACE`]), and its errors are a command job's, naming the srun command. A
/// step starts in tens of milliseconds and `--exclusive` gives it CPUs of its own in
/// the allocation, so a graph of many short jobs belongs there.
///
/// Outside one, each job is a batch job of its own: a script `#!/bin/sh` with `exec`
/// of the argv (quoted with [`quote_words`]) is given to
/// `sbatch --parsable --job-name=<unique> --output=FILE --error=FILE <resources>`.
/// The worker then follows the two files, passing each line to the job's
/// [`sink`](SlurmJob::sink) as it is written and keeping their tails, until Slurm says
/// the job ended. Nothing goes through a shell but the script's own `/bin/sh`, and
/// every option is checked first (see [`Slurm`]).
///
/// **One query per round.** Jobs do not ask Slurm about themselves: one poller thread
/// per process (started by the first batch job) sends one
/// `squeue --states=all --jobs=ID,ID,...` per round for every job it watches, at an
/// interval that starts at 50 ms, doubles up to 1 s, and starts again at 50 ms when a
/// job is submitted or cancelled; each worker waits on its own job's entry. A
/// scheduler with a window of 200 batch jobs thus costs Slurm's controller one RPC a
/// second, not 200 ([`slurm_queries`] counts them). A job that left `squeue`'s view
/// is looked up once a round with `scontrol show job`, then `sacct` where the cluster
/// keeps accounting; after 10 s of not being found it fails as [`SlurmState::Lost`].
///
/// **Outcome.** The job succeeds only for `COMPLETED` with exit code 0; its value is a
/// [`CommandOutput`] like a command job's (the status is Slurm's exit code). Any other
/// final state fails it with [`CommandError::Slurm`], naming the Slurm job id and
/// state, its exit code and the tail of its output.
///
/// **Cancellation.** When the run cancels the job, or its own
/// [`timeout`](SlurmJob::timeout) expires, the poller `scancel`s it (the
/// cancellations of one round in one command) and the worker waits until Slurm says it
/// ended, so nothing is left in `squeue`; a job cancelled at its own timeout is
/// reported as [`SlurmState::Timeout`], whatever exit code Slurm gives. The timeout
/// also sets Slurm's time limit (`--time`, in whole minutes, rounded up) unless
/// [`Slurm::time`] does, so the job ends even if this process dies.
/// [`cancel_live_slurm_jobs`] cancels all the batch jobs of the process at once.
///
/// ```no_run
/// use jobgraph::{Job, Scheduler};
/// use jobgraph_command::{Slurm, SlurmJob};
///
/// let job = Job::custom(SlurmJob::new(["hostname"]).slurm(Slurm::new().cpus_per_task(2)));
/// assert!(Scheduler::new().add(&job).run().unwrap());
/// println!("{}", job.result().unwrap().stdout.text());
/// ```
#[derive(Clone)]
#[must_use = "a job does nothing until a scheduler runs it (Job::custom)"]
pub struct SlurmJob {
    program: Program,
    options: Options,
    slurm: Slurm,
    on_submit: Option<Submitted>,
}

impl fmt::Debug for SlurmJob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SlurmJob")
            .field("program", &self.program)
            .field("options", &self.options)
            .field("slurm", &self.slurm)
            .field("on_submit", &self.on_submit.as_ref().map(|_| "Fn(&str)"))
            .finish()
    }
}

/// What learns a batch job's Slurm id once `sbatch` gave it: a runner that prints it,
/// records it, or cancels it by name later.
pub type Submitted = Arc<dyn Fn(&str) + Send + Sync>;

/// A number for each batch job of this process, for unique job names and directories.
static SEQUENCE: AtomicU64 = AtomicU64::new(0);

impl SlurmJob {
    /// Runs this program with these arguments, without a shell.
    pub fn new<I>(argv: I) -> SlurmJob
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        SlurmJob::from_program(Program::Argv(argv.into_iter().map(Into::into).collect()))
    }

    /// Runs this text with `sh -c`.
    pub fn shell(text: impl Into<String>) -> SlurmJob {
        SlurmJob::from_program(Program::Shell(text.into()))
    }

    /// Runs this program.
    pub fn from_program(program: Program) -> SlurmJob {
        SlurmJob {
            program,
            options: Options::default(),
            slurm: Slurm::default(),
            on_submit: None,
        }
    }

    /// Calls `submitted` with the Slurm job id of a batch job as soon as `sbatch` gives
    /// it (a step has no id of its own: it is a step of its allocation).
    pub fn on_submit(mut self, submitted: Submitted) -> Self {
        self.on_submit = Some(submitted);
        self
    }

    /// What it runs.
    pub fn program(&self) -> &Program {
        &self.program
    }

    /// Its resources and placement.
    pub fn slurm(mut self, slurm: Slurm) -> Self {
        self.slurm = slurm;
        self
    }

    option_setters! {
        env: "Sets an environment variable for the program (the rest of this process's \
              environment is passed on, as `sbatch` and `srun` do by default).",
        cwd: "Runs the program in this directory (as seen by the compute node).",
        grace: "For a step: how long srun has between SIGTERM and SIGKILL when cancelled (at \
                least [`STEP_GRACE`]).",
        timeout: "Cancels the job once it has run this long (counted from its submission); also \
                  Slurm's time limit unless [`Slurm::time`] is set.",
    }

    /// Whether the job can be submitted: what
    /// [`CommandJob::check`](crate::CommandJob::check) checks of its command, env and
    /// working directory (no NUL byte anywhere: a batch job's script is a text file),
    /// and its Slurm options. The job runs this check itself before it submits
    /// anything.
    pub fn check(&self) -> Result<(), CommandError> {
        if let Some(message) = self.options.problem(&self.program) {
            return Err(CommandError::Invalid {
                command: self.program.display(),
                message,
            });
        }
        self.slurm.args(self.options.timeout).map(|_| ())
    }

    /// Where it would run now: the allocation for a step, `None` for a batch job.
    pub fn allocation(&self) -> Option<String> {
        match &self.slurm.placement {
            Placement::Batch => None,
            Placement::Allocation(id) => Some(id.clone()),
            Placement::Auto => std::env::var("SLURM_JOB_ID")
                .ok()
                .filter(|id| !id.is_empty()),
        }
    }

    /// The argv of the program itself (`sh -c TEXT` for a shell text).
    fn argv(&self) -> Vec<String> {
        match &self.program {
            Program::Argv(argv) => argv.clone(),
            Program::Shell(text) => vec!["sh".into(), "-c".into(), text.clone()],
        }
    }

    fn step_command(&self, allocation: &str, args: Vec<String>) -> Command {
        let mut command = Command::new("srun");
        command.args(["--exclusive", "-n1", "--quiet"]);
        command.arg(format!("--jobid={allocation}"));
        command.args(args).arg("--").args(self.argv());
        for (key, value) in &self.options.env {
            command.env(key, value);
        }
        if let Some(dir) = &self.options.cwd {
            command.current_dir(dir);
        }
        command
    }

    fn run_step(&self, ctx: &Context<'_>, allocation: &str) -> Result<CommandOutput, CommandError> {
        let args = self.slurm.build(self.options.timeout, true)?;
        if allocation.is_empty()
            || !allocation
                .bytes()
                .all(|b| b.is_ascii_digit() || b == b'_' || b == b'+')
        {
            return Err(bad(
                &format!("--jobid={allocation}"),
                "an allocation is a Slurm job id",
            ));
        }
        let command = self.step_command(allocation, args);
        let display = format!("srun (in {allocation}): {}", self.program.display());
        let mut options = self.options.clone();
        options.grace = options.grace.max(STEP_GRACE);
        run_with(command, &display, &options, ctx, false)
    }

    fn run_batch(&self, ctx: &Context<'_>) -> Result<CommandOutput, CommandError> {
        let args = self.slurm.build(self.options.timeout, false)?;
        let display = self.program.display();
        let started = Instant::now();
        let submit_error = |message: String| CommandError::SlurmSubmit {
            command: display.clone(),
            message,
        };
        let n = SEQUENCE.fetch_add(1, Ordering::Relaxed);
        let name = format!("jobgraph-{}-{n}", std::process::id());
        let base = self
            .slurm
            .output_dir
            .clone()
            .unwrap_or_else(std::env::temp_dir);
        let dir = tempfile::Builder::new()
            .prefix(&format!("{name}-"))
            .tempdir_in(&base)
            .map_err(|e| {
                submit_error(format!(
                    "cannot make a directory in {}: {e}",
                    base.display()
                ))
            })?;
        let script = dir.path().join("job.sh");
        let out_path = dir.path().join("stdout");
        let err_path = dir.path().join("stderr");
        let text = format!("#!/bin/sh\nexec {}\n", quote_words(self.argv()));
        File::create(&script)
            .and_then(|mut f| f.write_all(text.as_bytes()))
            .map_err(|e| submit_error(format!("cannot write {}: {e}", script.display())))?;
        let mut sbatch = vec![
            "--parsable".to_string(),
            format!("--job-name={name}"),
            format!("--output={}", out_path.display()),
            format!("--error={}", err_path.display()),
        ];
        let cwd = match &self.options.cwd {
            Some(dir) => dir.clone(),
            None => std::env::current_dir().map_err(|e| submit_error(e.to_string()))?,
        };
        sbatch.push(format!("--chdir={}", cwd.display()));
        sbatch.extend(args);
        sbatch.push(script.display().to_string());
        // Started before the submission: a job is never in Slurm without a watcher.
        let poller = poller().map_err(submit_error)?;
        let id = self.submit(&sbatch, true).map_err(submit_error)?;
        if let Some(submitted) = &self.on_submit {
            submitted(&id);
        }
        let mut stdout = Follower::new(out_path, Stream::Stdout, self.options.capture_limit);
        let mut stderr = Follower::new(err_path, Stream::Stderr, self.options.capture_limit);
        let label: Arc<str> = ctx
            .job()
            .map(|job| job.text_label())
            .unwrap_or_else(|| short(&display))
            .into();
        let sink = self.options.sink.as_ref();
        let watch = poller.watch(&id);
        let mut cancelled: Option<(Instant, bool)> = None;
        let seen = loop {
            stdout.follow(sink, &label);
            stderr.follow(sink, &label);
            if let Some(seen) = watch.wait_end(TICK) {
                break seen;
            }
            match cancelled {
                None => {
                    let timed_out = self.options.timeout.is_some_and(|t| started.elapsed() >= t);
                    if timed_out || ctx.is_cancelled() {
                        poller.cancel(&id);
                        cancelled = Some((Instant::now(), timed_out));
                    }
                }
                Some((since, _)) if since.elapsed() > CANCEL_WAIT => {
                    poller.forget(&id);
                    break Seen {
                        end: Some(SlurmState::Lost),
                        raw_status: 0,
                        reason: format!(
                            "cancelled, but Slurm did not say it ended within {} s",
                            CANCEL_WAIT.as_secs()
                        ),
                    };
                }
                Some(_) => {}
            }
        };
        stdout.follow(sink, &label);
        stderr.follow(sink, &label);
        stdout.close(sink, &label);
        stderr.close(sink, &label);
        if seen.end != Some(SlurmState::Lost) {
            lock(&LIVE).remove(&id);
        }
        let status = ExitStatus::from_raw(seen.raw_status);
        let output = Box::new(CommandOutput {
            command: display.clone(),
            status,
            stdout: stdout.captured,
            stderr: stderr.captured,
            duration: started.elapsed(),
        });
        let end = seen.end.unwrap_or(SlurmState::Lost);
        let why = match cancelled {
            Some((_, true)) => format!(
                "its timeout of {:?} expired and it was cancelled",
                self.options.timeout.unwrap_or_default()
            ),
            Some((_, false)) => "the run cancelled it".to_string(),
            None => seen.reason,
        };
        let state = match (cancelled, end) {
            (Some((_, true)), SlurmState::Cancelled | SlurmState::Completed) => SlurmState::Timeout,
            (_, end) => end,
        };
        if state == SlurmState::Completed && status.success() && cancelled.is_none() {
            return Ok(*output);
        }
        Err(CommandError::Slurm {
            job_id: id,
            state,
            exit_code: status.code(),
            signal: status.signal(),
            why,
            command: display,
            output,
        })
    }

    /// Runs sbatch; the job id, registered as live.
    /// Submits with these `sbatch` arguments; its id, counted among this process's
    /// live jobs when `live`.
    fn submit(&self, args: &[String], live: bool) -> Result<String, String> {
        let (status, stdout, stderr) =
            // Not cut short when the run is cancelled: an sbatch killed after the
            // controller took the job would leave it queued, unknown to us. The loop
            // that follows the job scancels it.
            slurm_command_env("sbatch", args, &self.options.env, COMMAND_DEADLINE, &|| false)?;
        if !status.success() {
            return Err(format!("sbatch failed ({status}): {}", stderr.trim()));
        }
        let id = stdout.trim().split(';').next().unwrap_or("").to_string();
        if !is_job_id(&id) {
            return Err(format!(
                "sbatch gave no job id: {:?} {:?}",
                stdout.trim(),
                stderr.trim()
            ));
        }
        if live {
            lock(&LIVE).insert(id.clone());
        }
        Ok(id)
    }

    /// Submits the job to outlive this process (`jobgraph submit`): its script and
    /// output files in `dir` (`NAME.sh`, `NAME.out`, `NAME.err`), named `name` in
    /// Slurm, after `dependency` (`afterok:12:13,afterany:14`, `sbatch`'s syntax)
    /// with `--kill-on-invalid-dep=yes`, so that Slurm cancels it when a job it needs
    /// failed. Nothing watches it: its id is returned, for [`slurm_status`] and
    /// [`scancel`].
    pub fn submit_detached(
        &self,
        name: &str,
        dir: &Path,
        dependency: Option<&str>,
    ) -> Result<String, CommandError> {
        let display = self.program.display();
        let submit_error = |message: String| CommandError::SlurmSubmit {
            command: display.clone(),
            message,
        };
        self.check()?;
        let mut args = self.slurm.build(self.options.timeout, false)?;
        if let Some(dependency) = dependency {
            let option = format!("--dependency={dependency}");
            check_value(&option, dependency)?;
            args.push(option);
            args.push("--kill-on-invalid-dep=yes".into());
        }
        let script = dir.join(format!("{name}.sh"));
        let text = format!("#!/bin/sh\nexec {}\n", quote_words(self.argv()));
        File::create(&script)
            .and_then(|mut f| f.write_all(text.as_bytes()))
            .map_err(|e| submit_error(format!("cannot write {}: {e}", script.display())))?;
        let cwd = match &self.options.cwd {
            Some(cwd) => cwd.clone(),
            None => std::env::current_dir().map_err(|e| submit_error(e.to_string()))?,
        };
        let mut sbatch = vec![
            "--parsable".to_string(),
            format!("--job-name={name}"),
            format!("--output={}", dir.join(format!("{name}.out")).display()),
            format!("--error={}", dir.join(format!("{name}.err")).display()),
            format!("--chdir={}", cwd.display()),
        ];
        sbatch.extend(args);
        sbatch.push(script.display().to_string());
        self.submit(&sbatch, false).map_err(submit_error)
    }
}

/// What Slurm says of a job now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlurmStatus {
    /// Its state in Slurm's words (`PENDING`, `RUNNING`, `COMPLETED`, `FAILED`,
    /// `CANCELLED`...), or `UNKNOWN` when Slurm no longer knows it.
    pub state: String,
    /// Its exit code, once it ended.
    pub exit_code: Option<i32>,
    /// Slurm's reason (`Dependency`, `DependencyNeverSatisfied`, `None`...).
    pub reason: String,
}

/// What Slurm says of these jobs now: one `squeue` for all of them, then `scontrol`
/// (or `sacct`, where accounting exists) for each one gone from its view.
pub fn slurm_status(ids: &[String]) -> Result<HashMap<String, SlurmStatus>, String> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    job_ids(ids)?;
    let mut rows = squeue(ids)?;
    for id in ids {
        if !rows.contains_key(id) {
            if let Some(row) = scontrol_show_job(id).or_else(|| sacct(id)) {
                rows.insert(id.clone(), row);
            }
        }
    }
    Ok(ids
        .iter()
        .map(|id| {
            let status = match rows.remove(id) {
                Some(row) => SlurmStatus {
                    exit_code: SlurmState::from_final(&row.state).map(|_| row.raw_status >> 8),
                    state: row.state,
                    reason: row.reason,
                },
                None => SlurmStatus {
                    state: "UNKNOWN".into(),
                    exit_code: None,
                    reason: "Slurm no longer knows this job".into(),
                },
            };
            (id.clone(), status)
        })
        .collect())
}

/// Cancels these jobs: one `scancel`.
pub fn scancel(ids: &[String]) -> Result<(), String> {
    if ids.is_empty() {
        return Ok(());
    }
    job_ids(ids)?;
    let (status, _, stderr) = slurm_command("scancel", ids, COMMAND_DEADLINE, &|| false)?;
    if !status.success() {
        return Err(format!("scancel failed ({status}): {}", stderr.trim()));
    }
    Ok(())
}

/// Whether `id` is a Slurm job id as `sbatch --parsable` gives it (digits, and `_` for
/// an array's task): nothing else reaches `squeue`, `scancel`, `scontrol` or `sacct`
/// as an id, where a word starting with `-` would be an option (`--user=alice`).
pub fn is_job_id(id: &str) -> bool {
    !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit() || b == b'_')
}

/// Refuses ids that are not Slurm job ids, naming the first.
fn job_ids(ids: &[String]) -> Result<(), String> {
    match ids.iter().find(|id| !is_job_id(id)) {
        Some(bad) => Err(format!(
            "{bad:?} is not a Slurm job id (digits, and `_` for an array's task)"
        )),
        None => Ok(()),
    }
}

/// A batch job's output file, followed as Slurm writes it.
struct Follower {
    path: PathBuf,
    file: Option<File>,
    stream: Stream,
    lines: LineCutter,
    captured: Captured,
}

impl Follower {
    fn new(path: PathBuf, stream: Stream, limit: usize) -> Follower {
        Follower {
            path,
            file: None,
            stream,
            lines: LineCutter::default(),
            captured: Captured::new(limit),
        }
    }

    /// Reads what was appended since last time (the file appears when the job starts).
    fn follow(&mut self, sink: Option<&Sink>, label: &Arc<str>) {
        if self.file.is_none() {
            self.file = File::open(&self.path).ok();
        }
        let Some(mut file) = self.file.take() else {
            return;
        };
        let mut buf = [0u8; 64 * 1024];
        loop {
            match file.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => self.feed(&buf[..n], sink, label),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
        self.file = Some(file);
    }

    fn feed(&mut self, data: &[u8], sink: Option<&Sink>, label: &Arc<str>) {
        self.captured.push(data);
        let Some(sink) = sink else {
            return;
        };
        let stream = self.stream;
        self.lines.feed(data, |bytes, newline| {
            sink(&Line::of(label, stream, bytes, newline))
        });
    }

    fn close(&mut self, sink: Option<&Sink>, label: &Arc<str>) {
        if let Some(sink) = sink {
            let stream = self.stream;
            self.lines
                .finish(|bytes, newline| sink(&Line::of(label, stream, bytes, newline)));
        }
    }
}

impl AbstractJob for SlurmJob {
    type Output = Result<CommandOutput, CommandError>;

    fn run(&mut self, ctx: &Context<'_>) -> Self::Output {
        self.check()?;
        match self.allocation() {
            Some(allocation) => self.run_step(ctx, &allocation),
            None => self.run_batch(ctx),
        }
    }

    fn kind(&self) -> &'static str {
        "SlurmJob"
    }

    fn text_label(&self) -> Option<String> {
        Some(short(&self.program.display()))
    }

    fn details(&self) -> Option<String> {
        let args = self.slurm.args(self.options.timeout).unwrap_or_default();
        let how = match self.allocation() {
            Some(id) => format!("srun --jobid={id}"),
            None => "sbatch".to_string(),
        };
        // As a shell would run it: env as `env`, each option one quoted word.
        let mut text = String::new();
        if let Some(dir) = &self.options.cwd {
            text.push_str(&format!("cd -- {} && ", quote(&dir.display().to_string())));
        }
        if !self.options.env.is_empty() {
            text.push_str("env -- ");
            for (key, value) in &self.options.env {
                text.push_str(&quote(&format!("{key}={value}")));
                text.push(' ');
            }
        }
        text.push_str(&how);
        for arg in &args {
            text.push(' ');
            text.push_str(&quote(arg));
        }
        text.push_str(" -- ");
        text.push_str(&quote_words(self.argv()));
        Some(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_job_ids_reach_slurms_commands_as_ids() {
        for id in ["12", "12_3"] {
            assert!(is_job_id(id), "{id}");
        }
        for id in ["", "-u", "--user=alice", "12 13", "12,13", "12;cluster"] {
            assert!(!is_job_id(id), "{id}");
            // Refused before any command runs, so with no Slurm about too.
            let ids = vec!["7".to_string(), id.to_string()];
            let error = scancel(&ids).unwrap_err();
            assert!(error.contains("is not a Slurm job id"), "{error}");
            let error = slurm_status(&ids).unwrap_err();
            assert!(error.contains("is not a Slurm job id"), "{error}");
        }
    }

    #[test]
    fn squeue_rows_give_state_exit_code_and_reason() {
        let rows = parse_squeue(
            "12|FAILED|768|NonZeroExitCode\n13|CANCELLED by 0|15|None  \n14  |RUNNING|0|None\nnoise\n",
        );
        assert_eq!(rows.len(), 3);
        let failed = &rows["12"];
        assert_eq!(failed.state, "FAILED");
        assert_eq!(ExitStatus::from_raw(failed.raw_status).code(), Some(3));
        assert_eq!(failed.reason, "NonZeroExitCode");
        let cancelled = &rows["13"];
        assert_eq!(cancelled.state, "CANCELLED");
        assert_eq!(
            ExitStatus::from_raw(cancelled.raw_status).signal(),
            Some(15)
        );
        assert_eq!(rows["14"].state, "RUNNING");
    }

    #[test]
    fn sacct_gives_the_jobs_own_line() {
        let text = "12|CANCELLED by 0|0:15|None\n12.batch|CANCELLED|0:15|\n";
        let row = parse_sacct("12", text).unwrap();
        assert_eq!(row.state, "CANCELLED");
        assert_eq!(ExitStatus::from_raw(row.raw_status).signal(), Some(15));
        let row = parse_sacct("7", "7.batch|FAILED|2:0|\n7|FAILED|2:0|NonZeroExitCode\n").unwrap();
        assert_eq!(ExitStatus::from_raw(row.raw_status).code(), Some(2));
        assert_eq!(row.reason, "NonZeroExitCode");
        assert!(parse_sacct("8", text).is_none());
    }

    #[test]
    fn only_final_states_end_a_job() {
        for name in [
            "COMPLETED",
            "FAILED",
            "TIMEOUT",
            "OUT_OF_MEMORY",
            "NODE_FAIL",
            "PREEMPTED",
            "CANCELLED",
            "BOOT_FAIL",
            "DEADLINE",
        ] {
            let state = SlurmState::from_final(name).unwrap();
            assert_eq!(state.to_string(), name);
            assert!(!matches!(state, SlurmState::Other(_)));
        }
        for name in [
            "PENDING",
            "RUNNING",
            "COMPLETING",
            "CONFIGURING",
            "REQUEUED",
            "SUSPENDED",
        ] {
            assert_eq!(SlurmState::from_final(name), None, "{name}");
        }
        assert_eq!(
            SlurmState::from_final("SPECIAL_EXIT"),
            Some(SlurmState::Other("SPECIAL_EXIT".into()))
        );
    }

    /// Whether `squeue` answers here; a line says why not (CI requires it).
    fn cluster_answers() -> bool {
        let answers = Command::new("squeue")
            .arg("--noheader")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !answers {
            assert!(
                std::env::var("JOBGRAPH_REQUIRE_SLURM").as_deref() != Ok("1"),
                "JOBGRAPH_REQUIRE_SLURM=1 but squeue does not answer"
            );
            jobgraph_test_support::skipped(
                "a job that Slurm does not know: squeue does not answer here",
            );
        }
        answers
    }

    #[test]
    fn a_job_unknown_to_slurm_is_lost_after_a_bounded_wait() {
        if !cluster_answers() {
            return;
        }
        let started = Instant::now();
        let watch = poller().unwrap().watch("2147480001");
        let seen = watch
            .wait_end(LOST_AFTER * 3)
            .expect("the poller gives up on it");
        assert_eq!(seen.end, Some(SlurmState::Lost));
        assert!(seen.reason.contains("left Slurm's view"), "{}", seen.reason);
        assert!(started.elapsed() >= LOST_AFTER);
    }
}
