//! How a run's end ([`Reason`]) becomes its front door's answer: `Ok(true)`,
//! `Ok(false)` or the error, in this one place for a scheduler and a batch.

use std::time::Duration;

use super::run::Run;
use super::settings::Reason;
use super::table::Table;
use crate::error::{Error, Runner};

/// What a front door tells [`answer`] of itself.
pub(crate) struct Door {
    /// Whose run it was: its errors name it.
    pub(crate) runner: Runner,
    /// Its label, for its errors.
    pub(crate) label: String,
    /// Whether a timeout, a stall or a critical job's failure is an error (a critical
    /// scheduler, any batch) rather than `Ok(false)`.
    pub(crate) critical: bool,
    /// The timeout that [`Error::Timeout`] names; `None`: a timeout is `Ok(false)`.
    pub(crate) timeout: Option<Duration>,
    /// The stall timeout that [`Error::Stalled`] names; `None`: a stall is `Ok(false)`.
    pub(crate) stall_timeout: Option<Duration>,
    /// Whether a critical job's failure that is an [`Error`] itself (a nested
    /// scheduler's) is the answer as it is, rather than wrapped in
    /// [`Error::JobFailed`]. A job that timed out is the answer as it is either way.
    pub(crate) unwrap_errors: bool,
}

/// The answer of `door`'s run that ended for `reason`: `Ok(true)` when it finished,
/// `Ok(false)` when it was cancelled or when a critical door would have failed but
/// `door` is not critical, else the error. After a critical failure the error is that
/// of the first job, in index order, for which `is_critical` holds and that failed.
pub(crate) fn answer<J: Table>(
    run: &Run<J>,
    reason: Reason,
    door: Door,
    is_critical: impl Fn(usize) -> bool,
) -> Result<bool, Error> {
    let Door {
        runner,
        label,
        critical,
        timeout,
        stall_timeout,
        unwrap_errors,
    } = door;
    match reason {
        Reason::Finished => Ok(true),
        Reason::Cancelled => Ok(false),
        Reason::Timeout => match (critical, timeout) {
            (true, Some(timeout)) => Err(Error::Timeout {
                runner,
                label,
                timeout,
            }),
            _ => Ok(false),
        },
        Reason::Stalled => {
            let (running, ready) = run.stall.seen.lock().take().unwrap_or_default();
            match (critical, stall_timeout) {
                (true, Some(timeout)) => Err(Error::Stalled {
                    runner,
                    label,
                    timeout,
                    running,
                    ready,
                }),
                _ => Ok(false),
            }
        }
        Reason::Critical => {
            if !critical {
                return Ok(false);
            }
            let jobs = &*run.jobs;
            let failed = (0..jobs.len())
                .filter(|&i| is_critical(i))
                .find_map(|i| jobs.error(i).map(|error| (i, error)));
            let Some((i, error)) = failed else {
                return Ok(false);
            };
            Err(match error.downcast_ref::<Error>() {
                Some(inner) if unwrap_errors => inner.clone(),
                // A critical job that timed out: its own error.
                Some(timed_out @ Error::JobTimedOut { .. }) => timed_out.clone(),
                _ => Error::JobFailed {
                    label: jobs.label(i),
                    source: error.clone(),
                },
            })
        }
    }
}
