//! Shutdown hooks: [`Scheduler::shutdown`] calls every job's hook at the same time,
//! bounded by the scheduler's shutdown timeout (asynciojobs' `shutdown()`), once.

use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use super::Scheduler;
use crate::engine::UNLIMITED_WINDOW_WORKERS;
use crate::job::AnyJob;
use crate::sync::{thread, AtomicUsize, Ordering};

impl Scheduler {
    /// After a run it started: [`shutdown`](Scheduler::shutdown) when
    /// [`shutdown_after_run`](Scheduler::shutdown_after_run) asks for it.
    pub(crate) fn shutdown_if_asked(&self) {
        if self.inner.conf.lock().shutdown_after_run {
            self.shutdown();
        }
    }

    /// Calls every job's shutdown hook, in nested schedulers too, all at the same time
    /// (each on a thread of its own, up to [`UNLIMITED_WINDOW_WORKERS`] threads), and
    /// waits for them at most the [`shutdown_timeout`](Scheduler::shutdown_timeout).
    /// True when all returned in time; otherwise
    /// [`shutdown_pending`](Scheduler::shutdown_pending) names the jobs whose hooks
    /// were still running, and a [verbose](Scheduler::verbose) scheduler prints
    /// asynciojobs' `WARNING: 1/2 shutdown hooks have not returned within timeout`.
    /// Hooks run once: later calls return the first answer.
    ///
    /// The hooks are [`AbstractJob::shutdown`](crate::AbstractJob::shutdown) and those
    /// given with [`Job::on_shutdown`](crate::Job::on_shutdown).
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// use jobgraph::{Job, Scheduler};
    /// let pause = || std::thread::sleep(Duration::from_millis(300));
    /// let s = Scheduler::new().shutdown_timeout(Duration::from_millis(500));
    /// s.add((Job::new(|_| 1).on_shutdown(pause), Job::new(|_| 2).on_shutdown(pause)));
    /// s.run().unwrap();
    /// let start = Instant::now();
    /// assert!(s.shutdown()); // both hooks at once: 0.3 s, within the 0.5 s
    /// assert!(start.elapsed() < Duration::from_millis(500));
    /// ```
    ///
    /// [`UNLIMITED_WINDOW_WORKERS`]: crate::UNLIMITED_WINDOW_WORKERS
    pub fn shutdown(&self) -> bool {
        let mut done = self.inner.shutdown.lock();
        if let Some(answer) = *done {
            return answer;
        }
        let timeout = self.inner.conf.lock().shutdown_timeout;
        if self.is_verbose() {
            // asynciojobs' line, time-stamped as the run's lines are.
            let watch = self.get_watch();
            let stamp = match &watch {
                Some(watch) => format!("{}  ", watch.elapsed()),
                None => String::new(),
            };
            println!(
                "{stamp}SCHEDULER {}: scheduler is shutting down...",
                self.stats()
            );
        }
        let hooked: Vec<AnyJob> = self
            .iterate_jobs()
            .into_iter()
            .filter(|job| job.node().has_shutdown_hook())
            .collect();
        let pending = call_hooks(&hooked, timeout);
        if !pending.is_empty() && self.is_verbose() {
            println!(
                "WARNING: {}/{} shutdown hooks have not returned within timeout",
                pending.len(),
                hooked.len()
            );
        }
        let answer = pending.is_empty();
        *self.inner.pending_shutdowns.lock() = pending;
        *done = Some(answer);
        answer
    }

    /// The jobs whose shutdown hooks had not returned when
    /// [`shutdown`](Scheduler::shutdown) stopped waiting for them; empty before it.
    pub fn shutdown_pending(&self) -> Vec<AnyJob> {
        self.inner.pending_shutdowns.lock().clone()
    }
}

/// Calls the shutdown hooks of `jobs` at the same time, on up to
/// `UNLIMITED_WINDOW_WORKERS` threads, each taking the next hook when done; returns
/// those that had not returned within `timeout`. The threads are not waited for past
/// it: a hook that never returns keeps its thread.
fn call_hooks(jobs: &[AnyJob], timeout: Duration) -> Vec<AnyJob> {
    if jobs.is_empty() {
        return Vec::new();
    }
    let deadline = Instant::now() + timeout;
    let jobs: Arc<Vec<AnyJob>> = Arc::new(jobs.to_vec());
    let next = Arc::new(AtomicUsize::new(0));
    let (sender, receiver) = mpsc::channel::<usize>();
    let threads = jobs.len().min(UNLIMITED_WINDOW_WORKERS);
    let mut started = 0;
    for _ in 0..threads {
        let (jobs, next, sender) = (jobs.clone(), next.clone(), sender.clone());
        let spawned = thread::Builder::new()
            .name("jobgraph shutdown".into())
            .spawn(move || loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(job) = jobs.get(i) else {
                    return;
                };
                job.node().shutdown();
                let _ = sender.send(i);
            });
        started += usize::from(spawned.is_ok());
    }
    drop(sender);
    let mut returned = vec![false; jobs.len()];
    let mut left = if started == 0 { 0 } else { jobs.len() };
    while left > 0 {
        let now = Instant::now();
        if now >= deadline {
            break;
        }
        match receiver.recv_timeout(deadline - now) {
            Ok(i) => {
                returned[i] = true;
                left -= 1;
            }
            Err(_) => break,
        }
    }
    jobs.iter()
        .zip(returned)
        .filter(|(_, returned)| !returned)
        .map(|(job, _)| job.clone())
        .collect()
}
