//! What a comparison prints: the tables of ns and bytes per job with each peer's ratio
//! to jobgraph, the targets checked for each of jobgraph's front doors, and the CSV.

use std::fmt::Write as _;
use std::path::Path;

use crate::common;
use crate::{Front, Measure, Results, BUSY, EMPTY, FUTURE, PYTHON, SHAPES, SYSTEMS};

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

pub(super) fn print_tables(results: &Results, windows: &[usize], jobs: usize, memory_jobs: usize) {
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

pub(super) fn print_targets(results: &Results, jobs: usize, memory_jobs: usize) {
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

pub(super) fn write_csv(results: &Results, path: &Path) {
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
