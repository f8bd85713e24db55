//! A scheduler's run: checking the graph (and nested schedulers' graphs) before
//! anything runs, handing it to the engine, and turning how the run ended into
//! asynciojobs' answer (`Ok(true)`, `Ok(false)` or the error).

use std::sync::Arc;

use super::{Conf, Prepared, SchedInner};
use crate::engine::{no_worker, CancelRun, Emitter, Event, Observer, Reason, Run, Settings};
use crate::error::{Error, JobError};
use crate::graph;
use crate::job::{link_to_running_job, requirements_added, state, AnyJob, Context, CRITICAL};
use crate::report::{why_line, Verbose};
use crate::sync::Ordering;

impl SchedInner {
    /// What [`Scheduler::why`](super::Scheduler::why) says.
    pub(crate) fn why_text(&self) -> String {
        let report = self.report.lock();
        let timeout = if report.timed_out {
            self.conf.lock().timeout
        } else {
            None
        };
        why_line(
            timeout,
            report.stalled,
            report.failed_critical,
            report.cancelled,
        )
    }

    pub(crate) fn label(&self) -> String {
        self.core
            .meta
            .lock()
            .label()
            .unwrap_or("NOLABEL")
            .to_string()
    }

    /// Checks this scheduler and those nested in it, without running anything, and
    /// keeps each one's frozen graph for its run: a nested scheduler is checked with
    /// the whole tree, before anything starts, and not again when it runs.
    pub(crate) fn validate(&self) -> Result<Prepared, Error> {
        if let Some(problem) = self.problems.lock().first() {
            return Err(problem.clone());
        }
        if self.report.lock().ran {
            return Err(Error::AlreadyRan {
                label: self.label(),
            });
        }
        let added = requirements_added();
        let jobs = self.jobs.lock().clone();
        let mut frozen = graph::freeze(self.id, &self.label(), &jobs)?;
        if !frozen.hints.is_empty() || self.conf.lock().longest_path_first {
            graph::rank(&mut frozen, |_| None);
        }
        let list = self.jobs.lock();
        // The list frozen is the list now (an `add` or `remove` meanwhile copied it):
        // under its lock, so that one that follows clears this.
        let acyclic = frozen.forward && Arc::ptr_eq(&list, &jobs);
        self.acyclic.store(
            if acyclic { added } else { super::NOT_ACYCLIC },
            Ordering::Relaxed,
        );
        drop(list);
        let nested = (0..jobs.len()).filter(|&i| graph::is_nested(&frozen, i));
        for job in nested.map(|i| &jobs[i]) {
            if let Some(nested) = super::inner_of(job) {
                let prepared = nested.validate()?;
                *nested.prepared.lock() = Some(prepared);
            }
        }
        Ok(Prepared { jobs, frozen })
    }

    /// Validates the whole tree, then marks this scheduler as run.
    pub(crate) fn prepare(&self) -> Result<Prepared, Error> {
        let prepared = self.validate()?;
        self.mark_ran()?;
        Ok(prepared)
    }

    /// A run of this scheduler on its own ([`run`](super::Scheduler::run),
    /// [`run_async`](super::Scheduler::run_async)): checks the tree, runs it, and
    /// records how it went as the scheduler's own state and outcome, as a nested
    /// scheduler's are, so that `state()`, `is_done()` and `result()` answer for it.
    pub(crate) fn run_top(&self, attach: Option<Attach<'_>>) -> Result<bool, Error> {
        let prepared = self.prepare()?;
        self.report.lock().top_level = true;
        self.core.state.store(state::RUNNING, Ordering::Release);
        let result = self.run_prepared(prepared, None, attach);
        let cancelled = self.report.lock().cancelled;
        let kept = result.clone().map_err(JobError::new);
        self.outcome.seal(&self.core.state, cancelled, kept);
        result
    }

    /// What the parent's `prepare` checked, for a nested run; checked anew when missing.
    pub(crate) fn prepare_nested(&self) -> Result<Prepared, Error> {
        match self.prepared.lock().take() {
            Some(prepared) => {
                self.mark_ran()?;
                Ok(prepared)
            }
            None => self.prepare(),
        }
    }

    pub(crate) fn mark_ran(&self) -> Result<(), Error> {
        let mut report = self.report.lock();
        if report.ran {
            return Err(Error::AlreadyRan {
                label: self.label(),
            });
        }
        report.ran = true;
        Ok(())
    }

    /// Runs what `prepare` gave. `parent`: the job context of a nested run;
    /// `attach`: told of the run before it starts (`run_async`, to cancel it).
    pub(crate) fn run_prepared(
        &self,
        prepared: Prepared,
        parent: Option<&Context<'_>>,
        attach: Option<Attach<'_>>,
    ) -> Result<bool, Error> {
        let label = self.label();
        let Prepared { jobs, frozen } = prepared;
        let conf = self.conf.lock().clone();
        let settings = Settings::for_run(
            conf.window,
            conf.timeout,
            conf.grace,
            label.clone(),
            Emitter::new(&label, &self.observers(&conf, &jobs, &frozen), jobs.len()),
            conf.stall_timeout,
            conf.pool.clone(),
        );
        let run = Run::new(jobs.clone(), Arc::new(frozen), &settings);
        if let Some(attach) = attach {
            attach(&run);
        }
        // Cancelled with the job it runs in: a nested scheduler's, or the job whose body
        // called `run` on this thread.
        let _linked = match parent {
            Some(ctx) => {
                ctx.on_cancel(&CancelRun::waker(&run));
                None
            }
            None => link_to_running_job(|| CancelRun::waker(&run)),
        };
        let ending = run.execute(&settings).map_err(no_worker)?;
        let mut report = self.report.lock();
        let critical = self.core.has_flag(CRITICAL);
        match ending {
            Reason::Finished => Ok(true),
            Reason::Cancelled => {
                report.cancelled = true;
                Ok(false)
            }
            Reason::Timeout => {
                report.timed_out = true;
                match (critical, conf.timeout) {
                    (true, Some(timeout)) => Err(Error::Timeout { label, timeout }),
                    _ => Ok(false),
                }
            }
            Reason::Stalled => {
                report.stalled = true;
                let (running, ready) = run.stall.seen.lock().take().unwrap_or_default();
                match (critical, conf.stall_timeout) {
                    (true, Some(timeout)) => Err(Error::Stalled {
                        label,
                        timeout,
                        running,
                        ready,
                    }),
                    _ => Ok(false),
                }
            }
            Reason::Critical => {
                report.failed_critical = true;
                if !critical {
                    return Ok(false);
                }
                for job in jobs.iter().filter(|job| job.is_critical()) {
                    if let Some(error) = job.raised_exception() {
                        return Err(match error.downcast_ref::<Error>() {
                            Some(inner) => inner.clone(),
                            None => Error::JobFailed {
                                label: job.text_label(),
                                source: error,
                            },
                        });
                    }
                }
                Ok(false)
            }
        }
    }

    pub(crate) fn shutdown_jobs(&self) {
        let jobs = self.jobs.lock().clone();
        for job in jobs.iter() {
            job.node().shutdown();
        }
    }
}

impl SchedInner {
    /// The observers of a run: verbose mode's printer first, when it is on, then the
    /// user's.
    fn observers(
        &self,
        conf: &Conf,
        jobs: &Arc<Vec<AnyJob>>,
        frozen: &graph::Frozen,
    ) -> Vec<Observer> {
        if !conf.verbose {
            return conf.observers.clone();
        }
        let verbose = Verbose::new(conf.watch.clone(), jobs, frozen);
        let mut observers: Vec<Observer> =
            vec![Arc::new(move |event: &Event| verbose.print(event))];
        observers.extend(conf.observers.iter().cloned());
        observers
    }
}

/// Told of a run before it starts: how `run_async` gets hold of the run to cancel it.
pub(crate) type Attach<'a> = &'a dyn Fn(&Arc<Run>);
