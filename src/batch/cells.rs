//! A batch's jobs as its run sees them ([`Cells`]): its slots, the labels and
//! policies given, and the failed attempts of its last run; the engine reaches them
//! through `Table`.

use std::any::Any;
use std::collections::HashMap;
use std::fmt::Debug;
use std::time::Duration;

use super::slot::Slot;
use crate::engine::Table;
use crate::error::{Error, JobError, Runner};
use crate::job::{state, AnyJob, Context, Hint, Policy, Status};
use crate::sync::global::AtomicU64;
use crate::sync::{AtomicU8, Mutex, Ordering};

/// A batch's jobs, as its run sees them.
pub(super) struct Cells<T: 'static> {
    pub(super) batch: u32,
    pub(super) slots: Vec<Slot<T>>,
    /// Labels given, by index: most jobs of a big batch have none.
    pub(super) labels: HashMap<u32, Box<str>>,
    /// Policies given (a timeout, retries), by index, and the failure of a job that
    /// timed out, made when first asked for.
    pub(super) policies: HashMap<u32, (Policy, std::sync::OnceLock<JobError>)>,
    /// The failures of the attempts that were tried again, by index, in the last run.
    pub(super) failed: Mutex<HashMap<u32, Vec<JobError>>>,
    /// Priorities and cost hints given, by index.
    pub(super) hints: HashMap<u32, Hint>,
    /// How long each job took in the last run, in nanoseconds (0: it did not end),
    /// when the runs are ranked: the next run ranks by them.
    pub(super) measured: Option<Box<[AtomicU64]>>,
}

impl<T: 'static> Default for Cells<T> {
    fn default() -> Self {
        Cells {
            batch: 0,
            slots: Vec::new(),
            labels: HashMap::new(),
            policies: HashMap::new(),
            failed: Mutex::new(HashMap::new()),
            hints: HashMap::new(),
            measured: None,
        }
    }
}

impl<T: 'static> Cells<T> {
    pub(super) fn label(&self, i: usize) -> String {
        match self.labels.get(&(i as u32)) {
            Some(label) => label.to_string(),
            None => format!("#{i}"),
        }
    }
}

// `execute` implements `Table`'s unsafe method.
#[allow(unsafe_code)]
impl<T: Send + Sync + Debug + 'static> Table for Cells<T> {
    fn len(&self) -> usize {
        self.slots.len()
    }

    fn state(&self, i: usize) -> &AtomicU8 {
        self.slots[i].lifecycle()
    }

    #[inline(always)]
    fn prefetch(&self, i: usize) {
        if let Some(slot) = self.slots.get(i) {
            crate::sync::prefetch(slot);
        }
    }

    unsafe fn execute(&self, i: usize, ctx: &Context<'_>) -> Status {
        // SAFETY: the engine executes each index at most once per run, as `Table`'s
        // contract asks, and the runs of a batch's cells never overlap: `Batch::run`
        // takes `&mut`, and runs again only once every job of the last run has returned
        // (`Batch::prepare_again`).
        unsafe { self.slots[i].execute(ctx) }
    }

    fn abandon(&self, i: usize) {
        self.slots[i].abandon()
    }

    fn give_up(&self, i: usize, _: JobError) -> bool {
        // Its failure is made when asked for (see `error`).
        self.slots[i].give_up()
    }

    fn label(&self, i: usize) -> String {
        Cells::label(self, i)
    }

    fn handle(&self, _: usize) -> Option<&AnyJob> {
        None
    }

    fn ended_earlier(&self, _: usize) -> Status {
        // A batch's jobs are reset before each run: a job sealed earlier than this run
        // was given up on by it.
        Status::Lost
    }

    fn failed_attempt(&self, i: usize, error: JobError) {
        self.failed.lock().entry(i as u32).or_default().push(error);
    }

    const KEEPS_TIMES: bool = true;

    fn measured(&self, i: usize, took: Duration) {
        if let Some(measured) = &self.measured {
            let nanos = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX).max(1);
            measured[i].store(nanos, Ordering::Relaxed);
        }
    }

    fn value(&self, i: usize) -> Option<&(dyn Any + Send + Sync)> {
        match self.slots.get(i)?.outcome() {
            Some(Ok(value)) => Some(value),
            _ => None,
        }
    }

    fn error(&self, i: usize) -> Option<&JobError> {
        let slot = self.slots.get(i)?;
        match slot.lifecycle().load(Ordering::Acquire) {
            state::TIMED_OUT | state::TIMED_OUT_RUNNING => {
                let (policy, error) = self.policies.get(&(i as u32))?;
                Some(error.get_or_init(|| {
                    JobError::new(Error::JobTimedOut {
                        label: self.label(i),
                        timeout: policy.timeout.unwrap_or_default(),
                    })
                }))
            }
            _ => match slot.outcome() {
                Some(Err(error)) => Some(error),
                _ => None,
            },
        }
    }

    fn id(&self) -> u32 {
        self.batch
    }

    fn runner(&self) -> Runner {
        Runner::Batch
    }
}
