//! [`Sequence`]: jobs chained one after the other.

use super::Scheduler;
use crate::job::{AnyJob, Jobs};

/// Jobs that run one after the other: each requires the one before it.
///
/// A sequence is not a job: adding it to a scheduler adds its jobs; its own
/// requirements go to its first job; requiring it means requiring its last job.
///
/// ```
/// use jobgraph::{Job, Scheduler, Sequence};
/// let (a, b, c) = (Job::new(|_| 1), Job::new(|_| 2), Job::new(|_| 3));
/// let seq = Sequence::new((&a, &b, &c));
/// assert_eq!(c.requirements(), vec![b.any()]);
/// assert!(Scheduler::new().add(&seq).run().unwrap());
/// ```
///
/// Bound to a scheduler ([`scheduler`](Sequence::scheduler), asynciojobs'
/// `Sequence(..., scheduler=s)`), it adds its jobs to that scheduler, those appended
/// later too.
#[derive(Clone, Default, Debug)]
pub struct Sequence {
    jobs: Vec<AnyJob>,
    scheduler: Option<Scheduler>,
}

impl Sequence {
    /// Chains these jobs (sequences among them are flattened).
    pub fn new(jobs: impl Jobs) -> Self {
        Sequence::default().append(jobs)
    }

    /// Adds jobs at the end; the first of them requires the sequence's last job. A
    /// sequence bound to a scheduler adds them to it.
    pub fn append(mut self, jobs: impl Jobs) -> Self {
        let mut added = Vec::new();
        jobs.push_jobs(&mut added);
        for job in &added {
            if let Some(last) = self.jobs.last() {
                job.add_requires(last);
            }
            self.jobs.push(job.clone());
        }
        if let Some(scheduler) = &self.scheduler {
            scheduler.add(added);
        }
        self
    }

    /// Binds the sequence to `scheduler`: its jobs are added to it, now and whenever
    /// jobs are [appended](Sequence::append). asynciojobs' `scheduler=` argument.
    ///
    /// ```
    /// use jobgraph::{Job, Scheduler, Sequence};
    /// let s = Scheduler::new();
    /// let (a, b, c) = (Job::new(|_| 1), Job::new(|_| 2), Job::new(|_| 3));
    /// let seq = Sequence::new((&a, &b)).scheduler(&s);
    /// let seq = seq.append(&c); // added to `s` too, after `b`
    /// assert_eq!(s.jobs(), seq.jobs());
    /// assert!(s.run().unwrap());
    /// ```
    pub fn scheduler(mut self, scheduler: &Scheduler) -> Self {
        scheduler.add(self.jobs.clone());
        self.scheduler = Some(scheduler.clone());
        self
    }

    /// Adds requirements to the sequence's first job (none when the sequence is empty).
    pub fn requires(self, jobs: impl Jobs) -> Self {
        if let Some(first) = self.jobs.first() {
            first.add_requires(jobs);
        }
        self
    }

    /// The jobs, in order.
    pub fn jobs(&self) -> &[AnyJob] {
        &self.jobs
    }
}
