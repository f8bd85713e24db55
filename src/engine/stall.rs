//! Stall detection: a run where every running job is a future parked on something that
//! no job can provide any more, while no other job can start.
//!
//! The classic case is a window of 1 and a future job that awaits a channel fed by a
//! later job: the future holds the only slot, and the job that would feed it waits for
//! that slot. Nothing will ever move, except from outside the run.
//!
//! # How it is seen, and what it costs
//!
//! * A future job counts itself in `parked` each time it returns `Pending`, unless that
//!   poll armed a [`sleep`](crate::sleep) (a timer will wake it: it is not stuck), and
//!   counts itself out, and counts one `move`, when it is polled again. Closure jobs and
//!   futures that never wait do not touch these counters: the hot path pays nothing.
//! * The coordinator, which waits for the end of the run anyway, checks now and then
//!   while `parked > 0` (a future that parks first wakes it, under its lock, so that it
//!   starts checking: no check is missed). The run is *stuck* when every worker that is
//!   not idle is running a parked future, and the ready queue is empty or no worker is
//!   idle to take it. Any other state means some thread is doing something.
//! * Stuck continuously, with no `move` and the same ready queue, for the stall timeout:
//!   the run ends with `Reason::Stalled`. A wake-up from outside the run (another
//!   thread, an I/O reactor) is a `move`, so only futures silent for the whole timeout
//!   while the whole run is blocked are reported.

use std::time::{Duration, Instant};

use crate::sync::{AtomicU64, AtomicUsize, Mutex, Ordering};

/// The counters future jobs keep for stall detection.
pub(crate) struct Stall {
    /// How long a run may stay stuck before it is reported; `None`: never.
    pub(crate) timeout: Option<Duration>,
    /// Future jobs parked in `Pending` without a timer armed.
    pub(crate) parked: AtomicUsize,
    /// Polls of parked futures since the run started.
    pub(crate) moves: AtomicU64,
    /// When the run stalled: the jobs running, and how many were ready to start.
    pub(crate) seen: Mutex<Option<(Vec<String>, usize)>>,
}

/// What the coordinator last saw: since when the run looks stuck, and how.
#[derive(Default)]
pub(crate) struct Watch {
    since: Option<(Instant, u64, usize)>,
}

impl Stall {
    pub(crate) fn new(timeout: Option<Duration>) -> Self {
        Stall {
            timeout,
            parked: AtomicUsize::new(0),
            moves: AtomicU64::new(0),
            seen: Mutex::new(None),
        }
    }

    /// When the coordinator should look next, or `None` while no future is parked.
    pub(crate) fn next_check(&self, watch: &mut Watch) -> Option<Instant> {
        let timeout = self.timeout?;
        if self.parked.load(Ordering::Acquire) == 0 {
            watch.since = None;
            return None;
        }
        let step = (timeout / 4).clamp(Duration::from_millis(1), Duration::from_millis(250));
        Some(Instant::now() + step)
    }

    /// Given the queue as it is now, whether the run has been stuck for the timeout.
    pub(crate) fn check(
        &self,
        watch: &mut Watch,
        workers: usize,
        sleeping: usize,
        ready: usize,
    ) -> bool {
        let Some(timeout) = self.timeout else {
            return false;
        };
        let parked = self.parked.load(Ordering::Acquire);
        let busy = workers.saturating_sub(sleeping);
        let stuck = parked > 0 && parked >= busy && (ready == 0 || sleeping == 0);
        if !stuck {
            watch.since = None;
            return false;
        }
        let now = Instant::now();
        let moves = self.moves.load(Ordering::Acquire);
        match watch.since {
            Some((since, seen, queued)) if seen == moves && queued == ready => {
                now.duration_since(since) >= timeout
            }
            _ => {
                watch.since = Some((now, moves, ready));
                false
            }
        }
    }
}
