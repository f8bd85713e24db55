//! SshPush, SshPull and SshScript against a real sshd on 127.0.0.1 (started by the
//! test, with an SFTP server), and their clear errors when there is none.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use jobgraph::{AbstractJob, Job, JobState, Scheduler};
use jobgraph_command::{
    CommandError, CommandOutput, Line, Sink, SshHost, SshJob, SshPull, SshPush, SshScript,
};
use jobgraph_test_support::sshd::Sshd;

fn host_for(sshd: &Sshd) -> SshHost {
    let mut host = SshHost::parse(&sshd.target()).unwrap().identity(&sshd.key);
    for option in sshd.options() {
        host = host.option(option);
    }
    host
}

/// An sshd with an SFTP server, as scp needs.
fn start() -> Option<Sshd> {
    match Sshd::start_with("Subsystem sftp internal-sftp\n") {
        Ok(sshd) => Some(sshd),
        Err(why) => {
            jobgraph_test_support::skipped(&format!("real sshd path: {why}"));
            None
        }
    }
}

/// Waits (at most 5 s) for a process to be gone; true when it is.
fn gone(pid: i32) -> bool {
    jobgraph_test_support::gone(pid, Duration::from_secs(5))
}

/// Processes whose command line (its words joined by spaces) holds every needle.
fn processes_mentioning(needles: &[&str]) -> Vec<i32> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        if let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) {
            let words = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            if needles.iter().all(|n| words.contains(n)) && jobgraph_test_support::alive(pid) {
                found.push(pid);
            }
        }
    }
    found
}

/// Runs one job alone, not critical: its value or its error's text.
fn outcome<J>(job: J) -> Result<CommandOutput, String>
where
    J: AbstractJob<Output = Result<CommandOutput, CommandError>>,
{
    let job = Job::custom(job).critical(false);
    let s = Scheduler::new().add(&job).clone();
    assert!(s.run().unwrap());
    s.shutdown();
    match job.raised_exception() {
        Some(error) => Err(error.to_string()),
        None => Ok(job.result().unwrap().clone()),
    }
}

/// Every byte value, twice, and a last line without a newline.
fn odd_bytes() -> Vec<u8> {
    let mut bytes: Vec<u8> = (0..=255u8).chain(0..=255u8).collect();
    bytes.extend_from_slice(b"\r\nno newline");
    bytes
}

fn home() -> PathBuf {
    PathBuf::from(std::env::var("HOME").unwrap_or_else(|_| "/root".into()))
}

#[test]
fn labels_and_details_say_what_is_copied_where() {
    let host = SshHost::parse("alice@node-1:2222").unwrap();
    let push = SshPush::new(&host, ["a b.txt"], "dir");
    assert_eq!(push.text_label().unwrap(), "push 'a b.txt' to node-1:dir");
    let push = SshPush::new(&host, ["a", "b", "c"], "").recursive(true);
    assert_eq!(push.text_label().unwrap(), "push 3 file(s) to node-1:");
    assert_eq!(push.kind(), "SshPush");
    assert_eq!(
        push.details().unwrap(),
        "push -r a b c to the login directory on alice@node-1:2222"
    );
    let pull = SshPull::new(&host, ["/var/log/x y"], "/tmp").preserve(true);
    assert_eq!(
        pull.text_label().unwrap(),
        "pull node-1:'/var/log/x y' to /tmp"
    );
    assert_eq!(
        pull.details().unwrap(),
        "pull -p '/var/log/x y' from alice@node-1:2222 to /tmp"
    );
    let pull = SshPull::new(&host, ["a", "b"], "out");
    assert_eq!(
        pull.text_label().unwrap(),
        "pull 2 file(s) from node-1 to out"
    );
    assert_eq!(pull.kind(), "SshPull");
    let script = SshScript::new(&host, "scripts/setup.sh").args(["a b", "$X"]);
    assert_eq!(script.text_label().unwrap(), "node-1: setup.sh 'a b' '$X'");
    assert_eq!(script.kind(), "SshScript");
    let details = script.details().unwrap();
    assert!(
        details.starts_with("script scripts/setup.sh 'a b' '$X' on alice@node-1:2222"),
        "{details}"
    );
    assert!(details.contains("/setup.sh' 'a b' '$X'"), "{details}");
    // In a listing.
    let s = Scheduler::new();
    s.add(Job::custom(SshPush::new(&host, ["f"], "d")));
    let listing = s.list().to_string();
    assert!(listing.contains("push f to node-1:d"), "{listing}");
}

#[test]
fn bad_paths_and_arguments_are_refused_before_anything_starts() {
    let host = SshHost::parse("127.0.0.1:1").unwrap();
    let refused = [
        outcome(SshPush::new(&host, Vec::<&str>::new(), "d")),
        outcome(SshPush::new(&host, [""], "d")),
        outcome(SshPush::new(&host, ["f"], "a\0b")),
        outcome(SshPull::new(&host, Vec::<String>::new(), "/tmp")),
        outcome(SshPull::new(&host, [""], "/tmp")),
        outcome(SshPull::new(&host, ["x"], "/nonexistent-jobgraph-dir")),
        outcome(SshPush::new(
            &SshHost::parse("h").unwrap().option("ControlPath=/x"),
            ["f"],
            "d",
        )),
        outcome(SshScript::text(&host, "true").arg("a\0b")),
        outcome(SshScript::text(&host, "true").env("-S x", "v")),
        outcome(SshScript::new(&host, "/nonexistent-jobgraph-script.sh")),
    ];
    for error in refused {
        let error = error.unwrap_err();
        assert!(error.contains("was not started"), "{error}");
    }
}

#[test]
fn a_file_with_an_odd_name_is_pushed_and_pulled_back_byte_for_byte() {
    let Some(sshd) = start() else { return };
    let host = host_for(&sshd);
    let local = tempfile::tempdir().unwrap();
    let name = "it's a \"file\" $(x) `y` ; -n \\ *.bin";
    std::fs::write(local.path().join(name), odd_bytes()).unwrap();
    std::fs::write(local.path().join("h:x"), b"colon").unwrap();
    // The remote directory (on this machine, as the host is 127.0.0.1) is odd too.
    let remote = sshd.dir().join("remote dir 'x' $HOME");
    std::fs::create_dir(&remote).unwrap();
    let remote_text = remote.to_str().unwrap().to_string();
    let push = SshPush::new(
        &host,
        [local.path().join(name), local.path().join("h:x")],
        &remote_text,
    )
    .preserve(true);
    outcome(push).unwrap();
    assert_eq!(std::fs::read(remote.join(name)).unwrap(), odd_bytes());
    assert_eq!(std::fs::read(remote.join("h:x")).unwrap(), b"colon");
    // Pulled back by its remote path, into another directory.
    let back = tempfile::tempdir().unwrap();
    let pull = SshPull::new(
        &host,
        [
            format!("{remote_text}/{name}"),
            format!("{remote_text}/h:x"),
        ],
        back.path(),
    );
    outcome(pull).unwrap();
    assert_eq!(std::fs::read(back.path().join(name)).unwrap(), odd_bytes());
    assert_eq!(std::fs::read(back.path().join("h:x")).unwrap(), b"colon");
    assert_eq!(std::fs::read_dir(back.path()).unwrap().count(), 2);
}

#[test]
fn a_directory_is_pushed_and_pulled_recursively() {
    let Some(sshd) = start() else { return };
    let host = host_for(&sshd);
    let local = tempfile::tempdir().unwrap();
    let tree = local.path().join("tree one");
    std::fs::create_dir_all(tree.join("sub dir/deeper")).unwrap();
    std::fs::write(tree.join("top.txt"), b"top").unwrap();
    std::fs::write(tree.join("sub dir/deeper/$(leaf)"), odd_bytes()).unwrap();
    let remote = sshd.dir().join("pushed");
    std::fs::create_dir(&remote).unwrap();
    let remote_text = remote.to_str().unwrap();
    // Without `recursive`, a directory is an error.
    let error = outcome(SshPush::new(&host, [&tree], remote_text)).unwrap_err();
    assert!(error.contains("tree one"), "{error}");
    outcome(SshPush::new(&host, [&tree], remote_text).recursive(true)).unwrap();
    assert_eq!(
        std::fs::read(remote.join("tree one/top.txt")).unwrap(),
        b"top"
    );
    assert_eq!(
        std::fs::read(remote.join("tree one/sub dir/deeper/$(leaf)")).unwrap(),
        odd_bytes()
    );
    let back = tempfile::tempdir().unwrap();
    let pull = SshPull::new(&host, [format!("{remote_text}/tree one")], back.path());
    outcome(pull.recursive(true)).unwrap();
    assert_eq!(
        std::fs::read(back.path().join("tree one/sub dir/deeper/$(leaf)")).unwrap(),
        odd_bytes()
    );
}

#[test]
fn a_missing_remote_path_is_an_error_naming_the_host_and_the_path() {
    let Some(sshd) = start() else { return };
    let host = host_for(&sshd);
    let missing = sshd.dir().join("no such dir/file");
    let missing = missing.to_str().unwrap();
    let back = tempfile::tempdir().unwrap();
    let error = outcome(SshPull::new(&host, [missing], back.path())).unwrap_err();
    assert!(error.contains(&sshd.target()), "{error}");
    assert!(error.contains(missing), "{error}");
    assert!(error.contains("No such file"), "{error}");
    // A push to a directory that does not exist fails rather than writing a file of
    // that name.
    let file = back.path().join("f");
    std::fs::write(&file, b"x").unwrap();
    let dir = sshd.dir().join("not made");
    let error = outcome(SshPush::new(&host, [&file], dir.to_str().unwrap())).unwrap_err();
    assert!(error.contains(&sshd.target()), "{error}");
    assert!(error.contains("not made"), "{error}");
    assert!(!dir.exists());
    // An sshd without an SFTP server: the error says what scp said.
    let bare = match Sshd::start() {
        Ok(sshd) => sshd,
        Err(why) => return jobgraph_test_support::skipped(&format!("real sshd path: {why}")),
    };
    let error = outcome(SshPush::new(&host_for(&bare), [&file], "")).unwrap_err();
    assert!(error.contains(&bare.target()), "{error}");
    assert!(error.contains("SFTP server"), "{error}");
}

/// Remote paths that a shell, scp's option parser, its glob or its `~` expansion
/// would misread are taken literally: the canary is never made, and the files land
/// (or are read) exactly where named.
#[test]
fn hostile_remote_paths_are_taken_literally() {
    let Some(sshd) = start() else { return };
    let host = host_for(&sshd);
    // A file name can hold no `/`: the canary is made where a shell would start (the
    // login directory) or in the directory of the names.
    let canary_name = format!("jobgraph-canary-{}", std::process::id());
    let touch = format!("touch {canary_name}");
    let local = tempfile::tempdir().unwrap();
    let file = local.path().join("payload");
    std::fs::write(&file, b"payload").unwrap();
    let base = sshd.dir().join("hostile");
    std::fs::create_dir(&base).unwrap();
    let mut names = vec![
        format!("$({touch})"),
        format!("`{touch}`"),
        format!("; {touch}; "),
        format!("' ; {touch} ; '"),
        format!("\" ; {touch} ; \""),
        format!("a\n{touch}"),
        "*".to_string(),
        "[ab]".to_string(),
        "back\\slash".to_string(),
    ];
    names.push(format!("-oProxyCommand={touch}"));
    for name in &names {
        let dir = base.join(name);
        std::fs::create_dir(&dir).unwrap();
        outcome(SshPush::new(&host, [&file], dir.to_str().unwrap())).unwrap();
        let landed = std::fs::read(dir.join("payload"));
        let listing: Vec<_> = std::fs::read_dir(&base)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(
            landed.ok(),
            Some(b"payload".to_vec()),
            "{name:?} {listing:?}"
        );
        let back = tempfile::tempdir().unwrap();
        let remote = format!("{}/payload", dir.to_str().unwrap());
        outcome(SshPull::new(&host, [remote], back.path())).unwrap();
        assert_eq!(
            std::fs::read_dir(back.path()).unwrap().count(),
            1,
            "{name:?}"
        );
    }
    // Glob characters in a pull's sources name one file: `*` is not `a` and `b`, and
    // `[ab]` is not `a`.
    std::fs::write(base.join("a"), b"a").unwrap();
    std::fs::write(base.join("*").join("x"), b"star").unwrap();
    let back = tempfile::tempdir().unwrap();
    let star = format!("{}/*", base.to_str().unwrap());
    outcome(SshPull::new(&host, [&star], back.path()).recursive(true)).unwrap();
    let pulled: Vec<_> = std::fs::read_dir(back.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(pulled, ["*"]);
    assert_eq!(std::fs::read(back.path().join("*/x")).unwrap(), b"star");
    let error = outcome(SshPull::new(
        &host,
        [format!("{}/[a]", base.to_str().unwrap())],
        tempfile::tempdir().unwrap().path(),
    ))
    .unwrap_err();
    assert!(error.contains("No such file"), "{error}");
    // Relative paths are in the login directory, even one that starts with `-` or `~`.
    for name in [
        format!("-P-jobgraph-{}", std::process::id()),
        format!("~root-jobgraph-{}", std::process::id()),
    ] {
        let dir = home().join(&name);
        std::fs::create_dir_all(&dir).unwrap();
        let pushed = outcome(SshPush::new(&host, [&file], &name));
        let landed = std::fs::read(dir.join("payload"));
        std::fs::remove_dir_all(&dir).unwrap();
        pushed.unwrap();
        assert_eq!(landed.unwrap(), b"payload", "{name}");
    }
    for canary in [home().join(&canary_name), base.join(&canary_name)] {
        assert!(!canary.exists(), "something ran `{touch}`");
    }
}

fn collecting_sink() -> (Sink, Arc<Mutex<Vec<String>>>) {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let kept = lines.clone();
    let sink: Sink = Arc::new(move |line: &Line| kept.lock().unwrap().push(line.text.clone()));
    (sink, lines)
}

#[test]
fn a_script_runs_with_its_arguments_and_its_output_streamed() {
    let Some(sshd) = start() else { return };
    let host = host_for(&sshd);
    let canary = sshd.dir().join("pwned");
    let touch = format!("touch {}", canary.display());
    let local = tempfile::tempdir().unwrap();
    let script = local.path().join("show args.sh");
    let where_file = sshd.dir().join("script-path");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\necho \"$0\" > '{}'\nprintf '%s|' \"$@\"; echo\necho \"V=$V in $(pwd)\"\n",
            where_file.display()
        ),
    )
    .unwrap();
    let args = [
        "a b",
        "$HOME",
        "it's",
        "-x",
        &format!("$({touch})"),
        "--",
        "",
    ];
    let (sink, lines) = collecting_sink();
    let job = SshScript::new(&host, &script)
        .args(args)
        .env("V", "x $y")
        .cwd("/")
        .sink(sink);
    let output = outcome(job).unwrap();
    let expected = format!("{}|", args.join("|"));
    let lines = lines.lock().unwrap().clone();
    let n = lines.len();
    assert!(n >= 2, "{lines:?}");
    assert_eq!(
        lines[n - 2..],
        [expected.clone(), "V=x $y in /".to_string()]
    );
    assert_eq!(
        output.stdout.tail_lines(2),
        [expected, "V=x $y in /".into()]
    );
    // It ran from a private directory on the host, removed after.
    let ran = std::fs::read_to_string(&where_file).unwrap();
    let ran = Path::new(ran.trim_end());
    assert!(
        ran.to_str().unwrap().contains("/jobgraph-script."),
        "{ran:?}"
    );
    assert!(!ran.parent().unwrap().exists(), "{ran:?} was left behind");
    assert!(!canary.exists(), "something ran `{touch}`");
    // A text without `#!` runs with sh; its exit status fails the job, the error
    // naming the host and quoting its output.
    let error =
        outcome(SshScript::text(&host, "echo \"nope $1\" >&2\nexit 3").arg("one")).unwrap_err();
    assert!(error.contains(&sshd.target()), "{error}");
    assert!(error.contains("exit status: 3"), "{error}");
    assert!(error.contains("nope one"), "{error}");
}

#[test]
fn a_cancelled_script_leaves_nothing_running_on_the_host() {
    let Some(sshd) = start() else { return };
    let host = host_for(&sshd);
    let pidfile = sshd.dir().join("remote.pid");
    let where_file = sshd.dir().join("script-path");
    let text = format!(
        "echo \"$0\" > {}\necho $$ > {}\nexec sleep 30\n",
        where_file.display(),
        pidfile.display()
    );
    for shared in [true, false] {
        let _ = std::fs::remove_file(&pidfile);
        let host = host.clone().shared(shared);
        let job =
            Job::custom(SshScript::text(&host, text.clone()).grace(Duration::from_millis(500)));
        let s = Scheduler::new()
            .timeout(Duration::from_secs(3))
            .grace(Duration::from_secs(5))
            .critical(false)
            .add(&job)
            .clone();
        assert!(!s.run().unwrap());
        assert_eq!(job.state(), JobState::Cancelled);
        let pid: i32 = std::fs::read_to_string(&pidfile)
            .expect("the remote script started")
            .trim()
            .parse()
            .unwrap();
        assert!(
            gone(pid),
            "the remote script {pid} outlived its cancelled job (shared: {shared})"
        );
        let ran = std::fs::read_to_string(&where_file).unwrap();
        let ran = Path::new(ran.trim_end());
        assert!(!ran.parent().unwrap().exists(), "{ran:?} was left behind");
        s.shutdown();
    }
}

/// Push, pull, script and command jobs all go through the host's one master: once it
/// is up, sshd stops listening, and they all still work.
#[test]
fn the_jobs_share_the_one_master_connection() {
    let Some(sshd) = start() else { return };
    let host = host_for(&sshd);
    let first = Job::custom(SshJob::new(&host, ["true"]));
    let s = Scheduler::new().add(&first).clone();
    assert!(s.run().unwrap());
    let config = sshd.dir().join("sshd_config");
    let config = config.to_str().unwrap();
    let listeners = processes_mentioning(&[config, "[listener]"]);
    assert_eq!(listeners.len(), 1, "{listeners:?}");
    let status = std::process::Command::new("kill")
        .arg(listeners[0].to_string())
        .status()
        .unwrap();
    assert!(status.success() && gone(listeners[0]));
    // New connections are refused now.
    let alone = host_for(&sshd).shared(false);
    let error = outcome(SshJob::new(&alone, ["true"])).unwrap_err();
    assert!(error.to_lowercase().contains("refused"), "{error}");

    let local = tempfile::tempdir().unwrap();
    let remote = sshd.dir().join("shared");
    std::fs::create_dir(&remote).unwrap();
    let s = Scheduler::new().window(8);
    let mut pushes = Vec::new();
    for i in 0..6 {
        let file = local.path().join(format!("f {i}"));
        std::fs::write(&file, i.to_string()).unwrap();
        let push = Job::custom(SshPush::new(&host, [&file], remote.to_str().unwrap()));
        s.add(&push);
        pushes.push(push);
    }
    let back = tempfile::tempdir().unwrap();
    let remote_files: Vec<String> = (0..6)
        .map(|i| format!("{}/f {i}", remote.display()))
        .collect();
    let pull = Job::custom(SshPull::new(&host, remote_files, back.path())).requires(&pushes[..]);
    let script = Job::custom(SshScript::text(&host, "echo scripted \"$1\"").arg("x y"));
    s.add((&pull, &script));
    assert!(s.run().unwrap(), "{}", s.debrief());
    for i in 0..6 {
        assert_eq!(
            std::fs::read_to_string(back.path().join(format!("f {i}"))).unwrap(),
            i.to_string()
        );
    }
    assert_eq!(
        script.result().unwrap().stdout.tail_lines(1),
        ["scripted x y"]
    );
    let port = format!(" {} ", sshd.port);
    assert_eq!(
        processes_mentioning(&["ControlMaster=yes", &port]).len(),
        1,
        "one master for the host"
    );
    assert!(s.shutdown());
    assert!(!host.is_connected());
}

#[test]
fn an_unreachable_host_is_a_clear_error_for_every_job() {
    // A port nobody listens on.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let target = format!("nobody@127.0.0.1:{port}");
    let local = tempfile::tempdir().unwrap();
    let file = local.path().join("f");
    std::fs::write(&file, b"x").unwrap();
    // Without an OpenSSH client at all, the errors say that it could not run.
    let client = ["ssh", "scp"].iter().all(|program| {
        std::process::Command::new(program)
            .arg("-V")
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok()
    });
    if !client {
        jobgraph_test_support::skipped(
            "real ssh client path: `ssh` or `scp` is not on the PATH; checking its clear error",
        );
    }
    for shared in [true, false] {
        let host = SshHost::parse(&target)
            .unwrap()
            .option("StrictHostKeyChecking=no")
            .connect_timeout(Duration::from_secs(3))
            .shared(shared);
        let errors = [
            outcome(SshPush::new(&host, [&file], "dir")),
            outcome(SshPull::new(&host, ["f"], local.path())),
            outcome(SshScript::text(&host, "true")),
        ];
        for error in errors {
            let error = error.unwrap_err();
            assert!(error.contains(&target), "{error}");
            if client {
                assert!(error.to_lowercase().contains("refused"), "{error}");
            } else {
                assert!(
                    error.contains("cannot run the ssh client")
                        || error.contains("could not start"),
                    "{error}"
                );
            }
        }
    }
}

/// A push that cannot end (its source is a named pipe that nobody writes) is killed
/// with its process group when the run cancels it: no scp is left running.
#[test]
fn a_cancelled_copy_leaves_no_scp_running() {
    let Some(sshd) = start() else { return };
    let host = host_for(&sshd);
    let local = tempfile::tempdir().unwrap();
    let fifo = local.path().join("never written");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    let remote = sshd.dir().join("fifo target");
    std::fs::create_dir(&remote).unwrap();
    let push = Job::custom(
        SshPush::new(&host, [&fifo], remote.to_str().unwrap()).grace(Duration::from_millis(500)),
    );
    let s = Scheduler::new()
        .timeout(Duration::from_secs(3))
        .grace(Duration::from_secs(5))
        .critical(false)
        .add(&push)
        .clone();
    let watch = fifo.to_str().unwrap().to_string();
    let seen = std::thread::spawn(move || {
        // The scp was running, stuck on the pipe, before the run cancelled it.
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline {
            if !processes_mentioning(&["scp", &watch]).is_empty() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    });
    assert!(!s.run().unwrap());
    assert!(seen.join().unwrap(), "scp never ran");
    assert_eq!(push.state(), JobState::Cancelled);
    assert_eq!(
        processes_mentioning(&["scp", fifo.to_str().unwrap()]),
        Vec::<i32>::new()
    );
    s.shutdown();
}
