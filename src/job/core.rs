//! What every job has, whatever its kind: its place, its lifecycle state, its flags,
//! and its label and requirements.

use std::sync::Arc;

use super::handle::AnyJob;
use super::lifecycle::state;
use crate::sync::{AtomicU64, AtomicU8, Ordering, SpinLock};

/// The lifecycle and build-time data every job has, whatever its kind.
pub(crate) struct Core {
    /// Where the job lives: its scheduler's id (high 32 bits) and its index there
    /// (low 32 bits); 0 while it is in no scheduler.
    pub(crate) place: AtomicU64,
    /// One of the `job::state` constants.
    pub(crate) state: AtomicU8,
    /// `CRITICAL` and `FOREVER` bits.
    pub(crate) flags: AtomicU8,
    /// Label and requirements: read and written while building, read by reports.
    pub(crate) meta: SpinLock<Meta>,
}

pub(crate) const CRITICAL: u8 = 1;
pub(crate) const FOREVER: u8 = 2;
/// The job is a nested scheduler (set once, at its creation).
pub(crate) const NESTED: u8 = 4;

#[derive(Default)]
pub(crate) struct Meta {
    pub(crate) label: Option<Box<str>>,
    /// Most jobs require one or two others: those need no allocation of their own.
    pub(crate) requires: Requires,
    /// A shutdown hook given with `on_shutdown`, until `Scheduler::shutdown` calls it;
    /// boxed twice so that a job without one pays a word.
    pub(crate) on_shutdown: Option<Box<ShutdownHook>>,
}

/// A hook that [`Scheduler::shutdown`](crate::Scheduler::shutdown) calls once.
pub(crate) type ShutdownHook = Box<dyn FnOnce() + Send + 'static>;

/// A job's requirements, in the order they were required.
pub(crate) type Requires = smallvec::SmallVec<[AnyJob; 2]>;

impl Drop for Meta {
    /// Drops chains of requirements without recursion: when this is the last handle
    /// to a job it requires, that job's own requirements are taken over first, so a
    /// million-job chain is freed in a loop rather than a million nested drops.
    fn drop(&mut self) {
        if self
            .requires
            .iter()
            .all(|job| Arc::strong_count(&job.0) > 1)
        {
            // The common case: someone else still holds each of them.
            return;
        }
        // Inline for a chain or a tree: no allocation while freeing.
        let mut pending = std::mem::take(&mut self.requires);
        while let Some(job) = pending.pop() {
            if Arc::strong_count(&job.0) == 1 {
                // The last handle: nobody else can reach this job or its lock.
                pending.extend(std::mem::take(&mut job.0.core().meta.lock().requires));
            }
        }
    }
}

impl Core {
    pub(crate) fn new(critical: bool) -> Self {
        Core {
            place: AtomicU64::new(0),
            state: AtomicU8::new(state::IDLE),
            flags: AtomicU8::new(if critical { CRITICAL } else { 0 }),
            meta: SpinLock::new(Meta::default()),
        }
    }

    pub(crate) fn with_flag(self, flag: u8) -> Self {
        self.set_flag(flag, true);
        self
    }

    pub(crate) fn set_flag(&self, flag: u8, on: bool) {
        if on {
            self.flags.fetch_or(flag, Ordering::Relaxed);
        } else {
            self.flags.fetch_and(!flag, Ordering::Relaxed);
        }
    }

    pub(crate) fn has_flag(&self, flag: u8) -> bool {
        self.flags.load(Ordering::Relaxed) & flag != 0
    }
}
