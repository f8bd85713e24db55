//! The collector of requirement cycles: jobs that require each other are a reference
//! cycle, freed here once nothing outside it can reach them (see [`ON_CYCLE`]).

use std::sync::Arc;

use super::core::{warm_ahead, Meta, Requires};
use super::handle::AnyJob;
use super::node::Node;
use super::shared::{Shared, WeakShared};
use crate::sync::Ordering;

/// Requirements are strong handles, and stay so: a job keeps what it requires alive,
/// so that a requirement on a job nobody else holds is still reported by `run` and
/// seen by `requirements()`. Jobs that require each other in a cycle (a graph whose
/// run was refused) are then a reference cycle, which nothing would ever free. Two
/// things break such cycles, each only where no one can see it:
///
/// * a scheduler, when it is dropped, empties the requirement lists of those of its
///   jobs that nothing else can reach any more ([`release_unreachable`]); those left
///   on a cycle, because handles to them are still held, become a [`CycleGroup`], each
///   marked [`ON_CYCLE`];
/// * dropping a handle to a marked job that leaves it held by nothing but its group's
///   requirement lists counts one job fewer held from outside the group; when none is
///   left, the group is examined again ([`CycleGroup::look`]): the last outside handle
///   to go frees the cycle.
///
/// Either way a job is *reachable* when something other than the lists being examined
/// and the examiner's own handles holds it (a user's handle, a job elsewhere that
/// requires it, an event, a weak handle), or when a reachable job requires it. Only
/// unreachable jobs lose their requirements. The count is exact because every list
/// examined stays locked meanwhile: a handle to an unreachable job could only be cloned
/// from those lists, or from what the examiner owns. A lock that stays busy (someone
/// is reading or changing a job) means nothing is released then. The count of jobs
/// held from outside is only a hint of when to look (handles cloned from a list are
/// not counted), corrected at each look: looking too early costs time, never a job.
///
/// A cycle of jobs never added to a scheduler is not marked: it lives until one of its
/// requirements is removed (`remove_requires`), as two `Arc`s holding each other do.
pub(crate) const ON_CYCLE: u8 = 8;

/// Three bits of `flags` beside [`ON_CYCLE`]: how many requirement lists of its group
/// hold the job (up to 6), or [`UNKNOWN`].
const IN_GROUP_SHIFT: u8 = 4;
const IN_GROUP: u8 = 0x70;
/// A marked job's count of requirers in its group is not known (too many, or a list
/// changed): any drop of a handle to it makes the group look again.
const UNKNOWN: u8 = 7;

/// How long a release waits for a busy requirement list before it gives up.
const PATIENCE: std::time::Duration = std::time::Duration::from_millis(200);

type MetaGuard<'a> = crate::sync::SpinLockGuard<'a, Meta>;

/// Locks a job's list, unless it stays busy (this thread may hold it: a handle can be
/// dropped while its requirer's list is locked).
fn try_lock(node: &dyn Node) -> Option<MetaGuard<'_>> {
    let meta = &node.core().meta;
    if let Some(guard) = meta.try_lock() {
        return Some(guard);
    }
    let start = std::time::Instant::now();
    loop {
        std::thread::yield_now();
        if let Some(guard) = meta.try_lock() {
            return Some(guard);
        }
        if start.elapsed() > PATIENCE {
            return None;
        }
    }
}

/// Locks every list, or none when one stays busy.
fn lock_all<'a>(nodes: impl Iterator<Item = &'a dyn Node>) -> Option<Vec<MetaGuard<'a>>> {
    nodes.map(try_lock).collect()
}

/// How many handles to each of `nodes` the lists in `metas` hold, plus `known`.
fn held_by(
    nodes: usize,
    known: usize,
    metas: &[MetaGuard<'_>],
    index: &dyn Fn(&AnyJob) -> Option<usize>,
) -> Vec<usize> {
    let mut held = vec![known; nodes];
    for meta in metas {
        for required in &meta.requires {
            if let Some(k) = index(required) {
                held[k] += 1;
            }
        }
    }
    held
}

/// Which of `nodes` (their lists locked in `metas`, handles to them held as `held`
/// and `weak` say) something else reaches; `index` finds a node among them. Also
/// whether each is a root: held from outside.
fn reachable(
    nodes: &[&Shared<dyn Node>],
    held: &[usize],
    weak: usize,
    metas: &[MetaGuard<'_>],
    index: &dyn Fn(&AnyJob) -> Option<usize>,
) -> (Vec<bool>, Vec<bool>) {
    let roots: Vec<bool> = nodes
        .iter()
        .zip(held)
        .map(|(node, &held)| Shared::strong_count(node) > held || Shared::weak_count(node) > weak)
        .collect();
    let mut reached = roots.clone();
    let mut pending: Vec<usize> = (0..nodes.len()).filter(|&i| reached[i]).collect();
    while let Some(i) = pending.pop() {
        for required in &metas[i].requires {
            if let Some(k) = index(required) {
                if !reached[k] {
                    reached[k] = true;
                    pending.push(k);
                }
            }
        }
    }
    (reached, roots)
}

/// Empties the lists of the unreached nodes (and clears their marks): what they held,
/// to be dropped once every list is unlocked (freeing a job locks its own list).
fn release(
    nodes: &[&Shared<dyn Node>],
    metas: &mut [MetaGuard<'_>],
    reached: &[bool],
) -> Vec<Requires> {
    let mut released = Vec::new();
    for ((node, meta), &reached) in nodes.iter().zip(metas.iter_mut()).zip(reached) {
        if !reached {
            node.core()
                .flags
                .fetch_and(!(ON_CYCLE | IN_GROUP), Ordering::AcqRel);
            if !meta.requires.is_empty() {
                released.push(std::mem::take(&mut meta.requires));
            }
        }
    }
    released
}

/// Marks a job of a group, with how many of the group's lists hold it.
fn mark(node: &dyn Node, in_group: usize) {
    let count = in_group.min(usize::from(UNKNOWN - 1)) as u8;
    let flags = &node.core().flags;
    let mut old = flags.load(Ordering::Acquire);
    loop {
        let new = (old & !IN_GROUP) | ON_CYCLE | (count << IN_GROUP_SHIFT);
        match flags.compare_exchange_weak(old, new, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => return,
            Err(now) => old = now,
        }
    }
}

/// Frees the requirement cycles among `jobs`, the jobs of scheduler `id` being
/// dropped, that nothing else reaches, and makes a [`CycleGroup`] of the jobs on a cycle
/// that stay reachable (see [`ON_CYCLE`]).
///
/// `acyclic`: the scheduler's graph was frozen without a cycle and nothing changed it
/// since (no job added or removed, no requirement added to a job in a scheduler): then
/// there is nothing to look for.
pub(crate) fn release_unreachable(id: u32, jobs: &[AnyJob], acyclic: bool) {
    if acyclic {
        return;
    }
    if jobs.iter().all(|job| Shared::strong_count(&job.0) == 1) {
        // Nobody else holds any of them: no cycle, nothing to do.
        return;
    }
    // A job's place is its index in `jobs`: `index` finds a requirement there.
    let index = |job: &AnyJob| {
        let place = job.0.core().place.load(Ordering::Acquire);
        let i = (place & u64::from(u32::MAX)) as usize;
        (place >> 32 == u64::from(id) && jobs.get(i).is_some_and(|at| at == job)).then_some(i)
    };
    // Every requirement on an earlier job: no cycle among them (the usual case), and
    // nothing to lock all at once.
    // A list that stays busy (maybe this thread's own) gives up, as `lock_all` does.
    let forward = jobs.iter().enumerate().try_fold(true, |forward, (i, job)| {
        warm_ahead(jobs, i);
        let meta = try_lock(job.node())?;
        Some(forward && meta.requires.iter().all(|r| index(r).is_none_or(|k| k < i)))
    });
    if forward != Some(false) {
        return;
    }
    let nodes: Vec<&Shared<dyn Node>> = jobs.iter().map(|job| &job.0).collect();
    let Some(mut metas) = lock_all(jobs.iter().map(|job| job.node())) else {
        return;
    };
    // The scheduler's list holds each once.
    let held = held_by(nodes.len(), 1, &metas, &index);
    let (reached, _) = reachable(&nodes, &held, 0, &metas, &index);
    let group: Vec<usize> = on_cycles(&metas, &index)
        .into_iter()
        .filter(|&i| reached[i])
        .collect();
    if !group.is_empty() {
        let members: Vec<&Shared<dyn Node>> = group.iter().map(|&i| nodes[i]).collect();
        let at = positions(&members);
        let in_group = |job: &AnyJob| at.get(&job.ptr()).copied();
        let group_metas: Vec<&MetaGuard<'_>> = group.iter().map(|&i| &metas[i]).collect();
        let mut counts = vec![0usize; members.len()];
        for meta in &group_metas {
            for required in &meta.requires {
                if let Some(k) = in_group(required) {
                    counts[k] += 1;
                }
            }
        }
        let mut outside = 0;
        for (node, &count) in members.iter().zip(&counts) {
            mark(&***node, count);
            // Less the scheduler's list, about to go.
            if Shared::strong_count(node) - 1 > count || Shared::weak_count(node) > 0 {
                outside += 1;
            }
        }
        CycleGroup::register(&members, outside);
    }
    let released = release(&nodes, &mut metas, &reached);
    drop(metas);
    drop(released);
}

/// The jobs on a cycle of requirements among those locked in `metas`, or on a path
/// between two cycles: those left once the jobs with no requirement left, and then
/// the jobs no one left requires, are peeled off.
fn on_cycles(metas: &[MetaGuard<'_>], index: &dyn Fn(&AnyJob) -> Option<usize>) -> Vec<usize> {
    let n = metas.len();
    let requires: Vec<Vec<usize>> = metas
        .iter()
        .map(|meta| meta.requires.iter().filter_map(index).collect())
        .collect();
    let mut required_by = vec![Vec::new(); n];
    for (i, list) in requires.iter().enumerate() {
        for &k in list {
            required_by[k].push(i);
        }
    }
    let mut gone = vec![false; n];
    let mut left: Vec<usize> = requires.iter().map(Vec::len).collect();
    let mut peel: Vec<usize> = (0..n).filter(|&i| left[i] == 0).collect();
    while let Some(i) = peel.pop() {
        gone[i] = true;
        for &p in &required_by[i] {
            left[p] -= 1;
            if left[p] == 0 {
                peel.push(p);
            }
        }
    }
    let mut by: Vec<usize> = (0..n)
        .map(|i| required_by[i].iter().filter(|&&p| !gone[p]).count())
        .collect();
    let mut peel: Vec<usize> = (0..n).filter(|&i| !gone[i] && by[i] == 0).collect();
    while let Some(i) = peel.pop() {
        gone[i] = true;
        for &k in &requires[i] {
            if !gone[k] {
                by[k] -= 1;
                if by[k] == 0 {
                    peel.push(k);
                }
            }
        }
    }
    (0..n).filter(|&i| !gone[i]).collect()
}

/// Jobs left on requirement cycles by a dropped scheduler, while handles to some of
/// them are held elsewhere (see [`ON_CYCLE`]).
pub(crate) struct CycleGroup {
    /// About how many of them are held from outside the group; at 0, look again. Its
    /// lock serializes the looks with the counting down, so that a look's count is
    /// never made stale by a drop counted meanwhile.
    outside: crate::sync::Mutex<isize>,
    members: Vec<WeakShared<dyn Node>>,
}

/// The group of each marked job, by its address.
type Groups = crate::sync::Mutex<std::collections::HashMap<usize, Arc<CycleGroup>>>;

fn groups() -> &'static Groups {
    static GROUPS: std::sync::OnceLock<Groups> = std::sync::OnceLock::new();
    GROUPS.get_or_init(Default::default)
}

/// What a look at a group leaves to drop, once no lock is held: its own handles to
/// the members, and the lists it emptied.
type Leftovers = (Vec<Shared<dyn Node>>, Vec<Requires>);

impl CycleGroup {
    fn register(members: &[&Shared<dyn Node>], outside: usize) {
        let group = Arc::new(CycleGroup {
            outside: crate::sync::Mutex::new(outside as isize),
            members: members.iter().map(|node| Shared::downgrade(node)).collect(),
        });
        let mut groups = groups().lock();
        for node in members {
            groups.insert(ptr(node) as usize, group.clone());
        }
    }

    /// Looks at the group again, `outside` locked: frees what nothing outside reaches,
    /// marks the rest anew, and counts again what is held from outside.
    fn look(&self, outside: &mut isize) -> Leftovers {
        let members: Vec<Shared<dyn Node>> = self
            .members
            .iter()
            .filter_map(WeakShared::upgrade)
            .collect();
        let nodes: Vec<&Shared<dyn Node>> = members.iter().collect();
        let at = positions(&nodes);
        let index = |job: &AnyJob| at.get(&job.ptr()).copied();
        let Some(mut metas) = lock_all(nodes.iter().map(|node| &***node)) else {
            // Someone is busy with a job: whoever drops the next handle looks again.
            *outside = 0;
            return (members, Vec::new());
        };
        // Held once here, and weakly by the group.
        let held = held_by(nodes.len(), 1, &metas, &index);
        let (reached, roots) = reachable(&nodes, &held, 1, &metas, &index);
        let mut count = 0;
        for (k, node) in nodes.iter().enumerate() {
            if reached[k] {
                mark(&***node, held[k] - 1);
                count += isize::from(roots[k]);
            }
        }
        *outside = count;
        let released = release(&nodes, &mut metas, &reached);
        drop(metas);
        let gone = members.len() < self.members.len();
        if gone || !released.is_empty() {
            // Members freed meanwhile, or released now, leave the register.
            let mut groups = groups().lock();
            for weak in &self.members {
                if weak.strong_count() == 0 {
                    groups.remove(&(weak.as_ptr() as *const () as usize));
                }
            }
            for (k, node) in nodes.iter().enumerate() {
                if !reached[k] {
                    groups.remove(&(ptr(node) as usize));
                }
            }
        }
        (members, released)
    }
}

/// Called as a handle to a job marked [`ON_CYCLE`] is dropped, with that handle's
/// node and the job's flags: when it leaves the job held only by its group's lists,
/// lets go of it first (so that a look at the group sees it gone), counts one job
/// fewer held from outside, and at none left, looks at the group again.
pub(crate) fn release_from(handle: &mut Shared<dyn Node>, flags: u8) {
    let in_group = usize::from((flags & IN_GROUP) >> IN_GROUP_SHIFT);
    let others = Shared::strong_count(handle) - 1;
    if in_group != usize::from(UNKNOWN) && others > in_group {
        // Still held from outside the group by another handle.
        return;
    }
    let Some(group) = groups().lock().get(&(ptr(handle) as usize)).cloned() else {
        return;
    };
    drop(std::mem::replace(handle, placeholder()));
    let leftovers = {
        let mut outside = group.outside.lock();
        *outside -= 1;
        if *outside > 0 {
            return;
        }
        group.look(&mut outside)
    };
    // Dropped with no lock held: the members' own handles first, then what the
    // emptied lists held (which may free jobs, and look at groups again).
    let (members, released) = leftovers;
    drop(members);
    drop(released);
}

/// Where each of `nodes` is among them, by address.
fn positions(nodes: &[&Shared<dyn Node>]) -> std::collections::HashMap<*const (), usize> {
    nodes
        .iter()
        .enumerate()
        .map(|(k, node)| (ptr(node), k))
        .collect()
}

fn ptr(node: &Shared<dyn Node>) -> *const () {
    Shared::as_ptr(node) as *const ()
}

/// What stands in a handle while it is being dropped (see [`release_from`]).
fn placeholder() -> Shared<dyn Node> {
    static NODE: std::sync::OnceLock<AnyJob> = std::sync::OnceLock::new();
    NODE.get_or_init(|| super::handle::Job::<()>::new(|_| ()).any)
        .0
        .clone()
}

/// A requirement list of a marked job changed: the counts of its group's lists that
/// hold the jobs concerned are not known any more.
pub(crate) fn requirements_changed(owner: &dyn Node, jobs: &[AnyJob]) {
    if !owner.core().has_flag(ON_CYCLE) {
        return;
    }
    for job in jobs {
        if job.0.core().has_flag(ON_CYCLE) {
            job.0
                .core()
                .flags
                .fetch_or(UNKNOWN << IN_GROUP_SHIFT, Ordering::AcqRel);
        }
    }
}
