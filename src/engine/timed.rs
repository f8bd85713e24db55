//! What a run keeps for one job with a timeout of its own: its flags, the hand-over of
//! its worker's place in the window, and its alarm. How they are used is told in
//! `timeout.rs`.

use std::time::Duration;

use crate::sync::{AtomicBool, AtomicU8, Mutex, Ordering};
use crate::timer::Alarm;

/// The worker kept its place in the window (see `Timed::slot`).
const BACK: u8 = 1;
/// The run handed the worker's place in the window to another worker.
const HANDED: u8 = 2;

/// One job with a timeout of its own, in one run.
pub(crate) struct Timed {
    pub(super) index: u32,
    pub(super) timeout: Duration,
    /// Set at the job's deadline: the job is cancelled.
    pub(super) expired: AtomicBool,
    /// Set once the run tries to give up on the job (see `timeout.rs`).
    pub(super) given_up: AtomicBool,
    /// Who keeps the worker's place in the window once the job was given up on: 0
    /// until decided, then `BACK` or `HANDED`.
    pub(super) slot: AtomicU8,
    /// The alarm armed for the job: its deadline, then the end of its grace.
    pub(super) alarm: Mutex<Armed>,
}

#[derive(Default)]
pub(super) struct Armed {
    pub(super) alarm: Option<Alarm>,
    /// The job returned: no alarm is armed for it any more.
    pub(super) over: bool,
}

impl Timed {
    pub(super) fn new(index: u32, timeout: Duration) -> Timed {
        Timed {
            index,
            timeout,
            expired: AtomicBool::new(false),
            given_up: AtomicBool::new(false),
            slot: AtomicU8::new(0),
            alarm: Mutex::new(Armed::default()),
        }
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
