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
}

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

/// Breaks the requirement cycles among `jobs`, the jobs of a scheduler being dropped,
/// that nothing else can reach: without it, jobs that require each other in a cycle
/// (a graph whose run was refused) keep each other alive forever, closures and all.
///
/// Requirements are strong handles, and stay so: a job keeps what it requires alive,
/// so that a requirement on a job nobody else holds is still reported by `run` and
/// seen by `requirements()`. A cycle of them is a reference cycle, and only its
/// scheduler knows all of its jobs: so the scheduler, when it is dropped, empties the
/// requirement lists of those of its jobs that nothing else can reach any more, and
/// they are freed.
///
/// A job is *reachable* when something other than this scheduler's list and its
/// fellow jobs' requirement lists holds a handle to it (a user's handle, a job of
/// another scheduler that requires it, an event, a weak handle), or when it is
/// required by a reachable job. Only unreachable jobs lose their requirements, so no
/// one can ever see the change. The count is exact because every requirement list of
/// `jobs` stays locked meanwhile: a new handle to an unreachable job could only be
/// cloned from those lists or from the scheduler's list, which its caller owns. When
/// a lock cannot be had (someone is reading or changing a job), nothing is released.
///
/// Jobs still reachable when their scheduler goes (the handles outlive it) keep their
/// requirements: a cycle among them is freed once one of its requirements is removed
/// (`remove_requires`), so drop the handles before the scheduler, or remove one.
pub(crate) fn release_unreachable(jobs: &[AnyJob]) {
    /// How many times a busy lock is tried before giving up.
    const TRIES: usize = 1_000;
    if jobs.iter().all(|job| Arc::strong_count(&job.0) == 1) {
        // Nobody else holds any of them: no cycle, nothing to do.
        return;
    }
    let index: std::collections::HashMap<*const (), usize> = jobs
        .iter()
        .enumerate()
        .map(|(i, job)| (job.ptr(), i))
        .collect();
    let mut metas = Vec::with_capacity(jobs.len());
    for job in jobs {
        let meta = &job.0.core().meta;
        let locked = (0..TRIES).find_map(|_| {
            meta.try_lock().or_else(|| {
                std::thread::yield_now();
                None
            })
        });
        match locked {
            Some(guard) => metas.push(guard),
            None => return,
        }
    }
    // Handles held by the scheduler's list and by the requirement lists of its jobs.
    let mut internal = vec![1usize; jobs.len()];
    for meta in &metas {
        for required in &meta.requires {
            if let Some(&k) = index.get(&required.ptr()) {
                internal[k] += 1;
            }
        }
    }
    let mut reached: Vec<bool> = jobs
        .iter()
        .zip(&internal)
        .map(|(job, &held)| Arc::strong_count(&job.0) > held || Arc::weak_count(&job.0) > 0)
        .collect();
    let mut pending: Vec<usize> = (0..jobs.len()).filter(|&i| reached[i]).collect();
    while let Some(i) = pending.pop() {
        for required in &metas[i].requires {
            if let Some(&k) = index.get(&required.ptr()) {
                if !reached[k] {
                    reached[k] = true;
                    pending.push(k);
                }
            }
        }
    }
    let released: Vec<Requires> = metas
        .iter_mut()
        .zip(&reached)
        .filter(|(meta, &reached)| !reached && !meta.requires.is_empty())
        .map(|(meta, _)| std::mem::take(&mut meta.requires))
        .collect();
    // Unlocked before anything is freed: freeing a job locks its own list.
    drop(metas);
    drop(released);
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
