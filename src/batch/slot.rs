//! A batch job's cell: its body until it runs, its lifecycle, and what it returned.
//!
//! A scheduler's job guards its body with a lock and seals its outcome with a
//! compare-and-swap, since anyone holding its handle may reach it. A batch's job is
//! reached only through its batch and its one run, so its cell needs neither: the body
//! is taken and the outcome written by the one execution the engine makes of each job,
//! and one compare-and-swap of the lifecycle, which a run that gives up on the job
//! races, publishes the end. That is one atomic read-modify-write per job instead of
//! three, in 32 bytes for a `()` value: a million of them stay under what the allocator
//! keeps for reuse.
#![allow(unsafe_code)]

use std::mem::MaybeUninit;

use super::body::Body;
use crate::error::JobError;
use crate::job::{caught, drop_caught, state, Context, Status};
use crate::sync::{AtomicU8, Ordering, UnsafeCell};

/// One job of a batch.
pub(super) struct Slot<T: 'static> {
    /// One of the `job::state` constants. The engine stores `SCHEDULED` and
    /// `RUNNING`; only [`Slot::execute`] stores `DONE`, after writing `outcome`.
    lifecycle: AtomicU8,
    /// Called by the job's one execution.
    body: UnsafeCell<Body<T>>,
    /// Initialised exactly while the lifecycle says `DONE`: written by the job's one
    /// execution before it stores `DONE`, and taken back by that execution when the run
    /// gave up on the job first; read only once the lifecycle says `DONE`.
    outcome: UnsafeCell<MaybeUninit<Result<T, JobError>>>,
}

// SAFETY: a slot is shared by the worker that runs the job and the threads that read
// its outcome. The body is touched by the job's one execution only, which the caller
// of `execute` guarantees (`Body` is `Send`: it may run on any thread). The outcome is
// written by that execution before the lifecycle's release compare-and-swap to `DONE`,
// and read only after an acquire load sees `DONE`, after which nothing writes it: no
// access races. Readers on several threads share `&T`, hence `T: Sync`.
unsafe impl<T: Send + Sync + 'static> Sync for Slot<T> {}

/// Set beside `ABANDONED` once a job given up on by its run has returned.
pub(super) const RETURNED: u8 = 0x40;

impl<T: 'static> Slot<T> {
    pub(super) fn new(body: Body<T>) -> Self {
        Slot {
            lifecycle: AtomicU8::new(state::IDLE),
            body: UnsafeCell::new(body),
            outcome: UnsafeCell::new(MaybeUninit::uninit()),
        }
    }

    pub(super) fn lifecycle(&self) -> &AtomicU8 {
        &self.lifecycle
    }

    /// Runs the job and publishes its end; `Lost` when its run gave up on it first
    /// (what it returned is then never read).
    ///
    /// # Safety
    ///
    /// At most one call in the slot's life, from one thread, while its lifecycle is
    /// `RUNNING` (as the engine's `Table::execute` contract says); another only after
    /// one that returned `Retry`, never while one is in flight.
    pub(super) unsafe fn execute(&self, ctx: &Context<'_>) -> Status {
        // The last look at the run before the body starts (see `Context::halted`).
        let result = match ctx.halted() {
            false => self.body.with_mut(|body| {
                // SAFETY: this is the job's one execution in flight (the caller's
                // contract): nothing else touches the body meanwhile.
                let body = unsafe { &mut *body };
                caught(|| body.call(ctx))
            }),
            true => Err(JobError::nothing_kept()),
        };
        let halt = ctx.halt();
        if ctx.try_again(&halt, &result) {
            // Not sealed: the job runs again later (its body is `FnMut`: retries are
            // refused before the run for one that is not). What it returned is dropped.
            drop_caught(result);
            return Status::Retry;
        }
        let (end, status) = Status::ending(&halt, &result);
        let kept = end == state::DONE;
        // What is not kept (a cancelled job's value) is dropped after the end is
        // published, and a `Drop` that panics is caught (`drop_caught`).
        let unkept = if kept {
            // SAFETY: only this execution writes the outcome, and nobody reads it until
            // the lifecycle says `DONE`, which the compare-and-swap below stores after
            // this write (release).
            self.outcome
                .with_mut(|outcome| unsafe { (*outcome).write(result) });
            None
        } else {
            Some(result)
        };
        match self.lifecycle.compare_exchange(
            state::RUNNING,
            end,
            Ordering::AcqRel,
            Ordering::Acquire,
        ) {
            Ok(_) => {
                drop_caught(unkept);
                status
            }
            Err(now) => {
                if kept {
                    // SAFETY: written just above; the run gave up on the job first, so
                    // the lifecycle never says `DONE` and nobody else reads or drops it:
                    // this moves it out once, and the slot's own drop leaves it alone.
                    let result = self
                        .outcome
                        .with_mut(|outcome| unsafe { (*outcome).assume_init_read() });
                    drop_caught(result);
                }
                drop_caught(unkept);
                // The job is back, what it returned dropped: its batch may run it again
                // (see `returned`). One given up on for its timeout is now timed out, no
                // longer running.
                let back = if now == state::TIMED_OUT_RUNNING {
                    state::TIMED_OUT
                } else {
                    state::ABANDONED | RETURNED
                };
                self.lifecycle.store(back, Ordering::Release);
                Status::Lost
            }
        }
    }

    /// Gives up on the job if it is still running once its run has ended: it stays
    /// reported as running, and its own end, when it returns, is lost.
    /// Whether the job is not running, nor given up on while still running: its body
    /// is free to be called again.
    pub(super) fn returned(&self) -> bool {
        let lifecycle = self.lifecycle.load(Ordering::Acquire);
        lifecycle != state::RUNNING
            && lifecycle != state::ABANDONED
            && lifecycle != state::TIMED_OUT_RUNNING
    }

    /// Makes the job idle again, for a new run of its batch: drops what its last run
    /// kept.
    ///
    /// # Safety
    ///
    /// No execution of the job is in flight, none starts before this returns, and no
    /// reference to its outcome is alive: the job has `returned`, its batch is borrowed
    /// mutably, and the next run starts after this.
    pub(super) unsafe fn reset(&self) {
        if self.lifecycle.swap(state::IDLE, Ordering::AcqRel) == state::DONE {
            // SAFETY: the outcome is initialised exactly while the lifecycle says `DONE`,
            // and nothing else reads or writes it now (the caller's contract); the
            // lifecycle says `IDLE` from here, so it is dropped once.
            self.outcome
                .with_mut(|outcome| unsafe { (*outcome).assume_init_drop() })
        }
    }

    /// Gives up on the job if it still runs after its own timeout and grace: it is
    /// reported as timed out and still running, and its own end, when it returns, is
    /// lost. False when it had ended first.
    pub(super) fn give_up(&self) -> bool {
        self.lifecycle
            .compare_exchange(
                state::RUNNING,
                state::TIMED_OUT_RUNNING,
                Ordering::AcqRel,
                Ordering::Acquire,
            )
            .is_ok()
    }

    pub(super) fn abandon(&self) {
        let _ = self.lifecycle.compare_exchange(
            state::RUNNING,
            state::ABANDONED,
            Ordering::AcqRel,
            Ordering::Acquire,
        );
    }

    /// What the job returned, once it is done (not cancelled, not given up on).
    pub(super) fn outcome(&self) -> Option<&Result<T, JobError>> {
        if self.lifecycle.load(Ordering::Acquire) != state::DONE {
            return None;
        }
        // SAFETY: `DONE` is stored only by `execute`'s release compare-and-swap, after
        // its one write of the outcome, and nothing writes the outcome after it: this
        // acquire load makes the write visible, and no write races this read.
        Some(
            self.outcome
                .with(|outcome| unsafe { (*outcome).assume_init_ref() }),
        )
    }
}

impl<T: 'static> Slot<T> {
    /// Moves out what the job returned, once it is done; the job then reads as done
    /// (`MOVED`), with no outcome.
    pub(super) fn take(&mut self) -> Option<Result<T, JobError>> {
        // `&mut self`: no other access; relaxed, and not `get_mut`, which loom's atomics
        // do not have.
        if self.lifecycle.load(Ordering::Relaxed) != state::DONE {
            return None;
        }
        self.lifecycle.store(state::MOVED, Ordering::Relaxed);
        // SAFETY: the outcome is initialised exactly while the lifecycle says `DONE`;
        // `&mut self` means nobody holds a reference to it, and the lifecycle no longer
        // says `DONE`, so it is neither read nor dropped again.
        Some(
            self.outcome
                .with_mut(|outcome| unsafe { (*outcome).assume_init_read() }),
        )
    }
}

impl<T: 'static> Drop for Slot<T> {
    fn drop(&mut self) {
        if self.lifecycle.load(Ordering::Relaxed) == state::DONE {
            // SAFETY: the outcome is initialised exactly while the lifecycle says `DONE`,
            // and this is its last use.
            self.outcome
                .with_mut(|outcome| unsafe { (*outcome).assume_init_drop() })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Slot;

    #[test]
    fn a_slot_with_a_unit_value_takes_32_bytes() {
        // A state byte, a two-word body, and an outcome of one word.
        assert_eq!(std::mem::size_of::<Slot<()>>(), 32);
    }
}
