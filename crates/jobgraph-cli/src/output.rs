//! What the runner prints while it runs: job lines prefixed `[label]` (coloured on a
//! terminal), a progress bar on a terminal, and the per-job log files of `--logs`.
//!
//! Labels are always shown [`printable`]: a scenario cannot reach the terminal with an
//! escape sequence. A job's own output lines are shown printable too, unless `--raw`
//! asks for them as the command wrote them; the log files always hold the exact bytes.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use indicatif::{ProgressBar, ProgressStyle};
use jobgraph::printable;
use jobgraph_command::{Line, Sink, Stream};

/// ANSI colours for labels, chosen per label.
const COLOURS: [&str; 6] = ["36", "33", "35", "32", "34", "31"];

/// One log file: open, or given up on after an error (said once).
#[derive(Debug)]
struct LogFile {
    path: PathBuf,
    /// Buffered: a command's lines are written in blocks, and flushed when the job
    /// ends (or the buffer fills).
    file: Option<BufWriter<File>>,
}

/// A job's stdout and stderr log files.
type LogFiles = (LogFile, LogFile);

/// Prints job output and progress.
#[derive(Debug)]
pub struct Printer {
    colour: bool,
    quiet: bool,
    raw: bool,
    progress: Option<ProgressBar>,
    logs: Option<PathBuf>,
    /// Each job's log files, opened at its first line.
    files: Mutex<Logs>,
    /// The log files that could not be written, with why: one entry per file.
    log_errors: Mutex<Vec<String>>,
}

impl Printer {
    /// A printer: colours when stdout is a terminal and `NO_COLOR` is not set, a
    /// progress bar when stderr is a terminal and `progress` is asked.
    pub fn new(quiet: bool, logs: Option<PathBuf>) -> Printer {
        let no_colour = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        Printer {
            colour: std::io::stdout().is_terminal() && !no_colour,
            quiet,
            raw: false,
            progress: None,
            logs,
            files: Mutex::new(Logs::default()),
            log_errors: Mutex::new(Vec::new()),
        }
    }

    /// Shows the jobs' output lines as the commands wrote them, control characters
    /// and escape sequences included (by default they are shown [`printable`]).
    pub fn raw(mut self, raw: bool) -> Printer {
        self.raw = raw;
        self
    }

    /// The log files that could not be written, each with why (empty when all were).
    pub fn log_errors(&self) -> Vec<String> {
        self.log_errors
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Says on stderr, once per file, that a log file could not be written.
    fn log_failed(&self, path: &Path, what: &str, error: &std::io::Error) {
        let text = format!("cannot {what} the log {}: {error}", path.display());
        self.say_error(&format!("jobgraph: warning: {text}"));
        self.log_errors
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(text);
    }

    /// Shows a progress bar of `total` jobs, when stderr is a terminal.
    pub fn with_progress(mut self, total: u64) -> Printer {
        if !self.quiet && std::io::stderr().is_terminal() {
            let bar = ProgressBar::new(total);
            bar.set_style(
                ProgressStyle::with_template("{bar:30} {pos}/{len} jobs  {elapsed}  {wide_msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            self.progress = Some(bar);
        }
        self
    }

    /// One more job ended: its log files are flushed.
    pub fn job_ended(&self, id: &str) {
        if let Some(bar) = &self.progress {
            bar.inc(1);
        }
        let mut files = self.files.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((out, err)) = files.by_id.get_mut(id) {
            for log in [out, err] {
                self.flush(log);
            }
        }
    }

    fn flush(&self, log: &mut LogFile) {
        if let Some(file) = &mut log.file {
            if let Err(e) = file.flush() {
                log.file = None;
                self.log_failed(&log.path, "write", &e);
            }
        }
    }

    /// Shows what runs now next to the bar.
    pub fn set_message(&self, message: &str) {
        if let Some(bar) = &self.progress {
            bar.set_message(printable(message).into_owned());
        }
    }

    /// Removes the progress bar, and flushes every log file.
    pub fn finish(&self) {
        if let Some(bar) = &self.progress {
            bar.finish_and_clear();
        }
        let mut files = self.files.lock().unwrap_or_else(|e| e.into_inner());
        for (out, err) in files.by_id.values_mut() {
            self.flush(out);
            self.flush(err);
        }
    }

    fn prefix(&self, label: &str) -> String {
        let label = printable(label);
        if self.colour {
            let hash = label
                .bytes()
                .fold(0usize, |h, b| h.wrapping_mul(31).wrapping_add(b as usize));
            format!("\x1b[{}m[{label}]\x1b[0m", COLOURS[hash % COLOURS.len()])
        } else {
            format!("[{label}]")
        }
    }

    /// Prints a line of the runner's own on stderr, above the bar.
    pub fn say_error(&self, text: &str) {
        let print = || {
            let mut out = std::io::stderr().lock();
            let _ = writeln!(out, "{text}");
        };
        match &self.progress {
            Some(bar) => bar.suspend(print),
            None => print(),
        }
    }

    /// Prints a line of the runner's own (not a job's), above the bar.
    pub fn say(&self, text: &str) {
        let print = || {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{text}");
        };
        match &self.progress {
            Some(bar) => bar.suspend(print),
            None => print(),
        }
    }

    fn line(&self, id: &str, prefix: &str, line: &Line) {
        if let Some(dir) = &self.logs {
            let mut files = self.files.lock().unwrap_or_else(|e| e.into_inner());
            let (out, err) = self.logs_of(&mut files, dir, id);
            let log = match line.stream {
                Stream::Stdout => out,
                Stream::Stderr => err,
            };
            if let Some(file) = &mut log.file {
                let mut bytes = Vec::with_capacity(line.bytes.len() + 1);
                bytes.extend_from_slice(&line.bytes);
                if line.newline {
                    bytes.push(b'\n');
                }
                if let Err(e) = file.write_all(&bytes) {
                    log.file = None;
                    self.log_failed(&log.path, "write", &e);
                }
            }
        }
        if self.quiet {
            return;
        }
        let shown = if self.raw {
            std::borrow::Cow::Borrowed(line.text.as_str())
        } else {
            printable(&line.text)
        };
        let text = format!("{prefix} {shown}");
        let print = || match line.stream {
            Stream::Stdout => {
                let _ = writeln!(std::io::stdout().lock(), "{text}");
            }
            Stream::Stderr => {
                let _ = writeln!(std::io::stderr().lock(), "{text}");
            }
        };
        match &self.progress {
            Some(bar) => bar.suspend(print),
            None => print(),
        }
    }

    /// Makes every job's log files exist, empty, even for a job that prints nothing.
    pub fn touch_logs(&self, id: &str) {
        if let Some(dir) = &self.logs {
            let mut files = self.files.lock().unwrap_or_else(|e| e.into_inner());
            self.logs_of(&mut files, dir, id);
        }
    }

    /// Job `id`'s log files in `dir`, made at the first call.
    fn logs_of<'a>(&self, logs: &'a mut Logs, dir: &Path, id: &str) -> &'a mut LogFiles {
        let Logs { by_id, names } = logs;
        by_id
            .entry(id.to_string())
            .or_insert_with(|| self.open_logs(dir, &names.name(id)))
    }

    /// Makes a job's two log files, `name.stdout` and `name.stderr`; one that cannot
    /// be made is said, once.
    fn open_logs(&self, dir: &Path, name: &str) -> LogFiles {
        let open = |stream: &str| {
            let path = dir.join(format!("{name}.{stream}"));
            let file = match File::create(&path) {
                Ok(file) => Some(BufWriter::with_capacity(64 * 1024, file)),
                Err(e) => {
                    self.log_failed(&path, "create", &e);
                    None
                }
            };
            LogFile { path, file }
        };
        (open("stdout"), open("stderr"))
    }
}

/// The sink of job `id`: its lines go to `printer`, shown after `[prefix]`.
pub fn sink_for(printer: &Arc<Printer>, id: &str, prefix: &str) -> Sink {
    let printer = printer.clone();
    let id = id.to_string();
    let prefix = printer.prefix(prefix);
    Arc::new(move |line: &Line| printer.line(&id, &prefix, line))
}

/// The jobs' log files, and the names they took.
#[derive(Debug, Default)]
struct Logs {
    by_id: HashMap<String, LogFiles>,
    names: FileNames,
}

/// File names for job ids, each its own: [`file_name`]'s, with `~2`, `~3`... after it
/// for an id whose name an earlier id took (`sim[p=a/b]` and `sim[p=a:b]` both make
/// `sim_p=a_b_`). A `file_name` holds no `~`, so a suffixed name is no other id's.
/// Given the ids in the scenario's order, the names are the same from run to run.
#[derive(Debug, Default)]
pub struct FileNames {
    taken: HashSet<String>,
}

impl FileNames {
    /// The file name of `id`, not given before.
    pub fn name(&mut self, id: &str) -> String {
        let base = file_name(id);
        let mut name = base.clone();
        let mut k = 1;
        while !self.taken.insert(name.clone()) {
            k += 1;
            name = format!("{base}~{k}");
        }
        name
    }
}

/// A job id as a file name: characters other than letters, digits and `._-=,+@` (an
/// instance's `[`, `]`, `:`, `/`, spaces) become `_`. Two ids may make one name: see
/// [`FileNames`].
pub fn file_name(id: &str) -> String {
    id.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-=,+@".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}
