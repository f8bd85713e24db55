//! Text reports (F21): [`Listing`] (`list`, `list_safe`), [`Debrief`], the [`Badge`]
//! that sums up a job in seven characters, and the `Display` of jobs, all in
//! asynciojobs' layout, with its symbols or their [ASCII fallback](Symbols::Ascii).
//!
//! The reports are values: they read the scheduler when they are formatted, so
//! `println!("{}", scheduler.list(false, false))` shows the jobs as they are then.

use std::collections::HashMap;
use std::error::Error as _;
use std::fmt::{self, Display, Formatter};
use std::time::Duration;

use crate::error::Error;
use crate::graph::Frozen;
use crate::handle::{AnyJob, Job, JobState};
use crate::ops::Dense;
use crate::scheduler::Scheduler;

/// Counts jobs by state as the reports do: done, started but not done (running or
/// cancelled), not started.
pub(crate) fn tally(states: impl IntoIterator<Item = JobState>) -> (usize, usize, usize) {
    let (mut done, mut ongoing, mut idle) = (0, 0, 0);
    for state in states {
        match state {
            JobState::Done => done += 1,
            JobState::Running | JobState::Cancelled => ongoing += 1,
            JobState::Idle | JobState::Scheduled => idle += 1,
        }
    }
    (done, ongoing, idle)
}

/// `3D + 1R + 0I = 4`: asynciojobs' `stats()` of these jobs' states.
pub(crate) fn stats_line(states: impl IntoIterator<Item = JobState>) -> String {
    let (done, ongoing, idle) = tally(states);
    format!("{done}D + {ongoing}R + {idle}I = {}", done + ongoing + idle)
}

/// asynciojobs' `why()`: why a run ended.
pub(crate) fn why_line(
    timed_out: Option<Duration>,
    stalled: bool,
    failed_critical: bool,
) -> String {
    if let Some(timeout) = timed_out {
        format!("TIMED OUT after {}s", timeout.as_secs_f64())
    } else if stalled {
        "STALLED: every running job waited for something no job could provide".to_string()
    } else if failed_critical {
        "a CRITICAL job has raised an exception".to_string()
    } else {
        "FINE".to_string()
    }
}

/// Which characters reports use for a job's badge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Symbols {
    /// asynciojobs' symbols: `⚠` critical, `★` failed, `☉` went fine, `☓` done,
    /// `↺` running, `⚑` scheduled, `⚐` idle, `∞` forever.
    Unicode,
    /// Their ASCII stand-ins, as asynciojobs prints them when its output cannot
    /// encode the symbols: `!`, `:(`, `:)`, `x`, `o`, `.`, `>`, `8`.
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
    /// cancelled task does in asynciojobs: it started, and is not done).
    pub state: JobState,
    /// Whether the job failed (`★`); otherwise a job that started shows `☉`.
    pub raised: bool,
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

/// `<Job `label`>`: asynciojobs' `repr_main()`.
pub(crate) fn repr_main(job: &AnyJob) -> String {
    format!("<{} `{}`>", job.kind(), job.text_label())
}

/// `[[ -> value]]`, `!! CRIT. EXC. => Type:message!!`, `!! exception => …!!` or
/// `[not done]`: asynciojobs' `repr_result()`.
pub(crate) fn repr_result(job: &AnyJob) -> String {
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
        return format!("!! {which} => {text}!!");
    }
    if job.state() == JobState::Done {
        if let Some(value) = job.result_text() {
            return format!("[[ -> {value}]]");
        }
    }
    "[not done]".to_string()
}

/// `Error: message`, then one `caused by: …` line per source; `panicked: message`.
fn error_chain(job: &AnyJob) -> Vec<String> {
    let Some(error) = job.node().error() else {
        return Vec::new();
    };
    if let Some(message) = error.panic_message() {
        return vec![format!("panicked: {message}")];
    }
    let mut lines = vec![format!("{}: {error}", error.type_name())];
    let mut source = error.source();
    while let Some(cause) = source {
        lines.push(format!("caused by: {cause}"));
        source = cause.source();
    }
    lines
}

/// One scheduler's jobs in listing order, with nested levels read alike.
pub(crate) struct Level {
    pub(crate) dense: Dense,
    /// Indices into `dense.jobs`, in listing order.
    pub(crate) order: Vec<usize>,
    /// The level of each job that is a nested scheduler, by index.
    pub(crate) nested: HashMap<usize, Level>,
}

impl Level {
    pub(crate) fn of(sched: &Scheduler) -> Level {
        let dense = Dense::of(sched);
        let (order, _) = dense.listing_order();
        let nested = dense
            .jobs
            .iter()
            .enumerate()
            .filter_map(|(i, job)| job.as_scheduler().map(|s| (i, Level::of(&s))))
            .collect();
        Level {
            dense,
            order,
            nested,
        }
    }

    /// Jobs here and below, a nested scheduler counting as one plus its jobs.
    fn total(&self) -> usize {
        self.dense.len() + self.nested.values().map(Level::total).sum::<usize>()
    }

    /// The indices of the entry jobs, in listing order.
    pub(crate) fn entries(&self) -> Vec<usize> {
        self.order
            .iter()
            .copied()
            .filter(|&i| self.dense.preds(i).is_empty() && !self.dense.dangling[i])
            .collect()
    }

    /// The indices of the exit jobs (forever jobs left out when `discard_forever`), in
    /// listing order.
    pub(crate) fn exits(&self, discard_forever: bool) -> Vec<usize> {
        self.order
            .iter()
            .copied()
            .filter(|&i| self.dense.succs(i).is_empty())
            .filter(|&i| !(discard_forever && self.dense.jobs[i].is_forever()))
            .collect()
    }
}

/// How many digits ids take when `total` jobs are numbered: as many as the largest.
///
/// asynciojobs means the same ("how many chars do we need to represent all jobs") but
/// computes `int(log10(total - 1)) + 1`, one digit short when `total` is a power of ten
/// (the tenth of ten jobs is `10`, the others `1` to `9`), and, through a float
/// logarithm, for 1001 jobs too.
pub(crate) fn id_width(total: usize) -> usize {
    total.max(1).to_string().len()
}

/// The ids `list()` gives the jobs of a run (`jobs`, frozen as `frozen`), by index:
/// what verbose mode shows, so that its lines and the listings agree.
pub(crate) fn run_ids(jobs: &[AnyJob], frozen: &Frozen) -> Vec<String> {
    let (order, _) = crate::ops::listing_order(frozen);
    // A nested scheduler takes one id, and its jobs the ones after it.
    let sizes: Vec<usize> = jobs
        .iter()
        .map(|job| 1 + job.as_scheduler().map_or(0, |s| Level::of(&s).total()))
        .collect();
    let width = id_width(sizes.iter().sum());
    let mut ids = vec![String::new(); jobs.len()];
    let mut next = 1;
    for i in order {
        ids[i] = format!("{next:0width$}");
        next += sizes[i];
    }
    ids
}

/// Depth-first ids in listing order, zero-padded: asynciojobs' `_set_sched_ids`.
pub(crate) struct Numbering {
    pub(crate) root: Level,
    pub(crate) ids: HashMap<AnyJob, String>,
}

impl Numbering {
    pub(crate) fn of(sched: &Scheduler) -> Numbering {
        let root = Level::of(sched);
        let total = root.total();
        let width = id_width(total);
        let mut ids = HashMap::with_capacity(total);
        let mut next = 1;
        fn assign(
            level: &Level,
            next: &mut usize,
            width: usize,
            ids: &mut HashMap<AnyJob, String>,
        ) {
            for &i in &level.order {
                ids.insert(level.dense.jobs[i].clone(), format!("{:0width$}", *next));
                *next += 1;
                if let Some(nested) = level.nested.get(&i) {
                    assign(nested, next, width, ids);
                }
            }
        }
        assign(&root, &mut next, width, &mut ids);
        Numbering { root, ids }
    }

    pub(crate) fn id(&self, job: &AnyJob) -> &str {
        self.ids.get(job).map(String::as_str).unwrap_or("??")
    }

    /// `requires={1, 2}`, or nothing.
    fn requires(&self, job: &AnyJob) -> String {
        let requirements = job.requirements();
        if requirements.is_empty() {
            return String::new();
        }
        let ids: Vec<&str> = requirements.iter().map(|r| self.id(r)).collect();
        format!("requires={{{}}}", ids.join(", "))
    }

    fn csv(&self, level: &Level, indices: &[usize]) -> String {
        if indices.is_empty() {
            return String::new();
        }
        let ids: Vec<&str> = indices
            .iter()
            .map(|&i| self.id(&level.dense.jobs[i]))
            .collect();
        format!("{{{}}}", ids.join(", "))
    }
}

/// A scheduler's jobs, one a line, in asynciojobs' layout: what
/// [`Scheduler::list`] and [`Scheduler::list_safe`] return.
///
/// It reads the scheduler when it is formatted. The symbols are the ones the output
/// can show ([`Symbols::detect`]) unless [`symbols`](Listing::symbols) says otherwise.
#[derive(Clone)]
pub struct Listing {
    scheduler: Scheduler,
    details: bool,
    silence_done_jobs: bool,
    safe: bool,
    symbols: Option<Symbols>,
}

impl Listing {
    /// Uses these symbols, whatever the locale.
    pub fn symbols(mut self, symbols: Symbols) -> Listing {
        self.symbols = Some(symbols);
        self
    }

    /// Uses the ASCII stand-ins of the symbols.
    pub fn ascii(self) -> Listing {
        self.symbols(Symbols::Ascii)
    }

    fn chosen_symbols(&self) -> Symbols {
        self.symbols.unwrap_or_else(Symbols::detect)
    }

    fn write_level(
        &self,
        f: &mut Formatter<'_>,
        numbering: &Numbering,
        level: &Level,
        depth: usize,
        symbols: Symbols,
    ) -> fmt::Result {
        let indent = if depth > 0 {
            format!("{} ", ">".repeat(depth))
        } else {
            String::new()
        };
        for &i in &level.order {
            let job = &level.dense.jobs[i];
            let id = numbering.id(job);
            let badge = Badge::of(job).symbols(symbols);
            let main = repr_main(job);
            let result = repr_result(job);
            let requires = numbering.requires(job);
            if let Some(nested) = level.nested.get(&i) {
                let entries = numbering.csv(nested, &nested.entries());
                writeln!(
                    f,
                    "{id} {badge} {indent}{main} {result} {requires} -> entries={entries}"
                )?;
                self.write_level(f, numbering, nested, depth + 1, symbols)?;
                let exits = numbering.csv(nested, &nested.exits(true));
                writeln!(
                    f,
                    "{id} --end-- {} {main} exits={exits}",
                    "<".repeat(depth + 1)
                )?;
                continue;
            }
            if self.silence_done_jobs && job.is_done() {
                continue;
            }
            writeln!(f, "{id} {badge} {indent}{main} {result} {requires}")?;
            if self.details {
                if let Some(details) = job.details() {
                    writeln!(f, "{details}")?;
                }
            }
        }
        Ok(())
    }

    fn write_safe(
        &self,
        f: &mut Formatter<'_>,
        sched: &Scheduler,
        prefix: &str,
        symbols: Symbols,
    ) -> fmt::Result {
        let jobs = sched.jobs();
        let ids: HashMap<AnyJob, String> = jobs
            .iter()
            .enumerate()
            .map(|(i, job)| (job.clone(), format!("{prefix}.{}", i + 1)))
            .collect();
        for (i, job) in jobs.iter().enumerate() {
            let id = &ids[job];
            let requirements = job.requirements();
            let requires = if requirements.is_empty() {
                String::new()
            } else {
                let listed: Vec<&str> = requirements
                    .iter()
                    .map(|r| ids.get(r).map(String::as_str).unwrap_or("??"))
                    .collect();
                format!("requires={{{}}}", listed.join(", "))
            };
            let badge = Badge::of(job).symbols(symbols);
            let main = repr_main(job);
            if let Some(nested) = job.as_scheduler() {
                writeln!(f, "{badge} {id} {main} {requires}")?;
                let inner = if prefix.is_empty() {
                    format!("{}", i + 1)
                } else {
                    format!("{prefix}.{}", i + 1)
                };
                self.write_safe(f, &nested, &inner, symbols)?;
                writeln!(f, "--end-- {id}")?;
                continue;
            }
            if self.silence_done_jobs && job.is_done() {
                continue;
            }
            writeln!(f, "{badge} {id} {main} {requires}")?;
        }
        Ok(())
    }
}

impl Display for Listing {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let symbols = self.chosen_symbols();
        if self.safe {
            return self.write_safe(f, &self.scheduler, "", symbols);
        }
        let numbering = Numbering::of(&self.scheduler);
        self.write_level(f, &numbering, &numbering.root, 0, symbols)
    }
}

impl fmt::Debug for Listing {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        Display::fmt(self, f)
    }
}

/// The report on a run: why it ended, the listing, then the jobs that failed, each
/// with its error chain or panic message. What [`Scheduler::debrief`] returns.
#[derive(Clone)]
pub struct Debrief {
    listing: Listing,
}

impl Debrief {
    /// Uses these symbols, whatever the locale.
    pub fn symbols(mut self, symbols: Symbols) -> Debrief {
        self.listing = self.listing.symbols(symbols);
        self
    }

    /// Uses the ASCII stand-ins of the symbols.
    pub fn ascii(self) -> Debrief {
        self.symbols(Symbols::Ascii)
    }
}

impl Display for Debrief {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let scheduler = &self.listing.scheduler;
        let symbols = self.listing.chosen_symbols();
        writeln!(f, "----- {}", scheduler.why())?;
        let numbering = Numbering::of(scheduler);
        self.listing
            .write_level(f, &numbering, &numbering.root, 0, symbols)?;
        // Failed jobs, here and in nested schedulers, in listing order. A nested
        // scheduler that failed because one of its jobs did only relays that job's
        // failure, listed with the job: each failure is told once.
        let mut failed = Vec::new();
        fn collect(level: &Level, out: &mut Vec<AnyJob>) {
            for &i in &level.order {
                let job = &level.dense.jobs[i];
                if let Some(error) = job.node().error() {
                    let relayed = level.nested.contains_key(&i)
                        && matches!(error.downcast_ref::<Error>(), Some(Error::JobFailed { .. }));
                    if !relayed {
                        out.push(job.clone());
                    }
                }
                if let Some(nested) = level.nested.get(&i) {
                    collect(nested, out);
                }
            }
        }
        collect(&numbering.root, &mut failed);
        if failed.is_empty() {
            return Ok(());
        }
        let critical = failed.iter().filter(|job| job.is_critical()).count();
        writeln!(
            f,
            "===== {} job(s) with an exception, including {critical} critical",
            failed.len()
        )?;
        let stars = "*".repeat(20);
        for job in failed.iter().filter(|job| job.is_critical()) {
            let title = format!(
                "stack for CRITICAL JOB {} {} {}",
                numbering.id(job),
                Badge::of(job).symbols(symbols),
                repr_main(job)
            );
            writeln!(f, "    {stars}")?;
            writeln!(f, "    {stars} BEG {title}")?;
            writeln!(f, "    {stars}")?;
            for line in error_chain(job) {
                writeln!(f, "    {line}")?;
            }
            writeln!(f, "    {stars}")?;
            writeln!(f, "    {stars} END {title}")?;
            writeln!(f, "    {stars}")?;
        }
        for job in failed.iter().filter(|job| !job.is_critical()) {
            let chain = error_chain(job);
            let message = match job.node().error() {
                Some(error) => match error.panic_message() {
                    Some(message) => format!("panicked: {message}"),
                    None => error.to_string(),
                },
                None => String::new(),
            };
            writeln!(f, "non-critical: {}: exception {message}", job.text_label())?;
            for line in chain.iter().skip(1) {
                writeln!(f, "    {line}")?;
            }
        }
        Ok(())
    }
}

impl fmt::Debug for Debrief {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        Display::fmt(self, f)
    }
}

impl Scheduler {
    /// Every job, one a line, in the order they can run, numbered depth first
    /// through nested schedulers, as asynciojobs' `list()`:
    ///
    /// ```text
    /// 1 ⚠ ☉ ☓   <Job `b1`> [[ -> 100.0]]
    /// 2 ⚠ ☉ ☓   <Job `b2`> [[ -> 200.0]] requires={1}
    /// ```
    ///
    /// `details` adds each job's [`details`](AnyJob::details) on the line after it;
    /// `silence_done_jobs` leaves out the jobs that are done. It works on any graph:
    /// jobs on a cycle come last, a requirement outside the scheduler shows as `??`.
    /// The returned value reads the scheduler when it is printed: print it while the
    /// scheduler runs (from any thread, a job of the run included) to see the run as it
    /// is then.
    pub fn list(&self, details: bool, silence_done_jobs: bool) -> Listing {
        Listing {
            scheduler: self.clone(),
            details,
            silence_done_jobs,
            safe: false,
            symbols: None,
        }
    }

    /// Every job in insertion order, numbered `.1`, `.2`, … (`3.1`, … inside a nested
    /// scheduler numbered `.3`), without looking at the graph's order: for a graph
    /// that may be broken. asynciojobs' `list_safe()`.
    pub fn list_safe(&self, silence_done_jobs: bool) -> Listing {
        Listing {
            scheduler: self.clone(),
            details: false,
            silence_done_jobs,
            safe: true,
            symbols: None,
        }
    }

    /// Why the run ended, the [`list`](Scheduler::list), then how many jobs failed and
    /// each failure: error chains of critical jobs framed as asynciojobs frames their
    /// stacks, one line for each non-critical one. Failures inside nested schedulers
    /// are told too, each once: a nested scheduler that failed because one of its jobs
    /// did is not told apart from that job.
    ///
    /// ```text
    /// ----- a CRITICAL job has raised an exception
    /// 1 ⚠ ☉ ☓   <Job `begin`> [[ -> 1]]
    /// 2 ⚠ ★ ☓   <Job `boom`> !! CRIT. EXC. => ValueError:boom!! requires={1}
    /// 3 ⚠   ⚐   <Job `end`> [not done] requires={2}
    /// ===== 1 job(s) with an exception, including 1 critical
    ///     ********************
    ///     ******************** BEG stack for CRITICAL JOB 2 ⚠ ★ ☓   <Job `boom`>
    ///     ********************
    ///     ValueError: boom
    ///     caused by: the disk is full
    ///     ********************
    ///     ******************** END stack for CRITICAL JOB 2 ⚠ ★ ☓   <Job `boom`>
    ///     ********************
    /// ```
    pub fn debrief(&self, details: bool, silence_done_jobs: bool) -> Debrief {
        Debrief {
            listing: self.list(details, silence_done_jobs),
        }
    }
}

/// `⚠ ☉ ☓   <Job `b2`> [[ -> 200.0]] requires={`b1`}`: asynciojobs' job repr, with
/// requirements named by label (ids exist only within a listing).
impl Display for AnyJob {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let requirements = self.requirements();
        let requires = if requirements.is_empty() {
            String::new()
        } else {
            let labels: Vec<String> = requirements
                .iter()
                .map(|r| format!("`{}`", r.text_label()))
                .collect();
            format!("requires={{{}}}", labels.join(", "))
        };
        let badge = Badge::of(self);
        let symbols = if f.alternate() {
            Symbols::Ascii
        } else {
            badge.symbols
        };
        write!(
            f,
            "{} {} {} {requires}",
            badge.symbols(symbols),
            repr_main(self),
            repr_result(self)
        )
    }
}

/// The same as [`AnyJob`]'s.
impl<T> Display for Job<T> {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        Display::fmt(&**self, f)
    }
}
