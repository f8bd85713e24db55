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

use jobgraph_shapes as common;
mod floor;
mod makespan;
mod standing;

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicIsize, Ordering};
use std::time::{Duration, Instant};

use clap::{Arg, ArgAction};
use common::{Shape, Work};

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

fn time_rayon(shape: &Shape, pool: &rayon::ThreadPool, work: Work, reps: usize) -> Measure {
    let build = || common::build_rayon(shape, work);
    time(shape, reps, build, |dag| dag.run(pool))
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

fn bytes_rayon(shape: &Shape, pool: &rayon::ThreadPool) -> f64 {
    let build = || common::build_rayon(shape, Work::Empty);
    bytes_of(shape, build, |dag| dag.run(pool))
}

// ---- external peers --------------------------------------------------------------

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn work_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"));
    target.join("compare")
}

fn shape_file(dir: &Path, shape: &Shape) -> PathBuf {
    let path = dir.join(format!("{}-{}.bin", shape.name, shape.len()));
    if !path.exists() {
        std::fs::write(&path, shape.to_bytes()).expect("cannot write a shape file");
    }
    path
}

fn succeeds(cmd: &mut Command) -> bool {
    cmd.output().map(|o| o.status.success()).unwrap_or(false)
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// What the C++ drivers share (the shape file, the arguments, a busy wait).
fn common_header() -> PathBuf {
    workspace_root().join("tools/compare/driver_common.hpp")
}

/// Whether a driver built earlier is newer than every file it was built from.
fn fresh(exe: &Path, inputs: &[PathBuf]) -> bool {
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    inputs
        .iter()
        .all(|p| matches!((modified(exe), modified(p)), (Some(e), Some(s)) if e >= s))
}

/// Builds the oneTBB driver, installing `libtbb-dev` and `g++` first when missing and
/// allowed to.
fn tbb_driver(dir: &Path) -> Result<PathBuf, String> {
    let source = workspace_root().join("tools/compare/tbb_driver.cpp");
    let exe = dir.join("tbb_driver");
    if fresh(&exe, &[source.clone(), common_header()]) {
        return Ok(exe);
    }
    let header = Path::new("/usr/include/oneapi/tbb/flow_graph.h");
    let have_gxx = succeeds(Command::new("g++").arg("--version"));
    if !header.exists() || !have_gxx {
        if !is_root() {
            return Err("libtbb-dev or g++ missing, and not root to apt-get install them".into());
        }
        println!("installing libtbb-dev and g++ with apt-get ...");
        let install = || {
            succeeds(Command::new("apt-get").args(["install", "-y", "-qq", "libtbb-dev", "g++"]))
        };
        let installed =
            install() || (succeeds(Command::new("apt-get").args(["update", "-qq"])) && install());
        if !installed {
            return Err("apt-get install -y libtbb-dev g++ failed".into());
        }
    }
    let mut gxx = Command::new("g++");
    gxx.args(["-O2", "-std=c++17", "-o"])
        .arg(&exe)
        .arg(&source)
        .args(["-ltbb", "-lpthread"]);
    compile(gxx)?;
    Ok(exe)
}

/// Runs g++ as `gxx` says; its first line of errors when it fails.
fn compile(mut gxx: Command) -> Result<(), String> {
    let out = gxx.output().map_err(|e| format!("cannot run g++: {e}"))?;
    if out.status.success() {
        return Ok(());
    }
    Err(format!(
        "g++ failed: {}",
        String::from_utf8_lossy(&out.stderr)
            .lines()
            .next()
            .unwrap_or("")
    ))
}

/// Where Taskflow's headers are: `$TASKFLOW_DIR`, or `../shared/peers/taskflow-4.1.0`
/// beside the repository root.
fn taskflow_dir() -> PathBuf {
    std::env::var_os("TASKFLOW_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("../shared/peers/taskflow-4.1.0"))
}

/// Builds the Taskflow driver against the headers of [`taskflow_dir`]; nothing is
/// installed: without the headers or g++ the peer is skipped.
fn taskflow_driver(dir: &Path) -> Result<PathBuf, String> {
    let source = workspace_root().join("tools/compare/taskflow_driver.cpp");
    let include = taskflow_dir();
    if !include.join("taskflow/taskflow.hpp").exists() {
        return Err(format!(
            "no taskflow/taskflow.hpp under {} (set TASKFLOW_DIR to Taskflow's folder)",
            include.display()
        ));
    }
    let exe = dir.join("taskflow_driver");
    let inputs = [
        source.clone(),
        common_header(),
        include.join("taskflow/taskflow.hpp"),
    ];
    if fresh(&exe, &inputs) {
        return Ok(exe);
    }
    if !succeeds(Command::new("g++").arg("--version")) {
        return Err("g++ missing".into());
    }
    let mut gxx = Command::new("g++");
    gxx.args(["-O2", "-std=c++20", "-pthread", "-I"])
        .arg(&include)
        .arg("-o")
        .arg(&exe)
        .arg(&source);
    compile(gxx)?;
    Ok(exe)
}

/// Runs an external driver (oneTBB's or Taskflow's: same arguments, same output) on
/// `shape`: the best of its `reps` repetitions, and its peak RSS growth per job.
fn time_driver(
    exe: &Path,
    dir: &Path,
    shape: &Shape,
    window: usize,
    work: Work,
    reps: usize,
) -> Result<Measure, String> {
    let file = shape_file(dir, shape);
    let out = Command::new(exe)
        .arg(&file)
        .arg(window.to_string())
        .arg(work.ns().to_string())
        .arg(reps.to_string())
        .output()
        .map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut samples = Vec::new();
    let mut rss = None;
    for line in text.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["rss_bytes", b] => rss = b.parse::<f64>().ok(),
            [b, r] => samples.push((b.parse().unwrap_or(0), r.parse().unwrap_or(0))),
            _ => {}
        }
    }
    let mut m = best(&samples, shape.len());
    m.bytes = rss.map(|b| b / shape.len() as f64);
    Ok(m)
}

/// A venv under the target directory with asynciojobs 0.21.3 in it.
fn asynciojobs_python(dir: &Path) -> Result<PathBuf, String> {
    let venv = dir.join("venv");
    let python = venv.join("bin/python");
    let check = || {
        succeeds(Command::new(&python).args([
            "-c",
            "import asynciojobs, sys; sys.exit(asynciojobs.__version__ != '0.21.3')",
        ]))
    };
    if python.exists() && check() {
        return Ok(python);
    }
    if !succeeds(Command::new("python3").args(["-m", "venv"]).arg(&venv)) {
        return Err("python3 -m venv failed (is python3-venv installed?)".into());
    }
    println!("installing asynciojobs 0.21.3 into {} ...", venv.display());
    let installed = succeeds(Command::new(&python).args([
        "-m",
        "pip",
        "install",
        "-q",
        "--disable-pip-version-check",
        "asynciojobs==0.21.3",
    ]));
    if !installed || !check() {
        return Err("pip install asynciojobs==0.21.3 failed (no network?)".into());
    }
    Ok(python)
}

fn time_asynciojobs(
    python: &Path,
    dir: &Path,
    shape: &Shape,
    window: usize,
) -> Result<Measure, String> {
    let file = shape_file(dir, shape);
    let out = Command::new(python)
        .arg(workspace_root().join("tools/compare/asynciojobs_driver.py"))
        .arg(&file)
        .arg(window.to_string())
        .output()
        .map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    let words: Vec<u64> = String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    let [build, run, rss] = words[..] else {
        return Err("unexpected output from the asynciojobs driver".into());
    };
    let mut m = best(&[(build, run)], shape.len());
    m.bytes = Some(rss as f64 / shape.len() as f64);
    Ok(m)
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

fn ratio(peer: f64, base: f64) -> String {
    if base > 0.0 {
        format!("{:.2}x", peer / base)
    } else {
        "-".into()
    }
}

fn bytes(m: &Measure) -> String {
    m.bytes.map_or("-".into(), |b| format!("{b:.0}"))
}

fn print_tables(results: &Results, windows: &[usize], jobs: usize, memory_jobs: usize) {
    let header = format!(
        "{:<26} {:<22} {:>9} {:>9} {:>9} {:>9} {:>10}",
        "shape", "system", "build", "run", "total", "ratio", "bytes/job"
    );
    let row = |out: &mut String, shape: &str, system: &str, m: &Measure, base: f64| {
        let _ = writeln!(
            out,
            "{:<26} {:<22} {:>9.1} {:>9.1} {:>9.1} {:>9} {:>10}",
            shape,
            system,
            m.build,
            m.run,
            m.total,
            ratio(m.total, base),
            bytes(m)
        );
    };
    // The main tables: a second ratio, to Taskflow, when it ran.
    let wide_header = format!("{header} {:>9}", "/taskflow");
    let wide_row =
        |out: &mut String, shape: &str, system: &str, m: &Measure, base: f64, tf: Option<f64>| {
            row(out, shape, system, m, base);
            out.pop();
            let _ = writeln!(out, " {:>9}", tf.map_or("-".into(), |t| ratio(m.total, t)));
        };
    for &window in windows {
        for &n in &[jobs, memory_jobs] {
            let mut out = String::new();
            for name in SHAPES {
                let n = common::by_name(name, n).map_or(n, |s| s.len());
                let Some(base) = results.get(EMPTY, name, window, 0, n, "jobgraph") else {
                    continue;
                };
                let tf = results
                    .get(EMPTY, name, window, 0, n, "taskflow")
                    .map(|t| t.total);
                for system in SYSTEMS {
                    if let Some(m) = results.get(EMPTY, name, window, 0, n, system) {
                        wide_row(&mut out, name, system, &m, base.total, tf);
                    }
                }
            }
            if !out.is_empty() {
                println!(
                    "\n== empty closure jobs, window {window}, ~{n} jobs: ns per job; ratio = system / jobgraph (total); /taskflow = system / Taskflow (total)"
                );
                println!("{wide_header}\n{out}");
            }
            if jobs == memory_jobs {
                break;
            }
        }
    }
    let mut out = String::new();
    for name in SHAPES {
        let n = common::by_name(name, jobs).map_or(jobs, |s| s.len());
        for front in Front::ALL {
            if let (Some(c), Some(f)) = (
                results.get(FUTURE, name, 2, 0, n, front.system()),
                results.get(FUTURE, name, 2, 0, n, front.future_system()),
            ) {
                row(&mut out, name, front.system(), &c, c.total);
                row(&mut out, name, front.future_system(), &f, c.total);
            }
        }
    }
    println!("\n== ready future against closure, window 2, ~{jobs} jobs; ratio = future / closure\n{header}\n{out}");
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<26} {:<22} {:>12} {:>12} {:>10}",
        "shape", "system", "w1 run", "w2 run", "of ideal"
    );
    for name in SHAPES {
        let n = common::by_name(name, 100_000).map_or(100_000, |s| s.len());
        for system in SYSTEMS {
            if let (Some(one), Some(two)) = (
                results.get(BUSY, name, 1, 1_000, n, system),
                results.get(BUSY, name, 2, 1_000, n, system),
            ) {
                let _ = writeln!(
                    out,
                    "{:<26} {:<22} {:>12.1} {:>12.1} {:>9.1}%",
                    name,
                    system,
                    one.run,
                    two.run,
                    100.0 * one.run / two.run / 2.0
                );
            }
        }
    }
    println!("== 1 us jobs, ~100k jobs: run ns per job on 1 and 2 workers, speed-up as % of ideal (2x)\n{out}");
    let mut out = String::new();
    for ((k, a), m) in results
        .rows
        .iter()
        .filter(|(k, _)| k.section == PYTHON && k.system == "asynciojobs")
        .filter_map(|(k, a)| {
            Some((
                (k, a),
                results.get(PYTHON, k.shape, 2, 0, k.jobs, "jobgraph")?,
            ))
        })
    {
        let shape = format!("{} ({})", k.shape, k.jobs);
        row(&mut out, &shape, "jobgraph", &m, m.total);
        if let Some(b) = results.get(PYTHON, k.shape, 2, 0, k.jobs, "jobgraph-batch") {
            row(&mut out, &shape, "jobgraph-batch", &b, m.total);
        }
        row(&mut out, &shape, "asynciojobs", a, m.total);
    }
    if !out.is_empty() {
        println!(
            "== asynciojobs, window 2: ns per job; ratio = system / jobgraph\n{header}\n{out}"
        );
    }
}

fn print_targets(results: &Results, jobs: usize, memory_jobs: usize) {
    for front in Front::ALL {
        print_front_targets(results, front, jobs, memory_jobs);
    }
}

/// The targets, checked for one of jobgraph's front doors.
fn print_front_targets(results: &Results, front: Front, jobs: usize, memory_jobs: usize) {
    let me = front.system();
    println!("== targets for {me} (window 2, empty jobs, build + run)");
    let check = |what: String, value: f64, limit: f64, at_most: bool| {
        let ok = if at_most {
            value <= limit
        } else {
            value >= limit
        };
        println!(
            "  [{}] {what}: {value:.2} ({} {limit})",
            if ok { "ok" } else { "MISS" },
            if at_most { "<=" } else { ">=" }
        );
    };
    let absolute = [
        ("linear_chain", 45.0),
        ("embarrassing_parallelism", 64.0),
        ("binary_tree", 84.0),
        ("wavefront", 82.0),
    ];
    for (name, limit) in absolute {
        let n = common::by_name(name, jobs).map_or(jobs, |s| s.len());
        let Some(j) = results.get(EMPTY, name, 2, 0, n, me) else {
            continue;
        };
        check(format!("{name}: ns/job"), j.total, limit, true);
        if let Some(t) = results.get(EMPTY, name, 2, 0, n, "onetbb") {
            check(format!("{name}: / oneTBB"), j.total / t.total, 0.5, true);
        }
        if let Some(r) = results.get(EMPTY, name, 2, 0, n, "rayon") {
            check(format!("{name}: / rayon"), j.total / r.total, 1.0, true);
        }
        if let (Some(c), Some(f)) = (
            results.get(FUTURE, name, 2, 0, n, me),
            results.get(FUTURE, name, 2, 0, n, front.future_system()),
        ) {
            check(
                format!("{name}: future / closure"),
                f.total / c.total,
                1.5,
                true,
            );
        }
        let big = common::by_name(name, memory_jobs).map_or(memory_jobs, |s| s.len());
        if let Some(b) = results
            .get(EMPTY, name, 2, 0, big, me)
            .and_then(|m| m.bytes)
        {
            check(format!("{name}: bytes/job at 1M"), b, 96.0, true);
        }
    }
    // Against Taskflow, on every shape at both sizes: a scheduler at most as slow, a
    // batch at most half; and a batch at most as slow as the rayon DAG on the random DAG.
    let against_taskflow = match front {
        Front::Scheduler => 1.0,
        Front::Batch => 0.5,
    };
    let sizes: &[usize] = if jobs == memory_jobs {
        &[jobs]
    } else {
        &[jobs, memory_jobs]
    };
    for &size in sizes {
        for name in SHAPES {
            let n = common::by_name(name, size).map_or(size, |s| s.len());
            let Some(j) = results.get(EMPTY, name, 2, 0, n, me) else {
                continue;
            };
            if let Some(t) = results.get(EMPTY, name, 2, 0, n, "taskflow") {
                check(
                    format!("{name} ({n}): / Taskflow"),
                    j.total / t.total,
                    against_taskflow,
                    true,
                );
            }
            if let (Front::Batch, "random_dag", Some(r)) =
                (front, name, results.get(EMPTY, name, 2, 0, n, "rayon"))
            {
                check(
                    format!("{name} ({n}): / rayon"),
                    j.total / r.total,
                    1.0,
                    true,
                );
            }
        }
    }
    for name in SHAPES {
        let n = common::by_name(name, 100_000).map_or(100_000, |s| s.len());
        if let (Some(one), Some(two)) = (
            results.get(BUSY, name, 1, 1_000, n, me),
            results.get(BUSY, name, 2, 1_000, n, me),
        ) {
            check(
                format!("{name}: 1 us jobs, % of ideal speed-up"),
                100.0 * one.run / two.run / 2.0,
                97.0,
                false,
            );
        }
    }
    let python_rows = || {
        results
            .rows
            .iter()
            .filter(|(k, _)| k.section == PYTHON && k.system == "asynciojobs")
    };
    // Judged at the largest size measured for each shape (100k): smaller runs are shown.
    let largest = |shape: &str| {
        python_rows()
            .filter(|(k, _)| k.shape == shape)
            .map(|(k, _)| k.jobs)
            .max()
    };
    for (k, a) in python_rows().filter(|(k, _)| largest(k.shape) == Some(k.jobs)) {
        if let Some(m) = results.get(PYTHON, k.shape, 2, 0, k.jobs, me) {
            check(
                format!("{} ({}): asynciojobs / {me}", k.shape, k.jobs),
                a.total / m.total,
                1000.0,
                false,
            );
        }
    }
}

fn write_csv(results: &Results, path: &Path) {
    // The table a row belongs to: the same system, shape and size can be measured for
    // two tables (a closure beside its future, a closure beside asynciojobs).
    let mut out =
        String::from("table,system,shape,jobs,window,work_ns,phase,ns_per_job,bytes_per_job\n");
    for (k, m) in &results.rows {
        let table = match k.section {
            EMPTY => "empty",
            FUTURE => "future",
            BUSY => "busy",
            _ => "asynciojobs",
        };
        for (phase, ns) in [("build", m.build), ("run", m.run), ("total", m.total)] {
            let _ = writeln!(
                out,
                "{table},{},{},{},{},{},{phase},{ns:.2},{}",
                k.system,
                k.shape,
                k.jobs,
                k.window,
                k.work_ns,
                m.bytes.map_or(String::new(), |b| format!("{b:.1}"))
            );
        }
    }
    std::fs::write(path, out).expect("cannot write the CSV file");
}
