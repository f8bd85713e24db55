//! Listings (asynciojobs' `list`, `debrief`): [`Listing`] (`list`, `list_safe`), [`Debrief`], and the `Display`
//! of jobs, in asynciojobs' layout, with its symbols or their
//! [ASCII fallback](Symbols::Ascii); the depth-first numbering they share with the
//! pictures and verbose mode.
//!
//! The reports are values: they read the scheduler when they are formatted, so
//! `println!("{}", scheduler.list())` shows the jobs as they are then.

use std::collections::HashMap;
use std::error::Error as _;
use std::fmt::{self, Display, Formatter};

use super::badge::{
    printable, printable_lines, repr_main, repr_result, Badge, Symbols, VALUE_WIDTH,
};
use super::timeline::CriticalPath;
use crate::error::Error;
use crate::graph::{listing_order, Dense, Frozen};
use crate::job::{AnyJob, Group, Job, Shared};

/// `Error: message`, then one `caused by: …` line per source; `panicked: message`.
/// A job's priority and cost hint, for the details, when it has either.
fn rank_text(job: &AnyJob) -> Option<String> {
    let words: Vec<String> = [
        (job.priority() != 0).then(|| format!("priority {}", job.priority())),
        job.cost_hint().map(|cost| format!("cost {cost}")),
    ]
    .into_iter()
    .flatten()
    .collect();
    (!words.is_empty()).then(|| words.join(", "))
}

fn error_chain(job: &AnyJob) -> Vec<String> {
    let Some(error) = job.node().error() else {
        return Vec::new();
    };
    if let Some(message) = error.panic_message() {
        return vec![format!("panicked: {}", printable_lines(message))];
    }
    let mut lines = vec![format!(
        "{}: {}",
        error.type_name(),
        printable_lines(&error.to_string())
    )];
    let mut source = error.source();
    while let Some(cause) = source {
        lines.push(format!(
            "caused by: {}",
            printable_lines(&cause.to_string())
        ));
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
    pub(crate) fn of(group: &dyn Group) -> Level {
        let dense = Dense::of(group.id(), group.members().to_vec());
        let (order, _) = dense.listing_order();
        let nested = dense
            .jobs
            .iter()
            .enumerate()
            .filter_map(|(i, job)| job.node().group().map(|g| (i, Level::of(g))))
            .collect();
        Level {
            dense,
            order,
            nested,
        }
    }

    /// Jobs here and below, a nested scheduler counting as one plus its jobs.
    pub(crate) fn total(&self) -> usize {
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
    let (order, _) = listing_order(frozen);
    // A nested scheduler takes one id, and its jobs the ones after it.
    let sizes: Vec<usize> = jobs
        .iter()
        .map(|job| 1 + job.node().group().map_or(0, |g| Level::of(g).total()))
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
    pub(crate) fn of(group: &dyn Group) -> Numbering {
        let root = Level::of(group);
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
/// [`Scheduler::list`](crate::Scheduler::list) and
/// [`Scheduler::list_safe`](crate::Scheduler::list_safe) return.
///
/// It reads the scheduler when it is formatted. The symbols are the ones the output
/// can show ([`Symbols::detect`]) unless [`symbols`](Listing::symbols) says otherwise.
#[derive(Clone)]
pub struct Listing {
    group: Shared<dyn Group>,
    details: bool,
    silence_done_jobs: bool,
    safe: bool,
    symbols: Option<Symbols>,
    width: Option<usize>,
}

impl Listing {
    /// The listing of `group`'s jobs: `list` (or `list_safe` when `safe`).
    pub(crate) fn new(group: Shared<dyn Group>, safe: bool) -> Listing {
        Listing {
            group,
            details: false,
            silence_done_jobs: false,
            safe,
            symbols: None,
            width: Some(VALUE_WIDTH),
        }
    }

    /// Shows at most `max_chars` characters of each job's value or error (the last
    /// one `…` when cut), [`VALUE_WIDTH`] by default; `None` shows them whole. The
    /// handles give the whole values ([`Job::result`](crate::Job::result),
    /// [`AnyJob::result_text`]), and [`Debrief`] each whole error.
    ///
    /// ```
    /// use jobgraph::{Job, Scheduler};
    /// let s = Scheduler::new();
    /// s.add(Job::new(|_| vec![7u8; 4000]).label("big"));
    /// s.run().unwrap();
    /// let line = s.list().ascii().to_string();
    /// assert!(line.len() < 200 && line.contains("7, 7,…]]"), "{line}");
    /// assert_eq!(s.list().width(Some(5)).ascii().to_string().trim_end(),
    ///            "1 ! :) x   <Job `big`> [[ -> [7, …]]");
    /// ```
    pub fn width(mut self, max_chars: Option<usize>) -> Listing {
        self.width = max_chars;
        self
    }

    /// Adds each job's [`details`](crate::AnyJob::details) on the line after it
    /// (asynciojobs' `details=True`). `list_safe` shows no details.
    pub fn details(mut self) -> Listing {
        self.details = true;
        self
    }

    /// Leaves out the jobs that are done (asynciojobs' `silence_done_jobs=True`);
    /// nested schedulers are still shown, for the jobs inside them.
    pub fn silence_done_jobs(mut self) -> Listing {
        self.silence_done_jobs = true;
        self
    }

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
            let result = repr_result(job, self.width);
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
                if let Some(rank) = rank_text(job) {
                    writeln!(f, "{rank}")?;
                }
            }
        }
        Ok(())
    }

    fn write_safe(
        &self,
        f: &mut Formatter<'_>,
        group: &dyn Group,
        prefix: &str,
        symbols: Symbols,
    ) -> fmt::Result {
        let jobs = group.members();
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
            if let Some(nested) = job.node().group() {
                writeln!(f, "{badge} {id} {main} {requires}")?;
                let inner = if prefix.is_empty() {
                    format!("{}", i + 1)
                } else {
                    format!("{prefix}.{}", i + 1)
                };
                self.write_safe(f, nested, &inner, symbols)?;
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
            return self.write_safe(f, &*self.group, "", symbols);
        }
        let numbering = Numbering::of(&*self.group);
        self.write_level(f, &numbering, &numbering.root, 0, symbols)
    }
}

impl fmt::Debug for Listing {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        Display::fmt(self, f)
    }
}

/// The report on a run: why it ended, the listing, then the jobs that failed, each
/// with its error chain or panic message. What [`Scheduler::debrief`](crate::Scheduler::debrief) returns.
#[derive(Clone)]
pub struct Debrief {
    listing: Listing,
    headline: Option<String>,
    critical_path: Option<CriticalPath>,
}

impl Debrief {
    /// The debrief that closes with this listing.
    pub(crate) fn new(listing: Listing) -> Debrief {
        Debrief {
            listing,
            headline: None,
            critical_path: None,
        }
    }

    /// Ends with this critical path, when there is one.
    pub(crate) fn with_critical_path(mut self, path: Option<CriticalPath>) -> Debrief {
        self.critical_path = path;
        self
    }

    /// Heads the debrief with this text instead of [`why`](crate::Scheduler::why):
    /// for a program with its own rule of what a failed run is (a runner that tells
    /// non-critical failures apart, say), so that `FINE` never stands above a list of
    /// failures.
    ///
    /// ```
    /// use jobgraph::{Job, Scheduler};
    /// let s = Scheduler::new();
    /// s.add(Job::new(|_| -> Result<(), String> { Err("no".into()) }).critical(false));
    /// assert!(s.run().unwrap());
    /// let text = s.debrief().headline("the run succeeded; 1 non-critical job failed").to_string();
    /// assert!(text.starts_with("----- the run succeeded; 1 non-critical job failed\n"));
    /// ```
    pub fn headline(mut self, text: impl Into<String>) -> Debrief {
        self.headline = Some(text.into());
        self
    }

    /// Uses these symbols, whatever the locale.
    pub fn symbols(mut self, symbols: Symbols) -> Debrief {
        self.listing = self.listing.symbols(symbols);
        self
    }

    /// Uses the ASCII stand-ins of the symbols.
    pub fn ascii(self) -> Debrief {
        self.symbols(Symbols::Ascii)
    }

    /// Adds each job's details to the listing (see [`Listing::details`]).
    pub fn details(mut self) -> Debrief {
        self.listing = self.listing.details();
        self
    }

    /// Shows at most `max_chars` characters of each value in the listing (see
    /// [`Listing::width`]); the failures below it are told whole.
    pub fn width(mut self, max_chars: Option<usize>) -> Debrief {
        self.listing = self.listing.width(max_chars);
        self
    }

    /// Leaves the jobs that are done out of the listing (see
    /// [`Listing::silence_done_jobs`]).
    pub fn silence_done_jobs(mut self) -> Debrief {
        self.listing = self.listing.silence_done_jobs();
        self
    }
}

impl Display for Debrief {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let group = &*self.listing.group;
        let symbols = self.listing.chosen_symbols();
        let why = match &self.headline {
            Some(text) => text.clone(),
            None => group.why(),
        };
        writeln!(f, "----- {}", printable(&why))?;
        let numbering = Numbering::of(group);
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
        write_retried(f, &numbering.root)?;
        if failed.is_empty() {
            return self.write_critical_path(f);
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
            writeln!(
                f,
                "non-critical: {}: exception {}",
                printable(&job.text_label()),
                printable_lines(&message)
            )?;
            for line in chain.iter().skip(1) {
                writeln!(f, "    {line}")?;
            }
        }
        self.write_critical_path(f)
    }
}

impl Debrief {
    /// The critical path, last, when the run recorded its timeline.
    fn write_critical_path(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match &self.critical_path {
            Some(path) => write!(f, "{path}"),
            None => Ok(()),
        }
    }
}

/// The attempts that failed and were tried again, here and in nested schedulers, in
/// listing order: `===== 1 job(s) tried again`, then one line per failed attempt.
fn write_retried(f: &mut Formatter<'_>, root: &Level) -> fmt::Result {
    fn collect(level: &Level, out: &mut Vec<(AnyJob, Vec<crate::error::JobError>)>) {
        for &i in &level.order {
            let job = &level.dense.jobs[i];
            let failed = job.failed_attempts();
            if !failed.is_empty() {
                out.push((job.clone(), failed));
            }
            if let Some(nested) = level.nested.get(&i) {
                collect(nested, out);
            }
        }
    }
    let mut retried = Vec::new();
    collect(root, &mut retried);
    if retried.is_empty() {
        return Ok(());
    }
    writeln!(f, "===== {} job(s) tried again", retried.len())?;
    for (job, failed) in retried {
        let label = printable(&job.text_label()).into_owned();
        for (k, error) in failed.iter().enumerate() {
            let message = match error.panic_message() {
                Some(message) => format!("panicked: {message}"),
                None => format!("{}: {error}", error.type_name()),
            };
            writeln!(
                f,
                "{label}: attempt {} failed: {}",
                k + 1,
                printable_lines(&message)
            )?;
        }
    }
    Ok(())
}

impl fmt::Debug for Debrief {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        Display::fmt(self, f)
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
                .map(|r| format!("`{}`", printable(&r.text_label())))
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
            repr_result(self, Some(VALUE_WIDTH))
        )
    }
}

/// The same as [`AnyJob`]'s.
impl<T> Display for Job<T> {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        Display::fmt(&**self, f)
    }
}
