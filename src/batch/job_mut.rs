//! Setting up one job of a batch: [`JobMut`], from [`Batch::add`] or [`Batch::job`].

use std::fmt::Debug;
use std::sync::Arc;
use std::time::Duration;

use super::Batch;
use crate::error::{Error, Runner};
use crate::graph;
use crate::job::{Backoff, Hint, JobId, Policy, RetryOn, CRITICAL, FOREVER};

/// How many of a job's requirements given together are checked for repeats as they
/// come; past that, they are checked when the batch is frozen.
const TIDY_CHECK: usize = 8;

/// A job of a [`Batch`] being set up: from [`Batch::add`] or [`Batch::job`].
pub struct JobMut<'a, T: 'static> {
    pub(super) batch: &'a mut Batch<T>,
    pub(super) index: u32,
}

impl<T: 'static> std::fmt::Debug for JobMut<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobMut")
            .field("index", &self.index)
            .finish_non_exhaustive()
    }
}

impl<T: Send + Sync + Debug + 'static> JobMut<'_, T> {
    /// The job's id: what names it in its batch.
    pub fn id(&self) -> JobId {
        JobId::new(self.batch.id, self.index)
    }

    /// Labels the job, for errors and results (unlabelled jobs are `#index`).
    pub fn label(self, label: impl Into<String>) -> Self {
        self.batch.changed |= self.batch.ran.is_some();
        let label = label.into().into_boxed_str();
        self.batch.building.labels.insert(self.index, label);
        self
    }

    /// Whether a failure of this job stops the run (default: true).
    pub fn critical(self, critical: bool) -> Self {
        self.set(CRITICAL, critical)
    }

    /// Whether the job runs until the rest is done: never waited for, cancelled once
    /// every other job has ended (default: false). No job may require it.
    pub fn forever(self, forever: bool) -> Self {
        self.set(FOREVER, forever)
    }

    /// The job's priority among the jobs ready at the same time (default 0; higher
    /// first), as [`Job::priority`](crate::Job::priority) gives a scheduler's job: a
    /// batch where any job has a priority or a cost starts its ready jobs by rank.
    pub fn priority(self, priority: i32) -> Self {
        self.hint(|hint| hint.priority = priority)
    }

    /// A hint of how long the job runs, relative to the others (finite, at least 0),
    /// as [`Job::cost`](crate::Job::cost) gives a scheduler's job.
    pub fn cost(self, cost: f64) -> Self {
        self.hint(|hint| hint.cost = Some(cost))
    }

    fn hint(self, change: impl FnOnce(&mut Hint)) -> Self {
        self.batch.changed |= self.batch.ran.is_some();
        change(self.batch.building.hints.entry(self.index).or_default());
        self
    }

    /// A timeout of the job's own, counted from its start, as
    /// [`Job::timeout`](crate::Job::timeout) gives a scheduler's job: at its deadline
    /// the job is cancelled, it ends as timed out (a failure, its error
    /// [`Error::JobTimedOut`]; see [`Batch::is_timed_out`]), and it is given up on if it
    /// has not returned once the batch's grace has passed.
    ///
    /// ```
    /// use std::time::Duration;
    /// use jobgraph::{Batch, Error, JobState};
    /// let mut batch = Batch::new();
    /// let slow = batch
    ///     .add(|ctx| {
    ///         ctx.sleep(Duration::from_secs(60));
    ///     })
    ///     .label("slow")
    ///     .timeout(Duration::from_millis(20))
    ///     .id();
    /// assert!(matches!(batch.run(), Err(Error::JobTimedOut { .. })));
    /// assert_eq!(batch.state(slow).unwrap(), JobState::Done);
    /// assert!(batch.is_timed_out(slow));
    /// ```
    pub fn timeout(self, timeout: Duration) -> Self {
        self.policy(|policy| policy.timeout = Some(timeout))
    }

    /// Tries the job again, up to `retries` more times, after a failure, as
    /// [`Job::retries`](crate::Job::retries) does for a scheduler's job: the job must
    /// be one whose body runs again ([`Batch::add_mut`]), or the run is refused
    /// ([`Error::Policy`]).
    ///
    /// ```
    /// use jobgraph::Batch;
    /// let mut batch = Batch::new();
    /// let mut tries = 0;
    /// let flaky = batch
    ///     .add_mut(move |_| {
    ///         tries += 1;
    ///         if tries < 3 { Err("not yet") } else { Ok(tries) }
    ///     })
    ///     .retries(5)
    ///     .id();
    /// assert!(batch.run().unwrap());
    /// assert_eq!(*batch.result(flaky).unwrap(), 3);
    /// assert_eq!(batch.attempts(flaky), 3);
    /// ```
    pub fn retries(self, retries: u32) -> Self {
        self.policy(|policy| {
            Arc::make_mut(policy.retry.get_or_insert_with(Default::default)).times = retries
        })
    }

    /// How long the job waits before each next attempt (see [`JobMut::retries`]).
    pub fn backoff(self, backoff: Backoff) -> Self {
        self.policy(|policy| {
            Arc::make_mut(policy.retry.get_or_insert_with(Default::default)).backoff = backoff
        })
    }

    /// Which failures the job is tried again after (see [`JobMut::retries`]).
    pub fn retry_on(self, on: RetryOn) -> Self {
        self.policy(|policy| {
            Arc::make_mut(policy.retry.get_or_insert_with(Default::default)).on = on
        })
    }

    /// Makes the job use `amount` of the batch's named limit `name` while it runs (see
    /// [`Batch::limit`](super::Batch::limit) and [`Job::uses`](crate::Job::uses)); a
    /// second call for the same name replaces the amount.
    pub fn uses(self, name: &str, amount: u32) -> Self {
        self.policy(
            |policy| match policy.uses.iter_mut().find(|(used, _)| &**used == name) {
                Some((_, old)) => *old = amount,
                None => policy.uses.push((name.into(), amount)),
            },
        )
    }

    fn policy(self, change: impl FnOnce(&mut Policy)) -> Self {
        self.batch.changed |= self.batch.ran.is_some();
        let index = self.index;
        let policies = &mut self.batch.building.policies;
        let (policy, _) = policies.entry(index).or_default();
        change(policy);
        let set = !policy.is_empty();
        self.set(graph::POLICY, set)
    }

    fn set(self, flag: u8, on: bool) -> Self {
        self.batch.changed |= self.batch.ran.is_some();
        let flags = &mut self.batch.flags[self.index as usize];
        if on {
            *flags |= flag;
        } else {
            *flags &= !flag;
        }
        self
    }

    /// Makes the job wait for `required`. Requiring a job twice, or itself, does
    /// nothing; requiring a job of another batch is an error that `run` reports.
    pub fn requires(self, required: JobId) -> Self {
        let job = self.index;
        let batch = &mut *self.batch;
        batch.changed |= batch.ran.is_some();
        match batch.index(required) {
            Ok(r) if r as u32 == job => {}
            Ok(r) => {
                // The common case, a job's few requirements given together and after
                // those of earlier jobs, is checked for repeats here; any other is
                // sorted out when the batch is frozen.
                let mut repeat = false;
                let mut seen = 0;
                for &(j, other) in batch.pairs.iter().rev().take(TIDY_CHECK) {
                    if j != job {
                        batch.untidy |= j > job;
                        break;
                    }
                    repeat |= other == r as u32;
                    seen += 1;
                }
                batch.untidy |= seen == TIDY_CHECK;
                if !repeat {
                    batch.pairs.push((job, r as u32));
                }
            }
            Err(_) => batch.problems.push(Error::MissingRequirement {
                runner: Runner::Batch,
                scheduler: batch.label.clone(),
                job: batch.building.label(job as usize),
                required: format!("{required:?} of another batch"),
            }),
        }
        self
    }

    /// Makes the job wait for each of `required`.
    pub fn requires_all(mut self, required: impl IntoIterator<Item = JobId>) -> Self {
        for id in required {
            self = self.requires(id);
        }
        self
    }
}
