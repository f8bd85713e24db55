//! The timeline of a run (`Scheduler::record_timeline`, `Scheduler::timeline`): each
//! job's attempts, worker and outcome; its Chrome trace, read back with `serde_json`;
//! its critical path, in the debrief and bold in the DOT picture. Timing is asserted
//! by order and containment, never by exact durations.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Barrier};
use std::time::Duration;

use jobgraph::{Backoff, Context, Job, JobEnd, Scheduler};
use serde_json::Value;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn sleeper(n: u64) -> impl FnOnce(&Context<'_>) -> bool + Send + 'static {
    move |ctx| ctx.sleep(ms(n))
}

/// The trace's events, parsed.
fn events(json: &str) -> Vec<Value> {
    let trace: Value = serde_json::from_str(json).expect("the trace is JSON");
    trace["traceEvents"]
        .as_array()
        .expect("traceEvents is an array")
        .clone()
}

/// The complete events (`"ph":"X"`) named `name`.
fn slices<'a>(events: &'a [Value], name: &str) -> Vec<&'a Value> {
    events
        .iter()
        .filter(|e| e["ph"] == "X" && e["name"] == name)
        .collect()
}

/// The name the metadata gives `(pid, tid)`'s thread, or `pid`'s process.
fn metadata_names(events: &[Value], kind: &str) -> HashMap<(i64, i64), String> {
    events
        .iter()
        .filter(|e| e["ph"] == "M" && e["name"] == kind)
        .map(|e| {
            (
                (e["pid"].as_i64().unwrap(), e["tid"].as_i64().unwrap_or(-1)),
                e["args"]["name"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// `a`, then `slow` (long) and `fast` (short) side by side, then `join`.
fn diamond() -> (Scheduler, [Job<bool>; 4]) {
    let a = Job::new(sleeper(5)).label("a");
    let slow = Job::new(sleeper(150)).label("slow").requires(&a);
    let fast = Job::new(sleeper(5)).label("fast").requires(&a);
    let join = Job::new(sleeper(5)).label("join").requires((&slow, &fast));
    let s = Scheduler::new()
        .window(2)
        .record_timeline(true)
        .with((&a, &slow, &fast, &join));
    (s, [a, slow, fast, join])
}

#[test]
fn recording_off_gives_no_timeline_and_no_bold_path() {
    let a = Job::new(|_| 1).label("a");
    let b = Job::new(|_| 2).label("b").requires(&a);
    let s = Scheduler::new().with((&a, &b));
    assert!(!s.is_recording_timeline());
    assert!(s.run().unwrap());
    assert!(s.timeline().is_none());
    assert!(!s.debrief().to_string().contains("critical path"));
    assert!(!s.dot_format().contains("bold"));
}

#[test]
fn each_job_has_its_start_end_worker_and_outcome() {
    let (s, [a, slow, fast, join]) = diamond();
    assert!(s.timeline().is_none(), "nothing before the run");
    assert!(s.run().unwrap());
    let timeline = s.timeline().unwrap();
    assert_eq!(timeline.jobs().len(), 4);
    let by_label: HashMap<&str, _> = timeline.jobs().iter().map(|j| (j.label(), j)).collect();
    for job in timeline.jobs() {
        assert_eq!(job.outcome(), JobEnd::Done, "{}", job.label());
        assert_eq!(job.attempts().len(), 1);
        assert!(job.worker().unwrap() < 2, "window 2: workers 0 and 1");
        assert!(job.start().unwrap() <= job.end().unwrap());
        assert!(job.end().unwrap() <= timeline.wall_time());
    }
    assert_eq!(by_label["slow"].job(), &slow.any());
    // Each job starts after the jobs it requires ended.
    let end = |l: &str| by_label[l].end().unwrap();
    let start = |l: &str| by_label[l].start().unwrap();
    assert!(end("a") <= start("slow") && end("a") <= start("fast"));
    assert!(end("slow") <= start("join") && end("fast") <= start("join"));
    assert!(by_label["slow"].length().unwrap() >= ms(150));
    assert_eq!(by_label["join"].requires(), [1, 2]);
    // `slow` and `fast` ran at once, so on two workers.
    assert_ne!(by_label["slow"].worker(), by_label["fast"].worker());
    assert!(timeline.wall_time() >= ms(160));
    drop((a, fast, join));
}

#[test]
fn the_critical_path_of_a_diamond_is_its_slow_branch() {
    let (s, _) = diamond();
    assert!(s.run().unwrap());
    let timeline = s.timeline().unwrap();
    let path = timeline.critical_path();
    assert_eq!(path.labels(), ["a", "slow", "join"]);
    // The path's jobs and idle times add up to the run, but for its last moments.
    let covered = path.busy() + path.idle();
    assert!(covered <= timeline.wall_time());
    assert!(covered >= ms(160));
    assert!(path.steps()[1].length() >= ms(150));
    assert_eq!(path.steps()[1].index(), 1);
    assert!(path.steps()[0].start() <= path.steps()[1].start());
}

#[test]
fn the_debrief_ends_with_the_critical_path() {
    let (s, _) = diamond();
    assert!(s.run().unwrap());
    let text = s.debrief().to_string();
    let at = text
        .find("===== critical path: 3 job(s), ")
        .unwrap_or_else(|| panic!("{text}"));
    let lines: Vec<&str> = text[at..].lines().skip(1).take(3).collect();
    let labels: Vec<&str> = lines
        .iter()
        .map(|l| l.split_whitespace().next().unwrap())
        .collect();
    assert_eq!(labels, ["a", "slow", "join"], "{text}");
    assert!(!text[at..].contains("fast"), "{text}");
}

#[test]
fn the_dot_picture_draws_the_critical_path_bold() {
    let (s, _) = diamond();
    assert!(s.run().unwrap());
    let dot = s.dot_format();
    // Listing order numbers a, slow, fast, join as 1 to 4.
    let line = |start: &str| {
        dot.lines()
            .find(|l| l.starts_with(start))
            .unwrap_or_else(|| panic!("no {start} in {dot}"))
            .to_string()
    };
    assert!(line("1 -> 2").contains("style=bold"), "{dot}");
    assert!(line("2 -> 4").contains("style=bold"), "{dot}");
    assert!(!line("1 -> 3").contains("bold"), "{dot}");
    assert!(!line("3 -> 4").contains("bold"), "{dot}");
    for node in ["1 [", "2 [", "4 ["] {
        assert!(line(node).contains("bold"), "{dot}");
    }
    assert!(!line("3 [").contains("bold"), "{dot}");
}

#[test]
fn the_trace_has_one_slice_per_job_on_its_worker_track() {
    // `left` and `right` wait for each other: they run at once, on two workers.
    let meet = Arc::new(Barrier::new(2));
    let (m1, m2) = (meet.clone(), meet);
    let left = Job::new(move |_| m1.wait().is_leader()).label("left");
    let right = Job::new(move |_| m2.wait().is_leader()).label("right");
    let after = Job::new(|_| 0)
        .label("after \"quoted\"\n")
        .requires((&left, &right));
    let s = Scheduler::new()
        .label("top")
        .window(2)
        .record_timeline(true)
        .with((&left, &right, &after));
    assert!(s.run().unwrap());
    let json = s.timeline().unwrap().chrome_trace();
    let events = events(&json);
    let tid = |name: &str| {
        let found = slices(&events, name);
        assert_eq!(found.len(), 1, "{name}: {json}");
        assert_eq!(found[0]["pid"], 1);
        assert_eq!(found[0]["args"]["outcome"], "done");
        assert_eq!(found[0]["args"]["attempt"], 1);
        assert!(found[0]["ts"].as_f64().unwrap() >= 0.0);
        assert!(found[0]["dur"].as_f64().unwrap() >= 0.0);
        found[0]["tid"].as_i64().unwrap()
    };
    let tracks: BTreeSet<i64> = [tid("left"), tid("right"), tid("after \"quoted\"\n")].into();
    assert_eq!(tracks, [0, 1].into(), "two workers, two tracks: {json}");
    assert_ne!(tid("left"), tid("right"));
    let threads = metadata_names(&events, "thread_name");
    assert_eq!(threads[&(1, 0)], "worker 0");
    assert_eq!(threads[&(1, 1)], "worker 1");
    let processes = metadata_names(&events, "process_name");
    assert_eq!(processes[&(1, -1)], "top");
}

#[test]
fn a_retried_job_has_a_slice_per_attempt() {
    let mut calls = 0;
    let flaky = Job::new_mut(move |_| {
        calls += 1;
        if calls < 3 {
            Err(format!("failure {calls}"))
        } else {
            Ok(calls)
        }
    })
    .label("flaky")
    .retries(3)
    .backoff(Backoff::fixed(ms(10)));
    let s = Scheduler::new().record_timeline(true).with(&flaky);
    assert!(s.run().unwrap());
    let timeline = s.timeline().unwrap();
    let job = &timeline.jobs()[0];
    let ends: Vec<JobEnd> = job.attempts().iter().map(|a| a.ended()).collect();
    assert_eq!(ends, [JobEnd::Retried, JobEnd::Retried, JobEnd::Done]);
    assert_eq!(job.outcome(), JobEnd::Done);
    for pair in job.attempts().windows(2) {
        // The backoff lies between two attempts.
        assert!(pair[0].end() + ms(10) <= pair[1].start(), "{pair:?}");
    }
    let events = events(&timeline.chrome_trace());
    let found = slices(&events, "flaky");
    assert_eq!(found.len(), 3);
    let attempts: Vec<i64> = found
        .iter()
        .map(|e| e["args"]["attempt"].as_i64().unwrap())
        .collect();
    assert_eq!(attempts, [1, 2, 3]);
    assert_eq!(found[0]["args"]["outcome"], "retried");
    assert_eq!(found[2]["args"]["outcome"], "done");
    assert_eq!(found[0]["args"]["job_outcome"], "done");
}

#[test]
fn a_nested_scheduler_records_its_jobs_inside_its_own() {
    let x = Job::new(sleeper(20)).label("x");
    let y = Job::new(sleeper(20)).label("y").requires(&x);
    let inner = Scheduler::new().label("inner").with((&x, &y));
    let before = Job::new(sleeper(5)).label("before");
    let nested = inner.clone().requires(&before);
    // Recording is asked of the outer scheduler only.
    let s = Scheduler::new()
        .label("outer")
        .record_timeline(true)
        .with((&before, &nested));
    assert!(s.run().unwrap());
    let timeline = s.timeline().unwrap();
    let outer_job = &timeline.jobs()[1];
    let own = outer_job.nested().expect("the nested scheduler's timeline");
    assert_eq!(own.label(), "inner");
    assert_eq!(own.jobs().len(), 2);
    // One clock: the nested jobs lie within the nested scheduler's job.
    assert!(own.start() >= outer_job.start().unwrap());
    for job in own.jobs() {
        assert_eq!(job.outcome(), JobEnd::Done);
        assert!(job.start().unwrap() >= outer_job.start().unwrap());
        assert!(job.end().unwrap() <= outer_job.end().unwrap());
    }
    assert_eq!(own.critical_path().labels(), ["x", "y"]);
    assert_eq!(timeline.critical_path().labels(), ["before", "inner"]);
    // The nested scheduler's own timeline is there too, counted from its own start.
    assert_eq!(inner.timeline().unwrap().jobs().len(), 2);

    let json = timeline.chrome_trace();
    let events = events(&json);
    let processes = metadata_names(&events, "process_name");
    assert_eq!(processes[&(1, -1)], "outer");
    assert_eq!(processes[&(2, -1)], "inner (in outer)");
    let slice = |name: &str| slices(&events, name)[0].clone();
    let span = |e: &Value| {
        let ts = e["ts"].as_f64().unwrap();
        (ts, ts + e["dur"].as_f64().unwrap())
    };
    let (outer_start, outer_end) = span(&slice("inner"));
    assert_eq!(slice("inner")["pid"], 1);
    for name in ["x", "y"] {
        assert_eq!(slice(name)["pid"], 2, "{json}");
        let (start, end) = span(&slice(name));
        assert!(outer_start <= start && end <= outer_end, "{json}");
    }
    // The DOT picture follows the path into the nested scheduler.
    let dot = s.dot_format();
    assert!(
        dot.lines()
            .any(|l| l.contains("-> ") && l.contains("style=bold") && l.contains("lhead=")),
        "{dot}"
    );
}

#[test]
fn a_job_that_fails_or_never_runs_says_so() {
    let boom = Job::new(|_| Err::<(), _>("boom")).label("boom");
    let never = Job::new(|_| ()).label("never").requires(&boom);
    let s = Scheduler::new()
        .critical(false)
        .record_timeline(true)
        .with((&boom, &never));
    assert!(!s.run().unwrap());
    let timeline = s.timeline().unwrap();
    assert_eq!(timeline.jobs()[0].outcome(), JobEnd::Failed);
    assert_eq!(timeline.jobs()[1].outcome(), JobEnd::NotRun);
    assert!(timeline.jobs()[1].attempts().is_empty());
    assert_eq!(timeline.critical_path().labels(), ["boom"]);
    // The debrief tells the failure, then ends with the path.
    let text = s.debrief().to_string();
    let (failure, path) = (
        text.find("END stack for CRITICAL JOB")
            .unwrap_or_else(|| panic!("{text}")),
        text.find("===== critical path: 1 job(s)")
            .unwrap_or_else(|| panic!("{text}")),
    );
    assert!(failure < path, "{text}");
    let last = text.trim_end().lines().last().unwrap();
    assert!(last.trim_start().starts_with("boom "), "{text}");
    let events = events(&timeline.chrome_trace());
    assert_eq!(slices(&events, "boom")[0]["args"]["outcome"], "failed");
    assert!(slices(&events, "never").is_empty());
}

#[test]
fn a_job_past_its_timeout_is_timed_out_in_the_timeline() {
    let slow = Job::new(sleeper(5_000))
        .label("slow")
        .critical(false)
        .timeout(ms(30));
    let s = Scheduler::new().record_timeline(true).with(&slow);
    assert!(s.run().unwrap());
    let timeline = s.timeline().unwrap();
    assert_eq!(timeline.jobs()[0].outcome(), JobEnd::TimedOut);
    assert!(timeline.jobs()[0].length().unwrap() < ms(4_000));
}

#[test]
fn a_trace_is_written_to_a_file_and_reads_back() {
    let (s, _) = diamond();
    assert!(s.run().unwrap());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("run.json");
    let file = std::fs::File::create(&path).unwrap();
    s.timeline().unwrap().write_chrome_trace(file).unwrap();
    let json = std::fs::read_to_string(&path).unwrap();
    let events = events(&json);
    for name in ["a", "slow", "fast", "join"] {
        assert_eq!(slices(&events, name).len(), 1, "{json}");
    }
}
