//! A group's jobs and their requirements as plain index arrays ([`Dense`]), read
//! without judging them, and the order asynciojobs lists them in: what the graph
//! operations (asynciojobs' `entry_jobs`, `exit_jobs`, `keep_only_between`, `sanitize`) and the reports work on.
//!
//! Everything here is O(jobs + edges). Requirements on jobs that are not in the group
//! are set aside (flagged in `dangling`) rather than refused, so any graph can be read.

use std::collections::{HashSet, VecDeque};

use super::frozen::Frozen;
use crate::job::{AnyJob, Jobs};
use crate::sync::Ordering;

/// A scheduler's jobs and their requirements as index arrays, read without judging them.
pub(crate) struct Dense {
    /// The scheduler's id.
    id: u64,
    pub(crate) jobs: Vec<AnyJob>,
    /// Successors, as the engine's frozen graph has them.
    pub(crate) frozen: Frozen,
    /// Local requirements of job `i`: `pred[pred_start[i]..pred_start[i + 1]]`, in the
    /// order they were required, each once.
    pred_start: Vec<u32>,
    pred: Vec<u32>,
    /// Whether job `i` requires a job that is not in the scheduler.
    pub(crate) dangling: Vec<bool>,
}

impl Dense {
    /// Reads the graph of the group with this id and these jobs.
    pub(crate) fn of(id: u32, jobs: Vec<AnyJob>) -> Dense {
        let id = u64::from(id);
        let n = jobs.len();
        let mut pending = vec![0u32; n];
        let mut succ_count = vec![0u32; n];
        let mut flags = Vec::with_capacity(n);
        let mut pred_start = Vec::with_capacity(n + 1);
        let mut pred = Vec::new();
        let mut dangling = vec![false; n];
        // seen[j] == i: job i already requires j.
        let mut seen = vec![u32::MAX; n];
        pred_start.push(0);
        for (i, job) in jobs.iter().enumerate() {
            let core = job.node().core();
            flags.push(core.flags.load(Ordering::Relaxed));
            let meta = core.meta.lock();
            for required in &meta.requires {
                match local_index(id, &jobs, required) {
                    Some(j) if j != i && seen[j] != i as u32 => {
                        seen[j] = i as u32;
                        pred.push(j as u32);
                        pending[i] += 1;
                        succ_count[j] += 1;
                    }
                    Some(_) => {}
                    None => dangling[i] = true,
                }
            }
            pred_start.push(pred.len() as u32);
        }
        let mut succ_start = Vec::with_capacity(n + 1);
        let mut total = 0u32;
        succ_start.push(0);
        for count in &succ_count {
            total += count;
            succ_start.push(total);
        }
        let mut fill: Vec<u32> = succ_start[..n].to_vec();
        let mut succ = vec![0u32; pred.len()];
        // Filled by requiring job, in index order: successors come in insertion order.
        for to in 0..n {
            for &from in &pred[pred_start[to] as usize..pred_start[to + 1] as usize] {
                succ[fill[from as usize] as usize] = to as u32;
                fill[from as usize] += 1;
            }
        }
        Dense {
            id,
            jobs,
            frozen: Frozen {
                succ_start,
                succ,
                pending,
                flags,
                // Not known here: cycles are looked for.
                forward: false,
                // Not looked at here: a run warms successors as if some were far.
                far: true,
                policies: Vec::new(),
                shares: Vec::new(),
                hints: Vec::new(),
                rank: None,
            },
            pred_start,
            pred,
            dangling,
        }
    }

    /// The index of `job`, when it is in this scheduler.
    pub(crate) fn index_of(&self, job: &AnyJob) -> Option<usize> {
        local_index(self.id, &self.jobs, job)
    }

    pub(crate) fn len(&self) -> usize {
        self.jobs.len()
    }

    pub(crate) fn preds(&self, i: usize) -> &[u32] {
        &self.pred[self.pred_start[i] as usize..self.pred_start[i + 1] as usize]
    }

    pub(crate) fn succs(&self, i: usize) -> &[u32] {
        self.frozen.successors(i)
    }

    /// The indices of `jobs` that are in this scheduler, each once, in the given order.
    pub(crate) fn indices(&self, jobs: impl Jobs) -> Vec<usize> {
        let mut given = Vec::new();
        jobs.push_jobs(&mut given);
        let mut seen = HashSet::new();
        given
            .iter()
            .filter_map(|job| self.index_of(job))
            .filter(|&i| seen.insert(i))
            .collect()
    }

    /// The order asynciojobs lists jobs in, and whether it covers every job: see
    /// [`listing_order`].
    pub(crate) fn listing_order(&self) -> (Vec<usize>, bool) {
        listing_order(&self.frozen)
    }

    /// Indices reachable from `starts` through `step` (starts excluded unless reached
    /// again), as a mark per job.
    pub(crate) fn closure(
        &self,
        starts: &[usize],
        step: impl Fn(&Self, usize) -> &[u32],
    ) -> Vec<bool> {
        let mut reached = vec![false; self.len()];
        let mut stack: Vec<usize> = starts.to_vec();
        while let Some(i) = stack.pop() {
            for &next in step(self, i) {
                if !reached[next as usize] {
                    reached[next as usize] = true;
                    stack.push(next as usize);
                }
            }
        }
        reached
    }

    pub(crate) fn marked(&self, marks: &[bool]) -> Vec<AnyJob> {
        self.jobs
            .iter()
            .zip(marks)
            .filter(|(_, &m)| m)
            .map(|(job, _)| job.clone())
            .collect()
    }
}

/// The order asynciojobs lists a graph's jobs in, computed in O(jobs + edges), and
/// whether it covers every job (it does not when there is a cycle; the jobs on it and
/// after it then follow, in insertion order).
///
/// asynciojobs scans its jobs again and again, in insertion order, taking each job
/// whose requirements were all taken before it, in this scan or an earlier one. The
/// scan that takes job `s` is therefore the largest, over its requirements `r`, of
/// `r`'s scan, plus one when `r` comes after `s`; jobs sort by scan, then by insertion.
/// Here those scan numbers are pushed from each job to its successors in one
/// topological pass. `list()`, the DOT text and verbose mode all number jobs in this
/// order, so their ids agree.
pub(crate) fn listing_order(frozen: &Frozen) -> (Vec<usize>, bool) {
    let n = frozen.pending.len();
    let mut pending = frozen.pending.clone();
    let mut ready: VecDeque<usize> = (0..n).filter(|&i| pending[i] == 0).collect();
    let mut scan = vec![0u32; n];
    let mut taken = vec![false; n];
    let mut max_scan = 0;
    while let Some(i) = ready.pop_front() {
        taken[i] = true;
        max_scan = max_scan.max(scan[i]);
        for &next in frozen.successors(i) {
            let next = next as usize;
            scan[next] = scan[next].max(scan[i] + u32::from(i > next));
            pending[next] -= 1;
            if pending[next] == 0 {
                ready.push_back(next);
            }
        }
    }
    // Counting sort by scan, the jobs never taken last; indices go in ascending, so
    // ties keep insertion order.
    let buckets = max_scan as usize + 2;
    let bucket = |i: usize| {
        if taken[i] {
            scan[i] as usize
        } else {
            buckets - 1
        }
    };
    let mut start = vec![0usize; buckets + 1];
    for i in 0..n {
        start[bucket(i) + 1] += 1;
    }
    for b in 0..buckets {
        start[b + 1] += start[b];
    }
    let complete = start[buckets] == start[buckets - 1];
    let mut order = vec![0usize; n];
    for i in 0..n {
        let b = bucket(i);
        order[start[b]] = i;
        start[b] += 1;
    }
    (order, complete)
}

/// The index of `job` in the scheduler with this id, when it is there.
pub(crate) fn local_index(id: u64, jobs: &[AnyJob], job: &AnyJob) -> Option<usize> {
    let found = job.node().core().place.load(Ordering::Relaxed);
    let j = (found & u64::from(u32::MAX)) as usize;
    (found >> 32 == id && j < jobs.len() && jobs[j] == *job).then_some(j)
}
