//! The timer thread behind [`sleep`] and the engine's alarms (a job's own timeout): one
//! per process, started when a sleep first waits, gone again as soon as nothing is
//! pending.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use crate::sync::global::{thread, Condvar, Mutex};

struct Timers {
    /// Pending sleeps by (deadline, unique number).
    wakers: BTreeMap<(Instant, u64), Waker>,
    next_id: u64,
    thread_running: bool,
}

static TIMERS: Mutex<Timers> = Mutex::new(Timers {
    wakers: BTreeMap::new(),
    next_id: 0,
    thread_running: false,
});
static CHANGED: Condvar = Condvar::new();

thread_local! {
    /// Set when a sleep on this thread returns `Pending`: its future will be woken by
    /// the timer, so stall detection does not count it as stuck.
    static ARMED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Whether a sleep returned `Pending` on this thread since the last call; clears it.
pub(crate) fn take_armed() -> bool {
    ARMED.with(|armed| armed.replace(false))
}

/// A future that completes after `duration`, under any executor: `pollster` inside a
/// future job, tokio, smol... It is served by jobgraph's own timer thread.
///
/// Inside a future job it also ends early, with the job, when the run is cancelled.
///
/// `Duration::MAX` (or any duration too long to count from now) never ends: the future
/// stays pending, so inside a future job it lasts until the run cancels the job. Such a
/// sleep arms no timer, so it counts as waiting on nothing for stall detection (see
/// [`Scheduler::stall_timeout`](crate::Scheduler::stall_timeout)).
///
/// ```
/// use std::time::{Duration, Instant};
/// let start = Instant::now();
/// pollster::block_on(jobgraph::sleep(Duration::from_millis(20)));
/// assert!(start.elapsed() >= Duration::from_millis(20));
/// ```
pub fn sleep(duration: Duration) -> Sleep {
    Sleep {
        deadline: Instant::now().checked_add(duration),
        key: None,
    }
}

/// The future returned by [`sleep`].
#[derive(Debug)]
pub struct Sleep {
    /// `None`: never.
    deadline: Option<Instant>,
    key: Option<(Instant, u64)>,
}

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let Some(deadline) = self.deadline else {
            // Nothing will wake it: it ends only when whoever polls it drops it.
            return Poll::Pending;
        };
        if Instant::now() >= deadline {
            self.forget();
            return Poll::Ready(());
        }
        ARMED.with(|armed| armed.set(true));
        if !arm(&mut self.key, deadline, cx.waker()) {
            // No thread to wait for us: poll again soon rather than never.
            thread::sleep(Duration::from_millis(1));
            cx.waker().wake_by_ref();
        }
        Poll::Pending
    }
}

/// Registers `waker` to be woken at `deadline` (under `key`, made on the first call),
/// starting the timer thread if it is not running. False when that thread could not
/// be started.
fn arm(key: &mut Option<(Instant, u64)>, deadline: Instant, waker: &Waker) -> bool {
    let mut timers = TIMERS.lock();
    let key = match *key {
        Some(key) => key,
        None => {
            timers.next_id += 1;
            let made = (deadline, timers.next_id);
            *key = Some(made);
            made
        }
    };
    timers.wakers.insert(key, waker.clone());
    let earliest = timers.wakers.keys().next() == Some(&key);
    if !timers.thread_running {
        timers.thread_running = true;
        if thread::Builder::new()
            .name("jobgraph-timer".into())
            .spawn(serve)
            .is_err()
        {
            timers.thread_running = false;
            timers.wakers.remove(&key);
            return false;
        }
    } else if earliest {
        CHANGED.notify_one();
    }
    true
}

/// Forgets the registration under `key`, if it is still there.
fn forget(key: &mut Option<(Instant, u64)>) {
    if let Some(key) = key.take() {
        let mut timers = TIMERS.lock();
        let earliest = timers.wakers.keys().next() == Some(&key);
        timers.wakers.remove(&key);
        // The timer thread waits for the earliest deadline: when that sleep goes
        // (dropped before its time, as a cancelled job's is), tell it to wait for
        // the next one, or to return when none is left, rather than linger.
        if earliest && timers.thread_running {
            CHANGED.notify_one();
        }
    }
}

/// A waker woken by the timer thread at an instant, unless this is dropped first: how
/// the engine is told that a job's own timeout, or the grace after it, has passed.
pub(crate) struct Alarm {
    key: Option<(Instant, u64)>,
}

impl Alarm {
    /// Wakes `waker` at `at`. When no timer thread can be started (the OS refused a
    /// thread), nothing wakes it: a job's own deadline is then seen only by its
    /// context, when the job looks or returns, never earlier than it is due.
    pub(crate) fn set(at: Instant, waker: Waker) -> Alarm {
        let mut key = None;
        arm(&mut key, at, &waker);
        Alarm { key }
    }
}

impl Drop for Alarm {
    fn drop(&mut self) {
        forget(&mut self.key)
    }
}

impl Sleep {
    fn forget(&mut self) {
        forget(&mut self.key)
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        self.forget()
    }
}

/// The timer thread: wakes each sleep at its deadline, exits when none is left.
fn serve() {
    let mut timers = TIMERS.lock();
    loop {
        let now = Instant::now();
        let mut due = Vec::new();
        while let Some(entry) = timers.wakers.first_entry() {
            if entry.key().0 > now {
                break;
            }
            due.push(entry.remove());
        }
        if !due.is_empty() {
            drop(timers);
            due.into_iter().for_each(Waker::wake);
            timers = TIMERS.lock();
            continue;
        }
        match timers.wakers.keys().next() {
            Some(&(deadline, _)) => {
                CHANGED.wait_until(&mut timers, deadline);
            }
            None => {
                timers.thread_running = false;
                return;
            }
        }
    }
}
