//! loom models of a job's commit: [`Outcome::seal`] racing [`Outcome::abandon`], with a
//! reader of the job's state alongside. They drive the real `Outcome` over the loom
//! primitives of `crate::sync` (its `Once` is spin's protocol rebuilt on loom's
//! atomics there). Run with `RUSTFLAGS="--cfg loom" cargo test --release --lib loom`.
//!
//! What they do not cover: spin's own `Once` code (the model mirrors its protocol), and
//! the scheduler's node around the outcome (`Node::execute`'s body lock).

use crate::error::JobError;
use crate::job::{state, Outcome, Status};
use crate::sync::{check, thread, AtomicU8, Ordering};
use std::sync::Arc;

struct Cell {
    lifecycle: AtomicU8,
    outcome: Outcome<u32>,
}

/// What a reader sees: a job whose state says `DONE` has its value readable, one
/// cancelled or abandoned has none.
fn read(cell: &Cell) {
    match cell.lifecycle.load(Ordering::Acquire) {
        state::DONE => assert!(matches!(cell.outcome.get(), Some(Ok(7)))),
        state::CANCELLED | state::ABANDONED => assert!(cell.outcome.get().is_none()),
        _ => {}
    }
}

/// The worker seals what the job returned (`cancelled` as it read its run's flag)
/// while the coordinator gives up on it and a third thread reads its state: exactly
/// one of seal and abandon wins, the state says which, and nobody sees a state before
/// what it publishes.
fn seal_against_abandon(cancelled: bool) {
    let cell = Arc::new(Cell {
        lifecycle: AtomicU8::new(state::RUNNING),
        outcome: Outcome::new(),
    });
    let worker = {
        let cell = Arc::clone(&cell);
        thread::spawn(move || cell.outcome.seal(&cell.lifecycle, cancelled, Ok(7)))
    };
    let reader = {
        let cell = Arc::clone(&cell);
        thread::spawn(move || read(&cell))
    };
    cell.outcome.abandon(&cell.lifecycle);
    let status = worker.join().unwrap();
    reader.join().unwrap();
    read(&cell);
    let end = cell.lifecycle.load(Ordering::Acquire);
    match status {
        Status::Done => assert!(!cancelled && end == state::DONE),
        Status::Cancelled => assert!(cancelled && end == state::CANCELLED),
        Status::Lost => assert_eq!(end, state::ABANDONED),
        Status::Failed | Status::TimedOut | Status::Retry => {
            unreachable!("the job returned Ok in time")
        }
    }
}

#[test]
fn loom_seal_races_abandon() {
    check("seal vs abandon", || seal_against_abandon(false));
}

#[test]
fn loom_seal_of_a_cancelled_job_races_abandon() {
    check("seal (cancelled) vs abandon", || seal_against_abandon(true));
}

/// Two seals (a job removed from a scheduler and run again elsewhere): one wins, the
/// other is `Lost`, and the value readable is the winner's.
#[test]
fn loom_two_seals_one_wins() {
    check("seal vs seal", || {
        let cell = Arc::new(Cell {
            lifecycle: AtomicU8::new(state::RUNNING),
            outcome: Outcome::new(),
        });
        let other = {
            let cell = Arc::clone(&cell);
            thread::spawn(move || cell.outcome.seal(&cell.lifecycle, false, Ok(7)))
        };
        let mine = cell
            .outcome
            .seal(&cell.lifecycle, false, Err(JobError::new("late")));
        let theirs = other.join().unwrap();
        assert!(matches!(
            (mine, theirs),
            (Status::Failed, Status::Lost) | (Status::Lost, Status::Done)
        ));
        assert_eq!(cell.lifecycle.load(Ordering::Acquire), state::DONE);
    });
}
