//! A fan-out over ssh to a real sshd on 127.0.0.1 (three host strings, three shared
//! connections), and the clear error when a host cannot be reached.

mod common;

use jobgraph_test_support::sshd;

use std::net::TcpListener;

use common::{gone, jobgraph, scenario};
use jobgraph_test_support::processes_mentioning;

fn fan_out(target_host: &str, port: u16, user: &str, key: &str, known: &str) -> String {
    format!(
        r#"
window = 8
[ssh]
identity = "{key}"
options = ["UserKnownHostsFile={known}", "StrictHostKeyChecking=no"]

[[job]]
id = "plan"
shell = "echo fanning out"

[[job]]
id = "node1"
host = "{user}@{target_host}:{port}"
shell = "echo node1 says $((40 + 2))"
requires = ["plan"]

[[job]]
id = "node2"
host = "{target_host}:{port}"
command = ["echo", "node2 says", "it's fine"]
requires = ["plan"]

[[job]]
id = "node3"
host = "{user}@localhost:{port}"
command = ["sh", "-c", "echo node3 in $PWD"]
cwd = "/"
requires = ["plan"]

[[job]]
id = "node1-again"
host = "{user}@{target_host}:{port}"
shell = "exit 5"
requires = ["node1"]
critical = false

[[job]]
id = "done"
shell = "echo all answered"
requires = ["node1", "node2", "node3"]
"#
    )
}

#[test]
fn a_fan_out_to_three_hosts_over_shared_connections() {
    let sshd = match sshd::Sshd::start() {
        Ok(sshd) => sshd,
        Err(why) => {
            jobgraph_test_support::skipped(&format!("real sshd path: {why}"));
            return;
        }
    };
    let dir = tempfile::tempdir().unwrap();
    let text = fan_out(
        "127.0.0.1",
        sshd.port,
        &sshd.user,
        sshd.key.to_str().unwrap(),
        sshd.known_hosts.to_str().unwrap(),
    );
    let file = scenario(dir.path(), &text);
    let run = jobgraph(&["run", file.to_str().unwrap()], dir.path());
    // node1-again fails, not critically: the run succeeds, and says what failed.
    assert_eq!(run.code, Some(0), "{run}");
    // Each line names its job and host, as pssh and apssh do.
    assert!(
        run.stdout.contains("[node1@127.0.0.1] node1 says 42\n"),
        "{run}"
    );
    assert!(
        run.stdout
            .contains("[node2@127.0.0.1] node2 says it's fine\n"),
        "{run}"
    );
    assert!(
        run.stdout.contains("[node3@localhost] node3 in /\n"),
        "{run}"
    );
    assert!(run.stdout.contains("[done] all answered\n"), "{run}");
    assert!(run.stdout.contains("exit status: 5"), "{run}");
    assert!(
        run.stdout
            .contains("----- the run succeeded; 1 non-critical job(s) failed"),
        "{run}"
    );
    assert!(!run.stdout.contains("FINE"), "{run}");
    assert!(
        run.stdout
            .contains("5 ok, 1 failed (non-critical), 0 not run"),
        "{run}"
    );
    // --strict: any failure fails the run.
    let strict = jobgraph(&["run", file.to_str().unwrap(), "--strict"], dir.path());
    assert_eq!(strict.code, Some(1), "{strict}");
    // The shared connections were closed at the end: no master is left.
    let masters = processes_mentioning(sshd.key.to_str().unwrap());
    for pid in masters {
        assert!(gone(pid), "ssh process {pid} outlived the run");
    }
}

#[test]
fn an_unreachable_host_fails_its_jobs_with_a_clear_error() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = tempfile::tempdir().unwrap();
    let file = scenario(
        dir.path(),
        &format!(
            "[ssh]\noptions = [\"StrictHostKeyChecking=no\"]\n[[job]]\nid = \"far\"\nhost = \"nobody@127.0.0.1:{port}\"\ncommand = [\"true\"]\n"
        ),
    );
    let run = jobgraph(&["run", file.to_str().unwrap()], dir.path());
    assert_eq!(run.code, Some(1), "{run}");
    assert!(
        run.stdout
            .contains(&format!("ssh to `nobody@127.0.0.1:{port}` failed")),
        "{run}"
    );
    let client = std::process::Command::new("ssh")
        .arg("-V")
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok();
    if client {
        assert!(
            run.stdout.to_lowercase().contains("connection refused"),
            "{run}"
        );
    } else {
        jobgraph_test_support::skipped(
            "real ssh client path: `ssh` is not on the PATH; checking its clear error",
        );
        assert!(run.stdout.contains("cannot run the ssh client"), "{run}");
    }
}

#[test]
fn ctrl_c_kills_remote_commands_and_closes_the_connections() {
    let sshd = match sshd::Sshd::start() {
        Ok(sshd) => sshd,
        Err(why) => {
            jobgraph_test_support::skipped(&format!("real sshd path: {why}"));
            return;
        }
    };
    let dir = tempfile::tempdir().unwrap();
    let pids = dir.path().join("pids");
    let file = scenario(
        dir.path(),
        &format!(
            r#"
[ssh]
identity = "{key}"
options = ["UserKnownHostsFile={known}", "StrictHostKeyChecking=no"]
[[job]]
id = "remote1"
host = "{target}"
shell = "echo $$ >> {p}; exec sleep 60"
[[job]]
id = "remote2"
host = "{target}"
shell = "echo $$ >> {p}; sleep 60"
"#,
            key = sshd.key.display(),
            known = sshd.known_hosts.display(),
            target = sshd.target(),
            p = pids.display(),
        ),
    );
    let child = common::command(&["run", file.to_str().unwrap()], dir.path())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let recorded: Vec<i32> = loop {
        let text = std::fs::read_to_string(&pids).unwrap_or_default();
        let found: Vec<i32> = text
            .split_whitespace()
            .filter_map(|w| w.parse().ok())
            .collect();
        if found.len() >= 2 {
            break found;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the remote commands did not start"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    assert!(!processes_mentioning("ControlMaster=yes").is_empty());
    // SAFETY: kill(2) of our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let run = common::finish(child, std::time::Duration::from_secs(20));
    assert_eq!(run.code, Some(130), "{run}");
    for pid in recorded {
        assert!(gone(pid), "remote command {pid} outlived the Ctrl-C");
    }
    for pid in processes_mentioning(sshd.key.to_str().unwrap()) {
        assert!(gone(pid), "ssh process {pid} outlived the Ctrl-C");
    }
}

#[test]
fn push_script_and_pull_run_over_the_shared_connection() {
    let sshd = match sshd::Sshd::start_with("Subsystem sftp internal-sftp") {
        Ok(sshd) => sshd,
        Err(why) => {
            jobgraph_test_support::skipped(&format!("real sshd path: {why}"));
            return;
        }
    };
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("in put.txt"), "one\ntwo\n").unwrap();
    std::fs::write(
        dir.path().join("count.sh"),
        "#!/bin/sh\nwc -l < \"$1/in put.txt\" > \"$1/$2\"\necho counted \"$2\"\n",
    )
    .unwrap();
    let remote = sshd.dir().join("remote");
    std::fs::create_dir_all(&remote).unwrap();
    let file = scenario(
        dir.path(),
        &format!(
            r#"
[vars]
remote = "{remote}"
[ssh]
identity = "{key}"
options = ["UserKnownHostsFile={known}", "StrictHostKeyChecking=no"]
[ssh.hosts.node]
address = "127.0.0.1"
user = "{user}"
port = {port}

[[job]]
id = "send"
host = "node"
push = {{ files = ["in put.txt"], to = "{{remote}}" }}
[[job]]
id = "count"
host = "node"
script = "count.sh"
args = ["{{remote}}", "lines $x"]
requires = ["send"]
[[job]]
id = "fetch"
host = "node"
pull = {{ files = ["{{remote}}/lines $x"], to = "back" }}
requires = ["count"]
"#,
            remote = remote.display(),
            key = sshd.key.display(),
            known = sshd.known_hosts.display(),
            user = sshd.user,
            port = sshd.port,
        ),
    );
    std::fs::create_dir_all(dir.path().join("back")).unwrap();
    // Run from elsewhere: the local paths are the scenario folder's.
    let elsewhere = tempfile::tempdir().unwrap();
    let run = jobgraph(&["run", file.to_str().unwrap()], elsewhere.path());
    assert_eq!(run.code, Some(0), "{run}");
    assert!(
        run.stdout.contains("[count@127.0.0.1] counted lines $x"),
        "{run}"
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("back/lines $x"))
            .unwrap()
            .trim(),
        "2"
    );
    assert!(run.stdout.contains("3 ok, 0 failed, 0 not run"), "{run}");
    let check = jobgraph(&["check", file.to_str().unwrap()], elsewhere.path());
    assert_eq!(check.code, Some(0), "{check}");
    // A copy without a host is refused by check.
    let bad = scenario(
        dir.path(),
        "[[job]]\nid = \"p\"\npush = { files = [\"x\"], to = \"y\" }\n",
    );
    let run = jobgraph(&["check", bad.to_str().unwrap()], dir.path());
    assert_eq!(run.code, Some(2), "{run}");
    assert!(
        run.stderr
            .contains("scenario.toml:3:8: job `p`: `push` needs a `host`"),
        "{run}"
    );
}
