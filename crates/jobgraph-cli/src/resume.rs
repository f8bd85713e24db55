//! What `--resume` skips, and why: each job's key covers what it runs and what it
//! comes after, and a job runs again when anything it comes after runs again.
//!
//! * A job's *own* key hashes its command, host, env and cwd.
//! * Its *full* key hashes its own key, the full keys of what it requires (its
//!   `requires`, the step before it in a sequence), and those of what its group
//!   requires, all the way up: change a job, and the full key of everything
//!   downstream of it changes, as make's timestamps, Nextflow's task hashes and
//!   Snakemake's rerun triggers do. A group's full key covers its members'.
//! * A job is skipped only when the journal's last record for it has its full key and
//!   status 0, and nothing it comes after runs in this run.

use std::collections::{BTreeMap, HashMap};

use jobgraph_command::Program;

use crate::journal::{hash, job_key, Journal};
use crate::scenario::{graph, JobDef, Node, Scenario};

/// A job's keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keys {
    /// What covers the job and everything it comes after.
    pub full: String,
    /// What covers the job alone: its command, host, env and cwd.
    pub own: String,
}

/// Whether a job runs in a resumed run, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Done with status 0 in a previous run, with the same full key.
    Skip,
    /// Runs, for this reason.
    Run(String),
}

/// What a job runs, for its key: its argv or shell text; a copy or a script as words
/// that tell it apart from any command (`\0push`, its flags, files and folder).
fn program_of(job: &JobDef) -> Program {
    let copy = |kind: &str, def: &crate::scenario::CopyDef| {
        let mut words = vec![
            format!("\0{kind}"),
            format!("recursive={} preserve={}", def.recursive, def.preserve),
            def.to.clone(),
        ];
        words.extend(def.files.iter().cloned());
        Program::Argv(words)
    };
    match (&job.command, &job.shell, &job.push, &job.pull, &job.script) {
        (Some(argv), ..) => Program::Argv(argv.get_ref().clone()),
        (_, Some(shell), ..) => Program::Shell(shell.get_ref().clone()),
        (_, _, Some(push), ..) => copy("push", push.get_ref()),
        (_, _, _, Some(pull), _) => copy("pull", pull.get_ref()),
        (.., Some(script)) => {
            // The script's path and its text: a changed script runs again.
            let text = std::fs::read(script.get_ref()).unwrap_or_default();
            let mut words = vec![
                "\0script".to_string(),
                script.get_ref().clone(),
                crate::journal::hash(&String::from_utf8_lossy(&text)),
            ];
            words.extend(job.args.iter().cloned());
            Program::Argv(words)
        }
        _ => Program::Argv(Vec::new()),
    }
}

/// A job's own key: what it runs and where.
pub fn own_key(job: &JobDef) -> String {
    let program = program_of(job);
    let env: BTreeMap<String, String> = job
        .env
        .iter()
        .map(|(k, v)| (k.get_ref().clone(), v.get_ref().clone()))
        .collect();
    job_key(
        &program,
        job.host.as_ref().map(|h| h.get_ref().as_str()),
        &env,
        job.cwd.as_ref().map(|c| c.get_ref().as_str()),
    )
}

/// The keys of every job of a checked scenario, by id.
pub fn keys(scenario: &Scenario) -> HashMap<String, Keys> {
    let graph = graph(scenario);
    let mut full: HashMap<String, String> = HashMap::new();
    fn full_key(
        id: &str,
        graph: &BTreeMap<String, Node<'_>>,
        full: &mut HashMap<String, String>,
    ) -> String {
        if let Some(key) = full.get(id) {
            return key.clone();
        }
        // Checked acyclic: the recursion ends.
        let Some(node) = graph.get(id) else {
            return String::new();
        };
        let mut text = String::new();
        match node.job {
            Some(job) => {
                text.push_str("job\0");
                text.push_str(&own_key(job));
            }
            None => {
                text.push_str("group");
                let mut members: Vec<String> = node
                    .members
                    .iter()
                    .map(|m| full_key(m, graph, full))
                    .collect();
                members.sort();
                for member in members {
                    text.push('\0');
                    text.push_str(&member);
                }
            }
        }
        text.push_str("\0\0after");
        let mut after: Vec<String> = node
            .after
            .iter()
            .map(|r| full_key(r, graph, full))
            .collect();
        after.sort();
        for key in after {
            text.push('\0');
            text.push_str(&key);
        }
        // What the enclosing group comes after, all the way up.
        let mut parent = node.parent.as_str();
        while let Some(group) = graph.get(parent) {
            let mut after: Vec<String> = group
                .after
                .iter()
                .map(|r| full_key(r, graph, full))
                .collect();
            after.sort();
            text.push_str("\0\0parent");
            for key in after {
                text.push('\0');
                text.push_str(&key);
            }
            parent = group.parent.as_str();
        }
        let key = hash(&text);
        full.insert(id.to_string(), key.clone());
        key
    }
    let mut out = HashMap::new();
    for (id, node) in &graph {
        if let Some(job) = node.job {
            out.insert(
                id.clone(),
                Keys {
                    full: full_key(id, &graph, &mut full),
                    own: own_key(job),
                },
            );
        }
    }
    out
}

/// What a resumed run decided: each job's keys, which the build records in the
/// journal, and whether each job runs, and why.
#[derive(Debug, Clone)]
pub struct Resume {
    /// The keys of every job, by id ([`keys`]).
    pub keys: HashMap<String, Keys>,
    /// Whether each job runs, and why, by id.
    pub decisions: HashMap<String, Decision>,
}

/// Whether each job runs when resuming from `journal`, and why, with the keys that
/// decided it: computed once here, for the build to record.
pub fn decide(scenario: &Scenario, journal: &Journal) -> Resume {
    let keys = keys(scenario);
    let graph = graph(scenario);
    /// Whether a node runs: a job by its own record, a group when a member runs; and
    /// anything whose predecessors (its own, and its groups') run.
    fn runs(
        id: &str,
        graph: &BTreeMap<String, Node<'_>>,
        keys: &HashMap<String, Keys>,
        journal: &Journal,
        memo: &mut HashMap<String, Decision>,
    ) -> Decision {
        if let Some(decision) = memo.get(id) {
            return decision.clone();
        }
        let Some(node) = graph.get(id) else {
            return Decision::Skip;
        };
        let mut decision = Decision::Skip;
        let mut up = Some(id);
        'after: while let Some(at) = up {
            let Some(here) = graph.get(at) else { break };
            for before in &here.after {
                if matches!(runs(before, graph, keys, journal, memo), Decision::Run(_)) {
                    let whose = if at == id {
                        String::new()
                    } else {
                        format!(" (its group `{at}` requires it)")
                    };
                    decision =
                        Decision::Run(format!("`{before}`, which it comes after, runs{whose}"));
                    break 'after;
                }
            }
            up = Some(here.parent.as_str()).filter(|p| !p.is_empty());
        }
        if decision == Decision::Skip {
            decision = match node.job {
                Some(_) => {
                    let key = &keys[id];
                    match journal.last(id) {
                        None => Decision::Run("not in the journal".into()),
                        Some(record) if record.status != "0" => Decision::Run(format!(
                            "it did not succeed last time ({})",
                            record.status
                        )),
                        Some(record) if record.own != key.own => {
                            Decision::Run("its command, host, env or cwd changed".into())
                        }
                        Some(record) if record.full != key.full => {
                            Decision::Run("something it comes after changed since it ran".into())
                        }
                        Some(_) => Decision::Skip,
                    }
                }
                None => {
                    let member = node
                        .members
                        .iter()
                        .find(|m| matches!(runs(m, graph, keys, journal, memo), Decision::Run(_)));
                    match member {
                        Some(m) => Decision::Run(format!("`{m}` in it runs")),
                        None => Decision::Skip,
                    }
                }
            };
        }
        memo.insert(id.to_string(), decision.clone());
        decision
    }
    let mut memo = HashMap::new();
    let mut out = HashMap::new();
    for (id, node) in &graph {
        if node.job.is_some() {
            out.insert(id.clone(), runs(id, &graph, &keys, journal, &mut memo));
        }
    }
    Resume {
        keys,
        decisions: out,
    }
}
