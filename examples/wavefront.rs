//! A wavefront computation with a `Batch`: a grid of blocks, each needing the blocks
//! above and to its left, as in a dynamic-programming table computed block by block.
//!
//! Each block's value is a few thousand rounds of mixing of its neighbours' values;
//! the batch runs the blocks on the CPUs as their requirements end, and the result is
//! checked against the same table computed in one thread.
//!
//! ```text
//! cargo run --release --example wavefront [side] [rounds]
//! ```

use std::time::Instant;

use jobgraph::{Batch, JobId};

/// The value of a block from its neighbours' (0 at the edges): CPU work.
fn block(up: u64, left: u64, rounds: u32) -> u64 {
    let mut x = up ^ left.rotate_left(17) ^ 0x9E37_79B9_7F4A_7C15;
    for _ in 0..rounds {
        // xorshift64*
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        x = x.wrapping_mul(0x2545_F491_4F6C_DD1D);
    }
    x
}

fn main() -> Result<(), jobgraph::Error> {
    let mut args = std::env::args().skip(1);
    let side: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(300);
    let rounds: u32 = args.next().and_then(|a| a.parse().ok()).unwrap_or(2_000);
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());

    let start = Instant::now();
    let mut batch = Batch::with_capacity(side * side, 2 * side * side)
        .label("wavefront")
        .window(cpus);
    let mut blocks: Vec<JobId> = Vec::with_capacity(side * side);
    for i in 0..side * side {
        let up = (i >= side).then(|| blocks[i - side]);
        let left = (i % side > 0).then(|| blocks[i - 1]);
        let job = batch.add(move |ctx| {
            let up = up.map_or(Ok(0), |id| ctx.input::<u64>(id).copied())?;
            let left = left.map_or(Ok(0), |id| ctx.input::<u64>(id).copied())?;
            Ok::<_, jobgraph::Error>(block(up, left, rounds))
        });
        blocks.push(job.requires_all(up.into_iter().chain(left)).id());
    }
    let built = start.elapsed();
    assert!(batch.run()?);
    let ran = start.elapsed() - built;
    let corner = *batch.result(blocks[side * side - 1])?;

    // The same table in one thread, to check the result and to compare.
    let start = Instant::now();
    let mut table = vec![0u64; side * side];
    for i in 0..side * side {
        let up = if i >= side { table[i - side] } else { 0 };
        let left = if i % side > 0 { table[i - 1] } else { 0 };
        table[i] = block(up, left, rounds);
    }
    let alone = start.elapsed();
    assert_eq!(
        corner,
        table[side * side - 1],
        "the batch and the loop agree"
    );

    let n = (side * side) as f64;
    println!(
        "{side} x {side} blocks of {rounds} rounds, window {cpus}: {}",
        batch.stats()
    );
    println!(
        "batch: built in {:.1} ms ({:.0} ns per job), ran in {:.1} ms; one thread: {:.1} ms; speed-up {:.2}x",
        built.as_secs_f64() * 1e3,
        built.as_nanos() as f64 / n,
        ran.as_secs_f64() * 1e3,
        alone.as_secs_f64() * 1e3,
        alone.as_secs_f64() / ran.as_secs_f64(),
    );
    println!("corner block: {corner:#018x}");
    Ok(())
}
