//! Typed results, downstream reads, job kinds, the window.

use crate::common::{failing, sleeper, Recorder};
use jobgraph::{AbstractJob, Context, Error, Job, PrintJob, Scheduler, Sequence};
use std::time::{Duration, Instant};

#[test]
fn results_flow_downstream_typed() {
    let numbers = Job::new(|_| vec![1u64, 2, 3, 4]).label("numbers");
    let squares = Job::new({
        let numbers = numbers.clone();
        move |ctx| -> Result<Vec<u64>, Error> {
            Ok(ctx.get(&numbers)?.iter().map(|n| n * n).collect())
        }
    })
    .requires(&numbers);
    let total = Job::new({
        let squares = squares.clone();
        move |ctx| -> Result<u64, Error> { Ok(ctx.get(&squares)?.iter().sum()) }
    })
    .requires(&squares);
    let s = Scheduler::new();
    s.add((&numbers, &squares, &total));
    assert!(s.run().unwrap());
    assert_eq!(*total.result().unwrap(), 30);
    assert_eq!(squares.result().unwrap(), &vec![1, 4, 9, 16]);
    assert_eq!(total.result_text().as_deref(), Some("30"));
}

#[test]
fn future_jobs_and_custom_jobs_return_typed_values() {
    struct Doubler(u32);
    impl AbstractJob for Doubler {
        type Output = Result<u32, std::num::TryFromIntError>;
        fn run(&mut self, _: &Context<'_>) -> Self::Output {
            u32::try_from(u64::from(self.0) * 2)
        }
    }
    let ready = Job::future(async { "ready" });
    let later = Job::future(async {
        jobgraph::sleep(Duration::from_millis(10)).await;
        String::from("later")
    });
    let custom = Job::custom(Doubler(21));
    let printed = Job::custom(PrintJob::new(["a", "print", "job"]));
    let s = Scheduler::new();
    s.add((&ready, &later, &custom, &printed));
    assert!(s.run().unwrap());
    assert_eq!(*ready.result().unwrap(), "ready");
    assert_eq!(later.result().unwrap(), "later");
    assert_eq!(*custom.result().unwrap(), 42);
    assert!(printed.is_done());
    assert_eq!(custom.kind(), "Doubler");
}

#[test]
fn a_failed_job_releases_its_window_slot() {
    let rec = Recorder::new();
    let s = Scheduler::new().window(1);
    let broken = failing(&rec, "broken", 1).critical(false);
    let next = sleeper(&rec, "next", 1);
    let last = sleeper(&rec, "last", 1);
    s.add((&broken, &next, &last));
    let started = Instant::now();
    assert!(s.run().unwrap());
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(next.is_done() && last.is_done());
    assert_eq!(rec.max_overlap(), 1);
}

#[test]
fn window_one_runs_jobs_one_at_a_time_in_insertion_order() {
    let rec = Recorder::new();
    let s = Scheduler::new().window(1);
    let labels: Vec<String> = (0..6).map(|i| format!("j{i}")).collect();
    for label in &labels {
        s.add(sleeper(&rec, label, 5));
    }
    assert!(s.run().unwrap());
    assert_eq!(rec.max_overlap(), 1);
    for pair in labels.windows(2) {
        assert!(rec.before(&pair[0], &pair[1]), "{pair:?}");
    }
}

#[test]
fn window_zero_runs_everything_at_once() {
    let rec = Recorder::new();
    let s = Scheduler::new().window(0);
    for i in 0..40 {
        s.add(sleeper(&rec, &format!("j{i}"), 300));
    }
    let started = Instant::now();
    assert!(s.run().unwrap());
    assert!(rec.max_overlap() >= 20, "{}", rec.max_overlap());
    assert!(started.elapsed() < Duration::from_secs(8));
}

#[test]
fn requirements_can_be_added_and_removed_later() {
    let rec = Recorder::new();
    let a = sleeper(&rec, "a", 30);
    let b = sleeper(&rec, "b", 30);
    let c = sleeper(&rec, "c", 30).requires((&a, &b));
    c.remove_requires(&b);
    b.add_requires(&c);
    assert_eq!(c.requirements(), vec![a.any()]);
    let s = Scheduler::new();
    s.add((&a, &b, &c));
    assert!(s.run().unwrap());
    assert!(rec.before("a", "c") && rec.before("c", "b"));
}

#[test]
fn jobs_keep_insertion_order_and_a_job_is_added_once() {
    let (x, y, z) = (Job::new(|_| 1), Job::new(|_| 2), Job::new(|_| 3));
    let s = Scheduler::new();
    s.add((&y, &x)).add(Sequence::new((&z, &x)));
    assert_eq!(s.len(), 3);
    assert_eq!(s.jobs(), vec![y.any(), x.any(), z.any()]);
    s.remove(&x);
    assert_eq!(s.jobs(), vec![y.any(), z.any()]);
}

#[test]
fn a_nested_scheduler_is_a_job_with_its_own_window() {
    let rec = Recorder::new();
    let inner = Scheduler::new().label("inner").window(1);
    for i in 0..4 {
        inner.add(sleeper(&rec, &format!("in{i}"), 40));
    }
    let beside = sleeper(&rec, "beside", 100);
    let outer = Scheduler::new().window(2);
    outer.add((&inner, &beside));
    assert!(outer.run().unwrap());
    assert!(rec.overlap("in0", "beside"));
    for (a, b) in [("in0", "in1"), ("in1", "in2"), ("in2", "in3")] {
        assert!(
            rec.before(a, b),
            "the inner window of 1 serialises its jobs"
        );
    }
}

#[test]
fn into_result_moves_a_large_value_out_once_the_handle_is_the_last() {
    let table = Job::new(|_| vec![7u8; 1 << 20]).label("table");
    let failed = Job::new(|_| Err::<Vec<u8>, _>("no table"))
        .label("failed")
        .critical(false);
    let s = Scheduler::new();
    s.add((&table, &failed));
    assert!(s.run().unwrap());
    // The scheduler still holds a handle: nothing moves, and the error says why.
    let kept = table.clone();
    match kept.into_result() {
        Err(Error::Shared { label, handles }) => {
            assert_eq!((label.as_str(), handles), ("table", 2))
        }
        other => panic!("expected Error::Shared, got {other:?}"),
    }
    let address = table.result().unwrap().as_ptr();
    drop(s);
    let moved = table.into_result().unwrap();
    assert_eq!(moved.len(), 1 << 20);
    assert_eq!(moved.as_ptr(), address, "the value was moved, not copied");
    assert!(matches!(failed.into_result(), Err(Error::JobFailed { .. })));
    let never = Job::new(|_| 1u8);
    assert!(matches!(
        never.into_result(),
        Err(Error::NotDone { state: "idle", .. })
    ));
}
