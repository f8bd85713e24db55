//! The layers of `src/` point one way: each file may use only the layers below its own
//! (read from its `use crate::` lines and every other `crate::` path in its code),
//! and the files of one folder use each other without a circle. The rule lives here,
//! kept by a machine, so that the tree keeps showing the architecture.
//!
//! ARCHITECTURE.md draws the layers; this file is where the rule is kept.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const LEAVES: [&str; 5] = ["error", "limits", "sync", "timer", "watch"];

/// The one knot of types that name each other, and so cannot be split into files
/// that use each other one way: a handle is a shared pointer to a node, a node's
/// requirements are handles, a node runs with a context, and a context names its
/// job's handle (`Context::job`, `Context::get`); a group hands out its jobs' handles,
/// and `Jobs` is what a handle's `requires` takes; the cycle collector empties the
/// requirement lists of jobs that require each other, and dropping a handle calls it.
/// These files count as one for the circle check; every other file of `job/` must use
/// them, and each other, one way.
const JOB_KNOT: [&str; 7] = [
    "context", "core", "cycle", "group", "handle", "jobs", "node",
];

/// What each layer may use, besides itself and the leaves.
fn allowed(layer: &str) -> &'static [&'static str] {
    match layer {
        "job" => &[],
        "graph" => &["job"],
        "engine" => &["job", "graph"],
        "report" => &["job", "graph", "engine"],
        "scheduler" | "batch" => &["job", "graph", "engine", "report"],
        // A leaf uses other leaves only (checked apart: they must not form a circle).
        _ => &[],
    }
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The file's code: comments and the unit tests at its end left out (tests may build
/// whatever they check with).
fn code(text: &str) -> String {
    let end = text.find("#[cfg(test)]\nmod tests").unwrap_or(text.len());
    text[..end]
        .lines()
        .map(|line| match line.find("//") {
            Some(i) => &line[..i],
            None => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The words that follow `prefix` in `code`, with the nested `{...}` of a `use` line
/// flattened: `use crate::{a::X, b}` gives `a` and `b`.
fn targets(code: &str, prefix: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut rest = code;
    while let Some(i) = rest.find(prefix) {
        let before = rest[..i].chars().last();
        rest = &rest[i + prefix.len()..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$') {
            continue; // `$crate::`, `my_crate::`
        }
        if let Some(group) = rest.strip_prefix('{') {
            let end = matching_brace(group);
            for item in split_top(&group[..end]) {
                let name: String = item
                    .trim()
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() && name != "self" {
                    found.insert(name);
                }
            }
            continue;
        }
        let name: String = rest
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        if !name.is_empty() {
            found.insert(name);
        }
    }
    found
}

fn matching_brace(text: &str) -> usize {
    let mut depth = 0;
    for (i, c) in text.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => return i,
            '}' => depth -= 1,
            _ => {}
        }
    }
    text.len()
}

fn split_top(text: &str) -> Vec<&str> {
    let (mut parts, mut depth, mut start) = (Vec::new(), 0, 0);
    for (i, c) in text.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts
}

/// A file's layer (its folder, or its name for a leaf) and its name inside the folder.
fn place(path: &Path) -> (String, String) {
    let relative = path.strip_prefix(src()).unwrap();
    let parts: Vec<String> = relative
        .iter()
        .map(|p| p.to_string_lossy().trim_end_matches(".rs").to_string())
        .collect();
    match parts.as_slice() {
        [file] => (file.clone(), String::new()),
        [folder, file, ..] => (folder.clone(), file.clone()),
        [] => unreachable!(),
    }
}

struct Findings {
    /// `file: uses crate::X`, for each use that points up or sideways.
    upward: Vec<String>,
    /// Folder-to-folder and leaf-to-leaf uses, for the circle check.
    between: BTreeMap<String, BTreeSet<String>>,
    /// Within each folder, file to the files it uses through `super::`.
    inside: BTreeMap<String, BTreeMap<String, BTreeSet<String>>>,
}

fn read_tree() -> Findings {
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    files.sort();
    let layers: BTreeSet<String> = files.iter().map(|f| place(f).0).collect();
    let mut findings = Findings {
        upward: Vec::new(),
        between: BTreeMap::new(),
        inside: BTreeMap::new(),
    };
    for file in &files {
        let (layer, name) = place(file);
        if layer == "lib" {
            continue; // the front: re-exports only
        }
        let text = code(&std::fs::read_to_string(file).unwrap());
        let shown = file.strip_prefix(src()).unwrap().display().to_string();
        for target in targets(&text, "crate::") {
            if !layers.contains(&target) {
                findings.upward.push(format!(
                    "src/{shown}: uses crate::{target}, a re-export of lib.rs: name its layer's path"
                ));
                continue;
            }
            if target == layer {
                continue;
            }
            findings
                .between
                .entry(layer.clone())
                .or_default()
                .insert(target.clone());
            let ok = LEAVES.contains(&target.as_str())
                || (!LEAVES.contains(&layer.as_str())
                    && allowed(&layer).contains(&target.as_str()));
            if !ok {
                findings
                    .upward
                    .push(format!("src/{shown}: layer `{layer}` uses crate::{target}"));
            }
        }
        if !name.is_empty() && name != "mod" {
            let knot = |file: String| {
                if layer == "job" && JOB_KNOT.contains(&file.as_str()) {
                    JOB_KNOT.join("+")
                } else {
                    file
                }
            };
            let name = knot(name);
            let uses: Vec<String> = targets(&text, "super::")
                .into_iter()
                .filter(|t| file.parent().unwrap().join(format!("{t}.rs")).exists())
                .map(knot)
                .filter(|used| *used != name)
                .collect();
            findings
                .inside
                .entry(layer.clone())
                .or_default()
                .entry(name)
                .or_default()
                .extend(uses);
        }
    }
    findings
}

/// One circle in `graph`, if there is one.
fn circle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        state: &mut BTreeMap<String, u8>,
        path: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        state.insert(node.to_string(), 1);
        path.push(node.to_string());
        for next in graph.get(node).into_iter().flatten() {
            match state.get(next.as_str()) {
                Some(1) => {
                    let start = path.iter().position(|p| p == next).unwrap();
                    let mut found = path[start..].to_vec();
                    found.push(next.clone());
                    return Some(found);
                }
                Some(_) => {}
                None => {
                    if let Some(found) = visit(next, graph, state, path) {
                        return Some(found);
                    }
                }
            }
        }
        path.pop();
        state.insert(node.to_string(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for node in graph.keys() {
        if !state.contains_key(node) {
            if let Some(found) = visit(node, graph, &mut state, &mut Vec::new()) {
                return Some(found);
            }
        }
    }
    None
}

#[test]
fn no_layer_uses_a_layer_above_it() {
    let findings = read_tree();
    assert!(
        findings.upward.is_empty(),
        "imports against the layers (see tests/layers.rs):\n{}",
        findings.upward.join("\n")
    );
}

#[test]
fn the_folders_use_each_other_without_a_circle() {
    let findings = read_tree();
    assert_eq!(circle(&findings.between), None);
}

#[test]
fn the_files_of_a_folder_use_each_other_without_a_circle() {
    let findings = read_tree();
    let circles: Vec<String> = findings
        .inside
        .iter()
        .filter_map(|(folder, files)| {
            circle(files).map(|c| format!("{folder}/: {}", c.join(" -> ")))
        })
        .collect();
    assert!(
        circles.is_empty(),
        "circles of files:\n{}",
        circles.join("\n")
    );
}

#[test]
fn the_checker_sees_an_upward_import_and_a_circle() {
    // The checks above must be able to fail: the reader finds imports in `use` lists,
    // nested groups and paths in code, and the circle finder finds a circle.
    let text = code("use crate::{engine::Run, job::{AnyJob, Job}};\nfn f() { crate::scheduler::x(); } // crate::report\n");
    let found: Vec<String> = targets(&text, "crate::").into_iter().collect();
    assert_eq!(found, ["engine", "job", "scheduler"]);
    let mut graph = BTreeMap::new();
    graph.insert("a".to_string(), BTreeSet::from(["b".to_string()]));
    graph.insert("b".to_string(), BTreeSet::from(["a".to_string()]));
    assert_eq!(
        circle(&graph),
        Some(vec!["a".into(), "b".into(), "a".into()])
    );
    assert!(!allowed("engine").contains(&"scheduler"));
    assert!(!allowed("batch").contains(&"scheduler"));
}
