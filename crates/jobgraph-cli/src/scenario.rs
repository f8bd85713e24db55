//! Scenario files: the TOML model, and its checks, each error with file, line and
//! column.
//!
//! ```toml
//! label = "build"          # the run's label (default: the file's name)
//! window = 4               # at most 4 jobs at once (default: no limit)
//! timeout = "10m"          # the whole run (seconds, or "500ms", "30s", "2m", "1h")
//! longest_path_first = true  # ready jobs: the longest remaining path first
//!
//! [limits]                 # named limits: at most this much in use at once
//! gpu = 2
//!
//! [ssh]                    # for jobs with a host (all optional)
//! identity = "~/.ssh/id_ed25519"
//! options = ["StrictHostKeyChecking=accept-new"]
//! shared = true            # one connection per host (default)
//!
//! [[job]]
//! id = "compile"           # letters, digits, `_.-`; unique in the file
//! label = "compile it"     # shown in output and listings (default: the id)
//! command = ["make", "-j4"]  # argv, no shell; or:
//! # shell = "make -j4 2>&1 | tee log"
//! requires = ["fetch"]     # ids of the same group (or of the top level)
//! critical = true          # a failure stops the run (default true)
//! forever = false          # stopped once every other job is done
//! timeout = "5m"
//! priority = 1             # among ready jobs, higher first (default 0)
//! cost = 2.5               # a hint of its length (default 1): longest path first
//! env = { CC = "clang" }
//! cwd = "src"
//! host = "user@node:2222"  # run over ssh
//! uses = { gpu = 1 }       # takes 1 of the limit `gpu` while it runs
//!
//! [[group]]                # a nested scheduler: a job of its parent
//! id = "tests"
//! window = 2
//! timeout = "1m"
//! critical = false
//! requires = ["compile"]
//!   [[group.job]]
//!   id = "unit"
//!   command = ["make", "test"]
//!
//! [[sequence]]             # these ids run one after the other
//! jobs = ["a", "b", "c"]
//! ```

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::de::{self, Deserializer, Visitor};

use crate::expand::expand;
pub use crate::expand::Overrides;
use serde::Deserialize;
use toml::Spanned;

/// A scenario that is not valid: where, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScenarioError {
    /// The file.
    pub file: PathBuf,
    /// 1-based line, when known.
    pub line: usize,
    /// 1-based column, when known.
    pub column: usize,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ScenarioError {
    /// `FILE:LINE:COLUMN: message`, or `FILE: message` for an error of the whole file
    /// (it cannot be read).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            return write!(f, "{}: {}", self.file.display(), self.message);
        }
        write!(
            f,
            "{}:{}:{}: {}",
            self.file.display(),
            self.line,
            self.column,
            self.message
        )
    }
}

impl std::error::Error for ScenarioError {}

/// A duration: seconds as a number, or a text with a unit (`ms`, `s`, `m`, `h`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Dur(pub Duration);

/// Reads `"1.5s"`, `"500ms"`, `"2m"`, `"1h"`, `"10"` (seconds).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a duration (say `30s`, `500ms`, `2m`, `1h`)"))?;
    let seconds = match unit.trim() {
        "" | "s" => number,
        "ms" => number / 1000.0,
        "m" | "min" => number * 60.0,
        "h" => number * 3600.0,
        other => return Err(format!("unknown unit `{other}` in `{text}` (ms, s, m, h)")),
    };
    seconds_to_duration(seconds, &format_args!("`{text}`"))
}

/// The longest duration a scenario may give, in seconds (about 31 years): a longer one
/// is a slip (an `h` for an `s`, digits too many), refused as too long.
const MAX_SECONDS: f64 = 1e9;

/// `seconds` as a duration; `written`: how the scenario wrote it, for the error.
fn seconds_to_duration(seconds: f64, written: &dyn fmt::Display) -> Result<Duration, String> {
    if !seconds.is_finite() || seconds <= 0.0 {
        return Err(format!(
            "a duration must be positive and finite, not {written}"
        ));
    }
    if seconds > MAX_SECONDS {
        return Err(format!(
            "a duration is at most {MAX_SECONDS:.0} seconds (about 31 years), not {written}"
        ));
    }
    Ok(Duration::from_secs_f64(seconds))
}

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Dur, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Dur;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration: seconds, or a text like \"30s\", \"500ms\", \"2m\"")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Dur, E> {
                seconds_to_duration(v as f64, &v)
                    .map(Dur)
                    .map_err(E::custom)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Dur, E> {
                seconds_to_duration(v as f64, &v)
                    .map(Dur)
                    .map_err(E::custom)
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Dur, E> {
                seconds_to_duration(v, &v).map(Dur).map_err(E::custom)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Dur, E> {
                parse_duration(v).map(Dur).map_err(E::custom)
            }
        }
        deserializer.deserialize_any(V)
    }
}

/// A job's cost hint: a finite number, at least 0 (an integer will do).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Cost(pub f64);

impl<'de> Deserialize<'de> for Cost {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Cost, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Cost;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a cost: a finite number, at least 0")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Cost, E> {
                self.visit_f64(v as f64)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Cost, E> {
                self.visit_f64(v as f64)
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Cost, E> {
                if v.is_finite() && v >= 0.0 {
                    Ok(Cost(v))
                } else {
                    Err(E::custom(format!(
                        "a cost is a finite number of at least 0 (a hint of the job's length), not {v}"
                    )))
                }
            }
        }
        deserializer.deserialize_any(V)
    }
}

/// The `[ssh]` table.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SshSettings {
    /// A private key (`-i`).
    pub identity: Option<Spanned<String>>,
    /// `-o` options.
    #[serde(default)]
    pub options: Vec<Spanned<String>>,
    /// One shared connection per host (default true).
    pub shared: Option<bool>,
    /// Commands at once over a shared connection.
    pub sessions: Option<usize>,
    /// Connections at once without sharing.
    pub connections: Option<usize>,
    /// Settings of one host, by the name jobs give as their `host`.
    #[serde(default)]
    pub hosts: BTreeMap<String, HostSettings>,
}

/// A `[ssh.hosts."NAME"]` table: how to reach the host that jobs call NAME.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostSettings {
    /// The address to connect to (default: NAME).
    pub address: Option<String>,
    /// The user to log in as.
    pub user: Option<String>,
    /// The port.
    pub port: Option<u16>,
    /// A private key (`-i`), instead of `[ssh]`'s.
    pub identity: Option<Spanned<String>>,
    /// `-o` options, after `[ssh]`'s.
    #[serde(default)]
    pub options: Vec<Spanned<String>>,
}

/// The `[slurm]` table, and a job's `slurm = { ... }`: the resources and placement of
/// a job that Slurm runs (see `jobgraph_command::Slurm`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlurmSettings {
    /// `--cpus-per-task`.
    pub cpus: Option<u32>,
    /// `--mem` (`512M`, `4G`).
    pub mem: Option<String>,
    /// `--time` (the job's `timeout` when not given).
    pub time: Option<Dur>,
    /// `--partition`.
    pub partition: Option<String>,
    /// `--gres` (`gpu:1`).
    pub gres: Option<String>,
    /// `--account`.
    pub account: Option<String>,
    /// `--qos`.
    pub qos: Option<String>,
    /// Other options, each one word `--name=value`.
    #[serde(default)]
    pub options: Vec<String>,
    /// `"auto"` (a step inside an allocation, a batch job outside), `"batch"`, or an
    /// allocation's job id.
    pub placement: Option<String>,
    /// Where batch jobs' scripts and output files go (a shared filesystem on a real
    /// cluster).
    pub output_dir: Option<String>,
}

impl SlurmSettings {
    /// These settings, with `over`'s where it gives one.
    pub fn merged(&self, over: &SlurmSettings) -> SlurmSettings {
        let mut options = self.options.clone();
        options.extend(over.options.iter().cloned());
        SlurmSettings {
            cpus: over.cpus.or(self.cpus),
            mem: over.mem.clone().or(self.mem.clone()),
            time: over.time.or(self.time),
            partition: over.partition.clone().or(self.partition.clone()),
            gres: over.gres.clone().or(self.gres.clone()),
            account: over.account.clone().or(self.account.clone()),
            qos: over.qos.clone().or(self.qos.clone()),
            options,
            placement: over.placement.clone().or(self.placement.clone()),
            output_dir: over.output_dir.clone().or(self.output_dir.clone()),
        }
    }

    /// The library's builder for these settings.
    pub fn builder(&self) -> jobgraph_command::Slurm {
        use jobgraph_command::{Placement, Slurm};
        let mut slurm = Slurm::new();
        if let Some(cpus) = self.cpus {
            slurm = slurm.cpus_per_task(cpus);
        }
        if let Some(mem) = &self.mem {
            slurm = slurm.mem(mem.clone());
        }
        if let Some(time) = self.time {
            slurm = slurm.time(time.0);
        }
        if let Some(partition) = &self.partition {
            slurm = slurm.partition(partition.clone());
        }
        if let Some(gres) = &self.gres {
            slurm = slurm.gres(gres.clone());
        }
        if let Some(account) = &self.account {
            slurm = slurm.account(account.clone());
        }
        if let Some(qos) = &self.qos {
            slurm = slurm.qos(qos.clone());
        }
        for option in &self.options {
            slurm = slurm.extra(option.clone());
        }
        slurm = slurm.placement(match self.placement.as_deref() {
            None | Some("auto") => Placement::Auto,
            Some("batch") => Placement::Batch,
            Some(id) => Placement::Allocation(id.to_string()),
        });
        if let Some(dir) = &self.output_dir {
            slurm = slurm.output_dir(dir);
        }
        slurm
    }
}

/// A job's `retry_delay`: a duration (the same wait each time), or a backoff table.
#[derive(Debug, Clone)]
pub enum RetryDelay {
    /// The same wait before each attempt.
    Fixed(Dur),
    /// A wait that grows: `{ first = "1s", factor = 2, max = "1m", jitter = 0.1 }`.
    Backoff(BackoffDef),
}

/// A growing wait between attempts.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackoffDef {
    /// The first wait.
    pub first: Dur,
    /// Each wait is the one before times this (at least 1; default 2).
    pub factor: Option<f64>,
    /// No wait is longer.
    pub max: Option<Dur>,
    /// Each wait is shortened by a random fraction up to this (0 to 1).
    pub jitter: Option<f64>,
}

/// Read by the kind of value written, so that what is wrong in a table or a duration
/// is said as such (an untagged enum would only say that nothing matched).
impl<'de> Deserialize<'de> for RetryDelay {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RetryDelay;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(
                    "a duration (\"2s\") or a backoff table ({ first = \"1s\", factor = 2, max = \"1m\", jitter = 0.1 })",
                )
            }
            fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<RetryDelay, A::Error> {
                BackoffDef::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(RetryDelay::Backoff)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RetryDelay, E> {
                Dur::deserialize(de::value::StrDeserializer::new(v)).map(RetryDelay::Fixed)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<RetryDelay, E> {
                Dur::deserialize(de::value::I64Deserializer::new(v)).map(RetryDelay::Fixed)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<RetryDelay, E> {
                Dur::deserialize(de::value::U64Deserializer::new(v)).map(RetryDelay::Fixed)
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<RetryDelay, E> {
                Dur::deserialize(de::value::F64Deserializer::new(v)).map(RetryDelay::Fixed)
            }
        }
        deserializer.deserialize_any(V)
    }
}

impl RetryDelay {
    /// The library's backoff for it.
    pub fn backoff(&self) -> jobgraph::Backoff {
        match self {
            RetryDelay::Fixed(delay) => jobgraph::Backoff::fixed(delay.0),
            RetryDelay::Backoff(def) => {
                let mut backoff =
                    jobgraph::Backoff::exponential(def.first.0, def.factor.unwrap_or(2.0));
                if let Some(max) = def.max {
                    backoff = backoff.max(max.0);
                }
                if let Some(jitter) = def.jitter {
                    backoff = backoff.jitter(jitter);
                }
                backoff
            }
        }
    }
}

/// A job's `retry_on`: a kind of failure, or the exit statuses to try again on.
#[derive(Debug, Clone)]
pub enum RetryOnDef {
    /// `"failure"` (an exit status other than 0, a failure to start), `"timeout"` (the
    /// job's own), or `"any"` (the default).
    Kind(String),
    /// Only these exit statuses.
    Statuses(Vec<i32>),
}

/// Read by the kind of value written (see [`RetryDelay`]'s).
impl<'de> Deserialize<'de> for RetryOnDef {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RetryOnDef;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("\"failure\", \"timeout\", \"any\", or a list of exit statuses")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RetryOnDef, E> {
                Ok(RetryOnDef::Kind(v.to_string()))
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, seq: A) -> Result<RetryOnDef, A::Error> {
                Vec::<i32>::deserialize(de::value::SeqAccessDeserializer::new(seq))
                    .map(RetryOnDef::Statuses)
            }
        }
        deserializer.deserialize_any(V)
    }
}

/// A job's `slurm` key: `true` (the `[slurm]` table's settings), `false` (run here
/// even under `--slurm`), or a table of settings over the `[slurm]` table's.
#[derive(Debug, Clone)]
pub enum SlurmChoice {
    /// On Slurm or not.
    On(bool),
    /// On Slurm, with these settings.
    With(Box<SlurmSettings>),
}

/// Read by the kind of value written (see [`RetryDelay`]'s): a misspelt setting in the
/// table is named.
impl<'de> Deserialize<'de> for SlurmChoice {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = SlurmChoice;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("true, false, or a table of Slurm settings ({ partition = \"debug\" })")
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<SlurmChoice, E> {
                Ok(SlurmChoice::On(v))
            }
            fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<SlurmChoice, A::Error> {
                SlurmSettings::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(|settings| SlurmChoice::With(Box::new(settings)))
            }
        }
        deserializer.deserialize_any(V)
    }
}

/// A `[[job]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobDef {
    /// Its id.
    pub id: Spanned<String>,
    /// Its label.
    pub label: Option<String>,
    /// argv.
    pub command: Option<Spanned<Vec<String>>>,
    /// `sh -c` text.
    pub shell: Option<Spanned<String>>,
    /// Ids it requires.
    #[serde(default)]
    pub requires: Vec<Spanned<String>>,
    /// Whether a failure stops the run.
    pub critical: Option<bool>,
    /// Whether it runs until the others are done.
    #[serde(default)]
    pub forever: bool,
    /// Its own timeout.
    pub timeout: Option<Dur>,
    /// Its priority among the ready jobs (higher first).
    pub priority: Option<Spanned<i32>>,
    /// A hint of its length, for longest-path-first order.
    pub cost: Option<Spanned<Cost>>,
    /// Environment variables.
    #[serde(default)]
    pub env: BTreeMap<Spanned<String>, Spanned<String>>,
    /// Working directory.
    pub cwd: Option<Spanned<String>>,
    /// `[user@]host[:port]`: run over ssh.
    pub host: Option<Spanned<String>>,
    /// Files copied to the job's host (apssh's Push).
    pub push: Option<Spanned<CopyDef>>,
    /// Files copied from the job's host (apssh's Pull).
    pub pull: Option<Spanned<CopyDef>>,
    /// A local script run on the job's host (apssh's RunScript).
    pub script: Option<Spanned<String>>,
    /// The script's arguments.
    #[serde(default)]
    pub args: Vec<String>,
    /// Whether Slurm runs it, and with what.
    pub slurm: Option<Spanned<SlurmChoice>>,
    /// How many times it is tried again after a failure.
    pub retries: Option<Spanned<u32>>,
    /// The wait before each new attempt: a duration, or a growing backoff.
    pub retry_delay: Option<Spanned<RetryDelay>>,
    /// Which failures are tried again: `"failure"`, `"timeout"`, `"any"`, or a list of
    /// exit statuses.
    pub retry_on: Option<Spanned<RetryOnDef>>,
    /// The named limits it uses while it runs, and how much of each.
    pub uses: Option<Spanned<BTreeMap<Spanned<String>, Spanned<i64>>>>,
    /// One instance per element of the product of these lists.
    pub matrix: Option<Spanned<BTreeMap<String, toml::Value>>>,
    /// The template and parameters this job is an instance of (set by the expansion).
    #[serde(skip)]
    pub instance: Option<Instance>,
}

/// A `push` or `pull`: files, and the folder they go to.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CopyDef {
    /// What is copied: local paths for a push, remote ones for a pull.
    pub files: Vec<String>,
    /// Where: a remote folder for a push ("" or "." for the login folder), a local one
    /// for a pull.
    pub to: String,
    /// Copies folders, recursively.
    #[serde(default)]
    pub recursive: bool,
    /// Keeps times and modes.
    #[serde(default)]
    pub preserve: bool,
}

/// Which template a job is an instance of, with which parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instance {
    /// The template's id.
    pub template: String,
    /// The parameters, by name.
    pub params: BTreeMap<String, String>,
}

/// A `[[group]]`: a nested scheduler.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupDef {
    /// Its id.
    pub id: Spanned<String>,
    /// Its label.
    pub label: Option<String>,
    /// Its window.
    pub window: Option<Spanned<usize>>,
    /// Its timeout.
    pub timeout: Option<Dur>,
    /// Whether its failure stops its parent.
    pub critical: Option<bool>,
    /// Ids (of its parent's scope) it requires.
    #[serde(default)]
    pub requires: Vec<Spanned<String>>,
    /// Its ready jobs start longest remaining path first.
    #[serde(default)]
    pub longest_path_first: bool,
    /// Named limits of its own (its jobs share its parent's otherwise).
    pub limits: Option<Spanned<BTreeMap<Spanned<String>, Spanned<i64>>>>,
    /// The named limits it uses as a job of its parent.
    pub uses: Option<Spanned<BTreeMap<Spanned<String>, Spanned<i64>>>>,
    /// Its jobs.
    #[serde(default, rename = "job")]
    pub jobs: Vec<JobDef>,
    /// Its groups.
    #[serde(default, rename = "group")]
    pub groups: Vec<GroupDef>,
    /// Its sequences.
    #[serde(default, rename = "sequence")]
    pub sequences: Vec<SequenceDef>,
}

/// A `[[sequence]]`: ids that run one after the other.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SequenceDef {
    /// The ids, in order.
    pub jobs: Spanned<Vec<Spanned<String>>>,
    /// The steps, in order: each item's ids (a template's instances run as one step).
    #[serde(skip)]
    pub steps: Vec<Vec<Spanned<String>>>,
}

/// A whole scenario file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// The run's label.
    pub label: Option<String>,
    /// The run's window.
    pub window: Option<Spanned<usize>>,
    /// The run's timeout.
    pub timeout: Option<Dur>,
    /// Named limits: at most this much of each in use at once.
    pub limits: Option<Spanned<BTreeMap<Spanned<String>, Spanned<i64>>>>,
    /// Ready jobs start longest remaining path first, with no `priority` or `cost`.
    #[serde(default)]
    pub longest_path_first: bool,
    /// Variables, for `{name}` in jobs.
    pub vars: Option<Spanned<BTreeMap<String, toml::Value>>>,
    /// ssh settings.
    #[serde(default)]
    pub ssh: SshSettings,
    /// Slurm settings, for jobs placed on Slurm.
    pub slurm: Option<Spanned<SlurmSettings>>,
    /// Top-level jobs.
    #[serde(default, rename = "job")]
    pub jobs: Vec<JobDef>,
    /// Top-level groups.
    #[serde(default, rename = "group")]
    pub groups: Vec<GroupDef>,
    /// Top-level sequences.
    #[serde(default, rename = "sequence")]
    pub sequences: Vec<SequenceDef>,
}

impl Scenario {
    /// How many jobs it holds, in groups too (groups themselves not counted).
    pub fn count_jobs(&self) -> usize {
        fn count(jobs: &[JobDef], groups: &[GroupDef]) -> usize {
            jobs.len()
                + groups
                    .iter()
                    .map(|g| count(&g.jobs, &g.groups))
                    .sum::<usize>()
        }
        count(&self.jobs, &self.groups)
    }
}

/// A scenario, read and checked.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The file it came from.
    pub file: PathBuf,
    /// Its contents, expanded: variables substituted, templates made into instances.
    pub scenario: Scenario,
    /// What is worth saying but not an error (a `cwd` that does not exist yet).
    pub warnings: Vec<String>,
}

/// A job or a group of a checked scenario, with what it comes after in its scope.
#[derive(Debug)]
pub struct Node<'a> {
    /// The job, or `None` for a group.
    pub job: Option<&'a JobDef>,
    /// What it comes after, in its scope.
    pub after: Vec<String>,
    /// The group it is in ("" at the top level).
    pub parent: String,
    /// A group's members.
    pub members: Vec<String>,
}

fn nodes<'a>(
    jobs: &'a [JobDef],
    groups: &'a [GroupDef],
    sequences: &'a [SequenceDef],
    parent: &str,
    out: &mut BTreeMap<String, Node<'a>>,
) {
    for job in jobs {
        out.insert(
            job.id.get_ref().clone(),
            Node {
                job: Some(job),
                after: job.requires.iter().map(|r| r.get_ref().clone()).collect(),
                parent: parent.to_string(),
                members: Vec::new(),
            },
        );
    }
    for group in groups {
        let members = group
            .jobs
            .iter()
            .map(|j| j.id.get_ref().clone())
            .chain(group.groups.iter().map(|g| g.id.get_ref().clone()))
            .collect();
        out.insert(
            group.id.get_ref().clone(),
            Node {
                job: None,
                after: group.requires.iter().map(|r| r.get_ref().clone()).collect(),
                parent: parent.to_string(),
                members,
            },
        );
        nodes(
            &group.jobs,
            &group.groups,
            &group.sequences,
            group.id.get_ref(),
            out,
        );
    }
    for sequence in sequences {
        for pair in sequence.steps.windows(2) {
            for later in &pair[1] {
                if let Some(node) = out.get_mut(later.get_ref()) {
                    node.after
                        .extend(pair[0].iter().map(|r| r.get_ref().clone()));
                }
            }
        }
    }
}

/// Every job and group of a checked scenario, by id: what each comes after (its
/// `requires` and the step before it in a sequence), the group it is in, and a group's
/// members.
pub fn graph(scenario: &Scenario) -> BTreeMap<String, Node<'_>> {
    let mut out = BTreeMap::new();
    nodes(
        &scenario.jobs,
        &scenario.groups,
        &scenario.sequences,
        "",
        &mut out,
    );
    out
}

/// Line and column (1-based) of a byte offset.
fn position(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let mut start = offset;
    while !text.is_char_boundary(start) {
        start -= 1;
    }
    let before = &text[..start];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

/// Makes errors that name a position in the file.
pub(crate) struct Checker<'a> {
    file: &'a Path,
    text: &'a str,
}

impl Checker<'_> {
    /// An error at this byte offset.
    pub(crate) fn error(&self, offset: usize, message: impl Into<String>) -> ScenarioError {
        let (line, column) = position(self.text, offset);
        ScenarioError {
            file: self.file.to_path_buf(),
            line,
            column,
            message: message.into(),
        }
    }
}

/// Reads a scenario file and checks it.
pub fn load(file: &Path) -> Result<Loaded, ScenarioError> {
    load_with(file, &Overrides::default())
}

/// Reads a scenario file, expands it with these values from the command line, and
/// checks it.
pub fn load_with(file: &Path, overrides: &Overrides) -> Result<Loaded, ScenarioError> {
    let bytes = std::fs::read(file).map_err(|e| ScenarioError {
        file: file.to_path_buf(),
        line: 0,
        column: 0,
        message: format!("cannot read it: {e}"),
    })?;
    let text = match String::from_utf8(bytes) {
        Ok(text) => text,
        Err(e) => {
            let offset = e.utf8_error().valid_up_to();
            let bytes = e.as_bytes();
            let valid = std::str::from_utf8(&bytes[..offset]).unwrap_or_default();
            let (line, column) = position(valid, offset);
            return Err(ScenarioError {
                file: file.to_path_buf(),
                line,
                column,
                message: format!(
                    "not UTF-8: byte {offset} (0x{:02x}) does not begin a UTF-8 character; a scenario is UTF-8 text",
                    bytes[offset]
                ),
            });
        }
    };
    load_str_with(file, &text, overrides)
}

/// Checks a scenario given as text (`file` names it in errors).
pub fn load_str(file: &Path, text: &str) -> Result<Loaded, ScenarioError> {
    load_str_with(file, text, &Overrides::default())
}

/// Checks a scenario given as text, expanded with these values.
pub fn load_str_with(
    file: &Path,
    text: &str,
    overrides: &Overrides,
) -> Result<Loaded, ScenarioError> {
    let checker = Checker { file, text };
    let mut scenario: Scenario = toml::from_str(text).map_err(|e| {
        let offset = e.span().map(|s| s.start).unwrap_or(0);
        let message = e.message().trim();
        let message = if message.is_empty() {
            // The TOML parser gives no words for some errors (an array left open at
            // the end of the file, say): name what is known.
            if offset >= text.trim_end().len() {
                "the file ends inside a value: a closing `]`, `}` or quote is missing".to_string()
            } else {
                "this is not valid TOML".to_string()
            }
        } else {
            message.to_string()
        };
        checker.error(offset, message)
    })?;
    expand(&checker, &mut scenario, overrides)?;
    let mut ids = HashMap::new();
    collect_ids(&checker, &scenario.jobs, &scenario.groups, &mut ids)?;
    check_scope(
        &checker,
        &scenario.jobs,
        &scenario.groups,
        &scenario.sequences,
        &ids,
        "the top level",
    )?;
    if let Some(window) = scenario.window.as_ref().filter(|w| *w.get_ref() == 0) {
        return Err(checker.error(
            window.span().start,
            "`window` must be at least 1 (leave it out for no limit)",
        ));
    }
    check_limits(
        &checker,
        &scenario.limits,
        &scenario.jobs,
        &scenario.groups,
        &mut Vec::new(),
    )?;
    check_ssh(&checker, &scenario.ssh)?;
    check_slurm(&checker, &scenario)?;
    let base = file.parent().map(Path::to_path_buf).unwrap_or_default();
    let mut warnings = Vec::new();
    resolve_cwds(
        &checker,
        &base,
        &mut scenario.jobs,
        &mut scenario.groups,
        &scenario.sequences,
        false,
        &mut warnings,
    )?;
    Ok(Loaded {
        file: file.to_path_buf(),
        scenario,
        warnings,
    })
}

fn id_ok(id: &str) -> bool {
    !id.is_empty()
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
        && !id.starts_with(['.', '-'])
}

/// Every id in the file, with where it is defined and in which scope (the group's id,
/// or "" at the top level).
/// A `[limits]` table or a `uses` table, as written.
type Amounts = Option<Spanned<BTreeMap<Spanned<String>, Spanned<i64>>>>;

/// Each limit at least 1; each job's `uses` names a limit of its scope (its group or a
/// group around it, or the top level), with an amount from 1 to that limit.
/// `visible`: the limits of the scopes around, innermost last.
fn check_limits(
    checker: &Checker<'_>,
    limits: &Amounts,
    jobs: &[JobDef],
    groups: &[GroupDef],
    visible: &mut Vec<(String, i64)>,
) -> Result<(), ScenarioError> {
    let defined = limits.as_ref().map_or(0, |l| l.get_ref().len());
    for (name, limit) in limits.iter().flat_map(|l| l.get_ref()) {
        if !(1..=i64::from(u32::MAX)).contains(limit.get_ref()) {
            return Err(checker.error(
                limit.span().start,
                format!(
                    "limit `{}` must be a whole number from 1 to {} (a limit of {} would let no job using it start)",
                    name.get_ref(),
                    u32::MAX,
                    limit.get_ref()
                ),
            ));
        }
        visible.push((name.get_ref().clone(), *limit.get_ref()));
    }
    let check_uses = |who: &str, uses: &Amounts, visible: &[(String, i64)]| {
        for (name, amount) in uses.iter().flat_map(|u| u.get_ref()) {
            let Some((_, limit)) = visible.iter().rev().find(|(n, _)| n == name.get_ref()) else {
                return Err(checker.error(
                    name.span().start,
                    format!(
                        "{who} uses `{}`, which no `[limits]` table around it defines",
                        name.get_ref()
                    ),
                ));
            };
            if !(1..=*limit).contains(amount.get_ref()) {
                return Err(checker.error(
                    amount.span().start,
                    format!(
                        "{who} uses {} of `{}`: give from 1 to its limit, {limit}",
                        amount.get_ref(),
                        name.get_ref()
                    ),
                ));
            }
        }
        Ok(())
    };
    for job in jobs {
        if let (true, Some(uses)) = (job.forever, &job.uses) {
            return Err(checker.error(
                uses.span().start,
                format!(
                    "job `{}` is forever: it would hold what it `uses` until the run ends; give the limit to the jobs it serves instead",
                    job.id.get_ref()
                ),
            ));
        }
        check_uses(&format!("job `{}`", job.id.get_ref()), &job.uses, visible)?;
    }
    for group in groups {
        check_uses(
            &format!("group `{}`", group.id.get_ref()),
            &group.uses,
            visible,
        )?;
        check_limits(checker, &group.limits, &group.jobs, &group.groups, visible)?;
    }
    visible.truncate(visible.len() - defined);
    Ok(())
}

fn collect_ids(
    checker: &Checker<'_>,
    jobs: &[JobDef],
    groups: &[GroupDef],
    ids: &mut HashMap<String, (usize, String)>,
) -> Result<(), ScenarioError> {
    fn add(
        checker: &Checker<'_>,
        id: &Spanned<String>,
        scope: &str,
        ids: &mut HashMap<String, (usize, String)>,
    ) -> Result<(), ScenarioError> {
        let name = id.get_ref();
        // An instance's id is its template's, checked, with its parameters.
        let plain = name.split('[').next().unwrap_or(name);
        if !id_ok(plain) {
            return Err(checker.error(
                id.span().start,
                format!(
                    "bad id `{plain}`: use letters, digits and `_.-`, not starting with `.` or `-`"
                ),
            ));
        }
        if let Some((first, _)) = ids.get(name) {
            let (line, column) = position(checker.text, *first);
            return Err(checker.error(
                id.span().start,
                format!("id `{name}` is defined twice (first at {line}:{column})"),
            ));
        }
        ids.insert(name.clone(), (id.span().start, scope.to_string()));
        Ok(())
    }
    fn walk(
        checker: &Checker<'_>,
        jobs: &[JobDef],
        groups: &[GroupDef],
        scope: &str,
        ids: &mut HashMap<String, (usize, String)>,
    ) -> Result<(), ScenarioError> {
        for job in jobs {
            add(checker, &job.id, scope, ids)?;
        }
        for group in groups {
            add(checker, &group.id, scope, ids)?;
            walk(checker, &group.jobs, &group.groups, group.id.get_ref(), ids)?;
        }
        Ok(())
    }
    walk(checker, jobs, groups, "", ids)
}

fn check_job(checker: &Checker<'_>, job: &JobDef) -> Result<(), ScenarioError> {
    let at = job.id.span().start;
    let id = job.id.get_ref();
    let kinds: Vec<(&str, usize)> = [
        ("command", job.command.as_ref().map(|c| c.span().start)),
        ("shell", job.shell.as_ref().map(|c| c.span().start)),
        ("push", job.push.as_ref().map(|c| c.span().start)),
        ("pull", job.pull.as_ref().map(|c| c.span().start)),
        ("script", job.script.as_ref().map(|c| c.span().start)),
    ]
    .into_iter()
    .filter_map(|(name, at)| at.map(|at| (name, at)))
    .collect();
    match kinds[..] {
        [] => {
            return Err(checker.error(
                at,
                format!("job `{id}` has neither `command` (argv) nor `shell` (a text for sh -c), nor `push`, `pull` or `script` (with a `host`)"),
            ))
        }
        [(first, _), (second, second_at), ..] => {
            return Err(checker.error(
                second_at,
                format!("job `{id}` has both `{first}` and `{second}`: give one"),
            ))
        }
        [(kind, kind_at)] if kind != "command" && kind != "shell" => {
            if job.host.is_none() {
                return Err(checker.error(
                    kind_at,
                    format!("job `{id}`: `{kind}` needs a `host`"),
                ));
            }
            if kind != "script" && (!job.env.is_empty() || job.cwd.is_some()) {
                return Err(checker.error(
                    kind_at,
                    format!("job `{id}`: a `{kind}` takes no `env` or `cwd`"),
                ));
            }
        }
        _ => {}
    }
    if let Some(slurm) = &job.slurm {
        if job.host.is_some() && !matches!(slurm.get_ref(), SlurmChoice::On(false)) {
            return Err(checker.error(
                slurm.span().start,
                format!("job `{id}`: a job runs on a `host` or on Slurm, not both"),
            ));
        }
    }
    if job.forever {
        let ranked = job.priority.as_ref().map(|p| ("priority", p.span().start));
        let ranked = ranked.or(job.cost.as_ref().map(|c| ("cost", c.span().start)));
        if let Some((key, key_at)) = ranked {
            return Err(checker.error(
                key_at,
                format!("job `{id}`: a forever job takes no `{key}` (it starts as soon as it is ready): remove it, or `forever`"),
            ));
        }
    }
    if let Some(retries) = &job.retries {
        if *retries.get_ref() > jobgraph::MAX_RETRIES {
            return Err(checker.error(
                retries.span().start,
                format!("job `{id}`: `retries` is at most {}", jobgraph::MAX_RETRIES),
            ));
        }
    }
    if job.retries.is_none() && (job.retry_delay.is_some() || job.retry_on.is_some()) {
        let at = job
            .retry_delay
            .as_ref()
            .map(|d| d.span().start)
            .or(job.retry_on.as_ref().map(|r| r.span().start))
            .unwrap_or(at);
        return Err(checker.error(
            at,
            format!("job `{id}`: `retry_delay` and `retry_on` need `retries`"),
        ));
    }
    if let Some(delay) = &job.retry_delay {
        if let RetryDelay::Backoff(def) = delay.get_ref() {
            let factor_ok = def.factor.is_none_or(|f| f.is_finite() && f >= 1.0);
            let jitter_ok = def.jitter.is_none_or(|j| (0.0..=1.0).contains(&j));
            if !factor_ok || !jitter_ok {
                return Err(checker.error(
                    delay.span().start,
                    format!(
                        "job `{id}`: a backoff's `factor` is at least 1, its `jitter` from 0 to 1"
                    ),
                ));
            }
        }
    }
    if let Some(on) = &job.retry_on {
        if let RetryOnDef::Kind(kind) = on.get_ref() {
            if !["failure", "timeout", "any"].contains(&kind.as_str()) {
                return Err(checker.error(
                    on.span().start,
                    format!("job `{id}`: `retry_on` is \"failure\", \"timeout\", \"any\" or a list of exit statuses, not `{kind}`"),
                ));
            }
        }
    }
    if !job.args.is_empty() && job.script.is_none() {
        return Err(checker.error(at, format!("job `{id}`: `args` are a `script`'s")));
    }
    for copy in [&job.push, &job.pull].into_iter().flatten() {
        let def = copy.get_ref();
        if def.files.is_empty() || def.files.iter().any(|f| f.is_empty()) {
            return Err(checker.error(
                copy.span().start,
                format!("job `{id}`: `files` is empty, or names an empty path"),
            ));
        }
        if def.files.iter().chain([&def.to]).any(|f| f.contains('\0')) {
            return Err(checker.error(
                copy.span().start,
                format!("job `{id}`: a path holds a NUL byte"),
            ));
        }
    }
    if let Some(script) = &job.script {
        if script.get_ref().is_empty() || script.get_ref().contains('\0') {
            return Err(checker.error(
                script.span().start,
                format!("job `{id}`: `script` is empty or holds a NUL byte"),
            ));
        }
    }
    match (&job.command, &job.shell) {
        (Some(command), None) if command.get_ref().is_empty() => {
            return Err(checker.error(
                command.span().start,
                format!("job `{id}`: `command` is empty"),
            ))
        }
        (Some(command), None) if command.get_ref()[0].is_empty() => {
            return Err(checker.error(
                command.span().start,
                format!("job `{id}`: the program (first word of `command`) is empty"),
            ))
        }
        (None, Some(shell)) if shell.get_ref().trim().is_empty() => {
            return Err(checker.error(shell.span().start, format!("job `{id}`: `shell` is empty")))
        }
        _ => {}
    }
    if let Some(command) = &job.command {
        if command.get_ref().iter().any(|w| w.contains('\0')) {
            return Err(checker.error(
                command.span().start,
                format!("job `{id}`: a word of `command` holds a NUL byte"),
            ));
        }
    }
    if let Some(shell) = &job.shell {
        if shell.get_ref().contains('\0') {
            return Err(checker.error(
                shell.span().start,
                format!("job `{id}`: `shell` holds a NUL byte"),
            ));
        }
    }
    for (key, value) in &job.env {
        if !jobgraph_command::is_env_name(key.get_ref()) {
            return Err(checker.error(
                key.span().start,
                format!(
                    "job `{id}`: `{}` is not an environment variable name (a letter or `_`, then letters, digits and `_`)",
                    key.get_ref()
                ),
            ));
        }
        if value.get_ref().contains('\0') {
            return Err(checker.error(
                value.span().start,
                format!(
                    "job `{id}`: the value of `{}` holds a NUL byte",
                    key.get_ref()
                ),
            ));
        }
    }
    if let Some(cwd) = &job.cwd {
        if cwd.get_ref().is_empty() || cwd.get_ref().contains('\0') {
            return Err(checker.error(
                cwd.span().start,
                format!("job `{id}`: `cwd` is empty or holds a NUL byte"),
            ));
        }
    }
    if let (Some(command), Some(_)) = (&job.command, &job.host) {
        if !job.env.is_empty() && command.get_ref()[0].contains('=') {
            return Err(checker.error(
                command.span().start,
                format!("job `{id}`: the program holds a `=`, which `env` on the host would take for a variable"),
            ));
        }
    }
    if let Some(host) = &job.host {
        if let Err(e) = host.get_ref().parse::<jobgraph_command::SshTarget>() {
            return Err(checker.error(host.span().start, format!("job `{id}`: {e}")));
        }
    }
    Ok(())
}

/// Makes each local job's relative `cwd` relative to the scenario's folder, and says
/// when one does not exist: an error for a job that nothing runs before (nothing can
/// make it), a warning otherwise.
fn resolve_cwds(
    checker: &Checker<'_>,
    base: &Path,
    jobs: &mut [JobDef],
    groups: &mut [GroupDef],
    sequences: &[SequenceDef],
    after_something: bool,
    warnings: &mut Vec<String>,
) -> Result<(), ScenarioError> {
    let later: HashSet<&str> = sequences
        .iter()
        .flat_map(|s| s.steps.iter().skip(1).flatten())
        .map(|id| id.get_ref().as_str())
        .collect();
    let local = |path: &str| -> String {
        if Path::new(path).is_absolute() {
            path.to_string()
        } else {
            base.join(path).to_string_lossy().into_owned()
        }
    };
    for job in jobs.iter_mut() {
        // Local paths of copies and scripts are the scenario folder's.
        if let Some(push) = &mut job.push {
            let span = push.span();
            let mut def = push.get_ref().clone();
            def.files = def.files.iter().map(|f| local(f)).collect();
            *push = Spanned::new(span, def);
        }
        if let Some(pull) = &mut job.pull {
            let span = pull.span();
            let mut def = pull.get_ref().clone();
            def.to = local(&def.to);
            *pull = Spanned::new(span, def);
        }
        if let Some(script) = &mut job.script {
            *script = Spanned::new(script.span(), local(script.get_ref()));
        }
        let (Some(cwd), None) = (&job.cwd, &job.host) else {
            continue;
        };
        let path = Path::new(cwd.get_ref());
        let resolved = if path.is_absolute() {
            path.to_path_buf()
        } else {
            base.join(path)
        };
        if !resolved.is_dir() {
            let (line, column) = position(checker.text, cwd.span().start);
            let message = format!(
                "job `{}`: cwd `{}` does not exist",
                job.id.get_ref(),
                resolved.display()
            );
            if after_something
                || !job.requires.is_empty()
                || later.contains(job.id.get_ref().as_str())
            {
                warnings.push(format!(
                    "{}:{line}:{column}: {message} (yet: a job it comes after may make it)",
                    checker.file.display()
                ));
            } else {
                return Err(checker.error(cwd.span().start, message));
            }
        }
        job.cwd = Some(Spanned::new(
            cwd.span(),
            resolved.to_string_lossy().into_owned(),
        ));
    }
    for group in groups.iter_mut() {
        let after = after_something
            || !group.requires.is_empty()
            || later.contains(group.id.get_ref().as_str());
        resolve_cwds(
            checker,
            base,
            &mut group.jobs,
            &mut group.groups,
            &group.sequences,
            after,
            warnings,
        )?;
    }
    Ok(())
}

/// Checks the `[slurm]` table, and the settings each job would run with on Slurm, as
/// the library does before it submits anything.
fn check_slurm(checker: &Checker<'_>, scenario: &Scenario) -> Result<(), ScenarioError> {
    let defaults = scenario
        .slurm
        .as_ref()
        .map(|s| s.get_ref().clone())
        .unwrap_or_default();
    if let Some(table) = &scenario.slurm {
        if let Err(e) = defaults.builder().args(None) {
            return Err(checker.error(table.span().start, format!("[slurm] {e}")));
        }
    }
    fn walk(
        checker: &Checker<'_>,
        defaults: &SlurmSettings,
        jobs: &[JobDef],
        groups: &[GroupDef],
    ) -> Result<(), ScenarioError> {
        for job in jobs {
            let Some(choice) = &job.slurm else { continue };
            let settings = match choice.get_ref() {
                SlurmChoice::On(false) => continue,
                SlurmChoice::On(true) => defaults.clone(),
                SlurmChoice::With(over) => defaults.merged(over),
            };
            if job.command.is_none() && job.shell.is_none() {
                return Err(checker.error(
                    choice.span().start,
                    format!(
                        "job `{}`: Slurm runs a `command` or a `shell`",
                        job.id.get_ref()
                    ),
                ));
            }
            if let Err(e) = settings.builder().args(job.timeout.map(|t| t.0)) {
                return Err(checker.error(
                    choice.span().start,
                    format!("job `{}`: {e}", job.id.get_ref()),
                ));
            }
        }
        for group in groups {
            walk(checker, defaults, &group.jobs, &group.groups)?;
        }
        Ok(())
    }
    walk(checker, &defaults, &scenario.jobs, &scenario.groups)
}

fn check_ssh(checker: &Checker<'_>, ssh: &SshSettings) -> Result<(), ScenarioError> {
    for option in &ssh.options {
        if let Err(problem) = jobgraph_command::check_option(option.get_ref()) {
            return Err(checker.error(option.span().start, format!("[ssh] {problem}")));
        }
    }
    if let Some(identity) = &ssh.identity {
        if identity.get_ref().is_empty() || identity.get_ref().contains('\0') {
            return Err(checker.error(
                identity.span().start,
                "[ssh] `identity` is empty or holds a NUL byte",
            ));
        }
    }
    for (name, host) in &ssh.hosts {
        let address = host.address.as_deref().unwrap_or(name);
        let mut target = String::new();
        if let Some(user) = &host.user {
            target.push_str(user);
            target.push('@');
        }
        target.push_str(address);
        if let Some(port) = host.port {
            target.push_str(&format!(":{port}"));
        }
        if let Err(e) = target.parse::<jobgraph_command::SshTarget>() {
            return Err(checker.error(0, format!("[ssh.hosts.\"{name}\"]: {e}")));
        }
        for option in &host.options {
            if let Err(problem) = jobgraph_command::check_option(option.get_ref()) {
                return Err(checker.error(
                    option.span().start,
                    format!("[ssh.hosts.\"{name}\"] {problem}"),
                ));
            }
        }
    }
    for (key, n) in [("sessions", ssh.sessions), ("connections", ssh.connections)] {
        if n == Some(0) {
            return Err(checker.error(0, format!("[ssh] `{key}` must be at least 1")));
        }
    }
    Ok(())
}

fn check_scope(
    checker: &Checker<'_>,
    jobs: &[JobDef],
    groups: &[GroupDef],
    sequences: &[SequenceDef],
    ids: &HashMap<String, (usize, String)>,
    scope_name: &str,
) -> Result<(), ScenarioError> {
    let scope = ids_scope(jobs, groups);
    let here: HashSet<&str> = scope.iter().map(|(id, _)| id.as_str()).collect();
    let forever: HashSet<&str> = jobs
        .iter()
        .filter(|j| j.forever)
        .map(|j| j.id.get_ref().as_str())
        .collect();
    let reference = |who: &str, target: &Spanned<String>| -> Result<(), ScenarioError> {
        let name = target.get_ref();
        let at = target.span().start;
        if here.contains(name.as_str()) {
            if forever.contains(name.as_str()) {
                return Err(checker.error(
                    at,
                    format!("`{who}` requires `{name}`, a forever job, which never ends"),
                ));
            }
            return Ok(());
        }
        match ids.get(name) {
            Some((_, other)) => {
                let other = if other.is_empty() {
                    "the top level".to_string()
                } else {
                    format!("group `{other}`")
                };
                Err(checker.error(
                    at,
                    format!("`{who}` requires `{name}`, which is in {other}, not in {scope_name}: requirements stay within a group (require the group instead)"),
                ))
            }
            None => {
                let mut message = format!("`{who}` requires `{name}`, which is not defined");
                if let Some(near) = nearest(name, ids.keys()) {
                    message.push_str(&format!(" (did you mean `{near}`?)"));
                }
                Err(checker.error(at, message))
            }
        }
    };
    // Edges: id -> ids it requires, with the span of each requirement.
    let mut edges: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for job in jobs {
        check_job(checker, job)?;
        for required in &job.requires {
            reference(job.id.get_ref(), required)?;
            edges
                .entry(job.id.get_ref().clone())
                .or_default()
                .push(required.get_ref().clone());
        }
    }
    for group in groups {
        if let Some(window) = group.window.as_ref().filter(|w| *w.get_ref() == 0) {
            return Err(checker.error(
                window.span().start,
                format!(
                    "group `{}`: `window` must be at least 1 (leave it out for no limit)",
                    group.id.get_ref()
                ),
            ));
        }
        for required in &group.requires {
            reference(group.id.get_ref(), required)?;
            edges
                .entry(group.id.get_ref().clone())
                .or_default()
                .push(required.get_ref().clone());
        }
        check_scope(
            checker,
            &group.jobs,
            &group.groups,
            &group.sequences,
            ids,
            &format!("group `{}`", group.id.get_ref()),
        )?;
    }
    for sequence in sequences {
        if sequence.jobs.get_ref().is_empty() {
            return Err(checker.error(
                sequence.jobs.span().start,
                "a sequence needs at least one id",
            ));
        }
        for step in &sequence.steps {
            for item in step {
                reference("sequence", item)?;
            }
        }
        for pair in sequence.steps.windows(2) {
            for later in &pair[1] {
                for earlier in &pair[0] {
                    edges
                        .entry(later.get_ref().clone())
                        .or_default()
                        .push(earlier.get_ref().clone());
                }
            }
        }
    }
    if let Some(cycle) = find_cycle(&scope, &edges) {
        let at = ids.get(&cycle[0]).map(|(at, _)| *at).unwrap_or(0);
        let mut path = cycle.clone();
        path.push(cycle[0].clone());
        return Err(checker.error(
            at,
            format!(
                "the requirements in {scope_name} form a cycle: {} (each requires the next)",
                path.iter()
                    .map(|id| format!("`{id}`"))
                    .collect::<Vec<_>>()
                    .join(" -> ")
            ),
        ));
    }
    Ok(())
}

fn ids_scope(jobs: &[JobDef], groups: &[GroupDef]) -> Vec<(String, usize)> {
    jobs.iter()
        .map(|j| (j.id.get_ref().clone(), j.id.span().start))
        .chain(
            groups
                .iter()
                .map(|g| (g.id.get_ref().clone(), g.id.span().start)),
        )
        .collect()
}

/// A cycle among `edges` (id -> what it requires), ids in file order.
fn find_cycle(
    scope: &[(String, usize)],
    edges: &BTreeMap<String, Vec<String>>,
) -> Option<Vec<String>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Open,
        Closed,
    }
    let mut marks: HashMap<&str, Mark> = scope
        .iter()
        .map(|(id, _)| (id.as_str(), Mark::New))
        .collect();
    for (start, _) in scope {
        if marks[start.as_str()] != Mark::New {
            continue;
        }
        // Iterative depth-first search: (node, index of the next edge to follow).
        let mut stack: Vec<(&str, usize)> = vec![(start.as_str(), 0)];
        marks.insert(start.as_str(), Mark::Open);
        while let Some((node, next)) = stack.last().copied() {
            let out = edges.get(node).map(Vec::as_slice).unwrap_or(&[]);
            if next < out.len() {
                stack.last_mut().unwrap().1 += 1;
                let target = out[next].as_str();
                match marks.get(target).copied() {
                    Some(Mark::New) => {
                        marks.insert(target, Mark::Open);
                        stack.push((target, 0));
                    }
                    Some(Mark::Open) => {
                        let from = stack.iter().position(|(n, _)| *n == target).unwrap_or(0);
                        return Some(stack[from..].iter().map(|(n, _)| n.to_string()).collect());
                    }
                    _ => {}
                }
            } else {
                marks.insert(node, Mark::Closed);
                stack.pop();
            }
        }
    }
    None
}

/// The id closest to `name` (edit distance at most 2), to suggest.
fn nearest<'a>(name: &str, ids: impl Iterator<Item = &'a String>) -> Option<&'a String> {
    fn distance(a: &str, b: &str) -> usize {
        let b: Vec<char> = b.chars().collect();
        let mut row: Vec<usize> = (0..=b.len()).collect();
        for (i, ca) in a.chars().enumerate() {
            let mut previous = row[0];
            row[0] = i + 1;
            for (j, cb) in b.iter().enumerate() {
                let current = row[j + 1];
                row[j + 1] = (previous + usize::from(ca != *cb))
                    .min(row[j] + 1)
                    .min(current + 1);
                previous = current;
            }
        }
        row[b.len()]
    }
    ids.map(|id| (distance(name, id), id))
        .filter(|(d, _)| *d <= 2)
        .min()
        .map(|(_, id)| id)
}
