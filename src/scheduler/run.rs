//! A scheduler's run: checking the graph (and nested schedulers' graphs) before
//! anything runs, handing it to the engine, and turning how the run ended into
//! asynciojobs' answer (`Ok(true)`, `Ok(false)` or the error).

use std::sync::Arc;

use super::{Conf, Prepared, SchedInner};
use crate::engine::{
    answer, no_worker, CancelRun, Door, Emitter, Event, Observer, Pool, Reason, Run, Settings,
};
use crate::error::{Error, JobError, Runner};
use crate::graph;
use crate::job::{requirements_added, state, AnyJob, Context, CRITICAL};
use crate::report::{why_line, Recorder, Verbose};
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
        let mut scope = graph::Scope::default();
        let mut prepared = self.validate_in(&mut scope)?;
        prepared.limits = scope.into_limits();
        Ok(prepared)
    }

    /// [`validate`](Self::validate), within the named limits of the schedulers around
    /// this one.
    fn validate_in(&self, scope: &mut graph::Scope) -> Result<Prepared, Error> {
        if let Some(problem) = self.problems.lock().first() {
            return Err(problem.clone());
        }
        if self.report.lock().ran {
            return Err(Error::AlreadyRan {
                runner: Runner::Scheduler,
                label: self.label(),
            });
        }
        let added = requirements_added();
        let jobs = self.jobs.lock().clone();
        let mut frozen = graph::freeze(
            self.id,
            &self.label(),
            &jobs,
            || Arc::ptr_eq(&self.jobs.lock(), &jobs),
            // A big graph's freeze is shared with a thread of the pool the run will use;
            // refused, the work is dropped undone, and done by the freeze itself.
            |work| {
                let pool = self.conf.lock().pool.clone().unwrap_or_else(Pool::current);
                drop(pool.hire(Box::new(move |_| work())));
            },
        )?;
        let limits = self.conf.lock().limits.clone();
        let defined = scope.enter(Runner::Scheduler, &self.label(), &limits)?;
        frozen.shares = scope.resolve(|i| jobs[i as usize].text_label(), &frozen)?;
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
        for i in nested {
            let job = &jobs[i];
            if let Some(nested) = super::inner_of(job) {
                let share = frozen.share(i as u32);
                scope.hold(job, share);
                let prepared = nested.validate_in(scope)?;
                scope.release(share.len());
                *nested.prepared.lock() = Some(prepared);
            }
        }
        scope.leave(defined);
        Ok(Prepared {
            jobs,
            frozen,
            limits: None,
        })
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
                runner: Runner::Scheduler,
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
        let Prepared {
            jobs,
            frozen,
            limits,
        } = prepared;
        let conf = self.conf.lock().clone();
        let recorder = self.recorder_for(&conf, &jobs, &frozen);
        let observers = self.observers(&conf, &jobs, &frozen, recorder);
        let mut settings = Settings::for_run(
            conf.window,
            conf.timeout,
            conf.grace,
            label.clone(),
            Emitter::new(&label, &observers, jobs.len()),
            conf.stall_timeout,
            conf.pool.clone(),
        );
        // A nested scheduler's jobs share the limits of the tree it is in.
        settings.limits = limits.or_else(|| parent.and_then(Context::limits));
        let run = Run::new(jobs.clone(), Arc::new(frozen), &settings);
        if let Some(attach) = attach {
            attach(&run);
        }
        let _linked = CancelRun::with_job(&run, parent);
        let ending = run.execute(&settings).map_err(no_worker)?;
        let mut report = self.report.lock();
        match ending {
            Reason::Finished => {}
            Reason::Cancelled => report.cancelled = true,
            Reason::Timeout => report.timed_out = true,
            Reason::Stalled => report.stalled = true,
            Reason::Critical => report.failed_critical = true,
        }
        let door = Door {
            runner: Runner::Scheduler,
            label,
            critical: self.core.has_flag(CRITICAL),
            timeout: conf.timeout,
            stall_timeout: conf.stall_timeout,
            unwrap_errors: true,
        };
        answer(&run, ending, door, |i| jobs[i].is_critical())
    }

    pub(crate) fn shutdown_jobs(&self) {
        let jobs = self.jobs.lock().clone();
        for job in jobs.iter() {
            job.node().shutdown();
        }
    }
}

impl SchedInner {
    /// The recorder of this run's timeline, when it records one: asked for, or nested
    /// in a scheduler that records. Its nested schedulers then record theirs.
    fn recorder_for(
        &self,
        conf: &Conf,
        jobs: &Arc<Vec<AnyJob>>,
        frozen: &graph::Frozen,
    ) -> Option<Arc<Recorder>> {
        if !conf.timeline && !self.report.lock().record_for_parent {
            return None;
        }
        for i in (0..jobs.len()).filter(|&i| graph::is_nested(frozen, i)) {
            if let Some(nested) = super::inner_of(&jobs[i]) {
                nested.report.lock().record_for_parent = true;
            }
        }
        let recorder = Arc::new(Recorder::new(jobs.clone()));
        *self.recorder.lock() = Some(recorder.clone());
        Some(recorder)
    }

    /// The observers of a run: the timeline's recorder and verbose mode's printer
    /// first, when they are on, then the user's.
    fn observers(
        &self,
        conf: &Conf,
        jobs: &Arc<Vec<AnyJob>>,
        frozen: &graph::Frozen,
        recorder: Option<Arc<Recorder>>,
    ) -> Vec<Observer> {
        if !conf.verbose && recorder.is_none() {
            return conf.observers.clone();
        }
        let mut observers: Vec<Observer> = Vec::new();
        if let Some(recorder) = recorder {
            observers.push(Arc::new(move |event: &Event| recorder.observe(event)));
        }
        if conf.verbose {
            let verbose = Verbose::new(conf.watch.clone(), jobs, frozen);
            observers.push(Arc::new(move |event: &Event| verbose.print(event)));
        }
        observers.extend(conf.observers.iter().cloned());
        observers
    }
}

/// Told of a run before it starts: how `run_async` gets hold of the run to cancel it.
pub(crate) type Attach<'a> = &'a dyn Fn(&Arc<Run>);
