//! What a command gives back: its lines as they come, its captured output, its status,
//! and its errors.

use std::fmt;
use std::path::PathBuf;
use std::process::ExitStatus;
use std::sync::Arc;
use std::time::Duration;

/// Which output stream a [`Line`] came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Stream {
    /// The command's standard output.
    Stdout,
    /// The command's standard error (merged into stdout for an ssh job with a pty).
    Stderr,
}

/// One line of a command's output, without its end of line, passed to the job's
/// [`Sink`] as soon as it is read.
///
/// A line longer than 64 KiB comes in pieces, and the last bytes of a stream that
/// does not end with a newline come as a line too: [`newline`](Line::newline) says
/// whether the command wrote a `\n` after these bytes, so that writing
/// [`bytes`](Line::bytes), then `\n` where `newline` is true, gives back exactly the
/// bytes the command wrote (for an ssh job with a pty, after `\r\n` became `\n`).
#[derive(Clone, Debug)]
pub struct Line {
    /// The job's label, as its scheduler shows it.
    pub label: Arc<str>,
    /// Where it came from.
    pub stream: Stream,
    /// The text (invalid UTF-8 replaced by U+FFFD).
    pub text: String,
    /// The bytes as the command wrote them, without the `\n`.
    pub bytes: Vec<u8>,
    /// Whether a `\n` followed these bytes in the stream.
    pub newline: bool,
}

impl Line {
    /// A line of `stream`, from its bytes.
    pub(crate) fn of(label: &Arc<str>, stream: Stream, bytes: Vec<u8>, newline: bool) -> Line {
        Line {
            label: label.clone(),
            stream,
            text: String::from_utf8_lossy(&bytes).into_owned(),
            bytes,
            newline,
        }
    }
}

/// A line longer than this is passed on in pieces.
const MAX_LINE: usize = 64 * 1024;

/// Cuts a stream into lines: at each `\n`, and in pieces of [`MAX_LINE`] bytes for a
/// longer line; each piece is given with whether a `\n` ended it.
#[derive(Debug, Default)]
pub(crate) struct LineCutter {
    partial: Vec<u8>,
}

impl LineCutter {
    /// Takes more of the stream, giving each line it completes to `emit`.
    pub(crate) fn feed(&mut self, data: &[u8], mut emit: impl FnMut(Vec<u8>, bool)) {
        let mut rest = data;
        while let Some(end) = rest.iter().position(|&b| b == b'\n') {
            let mut line = std::mem::take(&mut self.partial);
            line.extend_from_slice(&rest[..end]);
            emit(line, true);
            rest = &rest[end + 1..];
        }
        self.partial.extend_from_slice(rest);
        if self.partial.len() > MAX_LINE {
            emit(std::mem::take(&mut self.partial), false);
        }
    }

    /// The end of the stream: what is left, as a last line without its `\n`.
    pub(crate) fn finish(&mut self, mut emit: impl FnMut(Vec<u8>, bool)) {
        if !self.partial.is_empty() {
            emit(std::mem::take(&mut self.partial), false);
        }
    }
}

/// What receives a job's output lines, on the job's worker thread: keep it quick.
pub type Sink = Arc<dyn Fn(&Line) + Send + Sync>;

/// The captured output of one stream: the last `limit` bytes, and how much there was.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Captured {
    bytes: Vec<u8>,
    total: u64,
    limit: usize,
}

impl Captured {
    pub(crate) fn new(limit: usize) -> Captured {
        Captured {
            bytes: Vec::new(),
            total: 0,
            limit,
        }
    }

    pub(crate) fn push(&mut self, data: &[u8]) {
        self.total += data.len() as u64;
        if self.limit == 0 {
            return;
        }
        self.bytes.extend_from_slice(data);
        // Trimmed in batches, so that a chatty command is not copied for every read.
        if self.bytes.len() > 2 * self.limit {
            let cut = self.bytes.len() - self.limit;
            self.bytes.drain(..cut);
        }
    }

    /// The kept bytes: the end of the stream, at most the capture limit.
    pub fn bytes(&self) -> &[u8] {
        let start = self.bytes.len().saturating_sub(self.limit);
        &self.bytes[start..]
    }

    /// The kept bytes as text (invalid UTF-8 replaced).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(self.bytes()).into_owned()
    }

    /// How many bytes the stream carried in all.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// Whether the beginning of the stream was dropped to stay within the limit.
    pub fn truncated(&self) -> bool {
        self.total > self.bytes().len() as u64
    }

    /// The last `n` lines kept (fewer when there are fewer).
    pub fn tail_lines(&self, n: usize) -> Vec<String> {
        let text = self.text();
        let lines: Vec<&str> = text.lines().collect();
        let start = lines.len().saturating_sub(n);
        lines[start..]
            .iter()
            .map(|l| l.trim_end_matches('\r').to_string())
            .collect()
    }
}

impl fmt::Debug for Captured {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} byte(s)", self.total)?;
        if self.truncated() {
            write!(f, ", last {} kept", self.bytes().len())?;
        }
        Ok(())
    }
}

/// A command that ran to its end: the job's value when it exited with status 0, and
/// part of its error otherwise.
#[derive(Clone, Debug)]
pub struct CommandOutput {
    /// The command, as shown in errors and listings.
    pub command: String,
    /// How it ended.
    pub status: ExitStatus,
    /// Its standard output (the tail within the capture limit).
    pub stdout: Captured,
    /// Its standard error (the tail within the capture limit).
    pub stderr: Captured,
    /// How long it ran.
    pub duration: Duration,
}

impl CommandOutput {
    /// The last `n` lines of its standard error, or of its standard output when it
    /// wrote nothing on standard error.
    pub fn tail(&self, n: usize) -> Vec<String> {
        let lines = self.stderr.tail_lines(n);
        if lines.is_empty() {
            self.stdout.tail_lines(n)
        } else {
            lines
        }
    }
}

/// Why a command job failed. Each names the command.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CommandError {
    /// The program could not be started (not found, not executable, bad `cwd`).
    #[error("`{command}` could not start: {source}")]
    Spawn {
        /// The command.
        command: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file meant as standard input could not be opened.
    #[error("`{command}` could not start: cannot open its input `{}`: {source}", .path.display())]
    Stdin {
        /// The command.
        command: String,
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Waiting for the command failed (should not happen).
    #[error("`{command}`: could not wait for it: {source}")]
    Wait {
        /// The command.
        command: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The command ended with a non-zero status or was killed by a signal.
    #[error("`{command}` failed: {status}{}", tail_text(.output))]
    Failed {
        /// The command.
        command: String,
        /// How it ended.
        status: ExitStatus,
        /// What it wrote.
        output: Box<CommandOutput>,
    },
    /// The command ran past its own timeout, and its process group was killed.
    #[error("`{command}` timed out after {after:?}; its process group was killed{}", tail_text(.output))]
    TimedOut {
        /// The command.
        command: String,
        /// The job's timeout.
        after: Duration,
        /// What it wrote before.
        output: Box<CommandOutput>,
    },
    /// The run cancelled the job, and its process group was killed.
    #[error("`{command}` was cancelled; its process group was killed")]
    Cancelled {
        /// The command.
        command: String,
        /// What it wrote before.
        output: Box<CommandOutput>,
    },
    /// The job's settings are not valid (an env name that is not a variable name, a
    /// NUL byte in a value, an empty command): nothing was started.
    #[error("`{command}` was not started: {message}")]
    Invalid {
        /// The command.
        command: String,
        /// What is wrong.
        message: String,
    },
    /// A Slurm job ended in a state other than `COMPLETED` with exit code 0, or was
    /// cancelled (by the run, or at its own timeout, reported as `TIMEOUT`).
    #[error("Slurm job {job_id} (`{command}`) ended {state}{}: {why}{}", exit_text(*.exit_code, *.signal), tail_text(.output))]
    Slurm {
        /// The Slurm job id.
        job_id: String,
        /// Its final state, in Slurm's words.
        state: crate::slurm::SlurmState,
        /// Its exit code, as Slurm gives it (`None` when a signal ended it).
        exit_code: Option<i32>,
        /// The signal that ended it, if one did.
        signal: Option<i32>,
        /// Why, in words: Slurm's reason, or what this process did.
        why: String,
        /// The command.
        command: String,
        /// What it wrote to its output files.
        output: Box<CommandOutput>,
    },
    /// A Slurm job could not be submitted (`sbatch` failed or could not run).
    #[error("`{command}` could not be submitted to Slurm: {message}")]
    SlurmSubmit {
        /// The command.
        command: String,
        /// What went wrong, with sbatch's own message.
        message: String,
    },
    /// A Slurm option or resource value was refused before anything was submitted.
    #[error("bad Slurm option `{}`: {reason}; nothing was submitted", .option.escape_debug())]
    SlurmOption {
        /// The option, as it would have been given.
        option: String,
        /// What is wrong with it.
        reason: String,
    },
    /// An ssh job could not reach its host.
    #[error("ssh to `{host}` failed: {message}")]
    Ssh {
        /// The host, as given.
        host: String,
        /// What went wrong, with ssh's own message.
        message: String,
    },
}

impl CommandError {
    /// The command's output, when it ran.
    pub fn output(&self) -> Option<&CommandOutput> {
        match self {
            CommandError::Failed { output, .. }
            | CommandError::TimedOut { output, .. }
            | CommandError::Cancelled { output, .. }
            | CommandError::Slurm { output, .. } => Some(output),
            _ => None,
        }
    }

    /// The exit status, when the command ran to its end.
    pub fn status(&self) -> Option<ExitStatus> {
        self.output().map(|o| o.status)
    }
}

fn exit_text(code: Option<i32>, signal: Option<i32>) -> String {
    match (code, signal) {
        (Some(code), _) => format!(" with exit code {code}"),
        (None, Some(signal)) => format!(" by signal {signal}"),
        (None, None) => String::new(),
    }
}

/// How many lines of output an error quotes.
const TAIL_LINES: usize = 5;

fn tail_text(output: &CommandOutput) -> String {
    let lines = output.tail(TAIL_LINES);
    if lines.is_empty() {
        return String::new();
    }
    let which = if output.stderr.total() > 0 {
        "stderr"
    } else {
        "stdout"
    };
    let mut text = format!("; last lines of {which}:");
    for line in lines {
        text.push_str("\n    ");
        text.push_str(&line);
    }
    text
}
