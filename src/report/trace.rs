//! A [`Timeline`] as a Chrome trace: the JSON of the Trace Event Format, which
//! Perfetto (<https://ui.perfetto.dev>) and `chrome://tracing` open.
//!
//! Why it is written here rather than through `serde_json`: the format needs a handful
//! of flat objects whose only free text is a label, and writing them costs this file
//! less than the dependency would cost every build of the crate (as the DOT text does,
//! see `dot.rs`); the tests read every trace back with `serde_json`, hostile labels
//! included.

use std::fmt::Write as _;
use std::io;
use std::time::Duration;

use super::timeline::{TimedJob, Timeline};

impl Timeline {
    /// The timeline in the Chrome trace event format, as JSON: open it in
    /// [Perfetto](https://ui.perfetto.dev) (drag the file onto the page) or in
    /// `chrome://tracing` (its Load button).
    ///
    /// `{"traceEvents":[...],"displayTimeUnit":"ms"}`, where:
    ///
    /// * each scheduler is a process (`pid` 1 for this one, then 2, 3, ... for the
    ///   nested schedulers, depth first in the order of their jobs), named by
    ///   `process_name` metadata (`M` events), a nested one
    ///   `LABEL (in PARENT)`, and kept in that order by `process_sort_index`;
    /// * each of its workers is a thread of that process, `tid` the worker's number
    ///   ([`Attempt::worker`](crate::Attempt::worker)), named `worker N` by
    ///   `thread_name` metadata: one track per worker;
    /// * each attempt of each job is a complete event (`"ph":"X"`) on its worker's
    ///   track, `ts` its start and `dur` its length in microseconds from the start of
    ///   the run, named by the job's label, with `args` giving its `outcome` (see
    ///   [`JobEnd::name`](crate::JobEnd::name)), its `attempt` number (from 1) and the
    ///   job's own outcome, `job_outcome`.
    ///
    /// A nested scheduler is a slice on its parent's track, as long as its run, and its
    /// jobs are slices in a process of its own, right below: its jobs run on workers
    /// of their own, often side by side, which one track could not hold as slices
    /// nested in the scheduler's (a track's slices must nest, never overlap).
    pub fn chrome_trace(&self) -> String {
        let mut trace = Trace {
            out: String::from("{\"traceEvents\":[\n"),
            first: true,
            next_pid: 1,
        };
        trace.scheduler(self, None);
        trace.out.push_str("\n],\"displayTimeUnit\":\"ms\"}\n");
        trace.out
    }

    /// Writes [`chrome_trace`](Timeline::chrome_trace) to `writer`.
    pub fn write_chrome_trace(&self, mut writer: impl io::Write) -> io::Result<()> {
        writer.write_all(self.chrome_trace().as_bytes())?;
        writer.flush()
    }
}

struct Trace {
    out: String,
    first: bool,
    next_pid: u32,
}

impl Trace {
    /// Starts an event: the comma before it, unless it is the first.
    fn event(&mut self) {
        if !self.first {
            self.out.push_str(",\n");
        }
        self.first = false;
    }

    fn metadata(&mut self, pid: u32, tid: Option<usize>, name: &str, arg: &str, value: Value) {
        self.event();
        let _ = write!(self.out, "{{\"name\":\"{name}\",\"ph\":\"M\",\"pid\":{pid}");
        if let Some(tid) = tid {
            let _ = write!(self.out, ",\"tid\":{tid}");
        }
        let _ = write!(self.out, ",\"args\":{{\"{arg}\":");
        match value {
            Value::Text(text) => string(&mut self.out, text),
            Value::Number(n) => {
                let _ = write!(self.out, "{n}");
            }
        }
        self.out.push_str("}}");
    }

    /// A scheduler's process, its workers' tracks and its jobs' slices, then its nested
    /// schedulers' processes.
    fn scheduler(&mut self, timeline: &Timeline, parent: Option<&str>) {
        let pid = self.next_pid;
        self.next_pid += 1;
        let name = match parent {
            Some(parent) => format!("{} (in {parent})", timeline.label()),
            None => timeline.label().to_string(),
        };
        self.metadata(pid, None, "process_name", "name", Value::Text(&name));
        self.metadata(
            pid,
            None,
            "process_sort_index",
            "sort_index",
            Value::Number(pid as usize),
        );
        let mut workers: Vec<usize> = timeline
            .jobs()
            .iter()
            .flat_map(|job| job.attempts().iter().map(|a| a.worker()))
            .collect();
        workers.sort_unstable();
        workers.dedup();
        for &worker in &workers {
            let name = format!("worker {worker}");
            self.metadata(pid, Some(worker), "thread_name", "name", Value::Text(&name));
            self.metadata(
                pid,
                Some(worker),
                "thread_sort_index",
                "sort_index",
                Value::Number(worker),
            );
        }
        for job in timeline.jobs() {
            self.slices(pid, job);
        }
        for job in timeline.jobs() {
            if let Some(nested) = job.nested() {
                self.scheduler(nested, Some(timeline.label()));
            }
        }
    }

    fn slices(&mut self, pid: u32, job: &TimedJob) {
        for (k, attempt) in job.attempts().iter().enumerate() {
            self.event();
            self.out.push_str("{\"name\":");
            string(&mut self.out, job.label());
            self.out.push_str(",\"cat\":\"job\",\"ph\":\"X\",\"ts\":");
            micros(&mut self.out, attempt.start());
            self.out.push_str(",\"dur\":");
            micros(&mut self.out, attempt.length());
            let _ = write!(
                self.out,
                ",\"pid\":{pid},\"tid\":{},\"args\":{{\"outcome\":\"{}\",\"attempt\":{},\"job_outcome\":\"{}\"}}}}",
                attempt.worker(),
                attempt.ended().name(),
                k + 1,
                job.outcome().name()
            );
        }
    }
}

enum Value<'a> {
    Text(&'a str),
    Number(usize),
}

/// Microseconds, to the nanosecond: `1234.567`.
fn micros(out: &mut String, duration: Duration) {
    let nanos = duration.as_nanos();
    let _ = write!(out, "{}.{:03}", nanos / 1000, nanos % 1000);
}

/// A JSON string: quotes, backslashes and control characters escaped (RFC 8259); the
/// rest of the text as it is, UTF-8.
fn string(out: &mut String, text: &str) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_escape_quotes_backslashes_and_control_characters() {
        let mut out = String::new();
        string(&mut out, "a\"b\\c\nd\u{1}é\u{7f}");
        assert_eq!(out, "\"a\\\"b\\\\c\\nd\\u0001é\u{7f}\"");
    }

    #[test]
    fn microseconds_keep_the_nanoseconds() {
        let mut out = String::new();
        micros(&mut out, Duration::from_nanos(1_234_567));
        assert_eq!(out, "1234.567");
        out.clear();
        micros(&mut out, Duration::from_nanos(7));
        assert_eq!(out, "0.007");
    }
}
