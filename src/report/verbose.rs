//! Verbose mode (asynciojobs' `verbose=True`): an observer of a run's events that prints them the way
//! asynciojobs does, with the listing's ids and badges.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::sync::Arc;

use super::badge::{repr_main, repr_result, Badge, Symbols, VALUE_WIDTH};
use super::listing::run_ids;
use super::stats::stats_line;
use crate::engine::{Event, EventKind, RunEnd};
use crate::graph::{listing_order, Frozen};
use crate::job::{AnyJob, JobState};
use crate::watch::{wall_clock, Watch};

/// Where verbose lines go: stdout, or a buffer in tests.
pub(crate) enum Output {
    Stdout,
    #[cfg(test)]
    Buffer(Arc<crate::sync::Mutex<String>>),
}

/// Verbose mode: prints the run's events the way asynciojobs does, each line
/// time-stamped by the scheduler's [`Watch`] (or the wall clock without one), jobs
/// shown as `list()` shows them, with the same ids.
///
/// ```text
/// 000.001  SCHEDULER 0D + 0R + 4I = 4: entering run() with 4 jobs
/// 000.001  0D + 0R + 4I = 4 STARTING: 1 ⚠   ⚐   <Job `a`> [not done]
/// 000.102  1D + 0R + 3I = 4 DONE    : 1 ⚠ ☉ ☓   <Job `a`> [[ -> 1]]
/// ```
pub(crate) struct Verbose {
    watch: Option<Watch>,
    jobs: Arc<Vec<AnyJob>>,
    /// Each job's index in `jobs`.
    index: HashMap<AnyJob, usize>,
    /// Each job's id, as `list()` numbers them, by index.
    ids: Vec<String>,
    /// The indices in listing order.
    order: Vec<usize>,
    pub(crate) symbols: Symbols,
    output: Output,
}

impl Verbose {
    pub(crate) fn new(watch: Option<Watch>, jobs: &Arc<Vec<AnyJob>>, graph: &Frozen) -> Self {
        Verbose::with_output(watch, jobs, graph, Output::Stdout)
    }

    /// The same, printing to `output`.
    pub(crate) fn with_output(
        watch: Option<Watch>,
        jobs: &Arc<Vec<AnyJob>>,
        graph: &Frozen,
        output: Output,
    ) -> Self {
        Verbose {
            watch,
            jobs: jobs.clone(),
            index: jobs
                .iter()
                .enumerate()
                .map(|(i, job)| (job.clone(), i))
                .collect(),
            ids: run_ids(jobs, graph),
            order: listing_order(graph).0,
            symbols: Symbols::detect(),
            output,
        }
    }

    fn stats(&self) -> String {
        stats_line(self.jobs.iter().map(AnyJob::state))
    }

    /// The counts as they were just before `starting` started: that job still idle.
    fn stats_before(&self, starting: &AnyJob) -> String {
        stats_line(self.jobs.iter().map(|job| {
            if job == starting {
                JobState::Idle
            } else {
                job.state()
            }
        }))
    }

    fn time(&self) -> String {
        match &self.watch {
            Some(watch) => format!("{}  ", watch.elapsed()),
            None => format!("{} ", wall_clock()),
        }
    }

    /// `{id} {badge} {main} {result} {requires}`, as asynciojobs' verbose lines show a
    /// job.
    fn job_line(&self, i: usize) -> String {
        self.job_line_as(i, Badge::of(&self.jobs[i]))
    }

    fn job_line_as(&self, i: usize, badge: Badge) -> String {
        let job = &self.jobs[i];
        let mut requires = String::new();
        let requirements = job.requirements();
        if !requirements.is_empty() {
            let ids: Vec<&str> = requirements
                .iter()
                .map(|r| match self.index.get(r) {
                    Some(&r) => self.ids[r].as_str(),
                    None => "??",
                })
                .collect();
            let _ = write!(requires, "requires={{{}}}", ids.join(", "));
        }
        format!(
            "{} {} {} {} {requires}",
            self.ids[i],
            badge.symbols(self.symbols),
            repr_main(job),
            repr_result(job, Some(VALUE_WIDTH))
        )
    }

    fn job_event(&self, state: &str, job: &AnyJob) -> Option<String> {
        let &i = self.index.get(job)?;
        Some(format!(
            "{}{} {state:8}: {}",
            self.time(),
            self.stats(),
            self.job_line(i)
        ))
    }

    /// `STARTING`, as asynciojobs prints it: the job as it was just before it started
    /// (idle, `[not done]`, not yet counted as running), before its body runs.
    fn starting(&self, job: &AnyJob) -> Option<String> {
        let &i = self.index.get(job)?;
        let mut badge = Badge::of(job);
        badge.state = JobState::Idle;
        Some(format!(
            "{}{} {:8}: {}",
            self.time(),
            self.stats_before(job),
            "STARTING",
            self.job_line_as(i, badge)
        ))
    }

    /// The line of each job of the run that is scheduled or running, in listing order.
    fn pending_jobs(&self, state: &str, only_forever: bool) -> Vec<String> {
        self.order
            .iter()
            .map(|&i| &self.jobs[i])
            .filter(|job| !only_forever || job.is_forever())
            .filter(|job| matches!(job.state(), JobState::Scheduled | JobState::Running))
            .filter_map(|job| self.job_event(state, job))
            .collect()
    }

    fn scheduler_line(&self, message: &str) -> String {
        format!("{}SCHEDULER {}: {message}", self.time(), self.stats())
    }

    fn lines(&self, event: &Event) -> Vec<String> {
        let job = event.job.as_ref();
        match (&event.kind, job) {
            (EventKind::RunStarted { jobs }, _) => {
                vec![self.scheduler_line(&format!("entering run() with {jobs} jobs"))]
            }
            (EventKind::Started, Some(job)) => self.starting(job).into_iter().collect(),
            (EventKind::Done, Some(job)) => self.job_event("DONE", job).into_iter().collect(),
            (EventKind::Failed(_), Some(job)) => {
                let which = if job.is_critical() {
                    "EXCEPTION occurred - on critical job"
                } else {
                    "EXCEPTION occurred - on non-critical job"
                };
                self.job_event("RAISED EXC.", job)
                    .into_iter()
                    .chain(self.job_event(which, job))
                    .collect()
            }
            (EventKind::Cancelled, Some(job)) => {
                self.job_event("CANCELLED", job).into_iter().collect()
            }
            (EventKind::Abandoned, Some(job)) => {
                self.job_event("ABANDONED", job).into_iter().collect()
            }
            (EventKind::Retrying { attempt, after, .. }, Some(job)) => self
                .job_event(
                    &format!("RETRYING after attempt {attempt} failed, in {after:?}"),
                    job,
                )
                .into_iter()
                .collect(),
            (EventKind::TimedOut { still_running }, Some(job)) => {
                let what = if *still_running {
                    "TIMED OUT, still running"
                } else {
                    "TIMED OUT"
                };
                self.job_event(what, job).into_iter().collect()
            }
            (EventKind::RunStopping(RunEnd::Finished), _) => {
                self.pending_jobs("TIDYING forever", true)
            }
            (EventKind::RunStopping(RunEnd::Timeout), _) => {
                let mut lines = vec![self.scheduler_line("TIMEOUT occurred")];
                lines.extend(self.pending_jobs("ABORTING", false));
                lines
            }
            (EventKind::RunStopping(RunEnd::CriticalFailure), _) => {
                vec![self.scheduler_line("Emergency exit upon exception in critical job")]
            }
            (EventKind::RunStopping(RunEnd::Stalled), _) => vec![self.scheduler_line(
                "STALLED: every running job waits for something no job can provide",
            )],
            (EventKind::RunStopping(RunEnd::Cancelled), _) => {
                vec![self.scheduler_line("CANCELLED from outside")]
            }
            _ => Vec::new(),
        }
    }

    pub(crate) fn print(&self, event: &Event) {
        let lines = self.lines(event);
        if lines.is_empty() {
            return;
        }
        let mut text = lines.join("\n");
        text.push('\n');
        match &self.output {
            Output::Stdout => {
                // One write per event, so lines of concurrent jobs do not interleave.
                let mut out = std::io::stdout().lock();
                let _ = out.write_all(text.as_bytes());
                let _ = out.flush();
            }
            #[cfg(test)]
            Output::Buffer(buffer) => buffer.lock().push_str(&text),
        }
    }
}
