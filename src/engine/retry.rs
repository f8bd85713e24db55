//! A job's retries ([`Job::retries`](crate::Job::retries)), as a run carries them out.
//!
//! # The protocol
//!
//! * A job with retries that fails (an error, a panic, its own timeout) asks its run,
//!   through its context, before its end is sealed ([`Run::retry`]): while it has
//!   retries left, the failure is one they cover, and the run goes on (not cancelled,
//!   not ended, its deadline not passed), the failure is recorded and nothing is
//!   sealed: the execution returns `Retry`. The job's state goes from running to
//!   scheduled by one compare-and-swap, which the run's give-up after its timeout
//!   races (`Outcome::give_up` swaps running to timed out first): a job is either
//!   tried again or given up on, never both.
//! * Its worker then reads the wait its backoff gives, marks it scheduled, sends
//!   `Retrying`, and arms an alarm for the end of the wait ([`Run::retry_later`]); the
//!   worker goes on with other jobs. The job holds no worker and no slot in the window
//!   while it waits, and its count stays in `remaining`: the run cannot end without it.
//! * At the end of the wait (on the timer thread, [`Run::again`]) the job is pushed onto
//!   the run's injected list and a worker is hired for it, as for a job released by a
//!   give-up (`timeout.rs`); a run that ended meanwhile pushes nothing, and a run past
//!   its deadline ends by its timeout. One execution of the job at a time: the next is
//!   pushed only after the last one returned.
//! * Alarms of an attempt carry its number: an alarm of an earlier attempt that rings
//!   late does nothing to the next one.

use std::sync::Arc;
use std::time::Instant;

use super::event::EventKind;
use super::rules::{Armed, Rules};
use super::run::Run;
use super::settings::Reason;
use super::table::Table;
use super::timeout::Ring;
use crate::error::JobError;
use crate::job::state;
use crate::sync::{AtomicU8, Ordering};

impl<J: Table> Run<J> {
    /// Job `index` failed with `error`: whether it is to be tried again. If so, the
    /// failure is recorded (for the job's reports and the `Retrying` event).
    pub(crate) fn retry(&self, index: u32, error: &JobError) -> bool {
        let i = index as usize;
        let Some(rules) = self.rules(i) else {
            return false;
        };
        let Some(retry) = &rules.retry else {
            return false;
        };
        if self.cancelled.load(Ordering::Acquire)
            || self.exit.load(Ordering::Acquire)
            || self.past_deadline()
        {
            return false;
        }
        // Written only by the one execution of the job in flight.
        let retried = rules.retried.load(Ordering::Acquire);
        if retried >= retry.times || !retry.on.covers(error) {
            return false;
        }
        // The job is taken back from its run, which may be giving up on it for its
        // timeout at the same time: one compare-and-swap decides (see
        // `Outcome::give_up`). A job given up on is not tried again.
        if !take_back(self.jobs.state(i)) {
            return false;
        }
        rules.retried.store(retried + 1, Ordering::Release);
        *rules.failure.lock() = Some(error.clone());
        self.jobs.failed_attempt(i, error.clone());
        true
    }

    /// Job `i`'s attempt failed and it is to be tried again: it waits, holding no
    /// worker, for the time its backoff says.
    pub(super) fn retry_later(self: &Arc<Self>, i: usize, rules: &Rules) {
        let attempt = rules.retried.load(Ordering::Acquire);
        let after = rules.retry.as_ref().map_or(Default::default(), |retry| {
            retry.backoff.delay_with(attempt, random(i, attempt))
        });
        let failure = rules.failure.lock().take();
        if let (Some(events), Some(job), Some(error)) = (&self.events, self.jobs.handle(i), failure)
        {
            events.job(
                EventKind::Retrying {
                    attempt,
                    after,
                    error,
                },
                job,
            );
        }
        // Too far to count: it never comes, and the run's own end (its timeout, or its
        // cancellation) stops it.
        let alarm = Instant::now()
            .checked_add(after)
            .map(|at| self.alarm(at, rules.index, attempt, Ring::Retry));
        let old = std::mem::replace(&mut *rules.alarm.lock(), Armed { alarm, over: false });
        drop(old);
    }

    /// The end of job `index`'s wait: it is pushed again, for its next attempt.
    pub(super) fn again(self: &Arc<Self>, index: u32) {
        if self.exit.load(Ordering::SeqCst) {
            return;
        }
        if self.past_deadline() {
            self.finish(Reason::Timeout);
            return;
        }
        self.emit_scheduled(index, None);
        self.inject(index);
        self.announce(1);
    }
}

impl<J: Table> Run<J> {
    /// The run has ended: a job that was waiting for its next attempt never gets it. It
    /// started and did not end, stopped by its run: cancelled, and told so.
    pub(super) fn stop_waiting_attempts(&self) {
        for rules in self.rules.iter() {
            if rules.retried.load(Ordering::Acquire) == 0 {
                continue;
            }
            let i = rules.index as usize;
            let stopped = self.jobs.state(i).compare_exchange(
                state::SCHEDULED,
                state::CANCELLED,
                Ordering::AcqRel,
                Ordering::Acquire,
            );
            if let (Ok(_), Some(events), Some(job)) = (stopped, &self.events, self.jobs.handle(i)) {
                events.job(EventKind::Cancelled, job);
            }
        }
    }
}

/// Takes a job whose attempt failed back from its run, to try it again: its state from
/// running to scheduled, unless the run gave up on it first (see `Outcome::give_up`).
pub(super) fn take_back(lifecycle: &AtomicU8) -> bool {
    lifecycle
        .compare_exchange(
            state::RUNNING,
            state::SCHEDULED,
            Ordering::AcqRel,
            Ordering::Acquire,
        )
        .is_ok()
}

/// A number in `0..1` for a backoff's jitter: job `i`'s attempt `attempt`, hashed with
/// the process's random keys and mixed (splitmix64), so that jobs that failed together
/// wait apart.
fn random(i: usize, attempt: u32) -> f64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_usize(i);
    hasher.write_u32(attempt);
    let mut z = hasher.finish().wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64
}
