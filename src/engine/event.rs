//! Events of a run, as plain data: [`Event`]s delivered to observers
//! ([`Scheduler::observe`](crate::Scheduler::observe),
//! [`Scheduler::subscribe`](crate::Scheduler::subscribe), and verbose mode's printer,
//! one observer among others), and to `tracing` with the `tracing` feature. The engine
//! prints nothing. What is sent, and when, is told on
//! [`Event`], where users read it.
//!
//! The [`Emitter`] of a run exists only when someone listens; the engine calls it at
//! each step of a job's life. It keeps the run's own events in order (a run cancelled
//! before it began still says `RunStarted` first), and contains panicking observers.

use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::error::{drop_payload, JobError};
use crate::job::{AnyJob, Status};
use crate::sync::{AtomicBool, Mutex, Ordering};

/// A function that receives a run's events; see [`Scheduler::observe`](crate::Scheduler::observe).
pub(crate) type Observer = Arc<dyn Fn(&Event) + Send + Sync + 'static>;

/// Something that happened in a run: a job changed state, or the run started or ended.
///
/// # What is sent, and when
///
/// For each job: [`Scheduled`](EventKind::Scheduled) when its requirements are all done,
/// [`Started`](EventKind::Started) when a worker takes it, then one end event:
/// [`Done`](EventKind::Done), [`Failed`](EventKind::Failed),
/// [`Cancelled`](EventKind::Cancelled), [`TimedOut`](EventKind::TimedOut) (its own
/// timeout), or [`Abandoned`](EventKind::Abandoned) (still running after the grace, see
/// [`Scheduler::grace`](crate::Scheduler::grace)). A job
/// that never starts gets no end event. For the run:
/// [`RunStarted`](EventKind::RunStarted) first, [`RunStopping`](EventKind::RunStopping)
/// when it decides to end (all done, or running jobs are being cancelled), and
/// [`RunEnded`](EventKind::RunEnded) last, once its workers have returned. A job's end
/// event comes before the [`Started`](EventKind::Started) of any job that requires it.
///
/// Observers are called synchronously, as things happen, on the thread where they
/// happen: mostly jobgraph's workers, the thread that ends the run (its
/// coordinator, or the one that drops the future of
/// [`Scheduler::run_async`](crate::Scheduler::run_async)), and jobgraph's timer thread
/// for a job given up on after its own timeout. Keep them short (count, send
/// on a channel, update a progress bar): the worker waits for them. An observer that
/// panics is not called again, and the run goes on. A run without observers, verbose
/// mode, a recorded timeline
/// ([`Scheduler::record_timeline`](crate::Scheduler::record_timeline)) or `tracing`
/// builds no event at all; with observers, building and delivering
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
    /// On [`Started`](EventKind::Started), the number of the worker that runs the job,
    /// counted from 0 in each run and below its window: the same number for each job
    /// that worker runs, and a worker that leaves the run hands its number to the next
    /// one hired, so no two jobs running at once share one. `None` for other events.
    pub worker: Option<usize>,
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
    /// A worker started the job: its body runs next, unless the run has ended or its
    /// deadline passed meanwhile, in which case `Cancelled` follows without the body
    /// having run.
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
    /// The job's own timeout passed ([`Job::timeout`](crate::Job::timeout)): it was
    /// cancelled and ended as timed out, a failure
    /// ([`Error::JobTimedOut`](crate::Error::JobTimedOut)). `still_running` when it had
    /// not returned within the grace after its deadline: the run gave up on it and goes
    /// on without it, while its thread still runs.
    TimedOut {
        /// The job's thread had not returned.
        still_running: bool,
    },
    /// An attempt of a job with [`retries`](crate::Job::retries) failed, and the job
    /// is tried again after a wait, holding no worker meanwhile: `Scheduled` and
    /// `Started` follow when its next attempt starts. Not an end: the job's end event
    /// comes after its last attempt.
    Retrying {
        /// The number of the attempt that failed (1 for the first).
        attempt: u32,
        /// How long the job waits before its next attempt.
        after: Duration,
        /// What the attempt failed with.
        error: JobError,
    },
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
            EventKind::TimedOut {
                still_running: false,
            } => f.write_str("timed out"),
            EventKind::TimedOut {
                still_running: true,
            } => f.write_str("timed out, still running"),
            EventKind::Retrying {
                attempt,
                after,
                error,
            } => write!(
                f,
                "attempt {attempt} failed: {error}; retrying in {after:?}"
            ),
            EventKind::RunStopping(end) => write!(f, "run stopping ({end:?})"),
            EventKind::RunEnded(end) => write!(f, "run ended ({end:?})"),
        }
    }
}

impl Event {
    /// Whether this event ends a job: done, failed, cancelled, timed out or abandoned.
    pub fn is_job_end(&self) -> bool {
        matches!(
            self.kind,
            EventKind::Done
                | EventKind::Failed(_)
                | EventKind::Cancelled
                | EventKind::TimedOut { .. }
                | EventKind::Abandoned
        )
    }
}

/// Delivers one run's events to its observers and to `tracing`.
pub(crate) struct Emitter {
    observers: Vec<Listener>,
    /// Keeps the run's own events in order (see [`run`](Emitter::run)).
    phase: Mutex<Phase>,
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
    pub(crate) fn new(label: &str, observers: &[Observer], jobs: usize) -> Option<Arc<Emitter>> {
        #[cfg(feature = "tracing")]
        let traced = tracing::enabled!(target: "jobgraph", tracing::Level::INFO);
        #[cfg(not(feature = "tracing"))]
        let (traced, _) = (false, jobs);
        if observers.is_empty() && !traced {
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
            start: Instant::now(),
            scheduler: Arc::from(label),
            #[cfg(feature = "tracing")]
            span: if traced {
                tracing::info_span!(target: "jobgraph", "run", scheduler = label, jobs)
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
        worker: Option<usize>,
    ) -> Option<Instant> {
        #[cfg(feature = "tracing")]
        if !self.span.is_none() {
            tracing::dispatcher::with_default(&self.dispatch, || trace(&self.span, &kind, job));
        }
        if self.observers.is_empty() {
            return None;
        }
        let at = at.unwrap_or_else(Instant::now);
        let event = Event {
            kind,
            at,
            elapsed: at.saturating_duration_since(self.start),
            scheduler: self.scheduler.clone(),
            job: job.cloned(),
            worker,
        };
        for listener in &self.observers {
            if listener.panicked.load(Ordering::Relaxed) {
                continue;
            }
            // An observer is not a job: its panic must not take a worker down (the run
            // would wait for it forever). The panic hook has reported it; it is not
            // called again.
            let call = catch_unwind(AssertUnwindSafe(|| (listener.observer)(&event)));
            if let Err(payload) = call {
                listener.panicked.store(true, Ordering::Relaxed);
                // Its payload's own `Drop` may panic too.
                let _ = drop_payload(payload);
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
                self.deliver(kind, None, None, None);
                phase.started = true;
                if let Some(held) = phase.held.take() {
                    self.deliver(held, None, None, None);
                }
            }
            EventKind::RunStopping(_) if !phase.started => phase.held = Some(kind),
            kind => {
                drop(phase);
                self.deliver(kind, None, None, None);
            }
        }
    }

    /// A job became ready: at `at` when known (the end of its last requirement).
    pub(crate) fn scheduled(&self, job: &AnyJob, at: Option<Instant>) {
        self.deliver(EventKind::Scheduled, Some(job), at, None);
    }

    /// A job starts on worker `worker`; the span returned stays entered until
    /// [`ended`](Emitter::ended).
    pub(crate) fn started(&self, index: u32, worker: usize, job: &AnyJob) -> JobSpan {
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
        self.deliver(EventKind::Started, Some(job), None, Some(worker));
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
            Status::TimedOut => EventKind::TimedOut {
                still_running: false,
            },
            // Abandoned: its end event was sent when its run gave up on it.
            Status::Lost => return None,
            // Not an end: `Retrying` is sent by its worker.
            Status::Retry => return None,
        };
        let at = self.deliver(kind, Some(job), None, None);
        // The job's span (with `tracing`) is left here, after its end event.
        let _ = span;
        at
    }

    /// Any other event of a job.
    pub(crate) fn job(&self, kind: EventKind, job: &AnyJob) {
        self.deliver(kind, Some(job), None, None);
    }

    /// A job its run gave up on.
    pub(crate) fn abandoned(&self, job: &AnyJob) {
        self.deliver(EventKind::Abandoned, Some(job), None, None);
    }

    /// A job its run gave up on after its own timeout and grace.
    pub(crate) fn timed_out_running(&self, job: &AnyJob) {
        self.deliver(
            EventKind::TimedOut {
                still_running: true,
            },
            Some(job),
            None,
            None,
        );
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
        EventKind::TimedOut { still_running } => {
            tracing::warn!(target: "jobgraph", job = label, still_running, "timed out")
        }
        EventKind::Retrying {
            attempt,
            after,
            error,
        } => {
            tracing::warn!(target: "jobgraph", parent: run, job = label, attempt, after = ?after, error = %error, "retrying")
        }
        EventKind::RunStopping(end) => {
            tracing::info!(target: "jobgraph", parent: run, reason = ?end, "run stopping")
        }
        EventKind::RunEnded(end) => {
            tracing::info!(target: "jobgraph", parent: run, reason = ?end, "run ended")
        }
    }
}
