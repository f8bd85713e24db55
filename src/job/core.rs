//! What every job has, whatever its kind: its place, its lifecycle state, its flags,
//! and its label and requirements.

use super::handle::AnyJob;
use super::lifecycle::state;
use super::node::Node;
use super::shared::Shared;
use crate::sync::{AtomicU64, AtomicU8, Ordering, SpinLock};

/// The lifecycle and build-time data every job has, whatever its kind.
pub(crate) struct Core {
    /// Where the job lives: its scheduler's id (high 32 bits) and its index there
    /// (low 32 bits); 0 while it is in no scheduler.
    pub(crate) place: AtomicU64,
    /// One of the `job::state` constants.
    pub(crate) state: AtomicU8,
    /// `CRITICAL`, `FOREVER`, `NESTED` and `POLICY` bits, and the cycle collector's
    /// (`ON_CYCLE` and its count, in `cycle`).
    pub(crate) flags: AtomicU8,
    /// Label and requirements: read and written while building, read by reports.
    pub(crate) meta: SpinLock<Meta>,
}

pub(crate) const CRITICAL: u8 = 1;
pub(crate) const FOREVER: u8 = 2;
/// The job is a nested scheduler (set once, at its creation).
pub(crate) const NESTED: u8 = 4;
/// The job has policies of its own (`Meta::policy`: a timeout, retries).
pub(crate) const POLICY: u8 = 0x80;
/// The job has a priority or a cost hint (`Meta::hint`).
pub(crate) const RANKED: u8 = 0x10;

#[derive(Default)]
pub(crate) struct Meta {
    /// Most jobs require one or two others: those need no allocation of their own.
    pub(crate) requires: Requires,
    /// What few jobs have, a label or a shutdown hook: a word when they have neither.
    extra: Option<Box<Extra>>,
}

#[derive(Default)]
struct Extra {
    label: Option<Box<str>>,
    /// Given with `on_shutdown`, until `Scheduler::shutdown` calls it.
    on_shutdown: Option<ShutdownHook>,
    /// Given with `timeout`, `retries`, `backoff`, `retry_on`.
    policy: super::retry::Policy,
    /// The failures of the attempts that were tried again, in its last run.
    failed: Vec<crate::error::JobError>,
    /// Given with `priority`, `cost`.
    hint: super::priority::Hint,
}

impl Meta {
    /// The label given with `label()`, if any.
    pub(crate) fn label(&self) -> Option<&str> {
        self.extra.as_ref()?.label.as_deref()
    }

    pub(crate) fn set_label(&mut self, label: String) {
        self.extra.get_or_insert_with(Default::default).label = Some(label.into_boxed_str());
    }

    pub(crate) fn set_shutdown(&mut self, hook: ShutdownHook) {
        self.extra.get_or_insert_with(Default::default).on_shutdown = Some(hook);
    }

    /// The job's own policies, if it has any.
    pub(crate) fn policy(&self) -> Option<&super::retry::Policy> {
        let policy = &self.extra.as_ref()?.policy;
        (!policy.is_empty()).then_some(policy)
    }

    /// The job's priority and cost hint (the defaults when it has none).
    pub(crate) fn hint(&self) -> super::priority::Hint {
        self.extra
            .as_ref()
            .map(|extra| extra.hint)
            .unwrap_or_default()
    }

    /// The job's priority and cost hint, to change them.
    pub(crate) fn hint_mut(&mut self) -> &mut super::priority::Hint {
        &mut self.extra.get_or_insert_with(Default::default).hint
    }

    /// The failures of the attempts that were tried again, in its last run.
    pub(crate) fn failed_attempts(&self) -> &[crate::error::JobError] {
        self.extra.as_ref().map_or(&[], |extra| &extra.failed)
    }

    /// An attempt failed, and the job is tried again.
    pub(crate) fn push_failed_attempt(&mut self, error: crate::error::JobError) {
        self.extra
            .get_or_insert_with(Default::default)
            .failed
            .push(error);
    }

    /// The job's own policies, to change them.
    pub(crate) fn policy_mut(&mut self) -> &mut super::retry::Policy {
        &mut self.extra.get_or_insert_with(Default::default).policy
    }

    pub(crate) fn has_shutdown(&self) -> bool {
        self.extra
            .as_ref()
            .is_some_and(|extra| extra.on_shutdown.is_some())
    }

    /// The shutdown hook, taken: it is called once.
    pub(crate) fn take_shutdown(&mut self) -> Option<ShutdownHook> {
        self.extra.as_mut()?.on_shutdown.take()
    }
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
            .all(|job| Shared::strong_count(&job.0) > 1)
        {
            // The common case: someone else still holds each of them.
            return;
        }
        // Inline for a chain or a tree: no allocation while freeing.
        let mut pending = std::mem::take(&mut self.requires);
        while let Some(mut job) = pending.pop() {
            // The last handle: nobody else can reach this job, its list taken unlocked.
            if let Some(core) = job.unique() {
                pending.extend(std::mem::take(&mut core.meta.get_mut().requires));
            } else if Shared::strong_count(&job.0) == 1 {
                // Also held weakly, by the cycle collector's group: through its lock.
                pending.extend(std::mem::take(&mut job.0.core().meta.lock().requires));
            }
        }
    }
}

/// How many times a job already in a scheduler gained requirements: a scheduler that
/// froze its graph without a cycle knows that none can have appeared since when this
/// count has not moved (jobs are most often given their requirements before they are
/// added, which counts nothing).
static REQUIREMENTS_ADDED: crate::sync::global::AtomicU64 = crate::sync::global::AtomicU64::new(0);

/// See [`REQUIREMENTS_ADDED`]: read before a graph is frozen.
pub(crate) fn requirements_added() -> u64 {
    REQUIREMENTS_ADDED.load(std::sync::atomic::Ordering::SeqCst)
}

/// Called once `job`'s new requirements are in its list.
pub(crate) fn count_requirements_added(job: &dyn Node) {
    if job.core().place.load(Ordering::Relaxed) != 0 {
        REQUIREMENTS_ADDED.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}

/// How many jobs a pass over many looks ahead (see [`warm_ahead`]): enough for
/// their cache misses to overlap, few enough for their lines to stay in the
/// first-level cache.
pub(crate) const WARM_AHEAD: usize = 16;

/// For a pass over `jobs` at `i`: every [`WARM_AHEAD`] jobs, asks for the lines of
/// the next few (the first few too, at the start). A job lives in its own allocation,
/// and a pass that takes each job's lock or swaps its place would otherwise wait for
/// each line in turn: a locked instruction waits for its line alone.
#[inline]
pub(crate) fn warm_ahead(jobs: &[AnyJob], i: usize) {
    if i % WARM_AHEAD != 0 {
        return;
    }
    let from = if i == 0 { 0 } else { i + WARM_AHEAD };
    let ahead = jobs.get(from..jobs.len().min(i + 2 * WARM_AHEAD));
    ahead.into_iter().flatten().for_each(prefetch);
}

/// Asks for `job`'s two lines: its place and list first, its state, outcome and body
/// after (a job is a little under two lines long).
#[inline]
pub(crate) fn prefetch(job: &AnyJob) {
    let at = Shared::as_ptr(&job.0) as *const u8;
    crate::sync::prefetch(at);
    crate::sync::prefetch(at.wrapping_add(64));
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
