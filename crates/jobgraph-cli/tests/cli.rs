//! The `jobgraph` binary, run for real: exit codes, output, check, graph, logs,
//! journal and resume, and errors that name file, line and column.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{jobgraph, scenario, Run};

fn assert_code(run: &Run, code: i32) {
    assert_eq!(run.code, Some(code), "{run}");
}

#[test]
fn a_run_that_succeeds_exits_0_with_prefixed_lines_and_a_summary() {
    let dir = tempfile::tempdir().unwrap();
    let file = scenario(
        dir.path(),
        r#"
window = 2
[[job]]
id = "a"
label = "first one"
shell = "echo hello; echo to-stderr >&2"
[[job]]
id = "b"
command = ["echo", "it's", "$HOME"]
requires = ["a"]
"#,
    );
    let run = jobgraph(&["run", file.to_str().unwrap()], dir.path());
    assert_code(&run, 0);
    assert!(run.stdout.contains("[first one] hello\n"), "{run}");
    assert!(run.stderr.contains("[first one] to-stderr\n"), "{run}");
    // argv, no shell: `$HOME` is a word like any other.
    assert!(run.stdout.contains("[b] it's $HOME\n"), "{run}");
    assert!(run.stdout.contains("2 ok, 0 failed, 0 not run"), "{run}");
    // A pipe: no colour, no progress bar.
    assert!(
        !run.stdout.contains('\x1b') && !run.stderr.contains('\x1b'),
        "{run}"
    );
}

#[test]
fn a_failed_job_exits_1_with_the_debrief_naming_command_and_status() {
    let dir = tempfile::tempdir().unwrap();
    let file = scenario(
        dir.path(),
        r#"
[[job]]
id = "ok"
command = ["true"]
[[job]]
id = "broken"
shell = "echo 'the disk is full' >&2; exit 4"
requires = ["ok"]
[[job]]
id = "after"
command = ["true"]
requires = ["broken"]
[[job]]
id = "after2"
command = ["true"]
requires = ["after"]
"#,
    );
    let run = jobgraph(&["run", file.to_str().unwrap()], dir.path());
    assert_code(&run, 1);
    assert!(run.stdout.contains("exit 4"), "{run}");
    assert!(run.stdout.contains("exit status: 4"), "{run}");
    assert!(run.stdout.contains("the disk is full"), "{run}");
    assert!(run.stdout.contains("1 ok, 1 failed, 2 not run"), "{run}");
}

#[test]
fn timeouts_exit_1_job_timeout_and_run_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let file = scenario(
        dir.path(),
        r#"
[[job]]
id = "slow"
command = ["sleep", "30"]
timeout = "300ms"
"#,
    );
    let started = Instant::now();
    let run = jobgraph(&["run", file.to_str().unwrap()], dir.path());
    assert_code(&run, 1);
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(run.stdout.contains("timed out after 300ms"), "{run}");
    assert!(run.stdout.contains("0 ok, 1 failed, 0 not run"), "{run}");

    let file = scenario(
        dir.path(),
        r#"
[[job]]
id = "slow"
command = ["sleep", "30"]
[[job]]
id = "later"
command = ["true"]
requires = ["slow"]
"#,
    );
    let started = Instant::now();
    let run = jobgraph(
        &["run", "--timeout", "300ms", file.to_str().unwrap()],
        dir.path(),
    );
    assert_code(&run, 1);
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(run.stdout.contains("TIMED OUT"), "{run}");
    assert!(
        run.stdout
            .contains("0 ok, 0 failed, 1 not run, 1 cancelled"),
        "{run}"
    );
}

#[test]
fn an_unknown_key_is_an_error_with_file_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let file = scenario(dir.path(), "[[job]]\nid = \"a\"\n  comand = [\"true\"]\n");
    let run = jobgraph(&["run", file.to_str().unwrap()], dir.path());
    assert_code(&run, 2);
    let at = format!("{}:3:3:", file.display());
    assert!(run.stderr.contains(&at), "{run}");
    assert!(run.stderr.contains("unknown field `comand`"), "{run}");
    assert!(run.stdout.is_empty(), "{run}");

    // The same at the top level, and in a group.
    let file = scenario(dir.path(), "windw = 3\n");
    let run = jobgraph(&["check", file.to_str().unwrap()], dir.path());
    assert_code(&run, 2);
    assert!(
        run.stderr.contains(":1:1:") && run.stderr.contains("unknown field `windw`"),
        "{run}"
    );
    let file = scenario(
        dir.path(),
        "[[group]]\nid = \"g\"\n[[group.job]]\nid = \"x\"\ncommand = [\"true\"]\nhost = 3\n",
    );
    let run = jobgraph(&["check", file.to_str().unwrap()], dir.path());
    assert_code(&run, 2);
    assert!(run.stderr.contains(":6:8:"), "{run}");
}

#[test]
fn a_missing_reference_and_a_cycle_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let file = scenario(
        dir.path(),
        "[[job]]\nid = \"build\"\ncommand = [\"true\"]\n[[job]]\nid = \"test\"\ncommand = [\"true\"]\nrequires = [\"biuld\"]\n",
    );
    let run = jobgraph(&["check", file.to_str().unwrap()], dir.path());
    assert_code(&run, 2);
    assert!(run.stderr.contains(":7:13:"), "{run}");
    assert!(
        run.stderr
            .contains("`test` requires `biuld`, which is not defined (did you mean `build`?)"),
        "{run}"
    );

    let file = scenario(
        dir.path(),
        r#"
[[job]]
id = "a"
command = ["true"]
requires = ["c"]
[[job]]
id = "b"
command = ["true"]
requires = ["a"]
[[job]]
id = "c"
command = ["true"]
[[sequence]]
jobs = ["b", "c"]
"#,
    );
    let run = jobgraph(&["run", file.to_str().unwrap()], dir.path());
    assert_code(&run, 2);
    assert!(
        run.stderr.contains("cycle: `a` -> `c` -> `b` -> `a`"),
        "{run}"
    );
    assert!(run.stderr.contains(":3:6:"), "{run}");

    // A requirement across groups is refused, saying where the job is.
    let file = scenario(
        dir.path(),
        "[[job]]\nid = \"top\"\ncommand = [\"true\"]\n[[group]]\nid = \"g\"\n[[group.job]]\nid = \"inner\"\ncommand = [\"true\"]\nrequires = [\"top\"]\n",
    );
    let run = jobgraph(&["check", file.to_str().unwrap()], dir.path());
    assert_code(&run, 2);
    assert!(
        run.stderr
            .contains("`inner` requires `top`, which is in the top level, not in group `g`"),
        "{run}"
    );
}

#[test]
fn bad_usage_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let file = scenario(dir.path(), "[[job]]\nid = \"a\"\ncommand = [\"true\"]\n");
    let f = file.to_str().unwrap();
    for args in [
        vec!["run", f, "--resume"],
        vec!["run", f, "--window", "-1"],
        vec!["run", f, "--fresh"],
        vec!["run", f, "--timeout", "soon"],
        vec!["run", "/nonexistent/scenario.toml"],
        vec!["frobnicate"],
        vec!["graph", f, "-o", "out.jpeg"],
    ] {
        let run = jobgraph(&args, dir.path());
        assert_code(&run, 2);
        assert!(!run.stderr.is_empty(), "{run}");
    }
    let run = jobgraph(&["run", "/nonexistent/scenario.toml"], dir.path());
    assert!(
        run.stderr.contains("/nonexistent/scenario.toml") && run.stderr.contains("cannot read"),
        "{run}"
    );
    let file = scenario(
        dir.path(),
        "[[job]]\nid = \"a\"\nhost = \"-oProxyCommand=x\"\ncommand = [\"true\"]\n",
    );
    let run = jobgraph(&["check", file.to_str().unwrap()], dir.path());
    assert_code(&run, 2);
    assert!(
        run.stderr.contains(":3:8:") && run.stderr.contains("starts with `-`"),
        "{run}"
    );
}

#[test]
fn check_prints_the_listing_and_accepts_the_example_scenarios() {
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/scenarios");
    let mut seen = 0;
    for entry in std::fs::read_dir(&examples).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            let run = jobgraph(&["check", path.to_str().unwrap()], &examples);
            assert_code(&run, 0);
            assert!(run.stdout.contains(": ok, "), "{run}");
            seen += 1;
        }
    }
    assert_eq!(seen, 5);
    // The sweep: 20 instances of its simulation, on Slurm with their resources.
    let run = jobgraph(
        &["check", examples.join("sweep.toml").to_str().unwrap()],
        &examples,
    );
    assert!(run.stdout.contains("22 job(s)"), "{run}");
    assert!(
        run.stdout.contains("<SlurmJob `sim size=80 seed=5`>"),
        "{run}"
    );
    assert!(
        run.stdout
            .contains("sbatch --cpus-per-task=1 --mem=256M --time=5 --"),
        "{run}"
    );
    let run = jobgraph(
        &[
            "check",
            examples.join("build-pipeline.toml").to_str().unwrap(),
        ],
        &examples,
    );
    assert!(run.stdout.contains("<CommandJob `compile`>"), "{run}");
    assert!(run.stdout.contains("<Scheduler `tests`>"), "{run}");
    assert!(
        run.stdout.contains("cc -O2 -Wall -o hello hello.c"),
        "{run}"
    );
    assert!(run.stdout.contains("8 job(s) in 2 scheduler(s)"), "{run}");
}

#[test]
fn graph_writes_dot_and_pictures() {
    let dir = tempfile::tempdir().unwrap();
    let file = scenario(
        dir.path(),
        "[[job]]\nid = \"one\"\ncommand = [\"true\"]\n[[job]]\nid = \"two\"\ncommand = [\"true\"]\nrequires = [\"one\"]\n",
    );
    let out = dir.path().join("g.dot");
    let run = jobgraph(
        &["graph", file.to_str().unwrap(), "-o", out.to_str().unwrap()],
        dir.path(),
    );
    assert_code(&run, 0);
    let dot = std::fs::read_to_string(&out).unwrap();
    assert!(
        dot.starts_with("digraph") && dot.contains("one") && dot.contains("two"),
        "{dot}"
    );
    let png = dir.path().join("g.png");
    let run = jobgraph(
        &["graph", file.to_str().unwrap(), "-o", png.to_str().unwrap()],
        dir.path(),
    );
    if jobgraph::find_dot().is_some() {
        assert_code(&run, 0);
        assert!(std::fs::read(&png).unwrap().starts_with(b"\x89PNG"));
    } else {
        jobgraph_test_support::skipped(
            "PNG: Graphviz's dot is not installed; checking its clear error",
        );
        assert_code(&run, 1);
        assert!(run.stderr.contains("Graphviz"), "{run}");
    }
}

#[test]
fn logs_get_one_stdout_and_one_stderr_file_per_job() {
    let dir = tempfile::tempdir().unwrap();
    let file = scenario(
        dir.path(),
        "[[job]]\nid = \"talk\"\nshell = \"echo out1; echo err1 >&2; echo out2\"\n[[job]]\nid = \"silent\"\ncommand = [\"true\"]\n",
    );
    let logs = dir.path().join("logs");
    let run = jobgraph(
        &[
            "run",
            "--quiet",
            "--logs",
            logs.to_str().unwrap(),
            file.to_str().unwrap(),
        ],
        dir.path(),
    );
    assert_code(&run, 0);
    assert!(
        !run.stdout.contains("out1"),
        "--quiet prints no job output: {run}"
    );
    assert_eq!(
        std::fs::read_to_string(logs.join("talk.stdout")).unwrap(),
        "out1\nout2\n"
    );
    assert_eq!(
        std::fs::read_to_string(logs.join("talk.stderr")).unwrap(),
        "err1\n"
    );
    assert_eq!(
        std::fs::read_to_string(logs.join("silent.stdout")).unwrap(),
        ""
    );
    assert_eq!(
        std::fs::read_to_string(logs.join("silent.stderr")).unwrap(),
        ""
    );
}

#[test]
fn journal_and_resume_skip_what_is_done() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display();
    let text = format!(
        r#"
[[job]]
id = "fetch"
shell = "echo x >> {d}/fetch.count"
[[job]]
id = "build"
shell = "test -e {d}/fixed && echo x >> {d}/build.count"
requires = ["fetch"]
[[job]]
id = "ship"
shell = "echo x >> {d}/ship.count"
requires = ["build"]
"#
    );
    let file = scenario(dir.path(), &text);
    let journal = dir.path().join("journal");
    let args = [
        "run",
        "--journal",
        journal.to_str().unwrap(),
        file.to_str().unwrap(),
    ];
    let run = jobgraph(&args, dir.path());
    assert_code(&run, 1);
    let count = |name: &str| {
        std::fs::read_to_string(dir.path().join(name))
            .map(|t| t.lines().count())
            .unwrap_or(0)
    };
    assert_eq!(
        (
            count("fetch.count"),
            count("build.count"),
            count("ship.count")
        ),
        (1, 0, 0)
    );
    let recorded = std::fs::read_to_string(&journal).unwrap();
    assert!(
        recorded.contains(" 0 fetch\n") && recorded.contains(" 1 build\n"),
        "{recorded}"
    );

    // Fixed: resuming runs only what is not done.
    std::fs::write(dir.path().join("fixed"), "").unwrap();
    let resume = [
        "run",
        "--journal",
        journal.to_str().unwrap(),
        "--resume",
        file.to_str().unwrap(),
    ];
    let run = jobgraph(&resume, dir.path());
    assert_code(&run, 0);
    assert!(
        run.stdout
            .contains("3 ok (1 done in a previous run), 0 failed, 0 not run"),
        "{run}"
    );
    assert_eq!(
        (
            count("fetch.count"),
            count("build.count"),
            count("ship.count")
        ),
        (1, 1, 1)
    );

    // A crash mid-record leaves a line cut short: it is ignored, the rest still counts.
    let mut recorded = std::fs::read_to_string(&journal).unwrap();
    recorded.push_str("v1 0123");
    std::fs::write(&journal, recorded).unwrap();
    let run = jobgraph(&resume, dir.path());
    assert_code(&run, 0);
    assert!(
        run.stdout.contains("3 ok (3 done in a previous run)"),
        "{run}"
    );
    assert_eq!(
        (
            count("fetch.count"),
            count("build.count"),
            count("ship.count")
        ),
        (1, 1, 1)
    );

    // A job whose command changed runs again.
    let changed = text.replace("ship.count\"", "ship.count; true\"");
    let file = scenario(dir.path(), &changed);
    let resume = [
        "run",
        "--journal",
        journal.to_str().unwrap(),
        "--resume",
        file.to_str().unwrap(),
    ];
    let run = jobgraph(&resume, dir.path());
    assert_code(&run, 0);
    assert_eq!(
        (
            count("fetch.count"),
            count("build.count"),
            count("ship.count")
        ),
        (1, 1, 2)
    );

    // Without --resume, a journal that holds records is refused, and left as it is.
    let before = std::fs::read_to_string(&journal).unwrap();
    let run = jobgraph(
        &[
            "run",
            "--journal",
            journal.to_str().unwrap(),
            file.to_str().unwrap(),
        ],
        dir.path(),
    );
    assert_code(&run, 2);
    assert!(run.stderr.contains("--fresh"), "{run}");
    assert_eq!(std::fs::read_to_string(&journal).unwrap(), before);
    assert_eq!(count("fetch.count"), 1);
    // With --fresh, the journal starts again and everything runs.
    let run = jobgraph(
        &[
            "run",
            "--journal",
            journal.to_str().unwrap(),
            "--fresh",
            file.to_str().unwrap(),
        ],
        dir.path(),
    );
    assert_code(&run, 0);
    assert_eq!(count("fetch.count"), 2);
    assert_eq!(
        std::fs::read_to_string(&journal).unwrap().lines().count(),
        3
    );
}

#[test]
fn dry_run_runs_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("ran");
    let file = scenario(
        dir.path(),
        &format!(
            "[[job]]\nid = \"touch\"\ncommand = [\"touch\", \"{}\"]\n",
            marker.display()
        ),
    );
    let run = jobgraph(&["run", "--dry-run", file.to_str().unwrap()], dir.path());
    assert_code(&run, 0);
    assert!(run.stdout.contains("touch"), "{run}");
    assert!(run.stdout.contains("dry run: 1 job(s), 1 to run"), "{run}");
    assert!(!marker.exists());
}

#[test]
fn verbose_tells_each_start_and_end() {
    let dir = tempfile::tempdir().unwrap();
    let file = scenario(dir.path(), "[[job]]\nid = \"a\"\ncommand = [\"true\"]\n");
    let run = jobgraph(&["run", "--verbose", file.to_str().unwrap()], dir.path());
    assert_code(&run, 0);
    assert!(run.stdout.contains("--- [a] started"), "{run}");
    assert!(run.stdout.contains("--- [a] done"), "{run}");
}

#[test]
fn a_forever_job_is_stopped_and_counts_as_ok() {
    let dir = tempfile::tempdir().unwrap();
    let file = scenario(
        dir.path(),
        "[[job]]\nid = \"mon\"\nshell = \"while true; do echo tick; sleep 0.1; done\"\nforever = true\n[[job]]\nid = \"work\"\ncommand = [\"sleep\", \"0.4\"]\n",
    );
    let run = jobgraph(&["run", file.to_str().unwrap()], dir.path());
    assert_code(&run, 0);
    assert!(run.stdout.contains("[mon] tick"), "{run}");
    assert!(run.stdout.contains("2 ok, 0 failed, 0 not run"), "{run}");
}

#[test]
fn the_window_option_overrides_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    let mut text = String::from("window = 6\n");
    for i in 0..6 {
        text.push_str(&format!(
            "[[job]]\nid = \"j{i}\"\nshell = \"echo + >> {l}; sleep 0.2; echo - >> {l}\"\n",
            l = log.display()
        ));
    }
    let file = scenario(dir.path(), &text);
    let run = jobgraph(
        &["run", "--window", "2", file.to_str().unwrap()],
        dir.path(),
    );
    assert_code(&run, 0);
    let (mut running, mut most) = (0i32, 0i32);
    for line in std::fs::read_to_string(&log).unwrap().lines() {
        running += if line == "+" { 1 } else { -1 };
        most = most.max(running);
    }
    assert_eq!(most, 2, "--window 2 let {most} run at once");
}

#[test]
fn a_closed_stdout_is_no_panic() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::new();
    for i in 0..200 {
        text.push_str(&format!(
            "[[job]]\nid = \"j{i}\"\ncommand = [\"echo\", \"{i}\"]\n"
        ));
    }
    let file = scenario(dir.path(), &text);
    for args in [
        vec!["check", file.to_str().unwrap()],
        vec!["run", file.to_str().unwrap()],
    ] {
        let mut child = common::command(&args, dir.path()).spawn().unwrap();
        // As `jobgraph check x | head -0` does: nobody reads.
        drop(child.stdout.take());
        let run = common::finish(child, Duration::from_secs(60));
        assert_code(&run, 0);
        assert!(!run.stderr.contains("panicked"), "{run}");
    }
}
