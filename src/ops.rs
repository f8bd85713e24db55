//! Inspecting and transforming a scheduler's graph (F18–F20): order, entry and exit
//! jobs, neighbours and their closures, pruning, bypassing.
//!
//! Everything here is O(jobs + edges). The graph is read into the dense CSR form of
//! [`graph`](crate::graph) once per call; requirements on jobs that are not in the
//! scheduler are set aside (reported by [`Scheduler::check_cycles`], dropped by
//! [`Scheduler::sanitize`]) rather than refused, so these methods work on any graph.

use std::collections::{HashSet, VecDeque};

use crate::error::Error;
use crate::graph::{self, Frozen};
use crate::handle::{AnyJob, Jobs};
use crate::scheduler::Scheduler;
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
    /// Reads the graph of scheduler `sched`.
    pub(crate) fn of(sched: &Scheduler) -> Dense {
        let jobs = sched.jobs();
        let id = u64::from(sched.inner.id);
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
    fn indices(&self, jobs: impl Jobs) -> Vec<usize> {
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
    fn closure(&self, starts: &[usize], step: impl Fn(&Self, usize) -> &[u32]) -> Vec<bool> {
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

    fn marked(&self, marks: &[bool]) -> Vec<AnyJob> {
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
fn local_index(id: u64, jobs: &[AnyJob], job: &AnyJob) -> Option<usize> {
    let found = job.node().core().place.load(Ordering::Relaxed);
    let j = (found & u64::from(u32::MAX)) as usize;
    (found >> 32 == id && j < jobs.len() && jobs[j] == *job).then_some(j)
}

impl Scheduler {
    /// The jobs in an order in which they can run: each after all the jobs it requires.
    ///
    /// The order is the one asynciojobs lists jobs in (repeated scans in insertion
    /// order), computed in O(jobs + edges). Requirements on jobs that are not in the
    /// scheduler are ignored here. `Err(Error::Cycle)`, naming the jobs on one cycle,
    /// when there is a cycle.
    ///
    /// ```
    /// use jobgraph::{Job, Scheduler};
    /// let (a, b) = (Job::new(|_| 1).label("a"), Job::new(|_| 2).label("b"));
    /// a.add_requires(&b);
    /// let s = Scheduler::new();
    /// s.add((&a, &b));
    /// let order = s.topological_order().unwrap();
    /// assert_eq!(order, vec![b.any(), a.any()]);
    /// ```
    pub fn topological_order(&self) -> Result<Vec<AnyJob>, Error> {
        let dense = Dense::of(self);
        let (order, complete) = dense.listing_order();
        if !complete {
            let cycle = graph::find_cycle(&dense.frozen).unwrap_or_default();
            return Err(Error::Cycle {
                scheduler: self.text_label(),
                jobs: cycle.iter().map(|&i| dense.jobs[i].text_label()).collect(),
            });
        }
        Ok(order.into_iter().map(|i| dense.jobs[i].clone()).collect())
    }

    /// The jobs that require nothing, in insertion order.
    pub fn entry_jobs(&self) -> Vec<AnyJob> {
        self.jobs()
            .into_iter()
            .filter(|job| job.node().core().meta.lock().requires.is_empty())
            .collect()
    }

    /// The jobs that no job of this scheduler requires, in insertion order; forever
    /// jobs left out when `discard_forever`.
    pub fn exit_jobs(&self, discard_forever: bool) -> Vec<AnyJob> {
        let dense = Dense::of(self);
        (0..dense.len())
            .filter(|&i| dense.succs(i).is_empty())
            .map(|i| dense.jobs[i].clone())
            .filter(|job| !(discard_forever && job.is_forever()))
            .collect()
    }

    /// The jobs of this scheduler that one of `starts` requires, in insertion order.
    pub fn predecessors(&self, starts: impl Jobs) -> Vec<AnyJob> {
        self.neighbours(starts, Dense::preds)
    }

    /// The jobs of this scheduler that require one of `starts`, in insertion order.
    pub fn successors(&self, starts: impl Jobs) -> Vec<AnyJob> {
        self.neighbours(starts, Dense::succs)
    }

    /// The jobs one step away from `starts` along `step`, in insertion order.
    fn neighbours(&self, starts: impl Jobs, step: fn(&Dense, usize) -> &[u32]) -> Vec<AnyJob> {
        let dense = Dense::of(self);
        let mut marks = vec![false; dense.len()];
        for i in dense.indices(starts) {
            for &n in step(&dense, i) {
                marks[n as usize] = true;
            }
        }
        dense.marked(&marks)
    }

    /// Every job that one of `starts` requires, directly or not (the starts themselves
    /// excluded), in insertion order.
    pub fn predecessors_upstream(&self, starts: impl Jobs) -> Vec<AnyJob> {
        let dense = Dense::of(self);
        let starts = dense.indices(starts);
        dense.marked(&dense.closure(&starts, Dense::preds))
    }

    /// Every job that requires one of `starts`, directly or not (the starts themselves
    /// excluded), in insertion order.
    pub fn successors_downstream(&self, starts: impl Jobs) -> Vec<AnyJob> {
        let dense = Dense::of(self);
        let starts = dense.indices(starts);
        dense.marked(&dense.closure(&starts, Dense::succs))
    }

    /// Keeps only these jobs: removes the others, then drops the requirements on them
    /// ([`sanitize`](Scheduler::sanitize)).
    pub fn keep_only(&self, remains: impl Jobs) -> &Self {
        let mut kept = Vec::new();
        remains.push_jobs(&mut kept);
        let kept: HashSet<AnyJob> = kept.into_iter().collect();
        let gone: Vec<AnyJob> = self
            .jobs()
            .into_iter()
            .filter(|job| !kept.contains(job))
            .collect();
        self.remove(gone);
        self.sanitize();
        self
    }

    /// Keeps the jobs that lie between `starts` and `ends`: downstream of a start and
    /// upstream of an end. No starts means from the entry jobs, no ends means to the
    /// exit jobs (pass `()` for none). The starts and ends themselves stay when
    /// `keep_starts` / `keep_ends`. Then drops requirements on removed jobs.
    ///
    /// On a→b→c→d, a→e: `keep_only_between(&b, &d, true, true)` keeps b, c, d;
    /// `keep_only_between(&b, &d, false, false)` keeps c.
    pub fn keep_only_between(
        &self,
        starts: impl Jobs,
        ends: impl Jobs,
        keep_starts: bool,
        keep_ends: bool,
    ) -> &Self {
        let dense = Dense::of(self);
        let starts = dense.indices(starts);
        let ends = dense.indices(ends);
        let all = vec![true; dense.len()];
        let down = if starts.is_empty() {
            all.clone()
        } else {
            dense.closure(&starts, Dense::succs)
        };
        let up = if ends.is_empty() {
            all
        } else {
            dense.closure(&ends, Dense::preds)
        };
        let mut keep: Vec<bool> = down.iter().zip(&up).map(|(&d, &u)| d && u).collect();
        if keep_starts {
            starts.iter().for_each(|&i| keep[i] = true);
        }
        if keep_ends {
            ends.iter().for_each(|&i| keep[i] = true);
        }
        self.keep_only(dense.marked(&keep))
    }

    /// Removes `job`, and makes every job that required it require what it required
    /// instead, so the order around it is kept. `Err` when `job` is not here.
    pub fn bypass_and_remove(&self, job: &AnyJob) -> Result<&Self, Error> {
        let dense = Dense::of(self);
        let Some(i) = local_index(u64::from(self.inner.id), &dense.jobs, job) else {
            return Err(Error::NotInScheduler {
                job: job.text_label(),
                scheduler: self.text_label(),
            });
        };
        let upstream = job.requirements();
        for &s in dense.succs(i) {
            let mut meta = dense.jobs[s as usize].node().core().meta.lock();
            let old = std::mem::take(&mut meta.requires);
            for required in old {
                if required == *job {
                    for up in &upstream {
                        if !meta.requires.contains(up) && *up != dense.jobs[s as usize] {
                            meta.requires.push(up.clone());
                        }
                    }
                } else if !meta.requires.contains(&required) {
                    meta.requires.push(required);
                }
            }
        }
        self.remove(job);
        Ok(self)
    }

    /// Every job, looking inside nested schedulers, depth first in insertion order.
    /// With `scan_schedulers`, the schedulers too, each before its jobs, this one
    /// first.
    pub fn iterate_jobs(&self, scan_schedulers: bool) -> Vec<AnyJob> {
        let mut out = Vec::new();
        self.collect_jobs(scan_schedulers, &mut out);
        out
    }

    fn collect_jobs(&self, scan_schedulers: bool, out: &mut Vec<AnyJob>) {
        if scan_schedulers {
            out.push(self.any());
        }
        for job in self.jobs() {
            match job.as_scheduler() {
                Some(nested) => nested.collect_jobs(scan_schedulers, out),
                None => out.push(job),
            }
        }
    }

    /// Whether the graph, here and in nested schedulers, has no cycle and no
    /// requirement on a job outside its scheduler.
    pub(crate) fn graph_is_sound(&self) -> bool {
        let dense = Dense::of(self);
        !dense.dangling.contains(&true)
            && dense.listing_order().1
            && dense
                .jobs
                .iter()
                .filter_map(AnyJob::as_scheduler)
                .all(|nested| nested.graph_is_sound())
    }

    /// The first cycle found here, then in nested schedulers.
    pub(crate) fn first_cycle(&self) -> Option<Vec<AnyJob>> {
        let dense = Dense::of(self);
        if let Some(cycle) = graph::find_cycle(&dense.frozen) {
            return Some(cycle.into_iter().map(|i| dense.jobs[i].clone()).collect());
        }
        dense
            .jobs
            .iter()
            .filter_map(AnyJob::as_scheduler)
            .find_map(|nested| nested.first_cycle())
    }
}
