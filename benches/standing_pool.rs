//! The standing pool: the start of a warm run of one job, on the standing pool and with
//! threads started for each run (a pool without keep-alive, as every run did before),
//! beside a rayon scope on its standing pool; and a 100-job graph run again against the
//! same graph rebuilt for each run.
//!
//! Groups: `standing/warm_start` (`scheduler`, `batch`, `scheduler-threads-per-run`,
//! `rayon`) and `standing/run_again/{shape}` (`run_again`, `rebuild`).

use std::time::Duration;

use criterion::Criterion;
use jobgraph::Pool;

use jobgraph_shapes as common;

fn bench(c: &mut Criterion) {
    let global = Pool::global();
    let cold = Pool::new().keep_alive(Duration::ZERO);
    let rayon = common::rayon_pool(2);
    let mut group = c.benchmark_group("standing/warm_start");
    group
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(2));
    group.bench_function("scheduler", |b| {
        b.iter(|| common::one_job_scheduler(&global))
    });
    group.bench_function("batch", |b| b.iter(|| common::one_job_batch(&global)));
    group.bench_function("scheduler-threads-per-run", |b| {
        b.iter(|| common::one_job_scheduler(&cold))
    });
    group.bench_function("rayon", |b| b.iter(|| rayon.scope(|s| s.spawn(|_| ()))));
    group.finish();

    for name in ["wavefront", "random_dag"] {
        let shape = common::by_name(name, 100).expect("a known shape");
        let mut group = c.benchmark_group(format!("standing/run_again/{name}"));
        group
            .warm_up_time(Duration::from_millis(300))
            .measurement_time(Duration::from_secs(2));
        let mut batch = common::build_again(&shape, 2);
        group.bench_function("run_again", |b| {
            b.iter(|| assert!(batch.run().expect("a run again")))
        });
        group.bench_function("rebuild", |b| {
            b.iter(|| assert!(common::build_again(&shape, 2).run().expect("a fresh run")))
        });
        group.finish();
    }
}

criterion::criterion_group!(benches, bench);
criterion::criterion_main!(benches);
