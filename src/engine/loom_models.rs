//! loom models of the run protocol: the worker pool's sleep/wake handshake, the
//! completion counters, and cancellation against a job's end. Run with
//! `RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=3 cargo test --release --lib loom`.
//!
//! The models build a real [`Run`] (with loom's primitives from `crate::sync`) and use
//! its own fields: the counters (`pending`, `remaining`, `sleepers`, `searching`), the
//! flags (`exit`, `stop`, `cancelled`), the `sleep` lock and `wake` condvar, the
//! waker registry, and the real [`Run::finish`], [`Run::on_cancel`] and
//! [`Context::sleep`]. What they cannot run is the worker loop itself: its deques are
//! crossbeam's, which loom cannot see into. So [`Pool`] mirrors, line for line and
//! ordering for ordering, `Run::find_or_sleep`, `Run::announce` and the release part
//! of `Run::work` (see `worker.rs`) over [`Deque`], a deque with crossbeam's orderings.
//! Everything here that mirrors `worker.rs` rather than calling it is marked so: when
//! the worker pool changes, this file changes with it.
//!
//! Not covered: crossbeam's deque itself (trusted, and loom-tested upstream), starting
//! workers on demand (`announce`'s spawning part: here the pool is full), the entry
//! jobs' claimed chunks, the coordinator's timed waits (loom has no time), and events.
// The completion model's value cells are loom's `UnsafeCell`s, read and written
// through raw pointers that loom checks for races.
#![allow(unsafe_code)]

use std::sync::Arc;
use std::task::{Wake, Waker};
use std::time::Duration;

use super::run::Run;
use super::settings::{Reason, Settings};
use crate::graph::{from_sorted_pairs, SINGLE};
use crate::job::{state, AnyJob, Context, Outcome, Status, CRITICAL};
use crate::sync::{check, fence, thread, AtomicU32, AtomicU8, AtomicUsize, Ordering};

/// A run over no table (the models give it their own jobs), with the graph of
/// `flags` and requirement pairs `(job, required)` sorted by job.
fn run(flags: Vec<u8>, pairs: &[(u32, u32)]) -> Arc<Run> {
    let jobs = flags.len();
    let settings = Settings {
        max_workers: 2,
        timeout: None,
        grace: Duration::ZERO,
        label: String::new(),
        events: None,
        stall_timeout: None,
    };
    let run = Run::new(
        Arc::new(Vec::<AnyJob>::new()),
        from_sorted_pairs(flags, pairs),
        &settings,
    );
    run.remaining.store(jobs, Ordering::Relaxed);
    run
}

/// A waker that counts its wakes.
#[derive(Default)]
struct Count(AtomicUsize);

impl Wake for Count {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// `Context::sleep` against `Run::finish` (the real code on both sides): a job that
/// sleeps while its run is cancelled is woken, whichever comes first, its waker's
/// registration or the run's end. Under loom a sleep has no timeout (see `sync`), so a
/// lost wake-up shows as a deadlock.
#[test]
fn loom_cancellation_wakes_a_sleeping_job() {
    check("Context::sleep vs finish", || {
        let run = run(vec![0], &[]);
        let job = {
            let run = Arc::clone(&run);
            thread::spawn(move || {
                let ctx = Context::new(&*run, &run.cancelled, 0, None);
                ctx.sleep(Duration::from_secs(3600))
            })
        };
        run.finish(Reason::Timeout);
        assert!(!job.join().unwrap(), "the sleep ended early");
        assert!(run.wakers.lock().is_empty());
    });
}

/// A job that registers a waker (as a pending future does), reads its cancellation,
/// returns and seals its outcome, against the run's end (`finish`) and the
/// coordinator's `abandon`: the job seals what it returned or a cancellation, or the
/// coordinator gives up on it, never two of these; the state says which; and no waker
/// stays registered once the job has returned.
#[test]
fn loom_cancellation_races_a_jobs_end() {
    check("a job's end vs finish and abandon", || {
        let run = run(vec![0], &[]);
        let lifecycle = Arc::new(AtomicU8::new(state::RUNNING));
        let outcome = Arc::new(Outcome::<u32>::new());
        let count = Arc::new(Count::default());
        let job = {
            let (run, lifecycle, outcome) = (run.clone(), lifecycle.clone(), outcome.clone());
            let waker = Waker::from(count.clone());
            thread::spawn(move || {
                let ctx = Context::new(&*run, &run.cancelled, 0, None);
                ctx.on_cancel(&waker);
                let cancelled = ctx.is_cancelled();
                drop(ctx);
                (cancelled, outcome.seal(&lifecycle, cancelled, Ok(7)))
            })
        };
        run.finish(Reason::Timeout);
        outcome.abandon(&lifecycle);
        let (cancelled, status) = job.join().unwrap();
        // A job that saw the flag may not have been woken: it can read the flag and
        // forget its waker before `finish` takes the wakers. A job that waits is woken:
        // `loom_cancellation_wakes_a_sleeping_job`.
        assert!(count.0.load(Ordering::SeqCst) <= 2);
        assert!(run.wakers.lock().is_empty(), "a waker outlived its job");
        let end = lifecycle.load(Ordering::Acquire);
        match status {
            Status::Done => assert!(!cancelled && end == state::DONE),
            Status::Cancelled => assert!(cancelled && end == state::CANCELLED),
            Status::Lost => assert_eq!(end, state::ABANDONED),
            Status::Failed => unreachable!("the job returned Ok"),
        }
    });
}

/// A worker's deque with crossbeam's orderings, as far as the handshake relies on
/// them: the owner writes a slot and publishes it with a release store of `back`; a
/// thief reads `front` (acquire), fences (`SeqCst`), reads `back` (acquire), and takes
/// the slot with a `SeqCst` compare-and-swap of `front`. The owner takes from its own
/// deque the same way (a FIFO deque's pop is a thief's steal). Bounded, never reused.
struct Deque {
    slots: [AtomicU32; 4],
    front: AtomicUsize,
    back: AtomicUsize,
}

impl Deque {
    fn new() -> Self {
        Deque {
            slots: std::array::from_fn(|_| AtomicU32::new(u32::MAX)),
            front: AtomicUsize::new(0),
            back: AtomicUsize::new(0),
        }
    }

    /// By its owner only.
    fn push(&self, job: u32) {
        let b = self.back.load(Ordering::Relaxed);
        self.slots[b].store(job, Ordering::Relaxed);
        self.back.store(b + 1, Ordering::Release);
    }

    fn steal(&self) -> Option<u32> {
        loop {
            let f = self.front.load(Ordering::Acquire);
            fence(Ordering::SeqCst);
            let b = self.back.load(Ordering::Acquire);
            if f >= b {
                return None;
            }
            let job = self.slots[f].load(Ordering::Relaxed);
            if self
                .front
                .compare_exchange(f, f + 1, Ordering::SeqCst, Ordering::Relaxed)
                .is_ok()
            {
                return Some(job);
            }
        }
    }
}

/// Two workers of a run: their deques, and the run's own counters, flags, lock and
/// condvar. Mirrors `worker.rs`.
struct Pool {
    run: Arc<Run>,
    deques: [Deque; 2],
}

impl Pool {
    fn new(run: Arc<Run>) -> Arc<Self> {
        Arc::new(Pool {
            run,
            deques: [Deque::new(), Deque::new()],
        })
    }

    /// Its own deque, then the other's (`local.pop().or_else(|| self.steal(..))`).
    fn look(&self, me: usize) -> Option<u32> {
        self.deques[me]
            .steal()
            .or_else(|| self.deques[1 - me].steal())
    }

    /// Mirrors `Run::find_or_sleep`, with one round of `search`.
    fn find_or_sleep(&self, me: usize) -> Option<u32> {
        let run = &self.run;
        run.searching.fetch_add(1, Ordering::SeqCst);
        let found = if run.exit.load(Ordering::Acquire) {
            None
        } else {
            self.look(me)
        };
        run.searching.fetch_sub(1, Ordering::SeqCst);
        if found.is_some() || run.exit.load(Ordering::Acquire) {
            return found;
        }
        let mut guard = run.sleep.lock();
        loop {
            if run.exit.load(Ordering::Acquire) {
                return None;
            }
            run.sleepers.fetch_add(1, Ordering::SeqCst);
            fence(Ordering::SeqCst);
            let found = self.look(me);
            if found.is_none() && !run.exit.load(Ordering::Acquire) {
                run.wake.wait(&mut guard);
            }
            run.sleepers.fetch_sub(1, Ordering::SeqCst);
            if found.is_some() {
                return found;
            }
            if let Some(job) = self.look(me) {
                return Some(job);
            }
        }
    }

    /// Mirrors `Run::announce` in a full pool (no worker to start).
    fn announce(&self, pushed: usize) {
        let run = &self.run;
        fence(Ordering::SeqCst);
        let sleepers = run.sleepers.load(Ordering::SeqCst);
        let woken = pushed.min(sleepers);
        if woken > 0 {
            let _sleep = run.sleep.lock();
            for _ in 0..woken {
                run.wake.notify_one();
            }
        }
        let _searching = run.searching.load(Ordering::SeqCst);
    }
}

/// The handshake: a worker pushes a job and announces it, and stays busy (it never
/// takes the job back); the other worker, out of work, searches, then sleeps. It must
/// get the job: a lost wake-up leaves it asleep, which loom reports as a deadlock.
#[test]
fn loom_a_pushed_job_wakes_a_sleeping_worker() {
    check("push + announce vs find_or_sleep", || {
        let pool = Pool::new(run(vec![0], &[]));
        let sleeper = {
            let pool = Arc::clone(&pool);
            thread::spawn(move || pool.find_or_sleep(1))
        };
        pool.deques[0].push(7);
        pool.announce(1);
        assert_eq!(sleeper.join().unwrap(), Some(7));
    });
}

/// Two jobs pushed at once, two workers out of work: each gets one, whatever the
/// order in which they count themselves asleep and the pusher reads the count.
#[test]
fn loom_two_pushed_jobs_wake_two_sleeping_workers() {
    check("push 2 + announce vs 2 find_or_sleep", || {
        let run = run(vec![0], &[]);
        let pool = Arc::new(Pool {
            run,
            deques: [Deque::new(), Deque::new()],
        });
        let sleepers: Vec<_> = (0..2)
            .map(|_| {
                let pool = Arc::clone(&pool);
                // Both look at deque 0 (the pusher's) and their own, empty.
                thread::spawn(move || pool.find_or_sleep(1))
            })
            .collect();
        pool.deques[0].push(7);
        pool.deques[0].push(8);
        pool.announce(2);
        let mut got: Vec<_> = sleepers.into_iter().map(|s| s.join().unwrap()).collect();
        got.sort();
        assert_eq!(got, [Some(7), Some(8)]);
    });
}

/// The run's end (the real `Run::finish`) against a worker going to sleep: it returns.
#[test]
fn loom_finish_wakes_a_worker_going_to_sleep() {
    check("finish vs find_or_sleep", || {
        let pool = Pool::new(run(vec![0], &[]));
        let sleeper = {
            let pool = Arc::clone(&pool);
            thread::spawn(move || pool.find_or_sleep(1))
        };
        pool.run.finish(Reason::Finished);
        assert_eq!(sleeper.join().unwrap(), None);
    });
}

/// The jobs' values in [`completion`], shared by the workers.
struct Cells([loom::cell::UnsafeCell<u32>; 4]);

// SAFETY (model): every access goes through loom's `with`/`with_mut`, which report any
// two accesses that race: the model checks the sharing this allows.
unsafe impl Sync for Cells {}
unsafe impl Send for Cells {}

/// How job `failing` (if any) ends in [`completion`].
#[derive(Clone, Copy)]
enum Ending {
    /// Every job returns `Ok`.
    AllOk,
    /// This job fails (an error, or a caught panic: the same to the engine); it is
    /// critical or not as its flags say.
    Fails(u32),
}

/// A diamond (0 → 1, 2 → 3) on two workers, mirroring `Run::work`: run a job (each
/// writes its value from its requirements' values, in loom-checked cells, so a job
/// that starts before a requirement's value is visible is a data race loom reports),
/// release its successors through the real `pending` counters (a job of one
/// requirement is `SINGLE`: no counter), keep the first to run next and push the
/// rest, count ended jobs in `remaining` when out of local work, and end the run with
/// the real `finish` when it reaches zero, or at once on a critical failure.
///
/// Checks: no job runs twice; a job runs only after all it requires (the cells); the
/// worker that ends the run sees every job's value; the run ends once, for the right
/// reason; after a critical failure no successor of the
/// failed job runs; a non-critical failure releases its successors.
fn completion(flags: Vec<u8>, ending: Ending) {
    const REQUIRES: [(u32, u32); 4] = [(1, 0), (2, 0), (3, 1), (3, 2)];
    let pool = Pool::new(run(flags, &REQUIRES));
    let cells = Arc::new(Cells(std::array::from_fn(|_| {
        loom::cell::UnsafeCell::new(0)
    })));
    let ran: Arc<[AtomicUsize; 4]> = Arc::new(std::array::from_fn(|_| AtomicUsize::new(0)));
    let work = |me: usize, mut next: Option<u32>| {
        let (pool, cells, ran) = (pool.clone(), cells.clone(), ran.clone());
        move || {
            let run = &pool.run;
            let mut ended = 0;
            loop {
                let index = match next.take().or_else(|| pool.deques[me].steal()) {
                    Some(index) => index,
                    None => {
                        if ended > 0 {
                            let count = std::mem::take(&mut ended);
                            if run.remaining.fetch_sub(count, Ordering::AcqRel) == count {
                                // The worker that ends the run sees every job's value.
                                for cell in cells.0.iter() {
                                    // SAFETY (model): loom checks the writes happened
                                    // before.
                                    assert!(cell.with(|v| unsafe { *v }) > 0);
                                }
                                run.finish(Reason::Finished);
                                break;
                            }
                        }
                        // Spins instead of sleeping: the handshake is modelled apart.
                        match pool.deques[1 - me].steal() {
                            Some(index) => index,
                            None if run.exit.load(Ordering::Acquire) => break,
                            None => {
                                thread::yield_now();
                                continue;
                            }
                        }
                    }
                };
                if run.stop.load(Ordering::Acquire) {
                    break;
                }
                let i = index as usize;
                assert_eq!(
                    ran[i].fetch_add(1, Ordering::Relaxed),
                    0,
                    "job {i} ran twice"
                );
                let value = 1 + REQUIRES
                    .iter()
                    .filter(|(job, _)| *job == index)
                    // SAFETY (model): loom checks that the write happened before.
                    .map(|&(_, required)| cells.0[required as usize].with(|v| unsafe { *v }))
                    .sum::<u32>();
                // SAFETY (model): loom checks that no other access races this one.
                cells.0[i].with_mut(|v| unsafe { *v = value });
                let failed = matches!(ending, Ending::Fails(f) if f == index);
                if failed && run.graph.flags[i] & CRITICAL != 0 {
                    run.finish(Reason::Critical);
                    break;
                }
                let mut pushed = 0;
                for &s in run.graph.successors(i) {
                    let s_ = s as usize;
                    if run.graph.flags[s_] & SINGLE != 0
                        || run.pending[s_].fetch_sub(1, Ordering::AcqRel) == 1
                    {
                        if next.is_none() {
                            next = Some(s);
                        } else {
                            pool.deques[me].push(s);
                            pushed += 1;
                        }
                    }
                }
                if pushed > 0 {
                    pool.announce(pushed);
                }
                ended += 1;
            }
        }
    };
    let other = thread::spawn(work(1, None));
    work(0, Some(0))();
    other.join().unwrap();
    let reason = pool.run.end.lock().reason;
    let runs: Vec<usize> = ran.iter().map(|r| r.load(Ordering::Relaxed)).collect();
    match ending {
        Ending::Fails(f) if pool.run.graph.flags[f as usize] & CRITICAL != 0 => {
            assert_eq!(reason, Some(Reason::Critical));
            assert_eq!(
                runs[3], 0,
                "a job ran after its requirement failed critically"
            );
        }
        _ => {
            assert_eq!(reason, Some(Reason::Finished));
            assert_eq!(runs, [1, 1, 1, 1]);
            // SAFETY (model): both workers have returned.
            assert_eq!(cells.0[3].with(|v| unsafe { *v }), 5);
        }
    }
}

#[test]
fn loom_completion_releases_each_job_once_after_its_requirements() {
    check("completion, all ok", || {
        completion(vec![0; 4], Ending::AllOk)
    });
}

#[test]
fn loom_a_non_critical_failure_releases_its_successors() {
    check("completion, job 1 fails", || {
        completion(vec![0; 4], Ending::Fails(1))
    });
}

#[test]
fn loom_a_critical_failure_ends_the_run_and_releases_nothing() {
    check("completion, job 1 fails critically", || {
        completion(vec![0, CRITICAL, 0, 0], Ending::Fails(1))
    });
}
