//! Taskflow's `random_dag` benchmark: jobgraph against a rayon DAG, build and run timed
//! apart and together (see `common/driver.rs`).

use jobgraph_shapes as common;
#[path = "common/driver.rs"]
mod driver;

fn bench(c: &mut criterion::Criterion) {
    driver::bench_shape(c, "random_dag", common::random_dag);
}

criterion::criterion_group!(benches, bench);
criterion::criterion_main!(benches);
