//! [`Context`]: what a running job can ask of its run.

use std::fmt::Debug;
use std::sync::Arc;
use std::task::{Wake, Waker};
use std::time::{Duration, Instant};

use crate::engine::Run;
use crate::error::Error;
use crate::handle::{AnyJob, Job};
use crate::sync::{thread, AtomicBool, Ordering};

/// What a running job can ask of its run: whether it is cancelled, a sleep that
/// cancellation cuts short, and the results of the jobs it requires.
pub struct Context<'a> {
    run: &'a Run,
    index: u32,
    job: &'a AnyJob,
    /// Whether this job left a waker in the run's cancellation registry.
    registered: AtomicBool,
}

impl<'a> Context<'a> {
    pub(crate) fn new(run: &'a Run, index: u32, job: &'a AnyJob) -> Self {
        Context {
            run,
            index,
            job,
            registered: AtomicBool::new(false),
        }
    }

    /// Whether the run asked this job to stop: a timeout, a critical failure elsewhere,
    /// or, for a forever job, the end of all other jobs. A long job should look now and
    /// then, and return early when it is.
    pub fn is_cancelled(&self) -> bool {
        self.run.is_cancelled()
    }

    /// Sleeps for `duration`, or less if the job is cancelled meanwhile. Returns true
    /// when it slept the whole time.
    pub fn sleep(&self, duration: Duration) -> bool {
        let deadline = Instant::now() + duration;
        self.on_cancel(&Waker::from(Arc::new(ThreadWaker(thread::current()))));
        loop {
            if self.is_cancelled() {
                return false;
            }
            let now = Instant::now();
            if now >= deadline {
                return true;
            }
            thread::park_timeout(deadline - now);
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
        let required = self
            .job
            .node()
            .core()
            .meta
            .lock()
            .requires
            .iter()
            .any(|r| r == &**job);
        if !required {
            return Err(Error::NotRequired {
                job: self.job.text_label(),
                other: job.text_label(),
            });
        }
        job.result()
    }

    /// The running job itself.
    pub fn job(&self) -> &AnyJob {
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
