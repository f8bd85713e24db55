//! Named limits ([`Scheduler::limit`](crate::Scheduler::limit),
//! [`Job::uses`](crate::Job::uses)): counters of a resource in use, shared by a run and
//! the runs nested in it, and the jobs waiting for their share.
//!
//! A job takes all its amounts at once, under one lock, or none: two jobs that each
//! hold part of what the other needs cannot be. A job that finds too little in use is
//! put on the waiting list with a [`Waker`]; whoever gives amounts back goes through
//! the list in order and, for each waiting job that now fits, takes its amounts on its
//! behalf before waking it: a job woken holds its share and starts. A smaller job may
//! pass a larger one that does not fit yet.
//!
//! The lock is held for a few instructions, by jobs that use a limit only: a run where
//! no job uses one never reaches this module.

use std::collections::VecDeque;
use std::task::Waker;

use crate::sync::Mutex;

/// One job's share: `(slot, amount)` pairs, each slot once.
pub(crate) type Share = [(u32, u32)];

/// The limits of a tree of schedulers, by slot: a name defined by a scheduler is one
/// slot, shared by the jobs of that scheduler and of those nested in it.
pub(crate) struct Limits {
    /// Each slot's limit: at most this much in use at once.
    capacity: Box<[u32]>,
    state: Mutex<State>,
}

struct State {
    used: Box<[u32]>,
    waiting: VecDeque<Waiting>,
}

struct Waiting {
    share: Box<Share>,
    /// Who waits: the run (its address) and the job's index in it.
    owner: (usize, u32),
    waker: Waker,
}

impl Limits {
    /// Limits of the given `(name, limit)` slots, none in use (the names are the
    /// scheduler's business: here a slot is its number).
    pub(crate) fn new(slots: Vec<(Box<str>, u32)>) -> Limits {
        let capacity: Vec<u32> = slots.into_iter().map(|(_, limit)| limit).collect();
        let used = vec![0; capacity.len()].into_boxed_slice();
        Limits {
            capacity: capacity.into_boxed_slice(),
            state: Mutex::new(State {
                used,
                waiting: VecDeque::new(),
            }),
        }
    }

    /// Takes `share` if it fits now: true. Otherwise the job waits, `owner` and
    /// `waker` on the list, until amounts given back make room: its share is then taken
    /// for it and `waker` woken.
    pub(crate) fn take_or_wait(&self, share: &Share, owner: (usize, u32), waker: Waker) -> bool {
        let mut state = self.state.lock();
        if fits(&self.capacity, &state.used, share) {
            add(&mut state.used, share);
            return true;
        }
        state.waiting.push_back(Waiting {
            share: share.into(),
            owner,
            waker,
        });
        false
    }

    /// Gives `share` back, and wakes the waiting jobs that fit now (their shares taken
    /// for them).
    pub(crate) fn give_back(&self, share: &Share) {
        let woken = {
            let mut state = self.state.lock();
            for &(slot, amount) in share {
                let used = &mut state.used[slot as usize];
                *used = used.saturating_sub(amount);
            }
            let State { used, waiting } = &mut *state;
            let mut woken = Vec::new();
            waiting.retain(|w| {
                if fits(&self.capacity, used, &w.share) {
                    add(used, &w.share);
                    woken.push(w.waker.clone());
                    false
                } else {
                    true
                }
            });
            woken
        };
        // Outside the lock: a wake pushes the job back onto its run.
        woken.into_iter().for_each(Waker::wake);
    }

    /// Forgets the jobs of run `run` still waiting (it has ended): they never start.
    pub(crate) fn forget(&self, run: usize) {
        let gone: VecDeque<Waiting> = {
            let mut state = self.state.lock();
            let (gone, kept) = std::mem::take(&mut state.waiting)
                .into_iter()
                .partition(|w| w.owner.0 == run);
            state.waiting = kept;
            gone
        };
        drop(gone);
    }

    /// How much of slot `slot` is in use now.
    #[cfg(test)]
    pub(crate) fn in_use(&self, slot: u32) -> u32 {
        self.state.lock().used[slot as usize]
    }
}

fn fits(capacity: &[u32], used: &[u32], share: &Share) -> bool {
    share.iter().all(|&(slot, amount)| {
        let slot = slot as usize;
        used[slot]
            .checked_add(amount)
            .is_some_and(|total| total <= capacity[slot])
    })
}

fn add(used: &mut [u32], share: &Share) {
    for &(slot, amount) in share {
        used[slot as usize] += amount;
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::task::Wake;

    #[derive(Default)]
    struct Count(AtomicUsize);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn a_share_is_taken_whole_or_waits_and_is_taken_for_its_job_when_given_back() {
        let limits = Limits::new(vec![("gpu".into(), 2), ("disk".into(), 1)]);
        assert!(limits.take_or_wait(&[(0, 2)], (1, 0), Waker::noop().clone()));
        let count = Arc::new(Count::default());
        // Needs a gpu and the disk: the disk is free, the gpu is not; nothing taken.
        assert!(!limits.take_or_wait(&[(0, 1), (1, 1)], (1, 1), Waker::from(count.clone())));
        assert_eq!(limits.in_use(1), 0);
        limits.give_back(&[(0, 2)]);
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
        assert_eq!((limits.in_use(0), limits.in_use(1)), (1, 1));
    }

    #[test]
    fn a_smaller_share_passes_a_larger_one_that_does_not_fit_and_forget_drops_a_runs_waiters() {
        let limits = Limits::new(vec![("gpu".into(), 2)]);
        assert!(limits.take_or_wait(&[(0, 2)], (1, 0), Waker::noop().clone()));
        let big = Arc::new(Count::default());
        let small = Arc::new(Count::default());
        assert!(!limits.take_or_wait(&[(0, 2)], (1, 1), Waker::from(big.clone())));
        assert!(!limits.take_or_wait(&[(0, 1)], (2, 2), Waker::from(small.clone())));
        limits.give_back(&[(0, 1)]);
        assert_eq!(big.0.load(Ordering::SeqCst), 0);
        assert_eq!(small.0.load(Ordering::SeqCst), 1);
        limits.forget(1);
        limits.give_back(&[(0, 2)]);
        assert_eq!(big.0.load(Ordering::SeqCst), 0, "forgotten");
        assert_eq!(limits.in_use(0), 0);
    }
}
