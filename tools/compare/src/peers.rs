//! jobgraph's peers, each set up when it can be and timed on a shape: a DAG on rayon
//! (in this process), oneTBB's `flow_graph` and Taskflow (C++ drivers built here with
//! g++), and asynciojobs (in a venv under the target directory).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::{self, Shape, Work};
use crate::{best, bytes_of, time, Measure};

pub(super) fn time_rayon(
    shape: &Shape,
    pool: &rayon::ThreadPool,
    work: Work,
    reps: usize,
) -> Measure {
    let build = || common::build_rayon(shape, work);
    time(shape, reps, build, |dag| dag.run(pool))
}

pub(super) fn bytes_rayon(shape: &Shape, pool: &rayon::ThreadPool) -> f64 {
    let build = || common::build_rayon(shape, Work::Empty);
    bytes_of(shape, build, |dag| dag.run(pool))
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub(super) fn work_dir() -> PathBuf {
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
pub(super) fn tbb_driver(dir: &Path) -> Result<PathBuf, String> {
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
pub(super) fn taskflow_driver(dir: &Path) -> Result<PathBuf, String> {
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
pub(super) fn time_driver(
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
pub(super) fn asynciojobs_python(dir: &Path) -> Result<PathBuf, String> {
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

pub(super) fn time_asynciojobs(
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
