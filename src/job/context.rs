//! [`Context`]: what a running job can ask of its run.

use std::fmt::Debug;
use std::sync::{Arc, Weak};
use std::task::{Wake, Waker};
use std::time::{Duration, Instant};

use super::handle::{AnyJob, Job};
use super::id::JobId;
use super::outcome::Halt;
use crate::error::{Error, JobError};
use crate::sync::{thread, AtomicBool, Deadline, Ordering};

/// What a running job can ask of its run: whether it is cancelled, a sleep that
/// cancellation cuts short, and the results of the jobs it requires.
pub struct Context<'a> {
    run: &'a dyn Control,
    cancelled: &'a AtomicBool,
    /// The run's deadline, if it has one.
    deadline: Option<&'a Deadline>,
    index: u32,
    /// `None` for a job of a [`Batch`](crate::Batch).
    job: Option<&'a AnyJob>,
    /// The job's own policies (a timeout, retries), when it has some.
    /// A reference, so that a context without them stays as small as it was.
    own: Option<&'a Own<'a>>,
    /// Whether this job left a waker in the run's cancellation registry.
    registered: AtomicBool,
}

impl std::fmt::Debug for Context<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("index", &self.index)
            .field("job", &self.job)
            .finish_non_exhaustive()
    }
}

/// A job's own policies, as its context sees them: the flag its run sets at the job's
/// deadline, that deadline, and whether it may be tried again.
pub(crate) struct Own<'a> {
    /// Set by the run at the deadline (or by the context that sees it passed).
    pub(crate) expired: &'a AtomicBool,
    /// Counted from the job's start; `None` when it has no timeout, or one too far to
    /// count.
    pub(crate) deadline: Option<Deadline>,
    /// The timeout, for the job's error.
    pub(crate) timeout: Duration,
    /// Whether the job may be tried again (it has retries left): its run decides.
    pub(crate) retries: bool,
}

impl<'a> Context<'a> {
    #[inline]
    pub(crate) fn new(
        run: &'a dyn Control,
        cancelled: &'a AtomicBool,
        deadline: Option<&'a Deadline>,
        index: u32,
        job: Option<&'a AnyJob>,
    ) -> Self {
        Context {
            run,
            cancelled,
            deadline,
            index,
            job,
            own: None,
            registered: AtomicBool::new(false),
        }
    }

    /// The named limits of the job's run, which a run nested in the job shares.
    pub(crate) fn limits(&self) -> Option<std::sync::Arc<crate::limits::Limits>> {
        self.run.limits()
    }

    /// The same context, for a job with policies of its own.
    #[inline]
    pub(crate) fn with_own(mut self, own: Option<&'a Own<'a>>) -> Self {
        self.own = own;
        self
    }

    /// Whether the run asked this job to stop: a timeout (the run's, or the job's
    /// own), a critical failure elsewhere, or, for a forever job, the end of all other
    /// jobs. A long job should look now and then, and return early when it is.
    #[inline]
    pub fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Acquire)
            || self
                .own
                .as_ref()
                .is_some_and(|own| own.expired.load(Ordering::Acquire))
    }

    /// Whether the job's own timeout has passed (the run's flag, or this reading of
    /// the clock, which then sets the flag).
    #[inline]
    fn expired(&self) -> bool {
        let Some(own) = self.own else {
            return false;
        };
        if own.expired.load(Ordering::Acquire) {
            return true;
        }
        if own.deadline.as_ref().is_some_and(Deadline::passed) {
            own.expired.store(true, Ordering::SeqCst);
            return true;
        }
        false
    }

    /// Whether the job's run may give up on it after its own timeout: its seal then
    /// races that give-up (see `Outcome::seal_raced`).
    #[inline]
    pub(crate) fn may_be_given_up(&self) -> bool {
        self.own.as_ref().is_some_and(|own| own.deadline.is_some())
    }

    /// Whether the job, which ended as `halt` and `result` say, is to be tried again
    /// rather than sealed: asked of its run, for a failure (an error, a panic, its own
    /// timeout), never for a cancellation by its run. The run records the failure.
    pub(crate) fn try_again<T>(&self, halt: &Halt, result: &Result<T, JobError>) -> bool {
        if !self.own.as_ref().is_some_and(|own| own.retries) {
            return false;
        }
        let error = match (halt, result) {
            (Halt::Go, Err(error)) | (Halt::TimedOut(error), _) => error,
            _ => return false,
        };
        self.run.retry(self.index, error)
    }

    /// Whether the job is to stop, and why: [`halted`](Context::halted), with the
    /// job's own timeout told apart from its run's cancellation. A job past its own
    /// deadline has timed out, even if its run was cancelled meanwhile.
    pub(crate) fn halt(&self) -> Halt {
        if self.expired() {
            let timeout = self.own.as_ref().map_or(Duration::ZERO, |own| own.timeout);
            return Halt::TimedOut(JobError::new(Error::JobTimedOut {
                label: self.run.label(self.index),
                timeout,
            }));
        }
        Halt::from(self.halted_by_run())
    }

    /// Whether the job is to stop, without waiting for its run's coordinator: its run
    /// cancelled it, or the run's deadline has passed, which this reading of the clock
    /// makes the run's end (a timeout) at once. Asked as the very last thing before the
    /// job's body starts (a job halted then is cancelled without its body running), and
    /// again once the body has returned, before its end is sealed (a job halted then is
    /// cancelled, what it returned not kept): a job that returns after the deadline has
    /// not ended in time, whether or not its run's coordinator has woken up yet.
    ///
    /// A job with a timeout of its own is halted by it too (see [`halt`](Context::halt)).
    #[inline]
    pub(crate) fn halted(&self) -> bool {
        self.expired() || self.halted_by_run()
    }

    /// [`halted`](Context::halted), by the run alone.
    #[inline]
    fn halted_by_run(&self) -> bool {
        if self.cancelled.load(Ordering::Acquire) {
            return true;
        }
        if self.deadline.is_some_and(Deadline::passed) {
            self.run.time_out();
            return true;
        }
        false
    }

    /// Sleeps for `duration`, or less if the job is cancelled meanwhile. Returns true
    /// when it slept the whole time.
    ///
    /// `Duration::MAX` (or any duration too long to count from now) never ends by
    /// itself: the job sleeps until its run cancels it, and this returns false.
    pub fn sleep(&self, duration: Duration) -> bool {
        let deadline = Instant::now().checked_add(duration);
        self.on_cancel(&Waker::from(Arc::new(ThreadWaker(thread::current()))));
        loop {
            if self.is_cancelled() {
                return false;
            }
            match deadline {
                Some(deadline) => {
                    let now = Instant::now();
                    if now >= deadline {
                        return true;
                    }
                    thread::park_timeout(deadline - now);
                }
                None => thread::park(),
            }
        }
    }

    /// The result of a job this job requires.
    ///
    /// Fails with [`Error::NotRequired`] for a job it does not require (its result
    /// might not exist yet), and like [`Job::result`] if that job failed.
    pub fn get<'j, T: Send + Sync + Debug + 'static>(
        &self,
        job: &'j Job<T>,
    ) -> Result<&'j T, Error> {
        let required = self.job.is_some_and(|this| {
            let meta = this.node().core().meta.lock();
            meta.requires.iter().any(|r| r == &**job)
        });
        if !required {
            return Err(Error::NotRequired {
                job: self.run.label(self.index),
                other: job.text_label(),
            });
        }
        job.result()
    }

    /// The result of a job this job requires, in a [`Batch`](crate::Batch), as the
    /// batch's value type `T`.
    ///
    /// Fails with [`Error::NotRequired`] for a job it does not require,
    /// [`Error::NotInScheduler`] for a job of another batch (or when this job is not a
    /// batch's), [`Error::JobFailed`] when that job failed, and [`Error::WrongType`] when
    /// `T` is not the batch's value type.
    pub fn input<T: 'static>(&self, job: JobId) -> Result<&'a T, Error> {
        let value = self
            .run
            .input(self.index, job.batch(), job.index() as u32)?;
        value.downcast_ref::<T>().ok_or_else(|| Error::WrongType {
            job: self.run.label(job.index() as u32),
            asked: std::any::type_name::<T>(),
        })
    }

    /// The running job itself; `None` for a job of a [`Batch`](crate::Batch), which
    /// has no handle.
    pub fn job(&self) -> Option<&AnyJob> {
        self.job
    }

    /// This job's future returned `Pending` without a timer armed (stall detection).
    pub(crate) fn future_parked(&self) {
        self.run.future_parked()
    }

    /// This job's parked future is polled again.
    pub(crate) fn future_unparked(&self) {
        self.run.future_unparked()
    }

    /// Asks the run to wake `waker` when it cancels this job.
    pub(crate) fn on_cancel(&self, waker: &Waker) {
        self.registered.store(true, Ordering::Relaxed);
        self.run.on_cancel(self.index, waker);
    }
}

impl Drop for Context<'_> {
    #[inline]
    fn drop(&mut self) {
        if self.registered.load(Ordering::Relaxed) {
            self.run.forget_waker(self.index);
        }
    }
}

/// Wakes a thread parked in `Context::sleep`.
struct ThreadWaker(thread::Thread);

impl Wake for ThreadWaker {
    fn wake(self: Arc<Self>) {
        self.0.unpark()
    }
}

/// What a running job's [`Context`] asks of its run, whatever the run's jobs.
pub(crate) trait Control: Sync {
    fn future_parked(&self);
    fn future_unparked(&self);
    fn on_cancel(&self, index: u32, waker: &Waker);
    fn forget_waker(&self, index: u32);
    /// Ends the run by its timeout (a job saw the deadline passed); nothing when it has
    /// ended already.
    fn time_out(&self);
    /// Job `index` failed with `error`: whether it is to be tried again (its retries,
    /// which failures they cover, the run still going); if so, the failure is recorded.
    fn retry(&self, index: u32, error: &JobError) -> bool;
    fn label(&self, index: u32) -> String;
    /// The named limits of the run, which the runs nested in it share.
    fn limits(&self) -> Option<std::sync::Arc<crate::limits::Limits>>;
    /// The value of job `other` of batch `batch`, for job `index` that requires it.
    fn input(
        &self,
        index: u32,
        batch: u32,
        other: u32,
    ) -> Result<&(dyn std::any::Any + Send + Sync), Error>;
}

thread_local! {
    /// The run this thread is a worker of, during its shift.
    static SHIFT: std::cell::RefCell<Option<Weak<dyn Control>>> =
        const { std::cell::RefCell::new(None) };
    /// The index of the job this worker runs now, or [`NO_JOB`].
    static JOB: std::cell::Cell<u32> = const { std::cell::Cell::new(NO_JOB) };
}

/// No job runs on this thread.
const NO_JOB: u32 = u32::MAX;

/// This thread's shift as a worker of a run: a run started in the body of a job it
/// runs is cancelled with that job ([`link_to_running_job`]). Undone when dropped.
pub(crate) struct Shift(());

impl Shift {
    /// Starts a shift for `run`.
    pub(crate) fn start(run: Weak<dyn Control>) -> Shift {
        SHIFT.with(|shift| *shift.borrow_mut() = Some(run));
        Shift(())
    }

    /// Job `index` runs on this thread from now on (`None`: no job runs).
    #[inline]
    pub(crate) fn running(&self, index: Option<u32>) {
        JOB.with(|job| job.set(index.unwrap_or(NO_JOB)));
    }
}

impl Drop for Shift {
    fn drop(&mut self) {
        JOB.with(|job| job.set(NO_JOB));
        SHIFT.with(|shift| shift.borrow_mut().take());
    }
}

/// Where a run started inside a job is registered to be cancelled with it; the
/// registration ends when this is dropped.
pub(crate) struct Linked {
    run: Arc<dyn Control>,
    index: u32,
}

impl Drop for Linked {
    fn drop(&mut self) {
        self.run.forget_waker(self.index);
    }
}

/// When this thread runs a job of a run (it is that run's worker, in the job's body),
/// registers the waker `waker()` gives to be woken when the run cancels that job, as a
/// job's context does for a run it is given to ([`Context::on_cancel`]): what makes a
/// run started in a job's body (`Scheduler::run`, `Batch::run`) a part of that job.
/// `None`, and no waker made, on any other thread.
pub(crate) fn link_to_running_job(waker: impl FnOnce() -> Waker) -> Option<Linked> {
    let index = JOB.with(std::cell::Cell::get);
    if index == NO_JOB {
        return None;
    }
    let run = SHIFT.with(|shift| shift.borrow().as_ref().and_then(Weak::upgrade))?;
    run.on_cancel(index, &waker());
    Some(Linked { run, index })
}
