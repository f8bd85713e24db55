//! The graph operations of a scheduler (asynciojobs' `entry_jobs`, `exit_jobs`, `keep_only_between`, `sanitize`): order, entry and exit jobs,
//! neighbours and their closures, pruning, bypassing; each reads the graph into a
//! [`Dense`] once, in O(jobs + edges). Requirements on jobs that are not in the
//! scheduler are set aside (reported by [`Scheduler::check_cycles`], dropped by
//! [`Scheduler::sanitize`]) rather than refused, so these methods work on any graph.

use std::collections::HashSet;

use super::Scheduler;
use crate::error::{Error, Runner};
use crate::graph::{self, local_index, Dense};
use crate::job::{AnyJob, Jobs};

impl Scheduler {
    /// This scheduler's graph, as index arrays.
    pub(crate) fn dense(&self) -> Dense {
        Dense::of(self.inner.id, self.jobs())
    }

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
        let dense = self.dense();
        let (order, complete) = dense.listing_order();
        if !complete {
            let cycle = graph::find_cycle(&dense.frozen).unwrap_or_default();
            return Err(Error::Cycle {
                runner: Runner::Scheduler,
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

    /// The jobs that no job of this scheduler requires, in insertion order, forever
    /// jobs left out: asynciojobs' `exit_jobs()` (`discard_forever=True`). See
    /// [`exit_jobs_with_forever`](Scheduler::exit_jobs_with_forever) for all of them.
    pub fn exit_jobs(&self) -> Vec<AnyJob> {
        self.exits(true)
    }

    /// The jobs that no job of this scheduler requires, forever jobs included:
    /// asynciojobs' `exit_jobs(discard_forever=False)`.
    pub fn exit_jobs_with_forever(&self) -> Vec<AnyJob> {
        self.exits(false)
    }

    fn exits(&self, discard_forever: bool) -> Vec<AnyJob> {
        let dense = self.dense();
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
        let dense = self.dense();
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
        let dense = self.dense();
        let starts = dense.indices(starts);
        dense.marked(&dense.closure(&starts, Dense::preds))
    }

    /// Every job that requires one of `starts`, directly or not (the starts themselves
    /// excluded), in insertion order.
    pub fn successors_downstream(&self, starts: impl Jobs) -> Vec<AnyJob> {
        let dense = self.dense();
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
        let dense = self.dense();
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
        let dense = self.dense();
        let Some(i) = local_index(u64::from(self.inner.id), &dense.jobs, job) else {
            return Err(Error::NotInScheduler {
                runner: Runner::Scheduler,
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

    /// Every job, looking inside nested schedulers (which are not listed themselves),
    /// depth first in insertion order: asynciojobs' `iterate_jobs()`.
    pub fn iterate_jobs(&self) -> Vec<AnyJob> {
        let mut out = Vec::new();
        self.collect_jobs(false, &mut out);
        out
    }

    /// Every job and every scheduler, each scheduler before its jobs, this one first:
    /// asynciojobs' `iterate_jobs(scan_schedulers=True)`.
    pub fn iterate_jobs_and_schedulers(&self) -> Vec<AnyJob> {
        let mut out = Vec::new();
        self.collect_jobs(true, &mut out);
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
        let dense = self.dense();
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
        let dense = self.dense();
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
