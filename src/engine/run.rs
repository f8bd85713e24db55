//! One run: its shared state ([`Run`]), the coordinator that owns the deadline, the
//! grace and the stall check, and the end of the run (`finish`), which wakes everyone.

use std::sync::{Arc, OnceLock};
use std::task::Waker;
use std::time::{Duration, Instant};

use super::event::{Emitter, EventKind};
use super::pool::Pool;
use super::ready::Ready;
use super::rules::Rules;
use super::settings::{Reason, Settings};
use super::stall;
use super::table::Table;
use crate::graph::{is_forever, Frozen};
use crate::job::{state, AnyJob};
use crate::limits::Limits;
use crate::sync::{
    spin_for, wait_until_or_notified, AtomicBool, AtomicU32, AtomicUsize, Condvar, Deadline, Mutex,
    Ordering, Stealer, Worker,
};

pub(super) struct End {
    pub(super) reason: Option<Reason>,
}

/// Why and when a run ends, and who is still in it.
pub(super) struct Ending {
    /// Workers hired and not returned yet.
    pub(super) alive: AtomicUsize,
    pub(super) end: Mutex<End>,
    /// The coordinator waits here for the end, then for the workers.
    pub(super) ended: Condvar,
}

/// The shared state of one run, over its jobs `J`: a scheduler's handles, or a batch's
/// cells.
pub(crate) struct Run<J: Table = Vec<AnyJob>> {
    pub(super) jobs: Arc<J>,
    pub(super) graph: Arc<Frozen>,
    pub(super) pending: Vec<AtomicU32>,
    pub(super) remaining: AtomicUsize,
    pub(super) max_workers: usize,
    pub(super) label: String,
    /// Entry jobs, in insertion order, set once before the workers start; workers
    /// claim them from `claimed` on.
    pub(super) entries: OnceLock<Vec<u32>>,
    pub(super) claimed: AtomicUsize,
    /// One per worker that may run (the window, or fewer when there are fewer jobs),
    /// set when that worker starts: a run pays for the deques of the workers it starts.
    pub(super) stealers: Box<[OnceLock<Stealer<u32>>]>,
    /// Where the workers come from.
    pub(super) pool: Pool,
    /// No job starts at or after this instant, and none that ends after it has ended
    /// in time (`None`: no timeout).
    pub(super) deadline: Option<Deadline>,
    /// Workers in the window: hired, and not left yet.
    pub(super) workers: AtomicUsize,
    /// Deques made so far (numbered from 0, never more than `stealers` holds: the
    /// window, and one more per job with a timeout of its own).
    pub(super) numbers: AtomicUsize,
    /// The deques of workers that left, empty, for the workers hired later.
    pub(super) free: Mutex<Vec<(usize, Worker<u32>)>>,
    /// Workers out of work, looking again before they leave.
    pub(super) searching: AtomicUsize,
    /// Set once the run ends: workers return instead of waiting.
    pub(super) exit: AtomicBool,
    /// No job starts any more.
    pub(super) stop: AtomicBool,
    /// Running jobs are asked to stop.
    pub(super) cancelled: AtomicBool,
    /// Wakers of jobs blocked in a sleep, on a future, or in a nested run.
    pub(super) wakers: Mutex<Vec<(u32, Waker)>>,
    /// How the run ends, shared with the workers apart from the rest: a worker lets go
    /// of the run before it counts itself out, so that the thread that called `run`
    /// holds the run last and drops its jobs' values, as it did when workers were
    /// joined.
    pub(super) ending: Arc<Ending>,
    /// Observers, verbose mode, tracing; `None` when nobody listens.
    pub(super) events: Option<Arc<Emitter>>,
    pub(crate) stall: stall::Stall,
    /// How long a cancelled job is waited for: by the run's end, and after a job's own
    /// deadline.
    pub(super) grace: Duration,
    /// The jobs with policies of their own (a timeout, retries), by index (see
    /// `timeout`, `retry`); empty when none.
    pub(super) rules: Box<[Rules]>,
    /// Jobs made ready outside the workers (see `timeout`), and, in a ranked run, every
    /// ready job (see `ready`); and how many there are.
    pub(super) injected: Mutex<Ready>,
    pub(super) injected_len: AtomicUsize,
    /// The named limits its jobs use (see `share.rs`); `None` when none does.
    pub(super) limits: Option<Arc<Limits>>,
}

impl<J: Table> Run<J> {
    /// A run of `jobs` over `graph`. A graph held only here gives its requirement
    /// counts to the run's counters in place; a shared one (a batch that runs again)
    /// is copied.
    pub(crate) fn new(jobs: Arc<J>, mut graph: Arc<Frozen>, settings: &Settings) -> Arc<Self> {
        let pending = match Arc::get_mut(&mut graph) {
            Some(graph) => std::mem::take(&mut graph.pending)
                .into_iter()
                .map(AtomicU32::new)
                .collect(),
            None => graph.pending.iter().map(|&n| AtomicU32::new(n)).collect(),
        };
        let remaining = (0..jobs.len()).filter(|&i| !is_forever(&graph, i)).count();
        // The window, already within UNLIMITED_WINDOW_WORKERS (`Settings::for_run`), and
        // no more workers than there are jobs.
        let max_workers = settings.max_workers.clamp(1, jobs.len().max(1));
        let rules: Box<[Rules]> = graph
            .policies
            .iter()
            .map(|(i, policy)| Rules::new(*i, policy).sharing(graph.share(*i)))
            .collect();
        // A worker left in a job given up on for its timeout keeps its deque, and the
        // worker that takes its place needs one: one more deque per such job.
        let deques = max_workers + rules.iter().filter(|r| r.timeout.is_some()).count();
        Arc::new(Run {
            stealers: (0..deques).map(|_| OnceLock::new()).collect(),
            grace: settings.grace,
            rules,
            injected: Mutex::new(Ready::new(graph.rank.as_deref())),
            injected_len: AtomicUsize::new(0),
            limits: settings.limits.clone(),
            pool: settings.pool.clone(),
            // Counted from now: the run starts as it is made.
            deadline: settings.timeout.and_then(Deadline::after),
            jobs,
            graph,
            pending,
            remaining: AtomicUsize::new(remaining),
            max_workers,
            label: settings.label.clone(),
            entries: OnceLock::new(),
            claimed: AtomicUsize::new(0),
            workers: AtomicUsize::new(0),
            numbers: AtomicUsize::new(0),
            free: Mutex::new(Vec::new()),
            searching: AtomicUsize::new(0),
            exit: AtomicBool::new(false),
            stop: AtomicBool::new(false),
            cancelled: AtomicBool::new(false),
            wakers: Mutex::new(Vec::new()),
            ending: Arc::new(Ending {
                alive: AtomicUsize::new(0),
                end: Mutex::new(End { reason: None }),
                ended: Condvar::new(),
            }),
            events: settings.events.clone(),
            stall: stall::Stall::new(settings.stall_timeout),
        })
    }

    /// Runs the graph to its end on workers hired from the pool; the calling thread
    /// coordinates. `Err` when not a single worker could be had: `None` when the pool
    /// is closed, `Some` when the OS refused a thread.
    pub(crate) fn execute(
        self: &Arc<Self>,
        settings: &Settings,
    ) -> Result<Reason, Option<std::io::Error>> {
        self.emit_run(EventKind::RunStarted {
            jobs: self.jobs.len(),
        });
        if self.remaining.load(Ordering::Relaxed) == 0 {
            // Nothing to wait for: forever jobs alone are not started.
            self.emit_run(EventKind::RunEnded(Reason::Finished.into()));
            return Ok(Reason::Finished);
        }
        let now = self.events.as_ref().map(|_| Instant::now());
        let mut entries = Vec::new();
        for i in 0..self.jobs.len() as u32 {
            if self.pending[i as usize].load(Ordering::Relaxed) == 0 {
                self.set_state(i, state::SCHEDULED);
                self.emit_scheduled(i, now);
                entries.push(i);
            }
        }
        let wanted = entries.len().min(self.max_workers);
        if let Some(rank) = self.graph.rank.as_deref() {
            // A ranked run: every ready job waits in the one ranked queue.
            let mut ready = self.injected.lock();
            for &i in &entries {
                ready.push(i, Some(rank));
            }
            self.injected_len.store(ready.len(), Ordering::SeqCst);
            drop(ready);
            entries.clear();
        }
        let _ = self.entries.set(entries);
        let mut started = 0;
        let mut refusal = None;
        for _ in 0..wanted {
            if self.past_deadline() {
                // Workers hired later would start jobs after the deadline.
                self.finish(Reason::Timeout);
                break;
            }
            match self.add_worker() {
                Ok(true) => started += 1,
                Ok(false) => break,
                Err(error) => refusal = Some(error),
            }
        }
        if started == 0 {
            if let Some(error) = refusal {
                return Err(error);
            }
        }
        // A short run ends within microseconds: look before paying for a sleep and a
        // wake-up (yielding now and then: a worker sharing this CPU gets to finish).
        let spin = if self.jobs.len() <= SHORT_RUN_JOBS {
            END_SPIN
        } else {
            LONG_RUN_SPIN
        };
        // Not past the deadline, which the wait below keeps.
        let spin = match &self.deadline {
            Some(deadline) => spin.min(deadline.at().saturating_duration_since(Instant::now())),
            None => spin,
        };
        spin_for(spin, || {
            self.exit.load(Ordering::Acquire) && self.ending.alive.load(Ordering::Acquire) == 0
        });
        let mut stall_watch = stall::Watch::default();
        let mut end = self.ending.end.lock();
        while end.reason.is_none() {
            // `parked` is read under `end`: a future that parks first takes `end` to
            // notify, so this wait cannot miss it.
            let check = self.stall.next_check(&mut stall_watch);
            let wake_at = match (self.deadline.as_ref().map(Deadline::at), check) {
                (Some(d), Some(c)) => Some(d.min(c)),
                (d, c) => d.or(c),
            };
            match wake_at {
                Some(wake_at) => {
                    if self.ending.ended.wait_until(&mut end, wake_at).timed_out()
                        && end.reason.is_none()
                    {
                        drop(end);
                        if self.past_deadline() {
                            self.finish(Reason::Timeout);
                        } else if self.is_stalled(&mut stall_watch) {
                            self.finish(Reason::Stalled);
                        }
                        end = self.ending.end.lock();
                    }
                }
                None => self.ending.ended.wait(&mut end),
            }
        }
        let reason = end.reason.unwrap_or(Reason::Finished);
        // `Duration::MAX`: wait for every worker, however long.
        let grace_end = Instant::now().checked_add(settings.grace);
        // A worker decrements `alive`, then takes `end` to notify: read under `end`,
        // a count above zero is followed by that notification.
        while self.ending.alive.load(Ordering::SeqCst) > 0 {
            if wait_until_or_notified(&self.ending.ended, &mut end, grace_end) {
                break;
            }
        }
        let stuck = self.ending.alive.load(Ordering::SeqCst);
        drop(end);
        if stuck > 0 {
            for i in 0..self.jobs.len() {
                self.jobs.abandon(i);
                if let (Some(events), Some(job)) = (&self.events, self.jobs.handle(i)) {
                    if self.jobs.state(i).load(Ordering::Acquire) == state::ABANDONED {
                        events.abandoned(job);
                    }
                }
            }
        }
        self.stop_waiting_attempts();
        self.give_shares_back();
        self.emit_run(EventKind::RunEnded(reason.into()));
        Ok(reason)
    }

    /// Whether the run's deadline has come: then no job may start, and none that ends
    /// has ended in time.
    #[inline]
    pub(super) fn past_deadline(&self) -> bool {
        self.deadline.as_ref().is_some_and(Deadline::passed)
    }

    /// Whether the run has been stalled for the stall timeout (see `stall`).
    pub(super) fn is_stalled(self: &Arc<Self>, watch: &mut stall::Watch) -> bool {
        let ready = self.ready_count();
        if ready > 0 && self.workers.load(Ordering::Acquire) < self.max_workers {
            // Ready jobs and room in the window, but no worker to take them (one the OS
            // refused): one more, rather than a stall.
            let _ = self.add_worker();
        }
        let workers = self.workers.load(Ordering::Acquire);
        // A worker with nothing to do leaves the run: every worker in it is busy, and a
        // window with room takes the ready jobs (above).
        let room = self.max_workers - workers.min(self.max_workers);
        let stalled = self.stall.check(watch, workers + room, room, ready);
        if stalled {
            *self.stall.seen.lock() = Some(self.stalled_jobs());
        }
        stalled
    }

    /// How many jobs are ready and not taken by a worker.
    pub(super) fn ready_count(&self) -> usize {
        let entries = self.entries.get().map_or(0, Vec::len);
        let unclaimed = entries.saturating_sub(self.claimed.load(Ordering::Acquire));
        unclaimed
            + self.injected_len.load(Ordering::Acquire)
            + self
                .stealers
                .iter()
                .filter_map(OnceLock::get)
                .map(Stealer::len)
                .sum::<usize>()
    }

    /// A future job returned `Pending` without arming a timer.
    pub(crate) fn future_parked(&self) {
        if self.stall.parked.fetch_add(1, Ordering::AcqRel) == 0 && self.stall.timeout.is_some() {
            // Wakes the coordinator so that it starts checking for a stall.
            let _end = self.ending.end.lock();
            self.ending.ended.notify_all();
        }
    }

    /// A parked future job is polled again.
    pub(crate) fn future_unparked(&self) {
        self.stall.moves.fetch_add(1, Ordering::AcqRel);
        self.stall.parked.fetch_sub(1, Ordering::AcqRel);
    }

    /// The labels of the jobs running now, and how many jobs wait for a slot.
    pub(super) fn stalled_jobs(&self) -> (Vec<String>, usize) {
        let running = (0..self.jobs.len())
            .filter(|&i| self.jobs.state(i).load(Ordering::Acquire) == state::RUNNING)
            .map(|i| self.jobs.label(i))
            .collect();
        (running, self.ready_count())
    }

    pub(super) fn emit_run(&self, kind: EventKind) {
        if let Some(events) = &self.events {
            events.run(kind);
        }
    }

    pub(super) fn emit_scheduled(&self, i: u32, at: Option<Instant>) {
        if let (Some(events), Some(job)) = (&self.events, self.jobs.handle(i as usize)) {
            events.scheduled(job, at);
        }
    }

    /// Ends the run, for the first reason given; later calls do nothing.
    pub(crate) fn finish(&self, reason: Reason) {
        {
            let mut end = self.ending.end.lock();
            if end.reason.is_some() {
                return;
            }
            end.reason = Some(reason);
        }
        self.emit_run(EventKind::RunStopping(reason.into()));
        self.stop.store(true, Ordering::Release);
        self.cancelled.store(true, Ordering::SeqCst);
        self.exit.store(true, Ordering::SeqCst);
        let wakers = std::mem::take(&mut *self.wakers.lock());
        for (_, waker) in wakers {
            waker.wake();
        }
        self.ending.ended.notify_all();
    }

    /// Registers `waker` to be woken when the run is cancelled. If it already is, wakes
    /// it at once.
    pub(crate) fn on_cancel(&self, index: u32, waker: &Waker) {
        {
            let mut wakers = self.wakers.lock();
            match wakers.iter_mut().find(|(i, _)| *i == index) {
                Some((_, old)) => {
                    if !old.will_wake(waker) {
                        old.clone_from(waker);
                    }
                }
                None => wakers.push((index, waker.clone())),
            }
        }
        // `finish` sets the flag before it takes the wakers: we see one or the other;
        // so does `expire`, with the job's own flag.
        if self.cancelled.load(Ordering::SeqCst) || self.expired(index) {
            waker.wake_by_ref();
        }
    }

    pub(crate) fn forget_waker(&self, index: u32) {
        self.wakers.lock().retain(|(i, _)| *i != index);
    }

    pub(super) fn set_state(&self, i: u32, value: u8) {
        self.jobs.state(i as usize).store(value, Ordering::Release);
    }
}

/// How long the coordinator looks for the end of a run of at most [`SHORT_RUN_JOBS`]
/// jobs before it sleeps. A 1,000-job graph runs in 30 to 80 µs: a coordinator that
/// slept through it (after about 15 µs of looks) cost each run of the chain or the
/// wavefront 15 to 25 µs more, to be woken.
const END_SPIN: Duration = Duration::from_micros(150);

/// How many jobs a run may have for the coordinator to look for its end for
/// [`END_SPIN`]: a bigger one lasts milliseconds, and looks taken from its two workers'
/// CPUs meanwhile would slow it.
const SHORT_RUN_JOBS: usize = 4096;

/// How long the coordinator looks for the end of a bigger run.
const LONG_RUN_SPIN: Duration = Duration::from_micros(15);

/// A run seen from its front door once it has returned: whether its workers are gone.
pub(crate) trait Workers: Send + Sync {
    /// Workers still in the run's job loop: once none is, no worker of the run touches
    /// its jobs again.
    fn workers_alive(&self) -> usize;
}

impl<J: Table> Workers for Run<J> {
    fn workers_alive(&self) -> usize {
        self.ending.alive.load(Ordering::Acquire)
    }
}
