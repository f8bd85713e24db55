//! [`SshScript`]: a local script run on a [`SshHost`] with arguments, apssh's
//! `RunScript`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use jobgraph::{AbstractJob, Context};

use crate::command::{run_with, short, Options};
use crate::host::SshHost;
use crate::output::{CommandError, CommandOutput, Sink};
use crate::process::{self, Exec, Input};
use crate::quote::{quote, quote_words};
use crate::ssh::SshJob;
use crate::Program;

/// Where the script comes from.
#[derive(Clone, Debug)]
enum Source {
    /// A local file, read when the job starts.
    File(PathBuf),
    /// This text.
    Text(String),
}

/// What the upload prints before the directory it made, so that whatever the remote
/// login prints around it does not matter.
const MARK: &str = "jobgraph-script-dir:";

/// How long removing the script's directory may take, once the script has ended.
const REMOVE_TIMEOUT: Duration = Duration::from_secs(10);

/// A job that runs a local script (a file, or a text) on a [`SshHost`] with
/// arguments: apssh's `RunScript`.
///
/// It runs in three steps, each one ssh command through the host's shared connection
/// (taking one of its sessions while it runs):
///
/// 1. the script goes on the standard input of `sh -c 'umask 077 && d=$(mktemp -d ..)
///    && cat > "$d"/NAME && chmod 700 "$d"/NAME ...'` (no pty), which makes a new
///    private directory on the host (in its `$TMPDIR`, `/tmp` by default) and writes
///    the script there;
/// 2. the script runs there as an [`SshJob`] would run it, with the same options:
///    `cd -- DIR && env -- K=V ... PATH ARGS...`, every argument quoted for the remote
///    shell ([`quote_words`]); a script that starts with `#!` is run as a program (its
///    interpreter chosen by that line), any other with `sh -- PATH ARGS...` (so a
///    `noexec` temporary directory only matters for the former). Its output is
///    streamed as an ssh job's, and a status other than 0 fails the job, naming the
///    script and host and quoting its last lines;
/// 3. the directory is removed (`rm -rf --`), also when the script failed, timed out
///    or was cancelled.
///
/// With a pty (the default), cancellation and [`timeout`](SshScript::timeout) kill the
/// local ssh, the pty closes and the script gets SIGHUP, exactly as for an
/// [`SshJob`]; the directory is then still removed. The job's value is the script's
/// [`CommandOutput`].
///
/// ```no_run
/// use jobgraph::{Job, Scheduler};
/// use jobgraph_command::{SshHost, SshScript};
///
/// let host = SshHost::parse("alice@node-1")?;
/// let setup = Job::custom(SshScript::new(&host, "scripts/setup.sh").args(["--prefix", "/opt/my app"]));
/// let s = Scheduler::new().add(&setup).clone();
/// assert!(s.run()?);
/// s.shutdown();
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
#[must_use = "a job does nothing until a scheduler runs it (Job::custom)"]
pub struct SshScript {
    source: Source,
    args: Vec<String>,
    /// The options of the run step; its program is set when the script is on the
    /// host.
    job: SshJob,
}

impl SshScript {
    /// Runs this local script file on `host` (read when the job starts).
    pub fn new(host: &SshHost, script: impl AsRef<Path>) -> SshScript {
        SshScript::from_source(host, Source::File(script.as_ref().to_path_buf()))
    }

    /// Runs this text as a script on `host` (a `#!` first line chooses its
    /// interpreter; `sh` runs it otherwise).
    pub fn text(host: &SshHost, text: impl Into<String>) -> SshScript {
        SshScript::from_source(host, Source::Text(text.into()))
    }

    fn from_source(host: &SshHost, source: Source) -> SshScript {
        SshScript {
            source,
            args: Vec::new(),
            job: SshJob::new(host, ["script"]),
        }
    }

    /// Adds an argument.
    pub fn arg(mut self, arg: impl Into<String>) -> Self {
        self.args.push(arg.into());
        self
    }

    /// Adds arguments.
    pub fn args<I>(mut self, args: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Sets an environment variable for the script (see [`SshJob::env`]).
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.job = self.job.env(key, value);
        self
    }

    /// Runs the script in this directory of the remote host (see [`SshJob::cwd`]).
    pub fn cwd(mut self, dir: impl AsRef<Path>) -> Self {
        self.job = self.job.cwd(dir);
        self
    }

    /// Keeps at most this many bytes of each stream of the script's output.
    pub fn capture_limit(mut self, bytes: usize) -> Self {
        self.job = self.job.capture_limit(bytes);
        self
    }

    /// Passes each line of the script's output to `sink` as it comes.
    pub fn sink(mut self, sink: Sink) -> Self {
        self.job = self.job.sink(sink);
        self
    }

    /// Between SIGTERM and SIGKILL of the local ssh, when cancelled.
    pub fn grace(mut self, grace: Duration) -> Self {
        self.job = self.job.grace(grace);
        self
    }

    /// Kills the script once it has run this long (and the upload, should it take
    /// this long).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.job = self.job.timeout(timeout);
        self
    }

    /// Whether the script gets a pty (default true; see [`SshJob::pty`]).
    pub fn pty(mut self, pty: bool) -> Self {
        self.job = self.job.pty(pty);
        self
    }

    /// The host.
    pub fn host(&self) -> &SshHost {
        self.job.host()
    }

    /// The script's name on the host: its file's name when that holds only letters,
    /// digits and `._-` (and does not start with `-`), `script` otherwise.
    fn name(&self) -> String {
        match &self.source {
            Source::File(path) => path
                .file_name()
                .and_then(|n| n.to_str())
                .filter(|n| {
                    !n.starts_with('-')
                        && n.bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
                })
                .unwrap_or("script")
                .to_string(),
            Source::Text(_) => "script".to_string(),
        }
    }

    /// `script NAME ARGS... on HOST`, as errors name the job.
    fn display(&self) -> String {
        let shown = match &self.source {
            Source::File(path) => path.to_string_lossy().into_owned(),
            Source::Text(_) => "(text)".to_string(),
        };
        let mut words = vec![shown];
        words.extend(self.args.iter().cloned());
        format!("script {} on {}", quote_words(&words), self.host().target())
    }

    /// The program of the run step, for a script in `dir`.
    fn program(&self, dir: &str, shebang: bool) -> Program {
        let path = format!("{dir}/{}", self.name());
        let mut argv = if shebang {
            vec![path]
        } else {
            vec!["sh".to_string(), "--".to_string(), path]
        };
        argv.extend(self.args.iter().cloned());
        Program::Argv(argv)
    }

    /// Whether the job can start: what [`SshJob::check`] checks of its arguments,
    /// environment, directory and host. The job runs this check itself before it
    /// starts anything, and fails with this error; an unreadable script file fails it
    /// the same way when it starts.
    pub fn check(&self) -> Result<(), CommandError> {
        self.job
            .check_program(&self.program("/tmp", true))
            .map_err(|e| self.renamed(e))
    }

    /// `error` naming this job rather than the ssh command of one of its steps.
    fn renamed(&self, error: CommandError) -> CommandError {
        let display = self.display();
        match error {
            CommandError::Invalid { message, .. } => CommandError::Invalid {
                command: display,
                message,
            },
            CommandError::Spawn { source, .. } => CommandError::Spawn {
                command: display,
                source,
            },
            CommandError::Failed { status, output, .. } => CommandError::Failed {
                command: display,
                status,
                output,
            },
            CommandError::TimedOut { after, output, .. } => CommandError::TimedOut {
                command: display,
                after,
                output,
            },
            CommandError::Cancelled { output, .. } => CommandError::Cancelled {
                command: display,
                output,
            },
            other => other,
        }
    }

    /// An ssh command for one of the steps (no pty), `text` run by `sh -c` there.
    fn step(&self, text: &str) -> Command {
        let host = self.host();
        let config = host.config();
        let mut command = Command::new("ssh");
        command
            .args(host.base_args(&config))
            .args(host.connection_args(&config))
            .arg("-T")
            .arg("--")
            .arg(&host.target().host)
            .arg(format!("sh -c -- {}", quote(text)));
        command
    }

    /// Step 1: the script written in a new private directory on the host; that
    /// directory.
    fn upload(&self, script: Vec<u8>, ctx: &Context<'_>) -> Result<String, CommandError> {
        let host = self.host();
        let config = host.config();
        let _session = host.session(&config, &|| ctx.is_cancelled())?;
        let name = self.name();
        let text = format!(
            "umask 077 && d=$(mktemp -d \"${{TMPDIR:-/tmp}}/jobgraph-script.XXXXXXXX\") \
             && cat > \"$d\"/{name} && chmod 700 \"$d\"/{name} && printf '{MARK}%s\\n' \"$d\""
        );
        let options = Options {
            input: Input::Bytes(script.into()),
            grace: self.job.options.grace,
            timeout: self.job.options.timeout,
            ..Options::default()
        };
        let display = format!("send the script to {}", host.target());
        match run_with(self.step(&text), &display, &options, ctx, false) {
            Ok(output) => {
                let text = output.stdout.text();
                let dir = text
                    .lines()
                    .filter_map(|line| line.strip_prefix(MARK))
                    .find(|dir| dir.starts_with('/'));
                match dir {
                    Some(dir) => Ok(dir.to_string()),
                    None => Err(host.ssh_error(format!(
                        "could not send the script: the host did not say where it went (it wrote {:?})",
                        output.stdout.tail_lines(3).join(" / ")
                    ))),
                }
            }
            Err(CommandError::Failed { output, .. }) => {
                let said = output.tail(3).join(" / ");
                Err(host.ssh_error(format!(
                    "could not send the script ({}): {}",
                    output.status,
                    if said.is_empty() {
                        "ssh said nothing"
                    } else {
                        &said
                    }
                )))
            }
            Err(error) => Err(self.renamed(error)),
        }
    }

    /// Step 3: the script's directory removed, whether or not the job was cancelled.
    fn remove(&self, dir: &str, ctx: &Context<'_>) -> Result<(), CommandError> {
        let host = self.host();
        let config = host.config();
        let _session = host.session(&config, &|| false)?;
        let display = format!("remove {} on {}", quote(dir), host.target());
        let label: Arc<str> = ctx
            .job()
            .map(|job| job.text_label())
            .unwrap_or_else(|| short(&display))
            .into();
        let exec = Exec {
            command: self.step(&format!("rm -rf -- {}", quote(dir))),
            display: &display,
            input: &Input::Null,
            capture_limit: 4096,
            sink: None,
            label,
            grace: Duration::from_millis(500),
            timeout: Some(REMOVE_TIMEOUT),
            strip_cr: false,
        };
        match process::run(exec, &|| false) {
            Ok(_) => Ok(()),
            Err(error) => Err(host.ssh_error(format!(
                "the script ran, but its directory {} could not be removed: {error}",
                quote(dir)
            ))),
        }
    }
}

impl AbstractJob for SshScript {
    type Output = Result<CommandOutput, CommandError>;

    fn run(&mut self, ctx: &Context<'_>) -> Self::Output {
        self.check()?;
        let script = match &self.source {
            Source::File(path) => std::fs::read(path).map_err(|e| CommandError::Invalid {
                command: self.display(),
                message: format!("cannot read the script {}: {e}", path.display()),
            })?,
            Source::Text(text) => text.clone().into_bytes(),
        };
        let shebang = script.starts_with(b"#!");
        let dir = self.upload(script, ctx)?;
        self.job.program = self.program(&dir, shebang);
        let result = self.job.run(ctx).map_err(|e| self.renamed(e));
        let removed = self.remove(&dir, ctx);
        match (result, removed) {
            (Ok(_), Err(error)) => Err(error),
            (result, _) => result,
        }
    }

    fn shutdown(&mut self) {
        self.host().close();
    }

    fn kind(&self) -> &'static str {
        "SshScript"
    }

    fn text_label(&self) -> Option<String> {
        let shown = match &self.source {
            Source::File(path) => path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| path.to_string_lossy().into_owned()),
            Source::Text(_) => "(script text)".to_string(),
        };
        let mut words = vec![shown];
        words.extend(self.args.iter().cloned());
        Some(short(&format!(
            "{}: {}",
            self.host().target().host,
            quote_words(&words)
        )))
    }

    fn details(&self) -> Option<String> {
        let program = self.program("$TMPDIR/jobgraph-script.XXXXXXXX", true);
        Some(format!(
            "{}: sent to a new directory, run there as `{}`, then removed",
            self.display(),
            self.job.remote_command_for(&program)
        ))
    }
}
