//! [`SshPush`] and [`SshPull`]: files copied to and from a [`SshHost`] with the system's
//! `scp`, over the host's shared connection.
//!
//! scp is run with `-s`, the SFTP protocol (the default of OpenSSH 9.0 and later, and
//! available since 8.7), never with the legacy protocol (`-O`). The legacy protocol
//! hands the remote path to the remote shell inside a command line (`scp -f PATH`), so
//! that every path would have to be quoted for a shell we do not know, and its meaning
//! would depend on the remote scp's own parsing. Over SFTP no shell ever sees a path:
//! the server gets it as one string. Two things still read it, and the jobs undo both:
//! scp expands a pull's remote sources as glob patterns (`*`, `?`, `[...]`, with `\`
//! quoting), so they are passed with those characters escaped; and scp expands a
//! leading `~` (`~user/...`), so such a path is passed as `./~...`. A remote path is
//! thus always taken literally; a relative one is relative to the login directory.
//! The host needs an SFTP server (sshd's `Subsystem sftp`), as for `sftp`.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use jobgraph::{AbstractJob, Context};

use crate::command::{run_with, short, Options};
use crate::host::{option_args, SshHost};
use crate::output::{CommandError, CommandOutput, Sink};
use crate::quote::quote;

/// What push and pull share: the host, scp's flags and how the copy ends.
#[derive(Clone, Debug)]
struct Transfer {
    host: SshHost,
    recursive: bool,
    preserve: bool,
    options: Options,
}

impl Transfer {
    fn new(host: &SshHost) -> Transfer {
        Transfer {
            host: host.clone(),
            recursive: false,
            preserve: false,
            options: Options::default(),
        }
    }

    /// `host:` or `[v6]:`, the start of a remote operand.
    fn remote_prefix(&self) -> String {
        let host = &self.host.target().host;
        if host.contains(':') {
            format!("[{host}]:")
        } else {
            format!("{host}:")
        }
    }

    /// What is wrong with the host or these paths, if anything.
    fn problem(&self, local: &[PathBuf], remote: &[String]) -> Option<String> {
        if let Some(problem) = self.host.problem() {
            return Some(problem);
        }
        for path in local {
            let bytes = path.as_os_str().as_encoded_bytes();
            if bytes.is_empty() {
                return Some("a local path is empty".into());
            }
            if bytes.contains(&0) {
                return Some(format!("the local path {path:?} holds a NUL byte"));
            }
        }
        for path in remote {
            if path.contains('\0') {
                return Some(format!("the remote path {path:?} holds a NUL byte"));
            }
        }
        None
    }

    /// The flags shown before the paths in listings: `-r`, `-p`.
    fn flags(&self) -> String {
        let mut flags = String::new();
        if self.recursive {
            flags.push_str("-r ");
        }
        if self.preserve {
            flags.push_str("-p ");
        }
        flags
    }

    /// Runs scp with these operands (after `--`) through the host's connection.
    fn run(
        &self,
        operands: Vec<OsString>,
        display: &str,
        ctx: &Context<'_>,
    ) -> Result<CommandOutput, CommandError> {
        let cancelled = || ctx.is_cancelled();
        let config = self.host.config();
        let _session = self.host.session(&config, &cancelled)?;
        let mut command = Command::new("scp");
        command.arg("-s");
        if self.recursive {
            command.arg("-r");
        }
        if self.preserve {
            command.arg("-p");
        }
        command
            .args(option_args(&config))
            .args(self.host.connection_args(&config));
        let target = self.host.target();
        if let Some(port) = target.port {
            command.arg("-P").arg(port.to_string());
        }
        if let Some(user) = &target.user {
            command.arg("-o").arg(format!("User={user}"));
        }
        command.arg("--").args(operands);
        match run_with(command, display, &self.options, ctx, false) {
            Err(CommandError::Spawn { command, source }) => Err(CommandError::Spawn {
                command: format!("{command} (scp)"),
                source,
            }),
            // scp's own failures (the connection, the SFTP session) end with 255.
            Err(CommandError::Failed { status, output, .. }) if status.code() == Some(255) => {
                let said = output.tail(3).join(" / ");
                let hint = if said == "scp: Connection closed" {
                    " (the session closed at once: does the host run an SFTP server, \
                     sshd's `Subsystem sftp`?)"
                } else {
                    ""
                };
                Err(self.host.ssh_error(format!(
                    "`{display}` ended with status 255{hint}: {}",
                    if said.is_empty() {
                        "scp said nothing"
                    } else {
                        &said
                    }
                )))
            }
            other => other,
        }
    }
}

/// A local path as an scp operand: never read as an option (`--` comes first
/// anyway), as `host:path` (a `:` before the first `/`) or as an `scp://` URI, because
/// a relative path is given as `./path`.
fn local_operand(path: &Path) -> OsString {
    if path.is_absolute() {
        path.as_os_str().to_owned()
    } else {
        let mut operand = OsString::from("./");
        operand.push(path.as_os_str());
        operand
    }
}

/// A remote path as scp's SFTP mode takes it literally: the login directory for an
/// empty path, `./~...` for a path that starts with `~`, and, for a pull's sources
/// (`glob`), `\` before each of `\*?[]`.
fn remote_path(path: &str, glob: bool) -> String {
    let path = if path.is_empty() {
        ".".to_string()
    } else if path.starts_with('~') {
        format!("./{path}")
    } else {
        path.to_string()
    };
    if !glob {
        return path;
    }
    let mut escaped = String::with_capacity(path.len());
    for c in path.chars() {
        if matches!(c, '\\' | '*' | '?' | '[' | ']') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

fn quoted_paths<'a>(paths: impl IntoIterator<Item = &'a str>) -> String {
    paths.into_iter().map(quote).collect::<Vec<_>>().join(" ")
}

fn local_display(path: &Path) -> String {
    quote(&path.to_string_lossy())
}

macro_rules! copy_options {
    ($job:ident) => {
        impl $job {
            /// Copies directories and their contents (`scp -r`); without it, a
            /// directory among the sources is an error.
            pub fn recursive(mut self, recursive: bool) -> Self {
                self.copy.recursive = recursive;
                self
            }

            /// Keeps the modification times and modes of the files (`scp -p`).
            pub fn preserve(mut self, preserve: bool) -> Self {
                self.copy.preserve = preserve;
                self
            }

            /// Keeps at most this many bytes of scp's output streams (see
            /// [`CommandJob::capture_limit`](crate::CommandJob::capture_limit)).
            pub fn capture_limit(mut self, bytes: usize) -> Self {
                self.copy.options.capture_limit = bytes;
                self
            }

            /// Passes each line that scp writes to `sink` as it comes.
            pub fn sink(mut self, sink: Sink) -> Self {
                self.copy.options.sink = Some(sink);
                self
            }

            /// Between SIGTERM and SIGKILL of the local scp (its process group), when
            /// cancelled or timed out.
            pub fn grace(mut self, grace: Duration) -> Self {
                self.copy.options.grace = grace;
                self
            }

            /// Kills the copy once it has run this long; the job then fails with
            /// [`CommandError::TimedOut`].
            pub fn timeout(mut self, timeout: Duration) -> Self {
                self.copy.options.timeout = Some(timeout);
                self
            }

            /// The host.
            pub fn host(&self) -> &SshHost {
                &self.copy.host
            }
        }
    };
}

/// A job that copies local files to a directory of a [`SshHost`]: apssh's `Push`.
///
/// It runs the system's `scp` (SFTP protocol, see the module docs) through the host's
/// shared connection when it has one, taking one of its sessions as an
/// [`SshJob`](crate::SshJob) does, with the host's options, identity, port and user.
/// The remote directory must exist (a relative one is in the login directory; `""` is
/// the login directory itself); each source lands in it under its own name. Remote
/// and local paths are taken literally, whatever characters they hold.
///
/// Its value is scp's [`CommandOutput`]. A failed copy fails the job with
/// [`CommandError::Failed`], whose command reads `push FILES to DIR on HOST` and whose
/// message quotes what scp said (`No such file or directory`, ...), or, when scp
/// itself could not work (status 255: no connection, no SFTP server), with
/// [`CommandError::Ssh`], naming the host, the copy and what scp said. Cancellation
/// and [`timeout`](SshPush::timeout) kill the local scp's process group, as for a
/// [`CommandJob`](crate::CommandJob).
///
/// ```no_run
/// use jobgraph::{Job, Scheduler};
/// use jobgraph_command::{SshHost, SshJob, SshPush};
///
/// let host = SshHost::parse("alice@node-1")?;
/// let push = Job::custom(SshPush::new(&host, ["build/app", "conf/app.toml"], "deploy"));
/// let start = Job::custom(SshJob::new(&host, ["deploy/app", "--config", "deploy/app.toml"]))
///     .requires(&push);
/// let s = Scheduler::new().add((&push, &start)).clone();
/// assert!(s.run()?);
/// s.shutdown();
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
#[must_use = "a job does nothing until a scheduler runs it (Job::custom)"]
pub struct SshPush {
    copy: Transfer,
    local: Vec<PathBuf>,
    remote_dir: String,
}

copy_options!(SshPush);

impl SshPush {
    /// Copies these local files (or directories, with
    /// [`recursive`](SshPush::recursive)) into `remote_dir` on `host`.
    pub fn new<I>(host: &SshHost, local: I, remote_dir: impl Into<String>) -> SshPush
    where
        I: IntoIterator,
        I::Item: AsRef<Path>,
    {
        SshPush {
            copy: Transfer::new(host),
            local: local
                .into_iter()
                .map(|p| p.as_ref().to_path_buf())
                .collect(),
            remote_dir: remote_dir.into(),
        }
    }

    /// The local files.
    pub fn local(&self) -> &[PathBuf] {
        &self.local
    }

    /// The remote directory.
    pub fn remote_dir(&self) -> &str {
        &self.remote_dir
    }

    /// Whether the job can start: at least one local path, none empty, no NUL byte in
    /// any path, and the host's ssh options valid (see [`SshJob::check`](crate::SshJob::check)).
    /// The job runs this check itself before it starts anything.
    pub fn check(&self) -> Result<(), CommandError> {
        let problem = if self.local.is_empty() {
            Some("there is no file to push".to_string())
        } else {
            self.copy
                .problem(&self.local, std::slice::from_ref(&self.remote_dir))
        };
        match problem {
            None => Ok(()),
            Some(message) => Err(CommandError::Invalid {
                command: self.display(),
                message,
            }),
        }
    }

    /// `push FILES to DIR on HOST`, as errors name the copy.
    fn display(&self) -> String {
        let files: Vec<String> = self.local.iter().map(|p| local_display(p)).collect();
        let dir = if self.remote_dir.is_empty() {
            "the login directory".to_string()
        } else {
            quote(&self.remote_dir)
        };
        format!(
            "push {}{} to {dir} on {}",
            self.copy.flags(),
            files.join(" "),
            self.copy.host.target()
        )
    }
}

impl AbstractJob for SshPush {
    type Output = Result<CommandOutput, CommandError>;

    fn run(&mut self, ctx: &Context<'_>) -> Self::Output {
        self.check()?;
        let mut operands: Vec<OsString> = self.local.iter().map(|p| local_operand(p)).collect();
        let mut dir = remote_path(&self.remote_dir, false);
        // A directory: scp fails when it does not exist, instead of writing a file
        // of that name.
        if !dir.ends_with('/') {
            dir.push('/');
        }
        operands.push(format!("{}{dir}", self.copy.remote_prefix()).into());
        self.copy.run(operands, &self.display(), ctx)
    }

    fn shutdown(&mut self) {
        self.copy.host.close();
    }

    fn kind(&self) -> &'static str {
        "SshPush"
    }

    fn text_label(&self) -> Option<String> {
        let what = match self.local.as_slice() {
            [one] => local_display(one),
            many => format!("{} file(s)", many.len()),
        };
        // `host:` alone is the login directory, as for scp.
        let dir = if self.remote_dir.is_empty() {
            String::new()
        } else {
            quote(&self.remote_dir)
        };
        Some(short(&format!(
            "push {what} to {}:{dir}",
            self.copy.host.target().host
        )))
    }

    fn details(&self) -> Option<String> {
        Some(self.display())
    }
}

/// A job that copies files of a [`SshHost`] to a local directory: apssh's `Pull`.
///
/// The counterpart of [`SshPush`], with the same connection, options and errors. The
/// local directory must exist when the job starts (an earlier job may make it); each
/// remote source lands in it under its own name. Remote paths are taken literally:
/// `*` is a file named `*`, not a pattern.
///
/// ```no_run
/// use jobgraph::{Job, Scheduler};
/// use jobgraph_command::{SshHost, SshPull};
///
/// let host = SshHost::parse("alice@node-1")?;
/// let pull = Job::custom(SshPull::new(&host, ["results/run 1.csv"], "/tmp"));
/// assert!(Scheduler::new().add(&pull).run()?);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
#[must_use = "a job does nothing until a scheduler runs it (Job::custom)"]
pub struct SshPull {
    copy: Transfer,
    remote: Vec<String>,
    local_dir: PathBuf,
}

copy_options!(SshPull);

impl SshPull {
    /// Copies these remote files (or directories, with
    /// [`recursive`](SshPull::recursive)) of `host` into `local_dir`.
    pub fn new<I>(host: &SshHost, remote: I, local_dir: impl AsRef<Path>) -> SshPull
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        SshPull {
            copy: Transfer::new(host),
            remote: remote.into_iter().map(Into::into).collect(),
            local_dir: local_dir.as_ref().to_path_buf(),
        }
    }

    /// The remote files.
    pub fn remote(&self) -> &[String] {
        &self.remote
    }

    /// The local directory.
    pub fn local_dir(&self) -> &Path {
        &self.local_dir
    }

    /// Whether the job can start: at least one remote path, none empty, no NUL byte in
    /// any path, and the host's ssh options valid. The job runs this check itself
    /// before it starts anything, and then also checks that the local directory is one.
    pub fn check(&self) -> Result<(), CommandError> {
        let problem = if self.remote.is_empty() {
            Some("there is no file to pull".to_string())
        } else if self.remote.iter().any(String::is_empty) {
            Some("a remote path is empty".to_string())
        } else {
            self.copy
                .problem(std::slice::from_ref(&self.local_dir), &self.remote)
        };
        match problem {
            None => Ok(()),
            Some(message) => Err(CommandError::Invalid {
                command: self.display(),
                message,
            }),
        }
    }

    /// `pull FILES from HOST to DIR`, as errors name the copy.
    fn display(&self) -> String {
        format!(
            "pull {}{} from {} to {}",
            self.copy.flags(),
            quoted_paths(self.remote.iter().map(String::as_str)),
            self.copy.host.target(),
            local_display(&self.local_dir)
        )
    }
}

impl AbstractJob for SshPull {
    type Output = Result<CommandOutput, CommandError>;

    fn run(&mut self, ctx: &Context<'_>) -> Self::Output {
        self.check()?;
        if !self.local_dir.is_dir() {
            return Err(CommandError::Invalid {
                command: self.display(),
                message: format!(
                    "the local directory {} does not exist or is not a directory",
                    local_display(&self.local_dir)
                ),
            });
        }
        let prefix = self.copy.remote_prefix();
        let mut operands: Vec<OsString> = self
            .remote
            .iter()
            .map(|p| format!("{prefix}{}", remote_path(p, true)).into())
            .collect();
        let mut dir = local_operand(&self.local_dir);
        dir.push("/");
        operands.push(dir);
        self.copy.run(operands, &self.display(), ctx)
    }

    fn shutdown(&mut self) {
        self.copy.host.close();
    }

    fn kind(&self) -> &'static str {
        "SshPull"
    }

    fn text_label(&self) -> Option<String> {
        let host = &self.copy.host.target().host;
        let what = match self.remote.as_slice() {
            [one] => format!("{host}:{}", quote(one)),
            many => format!("{} file(s) from {host}", many.len()),
        };
        Some(short(&format!(
            "pull {what} to {}",
            local_display(&self.local_dir)
        )))
    }

    fn details(&self) -> Option<String> {
        Some(self.display())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remote_paths_are_made_literal_for_sftp_mode() {
        assert_eq!(remote_path("", false), ".");
        assert_eq!(remote_path("~x/y", false), "./~x/y");
        assert_eq!(remote_path("a*b?[c]\\", false), "a*b?[c]\\");
        assert_eq!(remote_path("a*b?[c]\\", true), "a\\*b\\?\\[c\\]\\\\");
        assert_eq!(remote_path("-x $(y) 'z'", true), "-x $(y) 'z'");
    }

    #[test]
    fn local_paths_cannot_be_read_as_remote_ones() {
        assert_eq!(local_operand(Path::new("h:x")), "./h:x");
        assert_eq!(local_operand(Path::new("-r")), "./-r");
        assert_eq!(local_operand(Path::new("/a:b")), "/a:b");
    }
}
