//! The deadline against the ends and starts of jobs, with the run's coordinator held
//! off the CPU, as a loaded machine holds it: a job that returns after the deadline
//! never makes its run succeed, and a job delayed past the deadline on its way to its
//! body does not start. And a run started in a job's body is cancelled with that job.
//!
//! The coordinator (the thread that called `run`) is held by a signal whose handler
//! sleeps: deterministic where a busy machine only sometimes holds it long enough.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use jobgraph::{Batch, Error, Job, JobState, Scheduler};

/// How long the held coordinator stays off the CPU.
#[cfg(target_os = "linux")]
const HELD: Duration = Duration::from_millis(800);
/// The runs' timeout: long enough that a loaded machine still starts the job before it.
const TIMEOUT: Duration = Duration::from_millis(200);
/// When the job that ignores cancellation returns: after the timeout, well before the
/// coordinator comes back.
const RETURNS_AFTER: Duration = Duration::from_millis(400);

#[cfg(target_os = "linux")]
mod hold {
    use std::time::Duration;

    /// The signal's handler: sleeps for [`super::HELD`] on the thread it interrupts.
    extern "C" fn sleep_here(_: libc::c_int) {
        let held = super::HELD;
        let time = libc::timespec {
            tv_sec: held.as_secs() as libc::time_t,
            tv_nsec: held.subsec_nanos() as libc::c_long,
        };
        // SAFETY: `nanosleep` is async-signal-safe; `time` outlives the call.
        unsafe { libc::nanosleep(&time, std::ptr::null_mut()) };
    }

    /// A thread that a job can hold off the CPU.
    #[derive(Clone, Copy)]
    pub(crate) struct Holdable(libc::pthread_t);

    impl Holdable {
        /// The calling thread (the coordinator of the runs it starts).
        pub(crate) fn this_thread() -> Holdable {
            static INSTALL: std::sync::Once = std::sync::Once::new();
            INSTALL.call_once(|| {
                // SAFETY: a zeroed `sigaction` is a valid start; the handler only sleeps.
                unsafe {
                    let mut action: libc::sigaction = std::mem::zeroed();
                    action.sa_sigaction = sleep_here as extern "C" fn(libc::c_int) as usize;
                    action.sa_flags = libc::SA_RESTART;
                    libc::sigemptyset(&mut action.sa_mask);
                    assert_eq!(
                        libc::sigaction(libc::SIGUSR1, &action, std::ptr::null_mut()),
                        0
                    );
                }
            });
            // SAFETY: no precondition.
            Holdable(unsafe { libc::pthread_self() })
        }

        /// Holds that thread for [`super::HELD`], from now.
        pub(crate) fn hold(self) {
            // SAFETY: the thread is alive: it is in `run`, waiting for this job.
            assert_eq!(unsafe { libc::pthread_kill(self.0, libc::SIGUSR1) }, 0);
            // The handler starts at once on another CPU, or as soon as this one yields.
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

/// A scheduler's job returns after the timeout, while the coordinator, which owns the
/// deadline, is held: the job's own end says the run is late. Before, the job's end
/// ended the run as complete (`Ok(true)`, its value kept) before the coordinator woke.
#[cfg(target_os = "linux")]
#[test]
fn a_job_that_returns_after_the_deadline_times_its_scheduler_out() {
    let coordinator = hold::Holdable::this_thread();
    let late = Job::new(move |_| {
        coordinator.hold();
        std::thread::sleep(RETURNS_AFTER); // ignores cancellation
        7
    });
    let s = Scheduler::new().timeout(TIMEOUT);
    s.add(&late);
    let result = s.run();
    assert!(
        matches!(result, Err(Error::Timeout { .. })),
        "{result:?}: a job that ended after the deadline made the run succeed"
    );
    assert!(s.failed_time_out().is_some());
    assert!(late.result().is_err(), "the late job's value was kept");
    assert_eq!(late.state(), JobState::Cancelled);
}

/// The same in a batch.
#[cfg(target_os = "linux")]
#[test]
fn a_job_that_returns_after_the_deadline_times_its_batch_out() {
    let coordinator = hold::Holdable::this_thread();
    let mut batch = Batch::new().timeout(TIMEOUT);
    let late = batch
        .add(move |_| {
            coordinator.hold();
            std::thread::sleep(RETURNS_AFTER);
            7u32
        })
        .id();
    let result = batch.run();
    assert!(
        matches!(result, Err(Error::Timeout { .. })),
        "{result:?}: a job that ended after the deadline made the run succeed"
    );
    assert!(batch.result(late).is_err(), "the late job's value was kept");
    assert_eq!(batch.state(late), Some(JobState::Cancelled));
}

/// A run whose jobs all end before the deadline still succeeds when its coordinator is
/// held past it: the answer is the jobs' ends against the deadline, not the
/// coordinator's timing.
#[cfg(target_os = "linux")]
#[test]
fn jobs_that_end_in_time_make_the_run_succeed_however_late_the_coordinator() {
    let coordinator = hold::Holdable::this_thread();
    let mut batch = Batch::new().timeout(Duration::from_secs(60));
    let quick = batch
        .add(move |_| {
            coordinator.hold();
            7u32
        })
        .id();
    assert!(batch.run().unwrap());
    assert_eq!(*batch.result(quick).unwrap(), 7);
}

/// A job delayed past the deadline between its worker's first look at the clock and
/// its body (here by a slow observer of its start; on a busy machine, by being taken
/// off the CPU) does not start: the last look is the last thing before the body.
/// Before, its body ran 200 ms after the deadline.
#[test]
fn a_job_delayed_past_the_deadline_on_its_way_to_its_body_does_not_start() {
    let ran = Arc::new(AtomicBool::new(false));
    let job = {
        let ran = ran.clone();
        Job::new(move |_| ran.store(true, Ordering::SeqCst))
    };
    let s = Scheduler::new()
        .critical(false)
        .timeout(TIMEOUT)
        .grace(GRACE)
        .observe(|event| {
            if matches!(event.kind, jobgraph::EventKind::Started) {
                std::thread::sleep(RETURNS_AFTER);
            }
        });
    s.add(&job);
    assert!(!s.run().unwrap());
    assert!(s.failed_time_out().is_some());
    assert!(
        !ran.load(Ordering::SeqCst),
        "the job started after the deadline"
    );
    assert_eq!(job.state(), JobState::Cancelled);
}

/// How long the inner jobs sleep, heeding their own run's cancellation only.
const INNER_SLEEP: Duration = Duration::from_secs(60);
/// The outer runs' grace: the inner run must end within it.
const GRACE: Duration = Duration::from_secs(10);

/// A job whose body runs a scheduler of its own with `run()` (not nested in the outer
/// one, nor given the job's context): the outer run's timeout cancels that inner run
/// too, so the job returns within the grace, rather than being given up on while its
/// inner job sleeps on. Before, the outer run abandoned the job after the grace.
#[test]
fn a_scheduler_run_in_a_jobs_body_is_cancelled_with_that_job() {
    let inner_result = Arc::new(std::sync::Mutex::new(None));
    let outer_job = {
        let inner_result = inner_result.clone();
        Job::new(move |_| {
            let inner = Scheduler::new().label("inner");
            inner.add(Job::new(|ctx| ctx.sleep(INNER_SLEEP)));
            *inner_result.lock().unwrap() = Some(inner.run());
        })
    };
    let outer = Scheduler::new()
        .critical(false)
        .timeout(TIMEOUT)
        .grace(GRACE);
    outer.add(&outer_job);
    let start = Instant::now();
    assert!(!outer.run().unwrap());
    let took = start.elapsed();
    assert!(outer.failed_time_out().is_some());
    assert_eq!(
        outer_job.state(),
        JobState::Cancelled,
        "the job was given up on (its inner run went on): ran {took:?}"
    );
    let inner = inner_result.lock().unwrap().take();
    assert!(
        matches!(inner, Some(Ok(false))),
        "the inner run answered {inner:?}"
    );
}

/// The same with batches: a batch job's body runs a batch of its own with `run()`.
#[test]
fn a_batch_run_in_a_jobs_body_is_cancelled_with_that_job() {
    let mut outer = Batch::new().timeout(TIMEOUT).grace(GRACE);
    let job = outer
        .add(|_| {
            let mut inner = Batch::new().label("inner");
            inner.add(|ctx| ctx.sleep(INNER_SLEEP));
            inner.run()
        })
        .id();
    let start = Instant::now();
    assert!(matches!(outer.run(), Err(Error::Timeout { .. })));
    let took = start.elapsed();
    assert_eq!(
        outer.state(job),
        Some(JobState::Cancelled),
        "the job was given up on (its inner run went on): ran {took:?}"
    );
}

/// A run started on a worker between jobs (here by an observer of a job's end, which
/// runs on that job's worker once the job has ended) is tied to no job: the outer run's
/// timeout, which comes while it runs, does not cancel it.
#[test]
fn a_run_started_on_a_worker_between_jobs_is_tied_to_none() {
    let inner_result = Arc::new(std::sync::Mutex::new(None));
    let quick = Job::new(|_| ()).label("quick");
    let outer = {
        let inner_result = inner_result.clone();
        Scheduler::new()
            .critical(false)
            .timeout(TIMEOUT)
            .grace(GRACE)
            .observe(move |event| {
                let ended_quick = matches!(event.kind, jobgraph::EventKind::Done)
                    && event
                        .job
                        .as_ref()
                        .and_then(|job| job.given_label())
                        .as_deref()
                        == Some("quick");
                if ended_quick {
                    let inner = Scheduler::new();
                    inner.add(Job::new(|ctx| ctx.sleep(2 * TIMEOUT)));
                    *inner_result.lock().unwrap() = Some(inner.run());
                }
            })
    };
    outer.add(&quick);
    outer.add(Job::new(|ctx| ctx.sleep(Duration::from_secs(60))));
    assert!(!outer.run().unwrap());
    let inner = inner_result.lock().unwrap().take();
    assert!(
        matches!(inner, Some(Ok(true))),
        "the inner run answered {inner:?}"
    );
}
