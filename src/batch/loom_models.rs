//! A loom model of a batch's slot (`slot.rs`): the job's one execution writes its
//! outcome and publishes its end with one compare-and-swap, which the run giving up on
//! the job races, while another thread reads the outcome once the state says done.
//! Under loom the slot's cells are loom's (see `crate::sync::UnsafeCell`), which fail
//! the model when an access to the body or the outcome races another. Run with
//! `RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=3 cargo test --release --lib loom`.
#![allow(unsafe_code)]

use std::sync::Arc;
use std::task::Waker;

use super::body::Body;
use super::slot::{Slot, RETURNED};
use crate::error::{Error, JobError};
use crate::job::{state, Context, Control, Status};
use crate::sync::{check, thread, AtomicBool, Ordering};

/// A run that asks nothing of its job: no retries, no inputs, no deadline.
struct Quiet;

impl Control for Quiet {
    fn future_parked(&self) {}
    fn future_unparked(&self) {}
    fn on_cancel(&self, _: u32, _: &Waker) {}
    fn forget_waker(&self, _: u32) {}
    fn time_out(&self) {}
    fn retry(&self, _: u32, _: &JobError) -> bool {
        false
    }
    fn label(&self, index: u32) -> String {
        format!("#{index}")
    }
    fn limits(&self) -> Option<std::sync::Arc<crate::limits::Limits>> {
        None
    }
    fn input(
        &self,
        index: u32,
        _: u32,
        other: u32,
    ) -> Result<&(dyn std::any::Any + Send + Sync), Error> {
        Err(Error::NotRequired {
            job: format!("#{index}"),
            other: format!("#{other}"),
        })
    }
}

/// A batch job's end against its run giving up on it (`Slot::abandon`, the real code
/// on both sides) and a reader of its outcome (`Slot::outcome`, as `Batch::result`
/// reads it while a job of a scheduler reads its input): the job is done with its
/// value, or given up on with nothing kept, never both; a reader sees the value only
/// once it is written, and no access to the slot's cells races another.
#[test]
fn loom_a_batch_jobs_end_races_its_give_up_and_a_reader() {
    check("a batch slot's end vs abandon and a reader", || {
        let slot = Arc::new(Slot::new(Body::new(|_: &Context<'_>| Ok(7u32))));
        slot.lifecycle().store(state::RUNNING, Ordering::Relaxed);
        let worker = {
            let slot = Arc::clone(&slot);
            thread::spawn(move || {
                let cancelled = AtomicBool::new(false);
                let ctx = Context::new(&Quiet, &cancelled, None, 0, None);
                // SAFETY: the slot's one execution, while its lifecycle says RUNNING.
                unsafe { slot.execute(&ctx) }
            })
        };
        let reader = {
            let slot = Arc::clone(&slot);
            thread::spawn(move || slot.outcome().map(|outcome| *outcome.as_ref().unwrap()))
        };
        slot.abandon();
        let read = reader.join().unwrap();
        let status = worker.join().unwrap();
        let end = slot.lifecycle().load(Ordering::Acquire);
        match status {
            Status::Done => {
                assert_eq!(end, state::DONE);
                assert_eq!(slot.outcome().map(|o| *o.as_ref().unwrap()), Some(7));
            }
            Status::Lost => {
                assert_eq!(end, state::ABANDONED | RETURNED);
                assert!(slot.outcome().is_none(), "a job given up on kept its value");
                assert_eq!(read, None, "a value read that its run gave up on");
            }
            other => unreachable!("the job returned Ok, uncancelled: {other:?}"),
        }
        assert!(read.is_none() || read == Some(7));
    });
}
