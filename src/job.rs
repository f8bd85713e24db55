//! What a job is: the [`AbstractJob`] trait for user-defined jobs, closure and future
//! jobs, [`PrintJob`], and the type-erased node the engine runs.

use std::any::Any;
use std::fmt::{self, Debug};
use std::future::Future;
use std::marker::PhantomData;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::{pin, Pin};
use std::sync::Arc;
use std::task::{Poll, Waker};
use std::time::Duration;

use crate::context::Context;
use crate::error::{BoxError, JobError};
use crate::handle::{state, AnyJob, Job};
use crate::sync::{AtomicU64, AtomicU8, Once, Ordering, SpinLock};

/// What a job's closure, future or [`AbstractJob::run`] may return: a plain value, or a
/// `Result` whose error makes the job fail.
///
/// Implemented for `Result<T, E>` (the job's value is `T`) and for the common plain
/// types of `std`. For a type of your own, return `Ok::<_, Infallible>(value)` or
/// implement it with [`job_output!`](crate::job_output).
pub trait JobOutput: Send + 'static {
    /// The job's value when it succeeds: what its handle's `result()` gives.
    type Value: Send + Sync + Debug + 'static;
    /// Splits the output into the job's value or its failure.
    fn into_result(self) -> Result<Self::Value, JobError>;
}

impl<T, E> JobOutput for Result<T, E>
where
    T: Send + Sync + Debug + 'static,
    E: Into<BoxError> + Send + 'static,
{
    type Value = T;
    fn into_result(self) -> Result<T, JobError> {
        self.map_err(JobError::new)
    }
}

/// Makes plain types usable as a job's return value (see [`JobOutput`]):
/// `jobgraph::job_output!(MyReport, MyStats);`
#[macro_export]
macro_rules! job_output {
    ($($t:ty),* $(,)?) => {$(
        impl $crate::JobOutput for $t {
            type Value = $t;
            fn into_result(self) -> ::std::result::Result<$t, $crate::JobError> {
                ::std::result::Result::Ok(self)
            }
        }
    )*};
}

job_output!(
    (),
    bool,
    char,
    u8,
    u16,
    u32,
    u64,
    u128,
    usize,
    i8,
    i16,
    i32,
    i64,
    i128,
    isize,
    f32,
    f64,
    String,
    &'static str,
    Duration,
    std::path::PathBuf,
    std::process::ExitStatus,
    std::process::Output,
);

macro_rules! generic_job_output {
    ($(($($p:ident),+) $t:ty;)*) => {$(
        impl<$($p: Send + Sync + Debug + 'static),+> JobOutput for $t {
            type Value = $t;
            fn into_result(self) -> Result<$t, JobError> {
                Ok(self)
            }
        }
    )*};
}

generic_job_output! {
    (T) Vec<T>;
    (T) Option<T>;
    (T) Box<T>;
    (T) Arc<T>;
    (T) std::collections::VecDeque<T>;
    (K, V) std::collections::HashMap<K, V>;
    (K, V) std::collections::BTreeMap<K, V>;
    (T) std::collections::HashSet<T>;
    (T) std::collections::BTreeSet<T>;
    (A, B) (A, B);
    (A, B, C) (A, B, C);
    (A, B, C, D) (A, B, C, D);
}

/// A job type of your own: asynciojobs' `AbstractJob`.
///
/// Implement `run`; the other methods have defaults. Turn a value into a schedulable
/// job with [`Job::custom`] (or `Job::from`).
///
/// ```
/// use jobgraph::{AbstractJob, Context, Job, Scheduler};
///
/// struct Square(u64);
/// impl AbstractJob for Square {
///     type Output = u64;
///     fn run(&mut self, _ctx: &Context<'_>) -> u64 {
///         self.0 * self.0
///     }
/// }
///
/// let job = Job::custom(Square(7));
/// Scheduler::new().add(&job).run().unwrap();
/// assert_eq!(*job.result().unwrap(), 49);
/// ```
pub trait AbstractJob: Send + 'static {
    /// What `run` returns: a value, or a `Result` (see [`JobOutput`]).
    type Output: JobOutput;

    /// Does the job's work, on a worker thread of the scheduler. It should check
    /// `ctx.is_cancelled()` now and then if it runs long.
    fn run(&mut self, ctx: &Context<'_>) -> Self::Output;

    /// Releases what the job holds (connections, ...); called by
    /// [`Scheduler::shutdown`](crate::Scheduler::shutdown). Does nothing by default.
    fn shutdown(&mut self) {}

    /// The name of the job's kind, shown as `<Kind `label`>` in listings. Defaults to
    /// the type's name.
    fn kind(&self) -> &'static str {
        last_segment(std::any::type_name::<Self>())
    }

    /// The label to show when none was given. `None` shows `NOLABEL`.
    fn text_label(&self) -> Option<String> {
        None
    }

    /// Extra text shown by `list(details)` and in the graph.
    fn details(&self) -> Option<String> {
        None
    }
}

/// A job that prints messages on one line, optionally after a banner and before a sleep
/// (asynciojobs' `PrintJob`).
///
/// ```
/// use jobgraph::{Job, PrintJob, Scheduler};
/// use std::time::Duration;
///
/// let hello = Job::custom(PrintJob::new(["hello", "world"]).sleep(Duration::from_millis(10)));
/// assert!(Scheduler::new().add(&hello).run().unwrap());
/// ```
#[derive(Debug, Clone)]
pub struct PrintJob {
    messages: Vec<String>,
    sleep: Option<Duration>,
    banner: Option<String>,
}

impl PrintJob {
    /// A job that prints these messages, separated by spaces.
    pub fn new<I>(messages: I) -> Self
    where
        I: IntoIterator,
        I::Item: fmt::Display,
    {
        PrintJob {
            messages: messages.into_iter().map(|m| m.to_string()).collect(),
            sleep: None,
            banner: None,
        }
    }

    /// Sleeps this long after printing (cut short if the run is cancelled).
    pub fn sleep(mut self, duration: Duration) -> Self {
        self.sleep = Some(duration);
        self
    }

    /// Prints this banner (and a space) before the messages.
    pub fn banner(mut self, banner: impl Into<String>) -> Self {
        self.banner = Some(banner.into());
        self
    }
}

impl AbstractJob for PrintJob {
    type Output = ();

    fn run(&mut self, ctx: &Context<'_>) {
        let mut line = String::new();
        if let Some(banner) = &self.banner {
            line.push_str(banner);
            line.push(' ');
        }
        line.push_str(&self.messages.join(" "));
        println!("{line}");
        if let Some(duration) = self.sleep {
            println!("Sleeping for {}s", duration.as_secs_f64());
            ctx.sleep(duration);
        }
    }

    fn kind(&self) -> &'static str {
        "PrintJob"
    }

    fn details(&self) -> Option<String> {
        let mut text = String::new();
        if let Some(duration) = self.sleep {
            text.push_str(&format!("[+ sleep {}s] ", duration.as_secs_f64()));
        }
        text.push_str("msg= ");
        if let Some(first) = self.messages.first() {
            text.push_str(first);
        }
        if self.messages.len() > 1 {
            text.push_str("...");
        }
        Some(text)
    }
}

/// The lifecycle and build-time data every job has, whatever its kind.
pub(crate) struct Core {
    /// Where the job lives: its scheduler's id (high 32 bits) and its index there
    /// (low 32 bits); 0 while it is in no scheduler.
    pub(crate) place: AtomicU64,
    /// One of the `handle::state` constants.
    pub(crate) state: AtomicU8,
    /// `CRITICAL` and `FOREVER` bits.
    pub(crate) flags: AtomicU8,
    /// Label and requirements: read and written while building, read by reports.
    pub(crate) meta: SpinLock<Meta>,
}

pub(crate) const CRITICAL: u8 = 1;
pub(crate) const FOREVER: u8 = 2;
/// The job is a nested scheduler (set once, at its creation).
pub(crate) const NESTED: u8 = 4;

#[derive(Default)]
pub(crate) struct Meta {
    pub(crate) label: Option<Box<str>>,
    /// Most jobs require one or two others: those need no allocation of their own.
    pub(crate) requires: Requires,
}

/// A job's requirements, in the order they were required.
pub(crate) type Requires = smallvec::SmallVec<[AnyJob; 2]>;

impl Drop for Meta {
    /// Drops chains of requirements without recursion: when this is the last handle
    /// to a job it requires, that job's own requirements are taken over first, so a
    /// million-job chain is freed in a loop rather than a million nested drops.
    fn drop(&mut self) {
        if self
            .requires
            .iter()
            .all(|job| Arc::strong_count(&job.0) > 1)
        {
            // The common case: someone else still holds each of them.
            return;
        }
        // Inline for a chain or a tree: no allocation while freeing.
        let mut pending = std::mem::take(&mut self.requires);
        while let Some(job) = pending.pop() {
            if Arc::strong_count(&job.0) == 1 {
                // The last handle: nobody else can reach this job or its lock.
                pending.extend(std::mem::take(&mut job.0.core().meta.lock().requires));
            }
        }
    }
}

impl Core {
    pub(crate) fn new(critical: bool) -> Self {
        Core {
            place: AtomicU64::new(0),
            state: AtomicU8::new(state::IDLE),
            flags: AtomicU8::new(if critical { CRITICAL } else { 0 }),
            meta: SpinLock::new(Meta::default()),
        }
    }

    pub(crate) fn with_flag(self, flag: u8) -> Self {
        self.set_flag(flag, true);
        self
    }

    pub(crate) fn set_flag(&self, flag: u8, on: bool) {
        if on {
            self.flags.fetch_or(flag, Ordering::Relaxed);
        } else {
            self.flags.fetch_and(!flag, Ordering::Relaxed);
        }
    }

    pub(crate) fn has_flag(&self, flag: u8) -> bool {
        self.flags.load(Ordering::Relaxed) & flag != 0
    }
}

/// How one execution of a job ended, as the engine sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Status {
    Done,
    Failed,
    Cancelled,
    /// The run had given up on the job before it returned; nothing was recorded.
    Lost,
}

impl Status {
    /// How a job that returned `result` ends, and the state that says so: cancelled
    /// when its run cancelled it meanwhile, whatever it returned.
    pub(crate) fn ending<T>(cancelled: bool, result: &Result<T, JobError>) -> (u8, Status) {
        match (cancelled, result) {
            (true, _) => (state::CANCELLED, Status::Cancelled),
            (false, Ok(_)) => (state::DONE, Status::Done),
            (false, Err(_)) => (state::DONE, Status::Failed),
        }
    }
}

/// Runs a job's body; a panic becomes the job's failure.
pub(crate) fn caught<T>(body: impl FnOnce() -> Result<T, JobError>) -> Result<T, JobError> {
    catch_unwind(AssertUnwindSafe(body))
        .unwrap_or_else(|payload| Err(JobError::from_panic(payload)))
}

/// What a job's one execution left, sealed once: by the worker that ran the job, with
/// what it returned, or with [`JobError::nothing_kept`] when the run cancelled the job
/// or gave up on it while it still ran. Sealing is the job's commit: one
/// compare-and-swap, which a worker and its run's `abandon` race.
pub(crate) struct Outcome<T>(Once<Result<T, JobError>>);

impl<T> Outcome<T> {
    pub(crate) const fn new() -> Self {
        Outcome(Once::new())
    }

    /// Seals what a job returned and publishes its end in `lifecycle`. `Lost` when
    /// its run had given up on it first: what it returned is dropped.
    pub(crate) fn seal(
        &self,
        lifecycle: &AtomicU8,
        cancelled: bool,
        result: Result<T, JobError>,
    ) -> Status {
        let (end, status) = Status::ending(cancelled, &result);
        let mut sealed = false;
        self.0.call_once(|| {
            sealed = true;
            if cancelled {
                Err(JobError::nothing_kept())
            } else {
                result
            }
        });
        if !sealed {
            return Status::Lost;
        }
        lifecycle.store(end, Ordering::Release);
        status
    }

    /// Gives up on a job still running when its run ends: it stays reported as
    /// running, and its own seal, when it returns, fails.
    pub(crate) fn abandon(&self, lifecycle: &AtomicU8) {
        if lifecycle.load(Ordering::Acquire) != state::RUNNING {
            return;
        }
        let mut sealed = false;
        self.0.call_once(|| {
            sealed = true;
            Err(JobError::nothing_kept())
        });
        if sealed {
            lifecycle.store(state::ABANDONED, Ordering::Release);
        }
    }

    /// What the job returned, once it ended and its run kept it.
    pub(crate) fn get(&self) -> Option<&Result<T, JobError>> {
        match self.0.get() {
            Some(Err(error)) if error.is_nothing_kept() => None,
            outcome => outcome,
        }
    }
}

/// A job as the engine sees it, whatever its kind and value type.
pub(crate) trait Node: Send + Sync + 'static {
    fn core(&self) -> &Core;
    /// Runs the job once and records its outcome.
    fn execute(&self, ctx: &Context<'_>) -> Status;
    /// Gives up on the job if it is still running when its run ends: it stays reported
    /// as running, and what it returns later is dropped.
    fn abandon(&self);
    fn kind(&self) -> &'static str;
    fn default_label(&self) -> Option<String>;
    fn details(&self) -> Option<String>;
    /// The job's value, once it is done without failure.
    fn value(&self) -> Option<&(dyn Any + Send + Sync)>;
    /// The type of the job's value.
    fn value_type(&self) -> std::any::TypeId;
    /// The job's value as text (`Debug`), once done without failure.
    fn value_text(&self) -> Option<String>;
    /// The job's failure, once it failed.
    fn error(&self) -> Option<&JobError>;
    /// Calls the job's shutdown hook.
    fn shutdown(&self);
    fn into_any(self: Arc<Self>) -> Arc<dyn Any + Send + Sync>;
    /// The scheduler, when this job is a nested scheduler.
    fn nested(&self) -> Option<&crate::scheduler::SchedInner> {
        None
    }
}

/// The body of a job: closure, future or user type.
pub(crate) trait Body: Send + 'static {
    type Value: Send + Sync + Debug + 'static;
    /// What reports show of the job; readable while the body runs.
    type Desc: Describe;
    fn run(&mut self, ctx: &Context<'_>) -> Result<Self::Value, JobError>;
    fn shutdown(&mut self) {}
    fn describe(&self) -> Self::Desc;
}

/// What reports show of a job's body: kept beside the body, not behind its lock, so a
/// listing taken while the job runs does not wait for it.
pub(crate) trait Describe: Send + Sync + 'static {
    fn kind(&self) -> &'static str {
        "Job"
    }
    fn default_label(&self) -> Option<String>;
    fn details(&self) -> Option<String> {
        None
    }
}

/// The description of a closure or future job: its type's name (`Job[f (...)]`), for
/// no bytes at all.
pub(crate) struct Named<F>(PhantomData<fn() -> F>);

impl<F: 'static> Describe for Named<F> {
    fn default_label(&self) -> Option<String> {
        Some(function_label(std::any::type_name::<F>()))
    }
}

/// The description of a user's job, taken when it becomes a job.
pub(crate) struct Snapshot {
    kind: &'static str,
    label: Option<String>,
    details: Option<String>,
}

impl Describe for Snapshot {
    fn kind(&self) -> &'static str {
        self.kind
    }
    fn default_label(&self) -> Option<String> {
        self.label.clone()
    }
    fn details(&self) -> Option<String> {
        self.details.clone()
    }
}

/// One job: its lifecycle, its outcome, and its body, in one allocation.
pub(crate) struct Cell<B: Body> {
    core: Core,
    outcome: Outcome<B::Value>,
    desc: B::Desc,
    /// Locked by the one worker that runs the job, and by its shutdown hook.
    body: SpinLock<B>,
}

impl<B: Body> Cell<B> {
    pub(crate) fn new(body: B) -> Self {
        Cell {
            core: Core::new(true),
            outcome: Outcome::new(),
            desc: body.describe(),
            body: SpinLock::new(body),
        }
    }
}

impl<B: Body> Node for Cell<B> {
    fn core(&self) -> &Core {
        &self.core
    }

    fn execute(&self, ctx: &Context<'_>) -> Status {
        let result = caught(|| self.body.lock().run(ctx));
        self.outcome
            .seal(&self.core.state, ctx.is_cancelled(), result)
    }

    fn abandon(&self) {
        self.outcome.abandon(&self.core.state)
    }

    fn kind(&self) -> &'static str {
        self.desc.kind()
    }

    fn default_label(&self) -> Option<String> {
        self.desc.default_label()
    }

    fn details(&self) -> Option<String> {
        self.desc.details()
    }

    fn value(&self) -> Option<&(dyn Any + Send + Sync)> {
        match self.outcome.get() {
            Some(Ok(value)) => Some(value),
            _ => None,
        }
    }

    fn value_type(&self) -> std::any::TypeId {
        std::any::TypeId::of::<B::Value>()
    }

    fn value_text(&self) -> Option<String> {
        match self.outcome.get() {
            Some(Ok(value)) => Some(format!("{value:?}")),
            _ => None,
        }
    }

    fn error(&self) -> Option<&JobError> {
        match self.outcome.get() {
            Some(Err(error)) => Some(error),
            _ => None,
        }
    }

    fn shutdown(&self) {
        // The body is locked while the job runs (one abandoned by its run may still
        // be): wait for it without spinning.
        let mut body = loop {
            match self.body.try_lock() {
                Some(body) => break body,
                None => std::thread::sleep(Duration::from_millis(1)),
            }
        };
        // A job that panics in its hook must not take the caller down with it.
        let _ = catch_unwind(AssertUnwindSafe(|| body.shutdown()));
    }

    fn into_any(self: Arc<Self>) -> Arc<dyn Any + Send + Sync> {
        self
    }
}

/// `tour::in_out::{{closure}}` → `in_out`: the name asynciojobs shows as `Job[in_out (...)]`.
fn last_segment(type_name: &'static str) -> &'static str {
    let head = type_name.split('<').next().unwrap_or(type_name);
    head.rsplit("::")
        .find(|s| !s.is_empty() && !s.starts_with('{'))
        .unwrap_or(head)
}

fn function_label(type_name: &'static str) -> String {
    format!("Job[{} (...)]", last_segment(type_name))
}

pub(crate) struct FnBody<F> {
    f: Option<F>,
}

impl<F, R> Body for FnBody<F>
where
    F: FnOnce(&Context<'_>) -> R + Send + 'static,
    R: JobOutput,
{
    type Value = R::Value;
    type Desc = Named<F>;

    fn run(&mut self, ctx: &Context<'_>) -> Result<R::Value, JobError> {
        match self.f.take() {
            Some(f) => f(ctx).into_result(),
            None => Err(JobError::new("job body already consumed by an earlier run")),
        }
    }

    fn describe(&self) -> Named<F> {
        Named(PhantomData)
    }
}

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
        crate::engine::timer::take_armed();
        if let Poll::Ready(output) = self.future.as_mut().poll(cx) {
            return Poll::Ready(Some(output));
        }
        // Registered before the second look at the flag: a cancel in between wakes us.
        self.ctx.on_cancel(cx.waker());
        if self.ctx.is_cancelled() {
            return Poll::Ready(None);
        }
        if !crate::engine::timer::take_armed() {
            self.parked = true;
            self.ctx.future_parked();
        }
        Poll::Pending
    }
}

pub(crate) struct CustomBody<J>(J);

impl<J: AbstractJob> Body for CustomBody<J> {
    type Value = <J::Output as JobOutput>::Value;
    type Desc = Snapshot;

    fn run(&mut self, ctx: &Context<'_>) -> Result<Self::Value, JobError> {
        self.0.run(ctx).into_result()
    }

    fn shutdown(&mut self) {
        self.0.shutdown()
    }

    fn describe(&self) -> Snapshot {
        Snapshot {
            kind: self.0.kind(),
            label: self.0.text_label(),
            details: self.0.details(),
        }
    }
}

impl<T: Send + Sync + Debug + 'static> Job<T> {
    /// A job that runs a closure on a worker thread. The closure gets the job's
    /// [`Context`] and returns a value or a `Result` (see [`JobOutput`]).
    ///
    /// ```
    /// use jobgraph::{Job, Scheduler};
    /// let answer = Job::new(|_| 6 * 7).label("answer");
    /// Scheduler::new().add(&answer).run().unwrap();
    /// assert_eq!(*answer.result().unwrap(), 42);
    /// ```
    pub fn new<F, R>(f: F) -> Self
    where
        F: FnOnce(&Context<'_>) -> R + Send + 'static,
        R: JobOutput<Value = T>,
    {
        Job::from_body(FnBody { f: Some(f) })
    }

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

    /// A job from a type of your own that implements [`AbstractJob`].
    pub fn custom<J>(job: J) -> Self
    where
        J: AbstractJob,
        J::Output: JobOutput<Value = T>,
    {
        Job::from_body(CustomBody(job))
    }

    fn from_body<B: Body<Value = T>>(body: B) -> Self {
        let node: Arc<dyn Node> = Arc::new(Cell::new(body));
        Job::from_any(AnyJob(node))
    }
}

impl<J> From<J> for Job<<J::Output as JobOutput>::Value>
where
    J: AbstractJob,
{
    fn from(job: J) -> Self {
        Job::custom(job)
    }
}
