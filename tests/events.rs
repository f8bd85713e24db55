//! Run events for code: `Scheduler::observe` and `Scheduler::subscribe`. The event
//! stream agrees with the outcomes read through the handles, for random DAGs.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use jobgraph::{AnyJob, Error, Event, EventKind, Job, JobState, RunEnd, Scheduler};
use proptest::prelude::*;

mod support;
use support::{quiet_job_panics, record_events};

/// Runs `s` on a thread of its own, failing the test rather than hanging it.
fn run_bounded(s: &Scheduler) -> Result<bool, Error> {
    let (done, result) = mpsc::channel();
    let runner = s.clone();
    std::thread::spawn(move || {
        let _ = done.send(runner.run());
    });
    result
        .recv_timeout(Duration::from_secs(30))
        .expect("the run ended")
}

/// Adds `n` jobs that return their index to `s`, runs it, and checks that each is done.
#[track_caller]
fn run_numbered_jobs(s: &Scheduler, n: usize) {
    let jobs: Vec<Job<usize>> = (0..n).map(|i| Job::new(move |_| i)).collect();
    s.add(&jobs);
    assert!(run_bounded(s).unwrap());
    assert!(jobs.iter().all(|j| j.is_done()));
}

/// What the events say about one job: positions in the stream.
#[derive(Default, Debug)]
struct Seen {
    scheduled: Vec<usize>,
    started: Vec<usize>,
    ends: Vec<(usize, &'static str)>,
}

fn end_name(kind: &EventKind) -> Option<&'static str> {
    match kind {
        EventKind::Done => Some("done"),
        EventKind::Failed(_) => Some("failed"),
        EventKind::Cancelled => Some("cancelled"),
        EventKind::Abandoned => Some("abandoned"),
        _ => None,
    }
}

/// Checks that `events` is a consistent account of the run of `jobs` (the scheduler's
/// jobs, in insertion order), ended for `end`; returns what it saw per job.
fn check_stream(events: &[Event], jobs: &[AnyJob], end: RunEnd) -> Vec<Seen> {
    let index: HashMap<AnyJob, usize> = jobs
        .iter()
        .enumerate()
        .map(|(i, job)| (job.clone(), i))
        .collect();
    assert!(
        matches!(events.first().map(|e| &e.kind), Some(EventKind::RunStarted { jobs: n }) if *n == jobs.len()),
        "RunStarted first, with the job count: {:?}",
        events.first()
    );
    assert!(
        matches!(events.last().map(|e| &e.kind), Some(EventKind::RunEnded(e)) if *e == end),
        "RunEnded({end:?}) last: {:?}",
        events.last()
    );
    let mut seen: Vec<Seen> = jobs.iter().map(|_| Seen::default()).collect();
    let mut stopping = Vec::new();
    for (at, event) in events.iter().enumerate() {
        match (&event.kind, &event.job) {
            (EventKind::RunStarted { .. }, None) => assert_eq!(at, 0, "one RunStarted"),
            (EventKind::RunEnded(_), None) => {
                assert_eq!(at, events.len() - 1, "one RunEnded")
            }
            (EventKind::RunStopping(reason), None) => {
                assert_eq!(*reason, end, "stopping for the reason it ends");
                stopping.push(at);
            }
            (kind, Some(job)) => {
                let i = *index
                    .get(job)
                    .unwrap_or_else(|| panic!("event for a job not in the run: {event:?}"));
                match kind {
                    EventKind::Scheduled => seen[i].scheduled.push(at),
                    EventKind::Started => seen[i].started.push(at),
                    kind => {
                        let name = end_name(kind).unwrap_or_else(|| panic!("{event:?}"));
                        seen[i].ends.push((at, name));
                    }
                }
            }
            (_, None) => panic!("a job event without a job: {event:?}"),
        }
        assert_eq!(event.scheduler.as_ref(), "events", "scheduler label");
        if at > 0 {
            assert!(event.at >= events[0].at && event.elapsed >= events[0].elapsed);
        }
    }
    assert!(stopping.len() <= 1, "at most one RunStopping");
    if end != RunEnd::Finished {
        assert_eq!(stopping.len(), 1, "a run that ends early says so");
    }
    for (i, s) in seen.iter().enumerate() {
        let job = &jobs[i];
        assert!(s.scheduled.len() <= 1, "{job:?} scheduled twice");
        assert!(s.started.len() <= 1, "{job:?} started twice");
        match (s.started.first(), s.ends.as_slice()) {
            (None, []) => {}
            (Some(&start), [(end_at, _)]) => {
                assert!(start < *end_at, "{job:?} ended before it started");
                let scheduled = s
                    .scheduled
                    .first()
                    .expect("started without being scheduled");
                assert!(
                    *scheduled < start,
                    "{job:?} started before it was scheduled"
                );
            }
            (started, ends) => panic!("{job:?}: started {started:?}, ends {ends:?}"),
        }
        // The end kind agrees with the handle.
        let state = job.state();
        match s.ends.first().map(|&(_, name)| name) {
            Some("done") => {
                assert_eq!(state, JobState::Done);
                assert!(job.raised_exception().is_none() && job.result_text().is_some());
            }
            Some("failed") => {
                assert_eq!(state, JobState::Done);
                assert!(job.raised_exception().is_some());
            }
            Some("cancelled") => assert_eq!(state, JobState::Cancelled),
            Some(_) => assert_eq!(state, JobState::Running, "abandoned: still running"),
            None if s.scheduled.is_empty() => assert_eq!(state, JobState::Idle, "{job:?}"),
            None => assert_eq!(state, JobState::Scheduled, "{job:?}"),
        }
        // Requirements ended (and not by cancellation) before the job started.
        if let Some(&start) = s.started.first() {
            for required in job.requirements() {
                let r = &seen[index[&required]];
                match r.ends.first() {
                    Some(&(at, "done" | "failed")) => assert!(
                        at < start,
                        "{required:?} ended after {job:?}, which requires it, started"
                    ),
                    other => panic!("{job:?} started, but {required:?} ended as {other:?}"),
                }
            }
        }
    }
    seen
}

/// One job of a random DAG.
#[derive(Debug, Clone)]
struct Spec {
    /// Indices of earlier jobs.
    requires: Vec<usize>,
    fails: bool,
    critical: bool,
    /// Sleeps a little (cooperatively) before it ends: the job is running when a
    /// critical failure elsewhere stops the run.
    slow: bool,
    /// A future job rather than a closure.
    future: bool,
}

fn spec(i: usize) -> impl Strategy<Value = Spec> {
    (
        proptest::collection::vec(any::<proptest::sample::Index>(), 0..4),
        0..100u8,
        any::<bool>(),
        0..10u8,
        any::<bool>(),
    )
        .prop_map(move |(requires, fail, critical, slow, future)| {
            let mut requires: Vec<usize> = if i == 0 {
                Vec::new()
            } else {
                requires.iter().map(|r| r.index(i)).collect()
            };
            requires.sort_unstable();
            requires.dedup();
            Spec {
                requires,
                fails: fail < 6,
                critical,
                slow: slow == 0,
                future,
            }
        })
}

fn dag() -> impl Strategy<Value = (Vec<Spec>, usize, bool)> {
    (1..=100usize).prop_flat_map(|n| {
        let specs: Vec<_> = (0..n).map(spec).collect();
        (specs, 0..4usize, any::<bool>())
    })
}

#[derive(Debug, thiserror::Error)]
#[error("job {0} failed on purpose")]
struct Planned(usize);

fn build(specs: &[Spec]) -> Vec<AnyJob> {
    let mut jobs: Vec<AnyJob> = Vec::with_capacity(specs.len());
    for (i, spec) in specs.iter().enumerate() {
        let (fails, slow) = (spec.fails, spec.slow);
        let job = if spec.future {
            Job::future(async move {
                if slow {
                    jobgraph::sleep(Duration::from_millis(2)).await;
                }
                if fails {
                    Err(Planned(i))
                } else {
                    Ok(i)
                }
            })
        } else {
            Job::new(move |ctx| {
                if slow {
                    ctx.sleep(Duration::from_millis(2));
                }
                if fails {
                    Err(Planned(i))
                } else {
                    Ok(i)
                }
            })
        };
        let job = job.label(format!("j{i}")).critical(spec.critical);
        for &r in &spec.requires {
            job.add_requires(&jobs[r]);
        }
        jobs.push(job.any());
    }
    jobs
}

proptest! {
    #![proptest_config(jobgraph_test_support::seeded(96))]

    #[test]
    fn event_stream_agrees_with_outcomes_on_random_dags((specs, window, critical) in dag()) {
        let jobs = build(&specs);
        let (s, events) = record_events(Scheduler::new().label("events").window(window).critical(critical));
        s.add(&jobs);
        let result = run_bounded(&s);
        let critical_failure = jobs.iter().any(|j| j.is_critical() && j.raised_exception().is_some());
        let end = if critical_failure { RunEnd::CriticalFailure } else { RunEnd::Finished };
        let events = events.lock().unwrap();
        let seen = check_stream(&events, &jobs, end);

        // The run's result agrees with the stream.
        match (&result, critical_failure, critical) {
            (Ok(true), false, _) => {}
            (Ok(false), true, false) => {}
            (Err(Error::JobFailed { source, .. }), true, true) => {
                prop_assert!(source.downcast_ref::<Planned>().is_some());
            }
            other => prop_assert!(false, "result {:?} for {:?}", result, other),
        }
        // A run that finishes ran every job; failed events carry the job's own error.
        for (job, seen) in jobs.iter().zip(&seen) {
            if end == RunEnd::Finished {
                prop_assert!(job.is_done(), "{:?}", job);
                prop_assert_eq!(seen.ends.len(), 1);
            }
        }
        for event in events.iter() {
            if let (EventKind::Failed(error), Some(job)) = (&event.kind, &event.job) {
                let own = job.raised_exception().unwrap();
                prop_assert_eq!(error.to_string(), own.to_string());
                prop_assert!(error.downcast_ref::<Planned>().is_some());
            }
        }
    }
}

#[test]
fn subscribe_receives_the_same_events_as_an_observer_and_closes_with_the_run() {
    let a = Job::new(|_| 1).label("a");
    let b = Job::new(|_| Err::<(), _>("nope"))
        .label("b")
        .critical(false)
        .requires(&a);
    let c = Job::new(|_| 3).label("c").requires(&b);
    // One worker: both listeners see the events in the same order.
    let (s, observed) = record_events(Scheduler::new().label("events").window(1));
    let received = s.subscribe();
    s.add((&a, &b, &c));
    // A consumer on another thread: its loop ends with the run.
    let consumer = std::thread::spawn(move || received.iter().collect::<Vec<Event>>());
    assert!(run_bounded(&s).unwrap());
    let received = consumer.join().unwrap();

    let describe = |events: &[Event]| -> Vec<String> {
        events
            .iter()
            .map(|e| match &e.job {
                Some(job) => format!("{} {}", job.text_label(), e.kind),
                None => e.kind.to_string(),
            })
            .collect()
    };
    let observed = observed.lock().unwrap();
    assert_eq!(describe(&received), describe(&observed));
    check_stream(&received, &s.jobs(), RunEnd::Finished);
    assert_eq!(
        describe(&received),
        [
            "run started with 3 job(s)",
            "a scheduled",
            "a started",
            "a done",
            "b scheduled",
            "b started",
            "b failed: nope",
            "c scheduled",
            "c started",
            "c done",
            "run stopping (Finished)",
            "run ended (Finished)",
        ]
    );
}

#[test]
fn a_dropped_subscription_does_not_disturb_the_run() {
    let s = Scheduler::new();
    drop(s.subscribe());
    run_numbered_jobs(&s, 50);
}

#[test]
fn a_panicking_observer_is_not_called_again_and_the_run_ends() {
    quiet_job_panics();
    let calls = Arc::new(AtomicUsize::new(0));
    let ends = Arc::new(AtomicUsize::new(0));
    let s = Scheduler::new()
        .window(1)
        .observe({
            let calls = calls.clone();
            move |event| {
                if let EventKind::Started = event.kind {
                    calls.fetch_add(1, Ordering::SeqCst);
                    panic!("observer bug");
                }
            }
        })
        .observe({
            let ends = ends.clone();
            move |event| {
                if event.is_job_end() {
                    ends.fetch_add(1, Ordering::SeqCst);
                }
            }
        });
    run_numbered_jobs(&s, 20);
    assert_eq!(calls.load(Ordering::SeqCst), 1, "called until it panicked");
    assert_eq!(
        ends.load(Ordering::SeqCst),
        20,
        "the other observer saw it all"
    );
}

#[test]
fn timeout_cancels_running_jobs_in_the_event_stream() {
    let quick = Job::new(|_| 1).label("quick");
    let slow = Job::new(|ctx| ctx.sleep(Duration::from_secs(30)))
        .label("slow")
        .requires(&quick);
    let never = Job::new(|_| ()).label("never").requires(&slow);
    let (s, events) = record_events(
        Scheduler::new()
            .label("events")
            .critical(false)
            .timeout(Duration::from_millis(200)),
    );
    s.add((&quick, &slow, &never));
    assert!(!run_bounded(&s).unwrap());
    let events = events.lock().unwrap();
    let seen = check_stream(&events, &s.jobs(), RunEnd::Timeout);
    assert_eq!(seen[0].ends[0].1, "done");
    assert_eq!(seen[1].ends[0].1, "cancelled");
    assert!(seen[2].started.is_empty() && seen[2].scheduled.is_empty());
}

#[test]
fn a_job_that_ignores_cancellation_is_abandoned_and_sends_nothing_after() {
    // The job waits for the test, whatever the run says, then tells it returned.
    let (release, released) = mpsc::channel::<()>();
    let (returned, has_returned) = mpsc::channel::<()>();
    let stubborn = Job::new(move |_| {
        let _ = released.recv_timeout(Duration::from_secs(30));
        let _ = returned.send(());
        1
    })
    .label("stubborn");
    let (s, events) = record_events(
        Scheduler::new()
            .label("events")
            .critical(false)
            .timeout(Duration::from_millis(200))
            .grace(Duration::from_millis(10)),
    );
    s.add(&stubborn);
    assert!(!run_bounded(&s).unwrap());
    let count = {
        let events = events.lock().unwrap();
        let seen = check_stream(&events, &s.jobs(), RunEnd::Timeout);
        assert_eq!(seen[0].ends[0].1, "abandoned");
        events.len()
    };
    // When it returns at last, its outcome is dropped and no event follows RunEnded.
    release.send(()).unwrap();
    has_returned.recv_timeout(Duration::from_secs(30)).unwrap();
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(events.lock().unwrap().len(), count);
    assert!(stubborn.is_running());
}

#[test]
fn forever_jobs_are_cancelled_once_the_rest_is_done() {
    async fn tick() {
        loop {
            jobgraph::sleep(Duration::from_millis(2)).await;
        }
    }
    let monitor = Job::future(tick()).label("monitor").forever(true);
    // Ends once the monitor runs (or after a long while).
    let work = Job::new({
        let monitor = monitor.any();
        move |ctx| {
            for _ in 0..5000 {
                if monitor.is_running() {
                    return true;
                }
                ctx.sleep(Duration::from_millis(1));
            }
            false
        }
    })
    .label("work");
    let (s, events) = record_events(Scheduler::new().label("events"));
    s.add((&monitor, &work));
    assert!(run_bounded(&s).unwrap());
    assert!(*work.result().unwrap(), "the monitor ran alongside");
    let events = events.lock().unwrap();
    let seen = check_stream(&events, &s.jobs(), RunEnd::Finished);
    assert_eq!(seen[0].ends[0].1, "cancelled");
    assert_eq!(seen[1].ends[0].1, "done");
    let stopping = events
        .iter()
        .position(|e| matches!(e.kind, EventKind::RunStopping(RunEnd::Finished)))
        .unwrap();
    assert!(seen[1].ends[0].0 < stopping && stopping < seen[0].ends[0].0);
}

#[test]
fn nested_scheduler_jobs_are_reported_by_its_own_observers() {
    let inner_job = Job::new(|_| 1).label("inner-job");
    let (inner, inner_events) = record_events(Scheduler::new().label("events"));
    inner.add(&inner_job);
    let outer_job = Job::new(|_| 2).label("outer-job").requires(&inner);
    let (outer, outer_events) = record_events(Scheduler::new().label("events"));
    outer.add((&inner, &outer_job));
    assert!(run_bounded(&outer).unwrap());

    let outer_events = outer_events.lock().unwrap();
    let seen = check_stream(&outer_events, &outer.jobs(), RunEnd::Finished);
    assert_eq!(
        seen[0].ends[0].1, "done",
        "the nested scheduler, as one job"
    );
    let inner_events = inner_events.lock().unwrap();
    check_stream(&inner_events, &inner.jobs(), RunEnd::Finished);
    // The nested run happens while its job runs in the outer one.
    let (start, end) = (
        outer_events[seen[0].started[0]].at,
        outer_events[seen[0].ends[0].0].at,
    );
    assert!(inner_events.iter().all(|e| start <= e.at && e.at <= end));
}

/// With the `tracing` feature: a span per run and per job, events inside them, and what
/// jobs log inside their job's span, all sent to the subscriber in effect where the run
/// began, even a scoped one, from every thread of the run.
#[cfg(feature = "tracing")]
mod traced {
    use super::*;
    use std::cell::RefCell;
    use std::sync::atomic::AtomicU64;
    use std::sync::Mutex;
    use tracing::field::{Field, Visit};
    use tracing::span::{Attributes, Id, Record};
    use tracing::{Metadata, Subscriber};

    /// A span: its name, its parent, and its fields as text.
    #[derive(Debug, Clone)]
    struct SpanSeen {
        name: &'static str,
        parent: Option<u64>,
        fields: String,
    }

    /// An event: its message and fields as text, and the span it happened in.
    #[derive(Debug, Clone)]
    struct EventSeen {
        text: String,
        parent: Option<u64>,
    }

    #[derive(Default)]
    struct Collect {
        next: AtomicU64,
        spans: Mutex<HashMap<u64, SpanSeen>>,
        events: Mutex<Vec<EventSeen>>,
    }

    thread_local! {
        /// The spans entered on this thread, innermost last.
        static STACK: RefCell<Vec<u64>> = const { RefCell::new(Vec::new()) };
    }

    struct Text<'a>(&'a mut String);

    impl Visit for Text<'_> {
        fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
            self.0.push_str(&format!("{}={:?} ", field.name(), value));
        }
    }

    fn current() -> Option<u64> {
        STACK.with(|stack| stack.borrow().last().copied())
    }

    /// The parent of a new span or event: the one it names, else the current span
    /// where it is contextual.
    fn parent_of(explicit: Option<&Id>, contextual: bool) -> Option<u64> {
        match explicit {
            Some(parent) => Some(parent.into_u64()),
            None if contextual => current(),
            None => None,
        }
    }

    /// The subscriber: a handle on what it collected.
    struct Sink(Arc<Collect>);

    impl Subscriber for Sink {
        fn enabled(&self, _: &Metadata<'_>) -> bool {
            true
        }
        fn new_span(&self, attrs: &Attributes<'_>) -> Id {
            let id = self.0.next.fetch_add(1, Ordering::SeqCst) + 1;
            let parent = parent_of(attrs.parent(), attrs.is_contextual());
            let mut fields = String::new();
            attrs.record(&mut Text(&mut fields));
            let name = attrs.metadata().name();
            let seen = SpanSeen {
                name,
                parent,
                fields,
            };
            self.0.spans.lock().unwrap().insert(id, seen);
            Id::from_u64(id)
        }
        fn record(&self, _: &Id, _: &Record<'_>) {}
        fn record_follows_from(&self, _: &Id, _: &Id) {}
        fn event(&self, event: &tracing::Event<'_>) {
            let parent = parent_of(event.parent(), event.is_contextual());
            let mut text = String::new();
            event.record(&mut Text(&mut text));
            self.0
                .events
                .lock()
                .unwrap()
                .push(EventSeen { text, parent });
        }
        fn enter(&self, id: &Id) {
            STACK.with(|stack| stack.borrow_mut().push(id.into_u64()));
        }
        fn exit(&self, id: &Id) {
            STACK.with(|stack| {
                let mut stack = stack.borrow_mut();
                if let Some(at) = stack.iter().rposition(|&s| s == id.into_u64()) {
                    stack.remove(at);
                }
            });
        }
    }

    /// Runs a small graph under a scoped subscriber, with `run` (sync or async);
    /// checks the spans and events it got.
    fn check(run: impl FnOnce(&Scheduler) -> Result<bool, Error>) {
        let collect = Arc::new(Collect::default());
        let a = Job::new(|_| {
            tracing::info!(inside = "a", "working");
            1
        })
        .label("a");
        let b = Job::new(|_| Err::<(), _>("nope"))
            .label("b")
            .critical(false)
            .requires(&a);
        let s = Scheduler::new().label("traced");
        s.add((&a, &b));
        let result = tracing::subscriber::with_default(Sink(collect.clone()), || run(&s));
        assert!(result.unwrap());

        let spans = collect.spans.lock().unwrap().clone();
        let events = collect.events.lock().unwrap().clone();
        let (&run_id, run_span) = spans
            .iter()
            .find(|(_, span)| span.name == "run")
            .expect("a run span");
        assert!(
            run_span.fields.contains("scheduler=\"traced\""),
            "{run_span:?}"
        );
        let job_span = |label: &str| -> u64 {
            let (&id, span) = spans
                .iter()
                .find(|(_, span)| {
                    span.name == "job" && span.fields.contains(&format!("label={label}"))
                })
                .unwrap_or_else(|| panic!("a span for job {label}: {spans:?}"));
            assert_eq!(
                span.parent,
                Some(run_id),
                "job spans are children of the run's"
            );
            id
        };
        let (a_id, b_id) = (job_span("a"), job_span("b"));
        let event_in = |needle: &str, parent: u64| {
            assert!(
                events
                    .iter()
                    .any(|e| e.text.contains(needle) && e.parent == Some(parent)),
                "an event {needle:?} in span {parent}: {events:?}"
            )
        };
        event_in("run started", run_id);
        event_in("run ended", run_id);
        event_in("started", a_id);
        event_in("done", a_id);
        event_in("working", a_id);
        event_in("failed", b_id);
    }

    #[test]
    fn tracing_gets_run_and_job_spans_from_every_thread() {
        check(|s| s.run());
    }

    #[test]
    fn tracing_gets_run_and_job_spans_through_run_async() {
        check(|s| pollster::block_on(s.run_async()));
    }
}
