//! A scheduler and a sequence are [`Jobs`]: they can be added and required like job
//! handles.

use super::{Scheduler, Sequence};
use crate::job::{AnyJob, Jobs};

impl Jobs for Scheduler {
    fn push_jobs(self, out: &mut Vec<AnyJob>) {
        out.push(self.any())
    }
}

impl Jobs for &Scheduler {
    fn push_jobs(self, out: &mut Vec<AnyJob>) {
        out.push(self.any())
    }
}

impl Jobs for &Sequence {
    fn push_jobs(self, out: &mut Vec<AnyJob>) {
        out.extend(self.jobs().iter().cloned())
    }
    fn push_last_jobs(self, out: &mut Vec<AnyJob>) {
        out.extend(self.jobs().last().cloned())
    }
}

impl Jobs for Sequence {
    fn push_jobs(self, out: &mut Vec<AnyJob>) {
        (&self).push_jobs(out)
    }
    fn push_last_jobs(self, out: &mut Vec<AnyJob>) {
        (&self).push_last_jobs(out)
    }
}
