//! Hostile input to the runner: values that must not become options or terminal
//! control, scenario errors that must say where and what, log files that cannot be
//! written, and two runners on one journal.

mod common;

use std::time::{Duration, Instant};

use common::{jobgraph, scenario, Run};

fn assert_code(run: &Run, code: i32) {
    assert_eq!(run.code, Some(code), "{run}");
}

/// `check` on a scenario text: the run, and the file's path as the error names it.
fn check(text: &str) -> (Run, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let file = scenario(dir.path(), text);
    let run = jobgraph(&["check", file.to_str().unwrap()], dir.path());
    (run, dir)
}

#[test]
fn env_names_that_are_not_variable_names_are_refused_where_they_are() {
    for host in ["", "host = \"127.0.0.1\"\n"] {
        let text = format!(
            "[[job]]\nid = \"a\"\ncommand = [\"true\"]\n{host}env = {{ \"-S touch pwned\" = \"v\" }}\n"
        );
        let (run, _dir) = check(&text);
        assert_code(&run, 2);
        let line = if host.is_empty() { 4 } else { 5 };
        assert!(
            run.stderr.contains(&format!("scenario.toml:{line}:9: job `a`: `-S touch pwned` is not an environment variable name")),
            "{run}"
        );
    }
}

#[test]
fn nul_bytes_in_values_are_refused_by_check() {
    for (text, what) in [
        ("cwd = \"a\\u0000b\"", "`cwd` is empty or holds a NUL byte"),
        (
            "env = { A = \"x\\u0000y\" }",
            "the value of `A` holds a NUL byte",
        ),
        ("cwd = \"\"", "`cwd` is empty"),
    ] {
        let (run, _dir) = check(&format!(
            "[[job]]\nid = \"a\"\ncommand = [\"true\"]\n{text}\n"
        ));
        assert_code(&run, 2);
        assert!(run.stderr.contains("scenario.toml:4:"), "{run}");
        assert!(run.stderr.contains(what), "{run}");
    }
    let (run, _dir) = check("[[job]]\nid = \"a\"\ncommand = [\"echo\", \"a\\u0000\"]\n");
    assert_code(&run, 2);
    assert!(
        run.stderr
            .contains("scenario.toml:3:11: job `a`: a word of `command` holds a NUL byte"),
        "{run}"
    );
}

#[test]
fn ssh_options_that_are_not_keyword_value_are_refused_by_check() {
    for option in [
        "-oProxyCommand=touch pwned",
        "User=x\\nProxyCommand=touch pwned",
        "ControlPath=/tmp/x",
    ] {
        let (run, _dir) = check(&format!(
            "[ssh]\noptions = [\"StrictHostKeyChecking=no\", \"{option}\"]\n[[job]]\nid = \"a\"\ncommand = [\"true\"]\nhost = \"h\"\n"
        ));
        assert_code(&run, 2);
        assert!(
            run.stderr
                .contains("scenario.toml:2:40: [ssh] the ssh option"),
            "{run}"
        );
    }
}

#[test]
fn a_file_that_is_not_utf8_names_the_first_bad_byte() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("scenario.toml");
    std::fs::write(&file, b"label = \"ok\"\n# caf\xe9\n").unwrap();
    let run = jobgraph(&["check", file.to_str().unwrap()], dir.path());
    assert_code(&run, 2);
    assert!(
        run.stderr
            .contains("scenario.toml:2:6: not UTF-8: byte 18 (0xe9)"),
        "{run}"
    );
}

#[test]
fn a_missing_file_is_named_without_a_position() {
    let dir = tempfile::tempdir().unwrap();
    let run = jobgraph(&["check", "nope.toml"], dir.path());
    assert_code(&run, 2);
    assert!(
        run.stderr
            .starts_with("jobgraph: error: nope.toml: cannot read it: No such file"),
        "{run}"
    );
}

#[test]
fn window_0_is_reported_at_its_value() {
    let (run, _dir) = check("label = \"x\"\nwindow = 0\n");
    assert_code(&run, 2);
    assert!(
        run.stderr
            .contains("scenario.toml:2:10: `window` must be at least 1"),
        "{run}"
    );
    let (run, _dir) = check("[[group]]\nid = \"g\"\nwindow = 0\n");
    assert_code(&run, 2);
    assert!(
        run.stderr
            .contains("scenario.toml:3:10: group `g`: `window`"),
        "{run}"
    );
}

/// Cases the mutation test found: the TOML parser gave an error with no message.
#[test]
fn an_array_left_open_at_the_end_of_the_file_has_a_message() {
    for text in [
        "[[job]]\nid = \"a\"\ncommand = [\"true\"]\n[[sequence]]\njobs = [\"a\",# \"g\"]",
        "[[job]]\nid = \"a\"\ncommand = [\"true\"",
        "[[job]]\nid = \"a\"\ncommand = [\"true\",",
        "jobs = [",
        "env = {",
    ] {
        let (run, _dir) = check(text);
        assert_code(&run, 2);
        let line = run.stderr.lines().next().unwrap_or("");
        let message = line.splitn(4, ':').nth(3).unwrap_or("").trim();
        assert!(!message.is_empty(), "no message for {text:?}: {run}");
    }
}

#[test]
fn labels_and_output_reach_the_terminal_escaped_unless_raw_is_asked() {
    let dir = tempfile::tempdir().unwrap();
    let file = scenario(
        dir.path(),
        "[[job]]\nid = \"a\"\nlabel = \"evil\\u001b[2J\\nlabel\"\nshell = \"printf 'x\\\\033[31my\\\\n'\"\n",
    );
    let run = jobgraph(&["run", file.to_str().unwrap(), "--verbose"], dir.path());
    assert_code(&run, 0);
    assert!(
        !run.stdout.contains('\x1b') && !run.stderr.contains('\x1b'),
        "{run}"
    );
    assert!(
        run.stdout.contains(r"[evil\x1b[2J\nlabel] x\x1b[31my"),
        "{run}"
    );
    let run = jobgraph(&["run", file.to_str().unwrap(), "--raw"], dir.path());
    assert_code(&run, 0);
    // The label stays escaped; the command's own output is as it wrote it.
    assert!(
        run.stdout.contains("[evil\\x1b[2J\\nlabel] x\x1b[31my"),
        "{run}"
    );
}

/// `run` of a scenario `text` with `--logs DIR` after `flags`: the run, its folder (kept
/// while the logs are read) and the logs' folder.
fn run_with_logs(text: &str, flags: &[&str]) -> (Run, tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let file = scenario(dir.path(), text);
    let logs = dir.path().join("logs");
    let mut args = vec!["run", file.to_str().unwrap()];
    args.extend(flags);
    args.extend(["--logs", logs.to_str().unwrap()]);
    let run = jobgraph(&args, dir.path());
    (run, dir, logs)
}

#[test]
fn logs_hold_the_exact_bytes_the_commands_wrote() {
    let (run, _dir, logs) = run_with_logs(
        "[[job]]\nid = \"a\"\nshell = \"printf 'a\\\\377b\\\\r\\\\n'; head -c 100000 /dev/zero | tr '\\\\0' x; printf '\\\\nend'; printf 'e\\\\033r' >&2\"\n",
        &["--quiet"],
    );
    assert_code(&run, 0);
    let mut expected = b"a\xffb\r\n".to_vec();
    expected.extend(std::iter::repeat_n(b'x', 100_000));
    expected.extend_from_slice(b"\nend");
    assert!(std::fs::read(logs.join("a.stdout")).unwrap() == expected);
    assert_eq!(std::fs::read(logs.join("a.stderr")).unwrap(), b"e\x1br");
}

#[test]
fn a_log_that_cannot_be_written_is_said_and_the_outcome_stays_true() {
    let dir = tempfile::tempdir().unwrap();
    let file = scenario(
        dir.path(),
        "[[job]]\nid = \"ok\"\nshell = \"echo fine\"\n\
         [[job]]\nid = \"bad\"\nshell = \"echo why it failed >&2; exit 4\"\ncritical = false\n",
    );
    let logs = dir.path().join("logs");
    std::fs::create_dir(&logs).unwrap();
    // A full disk (/dev/full refuses every write) and a file that cannot be made.
    std::os::unix::fs::symlink("/dev/full", logs.join("ok.stdout")).unwrap();
    std::os::unix::fs::symlink("/dev/full", logs.join("bad.stderr")).unwrap();
    std::os::unix::fs::symlink("/nonexistent/dir/x", logs.join("bad.stdout")).unwrap();
    let run = jobgraph(
        &[
            "run",
            file.to_str().unwrap(),
            "--logs",
            logs.to_str().unwrap(),
        ],
        dir.path(),
    );
    for name in ["ok.stdout", "bad.stderr", "bad.stdout"] {
        let path = logs.join(name);
        let on_stderr = run
            .stderr
            .lines()
            .filter(|l| {
                l.starts_with("jobgraph: warning: cannot")
                    && l.contains(&path.display().to_string())
            })
            .count();
        assert_eq!(on_stderr, 1, "{name} said once on stderr: {run}");
        assert!(run.stdout.contains(&format!("{}", path.display())), "{run}");
    }
    assert!(
        run.stdout.contains("3 log file(s) could not be written"),
        "{run}"
    );
    // The job that failed is still told, with its stderr, in the debrief.
    assert!(run.stdout.contains("why it failed"), "{run}");
    assert!(run.stdout.contains("1 ok, 1 failed"), "{run}");
}

#[test]
fn a_second_runner_on_a_journal_in_use_exits_2_naming_the_holder() {
    let dir = tempfile::tempdir().unwrap();
    let file = scenario(
        dir.path(),
        "[[job]]\nid = \"first\"\ncommand = [\"true\"]\n\
         [[job]]\nid = \"slow\"\nshell = \"sleep 1.5\"\nrequires = [\"first\"]\n",
    );
    let journal = dir.path().join("journal");
    let args = [
        "run",
        file.to_str().unwrap(),
        "--journal",
        journal.to_str().unwrap(),
    ];
    let holder = common::command(&args, dir.path()).spawn().unwrap();
    let holder_pid = holder.id();
    // Wait until the first runner recorded its first job.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !std::fs::read_to_string(&journal)
        .unwrap_or_default()
        .contains(" first\n")
    {
        assert!(
            Instant::now() < deadline,
            "the first runner recorded nothing"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    for extra in [&[][..], &["--resume"][..]] {
        let mut all = args.to_vec();
        all.extend_from_slice(extra);
        let second = jobgraph(&all, dir.path());
        assert_code(&second, 2);
        assert!(
            second
                .stderr
                .contains(&format!("is in use by process {holder_pid}")),
            "{second}"
        );
        // Nothing the first runner wrote was lost.
        assert!(std::fs::read_to_string(&journal)
            .unwrap()
            .contains(" first\n"));
    }
    let first = common::finish(holder, Duration::from_secs(30));
    assert_code(&first, 0);
    let text = std::fs::read_to_string(&journal).unwrap();
    assert!(
        text.contains(" first\n") && text.contains(" slow\n"),
        "{text}"
    );
}

/// Under `ulimit -u`, which counts threads too, the runner narrows its window to what
/// the limit leaves for commands, and says so, instead of failing commands at spawn.
#[test]
fn a_low_process_limit_narrows_the_window_instead_of_failing_commands() {
    // Root is not held to the limit: run the binary as `nobody`, as a user would be.
    // SAFETY: getuid has no preconditions.
    let root = unsafe { libc::getuid() } == 0;
    let tools = ["setpriv", "prlimit"].iter().all(|t| {
        std::process::Command::new(t)
            .arg("--version")
            .stdout(std::process::Stdio::null())
            .status()
            .is_ok()
    });
    if !root || !tools {
        println!("not run: needs root (to become `nobody`) and util-linux's setpriv and prlimit");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::new();
    for i in 0..300 {
        text.push_str(&format!("[[job]]\nid = \"t{i}\"\ncommand = [\"true\"]\n"));
    }
    let file = scenario(dir.path(), &text);
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    // A copy of the binary that `nobody` can reach, wherever the checkout is.
    let binary = dir.path().join("jobgraph");
    std::fs::copy(env!("CARGO_BIN_EXE_jobgraph"), &binary).unwrap();
    std::fs::set_permissions(&binary, std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = std::process::Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .args(["prlimit", "--nproc=40:40"])
        .arg(&binary)
        .args(["run", file.to_str().unwrap(), "--quiet"])
        .current_dir(dir.path())
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let run = Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    assert_code(&run, 0);
    assert!(
        run.stderr.contains("`ulimit -u 40` leaves room for"),
        "{run}"
    );
    assert!(run.stdout.contains("300 ok, 0 failed, 0 not run"), "{run}");
}

/// A scenario whose one job has a matrix of `values` values for each of `params`
/// parameters, after `before` plain jobs.
fn sweep(before: usize, params: usize, values: usize) -> String {
    let mut text = String::new();
    for i in 0..before {
        text.push_str(&format!(
            "[[job]]\nid = \"plain{i}\"\ncommand = [\"true\"]\n"
        ));
    }
    let list: Vec<String> = (0..values).map(|v| v.to_string()).collect();
    let matrix: Vec<String> = (0..params)
        .map(|p| format!("p{p} = [{}]", list.join(", ")))
        .collect();
    text.push_str(&format!(
        "[[job]]\nid = \"sweep\"\nmatrix = {{ {} }}\ncommand = [\"echo\", \"{{p0}}\"]\n",
        matrix.join(", ")
    ));
    text
}

#[test]
fn a_matrix_past_the_job_limit_is_refused_with_its_product_before_it_is_made() {
    // 20^6 = 64 million instances: refused at once, not made.
    let started = Instant::now();
    let (run, _dir) = check(&sweep(0, 6, 20));
    assert_code(&run, 2);
    assert!(
        run.stderr.contains(
            "scenario.toml:3:10: job `sweep`: its matrix makes 20 × 20 × 20 × 20 × 20 × 20 = 64000000 instances, and a scenario holds at most 100000 jobs once expanded"
        ),
        "{run}"
    );
    assert!(started.elapsed() < Duration::from_secs(10), "{run}");
    // A product past 2^64 is no overflow either.
    let (run, _dir) = check(&sweep(0, 20, 10));
    assert_code(&run, 2);
    assert!(run.stderr.contains("= more than 2^64 instances"), "{run}");
    // The jobs before the matrix count: 10^5 alone is the limit, one more job is past it.
    let (run, _dir) = check(&sweep(1, 5, 10));
    assert_code(&run, 2);
    assert!(
        run.stderr
            .contains("= 100000 instances, and a scenario holds at most 100000 jobs once expanded with the 1 job(s) before it"),
        "{run}"
    );
    let (run, _dir) = check(&sweep(0, 5, 10));
    assert_code(&run, 0);
    assert!(run.stdout.contains("ok, 100000 job(s)"), "{run}");
}

#[test]
fn requirements_past_the_limit_are_refused_where_the_template_is_named() {
    // Two templates of a thousand instances, the second requiring the first: a million
    // requirements, the limit. One more job requiring the first template is past it.
    let list: Vec<String> = (0..1000).map(|v| v.to_string()).collect();
    let list = list.join(", ");
    let two = format!(
        "[[job]]\nid = \"a\"\nmatrix = {{ x = [{list}] }}\ncommand = [\"true\"]\n[[job]]\nid = \"b\"\nmatrix = {{ y = [{list}] }}\ncommand = [\"true\"]\nrequires = [\"a\"]\n"
    );
    let (run, _dir) = check(&two);
    assert_code(&run, 0);
    assert!(run.stdout.contains("ok, 2000 job(s)"), "{run}");
    let (run, _dir) = check(&format!(
        "{two}[[job]]\nid = \"c\"\ncommand = [\"true\"]\nrequires = [\"a\"]\n"
    ));
    assert_code(&run, 2);
    assert!(
        run.stderr.contains(
            "scenario.toml:13:13: `a`: a scenario holds at most 1000000 requirements once templates are resolved"
        ),
        "{run}"
    );
    // A sequence of two such templates is the same million edges, and one more step
    // past it is refused at that step.
    let (run, _dir) = check(&format!(
        "[[job]]\nid = \"a\"\nmatrix = {{ x = [{list}] }}\ncommand = [\"true\"]\n[[job]]\nid = \"b\"\nmatrix = {{ y = [{list}] }}\ncommand = [\"true\"]\n[[job]]\nid = \"c\"\nmatrix = {{ z = [0, 1] }}\ncommand = [\"true\"]\n[[sequence]]\njobs = [\"c\", \"a\", \"b\"]\n"
    ));
    assert_code(&run, 2);
    assert!(
        run.stderr
            .contains("`b`: a scenario holds at most 1000000 requirements"),
        "{run}"
    );
}

#[test]
fn a_mistake_inside_a_value_of_two_kinds_is_named_where_it_is() {
    let job = "[[job]]\nid = \"a\"\ncommand = [\"true\"]\n";
    for (key, what) in [
        (
            "slurm = { partion = \"debug\" }",
            "scenario.toml:4:11: unknown field `partion`, expected one of `cpus`, `mem`, `time`, `partition`",
        ),
        (
            "slurm = \"yes\"",
            "scenario.toml:4:9: invalid type: string \"yes\", expected true, false, or a table of Slurm settings",
        ),
        (
            "retries = 1\nretry_delay = { first = \"1s\", factr = 2 }",
            "scenario.toml:5:31: unknown field `factr`, expected one of `first`, `factor`, `max`, `jitter`",
        ),
        (
            "retries = 1\nretry_delay = \"soon\"",
            "scenario.toml:5:15: `soon` is not a duration",
        ),
        (
            "retries = 1\nretry_on = [1.5]",
            "scenario.toml:5:13: invalid type: floating point `1.5`, expected i32",
        ),
        (
            "retries = 1\nretry_on = 75",
            "scenario.toml:5:12: invalid type: integer `75`, expected \"failure\", \"timeout\", \"any\", or a list of exit statuses",
        ),
    ] {
        let (run, _dir) = check(&format!("{job}{key}\n"));
        assert_code(&run, 2);
        assert!(run.stderr.contains(what), "{what}: {run}");
        assert!(!run.stderr.contains("untagged"), "{run}");
    }
}

#[test]
fn a_duration_too_long_for_the_clock_is_refused_as_too_long_as_written() {
    for (text, what) in [
        (
            "timeout = \"99999999999999h\"",
            "scenario.toml:1:11: a duration is at most 1000000000 seconds (about 31 years), not `99999999999999h`",
        ),
        (
            "timeout = 18446744073709551615.0",
            "a duration is at most 1000000000 seconds (about 31 years), not 18446744073709552000",
        ),
        (
            "timeout = \"0s\"",
            "scenario.toml:1:11: a duration must be positive and finite, not `0s`",
        ),
        (
            "timeout = -5",
            "scenario.toml:1:11: a duration must be positive and finite, not -5",
        ),
    ] {
        let (run, _dir) = check(&format!("{text}\n[[job]]\nid = \"a\"\ncommand = [\"true\"]\n"));
        assert_code(&run, 2);
        assert!(run.stderr.contains(what), "{what}: {run}");
    }
}

#[test]
fn a_journal_path_that_names_another_file_leaves_it_as_it_is() {
    let dir = tempfile::tempdir().unwrap();
    let text = "[[job]]\nid = \"a\"\ncommand = [\"true\"]\n";
    let file = scenario(dir.path(), text);
    let f = file.to_str().unwrap();
    let notes = dir.path().join("notes.txt");
    std::fs::write(&notes, "v2 looks like a record\nbut this line is not\n").unwrap();
    // The scenario itself given as the journal (a slip of tab completion), or notes:
    // refused with every flag, and neither file touched.
    for (journal, what) in [
        (f, "is the scenario too: give it a path of its own (nothing was written)"),
        (
            notes.to_str().unwrap(),
            "it is not a journal (its line 2 is no record; a record starts with `v2 `), and is left as it is",
        ),
    ] {
        let before = std::fs::read(journal).unwrap();
        for flag in [None, Some("--fresh"), Some("--resume")] {
            let mut args = vec!["run", f, "--journal", journal];
            args.extend(flag);
            let run = jobgraph(&args, dir.path());
            assert_code(&run, 2);
            assert!(run.stderr.contains(what), "{run}");
            assert_eq!(std::fs::read(journal).unwrap(), before, "{flag:?}");
        }
    }
    // Notes whose first line is no record.
    std::fs::write(&notes, "my notes\n").unwrap();
    let run = jobgraph(
        &["run", f, "--journal", notes.to_str().unwrap()],
        dir.path(),
    );
    assert_code(&run, 2);
    assert!(run.stderr.contains("its line 1 is no record"), "{run}");
    assert_eq!(std::fs::read_to_string(&notes).unwrap(), "my notes\n");
    // A journal cut short by a crash is still one: its last record ended, and resumed.
    let journal = dir.path().join("run.journal");
    let j = journal.to_str().unwrap();
    assert_code(&jobgraph(&["run", f, "--journal", j], dir.path()), 0);
    let mut recorded = std::fs::read_to_string(&journal).unwrap();
    recorded.push('v');
    std::fs::write(&journal, &recorded).unwrap();
    let run = jobgraph(&["run", f, "--journal", j, "--resume"], dir.path());
    assert_code(&run, 0);
    assert!(run.stdout.contains("1 done in a previous run"), "{run}");
    assert!(
        std::fs::read_to_string(&journal)
            .unwrap()
            .ends_with("\nv (cut)\n"),
        "{run}"
    );
    // And opened again, with the cut record ended.
    let run = jobgraph(&["run", f, "--journal", j, "--resume"], dir.path());
    assert_code(&run, 0);
}

#[test]
fn a_state_file_whose_slurm_ids_are_options_is_refused_before_slurm_is_asked() {
    let dir = tempfile::tempdir().unwrap();
    for id in ["--user=alice", "-u", "12 13", ""] {
        std::fs::write(
            dir.path().join("state.toml"),
            format!(
                "scenario = \"s.toml\"\n[[job]]\nid = \"a\"\nlabel = \"a\"\nslurm_id = \"12\"\ndependency = \"\"\n[[job]]\nid = \"b\"\nlabel = \"b\"\nslurm_id = \"{id}\"\ndependency = \"\"\n"
            ),
        )
        .unwrap();
        for command in ["status", "cancel"] {
            let run = jobgraph(&[command, dir.path().to_str().unwrap()], dir.path());
            assert_code(&run, 2);
            assert!(
                run.stderr.contains(&format!(
                    "state.toml: job `b` has slurm_id {id:?}, which is not a Slurm job id"
                )),
                "{run}"
            );
        }
    }
}

#[test]
fn an_output_that_names_an_input_or_another_output_is_refused_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let text = "[[job]]\nid = \"a\"\ncommand = [\"true\"]\n";
    let file = scenario(dir.path(), text);
    let f = file.to_str().unwrap();
    std::os::unix::fs::symlink(&file, dir.path().join("link.json")).unwrap();
    let hosts = dir.path().join("hosts.dot");
    std::fs::write(&hosts, "127.0.0.1\n").unwrap();
    let h = hosts.to_str().unwrap();
    for (args, what) in [
        (vec!["run", f, "--trace", f], "--trace"),
        (vec!["run", f, "--trace", "./scenario.toml"], "--trace"),
        (vec!["run", f, "--trace", "link.json"], "--trace"),
        (
            vec!["run", f, "--journal", "j", "--trace", "j"],
            "--trace j is --journal too",
        ),
        (
            vec!["graph", f, "--hosts", h, "-o", h],
            "is the --hosts file too",
        ),
    ] {
        let run = jobgraph(&args, dir.path());
        assert_code(&run, 2);
        assert!(run.stderr.contains(what), "{what}: {run}");
        assert!(run.stderr.contains("nothing was written"), "{run}");
        assert_eq!(std::fs::read_to_string(&file).unwrap(), text);
        assert_eq!(std::fs::read_to_string(&hosts).unwrap(), "127.0.0.1\n");
        assert!(!dir.path().join("j").exists(), "{run}");
    }
    // A path of its own is written.
    let run = jobgraph(&["run", f, "--trace", "trace.json"], dir.path());
    assert_code(&run, 0);
    assert!(dir.path().join("trace.json").exists(), "{run}");
}

#[test]
fn instances_whose_ids_make_one_file_name_keep_logs_of_their_own() {
    let (run, _dir, logs) = run_with_logs(
        "[[job]]\nid = \"sim\"\nmatrix = { p = [\"a/b\", \"a_b\", \"a:b\"] }\ncommand = [\"echo\", \"{p}\"]\n",
        &[],
    );
    assert_code(&run, 0);
    // The matrix's order (its values' order), each its own file.
    for (name, printed) in [
        ("sim_p=a_b_", "a/b"),
        ("sim_p=a_b_~2", "a_b"),
        ("sim_p=a_b_~3", "a:b"),
    ] {
        let out = std::fs::read_to_string(logs.join(format!("{name}.stdout"))).unwrap();
        assert_eq!(out, format!("{printed}\n"), "{name}: {run}");
        assert!(logs.join(format!("{name}.stderr")).exists(), "{name}");
    }
    assert_eq!(std::fs::read_dir(&logs).unwrap().count(), 6);
}
