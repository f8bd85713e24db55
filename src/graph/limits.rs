//! Named limits across a tree of schedulers (or in one batch): where each name a job
//! uses is defined (its own scheduler, or the nearest one it is nested in), checked
//! before anything runs, and turned into the slots of one `Limits` that the tree's runs
//! share.

use std::sync::Arc;

use super::Frozen;
use crate::error::{Error, Runner};
use crate::job::{AnyJob, FOREVER};
use crate::limits::Limits;

/// The limits seen while checking a tree, from its top down to the scheduler checked
/// now.
#[derive(Default)]
pub(crate) struct Scope {
    /// Every limit defined in the tree so far: its name and limit, by slot.
    slots: Vec<(Box<str>, u32)>,
    /// The names the scheduler checked now can see, innermost last: `(name, slot)`.
    visible: Vec<(Box<str>, u32)>,
    /// What the nested schedulers around it hold while it runs, as jobs of their
    /// parents: `(slot, amount, label)`.
    held: Vec<(u32, u32, String)>,
}

impl Scope {
    /// Enters scheduler (or batch) `label`, which defines `limits`: how many names to
    /// forget when it is left.
    pub(crate) fn enter(
        &mut self,
        runner: Runner,
        label: &str,
        limits: &[(Box<str>, u32)],
    ) -> Result<usize, Error> {
        for (name, limit) in limits {
            if *limit == 0 {
                return Err(Error::Limit {
                    runner,
                    scheduler: label.to_string(),
                    problem: format!(
                        "its limit `{name}` is 0: no job using it could ever start; give at least 1"
                    ),
                });
            }
            let slot = self.slots.len() as u32;
            self.slots.push((name.clone(), *limit));
            self.visible.push((name.clone(), slot));
        }
        Ok(limits.len())
    }

    /// Leaves the scheduler entered last, which defined `defined` names.
    pub(crate) fn leave(&mut self, defined: usize) {
        self.visible.truncate(self.visible.len() - defined);
    }

    /// The share of each job of `frozen` that uses limits, by index: each name found
    /// where it is defined, each amount within its limit.
    pub(crate) fn resolve(
        &self,
        label: impl Fn(u32) -> String,
        frozen: &Frozen,
    ) -> Result<Vec<(u32, Box<crate::limits::Share>)>, Error> {
        let mut shares = Vec::new();
        for (i, policy) in &frozen.policies {
            if policy.uses.is_empty() {
                continue;
            }
            let job = label(*i);
            if frozen.flags[*i as usize] & FOREVER != 0 {
                return Err(problem(&job, format!(
                    "it is a forever job and uses `{}`: it would hold it until the run ends, and the jobs waiting for it would wait as long; give the limit to the jobs it serves instead",
                    policy.uses[0].0
                )));
            }
            let mut share = Vec::with_capacity(policy.uses.len());
            for (name, amount) in &policy.uses {
                let Some(&(_, slot)) = self.visible.iter().rev().find(|(n, _)| n == name) else {
                    return Err(problem(&job, format!(
                        "it uses `{name}`, which no scheduler around it defines: add .limit(\"{name}\", N) to its scheduler (or batch), or to a scheduler it is nested in"
                    )));
                };
                let limit = self.slots[slot as usize].1;
                let holders = self.held.iter().filter(|(s, _, _)| *s == slot);
                let held: u32 = holders.clone().map(|(_, amount, _)| amount).sum();
                if amount.saturating_add(held) > limit {
                    let inside = match holders
                        .map(|(_, _, label)| format!("`{label}`"))
                        .collect::<Vec<_>>()
                    {
                        names if names.is_empty() => String::new(),
                        names => format!(" inside {}, which hold {held} of it", names.join(", ")),
                    };
                    return Err(problem(&job, format!(
                        "it uses {amount} of `{name}`{inside}, whose limit is {limit}: it could never start; lower the amount or raise the limit"
                    )));
                }
                share.push((slot, *amount));
            }
            shares.push((*i, share.into_boxed_slice()));
        }
        Ok(shares)
    }

    /// While the jobs nested in `job` are checked, `job` holds `share`.
    pub(crate) fn hold(&mut self, job: &AnyJob, share: &crate::limits::Share) {
        let label = job.text_label();
        self.held.extend(
            share
                .iter()
                .map(|&(slot, amount)| (slot, amount, label.clone())),
        );
    }

    /// The job held last with [`hold`](Scope::hold), of `count` slots, is checked.
    pub(crate) fn release(&mut self, count: usize) {
        self.held.truncate(self.held.len() - count);
    }

    /// The limits of the whole tree; `None` when it defines none.
    pub(crate) fn into_limits(self) -> Option<Arc<Limits>> {
        (!self.slots.is_empty()).then(|| Arc::new(Limits::new(self.slots)))
    }
}

fn problem(job: &str, problem: String) -> Error {
    Error::Policy {
        job: job.to_string(),
        problem,
    }
}
