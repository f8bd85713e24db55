//! [`Jobs`]: what can be added to a scheduler or required by a job.

use super::handle::{AnyJob, Job};

/// What can be added to a scheduler or required by a job: a job handle, a scheduler, a
/// sequence, or a collection or tuple of those. `None` stands for no job.
pub trait Jobs {
    /// Pushes every job (a sequence pushes all of its jobs).
    fn push_jobs(self, out: &mut Vec<AnyJob>);
    /// Pushes the jobs to require (a sequence pushes its last job only).
    fn push_last_jobs(self, out: &mut Vec<AnyJob>)
    where
        Self: Sized,
    {
        self.push_jobs(out)
    }
    /// The one job this stands for, when it is a borrowed handle (`&job`): a job
    /// built with its only handle takes it without gathering a list. `None` by default.
    #[doc(hidden)]
    fn one(&self) -> Option<&AnyJob> {
        None
    }
    /// Calls `each` with every job to require when each is a borrowed handle (`&job`,
    /// `[&a, &b]`, `(&a, &b)`), and says so; calls nothing and says false otherwise.
    #[doc(hidden)]
    fn each_borrowed(&self, each: &mut dyn FnMut(&AnyJob)) -> bool {
        match self.one() {
            Some(job) => {
                each(job);
                true
            }
            None => false,
        }
    }
}

/// No job: `keep_only_between((), &end, ...)`.
impl Jobs for () {
    fn push_jobs(self, _out: &mut Vec<AnyJob>) {}
}

impl Jobs for AnyJob {
    fn push_jobs(self, out: &mut Vec<AnyJob>) {
        out.push(self)
    }
}

impl Jobs for &AnyJob {
    fn push_jobs(self, out: &mut Vec<AnyJob>) {
        out.push(self.clone())
    }
    fn one(&self) -> Option<&AnyJob> {
        Some(self)
    }
}

impl<T> Jobs for Job<T> {
    fn push_jobs(self, out: &mut Vec<AnyJob>) {
        out.push(self.any)
    }
}

impl<T> Jobs for &Job<T> {
    fn push_jobs(self, out: &mut Vec<AnyJob>) {
        out.push(self.any.clone())
    }
    fn one(&self) -> Option<&AnyJob> {
        Some(&self.any)
    }
}
impl<J: Jobs> Jobs for Option<J> {
    fn push_jobs(self, out: &mut Vec<AnyJob>) {
        if let Some(jobs) = self {
            jobs.push_jobs(out)
        }
    }
    fn push_last_jobs(self, out: &mut Vec<AnyJob>) {
        if let Some(jobs) = self {
            jobs.push_last_jobs(out)
        }
    }
}

impl<J: Jobs> Jobs for Vec<J> {
    fn push_jobs(self, out: &mut Vec<AnyJob>) {
        // One reservation for a long list, rather than a doubling every so often.
        out.reserve(self.len());
        self.into_iter().for_each(|jobs| jobs.push_jobs(out))
    }
    fn push_last_jobs(self, out: &mut Vec<AnyJob>) {
        self.into_iter().for_each(|jobs| jobs.push_last_jobs(out))
    }
}

impl<J: Jobs, const N: usize> Jobs for [J; N] {
    fn push_jobs(self, out: &mut Vec<AnyJob>) {
        self.into_iter().for_each(|jobs| jobs.push_jobs(out))
    }
    fn push_last_jobs(self, out: &mut Vec<AnyJob>) {
        self.into_iter().for_each(|jobs| jobs.push_last_jobs(out))
    }
    fn each_borrowed(&self, each: &mut dyn FnMut(&AnyJob)) -> bool {
        if !self.iter().all(|jobs| jobs.one().is_some()) {
            return false;
        }
        self.iter().filter_map(Jobs::one).for_each(each);
        true
    }
}

impl<'a, J> Jobs for &'a [J]
where
    &'a J: Jobs,
{
    fn push_jobs(self, out: &mut Vec<AnyJob>) {
        out.reserve(self.len());
        self.iter().for_each(|jobs| jobs.push_jobs(out))
    }
    fn push_last_jobs(self, out: &mut Vec<AnyJob>) {
        self.iter().for_each(|jobs| jobs.push_last_jobs(out))
    }
}

impl<'a, J> Jobs for &'a Vec<J>
where
    &'a J: Jobs,
{
    fn push_jobs(self, out: &mut Vec<AnyJob>) {
        self.as_slice().push_jobs(out)
    }
    fn push_last_jobs(self, out: &mut Vec<AnyJob>) {
        self.as_slice().push_last_jobs(out)
    }
}

macro_rules! tuple_jobs {
    ($(($($name:ident),+))*) => {$(
        impl<$($name: Jobs),+> Jobs for ($($name,)+) {
            #[allow(non_snake_case)]
            fn push_jobs(self, out: &mut Vec<AnyJob>) {
                let ($($name,)+) = self;
                $($name.push_jobs(out);)+
            }
            #[allow(non_snake_case)]
            fn push_last_jobs(self, out: &mut Vec<AnyJob>) {
                let ($($name,)+) = self;
                $($name.push_last_jobs(out);)+
            }
            #[allow(non_snake_case)]
            fn each_borrowed(&self, each: &mut dyn FnMut(&AnyJob)) -> bool {
                let ($($name,)+) = self;
                if !($($name.one().is_some())&&+) {
                    return false;
                }
                $($name.one().into_iter().for_each(&mut *each);)+
                true
            }
        }
    )*};
}

tuple_jobs! {
    (A)
    (A, B)
    (A, B, C)
    (A, B, C, D)
    (A, B, C, D, E)
    (A, B, C, D, E, F)
    (A, B, C, D, E, F, G)
    (A, B, C, D, E, F, G, H)
}
