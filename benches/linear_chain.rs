//! Taskflow's `linear_chain` benchmark: jobgraph against a rayon DAG, build and run timed
//! apart and together (see `common/driver.rs`).

use jobgraph_shapes as common;
#[path = "common/driver.rs"]
mod driver;

fn bench(c: &mut criterion::Criterion) {
    driver::bench_shape(c, "linear_chain", common::linear_chain);
}

criterion::criterion_group!(benches, bench);
criterion::criterion_main!(benches);
