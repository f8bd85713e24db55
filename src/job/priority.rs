//! A job's place among the ready jobs: its [`priority`](crate::Job::priority) and its
//! [`cost`](crate::Job::cost) hint, as a job carries them into a run.

/// What a job says about its order: a priority (higher first) and a cost hint (its
/// relative length).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct Hint {
    pub(crate) priority: i32,
    pub(crate) cost: Option<f64>,
}

impl Hint {
    /// Whether it asks for nothing.
    pub(crate) fn is_empty(&self) -> bool {
        self.priority == 0 && self.cost.is_none()
    }

    /// What makes it impossible to follow, if anything; `forever`: whether the job runs
    /// forever.
    pub(crate) fn problem(&self, forever: bool) -> Option<String> {
        if forever && !self.is_empty() {
            return Some(
                "it runs forever, and a priority or a cost orders jobs by when they end: a forever job starts as soon as it is ready; remove its priority() and cost(), or make it forever(false)"
                    .to_string(),
            );
        }
        match self.cost {
            Some(cost) if !cost.is_finite() || cost < 0.0 => Some(format!(
                "its cost {cost} is out of range: give a finite cost of at least 0 (a hint of its length relative to the others)"
            )),
            _ => None,
        }
    }
}
