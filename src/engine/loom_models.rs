//! loom models of the run protocol: the hand-off of a pushed job to a worker that is
//! leaving the run (the search/leave handshake), the completion counters, and
//! cancellation against a job's end. Run with
//! `RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=3 cargo test --release --lib loom`.
//!
//! The models build a real [`Run`] (with loom's primitives from `crate::sync`) and use
//! its own fields: the counters (`pending`, `remaining`, `searching`), the flags
//! (`exit`, `stop`, `cancelled`), the waker registry, and the real [`Run::finish`],
//! [`Run::on_cancel`] and [`Context::sleep`]. What they cannot run is the worker loop
//! itself: its deques are crossbeam's, which loom cannot see into, and its workers are
//! hired from a pool of threads. So [`Two`] mirrors, line for line and ordering for
//! ordering, `Run::find`, `Run::announce` and the release part of `Run::work` (see
//! `worker.rs`) over [`Deque`], a deque with crossbeam's orderings, and counts the
//! workers `announce` would hire rather than starting them.
//! Everything here that mirrors `worker.rs` rather than calling it is marked so: when
//! the worker pool changes, this file changes with it.
//!
//! The deadline has a model of its own: loom has no time, so under loom a run's
//! [`Deadline`](crate::sync::Deadline) is a flag that the model sets to let it pass,
//! read behind a `SeqCst` fence as the real clock is read by every thread alike; the
//! model checks a job's end and the run's end against it
//! (`loom_a_job_that_ends_after_the_deadline_does_not_complete_its_run`).
//!
//! Not covered: crossbeam's deque itself (trusted, and loom-tested upstream), the pool's
//! hand-off of a shift to an idle thread (`pool.rs`), the entry jobs' claimed chunks, the
//! coordinator's timed waits (it is modelled as waking after the deadline), and events.
// The completion model's value cells are loom's `UnsafeCell`s, read and written
// through raw pointers that loom checks for races.
#![allow(unsafe_code)]

use std::sync::Arc;
use std::task::{Wake, Waker};
use std::time::Duration;

use super::pool::Pool as Threads;
use super::run::Run;
use super::settings::{Reason, Settings};
use super::table::Table;
use crate::graph::{from_sorted_pairs, SINGLE};
use crate::job::{state, AnyJob, Context, Job, Outcome, Status, CRITICAL};
use crate::sync::{check, fence, thread, AtomicBool, AtomicU32, AtomicU8, AtomicUsize, Ordering};

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
        pool: Threads::new(),
        limits: None,
    };
    let run = Run::new(
        Arc::new(Vec::<AnyJob>::new()),
        Arc::new(from_sorted_pairs(flags, pairs)),
        &settings,
    );
    run.remaining.store(jobs, Ordering::Relaxed);
    run
}

/// A waker that counts its wakes (the scheduler's models use it too).
#[derive(Default)]
pub(crate) struct Count(pub(crate) AtomicUsize);

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
                let ctx = Context::new(&*run, &run.cancelled, None, 0, None);
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
                let ctx = Context::new(&*run, &run.cancelled, None, 0, None);
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
            Status::Failed | Status::TimedOut | Status::Retry => {
                unreachable!("the job returned Ok in time")
            }
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

/// Two workers of a run: their deques, and the run's own counters and flags. Mirrors
/// `worker.rs`.
struct Two {
    run: Arc<Run>,
    deques: [Deque; 2],
}

impl Two {
    fn new(run: Arc<Run>) -> Arc<Self> {
        Arc::new(Two {
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

    /// Mirrors `Run::find`, with one round of `search`: the job found (`None` when the
    /// worker leaves the run), and how many workers it hires (for jobs still queued
    /// when it found one).
    fn find(&self, me: usize) -> (Option<u32>, usize) {
        let run = &self.run;
        run.searching.fetch_add(1, Ordering::SeqCst);
        let found = if run.exit.load(Ordering::Acquire) {
            None
        } else {
            self.look(me)
        };
        run.searching.fetch_sub(1, Ordering::SeqCst);
        fence(Ordering::SeqCst);
        if found.is_some() {
            return (found, usize::from(self.queued() > 0));
        }
        if run.exit.load(Ordering::Acquire) {
            return (None, 0);
        }
        (self.look(me), 0)
    }

    /// Mirrors `Run::ready_count`: the jobs in the deques.
    fn queued(&self) -> usize {
        self.deques
            .iter()
            .map(|d| {
                let f = d.front.load(Ordering::Acquire);
                d.back.load(Ordering::Acquire).saturating_sub(f)
            })
            .sum()
    }

    /// Mirrors `Run::announce`: how many workers it hires for `pushed` jobs (counted
    /// here, not started; the window has room for them).
    fn announce(&self, pushed: usize) -> usize {
        fence(Ordering::SeqCst);
        let searching = self.run.searching.load(Ordering::SeqCst);
        pushed.saturating_sub(searching)
    }
}

/// The handshake: a worker pushes a job and announces it, and stays busy (say, in a
/// future that waits for that job); the other worker, out of work, searches, then
/// leaves the run. The job must not be stranded: the leaving worker takes it, or the
/// pusher hires a worker for it.
#[test]
fn loom_a_pushed_job_is_taken_or_gets_a_worker() {
    check("push + announce vs find", || {
        let two = Two::new(run(vec![0], &[]));
        let searcher = {
            let two = Arc::clone(&two);
            thread::spawn(move || two.find(1))
        };
        two.deques[0].push(7);
        let hired = two.announce(1);
        let (taken, _) = searcher.join().unwrap();
        assert!(taken == Some(7) || hired >= 1, "job 7 stranded");
        assert!(taken.is_none() || taken == Some(7));
    });
}

/// The searcher finds a job of its own first: the job pushed meanwhile, left to it by
/// the pusher, gets a worker hired by the searcher, or by the pusher.
#[test]
fn loom_a_searcher_that_takes_another_job_hires_for_the_one_left_to_it() {
    check("push + announce vs find of another job", || {
        let two = Two::new(run(vec![0], &[]));
        two.deques[1].push(5);
        let searcher = {
            let two = Arc::clone(&two);
            thread::spawn(move || two.find(1))
        };
        two.deques[0].push(7);
        let hired = two.announce(1);
        let (taken, hired_by_searcher) = searcher.join().unwrap();
        assert_eq!(taken, Some(5), "its own deque first");
        assert!(hired + hired_by_searcher >= 1, "job 7 stranded");
    });
}

/// Two jobs pushed at once, two workers out of work: every job is taken by one of
/// them, or a worker is hired (who takes whatever is left); none is taken twice.
#[test]
fn loom_two_pushed_jobs_are_taken_or_get_a_worker() {
    check("push 2 + announce vs 2 find", || {
        let two = Two::new(run(vec![0], &[]));
        let searchers: Vec<_> = (0..2)
            .map(|_| {
                let two = Arc::clone(&two);
                // Both look at deque 0 (the pusher's) and their own, empty.
                thread::spawn(move || two.find(1))
            })
            .collect();
        two.deques[0].push(7);
        two.deques[0].push(8);
        let hired = two.announce(2);
        let ends: Vec<(Option<u32>, usize)> =
            searchers.into_iter().map(|s| s.join().unwrap()).collect();
        let got: Vec<u32> = ends.iter().filter_map(|e| e.0).collect();
        let hired = hired + ends.iter().map(|e| e.1).sum::<usize>();
        assert!(
            got.len() == 2 || hired >= 1,
            "stranded: taken {got:?}, hired {hired}"
        );
        assert!(got.len() < 2 || got[0] != got[1], "a job taken twice");
    });
}

/// A job made ready by the timer thread (a retry's next attempt, a give-up's
/// successors: the real `Run::inject`, `Run::to_hire` and `Run::take_place`) into a full
/// window whose one worker is leaving (its last looks at the injected list, mirroring
/// `Run::find`, then the real `Run::give_place`). The announcer, outside the window,
/// finds no place; the job must not be stranded: the leaving worker takes it, or a
/// worker is hired for it, by the announcer or by the leaver once its place is back.
#[test]
fn loom_a_job_injected_into_a_full_window_is_taken_or_gets_a_worker() {
    check("inject + announce vs leave", || {
        // One job: a window of one worker, in the run.
        let run = run(vec![0], &[]);
        assert_eq!(run.max_workers, 1);
        run.workers.store(1, Ordering::Relaxed);
        let leaver = {
            let run = Arc::clone(&run);
            thread::spawn(move || {
                run.searching.fetch_add(1, Ordering::SeqCst);
                let found = run.take_injected();
                run.searching.fetch_sub(1, Ordering::SeqCst);
                fence(Ordering::SeqCst);
                match found.or_else(|| run.take_injected()) {
                    Some(job) => (Some(job), false),
                    None => (None, run.give_place()),
                }
            })
        };
        run.inject(7);
        let hired = (0..run.to_hire(1)).filter(|_| run.take_place()).count();
        let (taken, rehired) = leaver.join().unwrap();
        assert!(
            taken == Some(7) || hired > 0 || rehired,
            "job 7 stranded: the window was full and its worker left"
        );
    });
}

/// The same hand-off in a ranked run (job priorities, longest path first), where every
/// ready job goes through the ranked queue: a worker that releases two jobs pushes
/// both, keeps the best (the real `Run::inject`, `Run::take_injected`) and announces
/// the other, while the window's other worker is leaving. Neither job is stranded or
/// taken twice, and the worker that released them runs the better one.
#[test]
fn loom_a_ranked_run_hands_its_queued_jobs_to_a_worker() {
    check("ranked push + announce vs leave", || {
        let mut graph = from_sorted_pairs(vec![0, 0], &[]);
        // Job 1 ranks before job 0.
        graph.rank = Some(vec![1, 0].into_boxed_slice());
        let settings = Settings {
            max_workers: 2,
            timeout: None,
            grace: Duration::ZERO,
            label: String::new(),
            events: None,
            stall_timeout: None,
            pool: Threads::new(),
            limits: None,
        };
        // Two jobs: a window of two workers, both in the run.
        let jobs = vec![Job::new(|_| ()).any(), Job::new(|_| ()).any()];
        let run = Run::new(Arc::new(jobs), Arc::new(graph), &settings);
        assert_eq!(run.max_workers, 2);
        run.workers.store(2, Ordering::Relaxed);
        let leaver = {
            let run = Arc::clone(&run);
            thread::spawn(move || {
                run.searching.fetch_add(1, Ordering::SeqCst);
                let found = run.take_injected();
                run.searching.fetch_sub(1, Ordering::SeqCst);
                fence(Ordering::SeqCst);
                match found.or_else(|| run.take_injected()) {
                    Some(job) => (Some(job), false),
                    None => (None, run.give_place()),
                }
            })
        };
        run.inject(0);
        run.inject(1);
        let kept = run.take_injected();
        let hired = (0..run.to_hire(1)).filter(|_| run.take_place()).count();
        let (taken, rehired) = leaver.join().unwrap();
        let left = run.take_injected();
        let mut got: Vec<u32> = [kept, taken, left].into_iter().flatten().collect();
        got.sort_unstable();
        assert_eq!(got, [0, 1], "a job lost or taken twice");
        assert!(
            left.is_none() || hired > 0 || rehired,
            "job {left:?} stranded: queued, and nobody hired for it"
        );
        // The leaver may have taken the best first; otherwise the pusher keeps it.
        if taken != Some(1) {
            assert_eq!(kept, Some(1));
        }
    });
}

/// The run's end (the real `Run::finish`) against a worker searching: it leaves.
#[test]
fn loom_finish_makes_a_searching_worker_leave() {
    check("finish vs find", || {
        let two = Two::new(run(vec![0], &[]));
        let searcher = {
            let two = Arc::clone(&two);
            thread::spawn(move || two.find(1))
        };
        two.run.finish(Reason::Finished);
        assert_eq!(searcher.join().unwrap(), (None, 0));
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
    let pool = Two::new(run(flags, &REQUIRES));
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
                    let _ = pool.announce(pushed);
                }
                ended += 1;
            }
        }
    };
    let other = thread::spawn(work(1, None));
    work(0, Some(0))();
    other.join().unwrap();
    let reason = pool.run.ending.end.lock().reason;
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

/// How a job's end and the run's deadline came out in [`job_end_against_deadline`].
struct DeadlineRace {
    /// The job returned after the deadline had passed.
    returned_late: bool,
    /// The deadline passed while the job's end was not sealed yet.
    sealed_late: bool,
    status: Status,
    reason: Option<Reason>,
}

/// A job's end against its run's deadline, with the coordinator late: a worker runs a
/// real scheduler job (`Table::execute`: `Context::halted` before the body and before
/// the seal, the real `Outcome::seal`) and counts it ended (the real
/// `Run::count_ended`), while time passes (the model's clock, `Deadline::pass`) and the
/// coordinator, waking after the deadline, ends the run by its timeout (as
/// `Run::execute` does). The thread that lets the deadline pass then looks whether the
/// job had returned, and whether its end was sealed: what the real clock would say of
/// them.
fn job_end_against_deadline() -> DeadlineRace {
    let returned = Arc::new(AtomicBool::new(false));
    let job = {
        let returned = Arc::clone(&returned);
        Job::new(move |_| {
            // The job's last instruction: it has returned, for the clock.
            returned.store(true, Ordering::Relaxed);
            fence(Ordering::SeqCst);
            7u32
        })
    };
    let settings = Settings {
        max_workers: 1,
        timeout: Some(Duration::from_secs(3600)),
        grace: Duration::ZERO,
        label: String::new(),
        events: None,
        stall_timeout: None,
        pool: Threads::new(),
        limits: None,
    };
    let run = Run::new(
        Arc::new(vec![job.any()]),
        Arc::new(from_sorted_pairs(vec![0], &[])),
        &settings,
    );
    run.set_state(0, state::RUNNING);
    let worker = {
        let run = Arc::clone(&run);
        thread::spawn(move || {
            let ctx = Context::new(&*run, &run.cancelled, run.deadline.as_ref(), 0, None);
            // SAFETY: job 0 runs once, here.
            let status = unsafe { run.jobs.execute(0, &ctx) };
            drop(ctx);
            if status == Status::Done {
                run.count_ended(1);
            }
            status
        })
    };
    let deadline = run.deadline.as_ref().expect("a timeout");
    deadline.pass();
    let returned_late = !returned.load(Ordering::Relaxed);
    let sealed_late = run.jobs.state(0).load(Ordering::Relaxed) == state::RUNNING;
    // The coordinator wakes after the deadline.
    if run.past_deadline() {
        run.finish(Reason::Timeout);
    }
    let status = worker.join().unwrap();
    let reason = run.ending.end.lock().reason;
    DeadlineRace {
        returned_late,
        sealed_late,
        status,
        reason,
    }
}

/// A job that returns after the deadline is not done (what it returned is not kept),
/// and a run whose last job's end was sealed after the deadline does not succeed,
/// whether the coordinator or the job's worker ends the run; a job done before the
/// deadline is counted so.
#[test]
fn loom_a_job_that_ends_after_the_deadline_does_not_complete_its_run() {
    check("a job's end vs the deadline", || {
        let race = job_end_against_deadline();
        assert!(race.reason.is_some(), "the run did not end");
        if race.returned_late {
            assert_ne!(
                race.status,
                Status::Done,
                "a job that returned late is done"
            );
        }
        if race.sealed_late {
            assert_ne!(
                race.reason,
                Some(Reason::Finished),
                "a run whose job's end was sealed after the deadline succeeded"
            );
        }
        if race.reason == Some(Reason::Finished) {
            assert_eq!(race.status, Status::Done);
        }
    });
}

/// A job's own timeout: at the end of its grace the run gives up on the job (mirror of
/// `Run::give_up`, with its real `Outcome::give_up`, `Rules::hand_place` and the order
/// of its steps) just as the job returns on its worker (mirror of the worker's end of a
/// timed job, with the real `Outcome::seal_raced`, `Rules::was_given_up`,
/// `Rules::keep_place` and `returned_late`). Exactly one side ends the job for its run (its successors
/// released, its count subtracted), the worker's place in the window is given back
/// exactly once, and a job whose thread is back is never left reported as still
/// running.
#[test]
fn loom_giving_up_on_a_timed_out_job_races_its_return() {
    use super::rules::Rules;
    use super::timeout::returned_late;
    use crate::error::JobError;

    check("give-up vs a job's return", || {
        let timed = Arc::new(Rules::new(0, &crate::job::Policy::default()));
        let lifecycle = Arc::new(AtomicU8::new(state::RUNNING));
        let outcome = Arc::new(Outcome::<u32>::new());
        // The worker's place in the window, and how many times the job was ended.
        let workers = Arc::new(AtomicUsize::new(1));
        let ended = Arc::new(AtomicUsize::new(0));
        let worker = {
            let (timed, lifecycle, outcome) = (timed.clone(), lifecycle.clone(), outcome.clone());
            let (workers, ended) = (workers.clone(), ended.clone());
            thread::spawn(move || {
                let status = outcome.seal_raced(&lifecycle, crate::job::Halt::Go, Ok(7));
                if status == Status::Lost && timed.was_given_up() {
                    returned_late(&lifecycle);
                    if !timed.keep_place() {
                        // Handed over: it leaves without giving its place back.
                        return;
                    }
                } else {
                    ended.fetch_add(1, Ordering::SeqCst);
                }
                // It leaves the run later, giving its place back.
                workers.fetch_sub(1, Ordering::SeqCst);
            })
        };
        if lifecycle.load(Ordering::Acquire) == state::RUNNING {
            timed.given_up.store(true, Ordering::SeqCst);
            if outcome.give_up(&lifecycle, JobError::new("timed out")) {
                ended.fetch_add(1, Ordering::SeqCst);
                if timed.hand_place() {
                    workers.fetch_sub(1, Ordering::SeqCst);
                }
            }
        }
        worker.join().unwrap();
        assert_eq!(ended.load(Ordering::SeqCst), 1, "ended once");
        assert_eq!(
            workers.load(Ordering::SeqCst),
            0,
            "its place given back once"
        );
        let end = lifecycle.load(Ordering::Acquire);
        assert!(
            end == state::DONE || end == state::TIMED_OUT,
            "a job whose thread is back reads {end}"
        );
    });
}

/// A job with a timeout and retries: its attempt fails just as the run gives up on it
/// after its grace. The worker takes the job back to try it again (mirror of
/// `Run::retry`, with the real `take_back`), else seals its failure (the real
/// `Outcome::seal`); the run gives up on it (mirror of `Run::give_up`, with the real
/// `Outcome::give_up`). The job is tried again, or given up on, or ended by its worker:
/// exactly one of them, and its state says which.
#[test]
fn loom_a_retry_races_the_give_up() {
    use super::retry::take_back;
    use super::rules::Rules;
    use crate::error::JobError;
    use crate::job::Policy;

    check("retry vs give-up", || {
        let rules = Arc::new(Rules::new(0, &Policy::default()));
        let lifecycle = Arc::new(AtomicU8::new(state::RUNNING));
        let outcome = Arc::new(Outcome::<u32>::new());
        let worker = {
            let (rules, lifecycle, outcome) = (rules.clone(), lifecycle.clone(), outcome.clone());
            thread::spawn(move || {
                if take_back(&lifecycle) {
                    return (true, false);
                }
                let status = outcome.seal_raced(
                    &lifecycle,
                    crate::job::Halt::Go,
                    Err(JobError::new("failed")),
                );
                if status == Status::Lost {
                    assert!(rules.was_given_up());
                    return (false, false);
                }
                (false, true)
            })
        };
        rules.given_up.store(true, Ordering::SeqCst);
        let given_up = outcome.give_up(&lifecycle, JobError::new("timed out"));
        let (retried, sealed) = worker.join().unwrap();
        let ends = [retried, given_up, sealed];
        assert_eq!(ends.iter().filter(|&&end| end).count(), 1, "{ends:?}");
        let end = lifecycle.load(Ordering::Acquire);
        if retried {
            assert_eq!(end, state::SCHEDULED);
        } else if given_up {
            assert_eq!(end, state::TIMED_OUT_RUNNING);
        } else {
            assert_eq!(end, state::DONE);
        }
    });
}

/// A job waiting for a named limit is granted its share (the real `Limits::give_back`
/// and `Granted::wake`, on another thread) while its run ends (the real `Run::finish`
/// and `Run::give_shares_back`): whichever comes first, once the run has ended the
/// share is free again: given back by the grant, which sees the end, or by the run's
/// sweep, which sees the grant; never kept by a job that will not start.
#[test]
fn loom_a_grant_that_races_the_runs_end_leaves_nothing_in_use() {
    use crate::graph::POLICY;
    use crate::job::Policy;
    use crate::limits::Limits;
    check("grant vs run end", || {
        let limits = Arc::new(Limits::new(vec![("gpu".into(), 1)]));
        let mut frozen = from_sorted_pairs(vec![POLICY], &[]);
        frozen.policies = vec![(
            0,
            Policy {
                uses: vec![("gpu".into(), 1)],
                ..Policy::default()
            },
        )];
        frozen.shares = vec![(0, vec![(0u32, 1u32)].into_boxed_slice())];
        let settings = Settings {
            max_workers: 1,
            timeout: None,
            grace: Duration::ZERO,
            label: String::new(),
            events: None,
            stall_timeout: None,
            pool: Threads::new(),
            limits: Some(Arc::clone(&limits)),
        };
        let run = Run::new(Arc::new(Vec::<AnyJob>::new()), Arc::new(frozen), &settings);
        // The window is full: a grant hires nobody.
        run.workers.store(1, Ordering::Relaxed);
        // Another job holds the gpu; job 0 waits for it.
        assert!(limits.take_or_wait(&[(0, 1)], (0, 9), Waker::noop().clone()));
        assert!(!run.take_share(0, run.rules(0).unwrap()));
        let holder = {
            let limits = Arc::clone(&limits);
            thread::spawn(move || limits.give_back(&[(0, 1)]))
        };
        run.finish(Reason::Critical);
        run.give_shares_back();
        holder.join().unwrap();
        let rules = run.rules(0).unwrap();
        assert_eq!(
            limits.in_use(0),
            0,
            "a share kept after the run ended: holding {}, injected {}",
            *rules.holding.lock(),
            run.injected_len.load(Ordering::SeqCst)
        );
    });
}
