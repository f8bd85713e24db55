//! One run of a scheduler: the ready queue, the worker pool, the completion protocol,
//! and the coordinator that owns the deadline and the cancellation.
//!
//! # The protocol
//!
//! Each job has an atomic counter of unmet requirements. A worker that finishes a job
//! decrements its successors' counters; of those that reach zero it keeps the first to
//! run next itself, without a trip through the queue, and pushes the rest in one
//! critical section. Workers are started on demand, up to the window: a chain never
//! needs more than one.
//!
//! Non-forever jobs that end are counted per worker, and added to the run's shared
//! `remaining` counter only when the worker runs out of local work; the worker that
//! brings it to zero ends the run. No job can be left over: a worker flushes its count
//! before it waits, so when all work is done every count has been flushed.
//!
//! # Who sleeps, who wakes whom
//!
//! * A worker with nothing to do waits on `work`, after counting itself in
//!   `Queue::sleeping`, under the queue lock.
//! * A worker that pushes jobs does so under the same lock, and notifies
//!   `min(pushed, sleeping)` waiters after releasing it. A waiter is counted before it
//!   releases the lock in `wait`, so a push either sees it counted (and notifies it)
//!   or happens before it looked at the queue (and it finds the job): no wake-up is
//!   lost. A busy pool, where nobody sleeps, makes no wake-up call at all.
//! * When the run ends (all done, a critical failure, the deadline, or the parent's
//!   cancellation), `finish` sets `exit` under the queue lock and wakes every worker,
//!   every job waiting in `Context::sleep` or on a future, and the coordinator.
//! * The coordinator (the thread that called `run`) waits on `ended`, until the end or
//!   the deadline (and, while a future job is parked, checks for a stall: see
//!   `stall`); then it gives the workers a bounded grace to return, and abandons
//!   the jobs still running after it (they stay reported as running; what they return
//!   later is dropped, see `Core::commit`).

pub(crate) mod stall;
pub(crate) mod timer;

use std::collections::VecDeque;
use std::sync::Arc;
use std::task::Waker;
use std::time::{Duration, Instant};

use crate::context::Context;
use crate::events::{Emitter, EventKind};
use crate::graph::{is_forever, Frozen};
use crate::handle::{state, AnyJob};
use crate::job::{Status, CRITICAL};
use crate::sync::{thread, AtomicBool, AtomicU32, AtomicUsize, Condvar, Mutex, Ordering};

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

struct Queue {
    ready: VecDeque<u32>,
    /// Workers waiting on `work`.
    sleeping: usize,
    /// Workers started or being started.
    workers: usize,
    /// Set once the run ends: workers return instead of waiting.
    exit: bool,
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

/// The shared state of one run.
pub(crate) struct Run {
    jobs: Arc<Vec<AnyJob>>,
    graph: Frozen,
    pending: Vec<AtomicU32>,
    remaining: AtomicUsize,
    max_workers: usize,
    label: String,
    queue: Mutex<Queue>,
    work: Condvar,
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

impl Run {
    pub(crate) fn new(jobs: Arc<Vec<AnyJob>>, graph: Frozen, settings: &Settings) -> Arc<Run> {
        let pending = graph.pending.iter().map(|&p| AtomicU32::new(p)).collect();
        let remaining = (0..jobs.len()).filter(|&i| !is_forever(&graph, i)).count();
        Arc::new(Run {
            jobs,
            graph,
            pending,
            remaining: AtomicUsize::new(remaining),
            max_workers: settings.max_workers.max(1),
            label: settings.label.clone(),
            queue: Mutex::new(Queue {
                ready: VecDeque::new(),
                sleeping: 0,
                workers: 0,
                exit: false,
            }),
            work: Condvar::new(),
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

    pub(crate) fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Acquire)
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
        let entries: VecDeque<u32> = (0..self.jobs.len() as u32)
            .filter(|&i| self.graph.pending[i as usize] == 0)
            .collect();
        for &i in &entries {
            self.set_state(i, state::SCHEDULED);
            self.emit_scheduled(i);
        }
        let wanted = entries.len().min(self.max_workers);
        {
            let mut queue = self.queue.lock();
            queue.ready = entries;
            queue.workers = wanted;
        }
        let mut started = 0;
        let mut refusal = None;
        for _ in 0..wanted {
            match self.spawn_worker() {
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
            for job in self.jobs.iter() {
                job.node().core().abandon();
                if let Some(events) = &self.events {
                    if job.node().core().state.load(Ordering::Acquire) == state::ABANDONED {
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
        let stalled = {
            let queue = self.queue.lock();
            self.stall
                .check(watch, queue.workers, queue.sleeping, queue.ready.len())
        };
        if stalled {
            *self.stall.seen.lock() = Some(self.stalled_jobs());
        }
        stalled
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
        let running = self
            .jobs
            .iter()
            .filter(|job| job.node().core().state.load(Ordering::Acquire) == state::RUNNING)
            .map(|job| job.text_label())
            .collect();
        (running, self.queue.lock().ready.len())
    }

    fn emit_run(&self, kind: EventKind) {
        if let Some(events) = &self.events {
            events.run(kind);
        }
    }

    fn emit_scheduled(&self, i: u32) {
        if let Some(events) = &self.events {
            events.scheduled(&self.jobs[i as usize]);
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
        self.queue.lock().exit = true;
        self.work.notify_all();
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
        self.jobs[i as usize]
            .node()
            .core()
            .state
            .store(value, Ordering::Release);
    }

    fn spawn_worker(self: &Arc<Self>) -> Result<(), std::io::Error> {
        let mut end = self.end.lock();
        let number = end.handles.len();
        let run = Arc::clone(self);
        let spawned = thread::Builder::new()
            .name(format!("jobgraph {}", self.label))
            .spawn(move || run.work(number));
        match spawned {
            Ok(handle) => {
                end.handles.push(Some(handle));
                end.alive += 1;
                Ok(())
            }
            Err(error) => {
                drop(end);
                self.queue.lock().workers -= 1;
                Err(error)
            }
        }
    }

    /// A worker's life: run jobs until the run ends.
    fn work(self: Arc<Self>, number: usize) {
        let mut next: Option<u32> = None;
        let mut ready = Vec::new();
        // Non-forever jobs ended here and not yet subtracted from `remaining`.
        let mut ended = 0;
        loop {
            let index = match next.take().or_else(|| self.try_pop()) {
                Some(index) => index,
                None => {
                    if ended > 0 && self.count_ended(std::mem::take(&mut ended)) {
                        break;
                    }
                    match self.pop_or_wait() {
                        Some(index) => index,
                        None => break,
                    }
                }
            };
            if self.stop.load(Ordering::Acquire) {
                break;
            }
            let i = index as usize;
            let job = &self.jobs[i];
            job.node()
                .core()
                .state
                .store(state::RUNNING, Ordering::Release);
            let span = self
                .events
                .as_ref()
                .map(|events| events.started(index, job));
            let status = job.node().execute(&Context::new(&self, index, job));
            if let Some(events) = &self.events {
                events.ended(job, status, span);
            }
            match status {
                Status::Failed if self.graph.flags[i] & CRITICAL != 0 => {
                    self.finish(Reason::Critical);
                    break;
                }
                Status::Done | Status::Failed => {
                    for &s in self.graph.successors(i) {
                        if self.pending[s as usize].fetch_sub(1, Ordering::AcqRel) == 1 {
                            self.set_state(s, state::SCHEDULED);
                            self.emit_scheduled(s);
                            if next.is_none() {
                                next = Some(s);
                            } else {
                                ready.push(s);
                            }
                        }
                    }
                    if !ready.is_empty() {
                        self.push(&mut ready);
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

    fn try_pop(&self) -> Option<u32> {
        self.queue.lock().ready.pop_front()
    }

    fn pop_or_wait(&self) -> Option<u32> {
        let mut queue = self.queue.lock();
        loop {
            if queue.exit {
                return None;
            }
            if let Some(index) = queue.ready.pop_front() {
                return Some(index);
            }
            queue.sleeping += 1;
            self.work.wait(&mut queue);
            queue.sleeping -= 1;
        }
    }

    /// Queues newly ready jobs, wakes sleeping workers for them, and starts new workers
    /// when none sleeps and the window allows.
    fn push(self: &Arc<Self>, ready: &mut Vec<u32>) {
        let count = ready.len();
        let (wake, spawn) = {
            let mut queue = self.queue.lock();
            queue.ready.extend(ready.drain(..));
            let wake = count.min(queue.sleeping);
            let spawn = (count - wake).min(self.max_workers - queue.workers);
            queue.workers += spawn;
            (wake, spawn)
        };
        for _ in 0..wake {
            self.work.notify_one();
        }
        for _ in 0..spawn {
            // Refused threads are not fatal: the workers already running take the jobs.
            let _ = self.spawn_worker();
        }
    }
}
