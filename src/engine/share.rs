//! A job's share of named limits ([`Job::uses`](crate::Job::uses)), as a run takes it
//! and gives it back (the limits themselves: `crate::limits`).
//!
//! # The protocol
//!
//! * A worker about to start a job that uses limits (after the run's checks, before the
//!   job is marked running) takes its share ([`Run::take_share`]). If it is not free,
//!   the job goes on the limits' waiting list with a [`Granted`] waker, stays
//!   scheduled, and the worker goes on with other work: a job waiting for a limit
//!   holds no worker. Its count stays in `remaining`: the run cannot end without it.
//! * Whoever gives amounts back takes the waiting job's share for it and wakes it
//!   (`Limits::give_back`): [`Granted::wake`] marks it holding, and pushes it onto the
//!   run's injected list with a worker hired for it, as the end of a retry's wait does.
//!   A worker that takes it then finds it holding, and starts it.
//! * The share is given back once, by whoever swaps `holding` to false
//!   ([`Run::give_share`]): the job's worker when the job returns (whatever its end,
//!   a retry's failed attempt included), the run when it gives up on the job for its
//!   timeout (its thread may run on), or the run's end, for the jobs it abandons and
//!   those granted a share they never used.
//! * A grant that comes after its run ended gives the share back at once: the grant
//!   reads `exit` and sets `holding` under `holding`'s lock, and the run's end sets
//!   `exit` before it sweeps `holding` under that lock: one of the two gives it back.
//!   When the run is gone already, the grant gives back what it holds itself.

use std::sync::{Arc, Weak};
use std::task::{Wake, Waker};

use super::rules::Rules;
use super::run::Run;
use super::table::Table;
use crate::limits::{Limits, Share};
use crate::sync::Ordering;

/// The waker of a job waiting for its share: woken once the share is taken for it.
struct Granted<J: Table> {
    run: Weak<Run<J>>,
    index: u32,
    limits: Arc<Limits>,
    share: Box<Share>,
}

impl<J: Table> Wake for Granted<J> {
    fn wake(self: Arc<Self>) {
        let Some(run) = self.run.upgrade() else {
            // The run is gone: nobody else can give this share back.
            self.limits.give_back(&self.share);
            return;
        };
        let Some(rules) = run.rules(self.index as usize) else {
            return;
        };
        {
            // Under the lock the run's end sweeps with, after setting `exit`: either
            // this sees the end, or the sweep sees the share held.
            let mut holding = rules.holding.lock();
            if run.exit.load(Ordering::Acquire) {
                drop(holding);
                self.limits.give_back(&self.share);
                return;
            }
            *holding = true;
        }
        run.inject(self.index);
        run.announce(1);
    }
}

impl<J: Table> Run<J> {
    /// Takes job `index`'s share of named limits before it starts: true when it holds
    /// it (or uses none), false when it waits for it (it is pushed again once granted).
    pub(super) fn take_share(self: &Arc<Self>, index: u32, rules: &Rules) -> bool {
        if rules.share.is_empty() || *rules.holding.lock() {
            return true;
        }
        let Some(limits) = &self.limits else {
            return true;
        };
        let waker = Waker::from(Arc::new(Granted {
            run: Arc::downgrade(self),
            index,
            limits: Arc::clone(limits),
            share: rules.share.clone(),
        }));
        if limits.take_or_wait(&rules.share, (self.owner(), index), waker) {
            *rules.holding.lock() = true;
            return true;
        }
        false
    }

    /// Gives the job's share back, if it holds it: once, whoever calls this first.
    pub(super) fn give_share(&self, rules: &Rules) {
        if rules.share.is_empty() || !std::mem::take(&mut *rules.holding.lock()) {
            return;
        }
        if let Some(limits) = &self.limits {
            limits.give_back(&rules.share);
        }
    }

    /// The run has ended: the shares still held (jobs abandoned, grants never used)
    /// are given back, and its jobs still waiting for theirs never get them.
    pub(super) fn give_shares_back(&self) {
        let Some(limits) = &self.limits else {
            return;
        };
        // `exit` is set: a grant that takes `holding`'s lock after the sweep sees it
        // (see `Granted::wake`).
        limits.forget(self.owner());
        for rules in self.rules.iter() {
            self.give_share(rules);
        }
    }

    /// This run, as the limits know its waiting jobs.
    fn owner(&self) -> usize {
        std::ptr::from_ref(self) as usize
    }
}
