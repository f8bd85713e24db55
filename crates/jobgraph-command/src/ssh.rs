//! [`SshJob`]: a command on another host, through the system's OpenSSH client and the
//! host's shared connection.

use std::process::Command;

use jobgraph::{AbstractJob, Context};

use crate::command::{run_with, short, Options};
use crate::host::SshHost;
use crate::output::{CommandError, CommandOutput};
use crate::quote::{quote, quote_words};
use crate::Program;

/// A job that runs a command on a [`SshHost`] through the system's `ssh`
/// (`-o BatchMode=yes`: keys or an agent, never a password prompt).
///
/// The command is quoted for the remote shell: argv word by word, a shell text as
/// `sh -c '<text>'`; `env` and `cwd` become `cd <dir> && env K=V ...` there. Nothing of
/// the job's label or host reaches a shell: ssh is run without one, the host checked.
///
/// By default the remote command gets a pty (`ssh -tt`): when the job is cancelled or
/// times out, the local ssh is killed, the pty closes and the remote command gets
/// SIGHUP, so nothing is left running there. Its stdout and stderr then arrive merged
/// on stdout (with `\r\n` turned back into `\n`). [`pty(false)`](SshJob::pty) keeps
/// them apart, but a cancelled remote command then runs on until it next writes.
///
/// Exit status 255 is ssh's own failure (the host unreachable, the key refused); the
/// error quotes what ssh said.
#[derive(Debug)]
#[must_use = "a job does nothing until a scheduler runs it (Job::custom)"]
pub struct SshJob {
    host: SshHost,
    pub(crate) program: Program,
    pub(crate) options: Options,
    pty: bool,
}

impl SshJob {
    /// Runs this program with these arguments on `host`.
    pub fn new<I>(host: &SshHost, argv: I) -> SshJob
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        SshJob::from_program(
            host,
            Program::Argv(argv.into_iter().map(Into::into).collect()),
        )
    }

    /// Runs this text with `sh -c` on `host`.
    pub fn shell(host: &SshHost, text: impl Into<String>) -> SshJob {
        SshJob::from_program(host, Program::Shell(text.into()))
    }

    /// Runs this program on `host`.
    pub fn from_program(host: &SshHost, program: Program) -> SshJob {
        SshJob {
            host: host.clone(),
            program,
            options: Options::default(),
            pty: true,
        }
    }

    option_setters! {
        env: "Sets an environment variable for the remote command (with `env` there).",
        cwd: "Runs the remote command in this directory (of the remote host).",
        grace: "Between SIGTERM and SIGKILL of the local ssh, when cancelled.",
        timeout: "Kills the command once it has run this long.",
    }

    /// Whether the remote command gets a pty (default true; see above).
    pub fn pty(mut self, pty: bool) -> Self {
        self.pty = pty;
        self
    }

    /// The host.
    pub fn host(&self) -> &SshHost {
        &self.host
    }

    /// The command line the remote shell gets: `cd -- DIR && env -- K=V ... argv`.
    ///
    /// Every value is quoted for the shell, and `--` ends the options of `cd` and
    /// `env` (and `sh -c` for a shell text), so no value is ever read as an option; a
    /// relative directory is given as `./DIR`, so that neither `-` nor `CDPATH` changes
    /// where it goes.
    pub fn remote_command(&self) -> String {
        self.remote_command_for(&self.program)
    }

    /// [`remote_command`](SshJob::remote_command) with another program.
    pub(crate) fn remote_command_for(&self, program: &Program) -> String {
        let mut text = String::new();
        if let Some(dir) = &self.options.cwd {
            let dir = dir.display().to_string();
            // Relative to the remote home, where ssh starts.
            let dir = if dir.starts_with('/') {
                dir
            } else {
                format!("./{dir}")
            };
            text.push_str("cd -- ");
            text.push_str(&quote(&dir));
            text.push_str(" && ");
        }
        if !self.options.env.is_empty() {
            text.push_str("env -- ");
            for (key, value) in &self.options.env {
                text.push_str(&quote(&format!("{key}={value}")));
                text.push(' ');
            }
        }
        match program {
            Program::Argv(argv) => text.push_str(&quote_words(argv)),
            Program::Shell(shell) => {
                text.push_str("sh -c -- ");
                text.push_str(&quote(shell));
            }
        }
        text
    }

    /// The command as a shell would run it, the way `jobgraph check` and listings show
    /// it: `ssh [-p PORT] [USER@]HOST -- 'REMOTE COMMAND'` (without the options that
    /// every job of the host gets).
    ///
    /// ```
    /// use jobgraph_command::{SshHost, SshJob};
    /// let host = SshHost::parse("alice@node:2222").unwrap();
    /// let job = SshJob::new(&host, ["echo", "a b"]).env("K", "v");
    /// assert_eq!(
    ///     job.command_line(),
    ///     r"ssh -p 2222 alice@node -- 'env -- K=v echo '\''a b'\'''"
    /// );
    /// ```
    pub fn command_line(&self) -> String {
        let target = &self.host.target();
        let mut text = String::from("ssh ");
        if let Some(port) = target.port {
            text.push_str(&format!("-p {port} "));
        }
        if let Some(user) = &target.user {
            text.push_str(user);
            text.push('@');
        }
        text.push_str(&target.host);
        text.push_str(" -- ");
        text.push_str(&quote(&self.remote_command()));
        text
    }

    /// Whether the job can start: what [`CommandJob::check`](crate::CommandJob::check)
    /// checks, and the host's ssh options (`Keyword=value`, no control character, not
    /// one of the options the job sets itself). The job runs this check itself before
    /// it starts anything, and fails with this error.
    pub fn check(&self) -> Result<(), CommandError> {
        self.check_program(&self.program)
    }

    /// [`check`](SshJob::check) for this job's options with another program.
    pub(crate) fn check_program(&self, program: &Program) -> Result<(), CommandError> {
        let invalid = |message: String| CommandError::Invalid {
            command: self.display(),
            message,
        };
        if let Some(message) = self.options.problem(program) {
            return Err(invalid(message));
        }
        if let Program::Argv(argv) = program {
            if !self.options.env.is_empty() && argv[0].contains('=') {
                return Err(invalid(format!(
                    "the program `{}` holds a `=`, which `env` would take for a variable",
                    argv[0]
                )));
            }
        }
        match self.host.problem() {
            Some(problem) => Err(invalid(problem)),
            None => Ok(()),
        }
    }

    fn display(&self) -> String {
        format!("ssh {}: {}", self.host.target(), self.program.display())
    }
}

impl AbstractJob for SshJob {
    type Output = Result<CommandOutput, CommandError>;

    fn run(&mut self, ctx: &Context<'_>) -> Self::Output {
        self.check()?;
        let cancelled = || ctx.is_cancelled();
        let config = self.host.config();
        let _session = self.host.session(&config, &cancelled)?;
        let mut command = Command::new("ssh");
        command
            .args(self.host.base_args(&config))
            .args(self.host.connection_args(&config));
        if self.pty {
            command.arg("-tt");
        } else {
            command.arg("-T");
        }
        command
            .arg("--")
            .arg(&self.host.target().host)
            .arg(self.remote_command());
        let display = self.display();
        let mut options = self.options.clone();
        // env and cwd are the remote command's, already in its text.
        options.env.clear();
        options.cwd = None;
        let result = run_with(command, &display, &options, ctx, self.pty);
        match result {
            Err(CommandError::Failed { status, output, .. }) if status.code() == Some(255) => {
                let said = output.stderr.tail_lines(3).join(" / ");
                let said = if said.is_empty() {
                    output.stdout.tail_lines(3).join(" / ")
                } else {
                    said
                };
                Err(self.host.ssh_error(format!(
                    "`{}` ended with status 255 (ssh's own failure, or the remote command's): {}",
                    self.program.display(),
                    if said.is_empty() {
                        "ssh said nothing"
                    } else {
                        &said
                    }
                )))
            }
            other => other,
        }
    }

    fn shutdown(&mut self) {
        self.host.close();
    }

    fn kind(&self) -> &'static str {
        "SshJob"
    }

    fn text_label(&self) -> Option<String> {
        Some(short(&format!(
            "{}: {}",
            self.host.target().host,
            self.program.display()
        )))
    }

    fn details(&self) -> Option<String> {
        Some(self.command_line())
    }
}
