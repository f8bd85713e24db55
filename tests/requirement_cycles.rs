//! Jobs that require each other in a cycle hold each other through their requirements:
//! what frees them, and what a handle still held keeps seeing.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use jobgraph::{AnyJob, Error, Job, Scheduler};

/// Counts its drop: captured by a job's closure, or returned as its value, it is
/// dropped with the job.
#[derive(Debug)]
struct Dropped(Arc<AtomicUsize>);

jobgraph::job_output!(Dropped);

impl Drop for Dropped {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// `n` jobs, each requiring the one before it, the first requiring the last; and the
/// count of their closures dropped.
fn cycle(n: usize) -> (Vec<Job<()>>, Arc<AtomicUsize>) {
    let dropped = Arc::new(AtomicUsize::new(0));
    let jobs: Vec<Job<()>> = (0..n)
        .map(|i| {
            let guard = Dropped(dropped.clone());
            Job::new(move |_| {
                let _keep = &guard;
            })
            .label(format!("job {i}"))
        })
        .collect();
    for i in 0..n {
        jobs[i].add_requires(&jobs[(i + n - 1) % n]);
    }
    (jobs, dropped)
}

#[test]
fn a_refused_cycle_of_a_thousand_jobs_is_freed_with_its_handles_and_scheduler() {
    let (jobs, dropped) = cycle(1_000);
    let s = Scheduler::new();
    s.add(&jobs[..]);
    assert!(matches!(s.run(), Err(Error::Cycle { .. })));
    drop(jobs);
    assert_eq!(dropped.load(Ordering::SeqCst), 0);
    drop(s);
    assert_eq!(dropped.load(Ordering::SeqCst), 1_000);
}

#[test]
fn a_job_still_held_keeps_its_whole_cycle_of_requirements_when_the_scheduler_goes() {
    let (jobs, dropped) = cycle(1_000);
    let s = Scheduler::new();
    s.add(&jobs[..]);
    assert!(matches!(s.run(), Err(Error::Cycle { .. })));
    let kept: AnyJob = jobs[500].any();
    drop(jobs);
    drop(s);
    assert_eq!(dropped.load(Ordering::SeqCst), 0);
    // Walking back through the requirements goes round the whole cycle.
    let mut job = kept.clone();
    for _ in 0..1_000 {
        let requirements = job.requirements();
        assert_eq!(requirements.len(), 1, "{job:?}");
        job = requirements[0].clone();
    }
    assert_eq!(job, kept);
    assert_eq!(job.text_label(), "job 500");
    // Removing one requirement breaks the cycle: everything is freed with the handles.
    let before = kept.requirements()[0].clone();
    kept.remove_requires(&before);
    drop((job, before, kept));
    assert_eq!(dropped.load(Ordering::SeqCst), 1_000);
}

#[test]
fn a_scheduler_of_a_graph_that_ran_frees_its_jobs_as_before() {
    let dropped = Arc::new(AtomicUsize::new(0));
    let s = Scheduler::new();
    let mut previous: Option<Job<()>> = None;
    for _ in 0..100 {
        let guard = Dropped(dropped.clone());
        let job = Job::new(move |_| {
            let _keep = &guard;
        });
        let job = match previous.take() {
            Some(before) => job.requires(&before),
            None => job,
        };
        s.add(&job);
        previous = Some(job);
    }
    drop(previous);
    assert!(s.run().unwrap());
    // A closure job's closure is consumed by its run.
    assert_eq!(dropped.load(Ordering::SeqCst), 100);
    drop(s);
}

#[test]
fn a_two_job_cycle_in_no_scheduler_lives_until_one_requirement_is_removed() {
    // Never added to a scheduler, the two jobs are a plain reference cycle, as two
    // `Arc`s holding each other are: dropping the handles leaves them alive.
    let (jobs, dropped) = cycle(2);
    drop(jobs);
    assert_eq!(dropped.load(Ordering::SeqCst), 0);

    // Removing either requirement while a handle is held breaks it.
    let (jobs, dropped) = cycle(2);
    jobs[0].remove_requires(&jobs[1]);
    drop(jobs);
    assert_eq!(dropped.load(Ordering::SeqCst), 2);
}

#[test]
fn a_refused_cycle_is_freed_when_its_handles_outlive_the_scheduler() {
    let (jobs, dropped) = cycle(1_000);
    {
        // The usual order at the end of a scope: the scheduler, declared last, goes first.
        let s = Scheduler::new();
        s.add(&jobs[..]);
        assert!(matches!(s.run(), Err(Error::Cycle { .. })));
    }
    assert_eq!(dropped.load(Ordering::SeqCst), 0);
    // Still whole for whoever holds a handle.
    assert_eq!(jobs[0].requirements(), vec![jobs[999].any()]);
    drop(jobs);
    assert_eq!(dropped.load(Ordering::SeqCst), 1_000);
}

#[test]
fn handles_of_a_cycle_dropped_on_many_threads_at_once_free_it() {
    for _ in 0..20 {
        let (jobs, dropped) = cycle(64);
        let s = Scheduler::new();
        s.add(&jobs[..]);
        assert!(matches!(s.run(), Err(Error::Cycle { .. })));
        drop(s);
        let barrier = Arc::new(std::sync::Barrier::new(4));
        let mut chunks: Vec<Vec<Job<()>>> = vec![Vec::new(); 4];
        for (i, job) in jobs.into_iter().enumerate() {
            chunks[i % 4].push(job);
        }
        let threads: Vec<_> = chunks
            .into_iter()
            .map(|chunk| {
                let barrier = barrier.clone();
                std::thread::spawn(move || {
                    barrier.wait();
                    drop(chunk);
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        assert_eq!(dropped.load(Ordering::SeqCst), 64);
    }
}

#[test]
fn a_cycle_made_after_a_run_is_freed_with_its_scheduler() {
    // A graph that ran without a cycle, then closed into one: the requirement that
    // closes it is added to jobs already in the scheduler, so the scheduler's drop must
    // not trust what it saw when it froze the graph. Each job's value is what counts
    // its drop: a closure that ran is gone already.
    let (jobs, dropped) = ran_chain_of_three();
    // Job 0 now requires job 2, which requires job 1, which requires job 0.
    jobs.0[0].add_requires(&jobs.0[2]);
    let s = jobs.1;
    drop(jobs.0);
    assert_eq!(dropped.load(Ordering::SeqCst), 0);
    drop(s);
    assert_eq!(dropped.load(Ordering::SeqCst), 3);
}

#[test]
fn a_cycle_made_by_trading_one_requirer_for_another_after_a_run_is_freed() {
    // Each job keeps as many requirers as when the graph froze: only an edge moved.
    let ((jobs, s), dropped) = ran_chain_of_three();
    jobs[2].remove_requires(&jobs[1]);
    jobs[0].add_requires(&jobs[1]);
    drop(jobs);
    assert_eq!(dropped.load(Ordering::SeqCst), 0);
    drop(s);
    assert_eq!(dropped.load(Ordering::SeqCst), 3);
}

/// Three jobs, each requiring the one before, run in a scheduler; their values count
/// their drops.
fn ran_chain_of_three() -> ((Vec<Job<Dropped>>, Scheduler), Arc<AtomicUsize>) {
    let dropped = Arc::new(AtomicUsize::new(0));
    let jobs: Vec<Job<Dropped>> = (0..3)
        .map(|_| {
            let counter = dropped.clone();
            Job::new(move |_| Dropped(counter))
        })
        .collect();
    jobs[1].add_requires(&jobs[0]);
    jobs[2].add_requires(&jobs[1]);
    let s = Scheduler::new();
    s.add(&jobs[..]);
    assert!(s.run().unwrap());
    assert_eq!(dropped.load(Ordering::SeqCst), 0);
    ((jobs, s), dropped)
}
