//! The timeline of a run ([`Timeline`]): when each job ran, on which worker, how many
//! times and how it ended, recorded by an observer of the run's events (so a run that
//! records nothing pays nothing), and what is read from it: the critical path
//! ([`CriticalPath`]) and, in `trace.rs`, the Chrome trace.

use std::collections::HashSet;
use std::fmt::{self, Display, Formatter};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::badge::printable;
use crate::engine::{Event, EventKind};
use crate::job::AnyJob;
use crate::sync::Mutex;

/// How an attempt, or a job, ended, as a [`Timeline`] tells it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum JobEnd {
    /// Ended with a value.
    Done,
    /// Returned an error or panicked.
    Failed,
    /// The attempt failed and the job was tried again (an attempt's end only).
    Retried,
    /// Its own timeout passed: cancelled, and ended as timed out.
    TimedOut,
    /// Its own timeout passed and it had not returned within the grace: the run went
    /// on without it, while its thread still ran.
    TimedOutRunning,
    /// The run stopped it before it ended (or before its next attempt).
    Cancelled,
    /// Still running when the run gave up waiting for it.
    Abandoned,
    /// Started, and no end was told before the timeline was read.
    Unfinished,
    /// Never started.
    NotRun,
}

impl JobEnd {
    /// `done`, `failed`, `retried`, `timed out`, `timed out, still running`,
    /// `cancelled`, `abandoned`, `unfinished` or `not run`.
    pub fn name(self) -> &'static str {
        match self {
            JobEnd::Done => "done",
            JobEnd::Failed => "failed",
            JobEnd::Retried => "retried",
            JobEnd::TimedOut => "timed out",
            JobEnd::TimedOutRunning => "timed out, still running",
            JobEnd::Cancelled => "cancelled",
            JobEnd::Abandoned => "abandoned",
            JobEnd::Unfinished => "unfinished",
            JobEnd::NotRun => "not run",
        }
    }
}

impl Display for JobEnd {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One attempt of a job: when it started and ended, and on which worker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Attempt {
    start: Duration,
    end: Duration,
    worker: usize,
    ended: JobEnd,
}

impl Attempt {
    /// When it started, counted from the start of the run (the outermost one, for a
    /// nested scheduler's jobs).
    pub fn start(&self) -> Duration {
        self.start
    }

    /// When it ended (when the run gave up on it, for one abandoned or timed out still
    /// running; when the timeline was read, for one [`Unfinished`](JobEnd::Unfinished)),
    /// counted as [`start`](Attempt::start) is.
    pub fn end(&self) -> Duration {
        self.end
    }

    /// How long it ran.
    pub fn length(&self) -> Duration {
        self.end.saturating_sub(self.start)
    }

    /// The number of the worker it ran on (see [`Event::worker`]): the workers of a
    /// nested scheduler are numbered apart, from 0.
    pub fn worker(&self) -> usize {
        self.worker
    }

    /// How it ended: [`Retried`](JobEnd::Retried) for an attempt that failed and was
    /// followed by another.
    pub fn ended(&self) -> JobEnd {
        self.ended
    }
}

/// One job of a [`Timeline`].
#[derive(Clone, Debug)]
pub struct TimedJob {
    job: AnyJob,
    label: String,
    requires: Vec<usize>,
    forever: bool,
    attempts: Vec<Attempt>,
    outcome: JobEnd,
    nested: Option<Timeline>,
}

impl TimedJob {
    /// The job.
    pub fn job(&self) -> &AnyJob {
        &self.job
    }

    /// Its label, as [`AnyJob::text_label`] gave it when the timeline was read.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// The jobs it requires, as indices into [`Timeline::jobs`].
    pub fn requires(&self) -> &[usize] {
        &self.requires
    }

    /// Each time it started, in order: one attempt, or several for a job with
    /// [`retries`](crate::Job::retries); none when it never started.
    pub fn attempts(&self) -> &[Attempt] {
        &self.attempts
    }

    /// When its first attempt started; `None` when it never started.
    pub fn start(&self) -> Option<Duration> {
        self.attempts.first().map(Attempt::start)
    }

    /// When its last attempt ended; `None` when it never started.
    pub fn end(&self) -> Option<Duration> {
        self.attempts.last().map(Attempt::end)
    }

    /// From its first start to its last end, waits between attempts included.
    pub fn length(&self) -> Option<Duration> {
        Some(self.end()?.saturating_sub(self.start()?))
    }

    /// The worker its last attempt ran on; `None` when it never started.
    pub fn worker(&self) -> Option<usize> {
        self.attempts.last().map(Attempt::worker)
    }

    /// How it ended: [`NotRun`](JobEnd::NotRun) when it never started, and
    /// [`Cancelled`](JobEnd::Cancelled) for one stopped while it waited for its next
    /// attempt.
    pub fn outcome(&self) -> JobEnd {
        self.outcome
    }

    /// Whether it is a forever job.
    pub fn is_forever(&self) -> bool {
        self.forever
    }

    /// The timeline of its run, when it is a nested scheduler that ran.
    pub fn nested(&self) -> Option<&Timeline> {
        self.nested.as_ref()
    }
}

/// When each job of a run started and ended, on which worker, how many times, and how
/// it ended; nested schedulers' runs inside their jobs. What
/// [`Scheduler::timeline`](crate::Scheduler::timeline) returns after a run recorded
/// with [`Scheduler::record_timeline`](crate::Scheduler::record_timeline).
///
/// Times are [`Duration`]s from the start of the run (of the outermost scheduler, for
/// the jobs of a nested one, so that they all share one clock). From it:
/// [`critical_path`](Timeline::critical_path), and
/// [`chrome_trace`](Timeline::chrome_trace), a file to open in
/// [Perfetto](https://ui.perfetto.dev) or `chrome://tracing`.
///
/// ```
/// use std::time::Duration;
/// use jobgraph::{Job, Scheduler};
///
/// let a = Job::new(|ctx| ctx.sleep(Duration::from_millis(20))).label("a");
/// let b = Job::new(|_| 2).label("b").requires(&a);
/// let s = Scheduler::new().record_timeline(true).with((&a, &b));
/// assert!(s.run().unwrap());
/// let timeline = s.timeline().unwrap();
/// let (ta, tb) = (&timeline.jobs()[0], &timeline.jobs()[1]);
/// assert!(ta.end().unwrap() <= tb.start().unwrap());
/// assert!(ta.length().unwrap() >= Duration::from_millis(20));
/// assert_eq!(timeline.critical_path().labels(), ["a", "b"]);
/// ```
#[derive(Clone, Debug)]
pub struct Timeline {
    label: String,
    start: Duration,
    wall: Duration,
    jobs: Vec<TimedJob>,
}

impl Timeline {
    /// The label of the scheduler whose run this is.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// When the run started: zero, or for a nested scheduler's run, how long after
    /// the start of the outermost one.
    pub fn start(&self) -> Duration {
        self.start
    }

    /// How long the run took, from its start until its workers had returned.
    pub fn wall_time(&self) -> Duration {
        self.wall
    }

    /// When the run ended, counted as [`start`](Timeline::start) is.
    pub fn end(&self) -> Duration {
        self.start + self.wall
    }

    /// Every job of the scheduler, in the order they were added (a nested scheduler
    /// is one job, whose own jobs are in [`TimedJob::nested`]).
    pub fn jobs(&self) -> &[TimedJob] {
        &self.jobs
    }

    /// The chain of jobs that set the run's length: the non-forever job that ended
    /// last, the requirement that ended last before it started (the one that let it
    /// start), the one before that, and so on to a job that required none that ran.
    /// Each job's length (from its first start to its last end, retries included) and
    /// the idle time before it add up to the run's wall time but for what the run took
    /// after its last job ended. Empty when no job ran.
    ///
    /// A job that failed, timed out or was cancelled counts as one that ended, when it
    /// did. A nested scheduler is one job of the chain: its own path is the
    /// [`critical_path`](Timeline::critical_path) of its [`TimedJob::nested`].
    pub fn critical_path(&self) -> CriticalPath {
        let ended = |i: &usize| !self.jobs[*i].forever && self.jobs[*i].end().is_some();
        let last = (0..self.jobs.len())
            .filter(ended)
            .max_by_key(|&i| (self.jobs[i].end(), std::cmp::Reverse(i)));
        let mut chain = Vec::new();
        let mut seen = vec![false; self.jobs.len()];
        let mut at = last;
        while let Some(i) = at {
            chain.push(i);
            seen[i] = true;
            let start = self.jobs[i].start().unwrap_or_default();
            // The requirement that ended last before this job started; one that ended
            // later (it cannot, but a clock may be read late) only when none did.
            let ran = self.jobs[i].requires.iter().copied().filter(ended);
            at = ran
                .max_by_key(|&r| {
                    let end = self.jobs[r].end().unwrap_or_default();
                    (end <= start, end, std::cmp::Reverse(r))
                })
                .filter(|&r| !seen[r]);
        }
        chain.reverse();
        let mut previous = self.start;
        let steps = chain
            .into_iter()
            .map(|i| {
                let job = &self.jobs[i];
                let (start, end) = (
                    job.start().unwrap_or_default(),
                    job.end().unwrap_or_default(),
                );
                let idle = start.saturating_sub(previous);
                previous = previous.max(end);
                Step {
                    index: i,
                    job: job.job.clone(),
                    label: job.label.clone(),
                    start,
                    end,
                    idle,
                }
            })
            .collect();
        CriticalPath {
            steps,
            wall: self.wall,
        }
    }

    /// The jobs and requirement edges (`(required, job)`) of the critical path, here
    /// and, for a nested scheduler on it, along its own path: what the DOT picture
    /// draws bold.
    pub(crate) fn highlighted(&self) -> (HashSet<AnyJob>, HashSet<(AnyJob, AnyJob)>) {
        let (mut jobs, mut edges) = (HashSet::new(), HashSet::new());
        self.highlight_into(&mut jobs, &mut edges);
        (jobs, edges)
    }

    fn highlight_into(&self, jobs: &mut HashSet<AnyJob>, edges: &mut HashSet<(AnyJob, AnyJob)>) {
        let path = self.critical_path();
        for (k, step) in path.steps.iter().enumerate() {
            jobs.insert(step.job.clone());
            if k > 0 {
                edges.insert((path.steps[k - 1].job.clone(), step.job.clone()));
            }
            if let Some(nested) = &self.jobs[step.index].nested {
                nested.highlight_into(jobs, edges);
            }
        }
    }
}

/// One job of a [`CriticalPath`].
#[derive(Clone, Debug)]
pub struct Step {
    index: usize,
    job: AnyJob,
    label: String,
    start: Duration,
    end: Duration,
    idle: Duration,
}

impl Step {
    /// The job.
    pub fn job(&self) -> &AnyJob {
        &self.job
    }

    /// Its index in [`Timeline::jobs`].
    pub fn index(&self) -> usize {
        self.index
    }

    /// Its label.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// When it first started (see [`Attempt::start`]).
    pub fn start(&self) -> Duration {
        self.start
    }

    /// When it last ended.
    pub fn end(&self) -> Duration {
        self.end
    }

    /// From its first start to its last end.
    pub fn length(&self) -> Duration {
        self.end.saturating_sub(self.start)
    }

    /// How long it waited, once the job before it on the path had ended (the run's
    /// start, for the first), before it started: the time it spent ready but without a
    /// worker, or the run's own cost of starting it.
    pub fn idle(&self) -> Duration {
        self.idle
    }
}

/// The chain of jobs that set a run's length: see [`Timeline::critical_path`].
///
/// Its `Display` is what [`Scheduler::debrief`](crate::Scheduler::debrief) ends with:
///
/// ```text
/// ===== critical path: 3 job(s), 812.4ms of the run's 815.0ms (idle 0.3ms)
///     fetch    101.2ms
///     slow     600.9ms
///     report   110.0ms
/// ```
#[derive(Clone, Debug)]
pub struct CriticalPath {
    steps: Vec<Step>,
    wall: Duration,
}

impl CriticalPath {
    /// Its jobs, from the first to start to the last to end.
    pub fn steps(&self) -> &[Step] {
        &self.steps
    }

    /// Their labels, in order.
    pub fn labels(&self) -> Vec<&str> {
        self.steps.iter().map(Step::label).collect()
    }

    /// Whether no job ran.
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    /// The sum of its jobs' lengths.
    pub fn busy(&self) -> Duration {
        self.steps.iter().map(Step::length).sum()
    }

    /// The sum of the idle times before its jobs (see [`Step::idle`]).
    pub fn idle(&self) -> Duration {
        self.steps.iter().map(Step::idle).sum()
    }

    /// The wall time of the run.
    pub fn wall_time(&self) -> Duration {
        self.wall
    }
}

/// `812.4ms`, `1.250s`, `35us`, `420ns`: ASCII, short, precise enough to compare.
pub(crate) fn short(duration: Duration) -> String {
    let micros = duration.as_micros();
    if micros >= 1_000_000 {
        format!("{:.3}s", duration.as_secs_f64())
    } else if micros >= 1_000 {
        format!("{:.1}ms", duration.as_secs_f64() * 1e3)
    } else if micros >= 1 {
        format!("{micros}us")
    } else {
        format!("{}ns", duration.as_nanos())
    }
}

impl Display for CriticalPath {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        if self.steps.is_empty() {
            return writeln!(f, "===== critical path: no job ran");
        }
        writeln!(
            f,
            "===== critical path: {} job(s), {} of the run's {} (idle {})",
            self.steps.len(),
            short(self.busy()),
            short(self.wall),
            short(self.idle())
        )?;
        let labels: Vec<String> = self
            .steps
            .iter()
            .map(|step| printable(&step.label).into_owned())
            .collect();
        let width = labels.iter().map(|l| l.chars().count()).max().unwrap_or(0);
        for (step, label) in self.steps.iter().zip(&labels) {
            write!(f, "    {label:<width$}  {}", short(step.length()))?;
            if step.idle >= Duration::from_millis(1) {
                write!(f, " (after {} idle)", short(step.idle))?;
            }
            writeln!(f)?;
        }
        Ok(())
    }
}

/// Records a run's timeline: an observer of its events (see `Scheduler::record_timeline`).
pub(crate) struct Recorder {
    jobs: Arc<Vec<AnyJob>>,
    slots: Vec<Mutex<Slot>>,
    run: Mutex<RunTimes>,
}

#[derive(Default)]
struct RunTimes {
    origin: Option<Instant>,
    ended: Option<Instant>,
}

#[derive(Default)]
struct Slot {
    attempts: Vec<Raw>,
    outcome: Option<JobEnd>,
}

struct Raw {
    start: Instant,
    worker: usize,
    end: Option<(Instant, JobEnd)>,
}

impl Recorder {
    /// A recorder for a run of `jobs`.
    pub(crate) fn new(jobs: Arc<Vec<AnyJob>>) -> Recorder {
        let slots = jobs.iter().map(|_| Mutex::new(Slot::default())).collect();
        Recorder {
            jobs,
            slots,
            run: Mutex::new(RunTimes::default()),
        }
    }

    /// The index of `job` in the run's list: where its place says, else looked for.
    fn index(&self, job: &AnyJob) -> Option<usize> {
        let placed =
            (job.node().core().place.load(crate::sync::Ordering::Relaxed) & 0xffff_ffff) as usize;
        if self.jobs.get(placed) == Some(job) {
            return Some(placed);
        }
        self.jobs.iter().position(|j| j == job)
    }

    /// Takes one event of the run.
    pub(crate) fn observe(&self, event: &Event) {
        let Some(job) = &event.job else {
            match event.kind {
                EventKind::RunStarted { .. } => {
                    self.run.lock().origin = event.at.checked_sub(event.elapsed);
                }
                EventKind::RunEnded(_) => self.run.lock().ended = Some(event.at),
                _ => {}
            }
            return;
        };
        // Not kept: a job's wait for a worker is read from its requirements' ends.
        if let EventKind::Scheduled = event.kind {
            return;
        }
        let Some(i) = self.index(job) else { return };
        let mut slot = self.slots[i].lock();
        let end = match &event.kind {
            EventKind::Started => {
                slot.attempts.push(Raw {
                    start: event.at,
                    worker: event.worker.unwrap_or(0),
                    end: None,
                });
                return;
            }
            EventKind::Done => JobEnd::Done,
            EventKind::Failed(_) => JobEnd::Failed,
            EventKind::Retrying { .. } => JobEnd::Retried,
            EventKind::Cancelled => JobEnd::Cancelled,
            EventKind::Abandoned => JobEnd::Abandoned,
            EventKind::TimedOut {
                still_running: false,
            } => JobEnd::TimedOut,
            EventKind::TimedOut {
                still_running: true,
            } => JobEnd::TimedOutRunning,
            _ => return,
        };
        if end != JobEnd::Retried {
            slot.outcome = Some(end);
        }
        if let Some(open) = slot.attempts.last_mut().filter(|a| a.end.is_none()) {
            open.end = Some((event.at, end));
        }
    }

    /// When the run started, once it did.
    pub(crate) fn origin(&self) -> Option<Instant> {
        self.run.lock().origin
    }

    /// The timeline recorded so far, times counted from `origin` (the outermost run's
    /// start); `nested` gives the recorder of a job that is a nested scheduler.
    pub(crate) fn timeline(
        &self,
        label: String,
        origin: Instant,
        nested: &dyn Fn(&AnyJob) -> Option<Arc<Recorder>>,
    ) -> Timeline {
        let run = self.run.lock();
        let now = Instant::now();
        let own = run.origin.unwrap_or(origin);
        let ended = run.ended.unwrap_or(now);
        drop(run);
        let since = |at: Instant| at.saturating_duration_since(origin);
        let jobs = self
            .jobs
            .iter()
            .zip(&self.slots)
            .map(|(job, slot)| {
                let slot = slot.lock();
                let attempts: Vec<Attempt> = slot
                    .attempts
                    .iter()
                    .map(|raw| {
                        let (end, ended) = raw.end.unwrap_or((now, JobEnd::Unfinished));
                        Attempt {
                            start: since(raw.start),
                            end: since(end),
                            worker: raw.worker,
                            ended,
                        }
                    })
                    .collect();
                let outcome = match (slot.outcome, attempts.last()) {
                    (Some(outcome), _) => outcome,
                    (None, Some(last)) => last.ended,
                    (None, None) => JobEnd::NotRun,
                };
                drop(slot);
                let requires = job
                    .requirements()
                    .iter()
                    .filter_map(|r| self.index(r))
                    .collect();
                let nested =
                    nested(job).map(|recorder| recorder.timeline(job.text_label(), origin, nested));
                TimedJob {
                    job: job.clone(),
                    label: job.text_label(),
                    requires,
                    forever: job.is_forever(),
                    attempts,
                    outcome,
                    nested,
                }
            })
            .collect();
        Timeline {
            label,
            start: since(own),
            wall: ended.saturating_duration_since(own),
            jobs,
        }
    }
}
