//! What a run keeps for one job with policies of its own (a timeout, retries): its
//! flags, the hand-over of its worker's place in the window, its alarm, and its
//! attempts. How they are used is told in `timeout.rs` and `retry.rs`.

use std::sync::Arc;
use std::time::Duration;

use crate::job::{Policy, Retry};
use crate::limits::Share;
use crate::sync::{AtomicBool, AtomicU32, AtomicU8, Mutex, Ordering};
use crate::timer::Alarm;

/// The worker kept its place in the window (see `Rules::slot`).
const BACK: u8 = 1;
/// The run handed the worker's place in the window to another worker.
const HANDED: u8 = 2;

/// One job with policies of its own, in one run.
pub(crate) struct Rules {
    pub(super) index: u32,
    /// Its own timeout, counted from the start of each attempt.
    pub(super) timeout: Option<Duration>,
    /// Its retries.
    pub(super) retry: Option<Arc<Retry>>,
    /// How many of its attempts failed and were tried again: the number of the attempt
    /// running now, less one.
    pub(super) retried: AtomicU32,
    /// The failure of the attempt that is tried again, for its `Retrying` event.
    pub(super) failure: Mutex<Option<crate::error::JobError>>,
    /// Set at the job's deadline: the job is cancelled.
    pub(super) expired: AtomicBool,
    /// Set once the run tries to give up on the job (see `timeout.rs`).
    pub(super) given_up: AtomicBool,
    /// Who keeps the worker's place in the window once the job was given up on: 0
    /// until decided, then `BACK` or `HANDED`.
    pub(super) slot: AtomicU8,
    /// The alarm armed for the job: its deadline, then the end of its grace; or the end
    /// of its wait before its next attempt.
    pub(super) alarm: Mutex<Armed>,
    /// Its share of named limits (`(slot, amount)`); empty when it uses none.
    pub(super) share: Box<Share>,
    /// It holds its share now (taken when it was about to start, or for it while it
    /// waited): whoever sets this back to false gives the share back (see `share.rs`).
    pub(super) holding: Mutex<bool>,
}

#[derive(Default)]
pub(super) struct Armed {
    pub(super) alarm: Option<Alarm>,
    /// The job returned: no alarm is armed for it any more.
    pub(super) over: bool,
}

impl Rules {
    pub(super) fn new(index: u32, policy: &Policy) -> Rules {
        Rules {
            index,
            timeout: policy.timeout,
            retry: policy.retry.clone().filter(|retry| retry.times > 0),
            retried: AtomicU32::new(0),
            failure: Mutex::new(None),
            expired: AtomicBool::new(false),
            given_up: AtomicBool::new(false),
            slot: AtomicU8::new(0),
            alarm: Mutex::new(Armed::default()),
            share: Box::default(),
            holding: Mutex::new(false),
        }
    }

    /// The rules, with the share of named limits the job takes when it starts.
    pub(super) fn sharing(mut self, share: &Share) -> Rules {
        self.share = share.into();
        self
    }

    /// The job returned: its alarm goes (dropped outside the lock).
    pub(super) fn disarm(&self) {
        let alarm = {
            let mut armed = self.alarm.lock();
            armed.over = true;
            armed.alarm.take()
        };
        drop(alarm);
    }

    /// The job's seal failed (`Lost`): whether the run gave up on it for its timeout.
    pub(super) fn was_given_up(&self) -> bool {
        self.given_up.load(Ordering::SeqCst)
    }

    /// The worker back from a job the run gave up on: true when it keeps its place in
    /// the window, false when the run handed it to another worker (it then leaves).
    pub(super) fn keep_place(&self) -> bool {
        self.slot
            .compare_exchange(0, BACK, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    /// The run, having given up on the job: true when it takes the worker's place in
    /// the window (to hand it to another worker), false when the worker came back
    /// first and keeps it.
    pub(super) fn hand_place(&self) -> bool {
        self.slot
            .compare_exchange(0, HANDED, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }
}
