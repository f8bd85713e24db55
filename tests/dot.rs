//! Golden tests of the pictures (asynciojobs' `dot_format`, `export_as_pngfile`, `export_as_svgfile`): the DOT text, compared with what
//! asynciojobs 0.21.3 writes for the same graphs, the outcome colours after a run,
//! and PNG/SVG files through Graphviz's `dot` (or the clear error when it is missing).

use std::path::{Path, PathBuf};
use std::time::Duration;

#[cfg(feature = "pictures")]
use jobgraph::Error;
use jobgraph::{Context, Job, PrintJob, Scheduler, Sequence};

mod support;
#[cfg(feature = "pictures")]
use support::child_test_stdout;
use support::text;

/// The reference's `sl` coroutine, without the sleep.
fn sl() -> impl FnOnce(&Context<'_>) + Send + 'static {
    |_| ()
}

/// The graph of asynciojobs-behaviour.md §6c, added in the order asynciojobs
/// happened to number it there.
fn example_c() -> Scheduler {
    let sub = Scheduler::new()
        .label("nested sub")
        .critical(false)
        .window(1);
    let a = Job::new(sl()).label("sub-a");
    let b = Job::new(sl())
        .label("sub-b \"quoted\"")
        .critical(false)
        .requires(&a);
    let c = Job::new(sl()).label("sub-c").requires(&a);
    let d = Job::new(sl()).label("sub-d").requires((&b, &c));
    sub.add((&a, &b, &c, &d));
    let start = Job::new(sl()).label("start");
    let monitor = Job::new(|ctx: &Context<'_>| while ctx.sleep(Duration::from_millis(1)) {})
        .label("monitor")
        .forever(true)
        .critical(false);
    let noncrit = Job::new(sl())
        .label("non critical\ntwo lines")
        .critical(false)
        .requires(&start);
    let nolabel = Job::new(sl()).requires(&start);
    let pj = Job::custom(PrintJob::new(["msg"]).sleep(Duration::from_millis(10))).requires(&start);
    let sub = sub.requires(&start);
    let end = Job::new(sl()).label("end").requires((&sub, &noncrit));
    let main = Scheduler::new().label("main");
    main.add((&start, &noncrit, &sub, &monitor, &nolabel, &pj, &end));
    main
}

/// asynciojobs' DOT text for [`example_c`], as asynciojobs-behaviour.md §6c gives it.
const EXAMPLE_C_BY_ASYNCIOJOBS: &str = r#"digraph asynciojobs{
compound=true;
graph [];
01 [style="rounded",label="01: start",shape="box",color="red",penwidth="2"]
02 [style="rounded",label="02: non critical
two lines",shape="box",penwidth="0.5"]
01 -> 02;
subgraph cluster_03{
compound=true;
graph [style="",label="03: nested sub",shape="box",penwidth="0.5"];
04 [style="rounded",label="04: sub-a",shape="box",color="red",penwidth="2"]
05 [style="rounded",label="05: sub-b \"quoted\"",shape="box",penwidth="0.5"]
04 -> 05;
06 [style="rounded",label="06: sub-c",shape="box",color="red",penwidth="2"]
04 -> 06;
07 [style="rounded",label="07: sub-d",shape="box",color="red",penwidth="2"]
05 -> 07;
06 -> 07;
}
01 -> 04 [lhead=cluster_03];
08 [style="rounded,dashed",label="08: monitor",shape="box",penwidth="0.5"]
09 [style="rounded",label="09: Job[sl (...)]",shape="box",color="red",penwidth="2"]
01 -> 09;
10 [style="rounded",label="10: NOLABEL",shape="box",color="red",penwidth="2"]
01 -> 10;
11 [style="rounded",label="11: end",shape="box",color="red",penwidth="2"]
07 -> 11 [ltail=cluster_03];
02 -> 11;
}
"#;

#[test]
fn dot_of_the_reference_graph_is_asynciojobs_text_with_newlines_escaped() {
    // asynciojobs writes a newline in a label as it is; jobgraph writes `\n`, which
    // Graphviz draws as a line break too, and keeps each node on one line.
    let expected =
        EXAMPLE_C_BY_ASYNCIOJOBS.replace("non critical\ntwo lines", "non critical\\ntwo lines");
    assert_eq!(example_c().dot_format(), expected);
}

/// How the picture of a scheduler that has run ends: the outcome legend, then the
/// graph's closing brace.
const LEGEND: &[&str] = &[
    "subgraph cluster_legend{",
    r#"graph [style="dashed",label="outcome",penwidth="0.5"];"#,
    r#"legend_done [style="rounded,filled",label="done",shape="box",penwidth="0.5",fillcolor="palegreen"]"#,
    r#"legend_failed [style="rounded,filled",label="failed",shape="box",penwidth="0.5",fillcolor="lightcoral"]"#,
    r#"legend_cancelled [style="rounded,filled",label="cancelled or still running",shape="box",penwidth="0.5",fillcolor="khaki"]"#,
    r#"legend_not_run [style="rounded,filled",label="not started",shape="box",penwidth="0.5",fillcolor="lightgrey"]"#,
    r#"legend_done -> legend_failed -> legend_cancelled -> legend_not_run [style="invis"];"#,
    "}",
    "}",
];

#[test]
fn dot_after_a_run_fills_each_job_with_its_outcome_and_adds_a_legend() {
    let s = example_c();
    assert!(s.run().unwrap());
    assert_eq!(
        s.dot_format(),
        text(&[
            "digraph asynciojobs{",
            "compound=true;",
            "graph [];",
            r#"01 [style="rounded,filled",label="01: start",shape="box",color="red",penwidth="2",fillcolor="palegreen"]"#,
            r#"02 [style="rounded,filled",label="02: non critical\ntwo lines",shape="box",penwidth="0.5",fillcolor="palegreen"]"#,
            "01 -> 02;",
            "subgraph cluster_03{",
            "compound=true;",
            r##"graph [style="filled",label="03: nested sub",shape="box",penwidth="0.5",fillcolor="#eafbea"];"##,
            r#"04 [style="rounded,filled",label="04: sub-a",shape="box",color="red",penwidth="2",fillcolor="palegreen"]"#,
            r#"05 [style="rounded,filled",label="05: sub-b \"quoted\"",shape="box",penwidth="0.5",fillcolor="palegreen"]"#,
            "04 -> 05;",
            r#"06 [style="rounded,filled",label="06: sub-c",shape="box",color="red",penwidth="2",fillcolor="palegreen"]"#,
            "04 -> 06;",
            r#"07 [style="rounded,filled",label="07: sub-d",shape="box",color="red",penwidth="2",fillcolor="palegreen"]"#,
            "05 -> 07;",
            "06 -> 07;",
            "}",
            "01 -> 04 [lhead=cluster_03];",
            r#"08 [style="rounded,dashed,filled",label="08: monitor",shape="box",penwidth="0.5",fillcolor="khaki"]"#,
            r#"09 [style="rounded,filled",label="09: Job[sl (...)]",shape="box",color="red",penwidth="2",fillcolor="palegreen"]"#,
            "01 -> 09;",
            r#"10 [style="rounded,filled",label="10: NOLABEL",shape="box",color="red",penwidth="2",fillcolor="palegreen"]"#,
            "01 -> 10;",
            r#"11 [style="rounded,filled",label="11: end",shape="box",color="red",penwidth="2",fillcolor="palegreen"]"#,
            "07 -> 11 [ltail=cluster_03];",
            "02 -> 11;",
        ]) + &text(LEGEND)
    );
}

#[test]
fn dot_after_a_failed_run_tells_done_failed_cancelled_and_not_started_apart() {
    let a = Job::new(sl()).label("a");
    let inner = Scheduler::new().label("inner").critical(false);
    let x = Job::new(|_| Err::<(), _>("x failed")).label("x");
    let y = Job::new(sl()).label("y").requires(&x);
    inner.add((&x, &y));
    let slow =
        Job::new(|ctx: &Context<'_>| while ctx.sleep(Duration::from_millis(1)) {}).label("slow");
    let crit = Job::new({
        let (slow, inner) = (slow.clone(), inner.clone());
        // Fails once `slow` runs and `inner` is over, so that each outcome shows.
        move |ctx: &Context<'_>| {
            while !(slow.is_running() && inner.is_done()) && ctx.sleep(Duration::from_millis(1)) {}
            Err::<(), _>("crit failed")
        }
    })
    .label("crit")
    .requires(&a);
    let after = Job::new(sl()).label("after").requires(&crit);
    let s = Scheduler::new().critical(false);
    s.add((&a, &inner, &slow, Sequence::new((&crit, &after))));
    assert!(!s.run().unwrap());
    // The non-critical `inner` returned false: its cluster is filled as failed.
    assert_eq!(
        s.dot_format(),
        text(&[
            "digraph asynciojobs{",
            "compound=true;",
            "graph [];",
            r#"1 [style="rounded,filled",label="1: a",shape="box",color="red",penwidth="2",fillcolor="palegreen"]"#,
            "subgraph cluster_2{",
            "compound=true;",
            r##"graph [style="filled",label="2: inner",shape="box",penwidth="0.5",fillcolor="#fdeaea"];"##,
            r#"3 [style="rounded,filled",label="3: x",shape="box",color="red",penwidth="2",fillcolor="lightcoral"]"#,
            r#"4 [style="rounded,filled",label="4: y",shape="box",color="red",penwidth="2",fillcolor="lightgrey"]"#,
            "3 -> 4;",
            "}",
            r#"5 [style="rounded,filled",label="5: slow",shape="box",color="red",penwidth="2",fillcolor="khaki"]"#,
            r#"6 [style="rounded,filled",label="6: crit",shape="box",color="red",penwidth="2",fillcolor="lightcoral"]"#,
            "1 -> 6;",
            r#"7 [style="rounded,filled",label="7: after",shape="box",color="red",penwidth="2",fillcolor="lightgrey"]"#,
            "6 -> 7;",
        ]) + &text(LEGEND)
    );
}

#[test]
fn dot_of_seed_example_b() {
    // What asynciojobs writes for the seed's example B.
    let b1 = Job::new(|_| 100.0).label("b1");
    let b2 = Job::new(|_| 200.0).label("b2").requires(&b1);
    let b3 = Job::new(in_out());
    let sb = Scheduler::new();
    sb.add((&b1, &b2, &b3));
    assert_eq!(
        sb.dot_format(),
        text(&[
            "digraph asynciojobs{",
            "compound=true;",
            "graph [];",
            r#"1 [style="rounded",label="1: b1",shape="box",color="red",penwidth="2"]"#,
            r#"2 [style="rounded",label="2: b2",shape="box",color="red",penwidth="2"]"#,
            "1 -> 2;",
            r#"3 [style="rounded",label="3: Job[in_out (...)]",shape="box",color="red",penwidth="2"]"#,
            "}",
        ])
    );
}

/// The seed's `in_out` coroutine, without the sleep.
fn in_out() -> impl FnOnce(&Context<'_>) -> f64 + Send + 'static {
    |_| 250.0
}

#[test]
fn dot_draws_edges_between_clusters_with_lhead_and_ltail() {
    // What asynciojobs writes: a non-critical cluster A, a critical cluster B that
    // requires it, the edge drawn between A's middle exit and B's middle entry.
    let a = Scheduler::new().label("A").critical(false);
    a.add((Job::new(sl()).label("p"), Job::new(sl()).label("q")));
    let r = Job::new(sl()).label("r");
    let t = Job::new(sl()).label("t").requires(&r);
    let b = Scheduler::new().label("B").requires(&a);
    b.add((&r, &t));
    let m = Scheduler::new().label("m");
    m.add((&a, &b));
    assert_eq!(
        m.dot_format(),
        text(&[
            "digraph asynciojobs{",
            "compound=true;",
            "graph [];",
            "subgraph cluster_1{",
            "compound=true;",
            r#"graph [style="",label="1: A",shape="box",penwidth="0.5"];"#,
            r#"2 [style="rounded",label="2: p",shape="box",color="red",penwidth="2"]"#,
            r#"3 [style="rounded",label="3: q",shape="box",color="red",penwidth="2"]"#,
            "}",
            "subgraph cluster_4{",
            "compound=true;",
            r#"graph [style="",label="4: B",shape="box",color="red",penwidth="2"];"#,
            r#"5 [style="rounded",label="5: r",shape="box",color="red",penwidth="2"]"#,
            r#"6 [style="rounded",label="6: t",shape="box",color="red",penwidth="2"]"#,
            "5 -> 6;",
            "}",
            "2 -> 5 [lhead=cluster_4 ltail=cluster_1];",
            "}",
        ])
    );
}

#[test]
fn dot_of_schedulers_nested_two_levels_deep() {
    // What asynciojobs writes for start → level 1 [a → level 2 [x → y] → b] → end.
    let level2 = Scheduler::new().label("level 2").critical(false);
    let x = Job::new(sl()).label("x");
    let y = Job::new(sl()).label("y").requires(&x);
    level2.add((&x, &y));
    let a = Job::new(sl()).label("a");
    let level2 = level2.requires(&a);
    let b = Job::new(sl()).label("b").requires(&level2);
    let level1 = Scheduler::new().label("level 1");
    level1.add((&a, &level2, &b));
    let start = Job::new(sl()).label("start");
    let level1 = level1.requires(&start);
    let end = Job::new(sl()).label("end").requires(&level1);
    let main = Scheduler::new().label("main");
    main.add((&start, &level1, &end));
    assert_eq!(
        main.dot_format(),
        text(&[
            "digraph asynciojobs{",
            "compound=true;",
            "graph [];",
            r#"1 [style="rounded",label="1: start",shape="box",color="red",penwidth="2"]"#,
            "subgraph cluster_2{",
            "compound=true;",
            r#"graph [style="",label="2: level 1",shape="box",color="red",penwidth="2"];"#,
            r#"3 [style="rounded",label="3: a",shape="box",color="red",penwidth="2"]"#,
            "subgraph cluster_4{",
            "compound=true;",
            r#"graph [style="",label="4: level 2",shape="box",penwidth="0.5"];"#,
            r#"5 [style="rounded",label="5: x",shape="box",color="red",penwidth="2"]"#,
            r#"6 [style="rounded",label="6: y",shape="box",color="red",penwidth="2"]"#,
            "5 -> 6;",
            "}",
            "3 -> 5 [lhead=cluster_4];",
            r#"7 [style="rounded",label="7: b",shape="box",color="red",penwidth="2"]"#,
            "6 -> 7 [ltail=cluster_4];",
            "}",
            "1 -> 3 [lhead=cluster_2];",
            r#"8 [style="rounded",label="8: end",shape="box",color="red",penwidth="2"]"#,
            "7 -> 8 [ltail=cluster_2];",
            "}",
        ])
    );
}

#[test]
fn dot_styles_forever_and_critical_jobs_and_schedulers() {
    let job = Job::new(sl()).label("job").critical(false);
    let critical = Job::new(sl()).label("critical");
    let forever = Job::new(sl())
        .label("forever")
        .forever(true)
        .critical(false);
    let both = Job::new(sl()).label("both").forever(true);
    let nested = Scheduler::new().label("nested forever").forever(true);
    nested.add(Job::new(sl()).label("inside").critical(false));
    let s = Scheduler::new();
    s.add((&job, &critical, &forever, &both, &nested));
    assert_eq!(
        s.dot_format(),
        text(&[
            "digraph asynciojobs{",
            "compound=true;",
            "graph [];",
            r#"1 [style="rounded",label="1: job",shape="box",penwidth="0.5"]"#,
            r#"2 [style="rounded",label="2: critical",shape="box",color="red",penwidth="2"]"#,
            r#"3 [style="rounded,dashed",label="3: forever",shape="box",penwidth="0.5"]"#,
            r#"4 [style="rounded,dashed",label="4: both",shape="box",color="red",penwidth="2"]"#,
            "subgraph cluster_5{",
            "compound=true;",
            r#"graph [style="dashed",label="5: nested forever",shape="box",color="red",penwidth="2"];"#,
            r#"6 [style="rounded",label="6: inside",shape="box",penwidth="0.5"]"#,
            "}",
            "}",
        ])
    );
}

#[test]
fn quotes_backslashes_and_newlines_are_escaped_in_labels() {
    let s = Scheduler::new();
    s.add(Job::new(sl()).label("say \"hi\"\nC:\\temp"));
    assert_eq!(
        s.dot_format(),
        text(&[
            "digraph asynciojobs{",
            "compound=true;",
            "graph [];",
            r#"1 [style="rounded",label="1: say \"hi\"\nC:\\temp",shape="box",color="red",penwidth="2"]"#,
            "}",
        ])
    );
}

/// A fresh directory for this test's files, under the target directory.
fn out_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn export_as_dotfile_writes_the_dot_text() {
    let dir = out_dir("dotfile");
    let s = example_c();
    let path = s.export_as_dotfile(dir.join("c.dot")).unwrap();
    assert_eq!(path, dir.join("c.dot"));
    assert_eq!(std::fs::read_to_string(&path).unwrap(), s.dot_format());
}

#[cfg(feature = "pictures")]
#[test]
fn png_and_svg_are_drawn_by_graphviz_when_it_is_installed() {
    let dir = out_dir("pictures");
    let s = example_c();
    assert!(s.run().unwrap());
    if jobgraph::find_dot().is_none() {
        jobgraph_test_support::skipped(
            "pictures: Graphviz's `dot` is not on the PATH, so no picture is drawn \
             (apt-get install graphviz); checking the error instead",
        );
        let error = s.export_as_pngfile(dir.join("c")).unwrap_err();
        assert!(matches!(error, Error::GraphvizMissing { .. }), "{error}");
        assert!(error.to_string().contains("install Graphviz"), "{error}");
        return;
    }
    let png = s.export_as_pngfile(dir.join("c")).unwrap();
    assert_eq!(png, dir.join("c.png"));
    let bytes = std::fs::read(&png).unwrap();
    assert!(bytes.len() > 8, "{} bytes", bytes.len());
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    assert_eq!(
        std::fs::read_to_string(dir.join("c.dot")).unwrap(),
        s.dot_format()
    );

    let svg = s.export_as_svgfile(dir.join("c.svg")).unwrap();
    assert_eq!(svg, dir.join("c.svg"));
    let svg = std::fs::read_to_string(&svg).unwrap();
    assert!(
        svg.starts_with("<?xml") || svg.starts_with("<svg"),
        "{}",
        &svg[..svg.len().min(200)]
    );
    // Graphviz read the labels as meant: escaped quotes and newlines, and the legend.
    assert!(svg.contains("sub&#45;b &quot;quoted&quot;"), "{svg}");
    assert!(svg.contains(">02: non critical</text>"), "{svg}");
    assert!(svg.contains(">two lines</text>"), "{svg}");
    assert!(svg.contains(">cancelled or still running</text>"), "{svg}");

    // A backslash stays a backslash: `\n` in a label is not a line break.
    let s = Scheduler::new();
    s.add(Job::new(sl()).label("C:\\new\nline"));
    let svg = std::fs::read_to_string(s.export_as_svgfile(dir.join("backslash")).unwrap()).unwrap();
    assert!(svg.contains(">1: C:\\new</text>"), "{svg}");
    assert!(svg.contains(">line</text>"), "{svg}");
}

/// Set for the child process that exports a picture with no `dot` on its PATH.
#[cfg(feature = "pictures")]
const NO_DOT_CHILD: &str = "JOBGRAPH_TESTS_NO_DOT_DIR";

#[cfg(feature = "pictures")]
#[test]
#[ignore = "a child process of a_missing_graphviz_is_a_clear_error runs it"]
fn export_with_no_dot_on_the_path() {
    let dir = PathBuf::from(
        std::env::var_os(NO_DOT_CHILD).expect("run by a_missing_graphviz_is_a_clear_error"),
    );
    assert_eq!(jobgraph::find_dot(), None);
    let s = Scheduler::new();
    s.add(Job::new(sl()).label("a"));
    for error in [
        s.export_as_pngfile(dir.join("g")).unwrap_err(),
        s.export_as_svgfile(dir.join("g")).unwrap_err(),
    ] {
        assert!(matches!(error, Error::GraphvizMissing { .. }), "{error}");
        println!("ERROR: {error}");
    }
    assert!(dir.join("g.dot").exists());
    assert!(!dir.join("g.png").exists());
    assert!(!dir.join("g.svg").exists());
}

#[cfg(feature = "pictures")]
#[test]
fn a_missing_graphviz_is_a_clear_error() {
    // The child's PATH is an empty directory: no `dot` there, whatever is installed.
    let dir = out_dir("no-dot");
    let empty = dir.join("empty-path");
    std::fs::create_dir_all(&empty).unwrap();
    let stdout = child_test_stdout("export_with_no_dot_on_the_path", |child| {
        child.env("PATH", &empty).env(NO_DOT_CHILD, &dir);
    });
    let errors: Vec<&str> = stdout
        .lines()
        .filter_map(|line| line.strip_prefix("ERROR: "))
        .collect();
    let said = |picture: &str| {
        format!(
            "cannot make `{}`: Graphviz's `dot` program is not on the PATH; install \
             Graphviz (`apt-get install graphviz`, `brew install graphviz`, or see \
             https://graphviz.org/download/), or write the DOT text with \
             export_as_dotfile() and convert it elsewhere",
            dir.join(picture).display()
        )
    };
    assert_eq!(errors, [said("g.png"), said("g.svg")]);
}
