//! The run's shared queue of ready jobs: the jobs made ready outside the workers (a
//! retry's next attempt, a give-up's successors) in a first-come list; in a ranked run
//! (a job with a priority or a cost, or `longest_path_first`), every ready job, best
//! rank first.
//!
//! # A ranked run
//!
//! Entry jobs, released successors, retries and a give-up's successors all go through
//! this one queue, under its lock, instead of the workers' deques: the workers' deques
//! and the entry list stay empty. A worker that releases successors pushes them all,
//! then takes the best job of the queue to run next (one of its own if it outranks
//! what waited, else the job that did), and announces the rest as any pusher does: the
//! hand-off rule of `worker.rs` and `Run::give_place` covers the queue as it covers
//! jobs injected from outside. With one worker, jobs start exactly in rank order.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

/// Ready jobs waiting for a worker in the run's shared queue.
pub(super) enum Ready {
    /// First ready, first taken.
    Fifo(VecDeque<u32>),
    /// Lowest rank first: `rank << 32 | index`, ranks being distinct.
    Ranked(BinaryHeap<Reverse<u64>>),
}

impl Ready {
    /// An empty queue, ranked when `rank` is given.
    pub(super) fn new(rank: Option<&[u32]>) -> Self {
        match rank {
            None => Ready::Fifo(VecDeque::new()),
            Some(_) => Ready::Ranked(BinaryHeap::new()),
        }
    }

    /// Adds job `i`, whose place in the order is `rank[i]` in a ranked run.
    #[inline]
    pub(super) fn push(&mut self, i: u32, rank: Option<&[u32]>) {
        match (self, rank) {
            (Ready::Ranked(heap), Some(rank)) => {
                heap.push(Reverse(u64::from(rank[i as usize]) << 32 | u64::from(i)));
            }
            (Ready::Ranked(heap), None) => heap.push(Reverse(u64::from(i))),
            (Ready::Fifo(list), _) => list.push_back(i),
        }
    }

    /// The next job to run.
    #[inline]
    pub(super) fn pop(&mut self) -> Option<u32> {
        match self {
            Ready::Fifo(list) => list.pop_front(),
            Ready::Ranked(heap) => heap.pop().map(|Reverse(key)| key as u32),
        }
    }

    pub(super) fn len(&self) -> usize {
        match self {
            Ready::Fifo(list) => list.len(),
            Ready::Ranked(heap) => heap.len(),
        }
    }
}
