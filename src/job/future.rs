//! Future jobs: [`Job::future`], and [`drive`], which polls a future on its worker with
//! `pollster` until it ends or its run is cancelled.

use std::fmt::Debug;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::{pin, Pin};
use std::task::{Poll, Waker};

use super::context::Context;
use super::handle::Job;
use super::node::{Body, Named};
use super::output::JobOutput;
use crate::error::JobError;
use crate::timer;

pub(crate) struct FutureBody<Fut> {
    future: Option<Fut>,
}

impl<Fut> Body for FutureBody<Fut>
where
    Fut: Future + Send + 'static,
    Fut::Output: JobOutput,
{
    type Value = <Fut::Output as JobOutput>::Value;
    type Desc = Named<Fut>;

    fn run(&mut self, ctx: &Context<'_>) -> Result<Self::Value, JobError> {
        let Some(future) = self.future.take() else {
            return Err(JobError::new(
                "job future already consumed by an earlier run",
            ));
        };
        match drive(future, ctx) {
            Some(output) => output.into_result(),
            // Cancelled: the future is dropped; `execute` records the cancellation.
            None => Err(JobError::new("cancelled")),
        }
    }

    fn describe(&self) -> Named<Fut> {
        Named(PhantomData)
    }
}

/// The body of a future job made again for each attempt: [`Job::future_from`].
pub(crate) struct FactoryBody<F> {
    make: F,
}

impl<F, Fut> Body for FactoryBody<F>
where
    F: FnMut() -> Fut + Send + 'static,
    Fut: Future + 'static,
    Fut::Output: JobOutput,
{
    type Value = <Fut::Output as JobOutput>::Value;
    type Desc = Named<Fut>;

    fn run(&mut self, ctx: &Context<'_>) -> Result<Self::Value, JobError> {
        match drive((self.make)(), ctx) {
            Some(output) => output.into_result(),
            // Cancelled: the future is dropped; `execute` records the cancellation.
            None => Err(JobError::new("cancelled")),
        }
    }

    const AGAIN: bool = true;

    fn describe(&self) -> Named<Fut> {
        Named(PhantomData)
    }
}

/// Drives a future to completion on this thread, or until the run is cancelled.
///
/// A first poll with a no-op waker finishes a future that is ready at once without any
/// allocation; a future that waits is handed to `pollster`, wrapped so that each poll
/// looks at the cancellation flag and cancellation wakes it.
pub(crate) fn drive<Fut: Future>(future: Fut, ctx: &Context<'_>) -> Option<Fut::Output> {
    let mut future = pin!(future);
    let mut noop = std::task::Context::from_waker(Waker::noop());
    if let Poll::Ready(output) = future.as_mut().poll(&mut noop) {
        return Some(output);
    }
    pollster::block_on(Cancellable {
        future,
        ctx,
        parked: false,
    })
}

struct Cancellable<'a, 'c, Fut: Future> {
    future: Pin<&'a mut Fut>,
    ctx: &'a Context<'c>,
    /// Counted as parked for stall detection (see `engine::stall`).
    parked: bool,
}

impl<Fut: Future> Drop for Cancellable<'_, '_, Fut> {
    fn drop(&mut self) {
        if self.parked {
            self.ctx.future_unparked();
        }
    }
}

impl<Fut: Future> Future for Cancellable<'_, '_, Fut> {
    type Output = Option<Fut::Output>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<Self::Output> {
        if self.parked {
            self.parked = false;
            self.ctx.future_unparked();
        }
        if self.ctx.is_cancelled() {
            return Poll::Ready(None);
        }
        timer::take_armed();
        if let Poll::Ready(output) = self.future.as_mut().poll(cx) {
            return Poll::Ready(Some(output));
        }
        // Registered before the second look at the flag: a cancel in between wakes us.
        self.ctx.on_cancel(cx.waker());
        if self.ctx.is_cancelled() {
            return Poll::Ready(None);
        }
        if !timer::take_armed() {
            self.parked = true;
            self.ctx.future_parked();
        }
        Poll::Pending
    }
}

impl<T: Send + Sync + Debug + 'static> Job<T> {
    /// A job that drives a future to completion on a worker thread, with `pollster`.
    ///
    /// The future has its worker (and its slot in the window) to itself until it ends,
    /// waiting included, as a closure job that blocks would. A cancelled future is
    /// dropped at its next pending poll.
    ///
    /// # What it can await
    ///
    /// `pollster` is a plain `block_on`: no reactor, no timer wheel. Futures that wake
    /// their task through its waker, whoever polls them, work:
    ///
    /// * [`jobgraph::sleep`](crate::sleep) for timers (cut short when the run is
    ///   cancelled);
    /// * channels and locks of runtime-agnostic crates: `async-channel`,
    ///   `futures::channel` (`mpsc`, `oneshot`), `tokio::sync` (which needs no tokio
    ///   runtime), fed by jobs running at the same time or by other threads;
    /// * `futures` combinators (`join`, `select`), async blocks and functions built on
    ///   these; `async-io`'s (smol's) timers and sockets, which bring their own reactor
    ///   thread.
    ///
    /// Futures that need tokio's reactor or timer do not: `tokio::time::sleep`,
    /// `timeout` and `interval`, `tokio::net`, `tokio::process`, `tokio::fs`,
    /// `tokio::spawn`. They panic ("no reactor running"), and the job fails with that
    /// panic, even when the run itself is awaited inside a tokio runtime: the job runs
    /// on jobgraph's worker, not in the runtime.
    ///
    /// A future that waits for another job of the same run must be running at the same
    /// time as that job: with a window too narrow for both, the run stalls, and is
    /// reported (see [`Scheduler::stall_timeout`](crate::Scheduler::stall_timeout)).
    ///
    /// # Tokio's futures: a closure job that enters the runtime
    ///
    /// Capture a [`tokio::runtime::Handle`] and run the future with its `block_on` from
    /// a closure job: the future then runs on the worker with the runtime's reactor and
    /// timers. This works with a multi-thread runtime, and with a current-thread one
    /// while its thread is inside its own `block_on` (say, awaiting
    /// [`run_async`](crate::Scheduler::run_async)); never block that thread with
    /// [`run`](crate::Scheduler::run) there. Such a job does not see the run's
    /// cancellation while inside `block_on`: bound it with `tokio::time::timeout`.
    ///
    /// [`tokio::runtime::Handle`]: https://docs.rs/tokio/1/tokio/runtime/struct.Handle.html
    ///
    /// ```
    /// use std::time::Duration;
    /// use jobgraph::{Job, Scheduler};
    ///
    /// let rt = tokio::runtime::Runtime::new().unwrap();
    /// let handle = rt.handle().clone();
    /// let fetch = Job::new(move |_| {
    ///     handle.block_on(async {
    ///         let work = tokio::time::sleep(Duration::from_millis(10));
    ///         tokio::time::timeout(Duration::from_secs(5), work).await.map(|()| "fetched")
    ///     })
    /// });
    /// // A runtime-agnostic future, as a future job.
    /// let wait = Job::future(async {
    ///     jobgraph::sleep(Duration::from_millis(10)).await;
    ///     7
    /// });
    /// let s = Scheduler::new();
    /// s.add((&fetch, &wait));
    /// assert!(rt.block_on(s.run_async()).unwrap());
    /// assert_eq!(*fetch.result().unwrap(), "fetched");
    /// assert_eq!(*wait.result().unwrap(), 7);
    /// ```
    pub fn future<Fut>(future: Fut) -> Self
    where
        Fut: Future + Send + 'static,
        Fut::Output: JobOutput<Value = T>,
    {
        Job::from_body(FutureBody {
            future: Some(future),
        })
    }

    /// A job that drives, at each attempt, a future that `make` makes: what a future
    /// job with [`retries`](Job::retries) needs. Otherwise as [`Job::future`] (the
    /// future need not be `Send`: it is made and driven on the job's worker).
    ///
    /// ```
    /// use jobgraph::{Job, Scheduler};
    /// let job = Job::future_from(|| async { 6 * 7 }).retries(2);
    /// Scheduler::new().add(&job).run().unwrap();
    /// assert_eq!(*job.result().unwrap(), 42);
    /// ```
    pub fn future_from<F, Fut>(make: F) -> Self
    where
        F: FnMut() -> Fut + Send + 'static,
        Fut: Future + 'static,
        Fut::Output: JobOutput<Value = T>,
    {
        Job::from_body(FactoryBody { make })
    }
}
