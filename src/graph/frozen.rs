//! The dense form of a scheduler's graph: jobs by index, edges as index arrays.
//! Freezing checks it (foreign requirements, forever requirements, cycles) in
//! O(jobs + edges) and builds the successor lists the engine walks.

use std::sync::Arc;

use crate::error::{Error, Runner};
use crate::job::{warm_ahead, AnyJob, Meta};
use crate::job::{Hint, Policy, CRITICAL, FOREVER, NESTED, RANKED};
use crate::sync::{Ordering, SpinLockGuard};

/// A checked graph, ready to run.
#[derive(Clone)]
pub(crate) struct Frozen {
    /// Successors of job `i`: `succ[succ_start[i]..succ_start[i + 1]]`, in insertion order.
    pub(crate) succ_start: Vec<u32>,
    pub(crate) succ: Vec<u32>,
    /// Number of distinct requirements of each job (a run takes them for its counters).
    pub(crate) pending: Vec<u32>,
    /// `CRITICAL` / `FOREVER` / `NESTED` bits of each job, as they were when frozen,
    /// and [`SINGLE`].
    pub(crate) flags: Vec<u8>,
    /// Every job requires only jobs added before it: insertion order is a topological
    /// order, and there is no cycle to look for.
    pub(crate) forward: bool,
    /// Some requirement joins jobs more than [`FAR`] apart in order: a run asks for a
    /// successor's lines before it needs them (`Run::warm`). Without one (a chain, a
    /// wavefront), the walk in order keeps them warm, and a run does not look.
    pub(crate) far: bool,
    /// The jobs with policies of their own ([`POLICY`]: a timeout, retries), by
    /// index; empty (no allocation) when no job has any.
    pub(crate) policies: Vec<(u32, Policy)>,
    /// The share of named limits each job that uses some takes (`(slot, amount)`), by
    /// index; resolved by the scheduler, which knows where each name is defined.
    pub(crate) shares: Vec<(u32, Box<crate::limits::Share>)>,
    /// The jobs with a priority or a cost hint, by index; empty (no allocation) when no
    /// job has any.
    pub(crate) hints: Vec<(u32, Hint)>,
    /// Each job's place in the order ready jobs start in (see [`rank`]), when the run
    /// is ranked; `None`: first ready, first started.
    pub(crate) rank: Option<Box<[u32]>>,
}

/// A job with policies of its own, in `Frozen::policies` (a bit of `Frozen::flags`).
pub(crate) const POLICY: u8 = 0x40;

/// How far apart in order two jobs must be for a requirement between them to be *far*
/// (see [`Frozen::far`]): beyond the lines a walk through neighbouring jobs brings in.
pub(crate) const FAR: usize = 4096;

/// A job with exactly one requirement: the end of that requirement makes it ready, with
/// no counter to decrement (a bit of `Frozen::flags`).
pub(crate) const SINGLE: u8 = 0x80;

impl Frozen {
    /// Job `i`'s share of named limits: empty when it uses none.
    pub(crate) fn share(&self, i: u32) -> &crate::limits::Share {
        match self.shares.binary_search_by_key(&i, |(job, _)| *job) {
            Ok(k) => &self.shares[k].1,
            Err(_) => &[],
        }
    }

    #[inline]
    pub(crate) fn successors(&self, i: usize) -> &[u32] {
        &self.succ[self.succ_start[i] as usize..self.succ_start[i + 1] as usize]
    }
}

/// A job's place in scheduler `id` at `index`, as stored in `Core::place`.
pub(crate) fn place(id: u32, index: usize) -> u64 {
    (u64::from(id) << 32) | index as u64
}

/// Checks the jobs of scheduler `id` (labelled `label`) and builds their dense graph.
///
/// A requirement is found by its place, `(id, j)`: a scheduler writes its jobs' places
/// only under its list's lock, and copies the list first when a run holds it, so while
/// `jobs` is still its list each place names the job at `j` there. `settled`, asked
/// once the graph is built, says whether it still is; only when it is not is each
/// requirement compared with the job at its place, in a second pass over this same
/// list. The common case thus reads each requirement's place alone, where the
/// comparison would load the list's entry at a random index: a second miss, which
/// waited for the first.
pub(crate) fn freeze(
    id: u32,
    label: &str,
    jobs: &Arc<Vec<AnyJob>>,
    settled: impl FnOnce() -> bool,
    help: impl FnOnce(Help),
) -> Result<Frozen, Error> {
    let built = build(id, label, jobs, false, help);
    let frozen = if settled() {
        built?
    } else {
        build(id, label, jobs, true, drop)?
    };
    if frozen.forward {
        return Ok(frozen);
    }
    if let Some(cycle) = find_cycle(&frozen) {
        return Err(Error::Cycle {
            runner: Runner::Scheduler,
            scheduler: label.to_string(),
            jobs: cycle.iter().map(|&i| jobs[i].text_label()).collect(),
        });
    }
    Ok(frozen)
}

/// Work for another thread (one of the run's pool), handed to `freeze`'s `help`: it is
/// done there, or dropped undone, before long; the freeze waits for either.
pub(crate) type Help = Box<dyn FnOnce() + Send>;

/// Builds the dense graph, checking requirements but not cycles; `compare`: whether a
/// requirement's place is trusted only once the job there is that requirement (see
/// [`freeze`]).
///
/// A graph of [`SPLIT`] jobs or more is scanned in two halves at once, the second by
/// another thread if `help` finds one: each job's lock and requirements are its own, so
/// the halves share nothing but the jobs they read.
fn build(
    id: u32,
    label: &str,
    jobs: &Arc<Vec<AnyJob>>,
    compare: bool,
    help: impl FnOnce(Help),
) -> Result<Frozen, Error> {
    let n = jobs.len();
    // Job i's flags, and how many requirements it has: `preds[..]` in job order (the
    // lists have no repeats: `requires` drops them).
    let mut flags = vec![0u8; n];
    let mut pending = vec![0u32; n];
    // Counts of successors first, then where each job's successors start.
    let mut succ_start = vec![0u32; n + 1];
    // Where the second half starts: past the end when the graph is scanned whole.
    let half = if n >= SPLIT && cfg!(not(loom)) {
        n / 2
    } else {
        n
    };
    let (first, second) = if half < n {
        let (flags_a, flags_b) = flags.split_at_mut(half);
        let (pending_a, pending_b) = pending.split_at_mut(half);
        let (sender, receiver) = std::sync::mpsc::sync_channel(1);
        // Made before the second halves are lent: whatever happens here, they are not
        // freed while the helper may still write to them.
        let mut lent = Lent::new(flags_b, pending_b, receiver);
        let (halves, all, named) = (lent.halves, Arc::clone(jobs), label.to_string());
        help(Box::new(move || {
            // SAFETY: see `Lent`: the lender does not touch these halves, nor free them,
            // until this closure is gone, which `sender` going with it tells.
            #[allow(unsafe_code)]
            let (flags, pending) = unsafe { halves.slices() };
            let _ = sender.send(scan_rest(id, &named, &all, half, compare, flags, pending));
        }));
        let first = Part {
            flags: flags_a,
            pending: pending_a,
            successors: &mut succ_start,
        };
        let first = scan(id, label, jobs, 0, compare, first);
        // No thread to be had, or its work dropped undone: after the first half.
        let (counts, second) = lent
            .back()
            .unwrap_or_else(|| scan_rest(id, label, jobs, half, compare, flags_b, pending_b));
        for (count, more) in succ_start.iter_mut().zip(&counts) {
            *count += more;
        }
        drop(counts);
        (first?, Some(second?))
    } else {
        let part = Part {
            flags: &mut flags,
            pending: &mut pending,
            successors: &mut succ_start,
        };
        (scan(id, label, jobs, 0, compare, part)?, None)
    };
    let Scanned {
        preds: preds_a,
        mut forward,
        mut policies,
        mut ranked,
    } = first;
    let preds_b = match second {
        Some(second) => {
            forward &= second.forward;
            policies.extend(second.policies);
            ranked |= second.ranked;
            second.preds
        }
        None => Vec::new(),
    };
    // Each half's requirements, walked backwards: the second half's, then the first's.
    let pairs =
        backwards(half, &pending[half..], &preds_b).chain(backwards(0, &pending[..half], &preds_a));
    let (succ, far) = fill(&mut succ_start, preds_a.len() + preds_b.len(), pairs);
    let mut frozen = finish(flags, pending, succ_start, succ, forward, far);
    frozen.policies = policies;
    if ranked & RANKED != 0 {
        frozen.hints = hints(jobs, &frozen.flags)?;
    }
    Ok(frozen)
}

/// How many jobs a graph needs for its freeze to be split between two threads: a
/// thread's wake-up costs tens of microseconds, a job's scan about ten nanoseconds
/// (under Miri, a few jobs: its tests check the lent halves).
const SPLIT: usize = if cfg!(miri) { 64 } else { 1 << 15 };

/// Where a scan of some jobs writes: their flags and their counts of requirements, by
/// their index from the first scanned, and every job's count of successors.
struct Part<'a> {
    flags: &'a mut [u8],
    pending: &'a mut [u32],
    successors: &'a mut [u32],
}

/// What a scan found besides what it wrote in its [`Part`].
struct Scanned {
    /// The jobs' requirements, job after job.
    preds: Vec<u32>,
    /// No job requires a later one.
    forward: bool,
    policies: Vec<(u32, Policy)>,
    /// The jobs' flags or'ed: whether any has a priority or a cost.
    ranked: u8,
}

/// The requirements of the jobs from `first` on, whose counts are `pending` and which
/// are listed in `preds` job after job, as `(job, required)` pairs, latest job first.
fn backwards<'a>(
    first: usize,
    pending: &'a [u32],
    preds: &'a [u32],
) -> impl Iterator<Item = (u32, u32)> + 'a {
    // Job i's requirements end where job i + 1's start.
    let mut end = preds.len();
    pending
        .iter()
        .enumerate()
        .rev()
        .flat_map(move |(k, &count)| {
            let start = end - count as usize;
            let requirements = &preds[start..end];
            end = start;
            let i = (first + k) as u32;
            requirements
                .iter()
                .rev()
                .map(move |&required| (i, required))
        })
}

/// Scans the jobs of `jobs` from `first` on, into the flags and counts of requirements
/// given and counts of successors of their own.
fn scan_rest(
    id: u32,
    label: &str,
    jobs: &[AnyJob],
    first: usize,
    compare: bool,
    flags: &mut [u8],
    pending: &mut [u32],
) -> Found {
    let mut counts = vec![0u32; jobs.len() + 1];
    let part = Part {
        flags,
        pending,
        successors: &mut counts,
    };
    let scanned = scan(id, label, jobs, first, compare, part);
    (counts, scanned)
}

/// What the second half's scan sends back: every job's count of successors among its
/// jobs' requirements, and what it found.
type Found = (Vec<u32>, Result<Scanned, Error>);

/// The second halves of a graph's `flags` and `pending`, lent to the thread that scans
/// them while this one scans the first halves, in place: a copy of each would grow the
/// freeze's peak by two and a half bytes per job.
///
/// The thread scans them inside the work handed to `help`, which owns the channel's
/// sender: once the receiver hears from it, or hears that it is gone (the work done,
/// dropped undone, or unwound), nothing writes to them any more. The lender holds the
/// receiver in this guard, made before the halves are lent, and waits on it before
/// anything else touches them, and before they can be freed: on its way out, too, if
/// the first half's scan unwinds.
struct Lent {
    halves: Halves,
    receiver: Option<std::sync::mpsc::Receiver<Found>>,
}

/// Where the lent halves are, and how long.
#[derive(Clone, Copy)]
struct Halves {
    flags: *mut u8,
    pending: *mut u32,
    len: usize,
}

// SAFETY: the halves are written by one thread at a time, the lender's receiver telling
// it when the borrower is done (see `Lent`).
#[allow(unsafe_code)]
unsafe impl Send for Halves {}

impl Halves {
    /// The lent halves.
    ///
    /// # Safety
    ///
    /// Only in the lent work, while its lender waits (see `Lent`).
    #[allow(unsafe_code)]
    unsafe fn slices<'a>(self) -> (&'a mut [u8], &'a mut [u32]) {
        // SAFETY: both point to `len` initialised elements of live vectors, which nothing
        // else reads or writes until the lender hears that this work is gone.
        unsafe {
            (
                std::slice::from_raw_parts_mut(self.flags, self.len),
                std::slice::from_raw_parts_mut(self.pending, self.len),
            )
        }
    }
}

impl Lent {
    fn new(
        flags: &mut [u8],
        pending: &mut [u32],
        receiver: std::sync::mpsc::Receiver<Found>,
    ) -> Self {
        Lent {
            halves: Halves {
                flags: flags.as_mut_ptr(),
                pending: pending.as_mut_ptr(),
                len: flags.len().min(pending.len()),
            },
            receiver: Some(receiver),
        }
    }

    /// Waits for the work: what it found, or `None` if it is gone undone.
    fn back(&mut self) -> Option<Found> {
        self.receiver.take()?.recv().ok()
    }
}

impl Drop for Lent {
    fn drop(&mut self) {
        let _ = self.back();
    }
}

/// Checks `part.flags.len()` jobs of `jobs` from `first` on and reads their requirements: the
/// first problem in their order is the error.
fn scan(
    id: u32,
    label: &str,
    jobs: &[AnyJob],
    first: usize,
    compare: bool,
    part: Part<'_>,
) -> Result<Scanned, Error> {
    let n = jobs.len();
    let len = part.flags.len();
    let mine = &jobs[first..first + len];
    // Most graphs have about as many edges as jobs: one reservation, not a dozen.
    let mut preds: Vec<u32> = Vec::with_capacity(len);
    let mut forward = true;
    let mut policies = Vec::new();
    // The flags of all jobs or'ed: whether any has a priority or a cost (read after the
    // loop, so that the loop pays one `or` for them).
    let mut ranked = 0;
    // The next job's lock, taken while this one's is held, and its requirements' places
    // asked for: their misses overlap with this job's, where the next lock taken, a
    // locked instruction, would wait for this job's loads before its own could start.
    // Taken without waiting: a lock held elsewhere is waited for in its turn, with no
    // other held, so no two threads can wait for each other here.
    let mut next: Option<SpinLockGuard<'_, Meta>> = None;
    for (k, job) in mine.iter().enumerate() {
        let i = first + k;
        warm_ahead(mine, k);
        let core = job.node().core();
        let bits = core.flags.load(Ordering::Relaxed);
        let meta = next.take().unwrap_or_else(|| core.meta.lock());
        next = mine
            .get(k + 1)
            .and_then(|job| job.node().core().meta.try_lock());
        if let Some(ahead) = &next {
            for required in &ahead.requires {
                crate::sync::prefetch(&required.node().core().place);
            }
        }
        let policy = if bits & crate::job::POLICY != 0 {
            meta.policy().cloned()
        } else {
            None
        };
        let own = if policy.is_some() { POLICY } else { 0 };
        if let Some(policy) = policy {
            if let Some(problem) = policy_problem(&policy, job.node().runs_again()) {
                drop((meta, next));
                return Err(Error::Policy {
                    job: job.text_label(),
                    problem,
                });
            }
            policies.push((i as u32, policy));
        }
        ranked |= bits;
        part.flags[k] = bits & (CRITICAL | FOREVER | NESTED) | own;
        for required in &meta.requires {
            let found = required.node().core().place.load(Ordering::Relaxed);
            let j = (found & u64::from(u32::MAX)) as usize;
            if found >> 32 != u64::from(id) || j >= n || (compare && jobs[j] != *required) {
                // Labels take the jobs' locks: build the error after releasing these.
                let required = required.clone();
                drop((meta, next));
                return Err(Error::MissingRequirement {
                    runner: Runner::Scheduler,
                    scheduler: label.to_string(),
                    job: job.text_label(),
                    required: required.text_label(),
                });
            }
            if j == i {
                continue;
            }
            // The flags of an earlier job of this scan are read already.
            let forever = if j < i {
                match j.checked_sub(first) {
                    Some(earlier) => part.flags[earlier] & FOREVER != 0,
                    None => required.is_forever(),
                }
            } else {
                forward = false;
                required.is_forever()
            };
            if forever {
                let required = required.clone();
                drop((meta, next));
                return Err(Error::RequiresForever {
                    job: job.text_label(),
                    forever: required.text_label(),
                });
            }
            preds.push(j as u32);
            part.pending[k] += 1;
            part.successors[j] += 1;
        }
    }
    Ok(Scanned {
        preds,
        forward,
        policies,
        ranked,
    })
}

/// The priorities and cost hints of `jobs`, whose frozen flags are `flags`, by index,
/// checked.
#[cold]
fn hints(jobs: &[AnyJob], flags: &[u8]) -> Result<Vec<(u32, Hint)>, Error> {
    let mut hints = Vec::new();
    for (i, job) in jobs.iter().enumerate() {
        let core = job.node().core();
        if core.flags.load(Ordering::Relaxed) & RANKED == 0 {
            continue;
        }
        let hint = core.meta.lock().hint();
        if let Some(problem) = hint.problem(flags[i] & FOREVER != 0) {
            return Err(Error::Policy {
                job: job.text_label(),
                problem,
            });
        }
        if !hint.is_empty() {
            hints.push((i as u32, hint));
        }
    }
    Ok(hints)
}

/// What makes a job's policies impossible to carry out, if anything; `runs_again`:
/// whether its body can be called again.
pub(crate) fn policy_problem(policy: &Policy, runs_again: bool) -> Option<String> {
    if let Some((name, _)) = policy.uses.iter().find(|(_, amount)| *amount == 0) {
        return Some(format!(
            "it uses 0 of `{name}`: give an amount of at least 1, or do not name the limit"
        ));
    }
    let retry = policy.retry.as_ref()?;
    if let Some(problem) = retry.problem() {
        return Some(problem);
    }
    if retry.times > 0 && !runs_again {
        return Some(format!(
            "it has retries({}), but its body runs once (a closure given to Job::new, a future given to Job::future, a nested scheduler): make it with Job::new_mut, Job::future_from or a type of your own (Job::custom), or a batch job with add_mut",
            retry.times
        ));
    }
    None
}

/// Builds the dense graph of the jobs whose `flags` are given, from requirement pairs
/// `(job, required)` sorted by job, without repeats or self-requirements; checks
/// nothing else.
pub(crate) fn from_sorted_pairs(flags: Vec<u8>, pairs: &[(u32, u32)]) -> Frozen {
    let n = flags.len();
    let mut pending = vec![0u32; n];
    let mut succ_start = vec![0u32; n + 1];
    let mut forward = true;
    for &(job, required) in pairs {
        pending[job as usize] += 1;
        succ_start[required as usize] += 1;
        forward &= required < job;
    }
    let (succ, far) = fill(&mut succ_start, pairs.len(), pairs.iter().rev().copied());
    finish(flags, pending, succ_start, succ, forward, far)
}

/// Turns successor counts into successor lists: `succ_start` holds each job's count
/// and becomes where its list starts, given every `(job, required)` pair once, latest
/// job first. Counts become ends (inclusive prefix sums); each list is then filled from
/// its end, which leaves it in job order and its entry in `succ_start` at its start: no
/// second array of positions. Also says whether any pair is [far](Frozen::far).
fn fill(
    succ_start: &mut [u32],
    edges: usize,
    pairs_backwards: impl Iterator<Item = (u32, u32)>,
) -> (Vec<u32>, bool) {
    let n = succ_start.len() - 1;
    // The running sum kept in a register: each count added to the one just stored, read
    // back, took a store's round trip per job (half of a chain's `from_sorted_pairs`).
    let mut end = 0;
    for count in &mut succ_start[..n] {
        end += *count;
        *count = end;
    }
    succ_start[n] = edges as u32;
    let mut succ = vec![0u32; edges];
    let mut far = false;
    for (job, from) in pairs_backwards {
        succ_start[from as usize] -= 1;
        succ[succ_start[from as usize] as usize] = job;
        far |= job.abs_diff(from) as usize > FAR;
    }
    (succ, far)
}

fn finish(
    mut flags: Vec<u8>,
    pending: Vec<u32>,
    succ_start: Vec<u32>,
    succ: Vec<u32>,
    forward: bool,
    far: bool,
) -> Frozen {
    for (flags, _) in flags.iter_mut().zip(&pending).filter(|(_, &p)| p == 1) {
        *flags |= SINGLE;
    }
    Frozen {
        succ_start,
        succ,
        pending,
        flags,
        forward,
        far,
        policies: Vec::new(),
        shares: Vec::new(),
        hints: Vec::new(),
        rank: None,
    }
}

/// Ranks the jobs of `frozen`, an acyclic graph: the order in which ready jobs start,
/// stored in `frozen.rank` (job `i` goes before job `j` when `rank[i] < rank[j]`).
/// Higher priority first; then the longer remaining path to the end of the graph (the
/// sum of the costs along it, this job's included: a job's cost is its hint, else
/// `measured(i)` when that says how long it took last time, else 1); then insertion
/// order. One pass over the jobs backwards in a topological order, O(jobs + edges),
/// then a sort.
pub(crate) fn rank(frozen: &mut Frozen, measured: impl Fn(usize) -> Option<f64>) {
    let n = frozen.pending.len();
    let mut priority = vec![0i32; n];
    let mut cost: Vec<f64> = (0..n).map(|i| measured(i).unwrap_or(1.0)).collect();
    for &(i, hint) in &frozen.hints {
        priority[i as usize] = hint.priority;
        if let Some(hint) = hint.cost {
            cost[i as usize] = hint;
        }
    }
    let mut path = vec![0f64; n];
    for i in topological_order(frozen).into_iter().rev() {
        let i = i as usize;
        let longest = frozen
            .successors(i)
            .iter()
            .map(|&s| path[s as usize])
            .fold(0.0, f64::max);
        path[i] = cost[i] + longest;
    }
    let mut order: Vec<u32> = (0..n as u32).collect();
    order.sort_unstable_by(|&a, &b| {
        let (a_, b_) = (a as usize, b as usize);
        priority[b_]
            .cmp(&priority[a_])
            .then(path[b_].total_cmp(&path[a_]))
            .then(a.cmp(&b))
    });
    let mut rank = vec![0u32; n].into_boxed_slice();
    for (place, &i) in order.iter().enumerate() {
        rank[i as usize] = place as u32;
    }
    frozen.rank = Some(rank);
}

/// The jobs of an acyclic graph in an order where each comes after its requirements:
/// insertion order when it is one, else Kahn's order.
fn topological_order(frozen: &Frozen) -> Vec<u32> {
    let n = frozen.pending.len();
    if frozen.forward {
        return (0..n as u32).collect();
    }
    let mut pending = frozen.pending.clone();
    let mut order: Vec<u32> = (0..n as u32)
        .filter(|&i| pending[i as usize] == 0)
        .collect();
    let mut k = 0;
    while k < order.len() {
        let i = order[k] as usize;
        k += 1;
        for &s in frozen.successors(i) {
            pending[s as usize] -= 1;
            if pending[s as usize] == 0 {
                order.push(s);
            }
        }
    }
    order
}

/// The jobs that no order can reach, when there is a cycle: Kahn's algorithm without
/// the order (a stack of ready jobs will do: only whether every job is reached matters).
fn left_over(frozen: &Frozen) -> Option<Vec<bool>> {
    let n = frozen.pending.len();
    let mut pending = frozen.pending.clone();
    let mut ready: Vec<u32> = (0..n as u32)
        .filter(|&i| pending[i as usize] == 0)
        .collect();
    let mut reached = 0;
    while let Some(i) = ready.pop() {
        reached += 1;
        for &s in frozen.successors(i as usize) {
            pending[s as usize] -= 1;
            if pending[s as usize] == 0 {
                ready.push(s);
            }
        }
    }
    (reached < n).then(|| pending.iter().map(|&p| p > 0).collect())
}

/// One cycle of the graph, if it has any: indices in requirement order (each job
/// requires the one before it, the first requires the last).
pub(crate) fn find_cycle(frozen: &Frozen) -> Option<Vec<usize>> {
    let left_over = left_over(frozen)?;
    // Every left-over job has a left-over requirement: walk requirements backwards from
    // any of them until a job repeats.
    let n = left_over.len();
    let mut preds: Vec<Option<usize>> = vec![None; n];
    let stuck = left_over.iter().enumerate().filter(|&(_, &l)| l);
    for (from, _) in stuck {
        for &to in frozen.successors(from) {
            preds[to as usize].get_or_insert(from);
        }
    }
    let start = left_over.iter().position(|&l| l)?;
    let mut position = vec![usize::MAX; n];
    let mut path = Vec::new();
    let mut at = start;
    while position[at] == usize::MAX {
        position[at] = path.len();
        path.push(at);
        at = preds[at]?;
    }
    let mut cycle = path.split_off(position[at]);
    cycle.reverse();
    Some(cycle)
}

/// Whether job `i` is a nested scheduler.
pub(crate) fn is_nested(frozen: &Frozen, i: usize) -> bool {
    frozen.flags[i] & NESTED != 0
}

/// Whether job `i` is a forever job.
#[inline]
pub(crate) fn is_forever(frozen: &Frozen, i: usize) -> bool {
    frozen.flags[i] & FOREVER != 0
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::{freeze, from_sorted_pairs, FAR};
    use crate::error::Error;
    use crate::{Job, Scheduler};

    /// Help from a thread of its own.
    fn thread(work: super::Help) {
        std::thread::spawn(work);
    }

    /// A graph's freeze in two halves, one on another thread: the tests Miri runs, on
    /// graphs of a few jobs (`SPLIT` is smaller there).
    mod split {
        use std::sync::Arc;

        use super::super::{freeze, from_sorted_pairs, SPLIT};
        use super::thread;
        use crate::error::Error;
        use crate::{AnyJob, Job, Scheduler};

        /// Jobs enough to be split, a few past the middle of the second half.
        const N: usize = SPLIT + SPLIT / 32 + 1;

        /// A scheduler of `n` jobs, job `i` requiring those that `requires(i)` names.
        fn graph(n: usize, requires: impl Fn(usize) -> Vec<usize>) -> (Scheduler, Vec<AnyJob>) {
            let jobs: Vec<AnyJob> = (0..n)
                .map(|i| Job::new(|_| ()).label(format!("j{i}")).any())
                .collect();
            for (i, job) in jobs.iter().enumerate() {
                job.add_requires(requires(i).iter().map(|&j| &jobs[j]).collect::<Vec<_>>());
            }
            let s = Scheduler::new().with(jobs.clone());
            (s, jobs)
        }

        /// Requirements that cross the middle of a split graph both ways, with no cycle:
        /// the jobs of the first quarter (a) may require any of the others and earlier
        /// ones of theirs, those of the second half (c) those of the second quarter (b) and
        /// earlier ones of theirs, and those of b earlier ones of theirs: b, then c, then a.
        fn crossing(n: usize) -> impl Fn(usize) -> Vec<usize> {
            let (b, c) = (n / 4, n / 2);
            move |i| {
                let mut required = std::collections::BTreeSet::new();
                let earlier = |from: usize| (from < i).then(|| from + (i * 7919) % (i - from));
                if i < b {
                    required.extend([i.checked_sub(1), Some(b + (i * 31) % (n - b))]);
                } else if i < c {
                    required.extend([earlier(b), (i > b).then(|| i - 1)]);
                } else {
                    required.extend([earlier(c), Some(b + i % (c - b))]);
                }
                required.into_iter().flatten().collect()
            }
        }

        #[test]
        fn a_graph_split_between_two_threads_freezes_as_its_edges_say() {
            let n = N;
            let requires = crossing(n);
            let (s, list) = graph(n, &requires);
            let list = Arc::new(list);
            let pairs: Vec<(u32, u32)> = (0..n)
                .flat_map(|i| requires(i).into_iter().map(move |j| (i as u32, j as u32)))
                .collect();
            let expected = from_sorted_pairs(vec![0; n], &pairs);
            // Helped by another thread; no help (the work dropped undone).
            for frozen in [
                freeze(s.inner.id, "s", &list, || true, thread).unwrap(),
                freeze(s.inner.id, "s", &list, || true, drop).unwrap(),
            ] {
                assert_eq!(frozen.pending, expected.pending);
                assert_eq!(frozen.succ_start, expected.succ_start);
                assert_eq!(frozen.succ, expected.succ);
                assert_eq!(frozen.forward, expected.forward);
            }
            let frozen = expected;
            assert!(!frozen.forward, "some jobs require later ones");
        }

        #[test]
        fn the_first_problem_in_job_order_is_reported_whichever_half_it_is_in() {
            let n = N;
            let (s, list) = graph(n, |i| if i > 0 { vec![i - 1] } else { vec![] });
            let outsider = Job::new(|_| ()).label("outsider");
            list[n - 10].add_requires(&outsider);
            let list = Arc::new(list);
            let missing = || match freeze(s.inner.id, "s", &list, || true, thread) {
                Err(Error::MissingRequirement { job, .. }) => job,
                other => panic!("no missing requirement: {:?}", other.map(|_| ())),
            };
            assert_eq!(missing(), format!("j{}", n - 10));
            list[10].add_requires(&outsider);
            assert_eq!(missing(), "j10");
        }

        #[test]
        fn a_job_of_the_second_half_that_requires_a_forever_job_of_the_first_is_refused() {
            let n = N;
            let early = Job::new(|_| ()).label("early forever").forever(true);
            let jobs: Vec<AnyJob> = (1..n)
                .map(|i| Job::new(|_| ()).label(format!("j{i}")).any())
                .collect();
            jobs[n - 2].add_requires(&early);
            let s = Scheduler::new().with(&early).with(jobs);
            match freeze(s.inner.id, "s", &Arc::new(s.jobs()), || true, thread) {
                Err(Error::RequiresForever { job, forever }) => {
                    assert_eq!(
                        (job, forever),
                        (format!("j{}", n - 1), "early forever".to_string())
                    );
                }
                other => panic!("a forever requirement was kept: {:?}", other.map(|_| ())),
            }
        }
    }

    /// A scheduler of three jobs, `c` requiring `b`, and its list as a run takes it,
    /// before `a` is removed: `b` is at 0 in the scheduler and at 1 in that list.
    fn list_then_remove() -> (Scheduler, Vec<crate::AnyJob>) {
        let a = Job::new(|_| ()).label("a");
        let b = Job::new(|_| ()).label("b");
        let c = Job::new(|_| ()).label("c").requires(&b);
        let s = Scheduler::new().with((&a, &b, &c));
        let taken = s.jobs();
        s.remove(&a);
        (s, taken)
    }

    #[test]
    fn a_list_that_moved_while_frozen_is_checked_job_by_job() {
        let (s, taken) = list_then_remove();
        // `b`'s place now names index 0, where the list taken has `a`: without the
        // check `c` would require `a`.
        match freeze(s.inner.id, "s", &Arc::new(taken.clone()), || false, thread) {
            Err(Error::MissingRequirement { job, required, .. }) => {
                assert_eq!((job.as_str(), required.as_str()), ("c", "b"));
            }
            other => panic!("a stale place was trusted: {:?}", other.map(|_| ())),
        }
    }

    #[test]
    fn a_list_still_the_schedulers_is_frozen_the_same_with_or_without_the_check() {
        let (s, _) = list_then_remove();
        let now = s.jobs();
        let trusted = freeze(s.inner.id, "s", &Arc::new(now.clone()), || true, thread).unwrap();
        let checked = freeze(s.inner.id, "s", &Arc::new(now.clone()), || false, thread).unwrap();
        assert_eq!(trusted.successors(0), &[1]);
        assert_eq!(checked.successors(0), trusted.successors(0));
        assert_eq!(checked.pending, trusted.pending);
    }

    #[test]
    fn a_job_whose_lock_is_held_elsewhere_is_waited_for_in_its_turn() {
        let jobs: Vec<_> = (0..64).map(|_| Job::new(|_| ())).collect();
        let s = Scheduler::new();
        for pair in jobs.windows(2) {
            pair[1].add_requires(&pair[0]);
        }
        s.add(jobs.iter().collect::<Vec<_>>());
        let list = s.jobs();
        // The lock of job 10, taken ahead while job 9's is held, is busy: the freeze
        // waits for it once job 9's is let go.
        let held = list[10].node().core().meta.lock();
        let frozen = std::thread::scope(|scope| {
            let freezing =
                scope.spawn(|| freeze(s.inner.id, "s", &Arc::new(list.clone()), || true, thread));
            std::thread::sleep(std::time::Duration::from_millis(20));
            assert!(!freezing.is_finished(), "job 10 was read without its lock");
            drop(held);
            freezing.join().unwrap().unwrap()
        });
        assert!(frozen.forward);
        assert_eq!(frozen.successors(9), &[10]);
        assert_eq!(frozen.pending[10], 1);
    }

    #[test]
    fn a_chain_has_no_far_requirement_and_its_successors_are_in_order() {
        let n = 3 * FAR as u32;
        let pairs: Vec<(u32, u32)> = (1..n).map(|i| (i, i - 1)).collect();
        let frozen = from_sorted_pairs(vec![0; n as usize], &pairs);
        assert!(!frozen.far);
        assert!(frozen.forward);
        assert_eq!(frozen.successors(0), &[1]);
        assert_eq!(frozen.successors(n as usize - 1), &[] as &[u32]);
    }

    #[test]
    fn a_requirement_further_apart_than_far_makes_the_graph_far() {
        let far = FAR as u32 + 1;
        let frozen = from_sorted_pairs(vec![0; far as usize + 1], &[(far, 0)]);
        assert!(frozen.far);
        assert_eq!(frozen.successors(0), &[far]);
        let near = from_sorted_pairs(vec![0; FAR + 1], &[(FAR as u32, 0)]);
        assert!(!near.far, "exactly FAR apart is still near");
    }
}
