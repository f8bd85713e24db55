//! What the runner prints while it runs: job lines prefixed `[label]` (coloured on a
//! terminal), a progress bar on a terminal, and the per-job log files of `--logs`.

use std::collections::HashMap;
use std::fs::File;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use indicatif::{ProgressBar, ProgressStyle};
use jobgraph_command::{Line, Sink, Stream};

/// ANSI colours for labels, chosen per label.
const COLOURS: [&str; 6] = ["36", "33", "35", "32", "34", "31"];

/// A job's stdout and stderr log files (`None` when they could not be made).
type LogFiles = (Option<File>, Option<File>);

/// Prints job output and progress.
pub struct Printer {
    colour: bool,
    quiet: bool,
    progress: Option<ProgressBar>,
    logs: Option<PathBuf>,
    /// Each job's log files, opened at its first line.
    files: Mutex<HashMap<String, LogFiles>>,
}

impl Printer {
    /// A printer: colours when stdout is a terminal and `NO_COLOR` is not set, a
    /// progress bar when stderr is a terminal and `progress` is asked.
    pub fn new(quiet: bool, logs: Option<PathBuf>) -> Printer {
        let no_colour = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        Printer {
            colour: std::io::stdout().is_terminal() && !no_colour,
            quiet,
            progress: None,
            logs,
            files: Mutex::new(HashMap::new()),
        }
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

    /// One more job ended.
    pub fn job_ended(&self) {
        if let Some(bar) = &self.progress {
            bar.inc(1);
        }
    }

    /// Shows what runs now next to the bar.
    pub fn set_message(&self, message: String) {
        if let Some(bar) = &self.progress {
            bar.set_message(message);
        }
    }

    /// Removes the progress bar.
    pub fn finish(&self) {
        if let Some(bar) = &self.progress {
            bar.finish_and_clear();
        }
    }

    fn prefix(&self, label: &str) -> String {
        if self.colour {
            let hash = label
                .bytes()
                .fold(0usize, |h, b| h.wrapping_mul(31).wrapping_add(b as usize));
            format!("\x1b[{}m[{label}]\x1b[0m", COLOURS[hash % COLOURS.len()])
        } else {
            format!("[{label}]")
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

    fn line(&self, id: &str, line: &Line) {
        if let Some(dir) = &self.logs {
            let mut files = self.files.lock().unwrap_or_else(|e| e.into_inner());
            let (out, err) = files
                .entry(id.to_string())
                .or_insert_with(|| open_logs(dir, id));
            let file = match line.stream {
                Stream::Stdout => out,
                Stream::Stderr => err,
            };
            if let Some(file) = file {
                let _ = writeln!(file, "{}", line.text);
            }
        }
        if self.quiet {
            return;
        }
        let text = format!("{} {}", self.prefix(&line.label), line.text);
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
            files
                .entry(id.to_string())
                .or_insert_with(|| open_logs(dir, id));
        }
    }
}

fn open_logs(dir: &Path, id: &str) -> LogFiles {
    (
        File::create(dir.join(format!("{id}.stdout"))).ok(),
        File::create(dir.join(format!("{id}.stderr"))).ok(),
    )
}

/// The sink of job `id`: its lines go to `printer`.
pub fn sink_for(printer: &Arc<Printer>, id: &str) -> Sink {
    let printer = printer.clone();
    let id = id.to_string();
    Arc::new(move |line: &Line| printer.line(&id, line))
}
