//! A batch job's cell: its body until it runs, its lifecycle, and what it returned.
//!
//! A scheduler's job guards its body with a lock and seals its outcome with a
//! compare-and-swap, since anyone holding its handle may reach it. A batch's job is
//! reached only through its batch and its one run, so its cell needs neither: the body
//! is taken and the outcome written by the one execution the engine makes of each job,
//! and one compare-and-swap of the lifecycle, which a run that gives up on the job
//! races, publishes the end. That is one atomic read-modify-write per job instead of
//! three.
#![allow(unsafe_code)]

use std::cell::UnsafeCell;
use std::panic::{catch_unwind, AssertUnwindSafe};

use smallbox::space::S2;
use smallbox::SmallBox;

use crate::context::Context;
use crate::error::JobError;
use crate::handle::state;
use crate::job::Status;
use crate::sync::{AtomicU8, Ordering};

/// What a batch job runs: called once, it gives up what it holds as it runs. Bodies of
/// up to 16 bytes (a closure's captures, a small future) live in the slot itself: no
/// allocation when the job is added, none to free when it has run.
pub(super) type Body<T> = SmallBox<dyn FnMut(&Context<'_>) -> Result<T, JobError> + Send, S2>;

/// One job of a batch.
pub(super) struct Slot<T> {
    /// One of the `handle::state` constants. The engine stores `SCHEDULED` and
    /// `RUNNING`; only [`Slot::execute`] stores `DONE`, after writing `outcome`.
    lifecycle: AtomicU8,
    /// Called by the job's one execution.
    body: UnsafeCell<Body<T>>,
    /// Written by the job's one execution, before its lifecycle says `DONE`; read only
    /// once it does.
    outcome: UnsafeCell<Option<Result<T, JobError>>>,
}

// SAFETY: a slot is shared by the worker that runs the job and the threads that read
// its outcome. The body is touched by the job's one execution only, which the caller
// of `execute` guarantees (`Body` is `Send`: it may run on any thread). The outcome is
// written by that execution before the lifecycle's release compare-and-swap to `DONE`,
// and read only after an acquire load sees `DONE`, after which nothing writes it: no
// access races. Readers on several threads share `&T`, hence `T: Sync`.
unsafe impl<T: Send + Sync> Sync for Slot<T> {}

impl<T> Slot<T> {
    pub(super) fn new(body: Body<T>) -> Self {
        Slot {
            lifecycle: AtomicU8::new(state::IDLE),
            body: UnsafeCell::new(body),
            outcome: UnsafeCell::new(None),
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
    /// `RUNNING` (as the engine's `Table::execute` contract says).
    pub(super) unsafe fn execute(&self, ctx: &Context<'_>) -> Status {
        // SAFETY: this is the job's one execution (the caller's contract): nothing else
        // touches the body, ever.
        let body = unsafe { &mut *self.body.get() };
        let result = catch_unwind(AssertUnwindSafe(|| body(ctx)))
            .unwrap_or_else(|payload| Err(JobError::from_panic(payload)));
        let (end, status) = match (ctx.is_cancelled(), &result) {
            (true, _) => (state::CANCELLED, Status::Cancelled),
            (false, Ok(_)) => (state::DONE, Status::Done),
            (false, Err(_)) => (state::DONE, Status::Failed),
        };
        if end == state::DONE {
            // SAFETY: only this execution writes the outcome, and nobody reads it until
            // the lifecycle says `DONE`, which the compare-and-swap below stores after
            // this write (release). If the run has given up on the job, the lifecycle
            // never says `DONE` and the value is dropped with the slot, unread.
            unsafe { *self.outcome.get() = Some(result) };
        }
        match self.lifecycle.compare_exchange(
            state::RUNNING,
            end,
            Ordering::AcqRel,
            Ordering::Acquire,
        ) {
            Ok(_) => status,
            Err(_) => Status::Lost,
        }
    }

    /// Gives up on the job if it is still running once its run has ended: it stays
    /// reported as running, and its own end, when it returns, is lost.
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
        unsafe { (*self.outcome.get()).as_ref() }
    }
}
