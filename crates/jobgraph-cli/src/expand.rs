//! Variables and templates: `[vars]`, `--set`, `--hosts`, and jobs with a `matrix`,
//! expanded into plain jobs before the checks; requirements on a template resolved to
//! its instances; the targets of a run and what they need.
//!
//! * `{name}` in a job's `label`, `command`, `shell`, `env` values, `cwd`, `host` and
//!   `requires` is replaced by the value of `name`: a matrix parameter of the job, or a
//!   variable. A name that is neither is left as it is (`awk '{print}'` stays), and so
//!   is `${name}` (the shell's); `{{name}}` writes `{name}` for a defined name.
//! * `matrix = { host = ["a", "b"], size = [1, 2] }` makes one instance per element
//!   of the product, `id[host=a,size=1]`...; a matrix value may be a list variable,
//!   `host = "{hosts}"`. `requires = ["sim"]` means every instance of `sim`,
//!   `requires = ["sim[size=2]"]` those with `size = 2`.

use std::collections::{BTreeMap, HashMap, HashSet};

use toml::Spanned;

use crate::scenario::{Checker, GroupDef, Instance, JobDef, Scenario, ScenarioError, SequenceDef};

/// The most jobs a scenario holds once its matrices are expanded. A matrix's product
/// grows fast (six parameters of ten values make a million instances, which take
/// `check` alone seconds and gigabytes): past this, the scenario is refused with the
/// product that made it, rather than left to fill the memory.
pub const MAX_JOBS: usize = 100_000;

/// The most requirements a scenario holds once template names are resolved: a template
/// named as a requirement stands for each of its instances, and a sequence's step
/// requires each job of the step before, so two templates of a thousand instances
/// make a million edges.
pub const MAX_REQUIREMENTS: usize = 1_000_000;

/// Values given on the command line: `--set name=value` and `--hosts FILE`.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `--set name=value`, in order (a later one wins).
    pub set: Vec<(String, String)>,
    /// The hosts of `--hosts FILE`, as the list variable `hosts`.
    pub hosts: Option<Vec<String>>,
}

/// A variable's value.
#[derive(Debug, Clone, PartialEq)]
enum Value {
    One(String),
    List(Vec<String>),
}

fn scalar(value: &toml::Value) -> Option<String> {
    match value {
        toml::Value::String(s) => Some(s.clone()),
        toml::Value::Integer(i) => Some(i.to_string()),
        toml::Value::Float(f) => Some(f.to_string()),
        toml::Value::Boolean(b) => Some(b.to_string()),
        _ => None,
    }
}

fn name_ok(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// The variables: the file's `[vars]`, then `--hosts`, then `--set`.
fn variables(
    checker: &Checker<'_>,
    scenario: &Scenario,
    overrides: &Overrides,
) -> Result<BTreeMap<String, Value>, ScenarioError> {
    let mut vars = BTreeMap::new();
    if let Some(table) = &scenario.vars {
        let at = table.span().start;
        for (name, value) in table.get_ref() {
            if !name_ok(name) {
                return Err(checker.error(
                    at,
                    format!("[vars] `{name}` is not a name (a letter or `_`, then letters, digits and `_`)"),
                ));
            }
            let value = match value {
                toml::Value::Array(items) => Value::List(
                    items
                        .iter()
                        .map(|item| {
                            scalar(item).ok_or_else(|| {
                                checker.error(
                                    at,
                                    format!("[vars] `{name}`: a list holds texts or numbers"),
                                )
                            })
                        })
                        .collect::<Result<_, _>>()?,
                ),
                other => Value::One(scalar(other).ok_or_else(|| {
                    checker.error(
                        at,
                        format!("[vars] `{name}` is a text, a number, a boolean or a list of them"),
                    )
                })?),
            };
            vars.insert(name.clone(), value);
        }
    }
    if let Some(hosts) = &overrides.hosts {
        vars.insert("hosts".to_string(), Value::List(hosts.clone()));
    }
    for (name, value) in &overrides.set {
        vars.insert(name.clone(), Value::One(value.clone()));
    }
    Ok(vars)
}

/// Checks a `--set` argument: `name=value`.
pub fn parse_set(text: &str) -> Result<(String, String), String> {
    let (name, value) = text
        .split_once('=')
        .ok_or_else(|| format!("`{text}` is not name=value"))?;
    if !name_ok(name) {
        return Err(format!(
            "`{name}` is not a name (a letter or `_`, then letters, digits and `_`)"
        ));
    }
    Ok((name.to_string(), value.to_string()))
}

/// Reads a hosts file as pssh's `-h` does: one `[user@]host[:port]` a line; blank
/// lines and `#` comments skipped.
pub fn read_hosts(path: &std::path::Path) -> Result<Vec<String>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("{}: cannot read it: {e}", path.display()))?;
    let mut hosts = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        if let Err(e) = line.parse::<jobgraph_command::SshTarget>() {
            return Err(format!("{}:{}: {e}", path.display(), i + 1));
        }
        hosts.push(line.to_string());
    }
    if hosts.is_empty() {
        return Err(format!("{}: no host in it", path.display()));
    }
    Ok(hosts)
}

/// What a `{name}` stands for while one job is expanded.
struct Names<'a> {
    params: &'a BTreeMap<String, String>,
    vars: &'a BTreeMap<String, Value>,
}

impl Names<'_> {
    fn get(&self, name: &str) -> Option<Result<&str, ()>> {
        if let Some(value) = self.params.get(name) {
            return Some(Ok(value));
        }
        match self.vars.get(name)? {
            Value::One(value) => Some(Ok(value)),
            Value::List(_) => Some(Err(())),
        }
    }

    /// `text` with every `{name}` of a defined name replaced (see the module's doc).
    fn substitute(&self, text: &str) -> Result<String, String> {
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(open) = rest.find('{') {
            out.push_str(&rest[..open]);
            let after = &rest[open + 1..];
            let dollar = out.ends_with('$');
            // `{{name}}`: the text `{name}`, for a defined name.
            if let Some(inner) = after.strip_prefix('{') {
                if let Some(close) = inner.find("}}") {
                    let name = &inner[..close];
                    if name_ok(name) && self.get(name).is_some() {
                        out.push('{');
                        out.push_str(name);
                        out.push('}');
                        rest = &inner[close + 2..];
                        continue;
                    }
                }
            }
            match after.find('}') {
                Some(close) if !dollar && name_ok(&after[..close]) => {
                    let name = &after[..close];
                    match self.get(name) {
                        Some(Ok(value)) => out.push_str(value),
                        Some(Err(())) => {
                            return Err(format!(
                                "`{{{name}}}` is a list: a list is used as a matrix value (`matrix = {{ x = \"{{{name}}}\" }}`)"
                            ))
                        }
                        None => {
                            out.push('{');
                            out.push_str(name);
                            out.push('}');
                        }
                    }
                    rest = &after[close + 1..];
                }
                _ => {
                    out.push('{');
                    rest = after;
                }
            }
        }
        out.push_str(rest);
        Ok(out)
    }
}

/// The parameter sets of a job's matrix, in the product's order (keys sorted): one
/// empty set when it has no matrix. At most `room` sets: more is an error that shows
/// the product, made before any set is.
fn matrix_params(
    checker: &Checker<'_>,
    job: &JobDef,
    vars: &BTreeMap<String, Value>,
    room: usize,
) -> Result<Vec<BTreeMap<String, String>>, ScenarioError> {
    let Some(matrix) = &job.matrix else {
        return Ok(vec![BTreeMap::new()]);
    };
    let at = matrix.span().start;
    let id = job.id.get_ref();
    if matrix.get_ref().is_empty() {
        return Err(checker.error(at, format!("job `{id}`: `matrix` is empty")));
    }
    let mut lists = Vec::with_capacity(matrix.get_ref().len());
    for (name, values) in matrix.get_ref() {
        if !name_ok(name) {
            return Err(checker.error(
                at,
                format!("job `{id}`: matrix key `{name}` is not a name (a letter or `_`, then letters, digits and `_`)"),
            ));
        }
        let list: Vec<String> = match values {
            toml::Value::Array(items) => items
                .iter()
                .map(|item| {
                    scalar(item).ok_or_else(|| {
                        checker.error(
                            at,
                            format!("job `{id}`: matrix `{name}` holds texts or numbers"),
                        )
                    })
                })
                .collect::<Result<_, _>>()?,
            toml::Value::String(text) => {
                let var = text
                    .strip_prefix('{')
                    .and_then(|t| t.strip_suffix('}'))
                    .filter(|t| name_ok(t));
                match var.and_then(|v| vars.get(v)) {
                    Some(Value::List(list)) => list.clone(),
                    Some(Value::One(value)) => vec![value.clone()],
                    None => {
                        return Err(checker.error(
                            at,
                            format!("job `{id}`: matrix `{name}` is a list, or `\"{{var}}\"` naming a list in [vars] (or --hosts for `{{hosts}}`); `{text}` is neither"),
                        ))
                    }
                }
            }
            _ => {
                return Err(checker.error(
                    at,
                    format!("job `{id}`: matrix `{name}` is a list of texts or numbers"),
                ))
            }
        };
        if list.is_empty() {
            return Err(checker.error(at, format!("job `{id}`: matrix `{name}` is empty")));
        }
        let mut seen = HashSet::new();
        if let Some(twice) = list.iter().find(|v| !seen.insert(*v)) {
            return Err(checker.error(
                at,
                format!("job `{id}`: matrix `{name}` holds `{twice}` twice"),
            ));
        }
        lists.push((name, list));
    }
    // Counted before any instance is made.
    let count = lists
        .iter()
        .try_fold(1usize, |count, (_, list)| count.checked_mul(list.len()));
    if count.is_none_or(|count| count > room) {
        let sizes: Vec<String> = lists
            .iter()
            .map(|(_, list)| list.len().to_string())
            .collect();
        let count = count.map_or_else(|| "more than 2^64".to_string(), |c| c.to_string());
        let others = MAX_JOBS - room;
        let before = if others > 0 {
            format!(" with the {others} job(s) before it")
        } else {
            String::new()
        };
        return Err(checker.error(
            at,
            format!(
                "job `{id}`: its matrix makes {} = {count} instances, and a scenario holds at most {MAX_JOBS} jobs once expanded{before}: split the sweep into scenarios, or give fewer values",
                sizes.join(" × ")
            ),
        ));
    }
    let mut product: Vec<BTreeMap<String, String>> = vec![BTreeMap::new()];
    for (name, list) in lists {
        product = product
            .into_iter()
            .flat_map(|params| {
                list.iter().map(move |value| {
                    let mut params = params.clone();
                    params.insert(name.clone(), value.clone());
                    params
                })
            })
            .collect();
    }
    Ok(product)
}

/// `id[k=v,k=v]`: an instance's id.
pub fn instance_id(template: &str, params: &BTreeMap<String, String>) -> String {
    if params.is_empty() {
        return template.to_string();
    }
    let inner: Vec<String> = params.iter().map(|(k, v)| format!("{k}={v}")).collect();
    format!("{template}[{}]", inner.join(","))
}

/// One job made concrete: substituted, and an instance when it has a matrix.
fn expand_job(
    checker: &Checker<'_>,
    job: &JobDef,
    vars: &BTreeMap<String, Value>,
    room: usize,
) -> Result<Vec<JobDef>, ScenarioError> {
    let mut out = Vec::new();
    let id = job.id.get_ref();
    for params in matrix_params(checker, job, vars, room)? {
        let names = Names {
            params: &params,
            vars,
        };
        let sub = |at: usize, text: &str| {
            names
                .substitute(text)
                .map_err(|e| checker.error(at, format!("job `{id}`: {e}")))
        };
        let mut made = job.clone();
        made.matrix = None;
        if job.matrix.is_some() {
            made.id = Spanned::new(job.id.span(), instance_id(id, &params));
            made.instance = Some(Instance {
                template: id.clone(),
                params: params.clone(),
            });
            if made.label.is_none() {
                made.label = Some(made.id.get_ref().clone());
            }
        }
        let at = job.id.span().start;
        if let Some(label) = &job.label {
            made.label = Some(sub(at, label)?);
        }
        if let Some(command) = &job.command {
            let words = command
                .get_ref()
                .iter()
                .map(|w| sub(command.span().start, w))
                .collect::<Result<_, _>>()?;
            made.command = Some(Spanned::new(command.span(), words));
        }
        if let Some(shell) = &job.shell {
            made.shell = Some(Spanned::new(
                shell.span(),
                sub(shell.span().start, shell.get_ref())?,
            ));
        }
        made.env = BTreeMap::new();
        for (key, value) in &job.env {
            made.env.insert(
                key.clone(),
                Spanned::new(value.span(), sub(value.span().start, value.get_ref())?),
            );
        }
        if let Some(cwd) = &job.cwd {
            made.cwd = Some(Spanned::new(
                cwd.span(),
                sub(cwd.span().start, cwd.get_ref())?,
            ));
        }
        if let Some(host) = &job.host {
            made.host = Some(Spanned::new(
                host.span(),
                sub(host.span().start, host.get_ref())?,
            ));
        }
        for (made_copy, copy) in [(&mut made.push, &job.push), (&mut made.pull, &job.pull)] {
            if let Some(copy) = copy {
                let at = copy.span().start;
                let def = copy.get_ref();
                let mut new = def.clone();
                new.files = def
                    .files
                    .iter()
                    .map(|f| sub(at, f))
                    .collect::<Result<_, _>>()?;
                new.to = sub(at, &def.to)?;
                *made_copy = Some(Spanned::new(copy.span(), new));
            }
        }
        if let Some(script) = &job.script {
            made.script = Some(Spanned::new(
                script.span(),
                sub(script.span().start, script.get_ref())?,
            ));
        }
        made.args = job
            .args
            .iter()
            .map(|a| sub(at, a))
            .collect::<Result<_, _>>()?;
        made.requires = job
            .requires
            .iter()
            .map(|r| Ok(Spanned::new(r.span(), sub(r.span().start, r.get_ref())?)))
            .collect::<Result<_, ScenarioError>>()?;
        out.push(made);
    }
    Ok(out)
}

/// The instances of each template in the file: template id -> (instance id, params).
type Templates = HashMap<String, Vec<(String, BTreeMap<String, String>)>>;

fn walk_templates(jobs: &[JobDef], groups: &[GroupDef], templates: &mut Templates) {
    for job in jobs {
        if let Some(instance) = &job.instance {
            templates
                .entry(instance.template.clone())
                .or_default()
                .push((job.id.get_ref().clone(), instance.params.clone()));
        }
    }
    for group in groups {
        walk_templates(&group.jobs, &group.groups, templates);
    }
}

/// What a name given as a requirement, a sequence item or a target means: itself, or
/// the instances of a template (`sim`, `sim[size=2]`). `None`: not a template.
pub(crate) fn resolve_template(
    templates: &Templates,
    name: &str,
) -> Option<Result<Vec<String>, String>> {
    let (template, selector) = match name.split_once('[') {
        Some((template, rest)) => (template, Some(rest.strip_suffix(']')?)),
        None => (name, None),
    };
    let instances = templates.get(template)?;
    let mut wanted = BTreeMap::new();
    if let Some(selector) = selector {
        for pair in selector.split(',') {
            let Some((k, v)) = pair.split_once('=') else {
                return Some(Err(format!(
                    "`{name}`: write the parameters as `{template}[name=value,...]`"
                )));
            };
            if !instances.iter().any(|(_, p)| p.contains_key(k)) {
                let known: Vec<&String> = instances[0].1.keys().collect();
                return Some(Err(format!(
                    "`{name}`: `{template}` has no parameter `{k}` (it has {})",
                    known
                        .iter()
                        .map(|k| format!("`{k}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
            wanted.insert(k.to_string(), v.to_string());
        }
    }
    let found: Vec<String> = instances
        .iter()
        .filter(|(_, params)| wanted.iter().all(|(k, v)| params.get(k) == Some(v)))
        .map(|(id, _)| id.clone())
        .collect();
    if found.is_empty() {
        return Some(Err(format!("`{name}` matches no instance of `{template}`")));
    }
    Some(Ok(found))
}

/// Each name of `list` resolved: itself, or a template's instances. `edges`: what each
/// resolved name costs in requirements, given the step before (one per id for a list
/// of requirements; for a sequence, one per id of this step and of the one before).
fn resolve_list(
    checker: &Checker<'_>,
    templates: &Templates,
    list: &[Spanned<String>],
    count: &mut usize,
    edges: impl Fn(&[Spanned<String>], Option<&Vec<Spanned<String>>>) -> usize,
) -> Result<Vec<Vec<Spanned<String>>>, ScenarioError> {
    let mut steps: Vec<Vec<Spanned<String>>> = Vec::new();
    for item in list {
        let step: Vec<Spanned<String>> = match resolve_template(templates, item.get_ref()) {
            None => vec![item.clone()],
            Some(Ok(ids)) => ids
                .into_iter()
                .map(|id| Spanned::new(item.span(), id))
                .collect(),
            Some(Err(e)) => return Err(checker.error(item.span().start, e)),
        };
        *count = count.saturating_add(edges(&step, steps.last()));
        if *count > MAX_REQUIREMENTS {
            return Err(checker.error(
                item.span().start,
                format!(
                    "`{}`: a scenario holds at most {MAX_REQUIREMENTS} requirements once templates are resolved (a template stands for each of its instances), and this one is past that: name fewer instances (`{}[name=value]`), or let one job require the first set and the second set require that job (n + m requirements rather than n × m)",
                    item.get_ref(),
                    item.get_ref().split('[').next().unwrap_or_default(),
                ),
            ));
        }
        steps.push(step);
    }
    Ok(steps)
}

/// What a requirement resolved to costs: one edge per id.
fn each(step: &[Spanned<String>], _before: Option<&Vec<Spanned<String>>>) -> usize {
    step.len()
}

/// What a sequence's step costs: each of its jobs requires each job of the step before.
fn after_each(step: &[Spanned<String>], before: Option<&Vec<Spanned<String>>>) -> usize {
    before.map_or(0, |before| before.len().saturating_mul(step.len()))
}

/// Resolves the template names of a scope and of the groups in it; `count`: the
/// requirements so far in the whole scenario, at most [`MAX_REQUIREMENTS`].
fn resolve_scope(
    checker: &Checker<'_>,
    templates: &Templates,
    jobs: &mut [JobDef],
    groups: &mut [GroupDef],
    sequences: &mut [SequenceDef],
    count: &mut usize,
) -> Result<(), ScenarioError> {
    for job in jobs.iter_mut() {
        job.requires = resolve_list(checker, templates, &job.requires, count, each)?
            .into_iter()
            .flatten()
            .collect();
    }
    for group in groups.iter_mut() {
        group.requires = resolve_list(checker, templates, &group.requires, count, each)?
            .into_iter()
            .flatten()
            .collect();
        resolve_scope(
            checker,
            templates,
            &mut group.jobs,
            &mut group.groups,
            &mut group.sequences,
            count,
        )?;
    }
    for sequence in sequences.iter_mut() {
        sequence.steps = resolve_list(
            checker,
            templates,
            sequence.jobs.get_ref(),
            count,
            after_each,
        )?;
    }
    Ok(())
}

/// Expands the jobs of a scope and of the groups in it; `count`: the jobs made so far in
/// the whole scenario, at most [`MAX_JOBS`].
fn expand_scope(
    checker: &Checker<'_>,
    vars: &BTreeMap<String, Value>,
    jobs: &mut Vec<JobDef>,
    groups: &mut [GroupDef],
    count: &mut usize,
) -> Result<(), ScenarioError> {
    let mut made = Vec::with_capacity(jobs.len());
    for job in jobs.iter() {
        let room = MAX_JOBS - *count;
        if room == 0 {
            return Err(checker.error(
                job.id.span().start,
                format!(
                    "job `{}`: a scenario holds at most {MAX_JOBS} jobs once expanded, and this one is past that: split it into scenarios",
                    job.id.get_ref()
                ),
            ));
        }
        let instances = expand_job(checker, job, vars, room)?;
        *count += instances.len();
        made.extend(instances);
    }
    *jobs = made;
    for group in groups.iter_mut() {
        let names = Names {
            params: &BTreeMap::new(),
            vars,
        };
        let at = group.id.span().start;
        if let Some(label) = &group.label {
            group.label =
                Some(names.substitute(label).map_err(|e| {
                    checker.error(at, format!("group `{}`: {e}", group.id.get_ref()))
                })?);
        }
        expand_scope(checker, vars, &mut group.jobs, &mut group.groups, count)?;
    }
    Ok(())
}

/// Expands the variables and templates of a parsed scenario, and resolves the names
/// of templates in requirements and sequences.
pub(crate) fn expand(
    checker: &Checker<'_>,
    scenario: &mut Scenario,
    overrides: &Overrides,
) -> Result<(), ScenarioError> {
    let vars = variables(checker, scenario, overrides)?;
    expand_scope(
        checker,
        &vars,
        &mut scenario.jobs,
        &mut scenario.groups,
        &mut 0,
    )?;
    let mut templates = Templates::new();
    walk_templates(&scenario.jobs, &scenario.groups, &mut templates);
    resolve_scope(
        checker,
        &templates,
        &mut scenario.jobs,
        &mut scenario.groups,
        &mut scenario.sequences,
        &mut 0,
    )
}

/// Keeps only the jobs and groups that `targets` need: the targets, what they require
/// (a group required is needed whole), and the groups they are in (with what those
/// require). Names are ids, templates (`sim`) or instances (`sim[size=2]`).
pub fn keep_targets(scenario: &mut Scenario, targets: &[String]) -> Result<(), String> {
    if targets.is_empty() {
        return Ok(());
    }
    let nodes = crate::scenario::graph(scenario);
    let mut templates = Templates::new();
    walk_templates(&scenario.jobs, &scenario.groups, &mut templates);
    let mut wanted = Vec::new();
    for target in targets {
        if nodes.contains_key(target) {
            wanted.push(target.clone());
            continue;
        }
        match resolve_template(&templates, target) {
            Some(Ok(ids)) => wanted.extend(ids),
            Some(Err(e)) => return Err(e),
            None => {
                return Err(format!(
                    "no job or group `{target}` in the scenario (`jobgraph list FILE` names them)"
                ));
            }
        }
    }
    let mut kept: HashSet<String> = HashSet::new();
    let mut whole: HashSet<String> = HashSet::new();
    // (id, whole): a group needed whole brings all its members.
    let mut stack: Vec<(String, bool)> = wanted.into_iter().map(|id| (id, true)).collect();
    while let Some((id, all)) = stack.pop() {
        let Some(node) = nodes.get(&id) else { continue };
        let new = kept.insert(id.clone());
        if all && whole.insert(id.clone()) {
            stack.extend(node.members.iter().map(|m| (m.clone(), true)));
        }
        if new {
            stack.extend(node.after.iter().map(|r| (r.clone(), true)));
            if !node.parent.is_empty() {
                stack.push((node.parent.clone(), false));
            }
        }
    }
    fn prune(
        jobs: &mut Vec<JobDef>,
        groups: &mut Vec<GroupDef>,
        sequences: &mut Vec<SequenceDef>,
        kept: &HashSet<String>,
    ) {
        jobs.retain(|j| kept.contains(j.id.get_ref()));
        groups.retain(|g| kept.contains(g.id.get_ref()));
        for group in groups.iter_mut() {
            prune(
                &mut group.jobs,
                &mut group.groups,
                &mut group.sequences,
                kept,
            );
        }
        for sequence in sequences.iter_mut() {
            for step in sequence.steps.iter_mut() {
                step.retain(|id| kept.contains(id.get_ref()));
            }
            sequence.steps.retain(|step| !step.is_empty());
        }
        sequences.retain(|s| !s.steps.is_empty());
    }
    prune(
        &mut scenario.jobs,
        &mut scenario.groups,
        &mut scenario.sequences,
        &kept,
    );
    Ok(())
}
