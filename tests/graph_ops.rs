//! Graph operations (asynciojobs' `entry_jobs`, `exit_jobs`, `keep_only_between`, `sanitize`) on small graphs with known answers, sanitize through
//! nesting, and a million-job chain added in reverse order.

use jobgraph::{AnyJob, Error, Job, Scheduler};

fn job(label: &str) -> AnyJob {
    Job::new(|_| ()).label(label).any()
}

fn labels(jobs: &[AnyJob]) -> Vec<String> {
    jobs.iter().map(AnyJob::text_label).collect()
}

/// a→b→c→d, a→e, and x alone (b requires a, and so on).
struct Abcdex {
    s: Scheduler,
    a: AnyJob,
    b: AnyJob,
    c: AnyJob,
    d: AnyJob,
    e: AnyJob,
    x: AnyJob,
}

fn abcdex() -> Abcdex {
    let [a, b, c, d, e, x] = ["a", "b", "c", "d", "e", "x"].map(job);
    b.add_requires(&a);
    c.add_requires(&b);
    d.add_requires(&c);
    e.add_requires(&a);
    let s = Scheduler::new().label("abcdex");
    s.add((&a, &b, &c, &d, &e, &x));
    Abcdex {
        s,
        a,
        b,
        c,
        d,
        e,
        x,
    }
}

fn sorted(jobs: &[AnyJob]) -> Vec<String> {
    let mut labels = labels(jobs);
    labels.sort();
    labels
}

#[test]
fn keep_only_between_keeps_what_lies_between() {
    let g = abcdex();
    g.s.keep_only_between(&g.b, &g.d, true, true);
    assert_eq!(sorted(&g.s.jobs()), ["b", "c", "d"]);
    assert!(
        g.b.requirements().is_empty(),
        "b's requirement on a is dropped"
    );
    assert!(g.s.check_cycles());
    assert!(g.s.sanitize());

    let g = abcdex();
    g.s.keep_only_between(&g.b, &g.d, false, false);
    assert_eq!(sorted(&g.s.jobs()), ["c"]);

    let g = abcdex();
    g.s.keep_only_between((), &g.c, true, true);
    assert_eq!(sorted(&g.s.jobs()), ["a", "b", "c"]);

    let g = abcdex();
    g.s.keep_only_between(&g.a, (), true, true);
    assert_eq!(sorted(&g.s.jobs()), ["a", "b", "c", "d", "e"]);
    let _ = (&g.x, &g.e);
}

#[test]
fn neighbours_and_their_closures() {
    let g = abcdex();
    assert_eq!(labels(&g.s.predecessors(&g.c)), ["b"]);
    assert_eq!(labels(&g.s.successors(&g.a)), ["b", "e"]);
    assert_eq!(labels(&g.s.successors((&g.a, &g.c))), ["b", "d", "e"]);
    assert_eq!(labels(&g.s.predecessors_upstream(&g.d)), ["a", "b", "c"]);
    assert_eq!(labels(&g.s.successors_downstream(&g.b)), ["c", "d"]);
    assert_eq!(
        labels(&g.s.successors_downstream((&g.b, &g.a))),
        ["b", "c", "d", "e"]
    );
    assert!(g.s.predecessors(&g.x).is_empty());
    // A job from elsewhere has no neighbours here.
    assert!(g.s.successors(job("elsewhere")).is_empty());
}

#[test]
fn entry_and_exit_jobs() {
    let g = abcdex();
    assert_eq!(labels(&g.s.entry_jobs()), ["a", "x"]);
    assert_eq!(labels(&g.s.exit_jobs()), ["d", "e", "x"]);
    let forever = Job::new(|_| ()).label("forever").forever(true);
    g.s.add(&forever);
    assert_eq!(labels(&g.s.exit_jobs()), ["d", "e", "x"]);
    assert_eq!(
        labels(&g.s.exit_jobs_with_forever()),
        ["d", "e", "x", "forever"]
    );
}

#[test]
fn topological_order_follows_asynciojobs_scans() {
    // asynciojobs (insertion-ordered sets) scans the jobs again and again; with
    // b1, b2 requiring b1, b3 it lists b1, b2, b3 (the seed's example B).
    let [b1, b2, b3] = ["b1", "b2", "b3"].map(job);
    b2.add_requires(&b1);
    let s = Scheduler::new();
    s.add((&b1, &b2, &b3));
    assert_eq!(labels(&s.topological_order().unwrap()), ["b1", "b2", "b3"]);

    // Requirements that come later in insertion order push a job to a later scan.
    let [p, q, r] = ["p", "q", "r"].map(job);
    p.add_requires(&r);
    q.add_requires(&p);
    let s = Scheduler::new();
    s.add((&p, &q, &r));
    assert_eq!(labels(&s.topological_order().unwrap()), ["r", "p", "q"]);

    let g = abcdex();
    assert_eq!(
        labels(&g.s.topological_order().unwrap()),
        ["a", "b", "c", "d", "e", "x"]
    );
}

#[test]
fn a_cycle_is_found_and_named() {
    let [a, b, c, d] = ["a", "b", "c", "d"].map(job);
    a.add_requires(&c);
    b.add_requires(&a);
    c.add_requires(&b);
    let s = Scheduler::new().label("cyclic");
    s.add((&a, &b, &c, &d));
    assert!(!s.check_cycles());
    let cycle = s.find_cycle().expect("a cycle");
    assert_eq!(sorted(&cycle), ["a", "b", "c"]);
    match s.topological_order() {
        Err(Error::Cycle {
            scheduler, jobs, ..
        }) => {
            assert_eq!(scheduler, "cyclic");
            assert_eq!(jobs.len(), 3);
        }
        other => panic!("expected a cycle, got {other:?}"),
    }
}

#[test]
fn a_cycle_in_a_nested_scheduler_is_found() {
    let [a, b] = ["a", "b"].map(job);
    a.add_requires(&b);
    b.add_requires(&a);
    let inner = Scheduler::new().label("inner");
    inner.add((&a, &b));
    let outer = Scheduler::new().label("outer");
    outer.add((job("free"), &inner));
    assert!(outer.topological_order().is_ok(), "the outer level is fine");
    assert!(!outer.check_cycles());
    assert_eq!(sorted(&outer.find_cycle().unwrap()), ["a", "b"]);
}

#[test]
fn check_cycles_stays_true_after_a_run() {
    let g = abcdex();
    assert!(g.s.check_cycles());
    assert!(g.s.run().unwrap());
    assert!(g.s.check_cycles());
    assert!(g.s.find_cycle().is_none());
}

#[test]
fn sanitize_is_true_when_nothing_changes_through_nesting() {
    let outside = job("outside");
    let i = job("i").clone();
    i.add_requires(&outside);
    let inner = Scheduler::new().label("inner");
    inner.add((&i, job("j")));
    let a = job("a");
    a.add_requires(&outside);
    let outer = Scheduler::new().label("outer");
    outer.add((&a, &inner));
    assert!(!outer.check_cycles(), "a requirement outside is not sound");
    assert!(!outer.sanitize(), "two requirements had to go");
    assert!(i.requirements().is_empty());
    assert!(a.requirements().is_empty());
    assert!(outer.sanitize(), "nothing left to change");
    assert!(outer.check_cycles());

    // Only the nested scheduler needs fixing: the answer still says so (asynciojobs
    // inverts it).
    let i2 = job("i2");
    i2.add_requires(job("elsewhere"));
    let inner2 = Scheduler::new();
    inner2.add(&i2);
    let outer2 = Scheduler::new();
    outer2.add((job("fine"), &inner2));
    assert!(!outer2.sanitize());
    assert!(outer2.sanitize());
    assert!(outer2.run().unwrap());
}

#[test]
fn keep_only_removes_the_rest_and_their_requirements() {
    let g = abcdex();
    g.s.keep_only((&g.a, &g.c, &g.x));
    assert_eq!(labels(&g.s.jobs()), ["a", "c", "x"]);
    assert!(g.c.requirements().is_empty());
    assert!(g.s.run().unwrap());
}

#[test]
fn bypass_and_remove_keeps_the_order_around_the_job() {
    let g = abcdex();
    g.s.bypass_and_remove(&g.b).unwrap();
    assert_eq!(labels(&g.s.jobs()), ["a", "c", "d", "e", "x"]);
    assert_eq!(labels(&g.c.requirements()), ["a"]);
    assert_eq!(labels(&g.s.successors(&g.a)), ["c", "e"]);
    assert!(matches!(
        g.s.bypass_and_remove(&g.b),
        Err(Error::NotInScheduler { .. })
    ));
    assert!(g.s.run().unwrap());
}

#[test]
fn iterate_jobs_walks_nested_schedulers() {
    let inner2 = Scheduler::new().label("inner2");
    inner2.add(job("deep"));
    let inner = Scheduler::new().label("inner");
    inner.add((job("i1"), &inner2, job("i2")));
    let outer = Scheduler::new().label("outer");
    outer.add((job("o1"), &inner, job("o2")));
    assert_eq!(
        labels(&outer.iterate_jobs()),
        ["o1", "i1", "deep", "i2", "o2"]
    );
    assert_eq!(
        labels(&outer.iterate_jobs_and_schedulers()),
        ["outer", "o1", "inner", "i1", "inner2", "deep", "i2", "o2"]
    );
}

#[test]
fn a_million_job_chain_added_in_reverse_orders_in_linear_time() {
    const N: usize = 1_000_000;
    let jobs: Vec<Job<()>> = (0..N).map(|_| Job::new(|_| ())).collect();
    for i in 1..N {
        jobs[i].add_requires(&jobs[i - 1]);
    }
    let s = Scheduler::new().critical(false);
    s.add(jobs.iter().rev().collect::<Vec<_>>());
    // asynciojobs needs one scan per job here: O(N²).
    let order = s.topological_order().unwrap();
    assert_eq!(order.len(), N);
    assert_eq!(order[0], jobs[0].any());
    assert_eq!(order[N - 1], jobs[N - 1].any());
    assert!(s.check_cycles());
    assert_eq!(s.entry_jobs(), vec![jobs[0].any()]);
    assert_eq!(s.exit_jobs(), vec![jobs[N - 1].any()]);
}
