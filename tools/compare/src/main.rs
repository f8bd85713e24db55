//! Runs the same DAG shapes on jobgraph and on its peers, and prints ns and bytes per
//! job side by side with each peer's ratio to jobgraph.
//!
//! jobgraph is measured through both its front doors: a `Scheduler` of job handles
//! (`jobgraph`) and a `Batch` (`jobgraph-batch`); ratios are to the scheduler, and the
//! targets are checked for each.
//!
//! Peers: a DAG on rayon (same process, `tools/shapes`), oneTBB's `flow_graph` (a C++
//! driver built here with g++ against Debian's `libtbb-dev`), Taskflow 4.1.0 (a C++
//! driver built here with g++ against its headers in `../shared/peers/taskflow-4.1.0`,
//! or `$TASKFLOW_DIR`) and asynciojobs 0.21.3 (in a venv created under the target
//! directory). A peer that cannot be set up is skipped with a line that says why.
//! See `tools/compare/README.md`.
//!
//! ```text
//! cargo run --release -p compare -- [--quick] [--pool-only] [--makespan-only] [--no-tbb] [--no-taskflow] [--no-python] [--csv FILE]
//! ```
//!
//! Times are the best of several repetitions (the machine is shared and noisy; the
//! minimum is the least disturbed run). Bytes per job: for jobgraph and rayon, the peak
//! of live heap bytes during build and run, counted by this binary's global allocator;
//! for the external peers, the growth of peak RSS over build and run.
//!
//! Here the measuring of jobgraph and the run of the comparison; the peers' set-up and
//! timing are in `peers`, the printed tables, targets and CSV in `tables`.

use jobgraph_shapes as common;
mod floor;
mod makespan;
mod peers;
mod standing;
mod tables;

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicIsize, Ordering};
use std::time::{Duration, Instant};

use clap::{Arg, ArgAction};
use common::{Shape, Work};
use peers::{
    asynciojobs_python, bytes_rayon, taskflow_driver, tbb_driver, time_asynciojobs, time_driver,
    time_rayon, work_dir,
};
use tables::{print_tables, print_targets, write_csv};

// ---- counting allocator ----------------------------------------------------------

/// Counts live heap bytes and their peak while `COUNTING` is on; the timed runs leave
/// it off, so they pay one relaxed load per allocation.
struct Counting;

static COUNTING: AtomicBool = AtomicBool::new(false);
static LIVE: AtomicIsize = AtomicIsize::new(0);
static PEAK: AtomicIsize = AtomicIsize::new(0);

// SAFETY: every call is forwarded unchanged to the system allocator; the counters are
// plain atomics and never allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            let live = LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
            PEAK.fetch_max(live + layout.size() as isize, Ordering::Relaxed);
        }
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if COUNTING.load(Ordering::Relaxed) {
            LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        }
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            let delta = new_size as isize - layout.size() as isize;
            let live = LIVE.fetch_add(delta, Ordering::Relaxed);
            PEAK.fetch_max(live + delta, Ordering::Relaxed);
        }
        // SAFETY: same contract as ours.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Runs `f` with counting on; the peak of live bytes above the start, while `f` ran
/// and before what it returns is dropped.
fn peak_bytes<T>(f: impl FnOnce() -> T) -> (usize, T) {
    LIVE.store(0, Ordering::Relaxed);
    PEAK.store(0, Ordering::Relaxed);
    COUNTING.store(true, Ordering::SeqCst);
    let value = f();
    COUNTING.store(false, Ordering::SeqCst);
    (PEAK.load(Ordering::Relaxed).max(0) as usize, value)
}

// ---- measurements ----------------------------------------------------------------

/// One system on one shape: ns per job for build and run (best of the repetitions),
/// and bytes per job when measured.
#[derive(Clone, Copy, Default)]
struct Measure {
    build: f64,
    run: f64,
    total: f64,
    bytes: Option<f64>,
}

#[derive(Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Key {
    section: u8,
    shape: &'static str,
    window: usize,
    work_ns: u64,
    jobs: usize,
    system: &'static str,
}

struct Results {
    rows: BTreeMap<Key, Measure>,
}

impl Results {
    fn put(&mut self, key: Key, m: Measure) {
        self.rows.insert(key, m);
    }

    fn get(
        &self,
        section: u8,
        shape: &str,
        window: usize,
        work_ns: u64,
        jobs: usize,
        system: &str,
    ) -> Option<Measure> {
        self.rows
            .iter()
            .find(|(k, _)| {
                k.section == section
                    && k.shape == shape
                    && k.window == window
                    && k.work_ns == work_ns
                    && k.jobs == jobs
                    && k.system == system
            })
            .map(|(_, m)| *m)
    }
}

fn best(samples: &[(u64, u64)], n: usize) -> Measure {
    let per = |ns: u64| ns as f64 / n as f64;
    Measure {
        build: per(samples.iter().map(|s| s.0).min().unwrap_or(0)),
        run: per(samples.iter().map(|s| s.1).min().unwrap_or(0)),
        total: per(samples.iter().map(|s| s.0 + s.1).min().unwrap_or(0)),
        bytes: None,
    }
}

/// Builds and runs `reps` times: the best of each phase, per job of `shape`.
fn time<T>(shape: &Shape, reps: usize, build: impl Fn() -> T, run: impl Fn(&mut T)) -> Measure {
    let samples: Vec<(u64, u64)> = (0..reps)
        .map(|_| nanos(common::timed(&build, &run)))
        .collect();
    best(&samples, shape.len())
}

fn time_jobgraph(shape: &Shape, window: usize, work: Work, reps: usize) -> Measure {
    let build = || common::build_jobgraph(shape, window, work);
    time(shape, reps, build, common::run_jobgraph)
}

fn time_batch(shape: &Shape, window: usize, work: Work, reps: usize) -> Measure {
    let build = || common::build_batch(shape, window, work);
    time(shape, reps, build, common::run_batch)
}

/// jobgraph's two front doors: a `Scheduler` of job handles, and a `Batch`.
#[derive(Clone, Copy)]
enum Front {
    Scheduler,
    Batch,
}

impl Front {
    const ALL: [Front; 2] = [Front::Scheduler, Front::Batch];

    fn system(self) -> &'static str {
        match self {
            Front::Scheduler => "jobgraph",
            Front::Batch => "jobgraph-batch",
        }
    }

    fn future_system(self) -> &'static str {
        match self {
            Front::Scheduler => "jobgraph-future",
            Front::Batch => "jobgraph-batch-future",
        }
    }

    fn time(self, shape: &Shape, window: usize, work: Work, reps: usize) -> Measure {
        match self {
            Front::Scheduler => time_jobgraph(shape, window, work, reps),
            Front::Batch => time_batch(shape, window, work, reps),
        }
    }

    fn bytes(self, shape: &Shape, window: usize) -> f64 {
        match self {
            Front::Scheduler => bytes_jobgraph(shape, window),
            Front::Batch => bytes_batch(shape, window),
        }
    }
}

/// A (build, run) timing in nanoseconds.
fn nanos((build, run): (Duration, Duration)) -> (u64, u64) {
    (build.as_nanos() as u64, run.as_nanos() as u64)
}

/// Peak live heap bytes per job of `shape` while it is built and run once.
fn bytes_of<T>(shape: &Shape, build: impl FnOnce() -> T, run: impl FnOnce(&mut T)) -> f64 {
    let (peak, built) = peak_bytes(|| {
        let mut built = build();
        run(&mut built);
        built
    });
    drop(built);
    peak as f64 / shape.len() as f64
}

fn bytes_jobgraph(shape: &Shape, window: usize) -> f64 {
    let build = || common::build_jobgraph(shape, window, Work::Empty);
    bytes_of(shape, build, common::run_jobgraph)
}

fn bytes_batch(shape: &Shape, window: usize) -> f64 {
    let build = || common::build_batch(shape, window, Work::Empty);
    bytes_of(shape, build, common::run_batch)
}

// ---- main ------------------------------------------------------------------------

const SHAPES: [&str; 5] = [
    "linear_chain",
    "embarrassing_parallelism",
    "binary_tree",
    "wavefront",
    "random_dag",
];

/// Taskflow's four shapes: the first four of [`SHAPES`], those the targets name.
const TASKFLOW: [&str; 4] = [SHAPES[0], SHAPES[1], SHAPES[2], SHAPES[3]];

/// The systems of the main tables, in their order.
const SYSTEMS: [&str; 5] = ["jobgraph", "jobgraph-batch", "rayon", "onetbb", "taskflow"];

/// Section numbers: what a row measures.
const EMPTY: u8 = 0;
const FUTURE: u8 = 1;
const BUSY: u8 = 2;
const PYTHON: u8 = 3;

fn main() {
    let matches = clap::Command::new("compare")
        .about("jobgraph (Scheduler and Batch) against rayon, oneTBB flow_graph, Taskflow and asynciojobs: ns and bytes per job")
        .arg(
            Arg::new("quick")
                .long("quick")
                .action(ArgAction::SetTrue)
                .help("100k jobs, window 2, fewer repetitions: under 3 minutes"),
        )
        .arg(
            Arg::new("csv")
                .long("csv")
                .value_name("FILE")
                .help("also write the measurements as CSV"),
        )
        .arg(
            Arg::new("no-tbb")
                .long("no-tbb")
                .action(ArgAction::SetTrue)
                .help("skip oneTBB"),
        )
        .arg(
            Arg::new("no-taskflow")
                .long("no-taskflow")
                .action(ArgAction::SetTrue)
                .help("skip Taskflow"),
        )
        .arg(
            Arg::new("pool-only")
                .long("pool-only")
                .action(ArgAction::SetTrue)
                .help("only the standing pool's figures: warm starts, 1,000-job graphs, runs again"),
        )
        .arg(
            Arg::new("makespan-only")
                .long("makespan-only")
                .action(ArgAction::SetTrue)
                .help("only the makespan table: first ready first against longest path first"),
        )
        .arg(
            Arg::new("no-python")
                .long("no-python")
                .action(ArgAction::SetTrue)
                .help("skip asynciojobs"),
        )
        .get_matches();
    let quick = matches.get_flag("quick");
    if matches.get_flag("makespan-only") {
        makespan::section(quick);
        return;
    }
    let dir = work_dir();
    std::fs::create_dir_all(&dir).expect("cannot create the work directory");
    let tbb = if matches.get_flag("no-tbb") {
        println!("skipping oneTBB: --no-tbb");
        None
    } else {
        match tbb_driver(&dir) {
            Ok(exe) => Some(exe),
            Err(why) => {
                println!("skipping oneTBB: {why}");
                None
            }
        }
    };
    let taskflow = if matches.get_flag("no-taskflow") {
        println!("skipping Taskflow: --no-taskflow");
        None
    } else {
        match taskflow_driver(&dir) {
            Ok(exe) => Some(exe),
            Err(why) => {
                println!("skipping Taskflow: {why}");
                None
            }
        }
    };
    // The external peers, by the name their rows carry.
    let drivers: Vec<(&'static str, PathBuf)> = [("onetbb", tbb), ("taskflow", taskflow)]
        .into_iter()
        .filter_map(|(name, exe)| Some((name, exe?)))
        .collect();
    if matches.get_flag("pool-only") {
        standing::section(quick, &dir, &drivers);
        return;
    }
    let jobs = if quick { 100_000 } else { 1_000_000 };
    let memory_jobs = 1_000_000;
    // Best of several: the rayon DAG in particular runs in a fast and a slow mode from
    // one run to the next (whether its second worker steals), and the best is its own.
    let reps = if quick { 5 } else { 9 };
    // The 1M pass of a quick run: few repetitions, but more than one, so that no system
    // is judged on its first build alone (Taskflow's node pool and every allocator's
    // caches are cold then).
    let memory_reps = if quick { 3 } else { reps };
    let windows = if quick { vec![2] } else { common::windows() };
    // asynciojobs' cost per job grows with n: the target is judged at 100k, the size of
    // the reference figures and of the quick table.
    let python_sizes: &[usize] = if quick {
        &[100_000]
    } else {
        &[10_000, 100_000]
    };

    let python = if matches.get_flag("no-python") {
        println!("skipping asynciojobs: --no-python");
        None
    } else {
        match asynciojobs_python(&dir) {
            Ok(python) => Some(python),
            Err(why) => {
                println!("skipping asynciojobs: {why}");
                None
            }
        }
    };

    let started = Instant::now();
    let mut results = Results {
        rows: BTreeMap::new(),
    };
    let pools: BTreeMap<usize, rayon::ThreadPool> = windows
        .iter()
        .chain(&[1, 2])
        .map(|&w| (w, common::rayon_pool(w)))
        .collect();
    let key = |section, shape: &'static str, window, work_ns, jobs, system| Key {
        section,
        shape,
        window,
        work_ns,
        jobs,
        system,
    };

    for name in SHAPES {
        let shape = common::by_name(name, jobs).expect("a known shape");
        let big = if jobs == memory_jobs {
            None
        } else {
            common::by_name(name, memory_jobs)
        };
        let mem_shape = big.as_ref().unwrap_or(&shape);
        let n = shape.len();
        eprintln!("[{:>5.1}s] {name}", started.elapsed().as_secs_f64());
        for &window in &windows {
            let pool = &pools[&window];
            for front in Front::ALL {
                let mut m = front.time(&shape, window, Work::Empty, reps);
                if window == 2 {
                    let bytes = front.bytes(mem_shape, window);
                    if big.is_some() {
                        // The memory pass is a run of its own: record it at its size.
                        let mut mm = front.time(mem_shape, window, Work::Empty, memory_reps);
                        mm.bytes = Some(bytes);
                        let big_n = mem_shape.len();
                        results.put(key(EMPTY, name, window, 0, big_n, front.system()), mm);
                    } else {
                        m.bytes = Some(bytes);
                    }
                }
                results.put(key(EMPTY, name, window, 0, n, front.system()), m);
            }
            let mut r = time_rayon(&shape, pool, Work::Empty, reps);
            if window == 2 {
                let bytes = bytes_rayon(mem_shape, pool);
                if big.is_some() {
                    let mut mr = time_rayon(mem_shape, pool, Work::Empty, memory_reps);
                    mr.bytes = Some(bytes);
                    results.put(key(EMPTY, name, window, 0, mem_shape.len(), "rayon"), mr);
                } else {
                    r.bytes = Some(bytes);
                }
            }
            results.put(key(EMPTY, name, window, 0, n, "rayon"), r);
            for (system, exe) in &drivers {
                match time_driver(exe, &dir, &shape, window, Work::Empty, reps) {
                    Ok(t) => results.put(key(EMPTY, name, window, 0, n, system), t),
                    Err(e) => println!("{system} failed on {name}: {e}"),
                }
                if window == 2 && big.is_some() {
                    let big_n = mem_shape.len();
                    match time_driver(exe, &dir, mem_shape, window, Work::Empty, memory_reps) {
                        Ok(t) => results.put(key(EMPTY, name, window, 0, big_n, system), t),
                        Err(e) => println!("{system} failed on {name} ({big_n}): {e}"),
                    }
                }
            }
        }
        // A ready future against a closure.
        for front in Front::ALL {
            let f = front.time(&shape, 2, Work::Future, reps);
            results.put(key(FUTURE, name, 2, 0, n, front.future_system()), f);
            let c = front.time(&shape, 2, Work::Empty, reps);
            results.put(key(FUTURE, name, 2, 0, n, front.system()), c);
        }
        // 1 µs jobs: speed-up from 1 to 2 workers.
        if name != "linear_chain" {
            let busy = common::by_name(name, 100_000).expect("a known shape");
            for window in [1, 2] {
                let w = Work::Busy(1_000);
                let b = busy.len();
                for front in Front::ALL {
                    let m = front.time(&busy, window, w, reps);
                    results.put(key(BUSY, name, window, 1_000, b, front.system()), m);
                }
                let r = time_rayon(&busy, &pools[&window], w, reps);
                results.put(key(BUSY, name, window, 1_000, b, "rayon"), r);
                for (system, exe) in &drivers {
                    if let Ok(t) = time_driver(exe, &dir, &busy, window, w, reps) {
                        results.put(key(BUSY, name, window, 1_000, b, system), t);
                    }
                }
            }
        }
        // asynciojobs, at the sizes it can manage.
        if let Some(python) = &python {
            for &size in python_sizes {
                let small = common::by_name(name, size).expect("a known shape");
                let s = small.len();
                match time_asynciojobs(python, &dir, &small, 2) {
                    Ok(a) => {
                        results.put(key(PYTHON, name, 2, 0, s, "asynciojobs"), a);
                        for front in Front::ALL {
                            let m = front.time(&small, 2, Work::Empty, reps);
                            results.put(key(PYTHON, name, 2, 0, s, front.system()), m);
                        }
                    }
                    Err(e) => println!("asynciojobs failed on {name}: {e}"),
                }
            }
        }
    }
    eprintln!("[{:>5.1}s] done", started.elapsed().as_secs_f64());

    print_tables(&results, &windows, jobs, memory_jobs);
    print_targets(&results, jobs, memory_jobs);
    floor::section(&results, jobs, reps);
    standing::section(quick, &dir, &drivers);
    makespan::section(quick);
    if let Some(file) = matches.get_one::<String>("csv") {
        write_csv(&results, Path::new(file));
        println!("\nwrote {file}");
    }
}
