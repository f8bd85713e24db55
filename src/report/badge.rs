//! How a job is shown in one line: its [`Badge`] (seven characters, with asynciojobs'
//! [`Symbols`] or their ASCII fallback), `repr_main` and `repr_result`.

use std::fmt::{self, Display, Formatter};

use crate::job::{AnyJob, JobState};

/// Which characters reports use for a job's badge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Symbols {
    /// asynciojobs' symbols: `⚠` critical, `★` failed, `☉` went fine, `☓` done,
    /// `↺` running, `⚑` scheduled, `⚐` idle, `∞` forever; and, beyond asynciojobs,
    /// `⧖` timed out (its own timeout), `⧗` timed out and still running.
    Unicode,
    /// Their ASCII stand-ins, as asynciojobs prints them when its output cannot
    /// encode the symbols: `!`, `:(`, `:)`, `x`, `o`, `.`, `>`, `8`; `T` timed out,
    /// `t` timed out and still running.
    Ascii,
}

impl Symbols {
    /// The symbols the output can show, judged from the locale: `LC_ALL`, else
    /// `LC_CTYPE`, else `LANG` (the first that is set and not empty). A locale that
    /// does not name UTF-8 (`C`, `POSIX`, `en_US.ISO-8859-1`) gets ASCII; no locale
    /// at all gets Unicode.
    pub fn detect() -> Symbols {
        let var = |name| std::env::var(name).ok();
        Symbols::from_locale(
            var("LC_ALL").as_deref(),
            var("LC_CTYPE").as_deref(),
            var("LANG").as_deref(),
        )
    }

    /// The symbols for these values of `LC_ALL`, `LC_CTYPE` and `LANG`.
    ///
    /// ```
    /// use jobgraph::Symbols;
    /// assert_eq!(Symbols::from_locale(None, None, Some("en_US.UTF-8")), Symbols::Unicode);
    /// assert_eq!(Symbols::from_locale(Some("C"), None, Some("en_US.UTF-8")), Symbols::Ascii);
    /// assert_eq!(Symbols::from_locale(None, None, None), Symbols::Unicode);
    /// ```
    pub fn from_locale(
        lc_all: Option<&str>,
        lc_ctype: Option<&str>,
        lang: Option<&str>,
    ) -> Symbols {
        let chosen = [lc_all, lc_ctype, lang]
            .into_iter()
            .flatten()
            .find(|value| !value.is_empty());
        match chosen {
            None => Symbols::Unicode,
            Some(value) => {
                let value = value.to_ascii_lowercase();
                if value.contains("utf-8") || value.contains("utf8") {
                    Symbols::Unicode
                } else {
                    Symbols::Ascii
                }
            }
        }
    }
}

/// A job's state in seven characters, asynciojobs' `repr_short()`:
/// critical, outcome, lifecycle, forever — `⚠ ☉ ☓  ` is a critical job that is done
/// and went fine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Badge {
    /// Whether the job is critical (`⚠`).
    pub critical: bool,
    /// Whether the job runs forever (`∞`).
    pub forever: bool,
    /// Where the job is in its lifecycle (`⚐ ⚑ ↺ ☓`; a cancelled job shows `↺`, as a
    /// cancelled task does in asynciojobs: it started, and is not done; `⧖` a job that
    /// timed out, `⧗` one that timed out and still runs).
    pub state: JobState,
    /// Whether the job failed (`★`); otherwise a job that started shows `☉`.
    pub raised: bool,
    /// Whether the job ended by its own timeout: its lifecycle shows `⧖` (`T`) when
    /// done, `⧗` (`t`) while its thread, given up on, still runs.
    pub timed_out: bool,
    /// The characters to use.
    pub symbols: Symbols,
}

impl Badge {
    /// The badge of a job as it is now, with the symbols the output can show.
    pub fn of(job: &AnyJob) -> Badge {
        Badge {
            critical: job.is_critical(),
            forever: job.is_forever(),
            state: job.state(),
            raised: job.node().error().is_some(),
            timed_out: job.is_timed_out(),
            symbols: Symbols::detect(),
        }
    }

    /// The same badge with these symbols.
    pub fn symbols(mut self, symbols: Symbols) -> Badge {
        self.symbols = symbols;
        self
    }
}

impl Display for Badge {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let started = matches!(
            self.state,
            JobState::Running | JobState::Done | JobState::Cancelled
        );
        let ascii = self.symbols == Symbols::Ascii;
        let crit = match (self.critical, ascii) {
            (false, _) => " ",
            (true, false) => "⚠",
            (true, true) => "!",
        };
        let boom = match (self.raised, started, ascii) {
            (true, _, false) => "★",
            (true, _, true) => ":(",
            (false, true, false) => "☉",
            (false, true, true) => ":)",
            (false, false, false) => " ",
            (false, false, true) => "  ",
        };
        let state = match (self.state, ascii) {
            (JobState::Done, false) if self.timed_out => "⧖",
            (JobState::Done, true) if self.timed_out => "T",
            (JobState::Running, false) if self.timed_out => "⧗",
            (JobState::Running, true) if self.timed_out => "t",
            (JobState::Done, false) => "☓",
            (JobState::Done, true) => "x",
            (JobState::Running | JobState::Cancelled, false) => "↺",
            (JobState::Running | JobState::Cancelled, true) => "o",
            (JobState::Scheduled, false) => "⚑",
            (JobState::Scheduled, true) => ".",
            (JobState::Idle, false) => "⚐",
            (JobState::Idle, true) => ">",
        };
        let forever = match (self.forever, ascii) {
            (false, _) => " ",
            (true, false) => "∞",
            (true, true) => "8",
        };
        write!(f, "{crit} {boom} {state} {forever}")
    }
}

/// `<Job `label`>`: asynciojobs' `repr_main()`, the label [`printable`].
pub(crate) fn repr_main(job: &AnyJob) -> String {
    format!("<{} `{}`>", job.kind(), printable(&job.text_label()))
}

/// `text` with its control characters escaped, so that printing it cannot move the
/// cursor, clear the screen, ring the bell or start a new line on a terminal: each
/// character of Unicode's control category (C0, DEL, C1: ESC, `\r`, `\n`, tab, NUL...)
/// is written as Rust writes it in a string, `\x1b`, `\r`, `\n`, `\t`, `\0`,
/// `\u{9b}`, and a `\` before such an escape stays as it is. The reports (listings,
/// `debrief`, `why`, the verbose trace) show labels, values and errors through it.
///
/// ```
/// use jobgraph::printable;
/// assert_eq!(printable("plain label é"), "plain label é");
/// assert_eq!(printable("a\x1b[2Jb\nc"), "a\\x1b[2Jb\\nc");
/// ```
pub fn printable(text: &str) -> std::borrow::Cow<'_, str> {
    escape_controls(text, false)
}

/// [`printable`], but `\n` and tab kept: for texts of several lines, each of which
/// is printed as a line.
pub(crate) fn printable_lines(text: &str) -> std::borrow::Cow<'_, str> {
    escape_controls(text, true)
}

fn escape_controls(text: &str, keep_lines: bool) -> std::borrow::Cow<'_, str> {
    let kept = |c: char| keep_lines && (c == '\n' || c == '\t');
    if !text.chars().any(|c| c.is_control() && !kept(c)) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            c if !c.is_control() || kept(c) => out.push(c),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\0' => out.push_str("\\0"),
            c if (c as u32) < 0x80 => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
        }
    }
    std::borrow::Cow::Owned(out)
}

/// How many characters of a job's value or error a report line shows by default
/// ([`Listing::width`](crate::Listing::width) changes it): a listing line stays a
/// line, whatever the job returned.
pub const VALUE_WIDTH: usize = 100;

/// `text`, cut to `max_chars` characters with `…` as the last one when longer.
pub(crate) fn within(text: String, max_chars: Option<usize>) -> String {
    match max_chars {
        Some(max) if text.chars().count() > max => {
            let mut cut: String = text.chars().take(max.saturating_sub(1)).collect();
            cut.push('…');
            cut
        }
        _ => text,
    }
}

/// `[[ -> value]]`, `!! CRIT. EXC. => Type:message!!`, `!! exception => …!!` or
/// `[not done]`: asynciojobs' `repr_result()`, the value or the error cut to
/// `max_chars` characters when given.
///
/// A job tried again after failures ([`Job::retries`](crate::Job::retries)) says how
/// many attempts it made: `[[ -> 7]] (3 attempts)`.
pub(crate) fn repr_result(job: &AnyJob, max_chars: Option<usize>) -> String {
    let result = repr_outcome(job, max_chars);
    let failed = job.node().core().meta.lock().failed_attempts().len();
    if failed == 0 {
        return result;
    }
    format!("{result} ({} attempts)", job.attempts())
}

fn repr_outcome(job: &AnyJob, max_chars: Option<usize>) -> String {
    if let Some(error) = job.node().error() {
        let which = if job.is_critical() {
            "CRIT. EXC."
        } else {
            "exception"
        };
        let text = match error.panic_message() {
            Some(message) => format!("panic:{message}"),
            None => format!("{}:{error}", error.type_name()),
        };
        return format!("!! {which} => {}!!", printable(&within(text, max_chars)));
    }
    if job.state() == JobState::Done {
        if let Some(value) = job.node().value_text(max_chars) {
            return format!("[[ -> {}]]", printable(&value));
        }
    }
    "[not done]".to_string()
}
