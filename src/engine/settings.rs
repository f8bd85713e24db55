//! How a run is to be carried out ([`Settings`]), the defaults the front doors share,
//! and why a run ended ([`Reason`]).

use std::sync::Arc;
use std::time::Duration;

use super::event::{Emitter, RunEnd};
use super::pool::Pool;
use crate::limits::Limits;

/// How many workers one run uses at most, whatever its window: a scheduler with an
/// unlimited window (`window(0)`, the default) or a window wider than this runs this
/// many jobs at once, and the jobs beyond wait for a free worker. It bounds the threads
/// one run adds to its pool, and the memory its workers take.
pub const UNLIMITED_WINDOW_WORKERS: usize = 256;

/// The default bound on how long a run waits for its cancelled jobs to return.
pub const DEFAULT_GRACE: Duration = Duration::from_millis(100);

/// The default bound on how long a run may stay stalled before it ends with
/// [`Error::Stalled`](crate::Error::Stalled) (see [`Scheduler::stall_timeout`](crate::Scheduler::stall_timeout)).
pub const DEFAULT_STALL_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reason {
    /// Every non-forever job ended.
    Finished,
    /// A critical job failed.
    Critical,
    /// The scheduler's timeout expired.
    Timeout,
    /// The enclosing run cancelled this one (a nested scheduler), or the future of
    /// `run_async` was dropped.
    Cancelled,
    /// Every running job is a future parked on something no job can provide.
    Stalled,
}

/// How a run is to be carried out.
pub(crate) struct Settings {
    /// Most jobs running at once; never 0.
    pub(crate) max_workers: usize,
    pub(crate) timeout: Option<Duration>,
    /// How long to wait for running jobs to return once the run has ended.
    pub(crate) grace: Duration,
    /// The scheduler's label, for worker thread names.
    pub(crate) label: String,
    /// Where the run's events go; `None` when nobody listens.
    pub(crate) events: Option<Arc<Emitter>>,
    /// How long the run may stay stalled before it ends (`None`: forever).
    pub(crate) stall_timeout: Option<Duration>,
    /// Where its workers come from.
    pub(crate) pool: Pool,
    /// The named limits its jobs use, shared with the runs nested in it; `None` when
    /// no job uses one.
    pub(crate) limits: Option<Arc<Limits>>,
}

impl Settings {
    /// A front door's settings for one run, made in this one place: `window` 0 (no
    /// limit) and any window wider than [`UNLIMITED_WINDOW_WORKERS`] mean that many
    /// workers at most, and a run without a pool of its own takes the pool of the
    /// thread that starts it ([`Pool::current`]).
    pub(crate) fn for_run(
        window: usize,
        timeout: Option<Duration>,
        grace: Duration,
        label: String,
        events: Option<Arc<Emitter>>,
        stall_timeout: Option<Duration>,
        pool: Option<Pool>,
    ) -> Settings {
        Settings {
            max_workers: match window {
                0 => UNLIMITED_WINDOW_WORKERS,
                window => window.min(UNLIMITED_WINDOW_WORKERS),
            },
            timeout,
            grace,
            label,
            events,
            stall_timeout,
            pool: pool.unwrap_or_else(Pool::current),
            limits: None,
        }
    }
}

impl From<Reason> for RunEnd {
    fn from(reason: Reason) -> Self {
        match reason {
            Reason::Finished => RunEnd::Finished,
            Reason::Critical => RunEnd::CriticalFailure,
            Reason::Timeout => RunEnd::Timeout,
            Reason::Cancelled => RunEnd::Cancelled,
            Reason::Stalled => RunEnd::Stalled,
        }
    }
}
