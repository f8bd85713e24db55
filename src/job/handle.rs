//! Handles to jobs: the typed [`Job<T>`] and the untyped [`AnyJob`], each a shared
//! pointer to one job.

use std::fmt::{self, Debug};
use std::hash::{Hash, Hasher};
use std::marker::PhantomData;
use std::ops::Deref;
use std::time::Duration;

use super::core::{count_requirements_added, CRITICAL, FOREVER, POLICY, RANKED};
use super::cycle::{release_from, requirements_changed, ON_CYCLE};
use super::jobs::Jobs;
use super::lifecycle::{timed_out, JobState};
use super::node::Node;
use super::retry::{Backoff, Policy, RetryOn};
use super::shared::Shared;
use crate::error::{Error, JobError};
use crate::sync::Ordering;

/// A job of any kind and value type: a closure or future job, a user's
/// [`AbstractJob`](crate::AbstractJob), or a nested [`Scheduler`](crate::Scheduler).
///
/// A handle: cloning it is cheap and every clone is the same job. Equality and hashing
/// are by identity.
#[derive(Clone)]
pub struct AnyJob(pub(crate) Shared<dyn Node>);

thread_local! {
    /// Where `add_requires` gathers what it is given: no list to allocate per call.
    static GIVEN: std::cell::RefCell<Vec<AnyJob>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Calls `gather` with an empty list: the thread's own, reused, or a new one while that
/// one is in use (by a [`Jobs`] of the user's that requires jobs as it pushes its own).
/// Emptied first: a `Jobs` that panicked halfway left its jobs there.
#[inline(always)]
fn gathering<R>(gather: impl FnOnce(&mut Vec<AnyJob>) -> R) -> R {
    GIVEN.with(|given| match given.try_borrow_mut() {
        Ok(mut given) => {
            given.clear();
            gather(&mut given)
        }
        Err(_) => gather(&mut Vec::new()),
    })
}

/// Moves `given` (drained) to the end of `requires`, but for the jobs it holds already
/// and those `take` refuses (asked once per job, in order); true when it took any. What
/// it did not take is returned, for the caller to drop once the list is let go.
/// Inlined into both callers: called, it cost a chain's build 3 ns per job.
#[inline(always)]
fn merge(
    requires: &mut super::core::Requires,
    given: &mut Vec<AnyJob>,
    mut take: impl FnMut(&AnyJob) -> bool,
) -> (bool, Vec<AnyJob>) {
    let before = requires.len();
    let mut unwanted = Vec::new();
    for job in given.drain(..) {
        if !requires.contains(&job) && take(&job) {
            requires.push(job);
        } else {
            unwanted.push(job);
        }
    }
    (requires.len() > before, unwanted)
}

impl AnyJob {
    pub(crate) fn node(&self) -> &dyn Node {
        &*self.0
    }

    /// The job's label, or the label its kind makes up (`Job[f (...)]`), or `NOLABEL`.
    pub fn text_label(&self) -> String {
        if let Some(label) = self.0.core().meta.lock().label() {
            return label.to_string();
        }
        self.0
            .default_label()
            .unwrap_or_else(|| "NOLABEL".to_string())
    }

    /// The label given with `label()`, if any.
    pub fn given_label(&self) -> Option<String> {
        self.0.core().meta.lock().label().map(str::to_string)
    }

    /// The job's kind as listings show it: `Job`, `PrintJob`, `Scheduler`, or a user
    /// type's name.
    pub fn kind(&self) -> &'static str {
        self.0.kind()
    }

    /// Extra text about the job, shown by `list().details()`.
    pub fn details(&self) -> Option<String> {
        self.0.details()
    }

    /// The label of the job's box in pictures when its kind chooses one
    /// ([`AbstractJob::graph_label`](crate::AbstractJob::graph_label)); otherwise
    /// pictures show `NN: label`.
    pub fn graph_label(&self) -> Option<String> {
        self.0.graph_label()
    }

    /// Whether a failure of this job stops its scheduler (default: true).
    pub fn is_critical(&self) -> bool {
        self.0.core().has_flag(CRITICAL)
    }

    /// Whether the job runs forever: never waited for, cancelled once the rest is done.
    pub fn is_forever(&self) -> bool {
        self.0.core().has_flag(FOREVER)
    }

    /// Where the job is in its lifecycle.
    pub fn state(&self) -> JobState {
        JobState::from_code(self.0.core().state.load(Ordering::Acquire))
    }

    /// Not started, requirements not all done.
    pub fn is_idle(&self) -> bool {
        self.state() == JobState::Idle
    }

    /// Ready and waiting for a slot in the window.
    pub fn is_scheduled(&self) -> bool {
        self.state() == JobState::Scheduled
    }

    /// Running now (or still running when its run gave up on it, timed out or not).
    ///
    /// asynciojobs' `is_running()` stays true once a job has started, done jobs
    /// included; this one is true only while the job runs, which is what a program
    /// waiting for a job's end (the runner waits for its cancelled commands this way)
    /// needs to read. A job that started and ended is [`is_done`](AnyJob::is_done) or
    /// [`is_cancelled`](AnyJob::is_cancelled); the listings show asynciojobs' `☉` for
    /// both, as asynciojobs does.
    pub fn is_running(&self) -> bool {
        self.state() == JobState::Running
    }

    /// Ended by its own timeout (see [`Job::timeout`]): a failure, its error
    /// [`Error::JobTimedOut`]. Such a job is [done](AnyJob::is_done) once its thread
    /// has returned, and [running](AnyJob::is_running) while its thread, given up on
    /// after the grace, still runs: timed out and still running, never reported as
    /// stopped.
    pub fn is_timed_out(&self) -> bool {
        timed_out(self.0.core().state.load(Ordering::Acquire)).is_some()
    }

    /// Ended, with a value or a failure. A cancelled job is not done.
    pub fn is_done(&self) -> bool {
        self.state() == JobState::Done
    }

    /// Stopped by its run before it ended.
    pub fn is_cancelled(&self) -> bool {
        self.state() == JobState::Cancelled
    }

    /// The job's failure (its error, or its panic), once it failed.
    pub fn raised_exception(&self) -> Option<JobError> {
        self.0.error().cloned()
    }

    /// The job's value as text (its whole `Debug` form), once it is done without
    /// failure. Listings show at most a line of it (see
    /// [`Listing::width`](crate::Listing::width)).
    pub fn result_text(&self) -> Option<String> {
        self.0.value_text(None)
    }

    /// The job's value as text, at most `max_chars` characters: cut with `…` as the
    /// last one when longer. Only what is shown is formatted.
    ///
    /// ```
    /// use jobgraph::{Job, Scheduler};
    /// let big = Job::new(|_| (0..4000).collect::<Vec<u32>>());
    /// Scheduler::new().add(&big).run().unwrap();
    /// assert_eq!(big.result_text_within(12).unwrap(), "[0, 1, 2, 3…");
    /// assert_eq!(big.result().unwrap().len(), 4000);
    /// ```
    pub fn result_text_within(&self, max_chars: usize) -> Option<String> {
        self.0.value_text(Some(max_chars))
    }

    /// The jobs this one requires, in the order they were required.
    pub fn requirements(&self) -> Vec<AnyJob> {
        self.0.core().meta.lock().requires.to_vec()
    }

    /// Adds requirements to this job: it starts only once they are all done.
    /// A sequence stands for its last job. Requiring a job twice, or itself, is a no-op.
    pub fn add_requires(&self, jobs: impl Jobs) -> &Self {
        gathering(|given| {
            jobs.push_last_jobs(given);
            self.take_requires(given);
        });
        self
    }

    /// [`add_requires`](AnyJob::add_requires) through a handle that may be the job's
    /// only one, as `Job::new(..).requires(..)` holds it: then nobody else can reach the
    /// job, and its list is changed without its lock.
    pub(crate) fn add_requires_owned(&mut self, jobs: impl Jobs) {
        if let Some(core) = self.unique() {
            // Borrowed handles given to the only one: no list to gather them in. (A
            // handle to this job itself would be a second one: not the only handle.)
            let requires = &mut core.meta.get_mut().requires;
            let before = requires.len();
            // Their counts asked for first: a clone's locked increment waits for its
            // line, and the next one for it, where jobs far apart in memory are required.
            jobs.each_borrowed(&mut |job| crate::sync::prefetch(Shared::counts_ptr(&job.0)));
            let borrowed = jobs.each_borrowed(&mut |job| {
                if !requires.contains(job) {
                    requires.push(job.clone());
                }
            });
            if borrowed {
                if requires.len() > before {
                    count_requirements_added(self.node());
                }
                return;
            }
        }
        gathering(|given| {
            // Gathered first: given this job itself, the list holds a second handle.
            jobs.push_last_jobs(given);
            let Some(core) = self.unique() else {
                return self.take_requires(given);
            };
            // Nobody can see its list: no cycle mark to update, and it is not among them.
            let (added, unwanted) = merge(&mut core.meta.get_mut().requires, given, |_| true);
            if added {
                count_requirements_added(self.node());
            }
            drop(unwanted);
        });
    }

    /// Takes `given` (drained) as requirements, under the job's lock.
    fn take_requires(&self, given: &mut Vec<AnyJob>) {
        let mut meta = self.0.core().meta.lock();
        let (added, unwanted) = merge(&mut meta.requires, given, |job| {
            let other = job != self;
            if other {
                requirements_changed(self.node(), std::slice::from_ref(job));
            }
            other
        });
        // Dropped unlocked: dropping a handle may look at this job's list (`ON_CYCLE`).
        drop(meta);
        if added {
            count_requirements_added(self.node());
        }
        drop(unwanted);
    }

    /// The job's core when this is the only handle to it: no other handle, no weak
    /// one, and no mark of the cycle collector's (whose groups hold weak ones). What
    /// is changed through it needs no lock and no locked instruction.
    #[allow(unsafe_code)]
    pub(crate) fn unique(&mut self) -> Option<&mut super::Core> {
        // `Shared::get_mut` would say the same with a compare-and-swap (it locks the weak
        // count against a `Weak` upgraded meanwhile); two plain loads do here, since
        // no `Weak` can appear or be upgraded without a strong handle, and this is the
        // only one.
        if Shared::strong_count(&self.0) != 1 || Shared::weak_count(&self.0) != 0 {
            return None;
        }
        // What the other handles did before they were dropped (their `Release`
        // decrements) happens before what is done through this one.
        std::sync::atomic::fence(std::sync::atomic::Ordering::Acquire);
        // SAFETY: this handle is borrowed mutably, and it is the job's only strong
        // handle with no weak one: nothing else can reach the job while the borrow
        // lasts. `Shared::as_ptr` keeps the allocation's write permission.
        let node = unsafe { &mut *(Shared::as_ptr(&self.0) as *mut dyn Node) };
        let core = node.core_mut();
        (!core.has_flag(ON_CYCLE)).then_some(core)
    }

    /// Removes requirements from this job; those it does not have are ignored.
    pub fn remove_requires(&self, jobs: impl Jobs) -> &Self {
        let mut removed = Vec::new();
        jobs.push_last_jobs(&mut removed);
        let mut meta = self.0.core().meta.lock();
        let (kept, gone): (Vec<AnyJob>, Vec<AnyJob>) = std::mem::take(&mut meta.requires)
            .into_iter()
            .partition(|job| !removed.contains(job));
        meta.requires = kept.into_iter().collect();
        requirements_changed(self.node(), &gone);
        // Dropped unlocked: dropping a handle may look at this job's list (`ON_CYCLE`).
        drop(meta);
        drop(gone);
        self
    }

    /// Changes the label.
    pub fn set_label(&self, label: impl Into<String>) -> &Self {
        self.0.core().meta.lock().set_label(label.into());
        self
    }

    /// Changes whether a failure of the job stops its scheduler.
    pub fn set_critical(&self, critical: bool) -> &Self {
        self.0.core().set_flag(CRITICAL, critical);
        self
    }

    /// Changes whether the job runs forever.
    pub fn set_forever(&self, forever: bool) -> &Self {
        self.0.core().set_flag(FOREVER, forever);
        self
    }

    /// Gives the job a timeout of its own, counted from its start (`None`: none, the
    /// default); see [`Job::timeout`]. On a nested scheduler this bounds it as a job of
    /// its parent, from its start; its own [`Scheduler::timeout`](crate::Scheduler::timeout)
    /// bounds its run.
    pub fn set_timeout(&self, timeout: impl Into<Option<Duration>>) -> &Self {
        let timeout = timeout.into();
        self.change_policy(|policy| policy.timeout = timeout)
    }

    /// The job's own timeout, if it has one (see [`Job::timeout`]).
    pub fn job_timeout(&self) -> Option<Duration> {
        self.0.core().meta.lock().policy()?.timeout
    }

    /// How many times the job is tried again after a failure (see [`Job::retries`]).
    pub fn set_retries(&self, retries: u32) -> &Self {
        self.change_policy(|policy| {
            std::sync::Arc::make_mut(policy.retry.get_or_insert_with(Default::default)).times =
                retries
        })
    }

    /// How long the job waits before each next attempt (see [`Job::backoff`]).
    pub fn set_backoff(&self, backoff: Backoff) -> &Self {
        self.change_policy(|policy| {
            std::sync::Arc::make_mut(policy.retry.get_or_insert_with(Default::default)).backoff =
                backoff
        })
    }

    /// Which failures the job is tried again after (see [`Job::retry_on`]).
    pub fn set_retry_on(&self, on: RetryOn) -> &Self {
        self.change_policy(|policy| {
            std::sync::Arc::make_mut(policy.retry.get_or_insert_with(Default::default)).on = on
        })
    }

    /// Changes the job's priority (see [`Job::priority`]).
    pub fn set_priority(&self, priority: i32) -> &Self {
        self.change_hint(|hint| hint.priority = priority)
    }

    /// Changes the job's cost hint (see [`Job::cost`]); `None`: none, the default.
    pub fn set_cost(&self, cost: impl Into<Option<f64>>) -> &Self {
        let cost = cost.into();
        self.change_hint(|hint| hint.cost = cost)
    }

    /// The job's priority (0 unless [`priority`](Job::priority) was given).
    pub fn priority(&self) -> i32 {
        self.0.core().meta.lock().hint().priority
    }

    /// The job's cost hint, if it has one (see [`Job::cost`]).
    pub fn cost_hint(&self) -> Option<f64> {
        self.0.core().meta.lock().hint().cost
    }

    fn change_hint(&self, change: impl FnOnce(&mut super::Hint)) -> &Self {
        let mut meta = self.0.core().meta.lock();
        let hint = meta.hint_mut();
        change(hint);
        let set = !hint.is_empty();
        drop(meta);
        self.0.core().set_flag(RANKED, set);
        self
    }

    /// How many times the job may be tried again after a failure (0 unless
    /// [`retries`](Job::retries) was given).
    pub fn retries(&self) -> u32 {
        let meta = self.0.core().meta.lock();
        meta.policy()
            .and_then(|policy| policy.retry.as_ref())
            .map_or(0, |retry| retry.times)
    }

    /// The failures of the attempts that were tried again, in order, in the job's last
    /// run: empty when its first attempt was its last.
    pub fn failed_attempts(&self) -> Vec<JobError> {
        self.0.core().meta.lock().failed_attempts().to_vec()
    }

    /// How many attempts the job made in its last run: its failed attempts that were
    /// tried again, and the one that ended it (or runs now). 0 when it never started.
    pub fn attempts(&self) -> usize {
        let failed = self.0.core().meta.lock().failed_attempts().len();
        let started = matches!(
            self.state(),
            JobState::Running | JobState::Done | JobState::Cancelled
        );
        failed + usize::from(started)
    }

    /// Makes the job use `amount` of the named limit `name` while it runs (see
    /// [`Job::uses`]); a second call for the same name replaces the amount.
    pub fn set_uses(&self, name: &str, amount: u32) -> &Self {
        self.change_policy(|policy| {
            match policy.uses.iter_mut().find(|(used, _)| &**used == name) {
                Some((_, old)) => *old = amount,
                None => policy.uses.push((name.into(), amount)),
            }
        })
    }

    /// The named limits the job uses, and how much of each (see [`Job::uses`]).
    pub fn uses_limits(&self) -> Vec<(String, u32)> {
        let meta = self.0.core().meta.lock();
        meta.policy().map_or_else(Vec::new, |policy| {
            policy
                .uses
                .iter()
                .map(|(name, amount)| (name.to_string(), *amount))
                .collect()
        })
    }

    fn change_policy(&self, change: impl FnOnce(&mut Policy)) -> &Self {
        let mut meta = self.0.core().meta.lock();
        let policy = meta.policy_mut();
        change(policy);
        let set = !policy.is_empty();
        drop(meta);
        self.0.core().set_flag(POLICY, set);
        self
    }

    /// The typed handle of this job, when its value has type `T`.
    pub fn downcast<T: Send + Sync + Debug + 'static>(&self) -> Option<Job<T>> {
        let job = Job::from_any(self.clone());
        job.type_matches().then_some(job)
    }

    pub(crate) fn ptr(&self) -> *const () {
        Shared::as_ptr(&self.0) as *const ()
    }
}

impl Drop for AnyJob {
    /// A handle to a job left on a requirement cycle by its scheduler may be the last
    /// thing outside the cycle that holds it: then the cycle is freed (see `ON_CYCLE`).
    /// Any other handle costs a reference count and, when it is not the last, a flag
    /// read.
    fn drop(&mut self) {
        if Shared::strong_count(&self.0) > 1 {
            let flags = self.0.core().flags.load(Ordering::Acquire);
            if flags & ON_CYCLE != 0 {
                release_from(&mut self.0, flags);
            }
        }
    }
}

impl PartialEq for AnyJob {
    fn eq(&self, other: &Self) -> bool {
        self.ptr() == other.ptr()
    }
}

impl Eq for AnyJob {}

impl Hash for AnyJob {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.ptr().hash(state)
    }
}

impl Debug for AnyJob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "<{} `{}`> ({})",
            self.kind(),
            self.text_label(),
            self.state().name()
        )
    }
}

/// A typed handle to a job whose value has type `T`.
///
/// Cloning it is cheap; all clones are the same job. It dereferences to [`AnyJob`] for
/// everything that does not depend on `T` (state, label, requirements, failure).
///
/// Setters take and return the handle, for building in one expression:
/// `Job::new(f).label("b").critical(false).requires(&a)`.
pub struct Job<T> {
    pub(crate) any: AnyJob,
    _value: PhantomData<fn() -> T>,
}

impl<T> Clone for Job<T> {
    fn clone(&self) -> Self {
        Job {
            any: self.any.clone(),
            _value: PhantomData,
        }
    }
}

impl<T> Deref for Job<T> {
    type Target = AnyJob;
    fn deref(&self) -> &AnyJob {
        &self.any
    }
}

impl<T> Debug for Job<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        Debug::fmt(&self.any, f)
    }
}

impl<T: Send + Sync + Debug + 'static> Job<T> {
    pub(crate) fn from_any(any: AnyJob) -> Self {
        Job {
            any,
            _value: PhantomData,
        }
    }

    fn type_matches(&self) -> bool {
        self.any.0.value_type() == std::any::TypeId::of::<T>()
    }

    /// Sets the label shown in listings and graphs.
    pub fn label(self, label: impl Into<String>) -> Self {
        self.any.set_label(label);
        self
    }

    /// Whether a failure of this job stops its scheduler (default: true).
    pub fn critical(self, critical: bool) -> Self {
        self.any.set_critical(critical);
        self
    }

    /// Whether the job runs forever (default: false): its scheduler does not wait for
    /// it, and cancels it once all other jobs are done.
    pub fn forever(self, forever: bool) -> Self {
        self.any.set_forever(forever);
        self
    }

    /// A timeout of the job's own, counted from its start (the time it waited for its
    /// requirements and for a slot in the window does not count).
    ///
    /// At its deadline the run cancels the job, as it cancels any job: a closure sees
    /// it through [`Context::is_cancelled`](crate::Context::is_cancelled) and is woken
    /// from [`Context::sleep`](crate::Context::sleep), a future is dropped at its next
    /// pending poll, a job of your own type sees it through its context, and a nested
    /// scheduler's run is cancelled. The job then ends as *timed out*: a failure, with
    /// [`Error::JobTimedOut`] as its error, whatever it returned; it is
    /// [done](AnyJob::is_done), and [`is_timed_out`](AnyJob::is_timed_out) says how. A job that returns after its
    /// deadline has timed out too, even if it never looked.
    ///
    /// A job still running once the scheduler's [`grace`](crate::Scheduler::grace) has
    /// passed after its deadline is given up on: its run goes on without it (its slot in
    /// the window is given to another worker), and it is reported as timed out and
    /// still running ([`is_running`](AnyJob::is_running) and
    /// [`is_timed_out`](AnyJob::is_timed_out)) until its thread returns; what it returns
    /// then is dropped.
    ///
    /// As any failure: a critical job that times out stops its run (a critical
    /// scheduler returns [`Error::JobTimedOut`]); a non-critical one counts as done and
    /// its successors run. The scheduler's own timeout still bounds the whole run.
    ///
    /// ```
    /// use std::time::Duration;
    /// use jobgraph::{Job, Scheduler};
    /// let slow = Job::new(|ctx| ctx.sleep(Duration::from_secs(60)))
    ///     .label("slow")
    ///     .timeout(Duration::from_millis(20))
    ///     .critical(false);
    /// let s = Scheduler::new();
    /// s.add(&slow);
    /// assert!(s.run().unwrap()); // a non-critical failure
    /// assert!(slow.is_done() && slow.is_timed_out());
    /// assert!(slow.raised_exception().unwrap().is_timeout());
    /// ```
    pub fn timeout(self, timeout: Duration) -> Self {
        self.any.set_timeout(timeout);
        self
    }

    /// Tries the job again, up to `retries` more times, after a failure (an error, a
    /// panic, or its own [`timeout`](Job::timeout); which ones: [`retry_on`](Job::retry_on)),
    /// waiting as its [`backoff`](Job::backoff) says between attempts (no wait by
    /// default). A job that succeeds on a retry is a success; one whose last attempt
    /// fails ends with that failure, the earlier ones kept in
    /// [`failed_attempts`](AnyJob::failed_attempts).
    ///
    /// A job waiting for its next attempt holds no worker and no slot in the window: it
    /// is pushed again when its wait is over. Each attempt has the job's own timeout, and
    /// the run's timeout bounds them all (no attempt starts after it). Each retry is an
    /// event ([`EventKind::Retrying`](crate::EventKind::Retrying)), and listings show
    /// how many attempts a job made.
    ///
    /// Only a job whose body can run again may have retries: one made with
    /// [`Job::new_mut`], [`Job::future_from`] or [`Job::custom`]. Retries on a
    /// [`Job::new`] (a closure called once) or a [`Job::future`] (a future polled once),
    /// or more than [`MAX_RETRIES`](crate::MAX_RETRIES), are an error before the run
    /// starts ([`Error::Policy`]).
    ///
    /// ```
    /// use std::sync::atomic::{AtomicU32, Ordering};
    /// use std::time::Duration;
    /// use jobgraph::{Backoff, Job, Scheduler};
    /// let tries = AtomicU32::new(0);
    /// let flaky = Job::new_mut(move |_| match tries.fetch_add(1, Ordering::SeqCst) {
    ///     0 | 1 => Err("not yet"),
    ///     _ => Ok("done"),
    /// })
    /// .retries(3)
    /// .backoff(Backoff::exponential(Duration::from_millis(1), 2.0));
    /// Scheduler::new().add(&flaky).run().unwrap();
    /// assert_eq!(*flaky.result().unwrap(), "done");
    /// assert_eq!(flaky.attempts(), 3);
    /// ```
    pub fn retries(self, retries: u32) -> Self {
        self.any.set_retries(retries);
        self
    }

    /// Makes the job use `amount` of the named limit `name` while it runs: a
    /// scheduler that defines it ([`Scheduler::limit`](crate::Scheduler::limit)), or
    /// one it is nested in, runs at most that limit's worth of such jobs at once, on
    /// top of its window. Several names per job, amounts above 1; a second call for
    /// the same name replaces the amount.
    ///
    /// The job takes its amounts when it is about to start, never while it waits for
    /// its requirements, all at once or none; until they are free it waits holding no
    /// worker, and it gives them back when it ends, fails, times out (even while its
    /// thread still runs), waits for its next attempt, is cancelled or abandoned.
    /// Jobs waiting for a limit start in the order they asked, save that a smaller
    /// amount may pass a larger one that does not fit yet.
    ///
    /// Checked before the run, which then fails with [`Error::Policy`](crate::Error::Policy):
    /// an amount of 0, a name that no scheduler around the job defines, an amount above
    /// the limit (with what jobs it is nested in hold already), a forever job (it would
    /// hold its share until the run ends).
    ///
    /// ```
    /// use jobgraph::{Job, Scheduler};
    /// let s = Scheduler::new().window(8).limit("gpu", 2);
    /// for _ in 0..6 {
    ///     s.add(Job::new(|_| "trained").uses("gpu", 1));
    /// }
    /// assert!(s.run().unwrap());
    /// ```
    pub fn uses(self, name: &str, amount: u32) -> Self {
        self.any.set_uses(name, amount);
        self
    }

    /// How long to wait before each next attempt (see [`retries`](Job::retries)).
    pub fn backoff(self, backoff: Backoff) -> Self {
        self.any.set_backoff(backoff);
        self
    }

    /// Which failures to try again after (see [`retries`](Job::retries)); [`RetryOn::Any`]
    /// by default.
    pub fn retry_on(self, on: RetryOn) -> Self {
        self.any.set_retry_on(on);
        self
    }

    /// The job's priority among the jobs ready at the same time (default 0): when a
    /// worker is free, the ready job with the highest priority starts first. Between
    /// equal priorities, the job with the longest remaining path to the end of the graph
    /// goes first (the sum of the [`cost`](Job::cost)s along it, each job counting 1
    /// unless it has a cost), then the job added first.
    ///
    /// A scheduler where no job has a priority or a cost, and whose
    /// [`longest_path_first`](crate::Scheduler::longest_path_first) is off, starts ready
    /// jobs first come, first served, as it always did. A priority on a
    /// [`forever`](Job::forever) job is an error before the run starts
    /// ([`Error::Policy`]).
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use jobgraph::{Job, Scheduler};
    /// let order = Arc::new(Mutex::new(Vec::new()));
    /// let log = |name: &'static str| {
    ///     let order = order.clone();
    ///     Job::new(move |_| order.lock().unwrap().push(name)).label(name)
    /// };
    /// let s = Scheduler::new().window(1);
    /// s.add(&log("low")).add(&log("high").priority(5)).add(&log("middle").priority(1));
    /// s.run().unwrap();
    /// assert_eq!(*order.lock().unwrap(), ["high", "middle", "low"]);
    /// ```
    pub fn priority(self, priority: i32) -> Self {
        self.any.set_priority(priority);
        self
    }

    /// A hint of how long the job runs, relative to the others (finite, at least 0;
    /// each job counts 1 by default): ready jobs of equal [`priority`](Job::priority)
    /// start longest remaining path first, a path's length being the sum of its jobs'
    /// costs. A job's cost is what it says, in whatever unit its scheduler's jobs share.
    ///
    /// A cost that is not finite or below 0, or a cost on a [`forever`](Job::forever)
    /// job, is an error before the run starts ([`Error::Policy`]).
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use jobgraph::{Job, Scheduler};
    /// let order = Arc::new(Mutex::new(Vec::new()));
    /// let log = |name: &'static str| {
    ///     let order = order.clone();
    ///     Job::new(move |_| order.lock().unwrap().push(name)).label(name)
    /// };
    /// let s = Scheduler::new().window(1);
    /// s.add(&log("short").cost(1.0)).add(&log("long").cost(50.0));
    /// s.run().unwrap();
    /// assert_eq!(*order.lock().unwrap(), ["long", "short"]);
    /// ```
    pub fn cost(self, cost: f64) -> Self {
        self.any.set_cost(cost);
        self
    }

    /// Adds requirements: the job starts only once they are all done.
    pub fn requires(mut self, jobs: impl Jobs) -> Self {
        self.any.add_requires_owned(jobs);
        self
    }

    /// A shutdown hook: called once by [`Scheduler::shutdown`](crate::Scheduler::shutdown)
    /// (asynciojobs' `coshutdown`), at the same time as the other jobs' hooks, for a
    /// closure or future job what [`AbstractJob::shutdown`](crate::AbstractJob::shutdown)
    /// is for a type of one's own. A later call replaces the hook.
    ///
    /// ```
    /// use std::sync::atomic::{AtomicBool, Ordering};
    /// use std::sync::Arc;
    /// use jobgraph::{Job, Scheduler};
    /// let closed = Arc::new(AtomicBool::new(false));
    /// let connection = Job::new(|_| "connected").on_shutdown({
    ///     let closed = closed.clone();
    ///     move || closed.store(true, Ordering::SeqCst)
    /// });
    /// let s = Scheduler::new();
    /// s.add(&connection);
    /// s.run().unwrap();
    /// assert!(s.shutdown());
    /// assert!(closed.load(Ordering::SeqCst));
    /// ```
    pub fn on_shutdown(self, hook: impl FnOnce() + Send + 'static) -> Self {
        self.any.0.core().meta.lock().set_shutdown(Box::new(hook));
        self
    }

    /// The job's value, once it is done without failure.
    ///
    /// Otherwise an error that says why: the job failed ([`Error::JobFailed`], with its
    /// error or panic), or it has not ended ([`Error::NotDone`]).
    pub fn result(&self) -> Result<&T, Error> {
        if let Some(value) = self.any.0.value() {
            if let Some(value) = value.downcast_ref::<T>() {
                return Ok(value);
            }
        }
        if let Some(error) = self.any.0.error() {
            return Err(Error::JobFailed {
                label: self.text_label(),
                source: error.clone(),
            });
        }
        Err(Error::NotDone {
            label: self.text_label(),
            state: self.state().name(),
        })
    }

    /// Moves the job's value out, once it is done without failure: for a large value,
    /// where [`result`](Job::result) lends it. This handle must be the job's last one:
    /// drop the scheduler it ran in, the jobs that require it and the other clones
    /// first, or [`Error::Shared`] says how many remain. Otherwise the errors of
    /// `result`.
    ///
    /// ```
    /// use jobgraph::{Job, Scheduler};
    /// let table = Job::new(|_| vec![0u8; 1 << 20]).label("table");
    /// let s = Scheduler::new();
    /// s.add(&table);
    /// s.run().unwrap();
    /// drop(s); // the scheduler holds a handle to each of its jobs
    /// let table: Vec<u8> = table.into_result().unwrap(); // moved, not copied
    /// assert_eq!(table.len(), 1 << 20);
    /// ```
    pub fn into_result(mut self) -> Result<T, Error> {
        let label = self.text_label();
        let state = self.state();
        let others = Shared::strong_count(&self.any.0) - 1;
        let Some(node) = Shared::get_mut(&mut self.any.0) else {
            return Err(Error::Shared {
                label,
                handles: others,
            });
        };
        match node.take_outcome() {
            Some(Ok(value)) => {
                value
                    .downcast::<T>()
                    .map(|value| *value)
                    .map_err(|_| Error::WrongType {
                        job: label,
                        asked: std::any::type_name::<T>(),
                    })
            }
            Some(Err(error)) => Err(Error::JobFailed {
                label,
                source: error,
            }),
            None => Err(Error::NotDone {
                label,
                state: state.name(),
            }),
        }
    }

    /// The untyped handle of this job.
    pub fn any(&self) -> AnyJob {
        self.any.clone()
    }
}

#[cfg(test)]
mod tests {
    //! The paths a job's only handle takes without a lock (`AnyJob::unique`), against
    //! the locked ones: the same lists, the same refusals. Run under Miri in CI.

    use crate::{Job, Scheduler, Sequence};

    #[test]
    fn requirements_given_to_a_jobs_only_handle_are_kept_once_and_in_order() {
        let (a, b) = (Job::new(|_| 1), Job::new(|_| 2));
        let c = Job::new(|_| 3).requires((&a, &b)).requires((&b, &a));
        assert_eq!(c.requirements(), [a.any(), b.any()]);
    }

    #[test]
    fn borrowed_handles_given_to_a_jobs_only_handle_are_kept_once_and_in_order() {
        let (a, b) = (Job::new(|_| 1), Job::new(|_| 2));
        let d = Job::new(|_| 4)
            .requires(&a)
            .requires(&a)
            .requires([&b, &a, &b]);
        assert_eq!(d.requirements(), [a.any(), b.any()]);
        // Borrowed and owned handles mixed go through the gathered list: the same.
        let e = Job::new(|_| 5)
            .requires((&b, Some(&a)))
            .requires([Some(&b)]);
        assert_eq!(e.requirements(), [b.any(), a.any()]);
        // Each handle given holds its job: the jobs live as long as the one requiring.
        drop((a, b));
        assert_eq!(d.requirements().len(), 2);
    }

    #[test]
    fn a_job_with_a_second_handle_takes_its_requirements_under_its_lock() {
        let a = Job::new(|_| 1);
        let c = Job::new(|_| 3);
        let other = c.clone();
        let c = c.requires(&a);
        assert_eq!(other.requirements(), [a.any()]);
        assert_eq!(c.requirements(), [a.any()]);
    }

    #[test]
    fn a_job_given_itself_through_a_sequence_does_not_require_itself() {
        let a = Job::new(|_| 1);
        let c = Job::new(|_| 3);
        let sequence = Sequence::new((&a, &c));
        let c = c.requires(&sequence);
        // The sequence made `c` require `a`; requiring its last job, `c`, is a no-op.
        assert_eq!(c.requirements(), [a.any()]);
    }

    #[test]
    fn a_job_added_by_its_only_handle_belongs_to_that_scheduler_alone() {
        let s1 = Scheduler::new();
        s1.add(Job::new(|_| 1).label("only"));
        let job = s1.jobs().pop().expect("the job is in s1");
        let s2 = Scheduler::new().with(&job);
        assert!(s2.run().is_err(), "a job of s1 cannot run in s2");
        assert!(s1.run().unwrap());
        assert!(job.is_done());
    }

    /// A `Jobs` of the user's that requires jobs while it pushes its own (what the
    /// job it made required goes into `seen`), then panics if told to.
    struct Meddling<'a> {
        push: &'a Job<i32>,
        seen: &'a std::cell::RefCell<Vec<crate::AnyJob>>,
        panic: bool,
    }

    impl crate::Jobs for Meddling<'_> {
        fn push_jobs(self, out: &mut Vec<crate::AnyJob>) {
            out.push(self.push.any());
            // The thread's list is in use: this one gathers in a list of its own.
            let inner = Job::new(|_| 0).requires(self.push);
            *self.seen.borrow_mut() = inner.requirements();
            assert!(!self.panic, "a Jobs that panics halfway");
        }
    }

    #[test]
    fn a_jobs_that_requires_as_it_pushes_gets_what_it_asked() {
        let (a, seen) = (Job::new(|_| 1), Default::default());
        let c = Job::new(|_| 3).requires(Meddling {
            push: &a,
            seen: &seen,
            panic: false,
        });
        assert_eq!(*seen.borrow(), [a.any()]);
        assert_eq!(c.requirements(), [a.any()]);
    }

    #[test]
    fn a_jobs_that_panics_halfway_leaves_nothing_for_the_next_job() {
        let (a, b, seen) = (Job::new(|_| 1), Job::new(|_| 2), Default::default());
        let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let meddling = Meddling {
                push: &a,
                seen: &seen,
                panic: true,
            };
            Job::new(|_| 3).requires(meddling);
        }));
        assert!(panicked.is_err());
        let c = Job::new(|_| 3).requires(&b);
        assert_eq!(
            c.requirements(),
            [b.any()],
            "nothing of the panicked call is kept"
        );
        let d = Job::new(|_| 4);
        d.add_requires(&a);
        assert_eq!(d.requirements(), [a.any()]);
    }

    #[test]
    fn a_jobs_that_panics_halfway_adds_nothing_to_a_scheduler() {
        let (a, seen) = (Job::new(|_| 1), Default::default());
        let s = Scheduler::new();
        let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            s.add(Meddling {
                push: &a,
                seen: &seen,
                panic: true,
            });
        }));
        assert!(panicked.is_err());
        assert!(s.jobs().is_empty());
        let other = Scheduler::new().with(&a);
        assert!(
            other.run().unwrap(),
            "the job belongs to no scheduler but this one"
        );
    }

    #[test]
    fn a_chain_held_through_its_requirements_alone_is_freed_by_its_last_handle() {
        struct Counted(std::sync::Arc<std::sync::atomic::AtomicUsize>);
        impl Drop for Counted {
            fn drop(&mut self) {
                self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        }
        // Deep enough to overflow the stack were each job freed by its successor's drop.
        let n = if cfg!(miri) { 300 } else { 300_000 };
        let freed = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counted = || Counted(freed.clone());
        let first = counted();
        let mut last = Job::new(move |_| {
            let _held = &first;
        });
        for _ in 0..n {
            let mine = counted();
            last = Job::new(move |_| {
                let _held = &mine;
            })
            .requires(&last);
        }
        assert_eq!(freed.load(std::sync::atomic::Ordering::Relaxed), 0);
        drop(last);
        assert_eq!(freed.load(std::sync::atomic::Ordering::Relaxed), n + 1);
    }

    #[test]
    fn jobs_added_by_their_only_handles_run_once_each() {
        let s = Scheduler::new().window(2);
        s.add((0..8).map(|i| Job::new(move |_| i)).collect::<Vec<_>>());
        s.add(Job::new(|_| 8));
        let jobs = s.jobs();
        assert_eq!(jobs.len(), 9);
        assert!(s.run().unwrap());
        let mut values: Vec<String> = jobs.iter().filter_map(|j| j.result_text()).collect();
        values.sort();
        assert_eq!(values, ["0", "1", "2", "3", "4", "5", "6", "7", "8"]);
    }

    #[test]
    fn a_chain_built_on_only_handles_runs_in_order() {
        let mut last = Job::new(|_| 0u64);
        let mut jobs = vec![last.clone()];
        for _ in 0..20 {
            let prev = last.clone();
            last =
                Job::new(move |ctx| ctx.get(&prev).map(|v| v + 1)).requires(&jobs[jobs.len() - 1]);
            jobs.push(last.clone());
        }
        let s = Scheduler::new().window(2);
        s.add(jobs);
        assert!(s.run().unwrap());
        assert_eq!(*last.result().unwrap(), 20);
    }
}
