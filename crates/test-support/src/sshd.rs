//! A real `sshd` on 127.0.0.1 for tests: host and user keys made in a temp dir, a free
//! port, `sshd -D -e -f <its own config>`; killed when dropped.
//!
//! Shared by the tests of jobgraph-command and jobgraph-cli.

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running sshd, and what a client needs to log in to it.
#[derive(Debug)]
pub struct Sshd {
    child: Child,
    dir: tempfile::TempDir,
    /// Its port on 127.0.0.1.
    pub port: u16,
    /// The user to log in as (the user running the tests).
    pub user: String,
    /// The private key that logs in.
    pub key: PathBuf,
    /// A known-hosts file of its own.
    pub known_hosts: PathBuf,
}

/// The programs needed, or why they are missing.
pub fn missing() -> Option<String> {
    for program in ["/usr/sbin/sshd"] {
        if !Path::new(program).exists() {
            return Some(format!(
                "{program} is not installed (apt-get install openssh-server)"
            ));
        }
    }
    for program in ["ssh", "ssh-keygen"] {
        let found = Command::new(program)
            .arg("-?")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok();
        if !found {
            return Some(format!(
                "`{program}` is not on the PATH (apt-get install openssh-client)"
            ));
        }
    }
    None
}

fn keygen(path: &Path) {
    let status = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(path)
        .stdout(Stdio::null())
        .status()
        .expect("ssh-keygen runs");
    assert!(status.success(), "ssh-keygen failed");
}

fn whoami() -> String {
    let out = Command::new("id").arg("-un").output().expect("id runs");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

impl Sshd {
    /// Starts one, or says why it cannot (`SKIPPED ...` is for the test to print).
    pub fn start() -> Result<Sshd, String> {
        Sshd::start_with("")
    }

    /// Starts one with these extra lines in its config.
    pub fn start_with(extra_config: &str) -> Result<Sshd, String> {
        if let Some(why) = missing() {
            return Err(why);
        }
        // sshd run as root wants its privilege separation directory, which the
        // service's start script makes; make it as that script does.
        if whoami() == "root" && !Path::new("/run/sshd").exists() {
            std::fs::create_dir_all("/run/sshd")
                .map_err(|e| format!("cannot make /run/sshd, which sshd needs: {e}"))?;
        }
        let dir = tempfile::Builder::new()
            .prefix("jobgraph-sshd-")
            .tempdir()
            .map_err(|e| e.to_string())?;
        let host_key = dir.path().join("host_key");
        let key = dir.path().join("user_key");
        keygen(&host_key);
        keygen(&key);
        let public = std::fs::read_to_string(dir.path().join("user_key.pub")).unwrap();
        let authorized = dir.path().join("authorized_keys");
        std::fs::write(&authorized, public).unwrap();
        let port = {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap().port()
        };
        let config = dir.path().join("sshd_config");
        let mut file = std::fs::File::create(&config).unwrap();
        writeln!(
            file,
            "Port {port}\nListenAddress 127.0.0.1\nHostKey {}\nAuthorizedKeysFile {}\nPidFile {}\n\
             StrictModes no\nUsePAM no\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n\
             PermitRootLogin prohibit-password\nPubkeyAuthentication yes\nLogLevel ERROR\n{extra_config}",
            host_key.display(),
            authorized.display(),
            dir.path().join("sshd.pid").display(),
        )
        .unwrap();
        drop(file);
        let child = Command::new("/usr/sbin/sshd")
            .arg("-D")
            .arg("-e")
            .arg("-f")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(
                std::fs::File::create(dir.path().join("sshd.log")).map_err(|e| e.to_string())?,
            ))
            .spawn()
            .map_err(|e| format!("cannot start sshd: {e}"))?;
        let mut sshd = Sshd {
            child,
            known_hosts: dir.path().join("known_hosts"),
            dir,
            port,
            user: whoami(),
            key,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Ok(sshd);
            }
            if let Ok(Some(status)) = sshd.child.try_wait() {
                let log =
                    std::fs::read_to_string(sshd.dir.path().join("sshd.log")).unwrap_or_default();
                return Err(format!("sshd exited at once ({status}): {}", log.trim()));
            }
            if Instant::now() > deadline {
                return Err("sshd did not listen within 10 s".into());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `user@127.0.0.1:port`.
    pub fn target(&self) -> String {
        format!("{}@127.0.0.1:{}", self.user, self.port)
    }

    /// The ssh options (`-o` values) a client needs besides the key.
    pub fn options(&self) -> Vec<String> {
        vec![
            format!("UserKnownHostsFile={}", self.known_hosts.display()),
            "StrictHostKeyChecking=no".to_string(),
        ]
    }

    /// A scratch directory that lives as long as the server.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
