//! The criterion side of the benches: every shape on jobgraph (a `Scheduler` of job
//! handles, and a `Batch`) and on the rayon DAG, side by side in one group so that
//! criterion's report shows the ratios.
//!
//! Groups are named `{shape}/{work}/w{window}/{phase}`, with `jobgraph/{n}`,
//! `batch/{n}` and `rayon/{n}` in each; phase is `build`, `run`, or `total` (build then run). Sizes
//! default to 1k, 100k and 1M jobs (1 µs jobs stop at 100k: at a million they measure
//! the work, not the scheduler); `JOBGRAPH_BENCH_SIZES=1000,100000` overrides them.
//! Filter as usual: `cargo bench --bench wavefront -- 'empty/w2/total'`.

use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput};

use jobgraph_shapes::{self as common, Shape, Work};

fn sizes() -> Vec<usize> {
    match std::env::var("JOBGRAPH_BENCH_SIZES") {
        Ok(list) => list
            .split(',')
            .filter_map(|s| s.trim().parse().ok())
            .collect(),
        Err(_) => vec![1_000, 100_000, 1_000_000],
    }
}

#[derive(Clone, Copy)]
enum Phase {
    Build,
    Run,
    Total,
}

impl Phase {
    fn name(self) -> &'static str {
        match self {
            Phase::Build => "build",
            Phase::Run => "run",
            Phase::Total => "total",
        }
    }
}

impl Phase {
    /// The part of a (build, run) timing that this phase measures.
    fn of(self, (build, run): (Duration, Duration)) -> Duration {
        match self {
            Phase::Build => build,
            Phase::Run => run,
            Phase::Total => build + run,
        }
    }
}

/// Builds and runs `iters` times; the total of the phase measured.
fn time<T>(phase: Phase, iters: u64, build: impl Fn() -> T, run: impl Fn(&mut T)) -> Duration {
    (0..iters)
        .map(|_| phase.of(common::timed(&build, &run)))
        .sum()
}

/// Benchmarks the shape `make` builds, at every size, window, job kind and phase.
pub(crate) fn bench_shape(c: &mut Criterion, name: &str, make: fn(usize) -> Shape) {
    let shapes: Vec<Shape> = sizes().into_iter().map(make).collect();
    let kinds = [Work::Empty, Work::Future, Work::Busy(1_000)];
    for window in common::windows() {
        let pool = common::rayon_pool(window);
        for work in kinds {
            for phase in [Phase::Build, Phase::Run, Phase::Total] {
                let mut group =
                    c.benchmark_group(format!("{name}/{}/w{window}/{}", work.name(), phase.name()));
                group
                    .sample_size(10)
                    .warm_up_time(Duration::from_millis(200))
                    .measurement_time(Duration::from_secs(1));
                for shape in &shapes {
                    let n = shape.len();
                    if matches!(work, Work::Busy(_)) && n > 100_000 {
                        continue;
                    }
                    group.throughput(Throughput::Elements(n as u64));
                    group.bench_with_input(BenchmarkId::new("jobgraph", n), shape, |b, shape| {
                        b.iter_custom(|iters| {
                            let build = || common::build_jobgraph(shape, window, work);
                            time(phase, iters, build, common::run_jobgraph)
                        })
                    });
                    group.bench_with_input(BenchmarkId::new("batch", n), shape, |b, shape| {
                        b.iter_custom(|iters| {
                            let build = || common::build_batch(shape, window, work);
                            time(phase, iters, build, common::run_batch)
                        })
                    });
                    group.bench_with_input(BenchmarkId::new("rayon", n), shape, |b, shape| {
                        b.iter_custom(|iters| {
                            let build = || common::build_rayon(shape, work);
                            time(phase, iters, build, |dag| dag.run(&pool))
                        })
                    });
                }
                group.finish();
            }
        }
    }
}
