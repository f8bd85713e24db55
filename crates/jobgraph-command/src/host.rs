//! [`SshHost`] and [`SshTarget`]: where ssh jobs run, checked, and the one shared
//! connection per host that they go through.

use std::fmt;
use std::fs::File;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::str::FromStr;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::output::CommandError;

/// Where an ssh job runs: `[user@]host[:port]`, checked.
///
/// The host is a name or an IPv4 address (`[addr]` for IPv6, so that the port stays
/// apart); neither the user nor the host may start with `-` (ssh would take it for an
/// option), and both are restricted to letters, digits and `._-` (plus `:` inside
/// brackets), so nothing in them means anything to a shell.
///
/// ```
/// use jobgraph_command::SshTarget;
/// let t: SshTarget = "alice@node-1.example.org:2222".parse().unwrap();
/// assert_eq!((t.user.as_deref(), t.host.as_str(), t.port), (Some("alice"), "node-1.example.org", Some(2222)));
/// assert!("-oProxyCommand=x".parse::<SshTarget>().is_err());
/// assert!("a;b".parse::<SshTarget>().is_err());
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SshTarget {
    /// The user to log in as; ssh's default (the local user, or the ssh config's) when
    /// `None`.
    pub user: Option<String>,
    /// The host name or address (an IPv6 address without its brackets).
    pub host: String,
    /// The port; ssh's default when `None`.
    pub port: Option<u16>,
}

/// A host string that is not `[user@]host[:port]`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad ssh host `{text}`: {reason}; expected [user@]host[:port]")]
pub struct HostError {
    /// The text given.
    pub text: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

fn word_ok(word: &str) -> bool {
    word.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

impl FromStr for SshTarget {
    type Err = HostError;

    fn from_str(text: &str) -> Result<SshTarget, HostError> {
        let error = |reason| HostError {
            text: text.to_string(),
            reason,
        };
        let (user, rest) = match text.rsplit_once('@') {
            Some((user, rest)) => (Some(user), rest),
            None => (None, text),
        };
        if let Some(user) = user {
            if user.is_empty() {
                return Err(error("the user is empty"));
            }
            if user.starts_with('-') {
                return Err(error("the user starts with `-`"));
            }
            if !word_ok(user) {
                return Err(error("the user may hold only letters, digits and `._-`"));
            }
        }
        let (host, port) = if let Some(inner) = rest.strip_prefix('[') {
            let (addr, after) = inner
                .split_once(']')
                .ok_or_else(|| error("`[` without `]`"))?;
            if addr.is_empty()
                || !addr
                    .bytes()
                    .all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
            {
                return Err(error("an address in brackets must be an IPv6 address"));
            }
            let port = match after {
                "" => None,
                _ => Some(
                    after
                        .strip_prefix(':')
                        .ok_or_else(|| error("only `:port` may follow `]`"))?,
                ),
            };
            (addr, port)
        } else {
            match rest.split_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (rest, None),
            }
        };
        if host.is_empty() {
            return Err(error("the host is empty"));
        }
        if host.starts_with('-') {
            return Err(error("the host starts with `-`"));
        }
        if !rest.starts_with('[') && !word_ok(host) {
            return Err(error("the host may hold only letters, digits and `._-`"));
        }
        let port = match port {
            None => None,
            Some(port) => Some(
                port.parse::<u16>()
                    .ok()
                    .filter(|p| *p > 0)
                    .ok_or_else(|| error("the port is not a number from 1 to 65535"))?,
            ),
        };
        Ok(SshTarget {
            user: user.map(str::to_string),
            host: host.to_string(),
            port,
        })
    }
}

impl fmt::Display for SshTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(user) = &self.user {
            write!(f, "{user}@")?;
        }
        if self.host.contains(':') {
            write!(f, "[{}]", self.host)?;
        } else {
            f.write_str(&self.host)?;
        }
        if let Some(port) = self.port {
            write!(f, ":{port}")?;
        }
        Ok(())
    }
}

/// A host's settings, as a job reads them when it starts.
#[derive(Clone)]
pub(crate) struct Config {
    identity: Option<PathBuf>,
    options: Vec<String>,
    shared: bool,
    sessions: usize,
    connections: usize,
    persist: Duration,
    connect_timeout: Duration,
}

enum Master {
    Down,
    Up,
    Failed(String),
}

/// A counting semaphore whose wait gives up when the job is cancelled.
struct Slots {
    free: Mutex<usize>,
    freed: Condvar,
}

impl Slots {
    fn take(&self, cancelled: &dyn Fn() -> bool) -> bool {
        let mut free = lock(&self.free);
        while *free == 0 {
            if cancelled() {
                return false;
            }
            free = self
                .freed
                .wait_timeout(free, Duration::from_millis(20))
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        *free -= 1;
        true
    }

    fn give(&self) {
        *lock(&self.free) += 1;
        self.freed.notify_one();
    }
}

/// A session slot of a host, given back when dropped.
pub(crate) struct Session(Arc<Slots>);

impl Drop for Session {
    fn drop(&mut self) {
        self.0.give();
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

pub(crate) struct HostInner {
    target: SshTarget,
    config: Mutex<Config>,
    /// The private directory of the control socket (mode 0700), while a master may
    /// be up.
    dir: Mutex<Option<tempfile::TempDir>>,
    master: Mutex<Master>,
    /// Sessions (over the shared connection) or connections (without it) in use.
    slots: Mutex<Option<Arc<Slots>>>,
}

/// A host for ssh jobs, shared by all the jobs that run there (clone it: the clones
/// are the same host).
///
/// By default its jobs share one connection: the first job opens a master
/// (`ControlMaster`, its socket in a private directory, `ControlPersist` so that a
/// runner that dies does not leave it forever), the others go through it, so only one
/// connection is ever being opened to the host at once, well under sshd's
/// `MaxStartups`. At most [`sessions`](SshHost::sessions) commands (default 10, sshd's
/// `MaxSessions`) run over it at once; others wait for a free session. Without sharing
/// ([`shared(false)`](SshHost::shared)), each job opens its own connection, and at most
/// [`connections`](SshHost::connections) (default 8) are open at once.
///
/// [`close`](SshHost::close) ends the master: an ssh job's shutdown hook calls it, so
/// [`Scheduler::shutdown`](jobgraph::Scheduler::shutdown) closes the connections of
/// every host of the run (asynciojobs' `shutdown`). Dropping the last clone closes it too.
#[derive(Clone)]
pub struct SshHost(pub(crate) Arc<HostInner>);

impl fmt::Debug for SshHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SshHost({})", self.0.target)
    }
}

impl SshHost {
    /// A host from `[user@]host[:port]`, checked (see [`SshTarget`]).
    pub fn parse(text: &str) -> Result<SshHost, HostError> {
        Ok(SshHost::new(text.parse()?))
    }

    /// A host.
    pub fn new(target: SshTarget) -> SshHost {
        SshHost(Arc::new(HostInner {
            target,
            config: Mutex::new(Config {
                identity: None,
                options: Vec::new(),
                shared: true,
                sessions: 10,
                connections: 8,
                persist: Duration::from_secs(60),
                connect_timeout: Duration::from_secs(10),
            }),
            dir: Mutex::new(None),
            master: Mutex::new(Master::Down),
            slots: Mutex::new(None),
        }))
    }

    /// Where it is.
    pub fn target(&self) -> &SshTarget {
        &self.0.target
    }

    /// Logs in with this private key (`-i key -o IdentitiesOnly=yes`).
    pub fn identity(self, key: impl AsRef<Path>) -> Self {
        lock(&self.0.config).identity = Some(key.as_ref().to_path_buf());
        self
    }

    /// Adds an ssh option, as `-o option` (`"StrictHostKeyChecking=no"`,
    /// `"UserKnownHostsFile=/tmp/known"`). It must read `Keyword=value` (or `Keyword
    /// value`) with no control character, and not be one the jobs set themselves
    /// (`ControlMaster`, `ControlPath`, `ControlPersist`, `BatchMode`): see
    /// [`check_option`]. A job on a host with a bad option fails before it starts.
    pub fn option(self, option: impl Into<String>) -> Self {
        lock(&self.0.config).options.push(option.into());
        self
    }

    /// Whether jobs share one connection (default true).
    pub fn shared(self, shared: bool) -> Self {
        lock(&self.0.config).shared = shared;
        self
    }

    /// At most this many commands at once over the shared connection (default 10,
    /// sshd's `MaxSessions`).
    pub fn sessions(self, sessions: usize) -> Self {
        lock(&self.0.config).sessions = sessions.max(1);
        self
    }

    /// Without a shared connection, at most this many connections at once (default 8,
    /// under sshd's `MaxStartups` of 10 unauthenticated connections).
    pub fn connections(self, connections: usize) -> Self {
        lock(&self.0.config).connections = connections.max(1);
        self
    }

    /// How long the shared connection stays up once no job uses it, should nothing
    /// close it (default 60 s).
    pub fn persist(self, persist: Duration) -> Self {
        lock(&self.0.config).persist = persist;
        self
    }

    /// ssh's `ConnectTimeout` (default 10 s).
    pub fn connect_timeout(self, timeout: Duration) -> Self {
        lock(&self.0.config).connect_timeout = timeout;
        self
    }

    /// The options common to every ssh command for this host.
    pub(crate) fn base_args(&self, config: &Config) -> Vec<String> {
        base_args(&self.0.target, config)
    }

    fn control_path(&self) -> Option<PathBuf> {
        lock(&self.0.dir).as_ref().map(|d| d.path().join("%C"))
    }

    fn slots(&self, config: &Config) -> Arc<Slots> {
        lock(&self.0.slots)
            .get_or_insert_with(|| {
                let n = if config.shared {
                    config.sessions
                } else {
                    config.connections
                };
                Arc::new(Slots {
                    free: Mutex::new(n),
                    freed: Condvar::new(),
                })
            })
            .clone()
    }

    /// The host's settings now.
    pub(crate) fn config(&self) -> Config {
        lock(&self.0.config).clone()
    }

    /// What is wrong with the host's options or identity, if anything: checked before
    /// a job starts anything.
    pub(crate) fn problem(&self) -> Option<String> {
        let config = self.config();
        for option in &config.options {
            if let Some(problem) = option_problem(option) {
                return Some(problem);
            }
        }
        if let Some(key) = &config.identity {
            if key.as_os_str().as_encoded_bytes().contains(&0) {
                return Some(format!("the identity {key:?} holds a NUL byte"));
            }
        }
        None
    }

    /// Opens the shared connection if the host shares one, then takes a session slot
    /// (waiting for a free one): what every job does before it runs ssh or scp.
    pub(crate) fn session(
        &self,
        config: &Config,
        cancelled: &dyn Fn() -> bool,
    ) -> Result<Session, CommandError> {
        if config.shared {
            self.ensure_master(config, cancelled)?;
        }
        let slots = self.slots(config);
        if !slots.take(cancelled) {
            return Err(self.ssh_error("cancelled while waiting for a free session"));
        }
        Ok(Session(slots))
    }

    /// The `-o` options that send a command through the shared connection (after
    /// [`session`](SshHost::session)), or that keep it from using any.
    pub(crate) fn connection_args(&self, config: &Config) -> Vec<String> {
        match self.control_path().filter(|_| config.shared) {
            Some(control) => vec![
                "-o".into(),
                "ControlMaster=no".into(),
                "-o".into(),
                format!("ControlPath={}", control.display()),
            ],
            None => ["-o", "ControlMaster=no", "-o", "ControlPath=none"]
                .map(String::from)
                .to_vec(),
        }
    }

    pub(crate) fn ssh_error(&self, message: impl Into<String>) -> CommandError {
        CommandError::Ssh {
            host: self.0.target.to_string(),
            message: message.into(),
        }
    }

    /// Opens the shared connection unless it is up; one job at a time does this, the
    /// others wait for it (so one connection is being opened to the host at once).
    fn ensure_master(
        &self,
        config: &Config,
        cancelled: &dyn Fn() -> bool,
    ) -> Result<(), CommandError> {
        let mut master = lock(&self.0.master);
        match &*master {
            Master::Up => return Ok(()),
            Master::Failed(message) => return Err(self.ssh_error(message.clone())),
            Master::Down => {}
        }
        let dir = tempfile::Builder::new()
            .prefix("jobgraph-ssh-")
            .tempdir()
            .map_err(|e| self.ssh_error(format!("cannot make a private directory: {e}")))?;
        let control = dir.path().join("%C");
        let errors_path = dir.path().join("master.err");
        let errors = File::create(&errors_path).map_err(|e| {
            self.ssh_error(format!("cannot write in {}: {e}", dir.path().display()))
        })?;
        *lock(&self.0.dir) = Some(dir);
        let mut command = Command::new("ssh");
        command
            .args(self.base_args(config))
            .args(["-o", "ControlMaster=yes"])
            .arg("-o")
            .arg(format!("ControlPath={}", control.display()))
            .arg("-o")
            .arg(format!(
                "ControlPersist={}",
                config.persist.as_secs().max(1)
            ))
            .args(["-f", "-N", "--", &self.0.target.host])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(errors)
            .process_group(0);
        let mut child = command
            .spawn()
            .map_err(|e| self.ssh_error(format!("cannot run the ssh client: {e}")))?;
        let deadline = Instant::now() + config.connect_timeout + Duration::from_secs(5);
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break Some(status),
                Ok(None) if cancelled() || Instant::now() > deadline => {
                    let _ = child.kill();
                    let _ = child.wait();
                    break None;
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(5)),
                Err(_) => break None,
            }
        };
        match status {
            Some(status) if status.success() => {
                *master = Master::Up;
                Ok(())
            }
            Some(status) => {
                let said = std::fs::read_to_string(&errors_path).unwrap_or_default();
                let said = said.trim();
                let message = if said.is_empty() {
                    format!("ssh exited with {status}")
                } else {
                    format!("ssh exited with {status}: {said}")
                };
                *lock(&self.0.dir) = None;
                *master = Master::Failed(message.clone());
                Err(self.ssh_error(message))
            }
            None => {
                *lock(&self.0.dir) = None;
                let message = if cancelled() {
                    "cancelled while connecting"
                } else {
                    "timed out while connecting"
                };
                Err(self.ssh_error(message))
            }
        }
    }

    /// Whether the shared connection is up.
    pub fn is_connected(&self) -> bool {
        matches!(*lock(&self.0.master), Master::Up)
    }

    /// Ends the shared connection (`ssh -O exit`) and removes its private directory.
    /// Harmless when it is not up; a later job opens it again.
    pub fn close(&self) {
        let mut master = lock(&self.0.master);
        if let (Master::Up, Some(control)) = (&*master, self.control_path()) {
            let config = lock(&self.0.config).clone();
            let mut command = Command::new("ssh");
            command
                .args(self.base_args(&config))
                .arg("-o")
                .arg(format!("ControlPath={}", control.display()))
                .args(["-O", "exit", "--", &self.0.target.host])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .process_group(0);
            if let Ok(mut child) = command.spawn() {
                let deadline = Instant::now() + Duration::from_secs(5);
                while let Ok(None) = child.try_wait() {
                    if Instant::now() > deadline {
                        let _ = child.kill();
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(5));
                }
                let _ = child.wait();
            }
        }
        *master = Master::Down;
        *lock(&self.0.dir) = None;
    }
}

/// The options that the jobs set themselves, which a host's options may not change.
const MANAGED_OPTIONS: [&str; 4] = [
    "controlmaster",
    "controlpath",
    "controlpersist",
    "batchmode",
];

fn option_problem(option: &str) -> Option<String> {
    if let Some(c) = option.chars().find(|c| c.is_control()) {
        return Some(format!(
            "the ssh option {option:?} holds a control character ({c:?})"
        ));
    }
    let keyword = option
        .split(|c: char| c == '=' || c.is_whitespace())
        .next()
        .unwrap_or("");
    if keyword.is_empty() || !keyword.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Some(format!(
            "the ssh option `{option}` does not read `Keyword=value`"
        ));
    }
    if MANAGED_OPTIONS.contains(&keyword.to_ascii_lowercase().as_str()) {
        return Some(format!(
            "the ssh option `{option}` is set by the job itself (use the host's `shared` and `persist` settings)"
        ));
    }
    if option.len() == keyword.len() {
        return Some(format!("the ssh option `{option}` has no value"));
    }
    None
}

/// Whether `option` can be given to [`SshHost::option`]: `Keyword=value` (or `Keyword
/// value`), with no control character, and not one of the options that ssh jobs set
/// themselves (`ControlMaster`, `ControlPath`, `ControlPersist`, `BatchMode`).
///
/// ```
/// use jobgraph_command::check_option;
/// assert!(check_option("StrictHostKeyChecking=no").is_ok());
/// assert!(check_option("-oProxyCommand=sh").is_err());
/// assert!(check_option("User=a\nProxyCommand=sh").is_err());
/// assert!(check_option("ControlPath=/tmp/x").is_err());
/// ```
pub fn check_option(option: &str) -> Result<(), String> {
    option_problem(option).map_or(Ok(()), Err)
}

/// The options common to every ssh and scp command for a host, but its port and
/// user (which ssh and scp spell differently).
pub(crate) fn option_args(config: &Config) -> Vec<String> {
    let mut args: Vec<String> = vec![
        "-o".into(),
        "BatchMode=yes".into(),
        "-o".into(),
        "LogLevel=ERROR".into(),
        "-o".into(),
        format!("ConnectTimeout={}", config.connect_timeout.as_secs().max(1)),
    ];
    if let Some(key) = &config.identity {
        args.push("-i".into());
        args.push(key.display().to_string());
        args.push("-o".into());
        args.push("IdentitiesOnly=yes".into());
    }
    for option in &config.options {
        args.push("-o".into());
        args.push(option.clone());
    }
    args
}

/// The options common to every ssh command for `target`.
fn base_args(target: &SshTarget, config: &Config) -> Vec<String> {
    let mut args = option_args(config);
    if let Some(port) = target.port {
        args.push("-p".into());
        args.push(port.to_string());
    }
    if let Some(user) = &target.user {
        args.push("-l".into());
        args.push(user.clone());
    }
    args
}

impl Drop for HostInner {
    fn drop(&mut self) {
        // The last handle is gone: end the shared connection, if it is up.
        let master = std::mem::replace(&mut *lock(&self.master), Master::Down);
        if let (Master::Up, Some(dir)) = (master, lock(&self.dir).take()) {
            let control = dir.path().join("%C");
            let config = lock(&self.config).clone();
            let _ = Command::new("ssh")
                .args(base_args(&self.target, &config))
                .arg("-o")
                .arg(format!("ControlPath={}", control.display()))
                .args(["-O", "exit", "--", &self.target.host])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
}
