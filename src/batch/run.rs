//! A batch's run: freezing its graph at the first run, making its jobs idle again for
//! the next ones, handing it to the engine, and the answer.

use std::fmt::Debug;
use std::sync::Arc;
use std::time::Duration;

use super::cells::Cells;
use super::{Batch, ONCE};
use crate::engine::{answer, no_worker, CancelRun, Door, Run, Settings, Table, Workers};
use crate::error::{Error, Runner};
use crate::graph;
use crate::job::{Context, CRITICAL, FOREVER};
use crate::limits::Limits;
use crate::sync::global::AtomicU64;
use crate::sync::Ordering;

/// How long a new run waits for the workers of the last one to leave it.
const LET_GO: Duration = Duration::from_secs(1);

impl<T: Send + Sync + Debug + 'static> Batch<T> {
    /// Runs every job, each once all its requirements are done, at most `window` at a
    /// time; blocks until the end.
    ///
    /// `Ok(true)` when every non-forever job completed. `Err` with the failed job's own
    /// error ([`Error::JobFailed`]) when a critical job failed (the first in index
    /// order), [`Error::Timeout`] past the timeout, and, before anything starts, for a
    /// mistake in the graph: a cycle, a requirement on a forever job or on a job of
    /// another batch, a second run.
    ///
    /// Called in the body of a job of another run (a scheduler's or a batch's), the run
    /// is part of that job, as with [`run_within`](Batch::run_within): it is cancelled
    /// when that job is, and then returns `Ok(false)`.
    pub fn run(&mut self) -> Result<bool, Error> {
        self.run_in(None)
    }

    /// Runs the batch from inside a job of a scheduler (or of another batch), as a
    /// nested scheduler runs: on workers of its own, with its own window and timeout,
    /// and cancelled when that job is (its timeout, a critical failure elsewhere, the
    /// end of a forever job's run). `Ok(false)` when it was cancelled so; otherwise as
    /// [`run`](Batch::run).
    ///
    /// ```
    /// use jobgraph::{Batch, Job, Scheduler};
    ///
    /// // A job of a scheduler whose value is the batch it ran.
    /// let squares = Job::new(|ctx| {
    ///     let mut batch = Batch::new().window(2);
    ///     let ids: Vec<_> = (0..100u64).map(|i| batch.add(move |_| i * i).id()).collect();
    ///     let fine = batch.run_within(ctx)?;
    ///     let sum: u64 = ids.iter().map(|&id| *batch.result(id).unwrap_or(&0)).sum();
    ///     Ok::<_, jobgraph::Error>((fine, sum))
    /// });
    /// Scheduler::new().add(&squares).run().unwrap();
    /// assert_eq!(*squares.result().unwrap(), (true, 328_350));
    /// ```
    pub fn run_within(&mut self, ctx: &Context<'_>) -> Result<bool, Error> {
        self.run_in(Some(ctx))
    }

    fn run_in(&mut self, parent: Option<&Context<'_>>) -> Result<bool, Error> {
        if let Some(problem) = self.problems.first() {
            return Err(problem.clone());
        }
        let (cells, frozen) = match self.ran.take() {
            None => {
                let mut frozen = self.freeze()?;
                if self.longest_path_first || !frozen.hints.is_empty() {
                    graph::rank(&mut frozen, |_| None);
                    let n = self.building.slots.len();
                    self.building.measured = Some((0..n).map(|_| Default::default()).collect());
                }
                let frozen = Arc::new(frozen);
                self.pairs = Vec::new();
                (Arc::new(std::mem::take(&mut self.building)), frozen)
            }
            Some(cells) => match self.prepare_again(&cells) {
                Ok(frozen) => (cells, frozen),
                Err(error) => {
                    self.ran = Some(cells);
                    return Err(error);
                }
            },
        };
        self.ran = Some(Arc::clone(&cells));
        self.graph = Some(Arc::clone(&frozen));
        self.ending = None;
        let mut settings = Settings::for_run(
            self.window,
            self.timeout,
            self.grace,
            self.label.clone(),
            None,
            self.stall_timeout,
            self.pool.clone(),
        );
        if !self.limits.is_empty() && !frozen.shares.is_empty() {
            settings.limits = Some(Arc::new(Limits::new(self.limits.clone())));
        }
        let run = Run::new(cells, frozen, &settings);
        let workers: Arc<dyn Workers> = run.clone();
        self.last_run = Some(Arc::downgrade(&workers));
        let _linked = CancelRun::with_job(&run, parent);
        let ending = run.execute(&settings).map_err(no_worker)?;
        self.ending = Some(ending);
        let door = Door {
            runner: Runner::Batch,
            label: self.label.clone(),
            critical: true,
            timeout: Some(self.timeout.unwrap_or_default()),
            stall_timeout: Some(self.stall_timeout.unwrap_or_default()),
            unwrap_errors: false,
        };
        answer(&run, ending, door, |i| self.flags[i] & CRITICAL != 0)
    }

    /// Makes the jobs of the last run idle again for a new one, once that is sound:
    /// every job added with `add_mut` (else [`Error::AlreadyRan`]), none added or set
    /// up since, every job of the last run returned. The results of the last run stay readable when it is not.
    #[allow(unsafe_code)] // `Slot::reset`
    fn prepare_again(&mut self, cells: &Arc<Cells<T>>) -> Result<Arc<graph::Frozen>, Error> {
        if self.one_shot {
            return Err(Error::AlreadyRan {
                runner: Runner::Batch,
                label: self.label.clone(),
            });
        }
        let (Some(frozen), false) = (&self.graph, self.changed) else {
            return Err(Error::ChangedAfterRun {
                label: self.label.clone(),
            });
        };
        let still_running = |cells: &Cells<T>| {
            (0..cells.len())
                .find(|&i| !cells.slots[i].returned())
                .map(|i| Error::StillRunning {
                    label: self.label.clone(),
                    job: cells.label(i),
                })
        };
        if let Some(error) = still_running(cells) {
            return Err(error);
        }
        // A worker of the last run that has not left its job loop yet might still
        // start a job it took before that run ended (it would be given up on): wait for
        // them all to leave, which takes microseconds unless one is in a job.
        if let Some(run) = self.last_run.as_ref().and_then(std::sync::Weak::upgrade) {
            let waited = std::time::Instant::now();
            while run.workers_alive() > 0 {
                if waited.elapsed() >= LET_GO {
                    return Err(still_running(cells).unwrap_or(Error::StillRunning {
                        label: self.label.clone(),
                        job: "a worker of the last run".to_string(),
                    }));
                }
                std::thread::yield_now();
            }
        }
        let frozen = match &cells.measured {
            Some(measured) => Arc::new(rerank(frozen, measured)),
            None => Arc::clone(frozen),
        };
        cells.failed.lock().clear();
        for slot in &cells.slots {
            // SAFETY: every job of the last run has returned and every worker of that
            // run has left its job loop (above): no execution of a slot is in flight,
            // and nothing starts one until the next run, after this; `&mut self` rules
            // out a borrowed result.
            unsafe { slot.reset() }
        }
        Ok(frozen)
    }

    /// Checks the graph and builds its dense form.
    fn freeze(&mut self) -> Result<graph::Frozen, Error> {
        if self.untidy {
            // Requirements added out of job order, or many to one job: group them by
            // job, and drop the repeats.
            self.pairs.sort_unstable();
            self.pairs.dedup();
        }
        for &(job, required) in &self.pairs {
            if self.flags[required as usize] & FOREVER != 0 {
                return Err(Error::RequiresForever {
                    job: self.building.label(job as usize),
                    forever: self.building.label(required as usize),
                });
            }
        }
        // `ONCE` is the batch's own: not a bit of the frozen graph.
        let flags = self.flags.iter().map(|&flags| flags & !ONCE).collect();
        let mut frozen = graph::from_sorted_pairs(flags, &self.pairs);
        for (&i, (policy, _)) in &self.building.policies {
            if let Some(problem) = graph::policy_problem(policy, self.flags[i as usize] & ONCE == 0)
            {
                return Err(Error::Policy {
                    job: self.building.label(i as usize),
                    problem,
                });
            }
        }
        let policies = self.building.policies.iter();
        frozen.policies = policies
            .filter(|(_, (policy, _))| !policy.is_empty())
            .map(|(&i, (policy, _))| (i, policy.clone()))
            .collect();
        frozen.policies.sort_unstable_by_key(|(i, _)| *i);
        for (&i, hint) in &self.building.hints {
            if let Some(problem) = hint.problem(self.flags[i as usize] & FOREVER != 0) {
                return Err(Error::Policy {
                    job: self.building.label(i as usize),
                    problem,
                });
            }
        }
        let hints = self
            .building
            .hints
            .iter()
            .filter(|(_, hint)| !hint.is_empty());
        frozen.hints = hints.map(|(&i, &hint)| (i, hint)).collect();
        frozen.hints.sort_unstable_by_key(|(i, _)| *i);
        let mut scope = graph::Scope::default();
        scope.enter(Runner::Batch, &self.label, &self.limits)?;
        frozen.shares = scope.resolve(|i| self.building.label(i as usize), &frozen)?;
        if !frozen.forward {
            if let Some(cycle) = graph::find_cycle(&frozen) {
                return Err(Error::Cycle {
                    runner: Runner::Batch,
                    scheduler: self.label.clone(),
                    jobs: cycle.iter().map(|&i| self.building.label(i)).collect(),
                });
            }
        }
        Ok(frozen)
    }
}

/// `frozen`, ranked again for a run that follows one whose jobs took `measured`
/// nanoseconds each (0: it did not end): a job without a cost hint counts its time in
/// seconds, or the mean of the measured ones when it has none.
fn rerank(frozen: &graph::Frozen, measured: &[AtomicU64]) -> graph::Frozen {
    let nanos: Vec<u64> = measured
        .iter()
        .map(|m| m.swap(0, Ordering::Relaxed))
        .collect();
    let ended = nanos.iter().filter(|&&n| n > 0);
    let (count, sum) = ended.fold((0u64, 0f64), |(c, s), &n| (c + 1, s + n as f64));
    let mean = if count > 0 { sum / count as f64 } else { 1e9 };
    let mut frozen = frozen.clone();
    graph::rank(&mut frozen, |i| {
        Some(if nanos[i] > 0 { nanos[i] as f64 } else { mean } / 1e9)
    });
    frozen
}
