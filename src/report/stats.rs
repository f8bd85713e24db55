//! Counts and verdicts shared by every report and both front doors: `stats()`
//! (`3D + 1R + 0I = 4`) and `why()` (`FINE`, `TIMED OUT after ...`).

use std::time::Duration;

use crate::job::JobState;

/// Counts jobs by state as the reports do: done, started but not done (running or
/// cancelled), not started.
pub(crate) fn tally(states: impl IntoIterator<Item = JobState>) -> (usize, usize, usize) {
    let (mut done, mut ongoing, mut idle) = (0, 0, 0);
    for state in states {
        match state {
            JobState::Done => done += 1,
            JobState::Running | JobState::Cancelled => ongoing += 1,
            JobState::Idle | JobState::Scheduled => idle += 1,
        }
    }
    (done, ongoing, idle)
}

/// `3D + 1R + 0I = 4`: asynciojobs' `stats()` of these jobs' states.
pub(crate) fn stats_line(states: impl IntoIterator<Item = JobState>) -> String {
    let (done, ongoing, idle) = tally(states);
    format!("{done}D + {ongoing}R + {idle}I = {}", done + ongoing + idle)
}

/// A run's `stats()`: [`stats_line`], then `, CANCELLED` when the run was cancelled
/// from outside, since its jobs' counts alone (`0D + 1R + 0I = 1`) would not say so.
pub(crate) fn run_stats(states: impl IntoIterator<Item = JobState>, cancelled: bool) -> String {
    let line = stats_line(states);
    if cancelled {
        format!("{line}, CANCELLED")
    } else {
        line
    }
}

/// What `why()` says of a run cancelled from outside: its `run_async` future dropped,
/// or the job it ran in (a nested scheduler's, a batch's `run_within`) cancelled.
pub(crate) const CANCELLED: &str = "CANCELLED before it ended";

/// asynciojobs' `why()`: why a run ended.
pub(crate) fn why_line(
    timed_out: Option<Duration>,
    stalled: bool,
    failed_critical: bool,
    cancelled: bool,
) -> String {
    if cancelled {
        CANCELLED.to_string()
    } else if let Some(timeout) = timed_out {
        format!("TIMED OUT after {}s", timeout.as_secs_f64())
    } else if stalled {
        "STALLED: every running job waited for something no job could provide".to_string()
    } else if failed_critical {
        "a CRITICAL job has raised an exception".to_string()
    } else {
        "FINE".to_string()
    }
}
