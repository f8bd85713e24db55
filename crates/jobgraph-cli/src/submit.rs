//! `jobgraph submit`: a whole scenario handed to Slurm at once, one `sbatch` per job
//! with its requirements as `--dependency` edges, for runs that must outlive the
//! runner; `jobgraph status` and `jobgraph cancel` read the state file it writes.
//!
//! What the scenario says, in Slurm's terms:
//!
//! * a requirement on a critical job is `afterok:ID` (and `--kill-on-invalid-dep=yes`:
//!   Slurm cancels a job whose requirement failed, and what comes after it); on a
//!   non-critical job, `afterany:ID` (its dependents run whatever it did, as
//!   asynciojobs runs them);
//! * a requirement on a group is one on each of its jobs; a job in a group comes after
//!   what the group requires; a sequence's steps are requirements;
//! * the run's `timeout` is each job's `--deadline=now+SECONDS`: Slurm removes a job
//!   that cannot end by then (`DEADLINE`);
//! * each job's resources are the `[slurm]` table's, with its own `slurm = { ... }`
//!   over them.
//!
//! Refused, with a clear error, since Slurm cannot do them: jobs on ssh hosts (and
//! copies and scripts), forever jobs, a group's `window` or `timeout`, and the run's
//! `window` (Slurm schedules by resources; `--ignore-window` submits anyway). Unlike
//! `jobgraph run`, a critical failure does not stop the jobs that do not come after
//! it.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};

use jobgraph_command::{is_job_id, scancel, slurm_status, Program, SlurmJob};
use serde::{Deserialize, Serialize};

use crate::build::slurm_settings;
use crate::output::{file_name, FileNames};
use crate::scenario::{GroupDef, JobDef, Loaded, SequenceDef};

/// The state file's name in the state folder.
pub const STATE_FILE: &str = "state.toml";

/// What `submit` wrote: enough for `status` and `cancel`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct State {
    /// The scenario file.
    pub scenario: String,
    /// The jobs, in the order they were submitted.
    #[serde(rename = "job")]
    pub jobs: Vec<Submitted>,
}

/// One submitted job.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Submitted {
    /// Its id in the scenario.
    pub id: String,
    /// Its label.
    pub label: String,
    /// Its Slurm job id.
    pub slurm_id: String,
    /// Its dependency, as given to `sbatch`.
    pub dependency: String,
}

/// A job to submit: its definition, and what it comes after (ids, critical or not).
struct Node<'a> {
    def: &'a JobDef,
    after: Vec<String>,
}

/// Every job of the scenario with what it comes after, flattened out of groups;
/// or what Slurm cannot express.
fn flatten(loaded: &Loaded, ignore_window: bool) -> Result<BTreeMap<String, Node<'_>>, String> {
    let scenario = &loaded.scenario;
    if scenario.window.is_some() && !ignore_window {
        return Err("the scenario has a `window`, which Slurm cannot keep for a submitted graph (it schedules by resources): remove it, or give --ignore-window".into());
    }
    // The jobs each group holds, all the way down.
    fn members(group: &GroupDef) -> Vec<String> {
        let mut out: Vec<String> = group.jobs.iter().map(|j| j.id.get_ref().clone()).collect();
        for inner in &group.groups {
            out.extend(members(inner));
        }
        out
    }
    let mut groups: HashMap<String, Vec<String>> = HashMap::new();
    fn collect_groups(groups_in: &[GroupDef], out: &mut HashMap<String, Vec<String>>) {
        for group in groups_in {
            out.insert(group.id.get_ref().clone(), members(group));
            collect_groups(&group.groups, out);
        }
    }
    collect_groups(&scenario.groups, &mut groups);
    let expand = |id: &str| -> Vec<String> {
        groups
            .get(id)
            .cloned()
            .unwrap_or_else(|| vec![id.to_string()])
    };
    let mut nodes = BTreeMap::new();
    fn walk<'a>(
        jobs: &'a [JobDef],
        groups_in: &'a [GroupDef],
        sequences: &'a [SequenceDef],
        inherited: &[String],
        expand: &dyn Fn(&str) -> Vec<String>,
        nodes: &mut BTreeMap<String, Node<'a>>,
    ) -> Result<(), String> {
        let mut after: HashMap<&str, Vec<String>> = HashMap::new();
        for sequence in sequences {
            for pair in sequence.steps.windows(2) {
                for later in &pair[1] {
                    let list = after.entry(later.get_ref().as_str()).or_default();
                    for earlier in &pair[0] {
                        list.extend(expand(earlier.get_ref()));
                    }
                }
            }
        }
        for job in jobs {
            let id = job.id.get_ref();
            if job.host.is_some() {
                return Err(format!("job `{id}` runs on an ssh host, which Slurm cannot place: run the scenario with `jobgraph run --slurm`"));
            }
            if job.forever {
                return Err(format!("job `{id}` is a forever job, which a submitted graph cannot stop: run the scenario with `jobgraph run --slurm`"));
            }
            let mut list: Vec<String> = inherited.to_vec();
            for r in &job.requires {
                list.extend(expand(r.get_ref()));
            }
            list.extend(after.get(id.as_str()).cloned().unwrap_or_default());
            nodes.insert(
                id.clone(),
                Node {
                    def: job,
                    after: list,
                },
            );
        }
        for group in groups_in {
            let id = group.id.get_ref();
            if group.window.is_some() || group.timeout.is_some() {
                return Err(format!("group `{id}` has a `window` or a `timeout`, which Slurm cannot keep for a submitted graph"));
            }
            let mut list: Vec<String> = inherited.to_vec();
            for r in &group.requires {
                list.extend(expand(r.get_ref()));
            }
            list.extend(after.get(id.as_str()).cloned().unwrap_or_default());
            walk(
                &group.jobs,
                &group.groups,
                &group.sequences,
                &list,
                expand,
                nodes,
            )?;
        }
        Ok(())
    }
    walk(
        &scenario.jobs,
        &scenario.groups,
        &scenario.sequences,
        &[],
        &expand,
        &mut nodes,
    )?;
    Ok(nodes)
}

/// Submits every job of a checked scenario; writes the state in `dir`.
pub fn submit(loaded: &Loaded, dir: &Path, ignore_window: bool) -> Result<State, String> {
    let nodes = flatten(loaded, ignore_window)?;
    let state_path = dir.join(STATE_FILE);
    if state_path.exists() {
        return Err(format!(
            "{} exists: this scenario was submitted already (`jobgraph status {}`, `jobgraph cancel {}`); give another --state",
            state_path.display(),
            dir.display(),
            dir.display()
        ));
    }
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot make {}: {e}", dir.display()))?;
    let slurm = loaded.scenario.slurm.as_ref().map(|s| s.get_ref());
    let timeout = loaded.scenario.timeout.map(|t| t.0);
    let stem = loaded
        .file
        .file_stem()
        .map(|s| file_name(&s.to_string_lossy()))
        .unwrap_or_else(|| "scenario".into());
    // Every job's requirements are submitted before it: a topological order.
    let mut order: Vec<&str> = Vec::new();
    let mut placed: HashSet<&str> = HashSet::new();
    while order.len() < nodes.len() {
        let before = order.len();
        for (id, node) in &nodes {
            if !placed.contains(id.as_str())
                && node.after.iter().all(|a| placed.contains(a.as_str()))
            {
                placed.insert(id);
                order.push(id);
            }
        }
        if order.len() == before {
            return Err("the requirements form a cycle".into());
        }
    }
    let mut state = State {
        scenario: loaded.file.display().to_string(),
        jobs: Vec::new(),
    };
    let mut ids: HashMap<&str, String> = HashMap::new();
    // Each job's script and output files, and its Slurm job name, its own.
    let mut names = FileNames::default();
    for id in order {
        let node = &nodes[id];
        let def = node.def;
        let program = match (&def.command, &def.shell) {
            (Some(argv), _) => Program::Argv(argv.get_ref().clone()),
            (None, Some(shell)) => Program::Shell(shell.get_ref().clone()),
            (None, None) => return Err(format!("job `{id}` runs no command")),
        };
        let settings = slurm_settings(slurm, def, true).unwrap_or_default();
        let mut slurm_builder = settings.builder();
        if let Some(timeout) = timeout {
            slurm_builder =
                slurm_builder.extra(format!("--deadline=now+{}", timeout.as_secs().max(1)));
        }
        let mut job = SlurmJob::from_program(program).slurm(slurm_builder);
        for (k, v) in &def.env {
            job = job.env(k.get_ref(), v.get_ref());
        }
        if let Some(cwd) = &def.cwd {
            job = job.cwd(cwd.get_ref());
        }
        if let Some(t) = def.timeout {
            job = job.timeout(t.0);
        }
        let mut ok = Vec::new();
        let mut any = Vec::new();
        let mut seen = HashSet::new();
        for before in &node.after {
            if !seen.insert(before) {
                continue;
            }
            let critical = nodes[before.as_str()].def.critical.unwrap_or(true);
            let slurm_id = ids[before.as_str()].clone();
            if critical {
                ok.push(slurm_id);
            } else {
                any.push(slurm_id);
            }
        }
        let mut parts = Vec::new();
        if !ok.is_empty() {
            parts.push(format!("afterok:{}", ok.join(":")));
        }
        if !any.is_empty() {
            parts.push(format!("afterany:{}", any.join(":")));
        }
        let dependency = parts.join(",");
        let name = format!("jobgraph.{stem}.{}", names.name(id));
        let submitted = job.submit_detached(
            &name,
            dir,
            (!dependency.is_empty()).then_some(dependency.as_str()),
        );
        let slurm_id = match submitted {
            Ok(slurm_id) => slurm_id,
            Err(e) => {
                // What was submitted stays recorded, so that `cancel` can reach it.
                write_state(&state_path, &state)?;
                return Err(format!(
                    "job `{id}`: {e} ({} job(s) submitted before it, recorded in {})",
                    state.jobs.len(),
                    state_path.display()
                ));
            }
        };
        ids.insert(id, slurm_id.clone());
        state.jobs.push(Submitted {
            id: id.to_string(),
            label: def.label.clone().unwrap_or_else(|| id.to_string()),
            slurm_id,
            dependency,
        });
    }
    write_state(&state_path, &state)?;
    Ok(state)
}

fn write_state(path: &Path, state: &State) -> Result<(), String> {
    let text = toml::to_string(state).map_err(|e| e.to_string())?;
    std::fs::write(path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// Reads the state a `submit` wrote: `dir` is its folder (or the file itself).
pub fn read_state(dir: &Path) -> Result<(PathBuf, State), String> {
    let path = if dir.is_dir() {
        dir.join(STATE_FILE)
    } else {
        dir.to_path_buf()
    };
    let text = std::fs::read_to_string(&path)
        .map_err(|e| format!("{}: cannot read it: {e}", path.display()))?;
    let state: State = toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    // What `status` and `cancel` hand to Slurm's commands: ids, never options.
    if let Some(job) = state.jobs.iter().find(|job| !is_job_id(&job.slurm_id)) {
        return Err(format!(
            "{}: job `{}` has slurm_id {:?}, which is not a Slurm job id (digits, and `_` for an array's task): not a state file that `jobgraph submit` wrote",
            path.display(),
            job.id,
            job.slurm_id
        ));
    }
    Ok((path, state))
}

/// Slurm's states that end a job well, or not.
fn ended(state: &str) -> Option<bool> {
    match state {
        "COMPLETED" => Some(true),
        "FAILED" | "CANCELLED" | "TIMEOUT" | "OUT_OF_MEMORY" | "NODE_FAIL" | "PREEMPTED"
        | "BOOT_FAIL" | "DEADLINE" | "UNKNOWN" => Some(false),
        _ => None,
    }
}

/// The listing of `status`, and whether any job ended badly.
pub fn status(state: &State) -> Result<(String, bool), String> {
    let ids: Vec<String> = state.jobs.iter().map(|j| j.slurm_id.clone()).collect();
    let now = slurm_status(&ids)?;
    let width = state.jobs.iter().map(|j| j.id.len()).max().unwrap_or(0);
    let mut text = String::new();
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    let mut bad = false;
    for job in &state.jobs {
        let Some(status) = now.get(&job.slurm_id) else {
            continue;
        };
        *counts.entry(status.state.clone()).or_default() += 1;
        bad |= ended(&status.state) == Some(false);
        let exit = match (status.state.as_str(), status.exit_code) {
            ("COMPLETED" | "FAILED", Some(code)) => format!(" exit {code}"),
            _ => String::new(),
        };
        let reason = if status.reason.is_empty() || status.reason == "None" {
            String::new()
        } else {
            format!(" ({})", status.reason)
        };
        text.push_str(&format!(
            "{:width$}  {:>8}  {}{exit}{reason}\n",
            jobgraph::printable(&job.id),
            job.slurm_id,
            status.state,
        ));
    }
    let summary: Vec<String> = counts
        .iter()
        .map(|(state, n)| format!("{n} {}", state.to_lowercase()))
        .collect();
    text.push_str(&format!(
        "{} job(s): {}\n",
        state.jobs.len(),
        summary.join(", ")
    ));
    Ok((text, bad))
}

/// Cancels every job of the state that has not ended; how many.
pub fn cancel(state: &State) -> Result<usize, String> {
    let ids: Vec<String> = state.jobs.iter().map(|j| j.slurm_id.clone()).collect();
    let now = slurm_status(&ids)?;
    let live: Vec<String> = ids
        .into_iter()
        .filter(|id| now.get(id).is_some_and(|s| ended(&s.state).is_none()))
        .collect();
    scancel(&live)?;
    Ok(live.len())
}
