//! Every lock, condition variable, atomic, thread and unsynchronised cell the engine
//! and the batch use comes from here, so that the run protocol has one place to swap
//! in a model checker's primitives.
//!
//! Normally these are `std`'s and `parking_lot`'s. Built with `RUSTFLAGS="--cfg loom"`,
//! they are [loom](https://docs.rs/loom)'s, behind thin wrappers with the API the crate
//! uses (parking_lot's lock and condition variable, spin's lock and write-once cell), so
//! the crate compiles the same both ways and the `loom` unit tests drive the real code:
//! see RELIABILITY.md for which models there are and what each one covers.
//!
//! What stays real under loom: the work-stealing deques (crossbeam-deque has no loom
//! support; the models of the worker pool stand in for them, see
//! `engine/loom_models.rs`), `Arc` and the jobs' own handle (`job::Shared`, whose
//! atomics are `std`'s as `Arc`'s are), and the process-wide statics of [`global`], which
//! live across runs and so outside any model.

pub(crate) use crossbeam_deque::{Steal, Stealer, Worker};

#[cfg(not(loom))]
pub(crate) use parking_lot::{Condvar, Mutex, MutexGuard};
#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{
    fence, AtomicBool, AtomicU32, AtomicU64, AtomicU8, AtomicUsize, Ordering,
};
#[cfg(not(loom))]
pub(crate) use std::thread;

/// A lock whose release is a plain store: for data held for nanoseconds (a job's label
/// and requirements) or by one thread at a time by construction (a job's body), where a
/// parking lock's second atomic read-modify-write would double its cost. Waiters yield.
#[cfg(not(loom))]
pub(crate) type SpinLock<T> = spin::mutex::SpinMutex<T, spin::relax::Yield>;

/// The guard of a [`SpinLock`].
#[cfg(not(loom))]
pub(crate) type SpinLockGuard<'a, T> = spin::mutex::SpinMutexGuard<'a, T, spin::relax::Yield>;

/// A write-once cell whose write is one compare-and-swap and one store.
#[cfg(not(loom))]
pub(crate) type Once<T> = spin::once::Once<T, spin::relax::Yield>;

/// A cell reached through raw pointers without synchronisation, as a batch's slot
/// reaches its body and outcome: std's `UnsafeCell`, reached the way loom's is, through
/// [`with`](UnsafeCell::with) and [`with_mut`](UnsafeCell::with_mut), so that the same
/// code builds with loom's, which checks that no two such accesses race.
#[cfg(not(loom))]
pub(crate) struct UnsafeCell<T>(std::cell::UnsafeCell<T>);

#[cfg(not(loom))]
impl<T> UnsafeCell<T> {
    pub(crate) const fn new(value: T) -> Self {
        UnsafeCell(std::cell::UnsafeCell::new(value))
    }

    /// Calls `f` with a pointer to the content, to read through.
    #[inline(always)]
    pub(crate) fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
        f(self.0.get())
    }

    /// Calls `f` with a pointer to the content, to write through.
    #[inline(always)]
    pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
        f(self.0.get())
    }
}

/// Looks at `done` again and again for about `limit` (reading the clock every 64
/// looks), yielding at those times so that a thread waiting for this CPU gets it: for
/// waits that usually end within microseconds, where parking and a wake-up would cost
/// more. True once `done` said so, false when the time ran out. Under loom, a fixed
/// number of looks: a model's runs must not depend on the clock.
pub(crate) fn spin_for(limit: std::time::Duration, mut done: impl FnMut() -> bool) -> bool {
    #[cfg(not(loom))]
    let until = std::time::Instant::now().checked_add(limit);
    #[cfg(loom)]
    let _ = limit;
    let mut round = 0u32;
    loop {
        if done() {
            return true;
        }
        round = round.wrapping_add(1);
        if round % 64 != 0 {
            std::hint::spin_loop();
            continue;
        }
        #[cfg(not(loom))]
        if until.is_none_or(|until| std::time::Instant::now() >= until) {
            return false;
        }
        #[cfg(loom)]
        if round >= 1 << 10 {
            return false;
        }
        thread::yield_now();
    }
}

/// Asks the processor to bring the cache line at `at` close, without waiting for it:
/// for passes over many jobs, each in its own allocation, where a locked instruction
/// on a line not yet there would wait for that line alone. A hint only, which orders
/// nothing: a no-op where it has no instruction.
#[inline(always)]
pub(crate) fn prefetch<T>(at: *const T) {
    #[cfg(all(target_arch = "x86_64", target_feature = "sse", not(miri)))]
    // SAFETY: a prefetch reads nothing and cannot fault, whatever the address.
    #[allow(unsafe_code)]
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(at.cast());
    }
    #[cfg(not(all(target_arch = "x86_64", target_feature = "sse", not(miri))))]
    let _ = at;
}

/// Process-wide primitives for statics (the timer thread's queue, the id counters):
/// they outlive any one run, so they stay the real ones under loom, whose primitives
/// belong to one execution of one model.
pub(crate) mod global {
    pub(crate) use parking_lot::{Condvar, Mutex};
    pub(crate) use std::sync::atomic::{AtomicU32, AtomicU64};
    pub(crate) use std::thread;
}

#[cfg(all(loom, test))]
pub(crate) use model::check;
#[cfg(loom)]
pub(crate) use model::{
    fence, thread, AtomicBool, AtomicU32, AtomicU64, AtomicU8, AtomicUsize, Condvar, Mutex,
    MutexGuard, Once, Ordering, SpinLock, SpinLockGuard, UnsafeCell,
};

/// A run's deadline: no job starts, and none ends in time, once it has passed.
///
/// Read through the monotonic clock, which every thread sees alike: a thread that reads
/// it past the deadline after it sealed a job's end knows that end came before the read.
/// Under loom, which has no time, the clock is a flag that a model sets
/// ([`Deadline::pass`]) behind a `SeqCst` fence, and each reading fences first: time
/// passes for every thread at once, as it does for the real clock.
pub(crate) struct Deadline {
    at: std::time::Instant,
    #[cfg(loom)]
    passed: AtomicBool,
}

impl Deadline {
    /// The instant `timeout` from now; `None` when that is too far to count (no
    /// deadline).
    pub(crate) fn after(timeout: std::time::Duration) -> Option<Deadline> {
        Some(Deadline {
            at: std::time::Instant::now().checked_add(timeout)?,
            #[cfg(loom)]
            passed: AtomicBool::new(false),
        })
    }

    /// When it passes, for timed waits.
    pub(crate) fn at(&self) -> std::time::Instant {
        self.at
    }

    /// Whether it has passed: one reading of the clock.
    #[cfg(not(loom))]
    #[inline]
    pub(crate) fn passed(&self) -> bool {
        std::time::Instant::now() >= self.at
    }

    /// Whether it has passed: the model's clock.
    #[cfg(loom)]
    pub(crate) fn passed(&self) -> bool {
        fence(Ordering::SeqCst);
        self.passed.load(Ordering::Relaxed)
    }

    /// Lets the deadline pass, in a model.
    #[cfg(all(loom, test))]
    pub(crate) fn pass(&self) {
        self.passed.store(true, Ordering::Relaxed);
        fence(Ordering::SeqCst);
    }
}

/// Waits on `condvar`, `guard` held, until it is notified or `deadline` passes
/// (`None`: no deadline, as for a duration too long to count); true when the deadline
/// ended the wait.
pub(crate) fn wait_until_or_notified<T>(
    condvar: &Condvar,
    guard: &mut MutexGuard<'_, T>,
    deadline: Option<std::time::Instant>,
) -> bool {
    match deadline {
        Some(deadline) => condvar.wait_until(guard, deadline).timed_out(),
        None => {
            condvar.wait(guard);
            false
        }
    }
}

/// loom's primitives with the API of the real ones.
#[cfg(loom)]
mod model {
    use std::fmt;
    use std::mem::MaybeUninit;
    use std::ops::{Deref, DerefMut};
    use std::time::Instant;

    /// Explores every interleaving of `body` (up to `LOOM_MAX_PREEMPTIONS` preemptions,
    /// 3 when unset), and prints how many it ran: the figure RELIABILITY.md quotes.
    #[cfg(test)]
    pub(crate) fn check(name: &str, body: impl Fn() + Sync + Send + 'static) {
        use std::sync::atomic::{AtomicUsize, Ordering};
        use std::sync::Arc;
        let runs = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&runs);
        let mut builder = loom::model::Builder::new();
        if builder.preemption_bound.is_none() {
            builder.preemption_bound = Some(3);
        }
        let bound = builder.preemption_bound;
        let start = std::time::Instant::now();
        builder.check(move || {
            counted.fetch_add(1, Ordering::Relaxed);
            body()
        });
        println!(
            "loom model {name}: {} interleavings, preemption bound {bound:?}, {:.1?}",
            runs.load(Ordering::Relaxed),
            start.elapsed()
        );
    }

    pub(crate) use loom::sync::atomic::{
        fence, AtomicBool, AtomicU32, AtomicU64, AtomicU8, AtomicUsize, Ordering,
    };

    /// loom's cell: its `with` and `with_mut` record each access, and a model fails
    /// when two of them race.
    pub(crate) use loom::cell::UnsafeCell;

    /// loom's threads, and the two timed calls the crate makes, which loom has no time
    /// for.
    pub(crate) mod thread {
        use std::time::Duration;

        #[cfg(test)]
        pub(crate) use loom::thread::spawn;
        pub(crate) use loom::thread::{current, park, yield_now, Builder, Thread};

        /// A park that only an unpark ends: under the model a timeout never saves a
        /// lost wake-up, which then shows as a deadlock.
        pub(crate) fn park_timeout(_: Duration) {
            loom::thread::park()
        }
    }

    /// parking_lot's `Mutex` API over loom's: `lock` gives the guard, no poisoning.
    pub(crate) struct Mutex<T>(loom::sync::Mutex<T>);

    /// The guard of a [`Mutex`]; an `Option` so that [`Condvar::wait`] can hand it to
    /// loom by value and take it back, behind parking_lot's `&mut guard`.
    pub(crate) struct MutexGuard<'a, T>(Option<loom::sync::MutexGuard<'a, T>>);

    impl<T> Mutex<T> {
        pub(crate) fn new(value: T) -> Self {
            Mutex(loom::sync::Mutex::new(value))
        }

        pub(crate) fn get_mut(&mut self) -> &mut T {
            self.0
                .get_mut()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
        }

        pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
            MutexGuard(Some(
                self.0
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner),
            ))
        }

        pub(crate) fn try_lock(&self) -> Option<MutexGuard<'_, T>> {
            match self.0.try_lock() {
                Ok(guard) => Some(MutexGuard(Some(guard))),
                Err(std::sync::TryLockError::Poisoned(poisoned)) => {
                    Some(MutexGuard(Some(poisoned.into_inner())))
                }
                Err(std::sync::TryLockError::WouldBlock) => None,
            }
        }
    }

    impl<T: Default> Default for Mutex<T> {
        fn default() -> Self {
            Mutex::new(T::default())
        }
    }

    impl<T> fmt::Debug for Mutex<T> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("Mutex { .. }")
        }
    }

    impl<T> Deref for MutexGuard<'_, T> {
        type Target = T;
        fn deref(&self) -> &T {
            self.0
                .as_deref()
                .expect("a guard is held but while it waits")
        }
    }

    impl<T> DerefMut for MutexGuard<'_, T> {
        fn deref_mut(&mut self) -> &mut T {
            self.0
                .as_deref_mut()
                .expect("a guard is held but while it waits")
        }
    }

    /// A lock that spins in the real crate: loom's lock here, since a spin on real
    /// atomics would never let the model's other threads run.
    pub(crate) type SpinLock<T> = Mutex<T>;

    /// The guard of a [`SpinLock`].
    pub(crate) type SpinLockGuard<'a, T> = MutexGuard<'a, T>;

    /// parking_lot's `Condvar` API over loom's.
    #[derive(Debug)]
    pub(crate) struct Condvar(loom::sync::Condvar);

    /// Whether a timed wait timed out: under loom, never (loom has no time).
    pub(crate) struct WaitTimeoutResult;

    impl WaitTimeoutResult {
        pub(crate) fn timed_out(&self) -> bool {
            false
        }
    }

    impl Condvar {
        pub(crate) fn new() -> Self {
            Condvar(loom::sync::Condvar::new())
        }

        pub(crate) fn wait<T>(&self, guard: &mut MutexGuard<'_, T>) {
            let held = guard.0.take().expect("a guard waits once at a time");
            guard.0 = Some(
                self.0
                    .wait(held)
                    .unwrap_or_else(std::sync::PoisonError::into_inner),
            );
        }

        /// A wait that only a notification ends, as loom's own timed wait is.
        pub(crate) fn wait_until<T>(
            &self,
            guard: &mut MutexGuard<'_, T>,
            _: Instant,
        ) -> WaitTimeoutResult {
            self.wait(guard);
            WaitTimeoutResult
        }

        pub(crate) fn notify_one(&self) {
            self.0.notify_one()
        }

        pub(crate) fn notify_all(&self) {
            self.0.notify_all()
        }
    }

    impl Default for Condvar {
        fn default() -> Self {
            Condvar::new()
        }
    }

    const INCOMPLETE: u8 = 0;
    const RUNNING: u8 = 1;
    const COMPLETE: u8 = 2;

    /// spin's `Once` protocol on loom's atomics, so the model checks its users: the
    /// first caller wins one compare-and-swap (acquire), writes the value, and
    /// publishes it with a release store; the others wait (yielding) for that store.
    /// What it does not check is spin's own code, which this mirrors.
    pub(crate) struct Once<T> {
        state: AtomicU8,
        value: loom::cell::UnsafeCell<MaybeUninit<T>>,
    }

    // SAFETY: the value is written once, by the caller that won the compare-and-swap,
    // before the release store of `COMPLETE`, and read only after an acquire load sees
    // it (loom checks both): shared like spin's `Once`, which needs the same bounds.
    #[allow(unsafe_code)]
    unsafe impl<T: Send + Sync> Sync for Once<T> {}
    #[allow(unsafe_code)]
    unsafe impl<T: Send> Send for Once<T> {}

    impl<T> Once<T> {
        pub(crate) fn new() -> Self {
            Once {
                state: AtomicU8::new(INCOMPLETE),
                value: loom::cell::UnsafeCell::new(MaybeUninit::uninit()),
            }
        }

        pub(crate) fn call_once(&self, f: impl FnOnce() -> T) -> &T {
            match self.state.compare_exchange(
                INCOMPLETE,
                RUNNING,
                Ordering::Acquire,
                Ordering::Acquire,
            ) {
                Ok(_) => {
                    let value = f();
                    // SAFETY: the compare-and-swap made this caller the only writer,
                    // and nobody reads before `COMPLETE`.
                    #[allow(unsafe_code)]
                    self.value.with_mut(|cell| unsafe { (*cell).write(value) });
                    self.state.store(COMPLETE, Ordering::Release);
                }
                Err(_) => {
                    while self.state.load(Ordering::Acquire) != COMPLETE {
                        loom::thread::yield_now();
                    }
                }
            }
            self.read()
        }

        pub(crate) fn get(&self) -> Option<&T> {
            (self.state.load(Ordering::Acquire) == COMPLETE).then(|| self.read())
        }

        pub(crate) fn get_mut(&mut self) -> Option<&mut T> {
            if self.state.load(Ordering::Acquire) != COMPLETE {
                return None;
            }
            // SAFETY: `COMPLETE`, so initialised; `&mut self`, so no other access.
            #[allow(unsafe_code)]
            Some(
                self.value
                    .with_mut(|cell| unsafe { &mut *(*cell).as_mut_ptr() }),
            )
        }

        /// The value, once an acquire load saw `COMPLETE`.
        fn read(&self) -> &T {
            // SAFETY: `COMPLETE` was seen with acquire after the writer's release store,
            // so the value is initialised, and nothing writes it again.
            #[allow(unsafe_code)]
            self.value.with(|cell| unsafe { &*(*cell).as_ptr() })
        }
    }

    impl<T> Drop for Once<T> {
        fn drop(&mut self) {
            if self.state.with_mut(|state| *state) == COMPLETE {
                // SAFETY: complete, hence initialised; this is its last use.
                #[allow(unsafe_code)]
                self.value
                    .with_mut(|cell| unsafe { (*cell).assume_init_drop() });
            }
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use std::time::{Duration, Instant};

    use super::spin_for;

    #[test]
    fn spin_for_says_when_it_saw_the_end_and_gives_up_when_its_time_is_up() {
        let mut looks = 0;
        assert!(spin_for(Duration::from_secs(60), || {
            looks += 1;
            looks == 1_000
        }));
        assert_eq!(looks, 1_000);
        let started = Instant::now();
        assert!(!spin_for(Duration::from_millis(5), || false));
        let took = started.elapsed();
        assert!(took >= Duration::from_millis(5), "gave up after {took:?}");
        // A wide margin: a busy machine may hold the thread back between looks.
        assert!(
            took < Duration::from_secs(5),
            "still looking after {took:?}"
        );
    }
}
