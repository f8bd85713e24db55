//! Pictures (asynciojobs' `dot_format`): the graph as DOT text, written without any external tool, in
//! asynciojobs' style.
//!
//! Before a run the DOT text is asynciojobs' own: boxes, `rounded` jobs, `dashed`
//! forever jobs, critical jobs thick and red, nested schedulers as `cluster_NN`
//! subgraphs. After a run each job is also filled with the colour of its outcome, and
//! a legend says which colour is which.
//!
//! Why the text is written here rather than through graphviz-rust's printer: the text
//! is asynciojobs' `dot_format()` layout, line for line (its attribute order and
//! quoting, `lhead`/`ltail` edges to cluster borders), which the tests compare against,
//! and graphviz-rust's printer lays statements and attributes out its own way; it is
//! written in one pass into one `String`, where graphviz-rust would first build a tree
//! of a few `String`s per job, attribute and edge; and it needs no dependency (the
//! pictures run `dot` directly, see `picture.rs`), so the default build stays lean.

use std::collections::HashSet;
use std::fmt::Write as _;

use super::listing::{Level, Numbering};
use super::timeline::Timeline;
use crate::job::{AnyJob, Group, JobState};

/// A job's outcome, as the picture colours it after a run.
#[derive(Clone, Copy)]
enum Outcome {
    Done,
    Failed,
    TimedOut,
    Cancelled,
    NotRun,
}

impl Outcome {
    fn of(job: &AnyJob) -> Outcome {
        if job.is_timed_out() {
            return Outcome::TimedOut;
        }
        if job.node().error().is_some() {
            return Outcome::Failed;
        }
        // A nested scheduler that ran to its end and failed (non-critical, it returns
        // false rather than an error).
        let returned_false =
            || job.node().value().and_then(|v| v.downcast_ref::<bool>()) == Some(&false);
        if job.node().group().is_some() && returned_false() {
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
            Outcome::TimedOut => "orange",
            Outcome::Cancelled => "khaki",
            Outcome::NotRun => "lightgrey",
        }
    }

    /// The lighter fill of a nested scheduler's cluster.
    fn light(self) -> &'static str {
        match self {
            Outcome::Done => "#eafbea",
            Outcome::Failed => "#fdeaea",
            Outcome::TimedOut => "#fff0d6",
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

    /// The legend's entry for jobs that timed out, shown when one did.
    const TIMED_OUT: (Outcome, &'static str, &'static str) =
        (Outcome::TimedOut, "legend_timed_out", "timed out");
}

/// A DOT string literal: quotes, backslashes and newlines escaped, carriage returns
/// dropped, and NUL, which Graphviz cannot read in a string (it ends its C string, and
/// `dot` fails with a syntax error), shown as `␀` (U+2400).
fn quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => {}
            '\0' => out.push('\u{2400}'),
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

/// asynciojobs' `dot_style()`, plus the outcome's fill after a run, and thick lines
/// when the job is on the run's critical path (`bold`).
fn style(job: &AnyJob, id: &str, cluster: bool, outcome: Option<Outcome>, bold: bool) -> String {
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
    if bold {
        styles.push("bold");
    }
    let mut pairs = vec![
        ("style", styles.join(",")),
        (
            "label",
            job.graph_label()
                .unwrap_or_else(|| format!("{id}: {}", job.text_label())),
        ),
        ("shape", "box".to_string()),
    ];
    let width = match (bold, job.is_critical()) {
        (true, _) => PATH_WIDTH,
        (false, true) => "2",
        (false, false) => "0.5",
    };
    if job.is_critical() {
        pairs.push(("color", "red".to_string()));
    }
    pairs.push(("penwidth", width.to_string()));
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

/// The line width of the critical path's jobs and edges.
const PATH_WIDTH: &str = "4";

struct Dot<'a> {
    numbering: &'a Numbering,
    /// The jobs of the run's critical path, and its edges (required, job).
    path_jobs: HashSet<AnyJob>,
    path_edges: HashSet<(AnyJob, AnyJob)>,
    /// Colour outcomes: the scheduler has run.
    outcomes: bool,
    /// A job timed out: the legend says which colour that is.
    timed_out: bool,
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
            self.timed_out |= matches!(outcome, Some(Outcome::TimedOut));
            let nested = level.nested.get(&i);
            let bold = self.path_jobs.contains(job);
            let head = match nested {
                Some(nested) => {
                    let cluster_style = style(job, &id, true, outcome, bold);
                    let _ = write!(self.out, "subgraph cluster_{id}");
                    self.body(nested, &cluster_style, Some(&id));
                    Some(self.entry_node(nested, &id))
                }
                None => {
                    let _ = writeln!(self.out, "{id} [{}]", style(job, &id, false, outcome, bold));
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
                let mut edge = Vec::new();
                if head.is_some() {
                    edge.push(format!("lhead=cluster_{id}"));
                }
                if let Some(tail) = ltail {
                    edge.push(format!("ltail=cluster_{tail}"));
                }
                if self.path_edges.contains(&(required.clone(), job.clone())) {
                    edge.push(format!("style=bold penwidth={PATH_WIDTH}"));
                }
                let _ = match edge.is_empty() {
                    true => writeln!(self.out, "{from} -> {to};"),
                    false => writeln!(self.out, "{from} -> {to} [{}];", edge.join(" ")),
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
        let mut legend = Outcome::LEGEND.to_vec();
        if self.timed_out {
            legend.insert(2, Outcome::TIMED_OUT);
        }
        for &(outcome, name, label) in &legend {
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
        let names: Vec<&str> = legend.iter().map(|(_, name, _)| *name).collect();
        let _ = writeln!(self.out, "{} [style=\"invis\"];", names.join(" -> "));
        self.out.push_str("}\n");
    }
}

/// The DOT text of `group`'s graph (see `Scheduler::dot_format`): with each job's
/// outcome once the group has run, and its critical path bold when its `timeline` was
/// recorded.
pub(crate) fn dot_text(group: &dyn Group, timeline: Option<&Timeline>) -> String {
    let numbering = Numbering::of(group);
    let (path_jobs, path_edges) = timeline.map(Timeline::highlighted).unwrap_or_default();
    let mut dot = Dot {
        numbering: &numbering,
        path_jobs,
        path_edges,
        outcomes: group.ran(),
        timed_out: false,
        out: String::from("digraph asynciojobs"),
    };
    dot.body(&numbering.root, "", None);
    dot.out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_backslashes_and_newlines_are_escaped() {
        assert_eq!(quote("a \"b\"\nc\\d"), "\"a \\\"b\\\"\\nc\\\\d\"");
    }

    #[test]
    fn a_nul_is_shown_as_its_symbol() {
        assert_eq!(quote("a\0b\0"), "\"a\u{2400}b\u{2400}\"");
    }
}
