//! The pool: worker threads that outlive runs.
//!
//! A run hires the workers it needs, one at a time as its jobs become ready and up to
//! its window: an idle thread of the pool when there is one (the one that went idle
//! last, whose caches are warmest), a new thread otherwise. When its part of the run is
//! over, a thread goes back to the pool, looks for a new shift for 150 µs (`IDLE_SPIN`),
//! then parks; after the pool's keep-alive with no shift it leaves.
//!
//! Nothing caps the threads of a pool: a worker whose job waits on a nested run does
//! not run jobs meanwhile (it could not then return promptly from its own job when its
//! run ends), so the nested run hires threads of its own, and nesting never deadlocks.
//! What bounds the threads is the window of each run (and the cap on it,
//! [`UNLIMITED_WINDOW_WORKERS`](crate::UNLIMITED_WINDOW_WORKERS)): after any number of
//! runs, one after the other, a pool holds at most the widest run's workers.
//!
//! # Who waits for whom
//!
//! * A hirer pops an idle seat under the pool's lock, then hands it the shift under the
//!   seat's lock, sets `ready`, and notifies the seat's condition variable (a cheap
//!   atomic when the thread is still spinning).
//! * An idle thread pushes its seat under the pool's lock, spins on `ready`, then waits
//!   on the seat's condition variable under the seat's lock, looking at the shift
//!   first: a shift handed before the wait is seen, one handed after wakes it.
//! * A thread whose keep-alive ran out takes the pool's lock: when its seat is still
//!   idle it removes it and leaves; when it is not, a hirer has it and is about to hand
//!   it a shift, so it waits for that shift.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, OnceLock, Weak};
use std::time::{Duration, Instant};

use crate::sync::{
    spin_for, thread, wait_until_or_notified, AtomicBool, AtomicU64, Condvar, Mutex, Ordering,
};

/// A part of a run, handed to one thread of the pool. It may say when it is as good
/// as over ([`Leave::now`]): the thread then takes its next shift as soon as it is
/// done with this one, and a run that follows at once finds it idle.
pub(crate) type Shift = Box<dyn FnOnce(&Leave<'_>) + Send + 'static>;

/// Puts a thread back among the idle ones of its pool, once.
pub(crate) struct Leave<'a> {
    shared: &'a Shared,
    seat: &'a Arc<Seat>,
    /// `Some(idle)` once done: whether the seat went idle (the pool was open).
    done: std::cell::Cell<Option<bool>>,
}

impl Leave<'_> {
    /// This thread's shift is over but for its last steps: it may be handed its next.
    pub(crate) fn now(&self) {
        self.idle();
    }

    /// Whether the seat is idle now (after this call), as opposed to the pool closed.
    fn idle(&self) -> bool {
        if let Some(idle) = self.done.get() {
            return idle;
        }
        let mut state = self.shared.state.lock();
        let idle = !state.closed;
        if idle {
            state.idle.push(self.seat.clone());
        }
        self.done.set(Some(idle));
        idle
    }
}

/// How long an idle thread of a pool waits for a new shift before it leaves, unless
/// [`Pool::keep_alive`] says otherwise.
pub const DEFAULT_KEEP_ALIVE: Duration = Duration::from_secs(5);

/// How long an idle thread looks for a shift before it parks (its keep-alive, when
/// shorter): back-to-back runs find it awake. A scheduler's 1,000-job graph takes about
/// 80 µs to drop, build again and freeze between two runs; a thread that had parked
/// meanwhile cost each run 20 to 35 µs more than one still looking.
const IDLE_SPIN: Duration = Duration::from_micros(150);

/// Worker threads that outlive runs, shared by every run that uses the pool.
///
/// Runs use [`Pool::global`] unless given another with
/// [`Scheduler::pool`](crate::Scheduler::pool) or [`Batch::pool`](crate::Batch::pool);
/// a nested run uses the pool of the worker that runs it. A pool has no fixed size: a
/// run hires up to its window of idle threads, and starts new ones when none is idle;
/// idle threads leave after the [keep-alive](Pool::keep_alive). A handle: clones are
/// the same pool.
///
/// ```
/// use std::time::Duration;
/// use jobgraph::{Job, Pool, Scheduler};
///
/// let pool = Pool::new().keep_alive(Duration::from_secs(1));
/// for round in 0..3 {
///     let s = Scheduler::new().window(2).pool(&pool);
///     s.add((Job::new(move |_| round), Job::new(|_| 2)));
///     assert!(s.run().unwrap());
/// }
/// // The two workers served all three runs.
/// assert!(pool.threads() <= 2);
/// assert!(pool.shutdown(Duration::from_secs(5)));
/// ```
#[derive(Clone)]
pub struct Pool {
    shared: Arc<Shared>,
}

struct Shared {
    state: Mutex<State>,
    /// Notified each time a thread leaves (for `shutdown`).
    left: Condvar,
    keep_alive: AtomicU64,
}

#[derive(Default)]
struct State {
    /// Idle threads, the most recently idle last.
    idle: Vec<Arc<Seat>>,
    /// Threads alive: idle, serving a shift, or starting.
    threads: usize,
    closed: bool,
}

/// Where one thread of the pool waits for its next shift.
#[derive(Default)]
struct Seat {
    shift: Mutex<Option<Shift>>,
    ready: AtomicBool,
    handed: Condvar,
}

thread_local! {
    /// The pool this thread serves, for the runs started on it (nested runs).
    static SERVING: std::cell::RefCell<Weak<Shared>> = const { std::cell::RefCell::new(Weak::new()) };
}

impl Default for Pool {
    fn default() -> Self {
        Pool::new()
    }
}

impl Pool {
    /// A pool with no thread yet; threads start as runs need them.
    pub fn new() -> Pool {
        Pool {
            shared: Arc::new(Shared {
                state: Mutex::new(State::default()),
                left: Condvar::new(),
                keep_alive: AtomicU64::new(nanos(DEFAULT_KEEP_ALIVE)),
            }),
        }
    }

    /// The process-wide pool, started the first time a run needs it (as rayon's global
    /// pool is); its keep-alive is [`DEFAULT_KEEP_ALIVE`].
    pub fn global() -> Pool {
        static GLOBAL: OnceLock<Pool> = OnceLock::new();
        GLOBAL.get_or_init(Pool::new).clone()
    }

    /// The pool a run started on this thread uses by default: the pool this thread
    /// serves when it is a worker (a nested run), else the global pool.
    pub(crate) fn current() -> Pool {
        SERVING
            .with(|serving| serving.borrow().upgrade())
            .map_or_else(Pool::global, |shared| Pool { shared })
    }

    /// How long an idle thread waits for a new shift before it leaves (default
    /// [`DEFAULT_KEEP_ALIVE`]); `Duration::MAX` keeps idle threads for good. Takes
    /// effect for threads that go idle from now on. An idle thread spends the first
    /// 150 µs of it (all of it, when shorter) looking for a shift on its CPU, yielding
    /// to any other thread there, so that back-to-back runs find it awake; it then
    /// sleeps until a run hires it.
    pub fn keep_alive(self, keep_alive: Duration) -> Pool {
        self.shared
            .keep_alive
            .store(nanos(keep_alive), Ordering::Relaxed);
        self
    }

    /// Threads alive in the pool: idle ones and those serving a run.
    pub fn threads(&self) -> usize {
        self.shared.state.lock().threads
    }

    /// Threads of the pool waiting for a run.
    pub fn idle(&self) -> usize {
        self.shared.state.lock().idle.len()
    }

    /// Closes the pool: idle threads leave at once, busy ones when their part of their
    /// run is over, and runs started on it afterwards fail with
    /// [`Error::PoolClosed`](crate::Error::PoolClosed). Waits up to `timeout` for every
    /// thread to have left, and says whether they all did (a thread whose job never
    /// returns never leaves). Calling it again waits again. The global pool can be shut
    /// down too: runs that would use it are refused from then on.
    pub fn shutdown(&self, timeout: Duration) -> bool {
        let deadline = Instant::now().checked_add(timeout);
        let mut state = self.shared.state.lock();
        state.closed = true;
        for seat in std::mem::take(&mut state.idle) {
            // An idle thread handed no shift leaves (see `serve`).
            let _shift = seat.shift.lock();
            seat.ready.store(true, Ordering::Release);
            seat.handed.notify_one();
        }
        while state.threads > 0 {
            if wait_until_or_notified(&self.shared.left, &mut state, deadline) {
                return state.threads == 0;
            }
        }
        true
    }

    /// Runs `shift` on a thread of the pool: an idle one, or a new one. `Err` when the
    /// pool is closed (`None`) or the OS refused a thread (`Some`).
    pub(crate) fn hire(&self, shift: Shift) -> Result<(), Option<std::io::Error>> {
        let seat = {
            let mut state = self.shared.state.lock();
            if state.closed {
                return Err(None);
            }
            match state.idle.pop() {
                Some(seat) => seat,
                None => {
                    state.threads += 1;
                    drop(state);
                    return self.start(shift).map_err(|error| {
                        self.shared.state.lock().threads -= 1;
                        self.shared.left.notify_all();
                        Some(error)
                    });
                }
            }
        };
        let mut slot = seat.shift.lock();
        *slot = Some(shift);
        seat.ready.store(true, Ordering::Release);
        seat.handed.notify_one();
        Ok(())
    }

    fn start(&self, first: Shift) -> std::io::Result<()> {
        let shared = self.shared.clone();
        thread::Builder::new()
            .name("jobgraph worker".into())
            .spawn(move || serve(shared, first))
            .map(drop)
    }
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.shared.state.lock();
        write!(
            f,
            "Pool({} thread(s), {} idle{})",
            state.threads,
            state.idle.len(),
            if state.closed { ", closed" } else { "" }
        )
    }
}

fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

/// A thread of the pool: serves shifts until the pool closes or its keep-alive runs
/// out.
fn serve(shared: Arc<Shared>, first: Shift) {
    SERVING.with(|serving| *serving.borrow_mut() = Arc::downgrade(&shared));
    let seat = Arc::new(Seat::default());
    let mut shift = Some(first);
    while let Some(work) = shift.take() {
        let leave = Leave {
            shared: &shared,
            seat: &seat,
            done: std::cell::Cell::new(None),
        };
        // The engine catches jobs' panics; this keeps the thread to the pool should
        // anything else in a shift panic (the panic hook has reported it).
        let _ = catch_unwind(AssertUnwindSafe(|| work(&leave)));
        if !leave.idle() {
            break;
        }
        shift = next_shift(&shared, &seat);
    }
    let mut state = shared.state.lock();
    state.threads -= 1;
    drop(state);
    shared.left.notify_all();
}

/// Waits, idle, for the next shift: `None` when the thread is to leave.
fn next_shift(shared: &Shared, seat: &Seat) -> Option<Shift> {
    let keep_alive = Duration::from_nanos(shared.keep_alive.load(Ordering::Relaxed));
    // With no keep-alive a thread leaves at once: each run starts its own.
    if !keep_alive.is_zero() {
        spin_for(IDLE_SPIN.min(keep_alive), || {
            seat.ready.load(Ordering::Acquire)
        });
    }
    let deadline = Instant::now().checked_add(keep_alive);
    let mut slot = seat.shift.lock();
    loop {
        if seat.ready.swap(false, Ordering::AcqRel) {
            // Handed a shift, or told to leave by `shutdown` (no shift).
            return slot.take();
        }
        let timed_out = wait_until_or_notified(&seat.handed, &mut slot, deadline);
        if timed_out && !seat.ready.load(Ordering::Acquire) {
            drop(slot);
            let mut state = shared.state.lock();
            if let Some(i) = state
                .idle
                .iter()
                .position(|idle| std::ptr::eq(&**idle, seat))
            {
                state.idle.swap_remove(i);
                return None;
            }
            // A hirer took this seat: its shift is on the way.
            drop(state);
            slot = seat.shift.lock();
            while !seat.ready.swap(false, Ordering::AcqRel) {
                seat.handed.wait(&mut slot);
            }
            return slot.take();
        }
    }
}
