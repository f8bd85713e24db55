//! A job's lifecycle: [`JobState`], and the codes its atomic state holds.

/// Whether a `state` constant says the job ended by its own timeout, and whether its
/// thread still ran then.
pub(crate) fn timed_out(code: u8) -> Option<bool> {
    match code {
        state::TIMED_OUT => Some(false),
        state::TIMED_OUT_RUNNING => Some(true),
        _ => None,
    }
}

/// The values of `Core::state`.
pub(crate) mod state {
    pub(crate) const IDLE: u8 = 0;
    pub(crate) const SCHEDULED: u8 = 1;
    pub(crate) const RUNNING: u8 = 2;
    pub(crate) const DONE: u8 = 3;
    pub(crate) const CANCELLED: u8 = 4;
    /// Still running when its run ended: reported as running, its outcome never kept.
    pub(crate) const ABANDONED: u8 = 5;
    /// Done, its value since moved out (a batch job's, by `Batch::take`).
    pub(crate) const MOVED: u8 = 6;
    /// Ended by its own timeout: cancelled at its deadline, and returned.
    pub(crate) const TIMED_OUT: u8 = 7;
    /// Ended by its own timeout, and given up on after the grace while its thread still
    /// runs: reported as timed out and still running; `TIMED_OUT` once it returns.
    pub(crate) const TIMED_OUT_RUNNING: u8 = 8;
}

/// Where a job is in its lifecycle: idle → scheduled → running → done (or cancelled).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JobState {
    /// Not started: its requirements are not all done yet (or it was never run).
    Idle,
    /// Ready, waiting for a free slot in the window.
    Scheduled,
    /// Running (or was still running when its run ended and gave up on it, or when it
    /// was given up on after its own timeout).
    Running,
    /// Ended: with a value, an error or a panic, or by its own timeout (see
    /// [`AnyJob::is_timed_out`](crate::AnyJob::is_timed_out)).
    Done,
    /// Stopped by its run before it ended (forever jobs, timeouts, critical failures);
    /// also a job that a worker took just as its run ended or its deadline passed: its
    /// body never started.
    Cancelled,
}

impl JobState {
    /// The state a `state` constant stands for.
    #[inline]
    pub(crate) fn from_code(code: u8) -> JobState {
        match code {
            state::IDLE => JobState::Idle,
            state::SCHEDULED => JobState::Scheduled,
            state::RUNNING | state::ABANDONED => JobState::Running,
            state::DONE | state::MOVED => JobState::Done,
            // A job that timed out failed: done, or still running when its thread did
            // not return (see `AnyJob::is_timed_out`).
            state::TIMED_OUT => JobState::Done,
            state::TIMED_OUT_RUNNING => JobState::Running,
            _ => JobState::Cancelled,
        }
    }

    /// The state's name in lower case: `idle`, `scheduled`, ...
    pub fn name(self) -> &'static str {
        match self {
            JobState::Idle => "idle",
            JobState::Scheduled => "scheduled",
            JobState::Running => "running",
            JobState::Done => "done",
            JobState::Cancelled => "cancelled",
        }
    }
}
