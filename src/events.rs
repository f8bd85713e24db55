//! Events of a run, for code: [`Event`]s delivered to observers
//! ([`Scheduler::observe`](crate::Scheduler::observe),
//! [`Scheduler::subscribe`](crate::Scheduler::subscribe)), to `tracing` with the
//! `tracing` feature, and printed by verbose mode. What is sent, and when, is told on
//! [`Event`], where users read it.
//!
//! The [`Emitter`] of a run exists only when someone listens; the engine calls it at
//! each step of a job's life. It keeps the run's own events in order (a run cancelled
//! before it began still says `RunStarted` first), and contains panicking observers.

use std::collections::HashMap;
use std::fmt::{self, Write as _};
use std::io::Write as _;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use crate::error::JobError;
use crate::graph::Frozen;
use crate::handle::{AnyJob, JobState};
use crate::job::Status;
use crate::ops::listing_order;
use crate::report::{repr_main, repr_result, run_ids, stats_line, Badge, Symbols};
use crate::scheduler::Scheduler;
use crate::sync::{AtomicBool, Mutex, Ordering};
use crate::watch::{wall_clock, Watch};

/// A function that receives a run's events; see [`Scheduler::observe`](crate::Scheduler::observe).
pub(crate) type Observer = Arc<dyn Fn(&Event) + Send + Sync + 'static>;

/// Something that happened in a run: a job changed state, or the run started or ended.
///
/// # What is sent, and when
///
/// For each job: [`Scheduled`](EventKind::Scheduled) when its requirements are all done,
/// [`Started`](EventKind::Started) when a worker takes it, then one end event:
/// [`Done`](EventKind::Done), [`Failed`](EventKind::Failed),
/// [`Cancelled`](EventKind::Cancelled), or [`Abandoned`](EventKind::Abandoned) (still
/// running after the grace, see [`Scheduler::grace`](crate::Scheduler::grace)). A job
/// that never starts gets no end event. For the run:
/// [`RunStarted`](EventKind::RunStarted) first, [`RunStopping`](EventKind::RunStopping)
/// when it decides to end (all done, or running jobs are being cancelled), and
/// [`RunEnded`](EventKind::RunEnded) last, once its workers have returned. A job's end
/// event comes before the [`Started`](EventKind::Started) of any job that requires it.
///
/// Observers are called synchronously, as things happen, on the thread where they
/// happen: mostly jobgraph's workers, and the thread that ends the run (its
/// coordinator, or the one that drops the future of
/// [`Scheduler::run_async`](crate::Scheduler::run_async)). Keep them short (count, send
/// on a channel, update a progress bar): the worker waits for them. An observer that
/// panics is not called again, and the run goes on. A run without observers, verbose
/// mode or `tracing` builds no event at all; with observers, building and delivering
/// an event costs a clock reading and a few reference counts (no lock, no
/// allocation), plus what the observers do.
///
/// # `tracing`
///
/// With the crate's `tracing` feature, and a subscriber interested in target
/// `jobgraph` at level `INFO`, a run is a `run` span (fields `scheduler`, `jobs`), each
/// job a `job` span inside it (fields `label`, `index`) entered on its worker while it
/// runs, and each event a `tracing` event in those spans (`Scheduled` at `DEBUG`,
/// `Failed` and `Abandoned` at `WARN`). They go to the subscriber in effect where the
/// run began (where `run` is called, or where the future of `run_async` is polled),
/// a scoped one too, from every thread of the run; what a job logs goes there as
/// well, inside its `job` span.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Event {
    /// What happened.
    pub kind: EventKind,
    /// When it happened.
    pub at: Instant,
    /// How long after the start of the run it happened.
    pub elapsed: Duration,
    /// The label of the scheduler whose run this is.
    pub scheduler: Arc<str>,
    /// The job concerned; `None` for the run's own events.
    pub job: Option<AnyJob>,
}

/// What an [`Event`] reports.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum EventKind {
    /// The run starts, with this many jobs.
    RunStarted {
        /// How many jobs the scheduler holds (a nested scheduler counts as one).
        jobs: usize,
    },
    /// The job's requirements are all done: it waits for a free slot in the window.
    Scheduled,
    /// A worker started the job.
    Started,
    /// The job ended with a value (read it with its handle, or
    /// [`AnyJob::result_text`]).
    Done,
    /// The job returned an error or panicked.
    Failed(JobError),
    /// The run stopped the job before it ended (a forever job once the rest is done, a
    /// timeout, a critical failure elsewhere, a cancelled run).
    Cancelled,
    /// The job was still running when the run gave up waiting for it; whatever it
    /// returns later is dropped.
    Abandoned,
    /// The run decided to end: nothing new starts, running jobs are being cancelled.
    RunStopping(RunEnd),
    /// The run is over: its workers have returned (or were abandoned).
    RunEnded(RunEnd),
}

/// Why a run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RunEnd {
    /// Every non-forever job ended.
    Finished,
    /// A critical job failed.
    CriticalFailure,
    /// The scheduler's timeout expired.
    Timeout,
    /// The run was cancelled from outside: by the enclosing run of a nested scheduler,
    /// or by dropping the future of [`Scheduler::run_async`](crate::Scheduler::run_async).
    Cancelled,
    /// No job could make progress any more (see
    /// [`Scheduler::stall_timeout`](crate::Scheduler::stall_timeout)).
    Stalled,
}

impl From<crate::engine::Reason> for RunEnd {
    fn from(reason: crate::engine::Reason) -> Self {
        use crate::engine::Reason;
        match reason {
            Reason::Finished => RunEnd::Finished,
            Reason::Critical => RunEnd::CriticalFailure,
            Reason::Timeout => RunEnd::Timeout,
            Reason::Cancelled => RunEnd::Cancelled,
            Reason::Stalled => RunEnd::Stalled,
        }
    }
}

impl fmt::Display for EventKind {
    /// `started`, `failed: boom`, `run stopping (timeout)`, ...
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EventKind::RunStarted { jobs } => write!(f, "run started with {jobs} job(s)"),
            EventKind::Scheduled => f.write_str("scheduled"),
            EventKind::Started => f.write_str("started"),
            EventKind::Done => f.write_str("done"),
            EventKind::Failed(error) => write!(f, "failed: {error}"),
            EventKind::Cancelled => f.write_str("cancelled"),
            EventKind::Abandoned => f.write_str("abandoned"),
            EventKind::RunStopping(end) => write!(f, "run stopping ({end:?})"),
            EventKind::RunEnded(end) => write!(f, "run ended ({end:?})"),
        }
    }
}

impl Event {
    /// Whether this event ends a job: done, failed, cancelled or abandoned.
    pub fn is_job_end(&self) -> bool {
        matches!(
            self.kind,
            EventKind::Done | EventKind::Failed(_) | EventKind::Cancelled | EventKind::Abandoned
        )
    }
}

impl Scheduler {
    /// Calls `observer` with each event of this scheduler's run (see [`Event`]).
    ///
    /// It is called on the worker threads, as things happen, so it must be quick and
    /// thread-safe; several observers are called in the order they were added. Jobs of
    /// a nested scheduler are reported by that scheduler's own observers. An observer
    /// that panics is not called again, and the run goes on.
    ///
    /// ```
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use std::sync::Arc;
    /// use jobgraph::{EventKind, Job, Scheduler};
    ///
    /// let done = Arc::new(AtomicUsize::new(0));
    /// let counter = done.clone();
    /// let s = Scheduler::new().observe(move |event| {
    ///     if let EventKind::Done = event.kind {
    ///         counter.fetch_add(1, Ordering::Relaxed);
    ///     }
    /// });
    /// s.add((Job::new(|_| 1), Job::new(|_| 2)));
    /// s.run().unwrap();
    /// assert_eq!(done.load(Ordering::Relaxed), 2);
    /// ```
    pub fn observe(self, observer: impl Fn(&Event) + Send + Sync + 'static) -> Self {
        self.inner.conf.lock().observers.push(Arc::new(observer));
        self
    }

    /// A channel that receives each event of this scheduler's run, in the order they
    /// happen (see [`observe`](Scheduler::observe)).
    ///
    /// Events are sent whether or not the receiver keeps up (the channel is unbounded).
    /// The channel closes after [`RunEnded`](EventKind::RunEnded), so iterating the
    /// receiver ends with the run; a run refused before it starts (a mistake in the
    /// graph) sends nothing, and the channel then closes when the scheduler is dropped.
    ///
    /// ```
    /// use jobgraph::{EventKind, Job, Scheduler};
    ///
    /// let s = Scheduler::new();
    /// s.add((Job::new(|_| 1), Job::new(|_| 2)));
    /// let events = s.subscribe();
    /// let progress = std::thread::spawn(move || {
    ///     // Ends with the run.
    ///     events.iter().filter(|event| event.is_job_end()).count()
    /// });
    /// s.run().unwrap();
    /// assert_eq!(progress.join().unwrap(), 2);
    /// ```
    pub fn subscribe(&self) -> mpsc::Receiver<Event> {
        let (sender, receiver) = mpsc::channel();
        let sender = Mutex::new(Some(sender));
        self.inner
            .conf
            .lock()
            .observers
            .push(Arc::new(move |event: &Event| {
                let mut sender = sender.lock();
                if let Some(open) = &*sender {
                    // A receiver that was dropped wants no more events.
                    let _ = open.send(event.clone());
                }
                if let EventKind::RunEnded(_) = event.kind {
                    // The last event of the run: the receiver's iteration ends here.
                    *sender = None;
                }
            }));
        receiver
    }
}

/// Delivers one run's events to its observers, its verbose printer and `tracing`.
pub(crate) struct Emitter {
    observers: Vec<Listener>,
    /// Keeps the run's own events in order (see [`run`](Emitter::run)).
    phase: Mutex<Phase>,
    verbose: Option<Verbose>,
    start: Instant,
    scheduler: Arc<str>,
    /// The run's span; `Span::none()` when `tracing` is not listening.
    #[cfg(feature = "tracing")]
    span: tracing::Span,
    /// The subscriber in effect where the run began: the run's spans and events, and
    /// what jobs log, go to it from every thread of the run, a scoped one too
    /// (`tracing::subscriber::with_default`), not only a global one.
    #[cfg(feature = "tracing")]
    dispatch: tracing::Dispatch,
}

/// An observer, and whether it panicked: one that did is not called again.
struct Listener {
    observer: Observer,
    panicked: AtomicBool,
}

/// Where the run is, for its own events: a `RunStopping` that comes before
/// `RunStarted` (the run was cancelled before it began) is held until then.
#[derive(Default)]
struct Phase {
    started: bool,
    held: Option<EventKind>,
}

/// What the engine keeps while a job runs: its `tracing` span, entered, and the run's
/// subscriber set as the worker's default.
pub(crate) struct JobSpan {
    #[cfg(feature = "tracing")]
    _entered: tracing::span::EnteredSpan,
    #[cfg(feature = "tracing")]
    _dispatch: Option<tracing::dispatcher::DefaultGuard>,
}

impl Emitter {
    /// The emitter of a run, or `None` when nobody listens: then the engine pays one
    /// branch per hook and builds nothing.
    pub(crate) fn new(
        label: &str,
        observers: &[Observer],
        verbose: Option<Option<Watch>>,
        jobs: &Arc<Vec<AnyJob>>,
        graph: &Frozen,
    ) -> Option<Arc<Emitter>> {
        #[cfg(feature = "tracing")]
        let traced = tracing::enabled!(target: "jobgraph", tracing::Level::INFO);
        #[cfg(not(feature = "tracing"))]
        let traced = false;
        if observers.is_empty() && verbose.is_none() && !traced {
            return None;
        }
        Some(Arc::new(Emitter {
            observers: observers
                .iter()
                .map(|observer| Listener {
                    observer: observer.clone(),
                    panicked: AtomicBool::new(false),
                })
                .collect(),
            phase: Mutex::new(Phase::default()),
            verbose: verbose.map(|watch| Verbose::new(watch, jobs, graph, Output::Stdout)),
            start: Instant::now(),
            scheduler: Arc::from(label),
            #[cfg(feature = "tracing")]
            span: if traced {
                tracing::info_span!(target: "jobgraph", "run", scheduler = label, jobs = jobs.len())
            } else {
                tracing::Span::none()
            },
            #[cfg(feature = "tracing")]
            dispatch: tracing::dispatcher::get_default(Clone::clone),
        }))
    }

    /// Sends an event to the listeners; `at`, when the caller already read the clock
    /// for this instant (reading it is most of an event's cost). Returns the instant
    /// used, `None` when nobody but `tracing` listens.
    fn deliver(
        &self,
        kind: EventKind,
        job: Option<&AnyJob>,
        at: Option<Instant>,
    ) -> Option<Instant> {
        #[cfg(feature = "tracing")]
        if !self.span.is_none() {
            tracing::dispatcher::with_default(&self.dispatch, || trace(&self.span, &kind, job));
        }
        if self.observers.is_empty() && self.verbose.is_none() {
            return None;
        }
        let at = at.unwrap_or_else(Instant::now);
        let event = Event {
            kind,
            at,
            elapsed: at.saturating_duration_since(self.start),
            scheduler: self.scheduler.clone(),
            job: job.cloned(),
        };
        if let Some(verbose) = &self.verbose {
            verbose.print(&event);
        }
        for listener in &self.observers {
            if listener.panicked.load(Ordering::Relaxed) {
                continue;
            }
            // An observer is not a job: its panic must not take a worker down (the run
            // would wait for it forever). The panic hook has reported it; it is not
            // called again.
            let call = catch_unwind(AssertUnwindSafe(|| (listener.observer)(&event)));
            if call.is_err() {
                listener.panicked.store(true, Ordering::Relaxed);
            }
        }
        Some(at)
    }

    /// A run event. `RunStarted` comes first whatever happens: a `RunStopping` sent
    /// before it (a run cancelled before it began) is delivered right after it.
    pub(crate) fn run(&self, kind: EventKind) {
        let mut phase = self.phase.lock();
        match kind {
            EventKind::RunStarted { .. } => {
                // Delivered under the lock: a concurrent `RunStopping` waits for it.
                self.deliver(kind, None, None);
                phase.started = true;
                if let Some(held) = phase.held.take() {
                    self.deliver(held, None, None);
                }
            }
            EventKind::RunStopping(_) if !phase.started => phase.held = Some(kind),
            kind => {
                drop(phase);
                self.deliver(kind, None, None);
            }
        }
    }

    /// A job became ready: at `at` when known (the end of its last requirement).
    pub(crate) fn scheduled(&self, job: &AnyJob, at: Option<Instant>) {
        self.deliver(EventKind::Scheduled, Some(job), at);
    }

    /// A job starts; the span returned stays entered until [`ended`](Emitter::ended).
    pub(crate) fn started(&self, index: u32, job: &AnyJob) -> JobSpan {
        #[cfg(feature = "tracing")]
        let (span, dispatch) = if self.span.is_none() {
            (tracing::Span::none(), None)
        } else {
            // While the job runs, what it logs goes to the run's subscriber, in its span.
            let dispatch = tracing::dispatcher::set_default(&self.dispatch);
            let span = tracing::info_span!(target: "jobgraph", parent: &self.span, "job", label = %job.text_label(), index);
            (span, Some(dispatch))
        };
        #[cfg(not(feature = "tracing"))]
        let _ = index;
        #[cfg(feature = "tracing")]
        let entered = span.entered();
        self.deliver(EventKind::Started, Some(job), None);
        JobSpan {
            #[cfg(feature = "tracing")]
            _entered: entered,
            #[cfg(feature = "tracing")]
            _dispatch: dispatch,
        }
    }

    /// A job returned from its worker with `status`. Returns the instant of its end
    /// event, the instant its successors become ready.
    pub(crate) fn ended(
        &self,
        job: &AnyJob,
        status: Status,
        span: Option<JobSpan>,
    ) -> Option<Instant> {
        let kind = match status {
            Status::Done => EventKind::Done,
            Status::Failed => match job.raised_exception() {
                Some(error) => EventKind::Failed(error),
                None => EventKind::Done,
            },
            Status::Cancelled => EventKind::Cancelled,
            // Abandoned: its end event was sent when its run gave up on it.
            Status::Lost => return None,
        };
        let at = self.deliver(kind, Some(job), None);
        // The job's span (with `tracing`) is left here, after its end event.
        let _ = span;
        at
    }

    /// A job its run gave up on.
    pub(crate) fn abandoned(&self, job: &AnyJob) {
        self.deliver(EventKind::Abandoned, Some(job), None);
    }
}

#[cfg(feature = "tracing")]
fn trace(run: &tracing::Span, kind: &EventKind, job: Option<&AnyJob>) {
    if run.is_none() {
        return;
    }
    let label = job.map(AnyJob::text_label);
    let label = label.as_deref().unwrap_or("");
    match kind {
        EventKind::RunStarted { jobs } => {
            tracing::info!(target: "jobgraph", parent: run, jobs, "run started")
        }
        EventKind::Scheduled => {
            tracing::debug!(target: "jobgraph", parent: run, job = label, "scheduled")
        }
        EventKind::Started => tracing::info!(target: "jobgraph", job = label, "started"),
        EventKind::Done => tracing::info!(target: "jobgraph", job = label, "done"),
        EventKind::Failed(error) => {
            tracing::warn!(target: "jobgraph", job = label, error = %error, "failed")
        }
        EventKind::Cancelled => tracing::info!(target: "jobgraph", job = label, "cancelled"),
        EventKind::Abandoned => {
            tracing::warn!(target: "jobgraph", parent: run, job = label, "abandoned")
        }
        EventKind::RunStopping(end) => {
            tracing::info!(target: "jobgraph", parent: run, reason = ?end, "run stopping")
        }
        EventKind::RunEnded(end) => {
            tracing::info!(target: "jobgraph", parent: run, reason = ?end, "run ended")
        }
    }
}

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
/// 000.001  0D + 1R + 3I = 4 STARTING: 1 ⚠ ☉ ↺   <Job `a`> [not done]
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
    symbols: Symbols,
    output: Output,
}

impl Verbose {
    pub(crate) fn new(
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

    fn time(&self) -> String {
        match &self.watch {
            Some(watch) => format!("{}  ", watch.elapsed()),
            None => format!("{} ", wall_clock()),
        }
    }

    /// `{id} {badge} {main} {result} {requires}`, as asynciojobs' verbose lines show a
    /// job.
    fn job_line(&self, i: usize) -> String {
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
            Badge::of(job).symbols(self.symbols),
            repr_main(job),
            repr_result(job)
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
            (EventKind::Started, Some(job)) => {
                self.job_event("STARTING", job).into_iter().collect()
            }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Job;

    /// Runs `scheduler` with verbose lines going to a buffer; returns them.
    fn verbose_lines(scheduler: &Scheduler) -> String {
        let buffer = Arc::new(crate::sync::Mutex::new(String::new()));
        let jobs = Arc::new(scheduler.jobs());
        let graph = crate::graph::freeze(scheduler.inner.id, "test", &jobs).unwrap();
        let mut verbose = Verbose::new(
            Some(Watch::start()),
            &jobs,
            &graph,
            Output::Buffer(buffer.clone()),
        );
        // Whatever the locale the tests run in.
        verbose.symbols = Symbols::Unicode;
        let observer: Observer = Arc::new(move |event: &Event| verbose.print(event));
        scheduler.inner.conf.lock().observers.push(observer);
        let _ = scheduler.run();
        let text = buffer.lock().clone();
        text
    }

    #[test]
    fn verbose_prints_starting_done_and_raised() {
        let a = Job::new(|_| 1).label("a");
        let boom = Job::new(|_| Err::<(), _>("boom"))
            .label("nc-boom")
            .critical(false)
            .requires(&a);
        let s = Scheduler::new();
        s.add((&a, &boom));
        let text = verbose_lines(&s);
        assert!(
            text.contains("SCHEDULER 0D + 0R + 2I = 2: entering run() with 2 jobs"),
            "{text}"
        );
        assert!(
            text.contains("STARTING: 1 ⚠ ☉ ↺   <Job `a`> [not done]"),
            "{text}"
        );
        assert!(
            text.contains("DONE    : 1 ⚠ ☉ ☓   <Job `a`> [[ -> 1]]"),
            "{text}"
        );
        assert!(
            text.contains("RAISED EXC.: 2   ★ ☓   <Job `nc-boom`> !! exception => "),
            "{text}"
        );
        assert!(
            text.contains("EXCEPTION occurred - on non-critical job"),
            "{text}"
        );
        assert!(text.contains("requires={1}"), "{text}");
    }

    #[test]
    fn verbose_numbers_jobs_as_list_does() {
        // Kahn's order would number d second; list() numbers jobs 1 to 4 as added.
        let a = Job::new(|_| 1).label("a");
        let b = Job::new(|_| 2).label("b").requires(&a);
        let c = Job::new(|_| 3).label("c").requires(&b);
        let d = Job::new(|_| 4).label("d");
        let s = Scheduler::new().window(1);
        s.add((&a, &b, &c, &d));
        let text = verbose_lines(&s);
        assert!(
            text.contains("DONE    : 3 ⚠ ☉ ☓   <Job `c`> [[ -> 3]] requires={2}\n"),
            "{text}"
        );
        assert!(
            text.contains("DONE    : 4 ⚠ ☉ ☓   <Job `d`> [[ -> 4]] \n"),
            "{text}"
        );
    }

    #[test]
    fn verbose_says_which_kind_of_job_raised() {
        let boom = Job::new(|_| Err::<(), _>("zz")).label("crit");
        let s = Scheduler::new().critical(false);
        s.add(&boom);
        let text = verbose_lines(&s);
        assert!(
            text.contains("EXCEPTION occurred - on critical job: 1 ⚠ ★ ☓   <Job `crit`>"),
            "{text}"
        );
    }

    #[test]
    fn verbose_prints_emergency_exit_and_tidying() {
        let boom = Job::new(|_| Err::<(), _>("zz")).label("crit");
        let s = Scheduler::new().critical(false);
        s.add(&boom);
        let text = verbose_lines(&s);
        assert!(text.contains("!! CRIT. EXC. => "), "{text}");
        assert!(
            text.contains("Emergency exit upon exception in critical job"),
            "{text}"
        );

        async fn tick() {
            loop {
                crate::sleep(Duration::from_millis(5)).await;
            }
        }
        let mon = Job::future(tick())
            .label("mon")
            .forever(true)
            .critical(false);
        let a = Job::new(|ctx| ctx.sleep(Duration::from_millis(30))).label("a");
        let s = Scheduler::new();
        s.add((&a, &mon));
        let text = verbose_lines(&s);
        assert!(text.contains("TIDYING forever: "), "{text}");
        assert!(text.contains("<Job `mon`>"), "{text}");
    }

    #[test]
    fn verbose_prints_timeout() {
        let slow = Job::new(|ctx| ctx.sleep(Duration::from_secs(5))).label("slow");
        let s = Scheduler::new()
            .critical(false)
            .timeout(Duration::from_millis(30));
        s.add(&slow);
        let text = verbose_lines(&s);
        assert!(text.contains("TIMEOUT occurred"), "{text}");
        assert!(
            text.contains("ABORTING: 1 ⚠ ☉ ↺   <Job `slow`> [not done] "),
            "{text}"
        );
    }
}
