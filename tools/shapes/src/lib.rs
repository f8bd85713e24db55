//! DAG shapes shared by the benches and by `tools/compare`, and the two systems that
//! run them in the same process: jobgraph, and a plain DAG on rayon (atomic counters,
//! each job spawned into a `rayon::scope` when its last requirement ends).
//!
//! The shapes follow Taskflow's benchmarks:
//!
//! * `linear_chain`: job i requires job i − 1;
//! * `embarrassing_parallelism`: n independent jobs;
//! * `binary_tree`: job i requires its parent (i − 1) / 2;
//! * `wavefront`: a √n × √n grid, each cell requires its upper and left neighbours;
//! * `random_dag`: each job requires 4 distinct random earlier jobs (fixed seed);
//! * `fan_in_fan_out`: one source, n − 2 jobs that require it, one sink that requires them;
//! * `skewed_dag`: a random DAG of short jobs and chains of long ones, for the makespan.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use jobgraph::{Batch, Job, Pool, Scheduler};

/// A DAG as requirement lists: job `i` requires `reqs[start[i]..start[i + 1]]`, all
/// earlier jobs (so index order is a topological order).
#[derive(Debug)]
pub struct Shape {
    pub name: &'static str,
    pub start: Vec<u32>,
    pub reqs: Vec<u32>,
}

impl Shape {
    pub fn len(&self) -> usize {
        self.start.len() - 1
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn requirements(&self, i: usize) -> &[u32] {
        &self.reqs[self.start[i] as usize..self.start[i + 1] as usize]
    }

    fn from_fn(
        name: &'static str,
        n: usize,
        mut reqs_of: impl FnMut(usize, &mut Vec<u32>),
    ) -> Shape {
        let mut start = Vec::with_capacity(n + 1);
        let mut reqs = Vec::with_capacity(n * 2);
        start.push(0);
        for i in 0..n {
            reqs_of(i, &mut reqs);
            start.push(reqs.len() as u32);
        }
        Shape { name, start, reqs }
    }

    /// The shape as little-endian u32s: n, edges, start[0..=n], reqs; what the external
    /// drivers of `tools/compare` read.
    pub fn to_bytes(&self) -> Vec<u8> {
        let words = [self.len() as u32, self.reqs.len() as u32];
        words
            .iter()
            .chain(&self.start)
            .chain(&self.reqs)
            .flat_map(|w| w.to_le_bytes())
            .collect()
    }
}

pub fn linear_chain(n: usize) -> Shape {
    Shape::from_fn("linear_chain", n, |i, out| {
        if i > 0 {
            out.push(i as u32 - 1)
        }
    })
}

pub fn embarrassing_parallelism(n: usize) -> Shape {
    Shape::from_fn("embarrassing_parallelism", n, |_, _| {})
}

pub fn binary_tree(n: usize) -> Shape {
    Shape::from_fn("binary_tree", n, |i, out| {
        if i > 0 {
            out.push((i as u32 - 1) / 2)
        }
    })
}

/// A grid of ⌊√n⌋² cells (999 856 for a million).
pub fn wavefront(n: usize) -> Shape {
    let side = (n as f64).sqrt() as usize;
    Shape::from_fn("wavefront", side * side, |i, out| {
        let (row, col) = (i / side, i % side);
        if row > 0 {
            out.push((i - side) as u32);
        }
        if col > 0 {
            out.push(i as u32 - 1);
        }
    })
}

pub fn random_dag(n: usize) -> Shape {
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = move || {
        // xorshift64*
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        state.wrapping_mul(0x2545_F491_4F6C_DD1D)
    };
    Shape::from_fn("random_dag", n, |i, out| {
        let first = out.len();
        if i <= 4 {
            out.extend(0..i as u32);
            return;
        }
        while out.len() - first < 4 {
            let r = (next() % i as u64) as u32;
            if !out[first..].contains(&r) {
                out.push(r);
            }
        }
    })
}

pub fn fan_in_fan_out(n: usize) -> Shape {
    Shape::from_fn("fan_in_fan_out", n, |i, out| {
        if i + 1 == n && n > 1 {
            out.extend(1..i.max(2) as u32);
        } else if i > 0 {
            out.push(0);
        }
    })
}

/// A seeded random DAG whose jobs differ in length, to measure the order ready jobs
/// start in: `n` jobs, the last `chains × chain_len` of them long, in `chains` chains
/// (each long job requires the one before it in its chain), added after the short ones
/// as a graph built in any order may add them. Every job past the first tenth also
/// requires one or two random earlier jobs, so the chains wait on short jobs too.
/// Returns the shape (named `skewed_dag`) and whether each job is long.
pub fn skewed_dag(n: usize, chains: usize, chain_len: usize) -> (Shape, Vec<bool>) {
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let mut next = move || {
        // xorshift64*
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        state.wrapping_mul(0x2545_F491_4F6C_DD1D)
    };
    let longs = (chains * chain_len).min(n);
    let positions: Vec<usize> = (n - longs..n).collect();
    // The chains take the long jobs in turns: each one's jobs come in index order.
    let mut before = vec![None; n];
    let mut long = vec![false; n];
    for (k, &p) in positions.iter().enumerate() {
        long[p] = true;
        if k >= chains {
            before[p] = Some(positions[k - chains] as u32);
        }
    }
    let randoms: Vec<u64> = (0..2 * n).map(|_| next()).collect();
    let shape = Shape::from_fn("skewed_dag", n, |i, out| {
        let first = out.len();
        if let Some(b) = before[i] {
            out.push(b);
        }
        if i < n / 10 {
            return;
        }
        // At most as many distinct earlier jobs as there are.
        let wanted = (usize::from(before[i].is_some()) + 1 + (randoms[2 * i] % 2) as usize).min(i);
        let mut r = randoms[2 * i + 1] | 1;
        while out.len() - first < wanted {
            let required = (r % i as u64) as u32;
            // xorshift64: the next of a sequence that visits every nonzero word.
            r ^= r << 13;
            r ^= r >> 7;
            r ^= r << 17;
            if !out[first..].contains(&required) {
                out.push(required);
            }
        }
    });
    (shape, long)
}

/// A scheduler holding `shape`'s jobs, each spinning `long_ns` when `long` says so and
/// `short_ns` otherwise, with that window, ranked longest path first when
/// `longest_path_first` is set (see [`skewed_dag`]).
pub fn build_skewed(
    shape: &Shape,
    long: &[bool],
    (short_ns, long_ns): (u64, u64),
    window: usize,
    longest_path_first: bool,
) -> Scheduler {
    let mut jobs: Vec<Job<()>> = Vec::with_capacity(shape.len());
    for (i, &long) in long.iter().enumerate() {
        let ns = if long { long_ns } else { short_ns };
        let job = Job::new(move |_| spin(ns));
        job.add_requires(
            shape
                .requirements(i)
                .iter()
                .map(|&r| &jobs[r as usize])
                .collect::<Vec<_>>(),
        );
        jobs.push(job);
    }
    let scheduler = Scheduler::new()
        .window(window)
        .longest_path_first(longest_path_first);
    scheduler.add(jobs);
    scheduler
}

/// The shape called `name` (the Taskflow name or the short one), with about `n` jobs.
pub fn by_name(name: &str, n: usize) -> Option<Shape> {
    Some(match name {
        "linear_chain" | "chain" => linear_chain(n),
        "embarrassing_parallelism" | "parallel" => embarrassing_parallelism(n),
        "binary_tree" | "tree" => binary_tree(n),
        "wavefront" => wavefront(n),
        "random_dag" | "random" => random_dag(n),
        "fan_in_fan_out" | "fan" => fan_in_fan_out(n),
        _ => return None,
    })
}

/// What each job does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Work {
    /// An empty closure.
    Empty,
    /// A future that is ready at its first poll.
    Future,
    /// Spins for this many nanoseconds.
    Busy(u64),
}

impl Work {
    pub fn name(self) -> String {
        match self {
            Work::Empty => "empty".into(),
            Work::Future => "future".into(),
            Work::Busy(ns) if ns % 1000 == 0 => format!("busy{}us", ns / 1000),
            Work::Busy(ns) => format!("busy{ns}ns"),
        }
    }

    pub fn ns(self) -> u64 {
        match self {
            Work::Busy(ns) => ns,
            _ => 0,
        }
    }
}

/// Spins for `ns` nanoseconds.
#[inline]
pub fn spin(ns: u64) {
    let start = Instant::now();
    let d = Duration::from_nanos(ns);
    while start.elapsed() < d {
        std::hint::spin_loop();
    }
}

/// Builds with `build`, runs with `run`; how long each took. What was built is dropped
/// after the clock stops: freeing is timed for nobody.
pub fn timed<T>(build: impl FnOnce() -> T, run: impl FnOnce(&mut T)) -> (Duration, Duration) {
    let start = Instant::now();
    let mut built = std::hint::black_box(build());
    let ready = Instant::now();
    run(&mut built);
    let ran = Instant::now();
    drop(built);
    (ready - start, ran - ready)
}

// ---- jobgraph -------------------------------------------------------------------

/// A scheduler holding `shape`'s jobs, with that window.
pub fn build_jobgraph(shape: &Shape, window: usize, work: Work) -> Scheduler {
    let n = shape.len();
    let mut jobs: Vec<Job<()>> = Vec::with_capacity(n);
    for i in 0..n {
        let job = match work {
            Work::Empty => Job::new(|_| ()),
            Work::Future => Job::future(async {}),
            Work::Busy(ns) => Job::new(move |_| spin(ns)),
        };
        // All of a job's requirements in one call, as `requires((&a, &b))` is written
        // on a job being built: its one handle, so its list takes them with no lock.
        let job_of = |r: &u32| &jobs[*r as usize];
        let job = match shape.requirements(i) {
            [] => job,
            [a] => job.requires(job_of(a)),
            [a, b] => job.requires([job_of(a), job_of(b)]),
            [a, b, c, d] => job.requires([job_of(a), job_of(b), job_of(c), job_of(d)]),
            more => job.requires(more.iter().map(job_of).collect::<Vec<_>>()),
        };
        jobs.push(job);
    }
    let scheduler = Scheduler::new().window(window);
    scheduler.add(jobs);
    scheduler
}

pub fn run_jobgraph(scheduler: &mut Scheduler) {
    assert!(scheduler.run().expect("the run fails"));
}

/// A batch holding `shape`'s jobs, with that window.
pub fn build_batch(shape: &Shape, window: usize, work: Work) -> Batch<()> {
    let n = shape.len();
    let mut batch = Batch::with_capacity(n, shape.reqs.len()).window(window);
    let mut ids = Vec::with_capacity(n);
    for i in 0..n {
        let job = match work {
            Work::Empty => batch.add(|_| ()),
            Work::Future => batch.add_future(async {}),
            Work::Busy(ns) => batch.add(move |_| spin(ns)),
        };
        let job = job.requires_all(shape.requirements(i).iter().map(|&r| ids[r as usize]));
        ids.push(job.id());
    }
    batch
}

pub fn run_batch(batch: &mut Batch<()>) {
    assert!(batch.run().expect("the run fails"));
}

/// A run of one empty job on a scheduler, with `pool`'s workers: a warm start.
pub fn one_job_scheduler(pool: &Pool) {
    let s = Scheduler::new().pool(pool);
    s.add(Job::new(|_| ()));
    assert!(s.run().expect("a run of one job"));
}

/// The same on a batch.
pub fn one_job_batch(pool: &Pool) {
    let mut batch = Batch::new().pool(pool);
    batch.add(|_| ());
    assert!(batch.run().expect("a run of one job"));
}

/// A batch of `shape`'s empty jobs added with `add_mut`, to run again and again.
pub fn build_again(shape: &Shape, window: usize) -> Batch<()> {
    let n = shape.len();
    let mut batch = Batch::with_capacity(n, shape.reqs.len()).window(window);
    let mut ids = Vec::with_capacity(n);
    for i in 0..n {
        let job = batch
            .add_mut(|_| ())
            .requires_all(shape.requirements(i).iter().map(|&r| ids[r as usize]));
        ids.push(job.id());
    }
    batch
}

/// Polls a ready future once with a no-op waker.
fn poll_ready() {
    let mut future = std::pin::pin!(async {});
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    let _ = std::future::Future::poll(future.as_mut(), &mut cx);
}

// ---- rayon ----------------------------------------------------------------------

/// The baseline: successors in CSR form, an atomic counter per job, one boxed task per
/// job; a job whose last requirement ends is spawned into the scope.
pub struct RayonDag {
    succ_start: Vec<u32>,
    succ: Vec<u32>,
    pending: Vec<AtomicU32>,
    roots: Vec<u32>,
    tasks: Vec<Box<dyn Fn() + Send + Sync>>,
}

impl std::fmt::Debug for RayonDag {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RayonDag")
            .field("jobs", &self.tasks.len())
            .field("roots", &self.roots.len())
            .finish_non_exhaustive()
    }
}

pub fn build_rayon(shape: &Shape, work: Work) -> RayonDag {
    let n = shape.len();
    let mut count = vec![0u32; n + 1];
    let mut pending = Vec::with_capacity(n);
    let mut roots = Vec::new();
    let mut tasks: Vec<Box<dyn Fn() + Send + Sync>> = Vec::with_capacity(n);
    for i in 0..n {
        let reqs = shape.requirements(i);
        for &r in reqs {
            count[r as usize + 1] += 1;
        }
        if reqs.is_empty() {
            roots.push(i as u32);
        }
        pending.push(AtomicU32::new(reqs.len() as u32));
        tasks.push(match work {
            Work::Empty => Box::new(|| ()),
            Work::Future => Box::new(poll_ready),
            Work::Busy(ns) => Box::new(move || spin(ns)),
        });
    }
    for i in 0..n {
        count[i + 1] += count[i];
    }
    let mut fill = count.clone();
    let mut succ = vec![0u32; shape.reqs.len()];
    for i in 0..n {
        for &r in shape.requirements(i) {
            succ[fill[r as usize] as usize] = i as u32;
            fill[r as usize] += 1;
        }
    }
    RayonDag {
        succ_start: count,
        succ,
        pending,
        roots,
        tasks,
    }
}

impl RayonDag {
    pub fn run(&self, pool: &rayon::ThreadPool) {
        pool.scope(|scope| {
            for &root in &self.roots {
                scope.spawn(move |scope| self.execute(scope, root));
            }
        });
    }

    fn execute<'s>(&'s self, scope: &rayon::Scope<'s>, i: u32) {
        let i = i as usize;
        (self.tasks[i])();
        let successors = &self.succ[self.succ_start[i] as usize..self.succ_start[i + 1] as usize];
        for &s in successors {
            if self.pending[s as usize].fetch_sub(1, Ordering::AcqRel) == 1 {
                scope.spawn(move |scope| self.execute(scope, s));
            }
        }
    }
}

pub fn rayon_pool(threads: usize) -> rayon::ThreadPool {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("a rayon pool")
}

/// The windows to measure: 1, 2 and the CPU count, without repeats.
pub fn windows() -> Vec<usize> {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut windows = vec![1, 2, cpus];
    windows.sort_unstable();
    windows.dedup();
    windows
}
