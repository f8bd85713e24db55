//! [`CommandJob`]: a program run here, in its own process group.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use jobgraph::{AbstractJob, Context};

use crate::output::{CommandError, CommandOutput, Sink};
use crate::process::{self, Exec, Input};
use crate::quote::quote_words;

/// The capture limit by default: the last 64 KiB of each stream are kept.
pub const DEFAULT_CAPTURE_LIMIT: usize = 64 * 1024;

/// How long a cancelled command has between SIGTERM and SIGKILL by default.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(2);

/// What a command runs: a program with its arguments, or a text for `sh -c`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Program {
    /// A program and its arguments, run without a shell.
    Argv(Vec<String>),
    /// A text run by `sh -c`.
    Shell(String),
}

impl Program {
    /// The command as shown: argv quoted for a shell, or the shell text.
    pub fn display(&self) -> String {
        match self {
            Program::Argv(argv) => quote_words(argv),
            Program::Shell(text) => text.clone(),
        }
    }
}

/// What command jobs and ssh jobs share: input, output, and how they end.
#[derive(Clone)]
pub(crate) struct Options {
    pub env: Vec<(String, String)>,
    pub cwd: Option<PathBuf>,
    pub input: Input,
    pub capture_limit: usize,
    pub sink: Option<Sink>,
    pub grace: Duration,
    pub timeout: Option<Duration>,
}

impl std::fmt::Debug for Options {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Options")
            .field("env", &self.env)
            .field("cwd", &self.cwd)
            .field("input", &self.input)
            .field("capture_limit", &self.capture_limit)
            .field("sink", &self.sink.as_ref().map(|_| "Fn(&Line)"))
            .field("grace", &self.grace)
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl Default for Options {
    fn default() -> Self {
        Options {
            env: Vec::new(),
            cwd: None,
            input: Input::Null,
            capture_limit: DEFAULT_CAPTURE_LIMIT,
            sink: None,
            grace: DEFAULT_GRACE,
            timeout: None,
        }
    }
}

/// Whether `name` is an environment variable's name that every shell and `env` take as
/// one: a letter or `_`, then letters, digits and `_` (POSIX's portable names).
///
/// Command jobs and ssh jobs refuse any other name before they start anything: a name
/// such as `-S cmd` would otherwise reach the remote `env` as an option.
///
/// ```
/// use jobgraph_command::is_env_name;
/// assert!(is_env_name("CC") && is_env_name("_x1"));
/// assert!(!is_env_name("") && !is_env_name("1A") && !is_env_name("-S touch x") && !is_env_name("A=B"));
/// ```
pub fn is_env_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

impl Options {
    /// What is wrong with these options, if anything: checked before a command starts.
    pub(crate) fn problem(&self, program: &Program) -> Option<String> {
        match program {
            Program::Argv(argv) if argv.is_empty() => return Some("the command is empty".into()),
            Program::Argv(argv) if argv[0].is_empty() => {
                return Some("the program (the first word) is empty".into())
            }
            Program::Argv(argv) => {
                if let Some(word) = argv.iter().find(|w| w.contains('\0')) {
                    return Some(format!("the argument {word:?} holds a NUL byte"));
                }
            }
            Program::Shell(text) if text.contains('\0') => {
                return Some("the shell text holds a NUL byte".into())
            }
            Program::Shell(_) => {}
        }
        for (key, value) in &self.env {
            if !is_env_name(key) {
                return Some(format!(
                    "`{key}` is not an environment variable name (a letter or `_`, then letters, digits and `_`)"
                ));
            }
            if value.contains('\0') {
                return Some(format!("the value of `{key}` holds a NUL byte"));
            }
        }
        if let Some(dir) = &self.cwd {
            let text = dir.as_os_str().as_encoded_bytes();
            if text.is_empty() {
                return Some("the working directory is empty".into());
            }
            if text.contains(&0) {
                return Some(format!("the working directory {dir:?} holds a NUL byte"));
            }
        }
        None
    }
}

/// Label text for a command: its first line, at most 60 characters.
pub(crate) fn short(text: &str) -> String {
    let first = text.lines().next().unwrap_or("");
    let mut short: String = first.chars().take(60).collect();
    if short.len() < text.len() {
        short.push('…');
    }
    short
}

/// A job that runs a program on this machine: the
/// [`AbstractJob`] for shell-command DAGs.
///
/// * `argv` runs without a shell; [`CommandJob::shell`] uses `sh -c` when asked;
/// * standard input is `/dev/null` unless given ([`stdin_str`](CommandJob::stdin_str),
///   [`stdin_file`](CommandJob::stdin_file));
/// * stdout and stderr are captured (the last [`capture_limit`](CommandJob::capture_limit)
///   bytes of each are kept) and passed line by line to a [`sink`](CommandJob::sink);
/// * the command is the leader of its own process group. When the run cancels the job
///   (a scheduler timeout, a critical failure elsewhere, the end of the other jobs for
///   a forever job) or the job's own [`timeout`](CommandJob::timeout) expires, the
///   whole group gets SIGTERM, then SIGKILL after the [`grace`](CommandJob::grace).
///   When the command exits, whatever it left running in its group is killed. The job
///   returns only once its process is reaped: nothing is left behind, except what the
///   command itself moved out of its group: a process that calls `setsid` or
///   `setpgid` (a daemon, `setsid cmd &`) is no longer reached by these signals and
///   may outlive the job and the run. That is the way to start something meant to
///   outlive the job; anything else should stay in its group.
///
/// Its value is the [`CommandOutput`]; an exit status other than 0 fails the job with
/// [`CommandError::Failed`], which names the command and status and quotes the last
/// lines of its output.
///
/// ```
/// use jobgraph::{Job, Scheduler};
/// use jobgraph_command::CommandJob;
///
/// let hello = Job::custom(CommandJob::new(["echo", "hello"])).label("hello");
/// let count = Job::custom(CommandJob::shell("echo one two | wc -w")).requires(&hello);
/// assert!(Scheduler::new().add((&hello, &count)).run().unwrap());
/// assert_eq!(count.result().unwrap().stdout.text().trim(), "2");
/// ```
#[derive(Clone, Debug)]
#[must_use = "a job does nothing until a scheduler runs it (Job::custom)"]
pub struct CommandJob {
    program: Program,
    options: Options,
}

impl CommandJob {
    /// Runs this program with these arguments, without a shell.
    pub fn new<I>(argv: I) -> CommandJob
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        CommandJob::from_program(Program::Argv(argv.into_iter().map(Into::into).collect()))
    }

    /// Runs this text with `sh -c`.
    pub fn shell(text: impl Into<String>) -> CommandJob {
        CommandJob::from_program(Program::Shell(text.into()))
    }

    /// Runs this program.
    pub fn from_program(program: Program) -> CommandJob {
        CommandJob {
            program,
            options: Options::default(),
        }
    }

    /// What it runs.
    pub fn program(&self) -> &Program {
        &self.program
    }

    /// Gives the command this text on its standard input.
    pub fn stdin_str(mut self, text: impl Into<String>) -> Self {
        self.options.input = Input::Bytes(text.into().into_bytes().into());
        self
    }

    /// Gives the command this file on its standard input.
    pub fn stdin_file(mut self, path: impl AsRef<Path>) -> Self {
        self.options.input = Input::File(path.as_ref().to_path_buf());
        self
    }

    option_setters! {
        env: "Sets an environment variable for the command (the rest is inherited). The name \
              must be a variable name ([`is_env_name`]) and the value hold no NUL byte: else \
              the job fails with [`CommandError::Invalid`] before anything starts \
              ([`check`](CommandJob::check) tells it earlier).",
        cwd: "Runs the command in this directory.",
        grace: "How long a cancelled or timed-out command has between SIGTERM and SIGKILL \
                (default [`DEFAULT_GRACE`]). Give the scheduler a \
                [`grace`](jobgraph::Scheduler::grace) at least this long so that it waits for it.",
        timeout: "Kills the command once it has run this long; the job then fails with \
                  [`CommandError::TimedOut`].",
    }

    /// The command as a shell would run it, the way `jobgraph check` and listings
    /// show it: `cd -- DIR && env -- K=V ... ARGV`, or `sh -c -- 'TEXT'`, each word
    /// quoted as a shell needs it.
    ///
    /// ```
    /// use jobgraph_command::CommandJob;
    /// let job = CommandJob::new(["make", "-j4"]).env("CC", "clang 18").cwd("/src");
    /// assert_eq!(job.command_line(), "cd -- /src && env -- 'CC=clang 18' make -j4");
    /// assert_eq!(CommandJob::shell("ls | wc -l").command_line(), "sh -c -- 'ls | wc -l'");
    /// ```
    pub fn command_line(&self) -> String {
        let mut text = String::new();
        if let Some(dir) = &self.options.cwd {
            text.push_str("cd -- ");
            text.push_str(&crate::quote(&dir.display().to_string()));
            text.push_str(" && ");
        }
        if !self.options.env.is_empty() {
            text.push_str("env -- ");
            for (key, value) in &self.options.env {
                text.push_str(&crate::quote(&format!("{key}={value}")));
                text.push(' ');
            }
        }
        match &self.program {
            Program::Argv(argv) => text.push_str(&quote_words(argv)),
            Program::Shell(shell) => {
                text.push_str("sh -c -- ");
                text.push_str(&crate::quote(shell));
            }
        }
        text
    }

    /// Whether the job can start: its env names are variable names, no NUL byte hides
    /// in its argv, env values or working directory, and that directory exists. The
    /// job runs this check itself before it starts anything, and fails with this
    /// error.
    pub fn check(&self) -> Result<(), CommandError> {
        let mut problem = self.options.problem(&self.program);
        if let Some(dir) = self.options.cwd.as_ref().filter(|_| problem.is_none()) {
            if !dir.is_dir() {
                problem = Some(format!(
                    "its working directory `{}` does not exist",
                    dir.display()
                ));
            }
        }
        match problem {
            None => Ok(()),
            Some(message) => Err(CommandError::Invalid {
                command: self.program.display(),
                message,
            }),
        }
    }

    pub(crate) fn std_command(&self) -> Command {
        let mut command = match &self.program {
            Program::Argv(argv) => {
                let mut command = Command::new(argv.first().map(String::as_str).unwrap_or(""));
                command.args(argv.iter().skip(1));
                command
            }
            Program::Shell(text) => {
                // `--`: a text that starts with `-` or `+` is the command, not options.
                let mut command = Command::new("sh");
                command.arg("-c").arg("--").arg(text);
                command
            }
        };
        for (key, value) in &self.options.env {
            command.env(key, value);
        }
        if let Some(dir) = &self.options.cwd {
            command.current_dir(dir);
        }
        command
    }
}

/// Runs a `std` command with these options until it ends, the job's label on its lines.
pub(crate) fn run_with(
    command: Command,
    display: &str,
    options: &Options,
    ctx: &Context<'_>,
    strip_cr: bool,
) -> Result<CommandOutput, CommandError> {
    let label: Arc<str> = ctx
        .job()
        .map(|job| job.text_label())
        .unwrap_or_else(|| short(display))
        .into();
    let exec = Exec {
        command,
        display,
        input: &options.input,
        capture_limit: options.capture_limit,
        sink: options.sink.as_ref(),
        label,
        grace: options.grace,
        timeout: options.timeout,
        strip_cr,
    };
    process::run(exec, &|| ctx.is_cancelled())
}

impl AbstractJob for CommandJob {
    type Output = Result<CommandOutput, CommandError>;

    fn run(&mut self, ctx: &Context<'_>) -> Self::Output {
        self.check()?;
        let display = self.program.display();
        run_with(self.std_command(), &display, &self.options, ctx, false)
    }

    fn kind(&self) -> &'static str {
        "CommandJob"
    }

    fn text_label(&self) -> Option<String> {
        Some(short(&self.program.display()))
    }

    fn details(&self) -> Option<String> {
        Some(self.command_line())
    }
}
