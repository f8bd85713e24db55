//! A worker's loop: take a job (its own deque, then entry jobs, then stealing), run
//! it, release its successors, and leave the run when there is nothing to do.
//!
//! # Who leaves, who hires whom
//!
//! * A worker that finds no work anywhere looks again a few times, spinning then
//!   yielding, counted in `searching`; then it counts itself out of `searching`, looks
//!   once more, and leaves the run: its deque (empty) goes to `free` for a later worker,
//!   its place in the window is given back, and its thread goes back to the pool, where
//!   the next run (or this one) can hire it at once. A run never waits for a worker
//!   that has nothing to do.
//! * A worker that pushes jobs, after the push, reads `searching`: the jobs beyond the
//!   searching workers' number get new workers, hired from the pool as far as the
//!   window allows. A busy run, where every job is taken by the worker that released
//!   it, hires nobody.
//! * No job is stranded: the pusher's push and the searcher's count-out are each
//!   followed by a `SeqCst` fence before the other side's read (the pusher reads
//!   `searching`, the searcher looks at the deques once more), so either the pusher
//!   sees no searcher and hires, or the searcher sees the job: it takes it, or, having
//!   found another job, hires a worker for the ones still queued. And a job pushed is
//!   in its pusher's deque, which its owner empties before it leaves.
//! * When the run ends (all done, a critical failure, the deadline, or the parent's
//!   cancellation), `finish` sets `exit` and wakes every job waiting in
//!   `Context::sleep` or on a future, and the coordinator; workers leave at their next
//!   look.
//! * A worker's thread knows, for its shift, which run it serves and which job it runs
//!   (`job::Shift`, two thread-local writes per job): a run started in that job's body
//!   (`Scheduler::run`, `Batch::run`) registers with it, and is cancelled with it.
//! * The coordinator (the thread that called `run`) waits on `ended`, until the end or
//!   the deadline (and, while a future job is parked, checks for a stall: see
//!   `stall`); then it gives the workers still in a job a bounded grace to return, and
//!   abandons the jobs still running after it (they stay reported as running; what they
//!   return later is dropped, see `Node::abandon`).

use std::sync::Arc;
use std::time::Instant;

use smallvec::SmallVec;

use super::pool::Leave;
use super::run::Run;
use super::settings::Reason;
use super::table::Table;
use crate::graph::{is_forever, FAR, SINGLE};
use crate::job::{state, Context, Control, Shift, Status, CRITICAL};
use crate::sync::{fence, thread, Ordering, Steal, Worker};

/// How many successors of a job [`Run::warm`] warms: a wide fan-out's
/// others are released one after another, each miss after the last.
const WARM_SUCCESSORS: usize = 4;

impl<J: Table> Run<J> {
    /// Hires one more worker for the run, if the window allows: `Ok(false)` when it is
    /// full. Its deque is one a worker that left gave back, or a new one: a wide window
    /// costs nothing until its workers are needed.
    pub(super) fn add_worker(self: &Arc<Self>) -> Result<bool, Option<std::io::Error>> {
        if !self.take_place() {
            return Ok(false);
        }
        let given_back = self.free.lock().pop();
        let (number, deque) = match given_back {
            Some(slot) => slot,
            None => {
                // Below `max_workers`: each deque is held by a worker in the window or
                // given back, and this worker's place in the window is reserved.
                let number = self.numbers.fetch_add(1, Ordering::AcqRel);
                let deque = Worker::new_fifo();
                match self.stealers.get(number) {
                    Some(cell) if cell.set(deque.stealer()).is_ok() => (number, deque),
                    _ => {
                        self.workers.fetch_sub(1, Ordering::AcqRel);
                        return Ok(false);
                    }
                }
            }
        };
        // Counted in before the end is looked at: a coordinator that saw no worker
        // left (after the run's end was set) cannot miss this one, which then sees
        // the end and hires nobody.
        self.ending.alive.fetch_add(1, Ordering::SeqCst);
        if self.exit.load(Ordering::SeqCst) {
            self.free.lock().push((number, deque));
            self.workers.fetch_sub(1, Ordering::AcqRel);
            if self.ending.alive.fetch_sub(1, Ordering::SeqCst) == 1 {
                // A coordinator may have seen this count: it waits for it to end.
                let _end = self.ending.end.lock();
                self.ending.ended.notify_all();
            }
            return Ok(false);
        }
        let run = Arc::clone(self);
        // A ranked run's workers are a loop of their own: the first-ready loop stays
        // exactly as it was, with no test of the ranking per job.
        let work: super::pool::Shift = if self.graph.rank.is_some() {
            Box::new(move |leave| run.work::<true>(number, deque, leave))
        } else {
            Box::new(move |leave| run.work::<false>(number, deque, leave))
        };
        match self.pool.hire(work) {
            Ok(()) => Ok(true),
            Err(error) => {
                // That deque (empty) went with the refused thread: its number stays
                // unused.
                self.ending.alive.fetch_sub(1, Ordering::AcqRel);
                self.workers.fetch_sub(1, Ordering::AcqRel);
                Err(error)
            }
        }
    }

    /// Takes a place in the window for a worker about to be hired: false when it is
    /// full.
    pub(super) fn take_place(&self) -> bool {
        let mut live = self.workers.load(Ordering::Relaxed);
        loop {
            if live >= self.max_workers {
                return false;
            }
            match self.workers.compare_exchange_weak(
                live,
                live + 1,
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(now) => live = now,
            }
        }
    }

    /// A worker leaving the run gives its place in the window back: true when jobs
    /// made ready outside the workers wait, and a worker is to be hired for them.
    ///
    /// A job injected by the timer thread (a retry's next attempt, a give-up's
    /// successors) is announced by a thread outside the window, which may find the
    /// window full of workers that are leaving (their last look came before the
    /// job): so each one looks again once its place is back. Either the announcer's
    /// `take_place` (after its fence) sees this place given back, or this look (after
    /// this fence) sees the job.
    pub(super) fn give_place(&self) -> bool {
        self.workers.fetch_sub(1, Ordering::AcqRel);
        fence(Ordering::SeqCst);
        self.injected_len.load(Ordering::SeqCst) > 0
    }

    /// A worker's life: run jobs until the run ends.
    fn work<const RANKED: bool>(
        self: Arc<Self>,
        number: usize,
        local: Worker<u32>,
        leave: &Leave<'_>,
    ) {
        // A run started in a job's body is cancelled with that job (see `Shift`).
        let weak: std::sync::Weak<dyn Control> = Arc::downgrade(&self) as _;
        let shift = Shift::start(weak);
        let mut next: Option<u32> = None;
        // Non-forever jobs ended here and not yet subtracted from `remaining`.
        let mut ended = 0;
        // Its place in the window was handed to another worker while it was in a job
        // given up on for its timeout.
        let mut handed = false;
        loop {
            let index = match next.take().or_else(|| local.pop()) {
                Some(index) => index,
                None => {
                    if ended > 0 && self.count_ended(std::mem::take(&mut ended)) {
                        break;
                    }
                    match self.find(number, &local) {
                        Some(index) => index,
                        None => break,
                    }
                }
            };
            if self.stop.load(Ordering::Acquire) {
                break;
            }
            if self.past_deadline() {
                // No job starts after the deadline, even before the coordinator wakes
                // (the job's context looks again, last, before the job's body starts).
                self.finish(Reason::Timeout);
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
            let rules = self.rules(i);
            if let Some(rules) = rules {
                if !self.take_share(index, rules) {
                    // It waits for a named limit, holding no worker (`share.rs`).
                    continue;
                }
            }
            // A job with a timeout may be given up on while it runs: its worker owes the
            // run nothing then (the run may end without it).
            if rules.is_some() && ended > 0 && self.count_ended(std::mem::take(&mut ended)) {
                break;
            }
            if self.graph.far {
                self.warm(i);
            }
            let job = self.jobs.handle(i);
            self.jobs.state(i).store(state::RUNNING, Ordering::Release);
            let span = match (&self.events, job) {
                (Some(events), Some(job)) => Some(events.started(index, number, job)),
                _ => None,
            };
            let own = rules.map(|rules| self.arm(rules));
            let ctx = Context::new(&*self, &self.cancelled, self.deadline.as_ref(), index, job)
                .with_own(own.as_ref());
            // SAFETY: this worker holds index `i` alone, and it is never handed out
            // again in this run, nor is a table run twice (`Table::execute`'s
            // contract): an entry job comes from a claimed chunk (disjoint ranges of one
            // `fetch_add`), any other from its requirements' ends, once, by the
            // decrement that brought its counter to zero or by the one execution of its
            // single requirement (or by the run giving up on a requirement, for its
            // timeout, which that execution then does not do: its seal fails); or
            // pushed again after its last execution returned `Retry` (`retry.rs`).
            shift.running(Some(index));
            // A ranked run of a table that runs again keeps how long each job took, to
            // rank the run that follows.
            let started = (RANKED && J::KEEPS_TIMES).then(Instant::now);
            // SAFETY: `Table::execute`'s contract, each index executed at most once at a
            // time and never after its last execution returned anything but `Retry`,
            // is what the comment above shows this loop keeps.
            #[allow(unsafe_code)]
            let mut status = unsafe { self.jobs.execute(i, &ctx) };
            if let Some(started) = started {
                self.jobs.measured(i, started.elapsed());
            }
            shift.running(None);
            drop(ctx);
            if let Some(rules) = rules {
                rules.disarm();
                self.give_share(rules);
                if status == Status::Lost && rules.was_given_up() {
                    // The run ended this job without it, for its timeout (`timeout.rs`).
                    self.returned_late(i);
                    if rules.keep_place() {
                        continue;
                    }
                    handed = true;
                    break;
                }
            }
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
                Status::Failed | Status::TimedOut if self.graph.flags[i] & CRITICAL != 0 => {
                    self.finish(Reason::Critical);
                    break;
                }
                Status::Done | Status::Failed | Status::TimedOut if RANKED => {
                    next = self.release_ranked(i, ended_at);
                    if !is_forever(&self.graph, i) {
                        ended += 1;
                    }
                }
                Status::Done | Status::Failed | Status::TimedOut => {
                    let mut pushed = 0;
                    for &s in self.graph.successors(i) {
                        if self.release(i, s, ended_at) {
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
                Status::Retry => {
                    // Tried again after its wait, on whichever worker (`retry.rs`).
                    if let Some(rules) = rules {
                        self.retry_later(i, rules);
                    }
                }
                Status::Cancelled | Status::Lost => {}
            }
        }
        drop(shift);
        // Leaves the run: its deque for a later worker, then its place in the window
        // (unless that was handed over already).
        let left = local.len();
        self.free.lock().push((number, local));
        if handed {
            if left > 0 {
                // Jobs it pushed before the job it was given up on: workers for them.
                self.announce(left);
            }
        } else if self.give_place() {
            let _ = self.add_worker();
        }
        // Back among the idle threads before the run counts this worker out: a run
        // that follows at once finds this thread, rather than starting another.
        leave.now();
        // Lets go of the run first: the coordinator, which waits for this count, holds
        // it last (unless it gave up on a job of this worker).
        let ending = Arc::clone(&self.ending);
        drop(self);
        if ending.alive.fetch_sub(1, Ordering::AcqRel) == 1 {
            // Under `end`, so that a coordinator that saw this worker alive is waiting.
            let _end = ending.end.lock();
            ending.ended.notify_all();
        }
    }

    /// Asks for the lines job `i`'s end will touch, its first few successors' counters
    /// and jobs, before its body runs: they are another worker's, or cold, and their
    /// misses then overlap with the job rather than come one after the other at its end.
    #[inline(always)]
    fn warm(&self, i: usize) {
        for &s in self.graph.successors(i).iter().take(WARM_SUCCESSORS) {
            // A job near this one in order has its lines brought in by the walk
            // through its neighbours (and may be another worker's now): only far ones.
            if (s as usize).abs_diff(i) > FAR {
                crate::sync::prefetch(&self.pending[s as usize]);
                self.jobs.prefetch(s as usize);
            }
        }
    }

    /// Successor `s` of job `i`, which ended: one requirement fewer to wait for. True
    /// when that was its last: it is then scheduled (its state, its event).
    #[inline(always)]
    fn release(&self, i: usize, s: u32, ended_at: Option<Instant>) -> bool {
        let s_ = s as usize;
        // A job with one requirement is ready now: no counter to touch.
        let ready = self.graph.flags[s_] & SINGLE != 0
            || self.pending[s_].fetch_sub(1, Ordering::AcqRel) == 1;
        if ready {
            if self.graph.far && s_.abs_diff(i) > FAR {
                // Where its successors are listed, for `warm` when it starts.
                crate::sync::prefetch(&self.graph.succ_start[s_]);
            }
            self.set_state(s, state::SCHEDULED);
            self.emit_scheduled(s, ended_at);
        }
        ready
    }

    /// Job `i` ended, in a ranked run: its successors that are now ready go into the
    /// ranked queue, and the best job there is returned for this worker to run next
    /// (see `ready`); workers are announced for the others.
    #[cold]
    fn release_ranked(self: &Arc<Self>, i: usize, ended_at: Option<Instant>) -> Option<u32> {
        let mut released: SmallVec<[u32; 8]> = SmallVec::new();
        for &s in self.graph.successors(i) {
            if self.release(i, s, ended_at) {
                released.push(s);
            }
        }
        if released.is_empty() {
            return None;
        }
        let rank = self.graph.rank.as_deref();
        let mut ready = self.injected.lock();
        for &s in &released {
            ready.push(s, rank);
        }
        let next = ready.pop();
        self.injected_len.store(ready.len(), Ordering::SeqCst);
        drop(ready);
        // This worker takes one of them (or one that waited longer): the rest are new.
        if released.len() > 1 {
            self.announce(released.len() - 1);
        }
        next
    }

    /// Subtracts `count` ended jobs from `remaining`; true when that ended the run.
    ///
    /// The run has ended in time only if the deadline has not passed yet: every job's end
    /// was sealed before its count came in, so a clock read here, after the last count,
    /// that is still short of the deadline says that every end came before it. Past the
    /// deadline the run has timed out, even if its coordinator, which owns the deadline,
    /// has not woken up to say so yet.
    pub(super) fn count_ended(&self, count: usize) -> bool {
        if self.remaining.fetch_sub(count, Ordering::AcqRel) == count {
            self.finish(if self.past_deadline() {
                Reason::Timeout
            } else {
                Reason::Finished
            });
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
        if let Some(index) = self.take_injected() {
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
                let Some(stealer) = self.stealers[(number + k) % count].get() else {
                    continue; // its worker is starting
                };
                match stealer.steal_batch_and_pop(local) {
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

    /// Work from elsewhere; `None` when there is none (the worker leaves) or the run
    /// ended.
    fn find(self: &Arc<Self>, number: usize, local: &Worker<u32>) -> Option<u32> {
        // Work often shows up within microseconds: look again a few times before
        // leaving the run.
        self.searching.fetch_add(1, Ordering::SeqCst);
        let found = self.search(number, local);
        self.searching.fetch_sub(1, Ordering::SeqCst);
        // A pusher that saw this worker searching hired nobody for its job: after
        // counting out, this worker sees that job (see the module's docs).
        fence(Ordering::SeqCst);
        if found.is_some() {
            // It took another job: the one left to it gets a worker of its own, if the
            // window has room.
            if self.ready_count() > 0 {
                let _ = self.add_worker();
            }
            return found;
        }
        if self.exit.load(Ordering::Acquire) {
            return None;
        }
        local.pop().or_else(|| self.steal(number, local))
    }

    /// Looks for work a few times, spinning then yielding, before a worker leaves.
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

    /// After `pushed` jobs went onto a worker's deque: leaves some to the workers
    /// searching for work, and hires new workers for the rest, as far as the window
    /// allows.
    pub(super) fn announce(self: &Arc<Self>, pushed: usize) {
        for _ in 0..self.to_hire(pushed) {
            // A full window, or a refused thread: the workers already there take the
            // jobs.
            if !matches!(self.add_worker(), Ok(true)) {
                return;
            }
        }
    }
}

impl<J: Table> Run<J> {
    /// How many workers to hire for `pushed` jobs just made ready: those beyond the
    /// workers searching for work.
    pub(super) fn to_hire(&self, pushed: usize) -> usize {
        fence(Ordering::SeqCst);
        // A searching worker finds a job, or counts itself out and looks once more
        // before it leaves: either way the job is taken.
        let searching = self.searching.load(Ordering::SeqCst);
        pushed.saturating_sub(searching)
    }
}

/// How many times a worker out of work looks again before it leaves.
const SPINS: u32 = 64;

/// The most entry jobs a worker claims at once.
const MAX_CLAIM: usize = 64;
