//! CommandJob with real processes: output, status, errors, and no process left behind.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use jobgraph::{Job, JobState, Scheduler};
use jobgraph_command::{CommandError, CommandJob, Line, Stream};

/// Waits (at most 3 s) for a process to be gone; true when it is.
fn gone(pid: i32) -> bool {
    jobgraph_test_support::gone(pid, Duration::from_secs(3))
}

fn read_pids(path: &std::path::Path) -> Vec<i32> {
    jobgraph_test_support::read_pids(path, 2, Duration::from_secs(5))
}

fn command_error(job: &Job<jobgraph_command::CommandOutput>) -> String {
    let error = job.raised_exception().expect("the job failed");
    let error = error
        .downcast_ref::<CommandError>()
        .expect("a CommandError");
    error.to_string()
}

#[test]
fn captures_output_and_status() {
    let job = Job::custom(CommandJob::new(["sh", "-c", "echo out; echo err >&2"]));
    assert!(Scheduler::new().add(&job).run().unwrap());
    let output = job.result().unwrap();
    assert!(output.status.success());
    assert_eq!(output.stdout.text(), "out\n");
    assert_eq!(output.stderr.text(), "err\n");
    assert_eq!(job.kind(), "CommandJob");
    assert!(job.details().unwrap().contains("echo out"));
}

#[test]
fn argv_runs_without_a_shell_and_shell_only_when_asked() {
    let argv = Job::custom(CommandJob::new(["echo", "$HOME;", "`id`"]));
    let shell = Job::custom(CommandJob::shell("echo $((6 * 7))"));
    assert!(Scheduler::new().add((&argv, &shell)).run().unwrap());
    assert_eq!(argv.result().unwrap().stdout.text(), "$HOME; `id`\n");
    assert_eq!(shell.result().unwrap().stdout.text(), "42\n");
}

#[test]
fn a_non_zero_status_fails_the_job_naming_command_status_and_tail() {
    let job = Job::custom(CommandJob::shell("echo first >&2; echo boom >&2; exit 3")).label("bad");
    let s = Scheduler::new().critical(false).add(&job).clone();
    assert!(!s.run().unwrap());
    let text = command_error(&job);
    assert!(
        text.contains("echo first >&2; echo boom >&2; exit 3"),
        "{text}"
    );
    assert!(text.contains("exit status: 3"), "{text}");
    assert!(text.contains("boom"), "{text}");
    let error = job.raised_exception().unwrap();
    let error = error.downcast_ref::<CommandError>().unwrap();
    assert_eq!(error.status().unwrap().code(), Some(3));
    assert_eq!(error.output().unwrap().stderr.text(), "first\nboom\n");
}

#[test]
fn a_missing_program_is_a_clear_error() {
    let job = Job::custom(CommandJob::new(["/nonexistent/prog", "x"]));
    let s = Scheduler::new().critical(false).add(&job).clone();
    assert!(!s.run().unwrap());
    let text = command_error(&job);
    assert!(text.contains("/nonexistent/prog x"), "{text}");
    assert!(text.contains("could not start"), "{text}");
}

#[test]
fn env_cwd_and_stdin() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("input.txt"), "from a file\n").unwrap();
    let env = Job::custom(
        CommandJob::shell("echo \"$GREETING\"; pwd")
            .env("GREETING", "hi there")
            .cwd(dir.path()),
    );
    let stdin = Job::custom(CommandJob::new(["tr", "a-z", "A-Z"]).stdin_str("shout\n"));
    let file = Job::custom(CommandJob::new(["cat"]).stdin_file(dir.path().join("input.txt")));
    let none = Job::custom(CommandJob::new(["cat"]));
    assert!(Scheduler::new()
        .add((&env, &stdin, &file, &none))
        .run()
        .unwrap());
    let cwd = std::fs::canonicalize(dir.path()).unwrap();
    assert_eq!(
        env.result().unwrap().stdout.text(),
        format!("hi there\n{}\n", cwd.display())
    );
    assert_eq!(stdin.result().unwrap().stdout.text(), "SHOUT\n");
    assert_eq!(file.result().unwrap().stdout.text(), "from a file\n");
    // Standard input is /dev/null by default: cat ends at once.
    assert_eq!(none.result().unwrap().stdout.text(), "");
}

#[test]
fn a_missing_stdin_file_is_a_clear_error() {
    let job = Job::custom(CommandJob::new(["cat"]).stdin_file("/nonexistent/input"));
    let s = Scheduler::new().critical(false).add(&job).clone();
    s.run().unwrap();
    let text = command_error(&job);
    assert!(text.contains("/nonexistent/input"), "{text}");
}

#[test]
fn lines_reach_the_sink_as_they_come_labelled() {
    let lines: Arc<Mutex<Vec<Line>>> = Arc::default();
    let seen = lines.clone();
    let job = Job::custom(
        CommandJob::shell("echo one; echo two >&2; printf 'three'").sink(Arc::new(
            move |line: &Line| seen.lock().unwrap().push(line.clone()),
        )),
    )
    .label("talker");
    assert!(Scheduler::new().add(&job).run().unwrap());
    let lines = lines.lock().unwrap();
    let texts: Vec<(Stream, &str)> = lines.iter().map(|l| (l.stream, l.text.as_str())).collect();
    assert!(texts.contains(&(Stream::Stdout, "one")));
    assert!(texts.contains(&(Stream::Stderr, "two")));
    // The last line, without its end of line, is passed on at the end.
    assert!(texts.contains(&(Stream::Stdout, "three")));
    assert!(lines.iter().all(|l| &*l.label == "talker"));
}

#[test]
fn capture_keeps_the_tail_within_the_limit() {
    let job = Job::custom(
        CommandJob::shell("i=0; while [ $i -lt 2000 ]; do echo line-$i; i=$((i+1)); done")
            .capture_limit(100),
    );
    assert!(Scheduler::new().add(&job).run().unwrap());
    let out = &job.result().unwrap().stdout;
    assert_eq!(out.bytes().len(), 100);
    assert!(out.truncated());
    assert!(out.total() > 10_000);
    assert!(out.text().ends_with("line-1999\n"));
    assert_eq!(out.tail_lines(1), vec!["line-1999".to_string()]);
}

#[test]
fn a_timeout_kills_the_whole_group() {
    let dir = tempfile::tempdir().unwrap();
    let pids = dir.path().join("pids");
    let script = format!(
        "sleep 30 & echo $! >> {p}; echo $$ >> {p}; wait",
        p = pids.display()
    );
    let started = Instant::now();
    let job = Job::custom(CommandJob::shell(script).timeout(Duration::from_millis(300)));
    let s = Scheduler::new().critical(false).add(&job).clone();
    assert!(!s.run().unwrap());
    assert!(started.elapsed() < Duration::from_secs(5));
    let text = command_error(&job);
    assert!(text.contains("timed out after 300ms"), "{text}");
    for pid in read_pids(&pids) {
        assert!(
            gone(pid),
            "process {pid} of the timed-out command is still running"
        );
    }
}

#[test]
fn a_cancelled_run_kills_the_group_even_when_term_is_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let pids = dir.path().join("pids");
    // The shell and its child both ignore SIGTERM: only SIGKILL, after the grace, ends them.
    let script = format!(
        "trap '' TERM; sh -c \"trap '' TERM; sleep 30\" & echo $! >> {p}; echo $$ >> {p}; wait; wait",
        p = pids.display()
    );
    let job = Job::custom(CommandJob::shell(script).grace(Duration::from_millis(300)));
    let s = Scheduler::new()
        .timeout(Duration::from_millis(400))
        .grace(Duration::from_secs(3))
        .critical(false)
        .add(&job)
        .clone();
    let started = Instant::now();
    assert!(!s.run().unwrap());
    assert!(s.failed_time_out().is_some());
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(job.state(), JobState::Cancelled);
    let recorded = read_pids(&pids);
    assert_eq!(recorded.len(), 2, "{recorded:?}");
    for pid in recorded {
        assert!(gone(pid), "process {pid} survived the cancelled run");
    }
}

#[test]
fn what_a_command_leaves_in_its_group_dies_with_it() {
    let dir = tempfile::tempdir().unwrap();
    let pids = dir.path().join("pids");
    let script = format!(
        "sleep 30 & echo $! >> {p}; echo $$ >> {p}; exit 0",
        p = pids.display()
    );
    let job = Job::custom(CommandJob::shell(script));
    let started = Instant::now();
    assert!(Scheduler::new().add(&job).run().unwrap());
    // The background sleep holds stdout open: the job did not wait for it.
    assert!(started.elapsed() < Duration::from_secs(5));
    for pid in read_pids(&pids) {
        assert!(gone(pid), "process {pid} was left behind");
    }
}

#[test]
fn a_forever_command_is_stopped_when_the_rest_is_done() {
    let dir = tempfile::tempdir().unwrap();
    let pids = dir.path().join("pids");
    let monitor = Job::custom(CommandJob::shell(format!(
        "echo $$ >> {p}; echo $$ >> {p}; while true; do sleep 0.05; done",
        p = pids.display()
    )))
    .forever(true);
    let work = Job::custom(CommandJob::new(["sleep", "0.2"]));
    let s = Scheduler::new()
        .grace(Duration::from_secs(3))
        .add((&monitor, &work))
        .clone();
    assert!(s.run().unwrap());
    assert_eq!(monitor.state(), JobState::Cancelled);
    for pid in read_pids(&pids) {
        assert!(gone(pid));
    }
}

#[test]
fn window_bounds_how_many_commands_run_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    let s = Scheduler::new().window(3);
    for _ in 0..9 {
        // Each appends +, sleeps, appends -: the running count never exceeds the window.
        s.add(Job::custom(CommandJob::shell(format!(
            "echo + >> {l}; sleep 0.1; echo - >> {l}",
            l = log.display()
        ))));
    }
    assert!(s.run().unwrap());
    let text = std::fs::read_to_string(&log).unwrap();
    let mut running = 0i32;
    let mut most = 0;
    for line in text.lines() {
        running += if line == "+" { 1 } else { -1 };
        most = most.max(running);
    }
    assert_eq!(running, 0);
    assert!((2..=3).contains(&most), "{most} ran at once");
}

#[test]
fn lines_give_back_the_exact_bytes_the_command_wrote() {
    // Invalid UTF-8, a carriage return, a line longer than the 64 KiB piece, and a
    // last line without its newline.
    let script = "printf 'a\\377b\\r\\n'; head -c 150000 /dev/zero | tr '\\0' x; printf '\\nlast'";
    let lines: Arc<Mutex<Vec<Line>>> = Arc::default();
    let seen = lines.clone();
    let job = Job::custom(CommandJob::shell(script).sink(Arc::new(move |line: &Line| {
        seen.lock().unwrap().push(line.clone())
    })));
    assert!(Scheduler::new().add(&job).run().unwrap());
    let mut joined = Vec::new();
    for line in lines.lock().unwrap().iter() {
        joined.extend_from_slice(&line.bytes);
        if line.newline {
            joined.push(b'\n');
        }
    }
    let mut expected = b"a\xffb\r\n".to_vec();
    expected.extend(std::iter::repeat_n(b'x', 150_000));
    expected.extend_from_slice(b"\nlast");
    assert_eq!(joined.len(), expected.len());
    assert!(joined == expected);
    assert!(
        lines.lock().unwrap().len() >= 4,
        "the long line came in pieces"
    );
}

#[test]
fn bad_env_names_and_nul_bytes_are_refused_before_anything_starts() {
    let dir = tempfile::tempdir().unwrap();
    let canary = dir.path().join("ran");
    let touch = format!("touch {}", canary.display());
    let jobs = [
        CommandJob::shell(&touch).env("-S x", "v"),
        CommandJob::shell(&touch).env("A=B", "v"),
        CommandJob::shell(&touch).env("1A", "v"),
        CommandJob::shell(&touch).env("A", "v\0w"),
        CommandJob::shell(&touch).cwd("a\0b"),
        CommandJob::shell(&touch).cwd(""),
        CommandJob::new(["sh", "-c", &touch, "x\0y"]),
        CommandJob::new(Vec::<String>::new()),
    ];
    for job in jobs {
        assert!(job.check().is_err());
        let job = Job::custom(job);
        assert!(!Scheduler::new().critical(false).add(&job).run().unwrap());
        let text = command_error(&job);
        assert!(text.contains("was not started"), "{text}");
    }
    assert!(!canary.exists());
    // A shell text that starts with `-` is the command, not options of `sh`.
    let job = Job::custom(CommandJob::shell("-x 2>/dev/null || echo fine"));
    assert!(Scheduler::new().add(&job).run().unwrap());
    assert_eq!(job.result().unwrap().stdout.text(), "fine\n");
    let dash = Job::custom(CommandJob::shell("+x").env("OK", "1")).critical(false);
    assert!(Scheduler::new().add(&dash).run().unwrap());
    assert!(
        command_error(&dash).contains("+x"),
        "{}",
        command_error(&dash)
    );
}
