//! One run of a scheduler: the ready jobs, the worker pool, the completion protocol,
//! and the coordinator that owns the deadline and the cancellation.
//!
//! # The protocol
//!
//! Each job has an atomic counter of unmet requirements (a job with a single
//! requirement needs none: the end of that requirement makes it ready). A worker that
//! finishes a job decrements its successors' counters; of those that reach zero it
//! keeps the first to run next itself, without a trip through any queue, and pushes
//! the rest onto its own deque. Workers are started on demand, up to the window: a
//! chain never needs more than one.
//!
//! Ready jobs live in one FIFO deque per worker (crossbeam's work-stealing deques) and,
//! for the entry jobs, in a list that workers claim in small chunks with one atomic
//! add. A worker takes from its own deque first, then claims entry jobs, then steals
//! from the other workers' deques (the oldest jobs first): no lock on the way, no
//! other worker's cache lines while entry jobs last, and jobs start roughly in the
//! order they became ready (the successor a worker keeps to run next goes first).
//!
//! Non-forever jobs that end are counted per worker, and added to the run's shared
//! `remaining` counter only when the worker runs out of local work; the worker that
//! brings it to zero ends the run. No job can be left over: a worker flushes its count
//! before it looks for work elsewhere, so when all work is done every count has been
//! flushed.
//!
//! # Who sleeps, who wakes whom
//!
//! * A worker that finds no work anywhere looks again a few times, spinning, then
//!   sleeps on `wake`: under the `sleep` lock it counts itself in `sleepers`, looks for
//!   work once more, and waits.
//! * A worker that pushes jobs, after the push, reads `sleepers`; when it is not zero,
//!   it takes the `sleep` lock and notifies as many sleepers as it pushed jobs (at
//!   most). When nobody sleeps and the window allows, it starts a new worker instead.
//! * No wake-up is lost: the pusher's push and the sleeper's count are each followed by
//!   a `SeqCst` fence before the other side's read (the pusher reads `sleepers`, the
//!   sleeper looks at the deques), so at least one of them sees the other; a pusher
//!   that sees a sleeper takes the lock it holds until it waits, so the notification
//!   cannot come before the wait. A busy pool, where nobody sleeps, makes no wake-up
//!   call at all.
//! * When the run ends (all done, a critical failure, the deadline, or the parent's
//!   cancellation), `finish` sets `exit` and wakes every worker, every job waiting in
//!   `Context::sleep` or on a future, and the coordinator.
//! * The coordinator (the thread that called `run`) waits on `ended`, until the end or
//!   the deadline (and, while a future job is parked, checks for a stall: see
//!   `stall`); then it gives the workers a bounded grace to return, and abandons
//!   the jobs still running after it (they stay reported as running; what they return
//!   later is dropped, see `Node::abandon`).

pub(crate) mod stall;
mod table;
pub(crate) mod timer;

use std::sync::{Arc, OnceLock};
use std::task::Waker;
use std::time::{Duration, Instant};

use crate::context::Context;
use crate::error::Error;
use crate::events::{Emitter, EventKind};
use crate::graph::{is_forever, Frozen, SINGLE};
use crate::handle::{state, AnyJob};
use crate::job::{Status, CRITICAL};
use crate::sync::{
    fence, thread, AtomicBool, AtomicU32, AtomicUsize, Condvar, Mutex, Ordering, Steal, Stealer,
    Worker,
};
pub(crate) use table::Table;

/// Why a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reason {
    /// Every non-forever job ended.
    Finished,
    /// A critical job failed.
    Critical,
    /// The scheduler's timeout expired.
    Timeout,
    /// The enclosing run cancelled this one (a nested scheduler), or the future of
    /// `run_async` was dropped.
    Cancelled,
    /// Every running job is a future parked on something no job can provide.
    Stalled,
}

struct End {
    reason: Option<Reason>,
    /// Workers that have not returned yet.
    alive: usize,
    /// Join handles of the workers, by worker number; taken once they have returned.
    handles: Vec<Option<thread::JoinHandle<()>>>,
    /// Worker numbers that have returned.
    returned: Vec<usize>,
}

/// The shared state of one run, over its jobs `J`: a scheduler's handles, or a batch's
/// cells.
pub(crate) struct Run<J: Table = Vec<AnyJob>> {
    jobs: Arc<J>,
    graph: Frozen,
    pending: Vec<AtomicU32>,
    remaining: AtomicUsize,
    max_workers: usize,
    label: String,
    /// Entry jobs, in insertion order, set once before the workers start; workers
    /// claim them from `claimed` on.
    entries: OnceLock<Vec<u32>>,
    claimed: AtomicUsize,
    /// One per worker that may run (the window, or fewer when there are fewer jobs).
    stealers: Vec<Stealer<u32>>,
    /// The deques of the workers not started yet, by worker number.
    deques: Mutex<Vec<Option<Worker<u32>>>>,
    /// Workers started or being started (a worker whose thread the OS refused is not
    /// counted).
    workers: AtomicUsize,
    /// The next worker number to give out; numbers are never given twice.
    numbers: AtomicUsize,
    /// Workers waiting on `wake`.
    sleepers: AtomicUsize,
    /// Workers out of work, looking again before they sleep.
    searching: AtomicUsize,
    sleep: Mutex<()>,
    wake: Condvar,
    /// Set once the run ends: workers return instead of waiting.
    exit: AtomicBool,
    /// No job starts any more.
    stop: AtomicBool,
    /// Running jobs are asked to stop.
    cancelled: AtomicBool,
    /// Wakers of jobs blocked in a sleep, on a future, or in a nested run.
    wakers: Mutex<Vec<(u32, Waker)>>,
    end: Mutex<End>,
    ended: Condvar,
    /// Observers, verbose mode, tracing; `None` when nobody listens.
    events: Option<Arc<Emitter>>,
    pub(crate) stall: stall::Stall,
}

/// What a running job's [`Context`] asks of its run, whatever the run's jobs.
pub(crate) trait Control: Sync {
    fn future_parked(&self);
    fn future_unparked(&self);
    fn on_cancel(&self, index: u32, waker: &Waker);
    fn forget_waker(&self, index: u32);
    fn label(&self, index: u32) -> String;
    /// The value of job `other` of batch `batch`, for job `index` that requires it.
    fn input(
        &self,
        index: u32,
        batch: u32,
        other: u32,
    ) -> Result<&(dyn std::any::Any + Send + Sync), Error>;
}

impl<J: Table> Control for Run<J> {
    fn future_parked(&self) {
        Run::future_parked(self)
    }
    fn future_unparked(&self) {
        Run::future_unparked(self)
    }
    fn on_cancel(&self, index: u32, waker: &Waker) {
        Run::on_cancel(self, index, waker)
    }
    fn forget_waker(&self, index: u32) {
        Run::forget_waker(self, index)
    }
    fn label(&self, index: u32) -> String {
        self.jobs.label(index as usize)
    }

    fn input(
        &self,
        index: u32,
        batch: u32,
        other: u32,
    ) -> Result<&(dyn std::any::Any + Send + Sync), Error> {
        let o = other as usize;
        if batch != self.jobs.id() || o >= self.jobs.len() {
            return Err(Error::NotInScheduler {
                job: format!("#{other}"),
                scheduler: self.label.clone(),
            });
        }
        // Successor lists are in job order.
        if self.graph.successors(o).binary_search(&index).is_err() {
            return Err(Error::NotRequired {
                job: self.jobs.label(index as usize),
                other: self.jobs.label(o),
            });
        }
        if let Some(value) = self.jobs.value(o) {
            return Ok(value);
        }
        Err(match self.jobs.error(o) {
            Some(error) => Error::JobFailed {
                label: self.jobs.label(o),
                source: error.clone(),
            },
            None => Error::NotDone {
                label: self.jobs.label(o),
                state: crate::handle::JobState::from_code(
                    self.jobs.state(o).load(Ordering::Acquire),
                )
                .name(),
            },
        })
    }
}

/// Cancels a nested run (a scheduler's, or a batch's run inside a job) when the run
/// of the job it runs in cancels that job: what that job registers with its context.
pub(crate) struct CancelRun<J: Table>(std::sync::Weak<Run<J>>);

impl<J: Table> CancelRun<J> {
    pub(crate) fn waker(run: &Arc<Run<J>>) -> Waker {
        Waker::from(Arc::new(CancelRun(Arc::downgrade(run))))
    }
}

impl<J: Table> std::task::Wake for CancelRun<J> {
    fn wake(self: Arc<Self>) {
        if let Some(run) = self.0.upgrade() {
            run.finish(Reason::Cancelled);
        }
    }
}

/// How a run is to be carried out.
pub(crate) struct Settings {
    /// Most jobs running at once; never 0.
    pub(crate) max_workers: usize,
    pub(crate) timeout: Option<Duration>,
    /// How long to wait for running jobs to return once the run has ended.
    pub(crate) grace: Duration,
    /// The scheduler's label, for worker thread names.
    pub(crate) label: String,
    /// Where the run's events go; `None` when nobody listens.
    pub(crate) events: Option<Arc<Emitter>>,
    /// How long the run may stay stalled before it ends (`None`: forever).
    pub(crate) stall_timeout: Option<Duration>,
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
        let deadline = settings.timeout.map(|t| start + t);
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
        let grace_end = Instant::now() + settings.grace;
        while end.alive > 0 {
            if self.ended.wait_until(&mut end, grace_end).timed_out() {
                break;
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
    fn is_stalled(&self, watch: &mut stall::Watch) -> bool {
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
    fn ready_count(&self) -> usize {
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
    fn stalled_jobs(&self) -> (Vec<String>, usize) {
        let running = (0..self.jobs.len())
            .filter(|&i| self.jobs.state(i).load(Ordering::Acquire) == state::RUNNING)
            .map(|i| self.jobs.label(i))
            .collect();
        (running, self.ready_count())
    }

    fn emit_run(&self, kind: EventKind) {
        if let Some(events) = &self.events {
            events.run(kind);
        }
    }

    fn emit_scheduled(&self, i: u32, at: Option<Instant>) {
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

    fn set_state(&self, i: u32, value: u8) {
        self.jobs.state(i as usize).store(value, Ordering::Release);
    }

    /// Starts worker `number`, already counted in `workers`.
    fn spawn_worker(self: &Arc<Self>, number: usize) -> Result<(), std::io::Error> {
        let Some(deque) = self.deques.lock().get_mut(number).and_then(Option::take) else {
            return Ok(());
        };
        let mut end = self.end.lock();
        let run = Arc::clone(self);
        let spawned = thread::Builder::new()
            .name(format!("jobgraph {}", self.label))
            .spawn(move || run.work(number, deque));
        match spawned {
            Ok(handle) => {
                if end.handles.len() <= number {
                    end.handles.resize_with(number + 1, || None);
                }
                end.handles[number] = Some(handle);
                end.alive += 1;
                Ok(())
            }
            Err(error) => {
                drop(end);
                // The deque went with the closure: that worker number stays unused, and
                // the window is one narrower for the rest of the run.
                self.workers.fetch_sub(1, Ordering::AcqRel);
                Err(error)
            }
        }
    }

    /// A worker's life: run jobs until the run ends.
    fn work(self: Arc<Self>, number: usize, local: Worker<u32>) {
        let mut next: Option<u32> = None;
        // Non-forever jobs ended here and not yet subtracted from `remaining`.
        let mut ended = 0;
        loop {
            let index = match next.take().or_else(|| local.pop()) {
                Some(index) => index,
                None => {
                    if ended > 0 && self.count_ended(std::mem::take(&mut ended)) {
                        break;
                    }
                    match self.find_or_sleep(number, &local) {
                        Some(index) => index,
                        None => break,
                    }
                }
            };
            if self.stop.load(Ordering::Acquire) {
                break;
            }
            let i = index as usize;
            // A forever job ends only once the run does, and the run ends only once
            // every count is in: this worker's goes in before it starts one.
            if ended > 0
                && is_forever(&self.graph, i)
                && self.count_ended(std::mem::take(&mut ended))
            {
                break;
            }
            let job = self.jobs.handle(i);
            self.jobs.state(i).store(state::RUNNING, Ordering::Release);
            let span = match (&self.events, job) {
                (Some(events), Some(job)) => Some(events.started(index, job)),
                _ => None,
            };
            let ctx = Context::new(&*self, &self.cancelled, index, job);
            // SAFETY: this worker holds index `i` alone, and it is never handed out
            // again in this run, nor is a table run twice (`Table::execute`'s
            // contract): an entry job comes from a claimed chunk (disjoint ranges of one
            // `fetch_add`), any other from its requirements' ends, once, by the
            // decrement that brought its counter to zero or by the one execution of its
            // single requirement.
            #[allow(unsafe_code)]
            let mut status = unsafe { self.jobs.execute(i, &ctx) };
            drop(ctx);
            if status == Status::Lost && !self.exit.load(Ordering::Acquire) {
                // Not given up on by this run (that happens only once it ended): the job
                // was sealed by an earlier run, in a scheduler it was removed from. It
                // keeps that outcome, and ends here as it ended there.
                status = self.jobs.ended_earlier(i);
            }
            let ended_at = match (&self.events, job) {
                (Some(events), Some(job)) => events.ended(job, status, span),
                _ => None,
            };
            match status {
                Status::Failed if self.graph.flags[i] & CRITICAL != 0 => {
                    self.finish(Reason::Critical);
                    break;
                }
                Status::Done | Status::Failed => {
                    let mut pushed = 0;
                    for &s in self.graph.successors(i) {
                        // A job with one requirement is ready now: no counter to touch.
                        let s_ = s as usize;
                        if self.graph.flags[s_] & SINGLE != 0
                            || self.pending[s_].fetch_sub(1, Ordering::AcqRel) == 1
                        {
                            self.set_state(s, state::SCHEDULED);
                            self.emit_scheduled(s, ended_at);
                            if next.is_none() {
                                next = Some(s);
                            } else {
                                local.push(s);
                                pushed += 1;
                            }
                        }
                    }
                    if pushed > 0 {
                        self.announce(pushed);
                    }
                    if !is_forever(&self.graph, i) {
                        ended += 1;
                    }
                }
                Status::Cancelled | Status::Lost => {}
            }
        }
        let mut end = self.end.lock();
        end.alive -= 1;
        end.returned.push(number);
        drop(end);
        self.ended.notify_all();
    }

    /// Subtracts `count` ended jobs from `remaining`; true when that ended the run.
    fn count_ended(&self, count: usize) -> bool {
        if self.remaining.fetch_sub(count, Ordering::AcqRel) == count {
            self.finish(Reason::Finished);
            return true;
        }
        false
    }

    /// The next entry jobs: the first to run now, the rest of a small chunk pushed onto
    /// `local` (stealable at once). Chunks shrink as the list runs out, so that every
    /// worker gets some.
    fn claim_entries(&self, local: &Worker<u32>) -> Option<u32> {
        let entries = self.entries.get()?;
        let left = entries
            .len()
            .saturating_sub(self.claimed.load(Ordering::Relaxed));
        if left == 0 {
            return None;
        }
        let chunk = (left / (4 * self.max_workers)).clamp(1, MAX_CLAIM);
        let start = self.claimed.fetch_add(chunk, Ordering::AcqRel);
        let claimed = entries.get(start..entries.len().min(start + chunk))?;
        let (&first, rest) = claimed.split_first()?;
        for &index in rest {
            local.push(index);
        }
        Some(first)
    }

    /// An entry job, or a job from another worker's deque (the oldest first). Entry
    /// jobs come first: they have been ready the longest, and claiming them costs one
    /// atomic add per chunk, where a steal moves another worker's cache lines.
    fn steal(&self, number: usize, local: &Worker<u32>) -> Option<u32> {
        if let Some(index) = self.claim_entries(local) {
            return Some(index);
        }
        loop {
            let mut retry = false;
            // Only the deques of workers started so far can hold jobs.
            let count = self
                .numbers
                .load(Ordering::Acquire)
                .min(self.stealers.len());
            for k in 1..count {
                match self.stealers[(number + k) % count].steal_batch_and_pop(local) {
                    Steal::Success(index) => return Some(index),
                    Steal::Retry => retry = true,
                    Steal::Empty => {}
                }
            }
            if !retry {
                return None;
            }
        }
    }

    /// Work from elsewhere; when there is none, sleeps until some is pushed. `None`
    /// once the run ends.
    fn find_or_sleep(&self, number: usize, local: &Worker<u32>) -> Option<u32> {
        // Work often shows up within microseconds: look again a few times before
        // paying for a sleep and a wake-up.
        self.searching.fetch_add(1, Ordering::SeqCst);
        let found = self.search(number, local);
        self.searching.fetch_sub(1, Ordering::SeqCst);
        if found.is_some() || self.exit.load(Ordering::Acquire) {
            return found;
        }
        let mut guard = self.sleep.lock();
        loop {
            if self.exit.load(Ordering::Acquire) {
                return None;
            }
            self.sleepers.fetch_add(1, Ordering::SeqCst);
            fence(Ordering::SeqCst);
            let found = local.pop().or_else(|| self.steal(number, local));
            if found.is_none() && !self.exit.load(Ordering::Acquire) {
                self.wake.wait(&mut guard);
            }
            self.sleepers.fetch_sub(1, Ordering::SeqCst);
            if found.is_some() {
                return found;
            }
            if let Some(index) = local.pop().or_else(|| self.steal(number, local)) {
                return Some(index);
            }
        }
    }

    /// Looks for work a few times, spinning then yielding, before a worker sleeps.
    fn search(&self, number: usize, local: &Worker<u32>) -> Option<u32> {
        for round in 0..SPINS {
            if self.exit.load(Ordering::Acquire) {
                return None;
            }
            if let Some(index) = local.pop().or_else(|| self.steal(number, local)) {
                return Some(index);
            }
            if round < SPINS / 2 {
                std::hint::spin_loop();
            } else {
                thread::yield_now();
            }
        }
        None
    }

    /// After `pushed` jobs went onto a worker's deque: wakes sleeping workers for them,
    /// leaves some to the workers searching for work, and starts new workers for the
    /// rest, as far as the window allows.
    fn announce(self: &Arc<Self>, pushed: usize) {
        fence(Ordering::SeqCst);
        let sleepers = self.sleepers.load(Ordering::SeqCst);
        let woken = pushed.min(sleepers);
        if woken > 0 {
            let _sleep = self.sleep.lock();
            for _ in 0..woken {
                self.wake.notify_one();
            }
        }
        // A searching worker finds a job, or counts itself asleep and looks again
        // before it waits: either way the job is taken.
        let searching = self.searching.load(Ordering::SeqCst);
        for _ in 0..pushed.saturating_sub(woken + searching) {
            let number = self.numbers.load(Ordering::Relaxed);
            if number >= self.max_workers
                || self
                    .numbers
                    .compare_exchange(number, number + 1, Ordering::AcqRel, Ordering::Relaxed)
                    .is_err()
            {
                return;
            }
            self.workers.fetch_add(1, Ordering::AcqRel);
            // Refused threads are not fatal: the workers already running take the jobs.
            let _ = self.spawn_worker(number);
        }
    }
}

/// How many times a worker out of work looks again before it sleeps.
const SPINS: u32 = 64;

/// The most entry jobs a worker claims at once.
const MAX_CLAIM: usize = 64;
