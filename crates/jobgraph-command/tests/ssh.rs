//! SshJob against a real sshd on 127.0.0.1 (started by the test), and its clear
//! errors when there is none.

use std::net::TcpListener;
use std::time::Duration;

use jobgraph::{Job, JobState, Scheduler};
use jobgraph_command::{CommandError, SshHost, SshJob, SshTarget};
use jobgraph_test_support::processes_mentioning;
use jobgraph_test_support::sshd::Sshd;

/// Waits (at most 5 s) for a process to be gone; true when it is.
fn gone(pid: i32) -> bool {
    jobgraph_test_support::gone(pid, Duration::from_secs(5))
}

fn host_for(sshd: &Sshd) -> SshHost {
    let mut host = SshHost::parse(&sshd.target()).unwrap().identity(&sshd.key);
    for option in sshd.options() {
        host = host.option(option);
    }
    host
}

fn start() -> Option<Sshd> {
    match Sshd::start() {
        Ok(sshd) => Some(sshd),
        Err(why) => {
            jobgraph_test_support::skipped(&format!("real sshd path: {why}"));
            None
        }
    }
}

/// Processes whose command line mentions `needle`.
fn ssh_client_runs() -> bool {
    std::process::Command::new("ssh")
        .arg("-V")
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok()
}

fn ssh_error(job: &Job<jobgraph_command::CommandOutput>) -> String {
    let error = job.raised_exception().expect("the job failed");
    error
        .downcast_ref::<CommandError>()
        .expect("a CommandError")
        .to_string()
}

/// The last line of a job's output. Only the last: the remote login shell's start-up
/// files may print something first (this machine's root does), on the pty's stdout.
fn assert_last_line(job: &Job<jobgraph_command::CommandOutput>, expected: &str) {
    let output = job.result().unwrap();
    assert_eq!(
        output.stdout.tail_lines(1),
        vec![expected.to_string()],
        "{:?}",
        output.stdout.text()
    );
    assert!(output.stdout.text().ends_with('\n') && !output.stdout.text().contains('\r'));
}

#[test]
fn host_strings_are_checked() {
    let ok: SshTarget = "node".parse().unwrap();
    assert_eq!((ok.user, ok.host.as_str(), ok.port), (None, "node", None));
    let v6: SshTarget = "root@[::1]:2200".parse().unwrap();
    assert_eq!((v6.host.as_str(), v6.port), ("::1", Some(2200)));
    assert_eq!(v6.to_string(), "root@[::1]:2200");
    for bad in [
        "",
        "-oProxyCommand=sh",
        "user@-host",
        "-user@host",
        "host:0",
        "host:99999",
        "host:x",
        "a b",
        "host;rm",
        "$(id)",
        "us er@host",
        "@host",
        "user@",
        "[zz]:22",
        "[::1]x",
    ] {
        let error = bad.parse::<SshTarget>().expect_err(bad);
        assert!(error.to_string().contains(&format!("`{bad}`")), "{error}");
    }
}

#[test]
fn remote_commands_are_quoted_for_the_remote_shell() {
    let host = SshHost::parse("h").unwrap();
    let job = SshJob::new(&host, ["echo", "it's", "$HOME", "a b"]);
    assert_eq!(job.remote_command(), "echo 'it'\\''s' '$HOME' 'a b'");
    let job = SshJob::shell(&host, "cd /tmp && ls | wc -l")
        .env("A", "x y")
        .cwd("/var/my dir");
    assert_eq!(
        job.remote_command(),
        "cd -- '/var/my dir' && env -- 'A=x y' sh -c -- 'cd /tmp && ls | wc -l'"
    );
    // Options end before every operand; a relative directory cannot be an option.
    let job = SshJob::new(&host, ["-x", "y"]).env("B", "1").cwd("-P");
    assert_eq!(job.remote_command(), "cd -- ./-P && env -- B=1 -x y");
    // A program that a shell would read as an assignment or a keyword is quoted.
    assert_eq!(SshJob::new(&host, ["A=b", "c"]).remote_command(), "'A=b' c");
    assert_eq!(
        SshJob::new(&host, ["time", "x"]).remote_command(),
        "'time' x"
    );
}

/// Each hostile value in an ssh job's env, cwd, argv, ssh options and identity,
/// against a real sshd: none makes anything run but the command as given, and none
/// lets the job report success while something else ran. A canary file is the proof.
#[test]
fn no_value_of_an_ssh_job_is_read_as_an_option_or_as_shell_syntax() {
    let Some(sshd) = start() else { return };
    let canary = sshd.dir().join("pwned");
    let touch = format!("touch {}", canary.display());
    let host = host_for(&sshd);
    let error_of = |job: SshJob| -> (Option<String>, Option<String>) {
        let job = Job::custom(job).critical(false);
        assert!(Scheduler::new().add(&job).clone().run().unwrap());
        let output = job.result().ok().map(|o| o.stdout.text());
        let error = job.raised_exception().map(|e| e.to_string());
        (output, error)
    };
    // Refused before anything starts: env names that are not names, options that are
    // not `Keyword=value`, a program with `=` after env.
    let refused = [
        SshJob::new(&host, ["true"]).env(format!("-S {touch}"), "v"),
        SshJob::new(&host, ["true"]).env("A;touch x", "v"),
        SshJob::new(&host, ["true"]).env("", "v"),
        SshJob::new(&host, ["true"]).env("A", "a\0b"),
        SshJob::new(&host, ["A=b", "true"]).env("K", "v"),
        SshJob::new(
            &host_for(&sshd).option(format!("-oProxyCommand={touch}")),
            ["true"],
        ),
        SshJob::new(
            &host_for(&sshd).option(format!("User=x\nProxyCommand={touch}")),
            ["true"],
        ),
        SshJob::new(
            &host_for(&sshd).option("ControlPath=/tmp/elsewhere"),
            ["true"],
        ),
    ];
    for job in refused {
        let shown = job.remote_command();
        assert!(job.check().is_err(), "{shown}");
        let (output, error) = error_of(job);
        assert!(output.is_none(), "{shown}");
        let error = error.unwrap();
        assert!(error.contains("was not started"), "{error}");
    }
    // Taken literally: the values reach the command as they are.
    let literal = format!("$({touch}); {touch} `{touch}`");
    let job = SshJob::new(&host, ["printf", "%s|", &literal, "-S", "--", "-P"])
        .env("V", &literal)
        .env("W", "-S");
    let (output, error) = error_of(job);
    assert_eq!(error, None);
    let output = output.unwrap();
    assert!(
        output.ends_with(&format!("{literal}|-S|--|-P|")),
        "{output:?}"
    );
    let job = SshJob::shell(&host, "printf '%s|%s' \"$V\" \"$W\"")
        .env("V", &literal)
        .env("W", "-i");
    let (output, _) = error_of(job);
    assert!(output.unwrap().ends_with(&format!("{literal}|-i")));
    // A working directory that looks like an option is a directory: `-P` does not
    // exist in the remote home, so the job fails instead of running in the home.
    let home = std::env::var("HOME").unwrap_or_else(|_| "/root".into());
    let name = format!("-P-jobgraph-{}", std::process::id());
    let (output, error) = error_of(SshJob::new(&host, ["sh", "-c", &touch]).cwd(&name));
    assert!(output.is_none(), "ran in the home instead of `{name}`");
    assert!(error.unwrap().contains("status"));
    // ... and where it exists, the command runs there.
    let dir = std::path::Path::new(&home).join(&name);
    std::fs::create_dir_all(&dir).unwrap();
    let (output, error) = error_of(SshJob::new(&host, ["pwd"]).cwd(&name));
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(error, None);
    assert!(output.unwrap().trim_end().ends_with(&name));
    // An identity that looks like an option is a file name to ssh.
    let odd = SshHost::parse(&sshd.target())
        .unwrap()
        .identity(format!("-oProxyCommand={touch}"))
        .option(sshd.options()[0].clone())
        .option(sshd.options()[1].clone());
    let (output, error) = error_of(SshJob::new(&odd, ["true"]));
    assert!(output.is_none() && error.is_some());
    assert!(!canary.exists(), "something ran `{touch}`");
}

#[test]
fn an_unreachable_host_is_a_clear_error_naming_it() {
    // A port nobody listens on.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let host = SshHost::parse(&format!("nobody@127.0.0.1:{port}"))
        .unwrap()
        .option("StrictHostKeyChecking=no")
        .connect_timeout(Duration::from_secs(3));
    let job = Job::custom(SshJob::new(&host, ["true"])).critical(false);
    let other = Job::custom(SshJob::new(&host, ["true"])).critical(false);
    let s = Scheduler::new().add((&job, &other)).clone();
    // Non-critical failures: the run itself succeeds, both jobs ran and failed.
    assert!(s.run().unwrap());
    // Without an ssh client at all, the error says so.
    let client = ssh_client_runs();
    if !client {
        jobgraph_test_support::skipped(
            "real ssh client path: `ssh` is not on the PATH; checking its clear error",
        );
    }
    for job in [&job, &other] {
        let text = ssh_error(job);
        assert!(text.contains(&format!("nobody@127.0.0.1:{port}")), "{text}");
        if client {
            assert!(text.to_lowercase().contains("refused"), "{text}");
        } else {
            assert!(text.contains("cannot run the ssh client"), "{text}");
        }
    }
    // Without a shared connection: the same, through the job's own ssh.
    let host = SshHost::parse(&format!("127.0.0.1:{port}"))
        .unwrap()
        .shared(false);
    let job = Job::custom(SshJob::new(&host, ["true"]));
    let s = Scheduler::new().critical(false).add(&job).clone();
    assert!(!s.run().unwrap());
    let text = ssh_error(&job);
    assert!(text.contains(&format!("127.0.0.1:{port}")), "{text}");
    if client {
        assert!(text.contains("255"), "{text}");
    } else {
        assert!(text.contains("could not start"), "{text}");
    }
}

#[test]
fn commands_run_over_one_shared_connection_closed_by_shutdown() {
    let Some(sshd) = start() else { return };
    let host = host_for(&sshd);
    let s = Scheduler::new().window(16);
    let mut jobs = Vec::new();
    for i in 0..24 {
        let job = Job::custom(SshJob::new(&host, ["echo", &format!("hello {i}")]));
        s.add(&job);
        jobs.push(job);
    }
    let quoted = Job::custom(
        SshJob::shell(&host, "printf '%s|' \"$X\"; pwd")
            .env("X", "it's; $(x)")
            .cwd("/"),
    );
    let failing = Job::custom(SshJob::shell(&host, "echo nope >&2; exit 7")).critical(false);
    s.add((&quoted, &failing));
    assert!(s.run().unwrap());
    for (i, job) in jobs.iter().enumerate() {
        assert_last_line(job, &format!("hello {i}"));
    }
    assert_last_line(&quoted, "it's; $(x)|/");
    let text = ssh_error(&failing);
    assert!(
        text.contains("exit status: 7") && text.contains("nope"),
        "{text}"
    );
    assert!(host.is_connected());
    let masters = processes_mentioning("ControlMaster=yes");
    assert!(!masters.is_empty());
    assert!(s.shutdown());
    assert!(!host.is_connected());
    for pid in masters {
        assert!(
            gone(pid),
            "the ssh master {pid} is still running after shutdown"
        );
    }
}

#[test]
fn without_sharing_each_job_connects_on_its_own() {
    let Some(sshd) = start() else { return };
    let host = host_for(&sshd).shared(false);
    let s = Scheduler::new().window(12);
    let jobs: Vec<_> = (0..12)
        .map(|i| Job::custom(SshJob::new(&host, ["echo", &i.to_string()])))
        .collect();
    for job in &jobs {
        s.add(job);
    }
    // At most 8 connections at once: sshd's MaxStartups (10) never refuses one.
    assert!(s.run().unwrap());
    assert!(!host.is_connected());
    for (i, job) in jobs.iter().enumerate() {
        assert_last_line(job, &i.to_string());
    }
}

#[test]
fn cancelling_an_ssh_job_kills_the_remote_command() {
    let Some(sshd) = start() else { return };
    let host = host_for(&sshd);
    let pidfile = sshd.dir().join("remote.pid");
    let script = format!("echo $$ > {}; exec sleep 30", pidfile.display());
    for shared in [true, false] {
        let _ = std::fs::remove_file(&pidfile);
        let host = host.clone().shared(shared);
        let job =
            Job::custom(SshJob::shell(&host, script.clone()).grace(Duration::from_millis(500)));
        let s = Scheduler::new()
            .timeout(Duration::from_secs(2))
            .grace(Duration::from_secs(3))
            .critical(false)
            .add(&job)
            .clone();
        assert!(!s.run().unwrap());
        assert_eq!(job.state(), JobState::Cancelled);
        let pid: i32 = std::fs::read_to_string(&pidfile)
            .expect("the remote command started")
            .trim()
            .parse()
            .unwrap();
        assert!(
            gone(pid),
            "the remote command {pid} outlived its cancelled job (shared: {shared})"
        );
        s.shutdown();
    }
}

#[test]
fn a_refused_key_names_the_host_and_what_ssh_said() {
    let Some(sshd) = start() else { return };
    let other_key = sshd.dir().join("stranger");
    let status = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&other_key)
        .status()
        .unwrap();
    assert!(status.success());
    let mut host = SshHost::parse(&sshd.target()).unwrap().identity(&other_key);
    for option in sshd.options() {
        host = host.option(option);
    }
    let job = Job::custom(SshJob::new(&host, ["true"]));
    let s = Scheduler::new().critical(false).add(&job).clone();
    assert!(!s.run().unwrap());
    let text = ssh_error(&job);
    assert!(text.contains(&sshd.target()), "{text}");
    assert!(text.contains("Permission denied"), "{text}");
}

#[test]
fn the_per_host_cap_keeps_sshd_from_dropping_connections() {
    // An sshd that drops any connection beyond 3 being authenticated at once.
    let sshd = match Sshd::start_with("MaxStartups 3\n") {
        Ok(sshd) => sshd,
        Err(why) => {
            jobgraph_test_support::skipped(&format!("real sshd path: {why}"));
            return;
        }
    };
    // Shared: one connection is ever being opened, whatever the window.
    let host = host_for(&sshd);
    let s = Scheduler::new().window(16);
    let shared: Vec<_> = (0..24)
        .map(|i| Job::custom(SshJob::new(&host, ["echo", &i.to_string()])))
        .collect();
    for job in &shared {
        s.add(job);
    }
    assert!(s.run().unwrap());
    s.shutdown();
    // Not shared: at most `connections` at once, here 3.
    let alone = host_for(&sshd).shared(false).connections(3);
    let s = Scheduler::new().window(16);
    let jobs: Vec<_> = (0..12)
        .map(|i| Job::custom(SshJob::new(&alone, ["echo", &i.to_string()])))
        .collect();
    for job in &jobs {
        s.add(job);
    }
    assert!(s.run().unwrap());
    for (i, job) in shared.iter().chain(&jobs).enumerate() {
        assert_last_line(job, &(i % 24).to_string());
    }
}
