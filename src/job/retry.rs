//! Retries: how many, how long to wait between attempts ([`Backoff`]), and which
//! failures to retry ([`RetryOn`]); and [`Policy`], what a job carries into a run
//! beside its body (its own timeout, its retries).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::error::JobError;

/// The most retries a job may ask for.
pub const MAX_RETRIES: u32 = 1_000;

/// How long a job waits before its next attempt: [`fixed`](Backoff::fixed) or
/// [`exponential`](Backoff::exponential), with a [`jitter`](Backoff::jitter) and a
/// cap ([`max`](Backoff::max)). Checked when the run starts: a factor below 1 or not
/// finite, or a jitter outside `0..=1`, is an error before anything runs.
///
/// ```
/// use std::time::Duration;
/// use jobgraph::Backoff;
/// let backoff = Backoff::exponential(Duration::from_millis(10), 2.0).max(Duration::from_millis(50));
/// assert_eq!(backoff.delay(1), Duration::from_millis(10));
/// assert_eq!(backoff.delay(3), Duration::from_millis(40));
/// assert_eq!(backoff.delay(4), Duration::from_millis(50)); // capped
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Backoff {
    base: Duration,
    factor: f64,
    jitter: f64,
    max: Option<Duration>,
}

impl Default for Backoff {
    /// No wait: the next attempt is pushed again at once (still without holding a
    /// worker while it waits for one).
    fn default() -> Self {
        Backoff::fixed(Duration::ZERO)
    }
}

impl Backoff {
    /// The same wait before each attempt.
    pub fn fixed(delay: Duration) -> Backoff {
        Backoff {
            base: delay,
            factor: 1.0,
            jitter: 0.0,
            max: None,
        }
    }

    /// `base` before the first retry, then `factor` times longer before each next one
    /// (`factor` at least 1).
    pub fn exponential(base: Duration, factor: f64) -> Backoff {
        Backoff {
            base,
            factor,
            jitter: 0.0,
            max: None,
        }
    }

    /// Waits a random part of each delay: between `(1 - fraction)` and all of it
    /// (`fraction` in `0..=1`; 1 is "full jitter"), so that jobs that failed together
    /// do not all try again together.
    pub fn jitter(mut self, fraction: f64) -> Backoff {
        self.jitter = fraction;
        self
    }

    /// Never waits longer than `cap` (before the jitter).
    pub fn max(mut self, cap: Duration) -> Backoff {
        self.max = Some(cap);
        self
    }

    /// The wait before retry number `retry` (1 for the first), without the jitter.
    pub fn delay(&self, retry: u32) -> Duration {
        let exponent = retry.saturating_sub(1).min(i32::MAX as u32) as i32;
        let scale = self.factor.powi(exponent);
        let seconds = self.base.as_secs_f64() * scale;
        let delay = Duration::try_from_secs_f64(seconds).unwrap_or(Duration::MAX);
        match self.max {
            Some(cap) => delay.min(cap),
            None => delay,
        }
    }

    /// The wait before retry number `retry`, its jitter drawn from `random` (in
    /// `0..1`).
    pub(crate) fn delay_with(&self, retry: u32, random: f64) -> Duration {
        let delay = self.delay(retry);
        if self.jitter == 0.0 {
            return delay;
        }
        delay.mul_f64(1.0 - self.jitter * random.clamp(0.0, 1.0))
    }

    /// What is out of range, if anything.
    pub(crate) fn problem(&self) -> Option<String> {
        if !self.factor.is_finite() || self.factor < 1.0 {
            return Some(format!(
                "its backoff's factor {} is out of range: give a finite factor of at least 1",
                self.factor
            ));
        }
        if !(0.0..=1.0).contains(&self.jitter) {
            return Some(format!(
                "its backoff's jitter {} is out of range: give a fraction between 0 and 1",
                self.jitter
            ));
        }
        None
    }
}

/// Which failures a job with [`retries`](crate::Job::retries) tries again after.
#[derive(Clone, Default)]
pub enum RetryOn {
    /// An error it returned, or its panic; not its own timeout.
    Failure,
    /// Its own timeout ([`Job::timeout`](crate::Job::timeout)) only.
    Timeout,
    /// Any failure: an error, a panic or its own timeout (the default).
    #[default]
    Any,
    /// The failures for which this returns true (its own timeout is
    /// [`Error::JobTimedOut`](crate::Error::JobTimedOut), see
    /// [`JobError::is_timeout`]).
    When(Arc<dyn Fn(&JobError) -> bool + Send + Sync>),
}

impl RetryOn {
    /// [`RetryOn::When`], from a closure.
    pub fn when(predicate: impl Fn(&JobError) -> bool + Send + Sync + 'static) -> RetryOn {
        RetryOn::When(Arc::new(predicate))
    }

    /// Whether a job that failed with `error` is to be tried again.
    pub(crate) fn covers(&self, error: &JobError) -> bool {
        match self {
            RetryOn::Failure => !error.is_timeout(),
            RetryOn::Timeout => error.is_timeout(),
            RetryOn::Any => true,
            RetryOn::When(predicate) => {
                // A predicate that panics retries nothing.
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| predicate(error)))
                    .unwrap_or(false)
            }
        }
    }
}

impl fmt::Debug for RetryOn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RetryOn::Failure => f.write_str("Failure"),
            RetryOn::Timeout => f.write_str("Timeout"),
            RetryOn::Any => f.write_str("Any"),
            RetryOn::When(_) => f.write_str("When(..)"),
        }
    }
}

/// A job's retries: how many, the wait between attempts, which failures.
#[derive(Clone, Debug, Default)]
pub(crate) struct Retry {
    pub(crate) times: u32,
    pub(crate) backoff: Backoff,
    pub(crate) on: RetryOn,
}

impl Retry {
    /// What is out of range, if anything.
    pub(crate) fn problem(&self) -> Option<String> {
        if self.times > MAX_RETRIES {
            return Some(format!(
                "its retry count {} is out of range: give at most {MAX_RETRIES}",
                self.times
            ));
        }
        self.backoff.problem()
    }
}

/// What a job carries into a run beside its body: its own timeout, its retries, and
/// the named limits it uses.
#[derive(Clone, Debug, Default)]
pub(crate) struct Policy {
    pub(crate) timeout: Option<Duration>,
    pub(crate) retry: Option<Arc<Retry>>,
    /// `(name, amount)`, each name once, in the order given.
    pub(crate) uses: Vec<(Box<str>, u32)>,
}

impl Policy {
    /// Whether it asks for nothing.
    pub(crate) fn is_empty(&self) -> bool {
        self.timeout.is_none()
            && self.retry.as_ref().is_none_or(|retry| retry.times == 0)
            && self.uses.is_empty()
    }
}
