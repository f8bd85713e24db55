//! [`JobId`]: a job of a batch, named by its index.

use std::fmt::{self, Debug};

/// A job of a [`Batch`](crate::Batch): its index there, and which batch it is from.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct JobId {
    batch: u32,
    index: u32,
}

impl JobId {
    /// The job's place in its batch, from 0, in the order jobs were added.
    pub fn index(self) -> usize {
        self.index as usize
    }

    /// A batch's job `index`.
    pub(crate) fn new(batch: u32, index: u32) -> Self {
        JobId { batch, index }
    }

    /// The id of the batch the job is from.
    pub(crate) fn batch(self) -> u32 {
        self.batch
    }
}

impl Debug for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.index)
    }
}
