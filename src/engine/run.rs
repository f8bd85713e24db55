//! One run: its shared state ([`Run`]), the coordinator that owns the deadline, the
//! grace and the stall check, and the end of the run (`finish`), which wakes everyone.

use std::sync::{Arc, OnceLock};
use std::task::Waker;
use std::time::Instant;

use super::event::{Emitter, EventKind};
use super::settings::{Reason, Settings};
use super::stall;
use super::table::Table;
use crate::graph::{is_forever, Frozen};
use crate::job::{state, AnyJob};
use crate::sync::{
    thread, AtomicBool, AtomicU32, AtomicUsize, Condvar, Mutex, Ordering, Stealer, Worker,
};

pub(super) struct End {
    pub(super) reason: Option<Reason>,
    /// Workers that have not returned yet.
    pub(super) alive: usize,
    /// Join handles of the workers, by worker number; taken once they have returned.
    pub(super) handles: Vec<Option<thread::JoinHandle<()>>>,
    /// Worker numbers that have returned.
    pub(super) returned: Vec<usize>,
}

/// The shared state of one run, over its jobs `J`: a scheduler's handles, or a batch's
/// cells.
pub(crate) struct Run<J: Table = Vec<AnyJob>> {
    pub(super) jobs: Arc<J>,
    pub(super) graph: Frozen,
    pub(super) pending: Vec<AtomicU32>,
    pub(super) remaining: AtomicUsize,
    pub(super) max_workers: usize,
    pub(super) label: String,
    /// Entry jobs, in insertion order, set once before the workers start; workers
    /// claim them from `claimed` on.
    pub(super) entries: OnceLock<Vec<u32>>,
    pub(super) claimed: AtomicUsize,
    /// One per worker that may run (the window, or fewer when there are fewer jobs).
    pub(super) stealers: Vec<Stealer<u32>>,
    /// The deques of the workers not started yet, by worker number.
    pub(super) deques: Mutex<Vec<Option<Worker<u32>>>>,
    /// Workers started or being started (a worker whose thread the OS refused is not
    /// counted).
    pub(super) workers: AtomicUsize,
    /// The next worker number to give out; numbers are never given twice.
    pub(super) numbers: AtomicUsize,
    /// Workers waiting on `wake`.
    pub(super) sleepers: AtomicUsize,
    /// Workers out of work, looking again before they sleep.
    pub(super) searching: AtomicUsize,
    pub(super) sleep: Mutex<()>,
    pub(super) wake: Condvar,
    /// Set once the run ends: workers return instead of waiting.
    pub(super) exit: AtomicBool,
    /// No job starts any more.
    pub(super) stop: AtomicBool,
    /// Running jobs are asked to stop.
    pub(super) cancelled: AtomicBool,
    /// Wakers of jobs blocked in a sleep, on a future, or in a nested run.
    pub(super) wakers: Mutex<Vec<(u32, Waker)>>,
    pub(super) end: Mutex<End>,
    pub(super) ended: Condvar,
    /// Observers, verbose mode, tracing; `None` when nobody listens.
    pub(super) events: Option<Arc<Emitter>>,
    pub(crate) stall: stall::Stall,
}

impl<J: Table> Run<J> {
    pub(crate) fn new(jobs: Arc<J>, mut graph: Frozen, settings: &Settings) -> Arc<Self> {
        // The counts become the counters in place, in the same allocation.
        let pending = std::mem::take(&mut graph.pending)
            .into_iter()
            .map(AtomicU32::new)
            .collect();
        let remaining = (0..jobs.len()).filter(|&i| !is_forever(&graph, i)).count();
        let max_workers = settings.max_workers.clamp(1, jobs.len().max(1));
        let deques: Vec<Worker<u32>> = (0..max_workers).map(|_| Worker::new_fifo()).collect();
        Arc::new(Run {
            stealers: deques.iter().map(Worker::stealer).collect(),
            deques: Mutex::new(deques.into_iter().map(Some).collect()),
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
            sleepers: AtomicUsize::new(0),
            searching: AtomicUsize::new(0),
            sleep: Mutex::new(()),
            wake: Condvar::new(),
            exit: AtomicBool::new(false),
            stop: AtomicBool::new(false),
            cancelled: AtomicBool::new(false),
            wakers: Mutex::new(Vec::new()),
            end: Mutex::new(End {
                reason: None,
                alive: 0,
                handles: Vec::new(),
                returned: Vec::new(),
            }),
            ended: Condvar::new(),
            events: settings.events.clone(),
            stall: stall::Stall::new(settings.stall_timeout),
        })
    }

    /// Runs the graph to its end on worker threads; the calling thread coordinates.
    /// `Err` when not a single worker thread could be started.
    pub(crate) fn execute(self: &Arc<Self>, settings: &Settings) -> Result<Reason, std::io::Error> {
        let start = Instant::now();
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
        let _ = self.entries.set(entries);
        self.workers.store(wanted, Ordering::Relaxed);
        self.numbers.store(wanted, Ordering::Relaxed);
        let mut started = 0;
        let mut refusal = None;
        for number in 0..wanted {
            match self.spawn_worker(number) {
                Ok(()) => started += 1,
                Err(error) => refusal = Some(error),
            }
        }
        if started == 0 {
            if let Some(error) = refusal {
                return Err(error);
            }
        }
        // A timeout too long to count from the start (`Duration::MAX`) is no deadline.
        let deadline = settings.timeout.and_then(|t| start.checked_add(t));
        let mut stall_watch = stall::Watch::default();
        let mut end = self.end.lock();
        while end.reason.is_none() {
            // `parked` is read under `end`: a future that parks first takes `end` to
            // notify, so this wait cannot miss it.
            let check = self.stall.next_check(&mut stall_watch);
            let wake_at = match (deadline, check) {
                (Some(d), Some(c)) => Some(d.min(c)),
                (d, c) => d.or(c),
            };
            match wake_at {
                Some(wake_at) => {
                    if self.ended.wait_until(&mut end, wake_at).timed_out() && end.reason.is_none()
                    {
                        drop(end);
                        if deadline.is_some_and(|d| Instant::now() >= d) {
                            self.finish(Reason::Timeout);
                        } else if self.is_stalled(&mut stall_watch) {
                            self.finish(Reason::Stalled);
                        }
                        end = self.end.lock();
                    }
                }
                None => self.ended.wait(&mut end),
            }
        }
        let reason = end.reason.unwrap_or(Reason::Finished);
        // A grace too long to count from now (`Duration::MAX`) waits as long as it takes.
        let grace_end = Instant::now().checked_add(settings.grace);
        while end.alive > 0 {
            match grace_end {
                Some(grace_end) => {
                    if self.ended.wait_until(&mut end, grace_end).timed_out() {
                        break;
                    }
                }
                None => self.ended.wait(&mut end),
            }
        }
        let stuck = end.alive;
        let returned: Vec<_> = std::mem::take(&mut end.returned)
            .into_iter()
            .filter_map(|w| end.handles[w].take())
            .collect();
        drop(end);
        for handle in returned {
            // A worker catches its jobs' panics: joining it cannot fail.
            let _ = handle.join();
        }
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
        self.emit_run(EventKind::RunEnded(reason.into()));
        Ok(reason)
    }

    /// Whether the run has been stalled for the stall timeout (see `stall`).
    pub(super) fn is_stalled(&self, watch: &mut stall::Watch) -> bool {
        let stalled = self.stall.check(
            watch,
            self.workers.load(Ordering::Acquire),
            self.sleepers.load(Ordering::Acquire),
            self.ready_count(),
        );
        if stalled {
            *self.stall.seen.lock() = Some(self.stalled_jobs());
        }
        stalled
    }

    /// How many jobs are ready and not taken by a worker.
    pub(super) fn ready_count(&self) -> usize {
        let entries = self.entries.get().map_or(0, Vec::len);
        let unclaimed = entries.saturating_sub(self.claimed.load(Ordering::Acquire));
        unclaimed + self.stealers.iter().map(Stealer::len).sum::<usize>()
    }

    /// A future job returned `Pending` without arming a timer.
    pub(crate) fn future_parked(&self) {
        if self.stall.parked.fetch_add(1, Ordering::AcqRel) == 0 && self.stall.timeout.is_some() {
            // Wakes the coordinator so that it starts checking for a stall.
            let _end = self.end.lock();
            self.ended.notify_all();
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
            let mut end = self.end.lock();
            if end.reason.is_some() {
                return;
            }
            end.reason = Some(reason);
        }
        self.emit_run(EventKind::RunStopping(reason.into()));
        self.stop.store(true, Ordering::Release);
        self.cancelled.store(true, Ordering::SeqCst);
        self.exit.store(true, Ordering::SeqCst);
        {
            let _sleep = self.sleep.lock();
            self.wake.notify_all();
        }
        let wakers = std::mem::take(&mut *self.wakers.lock());
        for (_, waker) in wakers {
            waker.wake();
        }
        self.ended.notify_all();
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
        // `finish` sets the flag before it takes the wakers: we see one or the other.
        if self.cancelled.load(Ordering::SeqCst) {
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
