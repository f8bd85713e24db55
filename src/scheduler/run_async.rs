//! [`Scheduler::run_async`]: a whole run as a future, for async code.
//!
//! The run happens on jobgraph's threads: the first poll hires a thread of the pool to
//! coordinate it, doing what [`Scheduler::run`] does, and wakes the awaiting task when the run is
//! over. The future itself never blocks, so it suits any executor (tokio, smol,
//! async-std, `pollster::block_on`), and jobgraph depends on none of them.
//!
//! A panic on the coordinator thread (which `run` would raise in its caller) is kept
//! and raised again where the future is polled, rather than leaving it pending forever.

use std::any::Any;
use std::future::Future;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::{Arc, Weak};
use std::task::{Context, Poll, Waker};

use crate::engine::{no_worker, Pool, Reason, Run};
use crate::error::Error;
use crate::scheduler::Scheduler;
use crate::sync::Mutex;

/// The future of [`Scheduler::run_async`]: resolves to what [`Scheduler::run`] returns.
///
/// It is `Send + 'static`, so it can be awaited in place or spawned as a task of its
/// own. Nothing happens until it is first polled: a future dropped unpolled leaves the
/// scheduler as it was, free to run.
///
/// Dropping it once polled, before it resolves, cancels the run, as a timeout does:
/// nothing new starts, running jobs are cancelled (a closure job sees
/// [`Context::is_cancelled`](crate::Context::is_cancelled) and its
/// [`Context::sleep`](crate::Context::sleep) returns early; a future job is dropped at
/// its next pending poll), and the outcomes recorded so far stay readable through the
/// handles. The scheduler counts as run. The run's threads return on their own, within
/// the scheduler's [`grace`](Scheduler::grace) for jobs that heed cancellation; a job
/// that ignores it keeps its worker thread until it returns. So
/// `tokio::time::timeout(d, scheduler.run_async())` bounds a run from the outside,
/// as [`Scheduler::timeout`] does from the inside (which also gives
/// [`Error::Timeout`]).
///
/// Polled again after it resolved, it gives the same result again.
#[must_use = "a run does nothing until its future is polled (awaited)"]
pub struct RunFuture {
    scheduler: Scheduler,
    /// `None` until the first poll starts the run.
    shared: Option<Arc<Shared>>,
}

#[derive(Default)]
struct Shared {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// The run, once the coordinator has built it.
    run: Weak<Run>,
    /// The future was dropped: cancel the run as soon as it exists.
    dropped: bool,
    /// What the run returned (kept: polling again gives it again).
    result: Option<Result<bool, Error>>,
    /// The coordinator panicked: raised again by the next poll.
    panic: Option<Box<dyn Any + Send>>,
    waker: Option<Waker>,
}

impl Shared {
    /// Called by the coordinator with the run, before it starts.
    fn attach(&self, run: &Arc<Run>) {
        let mut state = self.state.lock();
        if state.dropped {
            drop(state);
            run.finish(Reason::Cancelled);
        } else {
            state.run = Arc::downgrade(run);
        }
    }

    /// Called by the coordinator when the run is over: it returned, or panicked.
    fn complete(&self, result: Result<Result<bool, Error>, Box<dyn Any + Send>>) {
        let waker = {
            let mut state = self.state.lock();
            match result {
                Ok(result) => state.result = Some(result),
                Err(panic) => state.panic = Some(panic),
            }
            state.run = Weak::new();
            state.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

impl Scheduler {
    /// Runs the scheduler as a future: what [`run`](Scheduler::run) does, with the same
    /// result and errors (mistakes in the graph included), without blocking the
    /// executor that awaits it.
    ///
    /// The jobs run on jobgraph's worker threads, and a coordinator thread stands in for
    /// the thread that `run` would block, so the executor's threads stay free: on a
    /// single-threaded runtime, other tasks keep running while the run is in flight.
    /// Read the jobs' results through their handles once it resolves. Dropping the
    /// future before it resolves cancels the run (see [`RunFuture`]).
    ///
    /// ```
    /// use jobgraph::{Job, Scheduler};
    /// let a = Job::new(|_| 6 * 7).label("a");
    /// let s = Scheduler::new().add(&a).clone();
    /// // Any executor will do: tokio, smol, async-std, or a plain block_on.
    /// assert!(pollster::block_on(s.run_async()).unwrap());
    /// assert_eq!(*a.result().unwrap(), 42);
    /// ```
    ///
    /// Under tokio, even a current-thread runtime keeps its other tasks going:
    ///
    /// ```
    /// use std::time::Duration;
    /// use jobgraph::{Job, Scheduler};
    ///
    /// let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    /// rt.block_on(async {
    ///     let ticker = tokio::spawn(async {
    ///         let mut ticks = 0;
    ///         loop {
    ///             tokio::time::sleep(Duration::from_millis(5)).await;
    ///             ticks += 1;
    ///             if ticks == 3 {
    ///                 return ticks;
    ///             }
    ///         }
    ///     });
    ///     let slow = Job::new(|ctx| ctx.sleep(Duration::from_millis(200)));
    ///     let s = Scheduler::new();
    ///     s.add(&slow);
    ///     assert!(s.run_async().await.unwrap());
    ///     // The ticker ran on this same thread while the job slept.
    ///     assert!(ticker.is_finished());
    /// });
    /// ```
    ///
    /// What futures a [`Job::future`](crate::Job::future) can await on its worker, and
    /// how to run tokio's own (timers, sockets) from a job, is told there.
    pub fn run_async(&self) -> RunFuture {
        RunFuture {
            scheduler: self.clone(),
            shared: None,
        }
    }
}

impl RunFuture {
    /// Starts the coordinator thread; `Err` when the OS refuses it.
    fn start(&self, waker: &Waker) -> Result<Arc<Shared>, Error> {
        let shared = Arc::new(Shared::default());
        shared.state.lock().waker = Some(waker.clone());
        let scheduler = self.scheduler.clone();
        let inner = scheduler.inner.clone();
        let theirs = shared.clone();
        // With `tracing`, the run reports to the subscriber in effect where it is awaited.
        #[cfg(feature = "tracing")]
        let dispatch = tracing::dispatcher::get_default(Clone::clone);
        let pool = inner.conf.lock().pool.clone().unwrap_or_else(Pool::current);
        pool.hire(Box::new(move |_| {
            #[cfg(feature = "tracing")]
            let _dispatch = tracing::dispatcher::set_default(&dispatch);
            let attach = |run: &Arc<Run>| theirs.attach(run);
            let result = catch_unwind(AssertUnwindSafe(|| {
                let result = inner.run_top(Some(&attach));
                scheduler.shutdown_if_asked();
                result
            }));
            theirs.complete(result);
        }))
        .map_err(no_worker)?;
        Ok(shared)
    }
}

impl Future for RunFuture {
    type Output = Result<bool, Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let Some(shared) = &this.shared else {
            match this.start(cx.waker()) {
                Ok(shared) => this.shared = Some(shared),
                Err(error) => return Poll::Ready(Err(error)),
            }
            return Poll::Pending;
        };
        let mut state = shared.state.lock();
        if let Some(result) = &state.result {
            return Poll::Ready(result.clone());
        }
        if let Some(panic) = state.panic.take() {
            drop(state);
            resume_unwind(panic);
        }
        match &mut state.waker {
            Some(waker) => waker.clone_from(cx.waker()),
            slot => *slot = Some(cx.waker().clone()),
        }
        Poll::Pending
    }
}

impl Drop for RunFuture {
    fn drop(&mut self) {
        let Some(shared) = &self.shared else {
            return;
        };
        let run = {
            let mut state = shared.state.lock();
            if state.result.is_some() || state.panic.is_some() {
                return;
            }
            state.dropped = true;
            state.waker = None;
            state.run.upgrade()
        };
        if let Some(run) = run {
            run.finish(Reason::Cancelled);
        }
    }
}

impl std::fmt::Debug for RunFuture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = match &self.shared {
            None => "not started",
            Some(shared) => {
                let state = shared.state.lock();
                if state.result.is_some() {
                    "ended"
                } else if state.panic.is_some() {
                    "panicked"
                } else {
                    "running"
                }
            }
        };
        write!(f, "RunFuture(`{}`, {state})", self.scheduler.inner.label())
    }
}

/// loom models of `run_async`'s hand-over between the coordinator thread and the task
/// that awaits it (`RUSTFLAGS="--cfg loom" cargo test --release --lib loom`). They
/// drive the real `Shared` and `RunFuture::poll`/`drop`; what they do not cover is
/// the coordinator's run itself (see `engine::loom_models`) and the executor.
#[cfg(all(test, loom))]
mod loom_models {
    use std::future::Future;
    use std::pin::Pin;
    use std::sync::Arc;
    use std::task::{Context, Poll, Wake, Waker};
    use std::time::Duration;

    use super::{RunFuture, Shared};
    use crate::engine::loom_models::Count;
    use crate::engine::settings::Settings;
    use crate::engine::{Pool, Run};
    use crate::graph::from_sorted_pairs;
    use crate::scheduler::Scheduler;
    use crate::sync::{check, thread, AtomicUsize, Ordering};

    /// Forwards a wake to the executor's waker while it is the waker of the task's
    /// latest poll: an executor may hand each poll a new waker (a task moved, a
    /// `select!`), and a stale one then wakes nothing.
    struct Stale {
        waker: Waker,
        poll: usize,
        latest: Arc<AtomicUsize>,
    }

    impl Wake for Stale {
        fn wake(self: Arc<Self>) {
            if self.latest.load(Ordering::SeqCst) == self.poll {
                self.waker.wake_by_ref()
            }
        }
    }

    /// The task awaiting a run: its first poll does what `RunFuture::start` does
    /// (registers its waker, starts the coordinator, which here only completes), the
    /// next ones poll the real `RunFuture`; each with a waker of its own.
    struct Awaiting {
        future: RunFuture,
        shared: Arc<Shared>,
        polls: usize,
        latest: Arc<AtomicUsize>,
    }

    impl Future for Awaiting {
        type Output = Result<bool, crate::error::Error>;

        fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
            let this = &mut *self;
            this.polls += 1;
            this.latest.store(this.polls, Ordering::SeqCst);
            let waker = Waker::from(Arc::new(Stale {
                waker: cx.waker().clone(),
                poll: this.polls,
                latest: this.latest.clone(),
            }));
            if this.polls == 1 {
                this.shared.state.lock().waker = Some(waker);
                let shared = this.shared.clone();
                thread::spawn(move || shared.complete(Ok(Ok(true))));
                return Poll::Pending;
            }
            Pin::new(&mut this.future).poll(&mut Context::from_waker(&waker))
        }
    }

    /// The run ends on the coordinator thread (`Shared::complete`) while the task polls
    /// the future, with a new waker each time: the task is woken and gets the result,
    /// whatever the order. A lost wake-up leaves the task waiting, which loom reports
    /// as a deadlock.
    #[test]
    fn loom_the_end_of_a_run_wakes_the_task_awaiting_it() {
        check("run_async: complete vs poll", || {
            let scheduler = Scheduler::new();
            let shared = Arc::new(Shared::default());
            let awaiting = Awaiting {
                future: RunFuture {
                    scheduler: scheduler.clone(),
                    shared: Some(shared.clone()),
                },
                shared,
                polls: 0,
                latest: Arc::new(AtomicUsize::new(0)),
            };
            assert!(matches!(loom::future::block_on(awaiting), Ok(true)));
        });
    }

    /// The future is dropped while the coordinator attaches the run it built: the run
    /// is cancelled, whichever comes first.
    #[test]
    fn loom_dropping_the_future_cancels_a_run_attached_meanwhile() {
        check("run_async: drop vs attach", || {
            let scheduler = Scheduler::new();
            let shared = Arc::new(Shared::default());
            let future = RunFuture {
                scheduler: scheduler.clone(),
                shared: Some(shared.clone()),
            };
            let settings = Settings {
                max_workers: 1,
                timeout: None,
                grace: Duration::ZERO,
                label: String::new(),
                events: None,
                stall_timeout: None,
                pool: Pool::new(),
                limits: None,
            };
            let run = Run::new(
                Arc::new(Vec::new()),
                Arc::new(from_sorted_pairs(vec![], &[])),
                &settings,
            );
            let coordinator = {
                let run = run.clone();
                thread::spawn(move || shared.attach(&run))
            };
            drop(future);
            coordinator.join().unwrap();
            // A cancelled run wakes a waker registered with it at once.
            let count = Arc::new(Count::default());
            run.on_cancel(0, &Waker::from(count.clone()));
            assert_eq!(
                count.0.load(Ordering::SeqCst),
                1,
                "the run was not cancelled"
            );
        });
    }
}
