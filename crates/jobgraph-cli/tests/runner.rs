//! The runner as users of make, GNU parallel and pssh expect it: resuming that never
//! reuses a stale result, one meaning of failed, --keep-going and --halt-on-failure,
//! templates over parameters and host lists, targets, and displays that tell the
//! truth. Every case runs the binary on real processes.

mod common;

use std::path::Path;

use common::{jobgraph, scenario, Run};

fn assert_code(run: &Run, code: i32) {
    assert_eq!(run.code, Some(code), "{run}");
}

fn count(dir: &Path, name: &str) -> usize {
    std::fs::read_to_string(dir.join(name))
        .map(|t| t.lines().count())
        .unwrap_or(0)
}

fn chain(d: &str, a_extra: &str) -> String {
    format!(
        r#"
[[job]]
id = "a"
shell = "echo a >> {d}/a.count{a_extra}"
[[job]]
id = "b"
shell = "echo b >> {d}/b.count"
requires = ["a"]
[[job]]
id = "c"
shell = "echo c >> {d}/c.count"
requires = ["b"]
[[job]]
id = "free"
shell = "echo x >> {d}/free.count"
[[group]]
id = "g"
requires = ["a"]
  [[group.job]]
  id = "inner"
  shell = "echo i >> {d}/inner.count"
"#
    )
}

#[test]
fn a_changed_job_reruns_everything_downstream_of_it_and_dry_run_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display().to_string();
    let file = scenario(dir.path(), &chain(&d, ""));
    let journal = dir.path().join("journal");
    let journal = journal.to_str().unwrap();
    let f = file.to_str().unwrap();
    assert_code(&jobgraph(&["run", f, "--journal", journal], dir.path()), 0);
    let counts =
        |names: &[&str]| -> Vec<usize> { names.iter().map(|n| count(dir.path(), n)).collect() };
    let all = ["a.count", "b.count", "c.count", "free.count", "inner.count"];
    assert_eq!(counts(&all), vec![1, 1, 1, 1, 1]);

    // Nothing changed: everything is skipped.
    let run = jobgraph(&["run", f, "--journal", journal, "--resume"], dir.path());
    assert_code(&run, 0);
    assert_eq!(counts(&all), vec![1, 1, 1, 1, 1]);

    // `a` changes: a dry run names what runs and why, and runs nothing.
    let file = scenario(dir.path(), &chain(&d, "; true"));
    let f = file.to_str().unwrap();
    let dry = jobgraph(
        &["run", f, "--journal", journal, "--resume", "--dry-run"],
        dir.path(),
    );
    assert_code(&dry, 0);
    for line in [
        "run  a: its command, host, env or cwd changed",
        "run  b: `a`, which it comes after, runs",
        "run  c: `b`, which it comes after, runs",
        "run  inner: `a`, which it comes after, runs (its group `g` requires it)",
        "skip free: done in a previous run",
    ] {
        assert!(dry.stdout.contains(line), "{line}: {dry}");
    }
    assert!(
        dry.stdout
            .contains("dry run: 5 job(s), 4 to run, 1 done in a previous run"),
        "{dry}"
    );
    assert_eq!(counts(&all), vec![1, 1, 1, 1, 1]);

    // Resumed: `a` and everything after it run again, `free` does not.
    let run = jobgraph(&["run", f, "--journal", journal, "--resume"], dir.path());
    assert_code(&run, 0);
    assert_eq!(counts(&all), vec![2, 2, 2, 1, 2]);
    assert!(
        run.stdout.contains("5 ok (1 done in a previous run)"),
        "{run}"
    );
}

#[test]
fn a_job_downstream_of_a_change_reruns_even_when_the_change_ran_in_an_interrupted_run() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display().to_string();
    let journal = dir.path().join("journal");
    let journal = journal.to_str().unwrap();
    let file = scenario(dir.path(), &chain(&d, ""));
    let f = file.to_str().unwrap();
    assert_code(&jobgraph(&["run", f, "--journal", journal], dir.path()), 0);
    // `a` changes, and only `a` runs (a target): `b` and `c` keep their old records.
    let file = scenario(dir.path(), &chain(&d, "; true"));
    let f = file.to_str().unwrap();
    let run = jobgraph(
        &["run", f, "a", "--journal", journal, "--resume"],
        dir.path(),
    );
    assert_code(&run, 0);
    assert_eq!(count(dir.path(), "a.count"), 2);
    assert_eq!(count(dir.path(), "b.count"), 1);
    // The next resume skips `a` (done, same key) but not `b`: what it comes after
    // changed since it ran.
    let dry = jobgraph(
        &["run", f, "--journal", journal, "--resume", "--dry-run"],
        dir.path(),
    );
    assert!(
        dry.stdout.contains("skip a: done in a previous run"),
        "{dry}"
    );
    assert!(
        dry.stdout
            .contains("run  b: something it comes after changed since it ran"),
        "{dry}"
    );
    let run = jobgraph(&["run", f, "--journal", journal, "--resume"], dir.path());
    assert_code(&run, 0);
    assert_eq!(
        (count(dir.path(), "a.count"), count(dir.path(), "b.count")),
        (2, 2)
    );
}

#[test]
fn non_critical_failures_leave_the_run_succeeded_unless_strict() {
    let dir = tempfile::tempdir().unwrap();
    let file = scenario(
        dir.path(),
        "[[job]]\nid = \"ok\"\ncommand = [\"true\"]\n\
         [[job]]\nid = \"flaky\"\nshell = \"echo nope >&2; exit 3\"\ncritical = false\n",
    );
    let f = file.to_str().unwrap();
    let run = jobgraph(&["run", f], dir.path());
    assert_code(&run, 0);
    assert!(!run.stdout.contains("FINE"), "{run}");
    assert!(
        run.stdout
            .contains("----- the run succeeded; 1 non-critical job(s) failed"),
        "{run}"
    );
    assert!(run.stdout.contains("nope"), "{run}");
    assert!(
        run.stdout
            .contains("1 ok, 1 failed (non-critical), 0 not run"),
        "{run}"
    );
    let strict = jobgraph(&["run", f, "--strict"], dir.path());
    assert_code(&strict, 1);
    assert!(strict.stdout.contains("--strict"), "{strict}");
}

#[test]
fn keep_going_runs_what_does_not_come_after_a_failure() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display();
    let file = scenario(
        dir.path(),
        &format!(
            "[[job]]\nid = \"bad\"\nshell = \"exit 3\"\n\
             [[job]]\nid = \"after\"\nshell = \"touch {d}/after\"\nrequires = [\"bad\"]\n\
             [[job]]\nid = \"free\"\nshell = \"sleep 0.3; touch {d}/free\"\n\
             [[group]]\nid = \"g\"\nrequires = [\"bad\"]\n  [[group.job]]\n  id = \"in-g\"\n  shell = \"touch {d}/in-g\"\n"
        ),
    );
    let f = file.to_str().unwrap();
    // Without it: the critical failure stops the run; `free` is cancelled.
    let run = jobgraph(&["run", f], dir.path());
    assert_code(&run, 1);
    assert!(!dir.path().join("free").exists(), "{run}");
    // With it: `free` runs to its end; what comes after `bad` does not run; exit 1,
    // since `bad` is critical in the file.
    let run = jobgraph(&["run", f, "--keep-going"], dir.path());
    assert_code(&run, 1);
    assert!(dir.path().join("free").exists(), "{run}");
    assert!(!dir.path().join("after").exists(), "{run}");
    assert!(!dir.path().join("in-g").exists(), "{run}");
    assert!(run.stdout.contains("1 ok, 1 failed, 2 not run"), "{run}");
    assert!(
        run.stdout
            .contains("--keep-going ran what did not come after them"),
        "{run}"
    );
}

#[test]
fn halt_on_failure_stops_at_a_non_critical_failure() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display();
    let file = scenario(
        dir.path(),
        &format!(
            "[[job]]\nid = \"flaky\"\nshell = \"exit 3\"\ncritical = false\n\
             [[job]]\nid = \"slow\"\nshell = \"sleep 20; touch {d}/slow\"\n"
        ),
    );
    let f = file.to_str().unwrap();
    let started = std::time::Instant::now();
    let run = jobgraph(&["run", f, "--halt-on-failure"], dir.path());
    assert_code(&run, 1);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(15),
        "{run}"
    );
    assert!(!dir.path().join("slow").exists());
    assert!(run.stdout.contains("1 cancelled"), "{run}");
}

const TEMPLATES: &str = r#"
[vars]
greeting = "hi"

[[job]]
id = "prep"
command = ["echo", "{greeting}"]

[[job]]
id = "sim"
matrix = { size = [1, 2], word = ["a", "b c"] }
label = "sim {word} x{size}"
command = ["echo", "{word}-{size}", "{{size}}", "${HOME}", "{unknown}", "awk '{print}'"]
env = { SIZE = "{size}" }
requires = ["prep"]

[[job]]
id = "two"
shell = "echo two"
requires = ["sim[size=2]"]

[[job]]
id = "merge"
shell = "echo merged"
requires = ["sim"]
"#;

#[test]
fn a_matrix_makes_one_instance_per_combination_and_requirements_name_them() {
    let dir = tempfile::tempdir().unwrap();
    let file = scenario(dir.path(), TEMPLATES);
    let f = file.to_str().unwrap();
    let list = jobgraph(&["list", f], dir.path());
    assert_code(&list, 0);
    for line in [
        "prep\n",
        "sim[size=1,word=a]  (sim a x1)  requires prep\n",
        "sim[size=2,word=b c]  (sim b c x2)  requires prep\n",
        "two  requires sim[size=2,word=a], sim[size=2,word=b c]\n",
        "merge  requires sim[size=1,word=a], sim[size=1,word=b c], sim[size=2,word=a], sim[size=2,word=b c]\n",
    ] {
        assert!(list.stdout.contains(line), "{line}: {list}");
    }
    let check = jobgraph(&["check", f], dir.path());
    assert_code(&check, 0);
    assert!(check.stdout.contains("ok, 7 job(s)"), "{check}");
    assert!(
        check.stdout.contains("env -- SIZE=2 echo 'b c-2'"),
        "{check}"
    );
    let run = jobgraph(&["run", f, "--set", "greeting=hello"], dir.path());
    assert_code(&run, 0);
    assert!(run.stdout.contains("[prep] hello\n"), "{run}");
    // Defined names are replaced; `{{size}}` is the text `{size}`; the shell's
    // `${HOME}`, an unknown name and awk's braces stay as they are.
    assert!(
        run.stdout
            .contains("[sim b c x2] b c-2 {size} ${HOME} {unknown} awk '{print}'\n"),
        "{run}"
    );
    assert!(run.stdout.contains("7 ok, 0 failed, 0 not run"), "{run}");
}

#[test]
fn a_hosts_file_expands_a_matrix_over_hosts() {
    let dir = tempfile::tempdir().unwrap();
    let file = scenario(
        dir.path(),
        "[[job]]\nid = \"up\"\nmatrix = { host = \"{hosts}\" }\nhost = \"{host}\"\ncommand = [\"uptime\"]\n",
    );
    let hosts = dir.path().join("hosts");
    std::fs::write(
        &hosts,
        "# two nodes\n127.0.0.1:2222\n\nroot@127.0.0.2:2223  # the other\n",
    )
    .unwrap();
    let f = file.to_str().unwrap();
    let list = jobgraph(&["list", f, "--hosts", hosts.to_str().unwrap()], dir.path());
    assert_code(&list, 0);
    assert!(list.stdout.contains("up[host=127.0.0.1:2222]\n"), "{list}");
    assert!(
        list.stdout.contains("up[host=root@127.0.0.2:2223]\n"),
        "{list}"
    );
    let check = jobgraph(
        &["check", f, "--hosts", hosts.to_str().unwrap()],
        dir.path(),
    );
    assert!(
        check
            .stdout
            .contains("ssh -p 2223 root@127.0.0.2 -- uptime"),
        "{check}"
    );
    // Without the list: a clear error at the matrix.
    let missing = jobgraph(&["check", f], dir.path());
    assert_code(&missing, 2);
    assert!(
        missing
            .stderr
            .contains("scenario.toml:3:10: job `up`: matrix `host`"),
        "{missing}"
    );
    // A bad line in the hosts file names its line.
    std::fs::write(&hosts, "ok-host\n-oProxyCommand=x\n").unwrap();
    let bad = jobgraph(
        &["check", f, "--hosts", hosts.to_str().unwrap()],
        dir.path(),
    );
    assert_code(&bad, 2);
    assert!(bad.stderr.contains("hosts:2: bad ssh host"), "{bad}");
}

#[test]
fn template_mistakes_are_errors_with_positions() {
    for (text, what) in [
        (
            "[[job]]\nid = \"s\"\nmatrix = { n = [] }\ncommand = [\"true\"]\n",
            "scenario.toml:3:10: job `s`: matrix `n` is empty",
        ),
        (
            "[[job]]\nid = \"s\"\nmatrix = { n = [1] }\ncommand = [\"true\"]\n[[job]]\nid = \"t\"\ncommand = [\"true\"]\nrequires = [\"s[m=1]\"]\n",
            "scenario.toml:8:13: `s[m=1]`: `s` has no parameter `m` (it has `n`)",
        ),
        (
            "[[job]]\nid = \"s\"\nmatrix = { n = [1] }\ncommand = [\"true\"]\n[[job]]\nid = \"t\"\ncommand = [\"true\"]\nrequires = [\"s[n=2]\"]\n",
            "`s[n=2]` matches no instance of `s`",
        ),
        (
            "[vars]\nl = [1, 2]\n[[job]]\nid = \"s\"\ncommand = [\"echo\", \"{l}\"]\n",
            "`{l}` is a list",
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let file = scenario(dir.path(), text);
        let run = jobgraph(&["check", file.to_str().unwrap()], dir.path());
        assert_code(&run, 2);
        assert!(run.stderr.contains(what), "{what}: {run}");
    }
}

#[test]
fn targets_run_only_what_they_need() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display().to_string();
    let file = scenario(dir.path(), &chain(&d, ""));
    let f = file.to_str().unwrap();
    let run = jobgraph(&["run", f, "b"], dir.path());
    assert_code(&run, 0);
    let counts: Vec<usize> = ["a.count", "b.count", "c.count", "free.count", "inner.count"]
        .iter()
        .map(|n| count(dir.path(), n))
        .collect();
    assert_eq!(counts, vec![1, 1, 0, 0, 0], "{run}");
    // A job inside a group: its group comes, with what the group requires.
    let run = jobgraph(&["run", f, "inner"], dir.path());
    assert_code(&run, 0);
    assert_eq!(count(dir.path(), "a.count"), 2);
    assert_eq!(count(dir.path(), "inner.count"), 1);
    assert_eq!(count(dir.path(), "free.count"), 0);
    let unknown = jobgraph(&["run", f, "nope"], dir.path());
    assert_code(&unknown, 2);
    assert!(
        unknown.stderr.contains("no job or group `nope`"),
        "{unknown}"
    );
}

#[test]
fn window_0_on_the_command_line_means_no_limit() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display();
    // Each job waits (10 s at most) until all four have started: they can only
    // succeed when the four run at once.
    let mut text = String::from("window = 1\n");
    for i in 0..4 {
        text.push_str(&format!(
            "[[job]]\nid = \"j{i}\"\nshell = \"echo >> {d}/started; for i in $(seq 100); do [ $(wc -l < {d}/started) -ge 4 ] && exit 0; sleep 0.1; done; exit 1\"\n"
        ));
    }
    let file = scenario(dir.path(), &text);
    let run = jobgraph(
        &["run", file.to_str().unwrap(), "--window", "0"],
        dir.path(),
    );
    assert_code(&run, 0);
    assert!(run.stdout.contains("4 ok, 0 failed"), "{run}");
}

#[test]
fn a_relative_cwd_is_the_scenario_folders_and_a_missing_one_is_its_own_error() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("scenarios");
    std::fs::create_dir_all(folder.join("work")).unwrap();
    let file = scenario(
        &folder,
        "[[job]]\nid = \"where\"\ncommand = [\"pwd\"]\ncwd = \"work\"\n",
    );
    // Run from elsewhere: the cwd is still the scenario's folder's `work`.
    let run = jobgraph(&["run", file.to_str().unwrap()], dir.path());
    assert_code(&run, 0);
    let expected = folder.join("work").canonicalize().unwrap();
    assert!(
        run.stdout
            .contains(&format!("[where] {}\n", expected.display())),
        "{run}"
    );
    // Missing, with nothing before the job that could make it: an error of `check`.
    let file = scenario(
        &folder,
        "[[job]]\nid = \"where\"\ncommand = [\"pwd\"]\ncwd = \"nowhere\"\n",
    );
    let run = jobgraph(&["check", file.to_str().unwrap()], dir.path());
    assert_code(&run, 2);
    assert!(
        run.stderr.contains("scenario.toml:4:7: job `where`: cwd"),
        "{run}"
    );
    assert!(run.stderr.contains("nowhere` does not exist"), "{run}");
    // Missing after another job: a warning, then the job's own error if still missing.
    let file = scenario(
        &folder,
        "[[job]]\nid = \"first\"\ncommand = [\"true\"]\n[[job]]\nid = \"where\"\ncommand = [\"pwd\"]\ncwd = \"nowhere\"\nrequires = [\"first\"]\n",
    );
    let run = jobgraph(&["run", file.to_str().unwrap()], dir.path());
    assert_code(&run, 1);
    assert!(run.stderr.contains("jobgraph: warning:"), "{run}");
    assert!(run.stdout.contains("its working directory"), "{run}");
    assert!(run.stdout.contains("nowhere` does not exist"), "{run}");
}

#[test]
fn check_shows_commands_as_a_shell_would_run_them() {
    let dir = tempfile::tempdir().unwrap();
    let file = scenario(
        dir.path(),
        "[[job]]\nid = \"local\"\ncommand = [\"printf\", '%s\\n', \"it's\"]\nenv = { K = \"a b\" }\ncwd = \"/\"\n\
         [[job]]\nid = \"remote\"\nhost = \"alice@node:2222\"\nshell = \"uptime | wc\"\n",
    );
    let run = jobgraph(&["check", file.to_str().unwrap()], dir.path());
    assert_code(&run, 0);
    assert!(
        run.stdout
            .contains(r"cd -- / && env -- 'K=a b' printf '%s\n' 'it'\''s'"),
        "{run}"
    );
    assert!(
        run.stdout
            .contains(r"ssh -p 2222 alice@node -- 'sh -c -- '\''uptime | wc'\'''"),
        "{run}"
    );
}

#[test]
fn a_jobs_timeout_is_the_schedulers_and_the_journal_says_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let file = scenario(
        dir.path(),
        "[[job]]\nid = \"slow\"\nshell = \"sleep 30\"\ntimeout = \"300ms\"\ncritical = false\n\
         [[job]]\nid = \"after\"\ncommand = [\"true\"]\nrequires = [\"slow\"]\n",
    );
    let journal = dir.path().join("journal");
    let run = jobgraph(
        &[
            "run",
            file.to_str().unwrap(),
            "--journal",
            journal.to_str().unwrap(),
        ],
        dir.path(),
    );
    // Not critical: the run succeeds, and tells the timeout.
    assert_code(&run, 0);
    assert!(run.stdout.contains("timed out after 300ms"), "{run}");
    assert!(
        run.stdout
            .contains("1 ok, 1 failed (non-critical), 0 not run"),
        "{run}"
    );
    let text = std::fs::read_to_string(&journal).unwrap();
    assert!(text.contains(" timeout slow\n"), "{text}");
}

#[test]
fn a_flaky_command_is_tried_again_and_retry_on_names_what_is_worth_it() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display();
    // Fails twice (exit 75), then succeeds.
    let flaky = format!(
        "echo x >> {d}/tries; [ $(wc -l < {d}/tries) -ge 3 ] || exit 75; echo third time lucky"
    );
    let file = scenario(
        dir.path(),
        &format!(
            "[[job]]\nid = \"flaky\"\nshell = \"{flaky}\"\nretries = 3\nretry_delay = {{ first = \"10ms\", factor = 2, max = \"1s\" }}\nretry_on = [75]\n\
             [[job]]\nid = \"after\"\nshell = \"echo after\"\nrequires = [\"flaky\"]\n"
        ),
    );
    let run = jobgraph(&["run", file.to_str().unwrap(), "--verbose"], dir.path());
    assert_code(&run, 0);
    assert!(run.stdout.contains("[flaky] third time lucky"), "{run}");
    assert!(run.stdout.contains("(3 attempts)"), "{run}");
    assert_eq!(count(dir.path(), "tries"), 3);

    // An exit status not listed is not tried again.
    std::fs::remove_file(dir.path().join("tries")).unwrap();
    let other = scenario(
        dir.path(),
        &format!("[[job]]\nid = \"once\"\nshell = \"echo x >> {d}/tries; exit 4\"\nretries = 3\nretry_on = [75]\n"),
    );
    let run = jobgraph(&["run", other.to_str().unwrap()], dir.path());
    assert_code(&run, 1);
    assert_eq!(count(dir.path(), "tries"), 1);

    // Mistakes are refused where they are.
    for (text, what) in [
        ("retries = 5000", "`retries` is at most 1000"),
        ("retry_delay = \"1s\"", "need `retries`"),
        ("retries = 1\nretry_on = \"sometimes\"", "`retry_on` is"),
        (
            "retries = 1\nretry_delay = { first = \"1s\", factor = 0.5 }",
            "`factor` is at least 1",
        ),
    ] {
        let bad = scenario(
            dir.path(),
            &format!("[[job]]\nid = \"j\"\ncommand = [\"true\"]\n{text}\n"),
        );
        let run = jobgraph(&["check", bad.to_str().unwrap()], dir.path());
        assert_code(&run, 2);
        // At the key's line: the fourth or, for two keys, the fifth.
        assert!(
            run.stderr.contains("scenario.toml:4:") || run.stderr.contains("scenario.toml:5:"),
            "{what}: {run}"
        );
        assert!(run.stderr.contains(what), "{what}: {run}");
    }
}

/// `[limits]` and `uses`: jobs that use a limit never overlap beyond it (each marks its
/// start and end in a shared file, under `flock`), a group shares the top level's
/// limit, and bad values are refused at their line and column.
#[test]
fn a_limits_table_caps_the_jobs_that_use_it_and_bad_values_are_refused_where_written() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display().to_string();
    let user = |id: &str| {
        format!(
            r#"
[[job]]
id = "{id}"
uses = {{ gpu = 1 }}
shell = "flock {d}/lock sh -c 'echo + >> {d}/trace'; sleep 0.2; flock {d}/lock sh -c 'echo - >> {d}/trace'"
"#
        )
    };
    let mut text = "window = 8\n[limits]\ngpu = 1\n".to_string();
    for id in ["a", "b", "c"] {
        text.push_str(&user(id));
    }
    text.push_str("[[group]]\nid = \"g\"\n");
    text.push_str(&user("inner").replace("[[job]]", "  [[group.job]]"));
    let file = scenario(dir.path(), &text);
    let run = jobgraph(&["run", file.to_str().unwrap()], dir.path());
    assert_code(&run, 0);
    let trace = std::fs::read_to_string(dir.path().join("trace")).unwrap();
    let (mut now, mut most) = (0i32, 0i32);
    for mark in trace.lines() {
        now += if mark == "+" { 1 } else { -1 };
        most = most.max(now);
    }
    assert_eq!((trace.lines().count(), most), (8, 1), "{trace}");

    for (bad, at, says) in [
        (
            "[limits]\ngpu = 0\n",
            "2:7",
            "must be a whole number from 1",
        ),
        (
            "[[job]]\nid = \"a\"\nshell = \"true\"\nuses = { gpu = 1 }\n",
            "4:10",
            "no `[limits]` table around it defines",
        ),
        (
            "[limits]\ngpu = 2\n[[job]]\nid = \"a\"\nshell = \"true\"\nuses = { gpu = 3 }\n",
            "6:16",
            "give from 1 to its limit, 2",
        ),
        (
            "[limits]\ngpu = 2\n[[job]]\nid = \"a\"\nshell = \"true\"\nuses = { gpu = -1 }\n",
            "6:16",
            "uses -1 of `gpu`",
        ),
        (
            "[limits]\ngpu = 2\n[[job]]\nid = \"a\"\nshell = \"true\"\nforever = true\nuses = { gpu = 1 }\n",
            "7:8",
            "is forever",
        ),
    ] {
        let file = scenario(dir.path(), bad);
        let run = jobgraph(&["check", file.to_str().unwrap()], dir.path());
        assert_code(&run, 2);
        assert!(
            run.stderr.contains(&format!(":{at}:")) && run.stderr.contains(says),
            "{bad}: {run}"
        );
    }
}

/// `a`, then `slow` and `fast` side by side, then `join`; and a group after `a`.
const DIAMOND: &str = r#"
window = 2
[[job]]
id = "a"
command = ["true"]
[[job]]
id = "slow"
command = ["sleep", "0.4"]
requires = ["a"]
[[job]]
id = "fast"
command = ["true"]
requires = ["a"]
[[job]]
id = "join"
command = ["true"]
requires = ["slow", "fast"]
[[group]]
id = "g"
requires = ["a"]
  [[group.job]]
  id = "inner"
  command = ["true"]
"#;

#[test]
fn verbose_ends_with_the_critical_path() {
    let dir = tempfile::tempdir().unwrap();
    let file = scenario(dir.path(), DIAMOND);
    let run = jobgraph(&["run", file.to_str().unwrap(), "--verbose"], dir.path());
    assert_code(&run, 0);
    let at = run
        .stdout
        .find("===== critical path: 3 job(s), ")
        .unwrap_or_else(|| panic!("{run}"));
    let path: Vec<&str> = run.stdout[at..]
        .lines()
        .skip(1)
        .take(3)
        .map(|line| line.split_whitespace().next().unwrap())
        .collect();
    assert_eq!(path, ["a", "slow", "join"], "{run}");
    // Without --verbose, a clean run says nothing of it.
    let quiet = jobgraph(&["run", file.to_str().unwrap()], dir.path());
    assert_code(&quiet, 0);
    assert!(!quiet.stdout.contains("critical path"), "{quiet}");
}

#[test]
fn trace_writes_a_chrome_trace_with_a_track_per_worker() {
    let dir = tempfile::tempdir().unwrap();
    let file = scenario(dir.path(), DIAMOND);
    let trace = dir.path().join("run.trace.json");
    let run = jobgraph(
        &[
            "run",
            file.to_str().unwrap(),
            "--trace",
            trace.to_str().unwrap(),
        ],
        dir.path(),
    );
    assert_code(&run, 0);
    assert!(run.stdout.contains("trace written to "), "{run}");
    let text = std::fs::read_to_string(&trace).unwrap();
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    let events = json["traceEvents"].as_array().unwrap();
    let slice = |name: &str| {
        let found: Vec<&serde_json::Value> = events
            .iter()
            .filter(|e| e["ph"] == "X" && e["name"] == name)
            .collect();
        assert_eq!(found.len(), 1, "{name}: {text}");
        found[0].clone()
    };
    for name in ["a", "slow", "fast", "join", "g"] {
        assert_eq!(slice(name)["pid"], 1, "{text}");
        assert_eq!(slice(name)["args"]["outcome"], "done", "{text}");
    }
    // `slow` holds a worker while `fast` (and the group) run on the other.
    assert_ne!(slice("slow")["tid"], slice("fast")["tid"], "{text}");
    let tracks: std::collections::BTreeSet<i64> = events
        .iter()
        .filter(|e| e["ph"] == "M" && e["name"] == "thread_name" && e["pid"] == 1)
        .map(|e| e["tid"].as_i64().unwrap())
        .collect();
    assert_eq!(tracks, [0, 1].into(), "{text}");
    // The group's job in a process of its own.
    assert_eq!(slice("inner")["pid"], 2, "{text}");
}

#[test]
fn a_trace_that_cannot_be_written_is_a_warning_not_a_failure() {
    let dir = tempfile::tempdir().unwrap();
    let file = scenario(dir.path(), "[[job]]\nid = \"a\"\ncommand = [\"true\"]\n");
    let trace = dir.path().join("no such folder").join("run.json");
    let run = jobgraph(
        &[
            "run",
            file.to_str().unwrap(),
            "--trace",
            trace.to_str().unwrap(),
        ],
        dir.path(),
    );
    assert_code(&run, 0);
    assert!(run.stderr.contains("cannot write the trace"), "{run}");
}

#[test]
fn priorities_and_costs_order_the_commands_of_a_narrow_window() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display();
    let log = |name: &str| format!("shell = \"echo {name} >> {d}/order\"");
    let file = scenario(
        dir.path(),
        &format!(
            "window = 1\n\
             [[job]]\nid = \"plain\"\n{}\n\
             [[job]]\nid = \"long\"\n{}\ncost = 5\n\
             [[job]]\nid = \"urgent\"\n{}\npriority = 2\ncost = 0.5\n",
            log("plain"),
            log("long"),
            log("urgent"),
        ),
    );
    let run = jobgraph(&["run", file.to_str().unwrap()], dir.path());
    assert_code(&run, 0);
    let order = std::fs::read_to_string(dir.path().join("order")).unwrap();
    assert_eq!(order, "urgent\nlong\nplain\n");

    // No hint at all: `longest_path_first` starts the head of the long chain first.
    let chain = |id: &str, after: &str| {
        format!(
            "[[job]]\nid = \"{id}\"\n{}\nrequires = [{after}]\n",
            log(id)
        )
    };
    let text = format!(
        "window = 1\nlongest_path_first = true\n{}{}{}{}",
        chain("short", ""),
        chain("head", ""),
        chain("middle", "\"head\""),
        chain("tail", "\"middle\""),
    );
    std::fs::remove_file(dir.path().join("order")).unwrap();
    let run = jobgraph(
        &["run", scenario(dir.path(), &text).to_str().unwrap()],
        dir.path(),
    );
    assert_code(&run, 0);
    let order = std::fs::read_to_string(dir.path().join("order")).unwrap();
    // `short` and `tail` have one job left each: the one added first goes first.
    assert_eq!(order, "head\nmiddle\nshort\ntail\n");

    // Mistakes are refused where they are, on the key's line (the fourth or fifth).
    for (text, what) in [
        ("cost = -1", "a cost is a finite number of at least 0"),
        ("cost = nan", "a cost is a finite number of at least 0"),
        ("cost = inf", "a cost is a finite number of at least 0"),
        ("cost = \"big\"", "a cost: a finite number"),
        ("priority = 1.5", "i32"),
        ("priority = 3000000000", "i32"),
        (
            "forever = true\npriority = 1",
            "a forever job takes no `priority`",
        ),
        ("forever = true\ncost = 2", "a forever job takes no `cost`"),
    ] {
        let bad = scenario(
            dir.path(),
            &format!("[[job]]\nid = \"j\"\ncommand = [\"true\"]\n{text}\n"),
        );
        let run = jobgraph(&["check", bad.to_str().unwrap()], dir.path());
        assert_code(&run, 2);
        assert!(
            run.stderr.contains("scenario.toml:4:") || run.stderr.contains("scenario.toml:5:"),
            "{what}: {run}"
        );
        assert!(run.stderr.contains(what), "{what}: {run}");
    }
}
