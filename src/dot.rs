//! Pictures (F24, F25): the graph as DOT text, written without any external tool, in
//! asynciojobs' style; PNG and SVG files through graphviz-rust, which runs Graphviz's
//! `dot`.
//!
//! Before a run the DOT text is asynciojobs' own: boxes, `rounded` jobs, `dashed`
//! forever jobs, critical jobs thick and red, nested schedulers as `cluster_NN`
//! subgraphs. After a run each job is also filled with the colour of its outcome, and
//! a legend says which colour is which.

use std::ffi::OsStr;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use graphviz_rust::cmd::{CommandArg, Format};

use crate::error::Error;
use crate::handle::{AnyJob, JobState};
use crate::report::{Level, Numbering};
use crate::scheduler::Scheduler;

/// Where Graphviz's `dot` program is, looked up on the `PATH`; `None` when it is not
/// installed. PNG and SVG export need it; DOT text does not.
pub fn find_dot() -> Option<PathBuf> {
    find_dot_in(std::env::var_os("PATH").as_deref())
}

/// `dot` looked up in this search path (the format of `PATH`).
pub(crate) fn find_dot_in(search: Option<&OsStr>) -> Option<PathBuf> {
    let name = if cfg!(windows) { "dot.exe" } else { "dot" };
    std::env::split_paths(search?)
        .filter(|dir| !dir.as_os_str().is_empty())
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate))
}

#[cfg(unix)]
fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

#[cfg(not(unix))]
fn is_executable(path: &Path) -> bool {
    path.is_file()
}

/// Where a picture of type `suffix` asked for at `path` goes, and its DOT text: `path`
/// with `.suffix` and `.dot` added, or put in place of a `.suffix` or `.dot` extension.
fn picture_paths(path: &Path, suffix: &str) -> (PathBuf, PathBuf) {
    let known = path
        .extension()
        .is_some_and(|extension| extension == suffix || extension == "dot");
    let stem = if known {
        path.with_extension("")
    } else {
        path.to_path_buf()
    };
    let with = |extension: &str| {
        let mut name = stem.clone().into_os_string();
        name.push(".");
        name.push(extension);
        PathBuf::from(name)
    };
    (with(suffix), with("dot"))
}

/// A job's outcome, as the picture colours it after a run.
#[derive(Clone, Copy)]
enum Outcome {
    Done,
    Failed,
    Cancelled,
    NotRun,
}

impl Outcome {
    fn of(job: &AnyJob) -> Outcome {
        if job.node().error().is_some() {
            return Outcome::Failed;
        }
        // A nested scheduler that ran to its end and failed (non-critical, it returns
        // false rather than an error).
        if job
            .as_scheduler()
            .is_some_and(|s| matches!(s.result(), Ok(false)))
        {
            return Outcome::Failed;
        }
        match job.state() {
            JobState::Done => Outcome::Done,
            JobState::Running | JobState::Cancelled => Outcome::Cancelled,
            JobState::Idle | JobState::Scheduled => Outcome::NotRun,
        }
    }

    /// The fill of a job's box.
    fn colour(self) -> &'static str {
        match self {
            Outcome::Done => "palegreen",
            Outcome::Failed => "lightcoral",
            Outcome::Cancelled => "khaki",
            Outcome::NotRun => "lightgrey",
        }
    }

    /// The lighter fill of a nested scheduler's cluster.
    fn light(self) -> &'static str {
        match self {
            Outcome::Done => "#eafbea",
            Outcome::Failed => "#fdeaea",
            Outcome::Cancelled => "#fbf6dc",
            Outcome::NotRun => "#f3f3f3",
        }
    }

    const LEGEND: [(Outcome, &'static str, &'static str); 4] = [
        (Outcome::Done, "legend_done", "done"),
        (Outcome::Failed, "legend_failed", "failed"),
        (
            Outcome::Cancelled,
            "legend_cancelled",
            "cancelled or still running",
        ),
        (Outcome::NotRun, "legend_not_run", "not started"),
    ];
}

/// A DOT string literal: quotes, backslashes and newlines escaped.
fn quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => {}
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `k="v",k2="v2"`: asynciojobs' `DotStyle`.
fn attrs(pairs: &[(&str, String)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={}", quote(v)))
        .collect::<Vec<_>>()
        .join(",")
}

/// asynciojobs' `dot_style()`, plus the outcome's fill after a run.
fn style(job: &AnyJob, id: &str, cluster: bool, outcome: Option<Outcome>) -> String {
    let mut styles = Vec::new();
    if !cluster {
        styles.push("rounded");
    }
    if job.is_forever() {
        styles.push("dashed");
    }
    if outcome.is_some() {
        styles.push("filled");
    }
    let mut pairs = vec![
        ("style", styles.join(",")),
        ("label", format!("{id}: {}", job.text_label())),
        ("shape", "box".to_string()),
    ];
    if job.is_critical() {
        pairs.push(("color", "red".to_string()));
        pairs.push(("penwidth", "2".to_string()));
    } else {
        pairs.push(("penwidth", "0.5".to_string()));
    }
    if let Some(outcome) = outcome {
        let fill = if cluster {
            outcome.light()
        } else {
            outcome.colour()
        };
        pairs.push(("fillcolor", fill.to_string()));
    }
    attrs(&pairs)
}

struct Dot<'a> {
    numbering: &'a Numbering,
    /// Colour outcomes: the scheduler has run.
    outcomes: bool,
    out: String,
}

impl Dot<'_> {
    fn id(&self, job: &AnyJob) -> &str {
        self.numbering.id(job)
    }

    /// The job an edge into the cluster of `level` (numbered `own`) points at: its
    /// middle entry job, looking into nested clusters; the cluster's placeholder when
    /// it has none.
    fn entry_node(&self, level: &Level, own: &str) -> String {
        let entries = level.entries();
        let Some(&i) = entries.get(entries.len().saturating_sub(1) / 2) else {
            return own.to_string();
        };
        self.node_of(level, i, true)
    }

    /// The job an edge out of the cluster of `level` starts from: its middle exit job
    /// (a forever one only when there is no other), looking into nested clusters.
    fn exit_node(&self, level: &Level, own: &str) -> String {
        let mut exits = level.exits(true);
        if exits.is_empty() {
            exits = level.exits(false);
        }
        let Some(&i) = exits.get(exits.len().saturating_sub(1) / 2) else {
            return own.to_string();
        };
        self.node_of(level, i, false)
    }

    fn node_of(&self, level: &Level, i: usize, entry: bool) -> String {
        let job = &level.dense.jobs[i];
        let id = self.id(job).to_string();
        match level.nested.get(&i) {
            Some(nested) if entry => self.entry_node(nested, &id),
            Some(nested) => self.exit_node(nested, &id),
            None => id,
        }
    }

    /// `{ compound=true; graph [...]; nodes and edges }`, asynciojobs' `_dot_body`.
    fn body(&mut self, level: &Level, graph: &str, own: Option<&str>) {
        self.out.push_str("{\ncompound=true;\n");
        let _ = writeln!(self.out, "graph [{graph}];");
        if let Some(own) = own {
            // An empty cluster (or one whose jobs form a cycle) still needs a node for
            // the edges that go in or out of it.
            if level.entries().is_empty() || level.exits(false).is_empty() {
                let _ = writeln!(self.out, "{own} [shape=\"point\",style=\"invis\"]");
            }
        }
        for &i in &level.order {
            let job = &level.dense.jobs[i];
            let id = self.id(job).to_string();
            let outcome = self.outcomes.then(|| Outcome::of(job));
            let nested = level.nested.get(&i);
            let head = match nested {
                Some(nested) => {
                    let cluster_style = style(job, &id, true, outcome);
                    let _ = write!(self.out, "subgraph cluster_{id}");
                    self.body(nested, &cluster_style, Some(&id));
                    Some(self.entry_node(nested, &id))
                }
                None => {
                    let _ = writeln!(self.out, "{id} [{}]", style(job, &id, false, outcome));
                    None
                }
            };
            for required in job.requirements() {
                let Some(r) = level.dense.index_of(&required) else {
                    continue; // outside the scheduler: no node to draw from
                };
                let rid = self.id(&required).to_string();
                let (from, ltail) = match level.nested.get(&r) {
                    Some(source) => (self.exit_node(source, &rid), Some(rid.as_str())),
                    None => (rid.clone(), None),
                };
                let to = head.clone().unwrap_or_else(|| id.clone());
                let _ = match (&head, ltail) {
                    (None, None) => writeln!(self.out, "{from} -> {to};"),
                    (None, Some(tail)) => {
                        writeln!(self.out, "{from} -> {to} [ltail=cluster_{tail}];")
                    }
                    (Some(_), None) => writeln!(self.out, "{from} -> {to} [lhead=cluster_{id}];"),
                    (Some(_), Some(tail)) => writeln!(
                        self.out,
                        "{from} -> {to} [lhead=cluster_{id} ltail=cluster_{tail}];"
                    ),
                };
            }
        }
        if own.is_none() && self.outcomes {
            self.legend();
        }
        self.out.push_str("}\n");
    }

    fn legend(&mut self) {
        self.out.push_str("subgraph cluster_legend{\n");
        let _ = writeln!(
            self.out,
            "graph [{}];",
            attrs(&[
                ("style", "dashed".to_string()),
                ("label", "outcome".to_string()),
                ("penwidth", "0.5".to_string()),
            ])
        );
        for (outcome, name, label) in Outcome::LEGEND {
            let _ = writeln!(
                self.out,
                "{name} [{}]",
                attrs(&[
                    ("style", "rounded,filled".to_string()),
                    ("label", label.to_string()),
                    ("shape", "box".to_string()),
                    ("penwidth", "0.5".to_string()),
                    ("fillcolor", outcome.colour().to_string()),
                ])
            );
        }
        let names: Vec<&str> = Outcome::LEGEND.iter().map(|(_, name, _)| *name).collect();
        let _ = writeln!(self.out, "{} [style=\"invis\"];", names.join(" -> "));
        self.out.push_str("}\n");
    }
}

impl Scheduler {
    /// The graph in DOT, asynciojobs' `dot_format()`: one box per job, labelled
    /// `NN: label` with the [`list`](Scheduler::list) numbering; rounded, dashed when
    /// forever, thick and red when critical; nested schedulers as `cluster_NN`
    /// subgraphs, edges into and out of them drawn to their border (`lhead`, `ltail`).
    /// Once the scheduler has run, each box is filled with its job's outcome (done,
    /// failed, cancelled or still running, not run) and a legend is added.
    pub fn dot_format(&self) -> String {
        let numbering = Numbering::of(self);
        let mut dot = Dot {
            numbering: &numbering,
            outcomes: self.inner.report.lock().ran,
            out: String::from("digraph asynciojobs"),
        };
        dot.body(&numbering.root, "", None);
        dot.out
    }

    /// Writes [`dot_format`](Scheduler::dot_format) to `path`; needs no external tool.
    /// Returns the path written.
    pub fn export_as_dotfile(&self, path: impl AsRef<Path>) -> Result<PathBuf, Error> {
        let path = path.as_ref().to_path_buf();
        std::fs::write(&path, self.dot_format()).map_err(|source| Error::Write {
            path: path.display().to_string(),
            source: Arc::new(source),
        })?;
        Ok(path)
    }

    /// Draws the graph as a PNG with Graphviz's `dot`: writes the DOT text to
    /// `path.dot`, then the picture to `path.png`, and returns the picture's path.
    /// `target/graph`, `target/graph.png` and `target/graph.dot` all give
    /// `target/graph.dot` and `target/graph.png`; any other extension is kept
    /// (`v1.2` gives `v1.2.png`).
    ///
    /// [`Error::GraphvizMissing`], saying how to install it, when `dot` is not on the
    /// `PATH` (the `.dot` file is written all the same).
    ///
    /// ```no_run
    /// use jobgraph::{Job, Scheduler};
    /// let s = Scheduler::new();
    /// s.add(Job::new(|_| 1).label("one"));
    /// match s.export_as_pngfile("target/one") {
    ///     Ok(png) => println!("wrote {}", png.display()),
    ///     Err(error) => eprintln!("{error}"), // no Graphviz: says how to install it
    /// }
    /// ```
    pub fn export_as_pngfile(&self, path: impl AsRef<Path>) -> Result<PathBuf, Error> {
        self.export_as_graphic(path.as_ref(), "png", Format::Png, find_dot())
    }

    /// The same as [`export_as_pngfile`](Scheduler::export_as_pngfile), as an SVG.
    pub fn export_as_svgfile(&self, path: impl AsRef<Path>) -> Result<PathBuf, Error> {
        self.export_as_graphic(path.as_ref(), "svg", Format::Svg, find_dot())
    }

    pub(crate) fn export_as_graphic(
        &self,
        path: &Path,
        suffix: &str,
        format: Format,
        dot: Option<PathBuf>,
    ) -> Result<PathBuf, Error> {
        let (picture, dotfile) = picture_paths(path, suffix);
        let text = self.dot_format();
        std::fs::write(&dotfile, &text).map_err(|source| Error::Write {
            path: dotfile.display().to_string(),
            source: Arc::new(source),
        })?;
        let missing = || Error::GraphvizMissing {
            path: picture.display().to_string(),
        };
        // graphviz-rust runs `dot` from the PATH: make sure it is there first, so a
        // missing Graphviz is said plainly.
        dot.ok_or_else(missing)?;
        let args = vec![
            CommandArg::Format(format),
            CommandArg::Output(picture.display().to_string()),
        ];
        graphviz_rust::exec_dot(text, args).map_err(|error| {
            if error.kind() == std::io::ErrorKind::NotFound {
                missing()
            } else {
                Error::Graphviz {
                    path: picture.display().to_string(),
                    message: error.to_string().trim().to_string(),
                }
            }
        })?;
        match std::fs::metadata(&picture) {
            Ok(meta) if meta.len() > 0 => Ok(picture),
            _ => Err(Error::Graphviz {
                path: picture.display().to_string(),
                message: "no picture was written".to_string(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Job;

    #[test]
    fn dot_is_not_found_in_an_empty_search_path() {
        assert_eq!(find_dot_in(Some(OsStr::new(""))), None);
        assert_eq!(find_dot_in(None), None);
        let empty = std::env::temp_dir().join(format!("jobgraph-no-dot-{}", std::process::id()));
        std::fs::create_dir_all(&empty).unwrap();
        assert_eq!(find_dot_in(Some(empty.as_os_str())), None);
    }

    #[test]
    fn a_missing_dot_is_a_clear_error_and_the_dot_file_is_still_written() {
        let s = Scheduler::new();
        s.add(Job::new(|_| 1).label("a"));
        let dir = std::env::temp_dir().join(format!("jobgraph-missing-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let error = s
            .export_as_graphic(&dir.join("g"), "png", Format::Png, None)
            .unwrap_err();
        assert!(matches!(error, Error::GraphvizMissing { .. }), "{error}");
        let message = error.to_string();
        assert!(message.contains("apt-get install graphviz"), "{message}");
        assert!(message.contains("brew install graphviz"), "{message}");
        assert!(dir.join("g.dot").exists());
        assert!(!dir.join("g.png").exists());
    }

    #[test]
    fn pictures_are_named_after_the_path_given() {
        let named = |path: &str, suffix: &str| {
            let (picture, dotfile) = picture_paths(Path::new(path), suffix);
            (picture.display().to_string(), dotfile.display().to_string())
        };
        let pair = |a: &str, b: &str| (a.to_string(), b.to_string());
        let png = pair("target/graph.png", "target/graph.dot");
        assert_eq!(named("target/graph", "png"), png);
        assert_eq!(named("target/graph.png", "png"), png);
        assert_eq!(named("target/graph.dot", "png"), png);
        assert_eq!(
            named("target/graph.png", "svg"),
            pair("target/graph.png.svg", "target/graph.png.dot")
        );
        assert_eq!(named("v1.2", "svg"), pair("v1.2.svg", "v1.2.dot"));
    }

    #[test]
    fn quotes_backslashes_and_newlines_are_escaped() {
        assert_eq!(quote("a \"b\"\nc\\d"), "\"a \\\"b\\\"\\nc\\\\d\"");
    }
}
