//! The floor under the scheduler's handles: what building a job costs when it is its
//! own reference-counted allocation, as a `Job` is, before anything is scheduled.
//!
//! The stand-in job has the size of an empty closure job's allocation in jobgraph
//! (checked here with the counting allocator) and holds strong handles to its
//! requirements, two inline as jobgraph's list does. It is built in the cheaper order
//! (the requirements' counts first, then the allocation) and has nothing else: no
//! scheduler, no lock, no label. Beside it, the same job in a box of its own with its
//! requirements as plain indices (the allocation without the counts), and the other
//! strategy: a job cell from a pool, 64 bytes in a slab kept from one graph to the next
//! (as Taskflow keeps its nodes in a per-thread pool), its first two requirements
//! inline, its handle an index; once with plain counts of successors, once with an
//! atomic `fetch_add` per requirement (what sharing the cells between threads would
//! ask). Then the run's side on those cells: each job sealed with a compare-and-swap
//! and its requirements' counters decremented, walked in order on one thread, once as
//! a batch job's run does and once with the two spin locks a scheduler job's run also
//! takes. Then the scheduler's own build, Taskflow's build and the batch's whole job
//! (build and run) measured earlier: what the allocation and the counts take of a
//! scheduler's build, and what a pool of cells would leave. Last, the model's floor:
//! a pooled build that also claims each cell with a compare-and-swap (as `add` claims
//! a job another holds) and the walk with both locks, the five locked instructions a
//! free job's build and run cannot do without, set against Taskflow's whole job.

use std::hint::black_box;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Instant;

use jobgraph::Job;

use crate::common;
use crate::{peak_bytes, Front, Results, EMPTY};

/// A job reduced to what a handle's job cannot do without.
struct StandIn {
    _requires: [Option<Arc<StandIn>>; 2],
    /// Requirements past the first two, on the heap (the random DAG's four).
    _more: Vec<Arc<StandIn>>,
    _rest: [u64; 7],
}

/// The best of `reps` builds of `shape` as stand-ins, in ns per job; freeing is not timed.
fn floor_build(shape: &common::Shape, reps: usize) -> f64 {
    let n = shape.len();
    (0..reps)
        .map(|_| {
            let start = Instant::now();
            let mut jobs: Vec<Arc<StandIn>> = Vec::with_capacity(n);
            for i in 0..n {
                let reqs = shape.requirements(i);
                let mut requires = [None, None];
                for (slot, &r) in requires.iter_mut().zip(reqs) {
                    *slot = Some(jobs[r as usize].clone());
                }
                let more = reqs
                    .get(2..)
                    .unwrap_or(&[])
                    .iter()
                    .map(|&r| jobs[r as usize].clone())
                    .collect();
                jobs.push(Arc::new(StandIn {
                    _requires: requires,
                    _more: more,
                    _rest: [0; 7],
                }));
            }
            let jobs = black_box(jobs);
            let elapsed = start.elapsed();
            drop(jobs);
            elapsed.as_secs_f64() * 1e9 / n as f64
        })
        .fold(f64::MAX, f64::min)
}

/// The same job in a box of its own, its requirements as indices: no counts.
struct Boxed {
    _requires: [u32; 2],
    _more: Vec<u32>,
    _rest: [u64; 9],
}

/// The best of `reps` builds of `shape` as boxed jobs, in ns per job.
fn boxed_build(shape: &common::Shape, reps: usize) -> f64 {
    let n = shape.len();
    (0..reps)
        .map(|_| {
            let start = Instant::now();
            let mut jobs: Vec<Box<Boxed>> = Vec::with_capacity(n);
            for i in 0..n {
                let r = shape.requirements(i);
                let mut requires = [u32::MAX; 2];
                for (slot, &r) in requires.iter_mut().zip(r) {
                    *slot = r;
                }
                jobs.push(Box::new(Boxed {
                    _requires: requires,
                    _more: r.get(2..).unwrap_or(&[]).to_vec(),
                    _rest: [0; 9],
                }));
            }
            let jobs = black_box(jobs);
            let elapsed = start.elapsed();
            drop(jobs);
            elapsed.as_secs_f64() * 1e9 / n as f64
        })
        .fold(f64::MAX, f64::min)
}

/// A job cell from a pool: one cache line, requirements inline for the common one or
/// two, the rest in the pool's overflow list; `successors` counts who requires it.
#[repr(C, align(64))]
struct Cell {
    pending: u32,
    successors: AtomicU32,
    requires: [u32; 2],
    more_start: u32,
    more_len: u32,
    body: [usize; 2],
    /// Spin locks a run may take on the job (see [`locked_walk`]).
    guards: [AtomicU32; 2],
    /// Set once the job's outcome is sealed.
    sealed: AtomicU32,
    /// Which scheduler holds the job: claimed with a compare-and-swap when it is added.
    place: AtomicU32,
    _rest: [u32; 2],
}

impl Cell {
    /// A cell waiting for `pending` requirements, none listed yet.
    fn new(pending: usize) -> Self {
        Cell {
            pending: pending as u32,
            successors: AtomicU32::new(0),
            requires: [u32::MAX; 2],
            more_start: 0,
            more_len: 0,
            body: [0; 2],
            guards: [AtomicU32::new(0), AtomicU32::new(0)],
            sealed: AtomicU32::new(0),
            place: AtomicU32::new(0),
            _rest: [0; 2],
        }
    }
}

/// How a pooled build counts and claims its cells.
#[derive(Clone, Copy, PartialEq)]
enum Counts {
    /// Successors counted with a plain load and store.
    Plain,
    /// With a `fetch_add` per requirement, as a handle's count is taken.
    Atomic,
    /// Also each cell claimed with a compare-and-swap, as `Scheduler::add` claims a job
    /// that another holds: the model's two locked instructions of a build.
    Claimed,
}

/// The best of `reps` builds of `shape` as cells of one slab, reused from one build to
/// the next as a pool would be (only the first build allocates), in ns per job.
fn pool_build(shape: &common::Shape, reps: usize, counts: Counts) -> f64 {
    let n = shape.len();
    let mut slab: Vec<Cell> = Vec::new();
    let mut more: Vec<u32> = Vec::new();
    (0..reps + 1)
        .map(|_| {
            slab.clear();
            more.clear();
            let start = Instant::now();
            for i in 0..n {
                let reqs = shape.requirements(i);
                for &r in reqs {
                    let count = &slab[r as usize].successors;
                    if counts == Counts::Plain {
                        count.store(count.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
                    } else {
                        count.fetch_add(1, Ordering::Relaxed);
                    }
                }
                let mut cell = Cell::new(reqs.len());
                if reqs.len() <= 2 {
                    cell.requires[..reqs.len()].copy_from_slice(reqs);
                } else {
                    cell.more_start = more.len() as u32;
                    cell.more_len = reqs.len() as u32;
                    more.extend_from_slice(reqs);
                }
                slab.push(cell);
                if counts == Counts::Claimed {
                    let claimed =
                        slab[i]
                            .place
                            .compare_exchange(0, 1, Ordering::AcqRel, Ordering::Acquire);
                    black_box(claimed.is_ok());
                }
            }
            black_box((&slab, &more));
            start.elapsed().as_secs_f64() * 1e9 / n as f64
        })
        // The first build grows the slab: a pool's first use, left out.
        .skip(1)
        .fold(f64::MAX, f64::min)
}

/// The run's side of the floor, on the cells of one pooled build: each job in order, on
/// one thread, takes `guards` spin locks on its cell (a compare-and-swap, released by a
/// store), seals its outcome with a compare-and-swap, and takes one `fetch_sub` from
/// the successor count of each job it requires (a run's one counter per requirement).
/// With no guard it is what a batch job's run takes; with two, a scheduler job's (the
/// check's lock at freeze and the body's lock, which guard what a free job allows).
/// No queue and no second thread: the difference between the two is the guards' cost.
/// Best of `reps`, in ns per job.
fn locked_walk(shape: &common::Shape, reps: usize, guards: usize) -> f64 {
    let n = shape.len();
    let cells: Vec<Cell> = (0..n)
        .map(|i| Cell::new(shape.requirements(i).len()))
        .collect();
    (0..reps)
        .map(|_| {
            for cell in &cells {
                cell.sealed.store(0, Ordering::Relaxed);
                cell.successors.store(u32::MAX, Ordering::Relaxed);
            }
            let start = Instant::now();
            for (i, cell) in cells.iter().enumerate() {
                for guard in &cell.guards[..guards] {
                    while guard
                        .compare_exchange(0, 1, Ordering::Acquire, Ordering::Relaxed)
                        .is_err()
                    {}
                    guard.store(0, Ordering::Release);
                }
                let sealed =
                    cell.sealed
                        .compare_exchange(0, 1, Ordering::AcqRel, Ordering::Relaxed);
                black_box(sealed.is_ok());
                for &r in shape.requirements(i) {
                    cells[r as usize].successors.fetch_sub(1, Ordering::AcqRel);
                }
            }
            start.elapsed().as_secs_f64() * 1e9 / n as f64
        })
        .fold(f64::MAX, f64::min)
}

/// Prints the floor for the four Taskflow shapes of `jobs` jobs, beside the scheduler's
/// build and the batch's total measured earlier in this process.
pub(crate) fn section(results: &Results, jobs: usize, reps: usize) {
    let cell = std::mem::size_of::<Cell>();
    // Jobs are cut from 16-KiB blocks that the building thread holds: one job alone may
    // take no new memory at all, so many are counted, less their handles' vector.
    const MANY: usize = 4096;
    let (bytes, many) = peak_bytes(|| {
        let mut many = Vec::with_capacity(MANY);
        many.extend((0..MANY).map(|_| Job::new(|_| ())));
        many
    });
    let job_bytes = bytes.saturating_sub(MANY * std::mem::size_of::<Job<()>>()) / MANY;
    drop(many);
    let stand_in = std::mem::size_of::<StandIn>() + 2 * std::mem::size_of::<usize>();
    println!(
        "\n== the floor under a handle's job: each job its own Arc of {stand_in} bytes (an empty closure job: {job_bytes}), its requirements counted, nothing scheduled; ns per job, window 2"
    );
    println!(
        "(box: the job in a Box, requirements as indices, no counts; cell: a {cell}-byte cell from a slab kept between builds, two requirements inline; +atomic: one fetch_add per requirement; seal / +2 locks: those cells walked in order on one thread, each sealed with a compare-and-swap and one fetch_sub per requirement, then also two spin locks taken and released per job, as a scheduler job's check and body take)"
    );
    println!(
        "{:<26} {:>8} {:>8} {:>8} {:>9} {:>8} {:>8} {:>10} {:>10} {:>10}",
        "shape",
        "Arc",
        "box",
        "cell",
        "+atomic",
        "seal",
        "+2 locks",
        "scheduler",
        "taskflow",
        "batch"
    );
    println!(
        "{:<26} {:>8} {:>8} {:>8} {:>9} {:>8} {:>8} {:>10} {:>10} {:>10}",
        "", "build", "build", "build", "build", "walk", "walk", "build", "build", "b+r"
    );
    let all = crate::SHAPES;
    let mut model = Vec::new();
    for name in all {
        let shape = common::by_name(name, jobs).expect("a known shape");
        let n = shape.len();
        let floor = floor_build(&shape, reps);
        let boxed = boxed_build(&shape, reps);
        let plain = pool_build(&shape, reps, Counts::Plain);
        let atomic = pool_build(&shape, reps, Counts::Atomic);
        let claimed = pool_build(&shape, reps, Counts::Claimed);
        let seal = locked_walk(&shape, reps, 0);
        let locked = locked_walk(&shape, reps, 2);
        let get = |system: &str| results.get(EMPTY, name, 2, 0, n, system);
        let show = |m: Option<crate::Measure>, total: bool| {
            m.map_or("-".into(), |m| {
                format!("{:.1}", if total { m.total } else { m.build })
            })
        };
        println!(
            "{name:<26} {floor:>8.1} {boxed:>8.1} {plain:>8.1} {atomic:>9.1} {seal:>8.1} {locked:>8.1} {:>10} {:>10} {:>10}",
            show(get(Front::Scheduler.system()), false),
            show(get("taskflow"), false),
            show(get(Front::Batch.system()), true),
        );
        let total = |system: &str| get(system).map(|m| m.total);
        model.push((
            name,
            claimed,
            locked,
            total(Front::Scheduler.system()),
            total(Front::Batch.system()),
            total("taskflow"),
        ));
    }
    println!(
        "\n== the model's floor against Taskflow: a free job's five locked instructions on Taskflow's allocation, nothing else; ns per job"
    );
    println!(
        "(build: a pooled cell, a fetch_add per requirement as a handle's count and a compare-and-swap claiming it as `add` does; run: those cells walked in order on one thread, the freeze's lock and the body's lock taken and released, the outcome sealed with a compare-and-swap, a fetch_sub per requirement; no queue, no second thread, no list. model/tf: the floor's build and run over Taskflow's whole job, window 2)"
    );
    println!(
        "{:<26} {:>8} {:>8} {:>8} {:>10} {:>10} {:>10} {:>9} {:>9}",
        "shape", "build", "run", "b+r", "scheduler", "batch", "taskflow", "model/tf", "sched/tf"
    );
    for (name, build, run, scheduler, batch, taskflow) in model {
        let show = |ns: Option<f64>| ns.map_or("-".into(), |ns| format!("{ns:.1}"));
        let ratio = |ns: Option<f64>| {
            ns.zip(taskflow)
                .map_or("-".into(), |(ns, tf)| format!("{:.2}x", ns / tf))
        };
        let floor = build + run;
        println!(
            "{name:<26} {build:>8.1} {run:>8.1} {floor:>8.1} {:>10} {:>10} {:>10} {:>9} {:>9}",
            show(scheduler),
            show(batch),
            show(taskflow),
            ratio(Some(floor)),
            ratio(scheduler),
        );
    }
}
