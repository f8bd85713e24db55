//! Shared helpers: a recorder of job start/end instants, and job makers.

use jobgraph::{Job, JobError};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// When a job started, and when it ended if it did.
type Span = (Duration, Option<Duration>);

/// When each job started and ended, relative to the recorder's creation.
#[derive(Clone)]
pub(crate) struct Recorder {
    origin: Instant,
    spans: Arc<Mutex<HashMap<String, Span>>>,
}

impl Recorder {
    pub(crate) fn new() -> Self {
        Recorder {
            origin: Instant::now(),
            spans: Arc::default(),
        }
    }

    pub(crate) fn start(&self, label: &str) {
        let at = self.origin.elapsed();
        let previous = self.spans.lock().insert(label.to_string(), (at, None));
        assert!(previous.is_none(), "{label} started twice");
    }

    pub(crate) fn end(&self, label: &str) {
        let at = self.origin.elapsed();
        let mut spans = self.spans.lock();
        let span = spans.get_mut(label).expect("ended without starting");
        span.1 = Some(at);
    }

    pub(crate) fn started(&self, label: &str) -> bool {
        self.spans.lock().contains_key(label)
    }

    pub(crate) fn span(&self, label: &str) -> (Duration, Duration) {
        let (start, end) = self.spans.lock()[label];
        (start, end.unwrap_or_else(|| panic!("{label} never ended")))
    }

    /// `a` ended before `b` started.
    pub(crate) fn before(&self, a: &str, b: &str) -> bool {
        self.span(a).1 <= self.span(b).0
    }

    /// `a` and `b` ran at the same time for a while.
    pub(crate) fn overlap(&self, a: &str, b: &str) -> bool {
        let (a0, a1) = self.span(a);
        let (b0, b1) = self.span(b);
        a0 < b1 && b0 < a1
    }

    /// The largest number of recorded jobs running at the same instant.
    pub(crate) fn max_overlap(&self) -> usize {
        let spans = self.spans.lock();
        let mut edges: Vec<(Duration, i32)> = spans
            .values()
            .flat_map(|&(s, e)| [(s, 1), (e.expect("job never ended"), -1)])
            .collect();
        // Ends before starts at the same instant: touching jobs do not overlap.
        edges.sort();
        let (mut now, mut max) = (0i32, 0i32);
        for (_, delta) in edges {
            now += delta;
            max = max.max(now);
        }
        max as usize
    }
}

/// A job that records its span and sleeps cooperatively for `ms`, returning `ms`.
pub(crate) fn sleeper(rec: &Recorder, label: &str, ms: u64) -> Job<u64> {
    let (rec, name) = (rec.clone(), label.to_string());
    Job::new(move |ctx| {
        rec.start(&name);
        ctx.sleep(Duration::from_millis(ms));
        rec.end(&name);
        ms
    })
    .label(label)
}

/// The error a failing job returns.
#[derive(Debug, thiserror::Error)]
#[error("boom in {0}")]
pub(crate) struct Boom(pub String);

/// A job that records its span, sleeps `ms`, then fails with [`Boom`].
pub(crate) fn failing(rec: &Recorder, label: &str, ms: u64) -> Job<()> {
    let (rec, name) = (rec.clone(), label.to_string());
    Job::new(move |ctx| {
        rec.start(&name);
        ctx.sleep(Duration::from_millis(ms));
        rec.end(&name);
        Err::<(), _>(Boom(name))
    })
    .label(label)
}

/// The `Boom` a job failed with, if it did.
pub(crate) fn boom_of(error: &JobError) -> Option<&Boom> {
    error.downcast_ref::<Boom>()
}

/// Gives a future that never returns (a `loop`, a `panic!`) the output `()`, which a
/// job needs: the never type itself is not a job's value.
pub(crate) fn endless<F: std::future::Future<Output = ()>>(future: F) -> F {
    future
}
