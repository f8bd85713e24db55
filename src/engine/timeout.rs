//! A job's own timeout ([`Job::timeout`](crate::Job::timeout)), as a run carries it
//! out (and the alarms that its retries share, see `retry.rs`): the deadline armed when the job starts, the cancellation at that deadline, and
//! the give-up after the grace, which ends the job for its run while its thread still
//! runs.
//!
//! # The protocol
//!
//! * A worker that starts a job with a timeout first adds the jobs it ended so far to
//!   the run's `remaining` (a worker stuck in a job must owe the run nothing), then
//!   arms an [`Alarm`] on the timer thread for the job's deadline, and gives the job's
//!   context the deadline and the job's `expired` flag.
//! * At the deadline ([`Run::expire`], on the timer thread) the flag is set, then the
//!   wakers the job registered (its `Context::sleep`, its future, a run nested in it)
//!   are woken: the job sees `is_cancelled()`. A waker registered later sees the flag
//!   (`Run::on_cancel` looks after registering, as it does for the run's own flag). A
//!   second alarm is armed for the end of the grace.
//! * A job that returns ends as timed out: its context tells its seal so (a job that
//!   returns past its deadline has timed out even if the alarm has not rung yet). Its
//!   worker disarms the alarms, and ends it as it ends a failure.
//! * At the end of the grace ([`Run::give_up`]) a job still running is sealed by the
//!   run (timed out, still running), its end sent, and, unless the run is ending, its
//!   successors released onto the run's injected list, its count subtracted from
//!   `remaining`, and its place in the window handed to a new worker. `given_up` is set
//!   before the seal is tried: a worker whose seal then fails (`Lost`) knows whose it
//!   was.
//! * The place in the window is handed over once: the run and the worker, when it
//!   returns, race one compare-and-swap on `slot`. If the run wins, the worker leaves
//!   the run without giving its place back again (it was given); if the worker wins, it
//!   keeps its place and goes on.

use std::sync::{Arc, Weak};
use std::task::{Wake, Waker};
use std::time::Instant;

use super::rules::{Armed, Rules};
use super::run::Run;
use super::settings::Reason;
use super::table::Table;
use crate::error::{Error, JobError};
use crate::graph::{is_forever, POLICY, SINGLE};
use crate::job::{state, Own, CRITICAL};

use crate::sync::{thread, AtomicU8, Deadline, Ordering};
use crate::timer::Alarm;

/// Why the timer thread wakes a run for a job.
#[derive(Clone, Copy)]
pub(super) enum Ring {
    /// Its deadline: it is cancelled.
    Deadline,
    /// The end of the grace after its deadline: it is given up on if still running.
    Grace,
    /// The end of its wait before its next attempt: it is pushed again.
    Retry,
}

/// What the timer thread wakes for a job.
struct Expiry<J: Table> {
    run: Weak<Run<J>>,
    index: u32,
    /// The attempt it was armed for: a later attempt ignores it.
    attempt: u32,
    ring: Ring,
}

impl<J: Table> Wake for Expiry<J> {
    fn wake(self: Arc<Self>) {
        let Some(run) = self.run.upgrade() else {
            return;
        };
        let current = run
            .rules(self.index as usize)
            .map(|rules| rules.retried.load(Ordering::Acquire));
        if current != Some(self.attempt) {
            // An alarm of an earlier attempt, ringing late.
            return;
        }
        match self.ring {
            Ring::Deadline => run.expire(self.index, self.attempt),
            Ring::Grace => run.give_up(self.index),
            Ring::Retry => run.again(self.index),
        }
    }
}

impl<J: Table> Run<J> {
    /// Job `i`'s own policies in this run, when it has some.
    #[inline]
    pub(super) fn rules(&self, i: usize) -> Option<&Rules> {
        if self.graph.flags[i] & POLICY == 0 {
            return None;
        }
        let k = self
            .rules
            .binary_search_by_key(&(i as u32), |t| t.index)
            .ok()?;
        self.rules.get(k)
    }

    /// Whether job `index`'s own timeout has passed (its run then cancels it).
    pub(super) fn expired(&self, index: u32) -> bool {
        self.rules(index as usize)
            .is_some_and(|t| t.expired.load(Ordering::SeqCst))
    }

    /// Arms the alarm of a job that starts now (an attempt of it), and what its context
    /// needs to know.
    pub(super) fn arm<'a>(self: &Arc<Self>, rules: &'a Rules) -> Own<'a> {
        // A new attempt: not expired, whatever the last one was.
        rules.expired.store(false, Ordering::SeqCst);
        let deadline = rules.timeout.and_then(Deadline::after);
        let alarm = deadline.as_ref().map(|deadline| {
            let attempt = rules.retried.load(Ordering::Acquire);
            self.alarm(deadline.at(), rules.index, attempt, Ring::Deadline)
        });
        let old = std::mem::replace(&mut *rules.alarm.lock(), Armed { alarm, over: false });
        drop(old);
        Own {
            expired: &rules.expired,
            deadline,
            timeout: rules.timeout.unwrap_or_default(),
            retries: rules.retry.is_some(),
        }
    }

    /// An alarm for attempt `attempt` (counted from 0) of job `index`.
    pub(super) fn alarm(
        self: &Arc<Self>,
        at: Instant,
        index: u32,
        attempt: u32,
        ring: Ring,
    ) -> Alarm {
        let expiry = Expiry {
            run: Arc::downgrade(self),
            index,
            attempt,
            ring,
        };
        Alarm::set(at, Waker::from(Arc::new(expiry)))
    }

    /// Job `index`'s deadline, in its attempt `attempt`: it is cancelled, and given the
    /// grace to return.
    fn expire(self: &Arc<Self>, index: u32, attempt: u32) {
        let i = index as usize;
        let Some(timed) = self.rules(i) else {
            return;
        };
        if self.jobs.state(i).load(Ordering::Acquire) != state::RUNNING {
            return;
        }
        timed.expired.store(true, Ordering::SeqCst);
        // Registered before the flag was set, or they see it (`on_cancel`).
        let wakers: Vec<Waker> = self
            .wakers
            .lock()
            .iter()
            .filter(|(k, _)| *k == index)
            .map(|(_, waker)| waker.clone())
            .collect();
        wakers.into_iter().for_each(Waker::wake);
        let Some(at) = Instant::now().checked_add(self.grace) else {
            // An endless grace: the run waits for the job however long it takes.
            return;
        };
        let mut armed = timed.alarm.lock();
        // Not if the attempt returned meanwhile: its worker disarmed it, and may have
        // armed the wait before its next attempt, which this must not replace.
        if !armed.over && timed.retried.load(Ordering::Acquire) == attempt {
            let rung = armed
                .alarm
                .replace(self.alarm(at, index, attempt, Ring::Grace));
            drop(armed);
            drop(rung);
        }
    }

    /// The end of job `index`'s grace: if it still runs, the run ends it as timed out
    /// and goes on without it.
    fn give_up(self: &Arc<Self>, index: u32) {
        let i = index as usize;
        let Some(timed) = self.rules(i) else {
            return;
        };
        if self.jobs.state(i).load(Ordering::Acquire) != state::RUNNING {
            return;
        }
        timed.given_up.store(true, Ordering::SeqCst);
        let error = JobError::new(Error::JobTimedOut {
            label: self.jobs.label(i),
            timeout: timed.timeout.unwrap_or_default(),
        });
        if !self.jobs.give_up(i, error) {
            return;
        }
        // Its thread runs on, but the job has ended: its named limits are free.
        self.give_share(timed);
        if let (Some(events), Some(job)) = (&self.events, self.jobs.handle(i)) {
            events.timed_out_running(job);
        }
        if self.exit.load(Ordering::SeqCst) {
            // The run is ending: nothing more starts, and its coordinator waits for
            // no job.
            return;
        }
        if self.graph.flags[i] & CRITICAL != 0 {
            self.finish(Reason::Critical);
            return;
        }
        // Its place in the window goes to another worker, unless its own came back.
        if timed.hand_place() {
            self.workers.fetch_sub(1, Ordering::AcqRel);
        }
        for &s in self.graph.successors(i) {
            let s_ = s as usize;
            if self.graph.flags[s_] & SINGLE != 0
                || self.pending[s_].fetch_sub(1, Ordering::AcqRel) == 1
            {
                self.set_state(s, state::SCHEDULED);
                self.emit_scheduled(s, None);
                self.inject(s);
            }
        }
        // Its successors, and what waits in its worker's deque, get workers.
        let ready = self.ready_count();
        if ready > 0 {
            self.announce(ready);
        }
        if !is_forever(&self.graph, i) {
            self.count_ended(1);
        }
    }

    /// Job `i`, given up on for its timeout, has returned: it is timed out, no longer
    /// running. Waits for the run's seal to be published first (a few instructions).
    pub(super) fn returned_late(&self, i: usize) {
        returned_late(self.jobs.state(i))
    }

    /// Job `i` made ready from outside the workers (the timer thread, giving up on a
    /// job or pushing a job again for its next attempt): workers take it as they take
    /// entry jobs.
    pub(super) fn inject(&self, i: u32) {
        let mut injected = self.injected.lock();
        injected.push(i, self.graph.rank.as_deref());
        self.injected_len.store(injected.len(), Ordering::SeqCst);
    }

    /// A job made ready from outside the workers, if any.
    #[inline]
    pub(super) fn take_injected(&self) -> Option<u32> {
        if self.injected_len.load(Ordering::SeqCst) == 0 {
            return None;
        }
        let mut injected = self.injected.lock();
        let taken = injected.pop();
        self.injected_len.store(injected.len(), Ordering::SeqCst);
        taken
    }
}

/// A job's `lifecycle`, given up on for its timeout, once its thread is back: timed out,
/// no longer running. Waits for the run's seal to be published first (a few
/// instructions: the run stores the state right after its seal).
pub(super) fn returned_late(lifecycle: &AtomicU8) {
    while lifecycle.load(Ordering::Acquire) == state::RUNNING {
        thread::yield_now();
    }
    let _ = lifecycle.compare_exchange(
        state::TIMED_OUT_RUNNING,
        state::TIMED_OUT,
        Ordering::AcqRel,
        Ordering::Acquire,
    );
}
