//! What the order of ready jobs buys: the makespan of a seeded random DAG whose jobs
//! differ in length (`tools/shapes`' `skewed_dag`: short jobs spinning 20 µs, chains
//! of long ones spinning 1 ms added last), at window 2, first ready first started
//! (`fifo`) against longest path first (`longest_path_first`). Run time only: the
//! build is the same for both.
//!
//! `cargo bench --bench makespan`; `tools/compare` prints the same figures as a table.

use std::time::Duration;

use criterion::{BenchmarkId, Criterion};

use jobgraph_shapes as common;

/// The graphs measured: (name, jobs, chains, long jobs per chain).
const GRAPHS: [(&str, usize, usize, usize); 2] = [("1x10", 500, 1, 10), ("3x8", 300, 3, 8)];

/// How long short and long jobs spin, in nanoseconds.
const LENGTHS: (u64, u64) = (20_000, 1_000_000);

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("makespan/skewed_dag/w2");
    group
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    for (name, n, chains, chain_len) in GRAPHS {
        let (shape, long) = common::skewed_dag(n, chains, chain_len);
        for (order, ranked) in [("fifo", false), ("longest_path_first", true)] {
            group.bench_with_input(BenchmarkId::new(order, name), &ranked, |b, &ranked| {
                b.iter_custom(|iters| {
                    (0..iters)
                        .map(|_| {
                            let build = || common::build_skewed(&shape, &long, LENGTHS, 2, ranked);
                            common::timed(build, common::run_jobgraph).1
                        })
                        .sum()
                })
            });
        }
    }
    group.finish();
}

criterion::criterion_group!(benches, bench);
criterion::criterion_main!(benches);
