//! Observers of a scheduler's runs: [`Scheduler::observe`] and [`Scheduler::subscribe`].

use std::sync::{mpsc, Arc};

use super::Scheduler;
use crate::engine::{Event, EventKind};
use crate::sync::Mutex;

impl Scheduler {
    /// Calls `observer` with each event of this scheduler's run (see [`Event`]).
    ///
    /// It is called on the worker threads, as things happen, so it must be quick and
    /// thread-safe; several observers are called in the order they were added. Jobs of
    /// a nested scheduler are reported by that scheduler's own observers. An observer
    /// that panics is not called again, and the run goes on.
    ///
    /// ```
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use std::sync::Arc;
    /// use jobgraph::{EventKind, Job, Scheduler};
    ///
    /// let done = Arc::new(AtomicUsize::new(0));
    /// let counter = done.clone();
    /// let s = Scheduler::new().observe(move |event| {
    ///     if let EventKind::Done = event.kind {
    ///         counter.fetch_add(1, Ordering::Relaxed);
    ///     }
    /// });
    /// s.add((Job::new(|_| 1), Job::new(|_| 2)));
    /// s.run().unwrap();
    /// assert_eq!(done.load(Ordering::Relaxed), 2);
    /// ```
    pub fn observe(self, observer: impl Fn(&Event) + Send + Sync + 'static) -> Self {
        self.inner.conf.lock().observers.push(Arc::new(observer));
        self
    }

    /// A channel that receives each event of this scheduler's run, in the order they
    /// happen (see [`observe`](Scheduler::observe)).
    ///
    /// Events are sent whether or not the receiver keeps up (the channel is unbounded).
    /// The channel closes after [`RunEnded`](EventKind::RunEnded), so iterating the
    /// receiver ends with the run; a run refused before it starts (a mistake in the
    /// graph) sends nothing, and the channel then closes when the scheduler is dropped.
    ///
    /// ```
    /// use jobgraph::{EventKind, Job, Scheduler};
    ///
    /// let s = Scheduler::new();
    /// s.add((Job::new(|_| 1), Job::new(|_| 2)));
    /// let events = s.subscribe();
    /// let progress = std::thread::spawn(move || {
    ///     // Ends with the run.
    ///     events.iter().filter(|event| event.is_job_end()).count()
    /// });
    /// s.run().unwrap();
    /// assert_eq!(progress.join().unwrap(), 2);
    /// ```
    pub fn subscribe(&self) -> mpsc::Receiver<Event> {
        let (sender, receiver) = mpsc::channel();
        let sender = Mutex::new(Some(sender));
        self.inner
            .conf
            .lock()
            .observers
            .push(Arc::new(move |event: &Event| {
                let mut sender = sender.lock();
                if let Some(open) = &*sender {
                    // A receiver that was dropped wants no more events.
                    let _ = open.send(event.clone());
                }
                if let EventKind::RunEnded(_) = event.kind {
                    // The last event of the run: the receiver's iteration ends here.
                    *sender = None;
                }
            }));
        receiver
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use crate::engine::{Event, Observer};
    use crate::report::{Output, Symbols, Verbose};
    use crate::watch::Watch;
    use crate::{Job, Scheduler};

    /// Runs `scheduler` with verbose lines going to a buffer; returns them.
    fn verbose_lines(scheduler: &Scheduler) -> String {
        let buffer = Arc::new(crate::sync::Mutex::new(String::new()));
        let jobs = Arc::new(scheduler.jobs());
        let graph = crate::graph::freeze(scheduler.inner.id, "test", &jobs, || true, drop).unwrap();
        let mut verbose = Verbose::with_output(
            Some(Watch::start()),
            &jobs,
            &graph,
            Output::Buffer(buffer.clone()),
        );
        // Whatever the locale the tests run in.
        verbose.symbols = Symbols::Unicode;
        let observer: Observer = Arc::new(move |event: &Event| verbose.print(event));
        scheduler.inner.conf.lock().observers.push(observer);
        let _ = scheduler.run();
        let text = buffer.lock().clone();
        text
    }

    #[test]
    fn verbose_prints_starting_done_and_raised() {
        let a = Job::new(|_| 1).label("a");
        let boom = Job::new(|_| Err::<(), _>("boom"))
            .label("nc-boom")
            .critical(false)
            .requires(&a);
        let s = Scheduler::new();
        s.add((&a, &boom));
        let text = verbose_lines(&s);
        assert!(
            text.contains("SCHEDULER 0D + 0R + 2I = 2: entering run() with 2 jobs"),
            "{text}"
        );
        assert!(
            text.contains("STARTING: 1 ⚠   ⚐   <Job `a`> [not done]"),
            "{text}"
        );
        assert!(
            text.contains("DONE    : 1 ⚠ ☉ ☓   <Job `a`> [[ -> 1]]"),
            "{text}"
        );
        assert!(
            text.contains("RAISED EXC.: 2   ★ ☓   <Job `nc-boom`> !! exception => "),
            "{text}"
        );
        assert!(
            text.contains("EXCEPTION occurred - on non-critical job"),
            "{text}"
        );
        assert!(text.contains("requires={1}"), "{text}");
    }

    #[test]
    fn verbose_numbers_jobs_as_list_does() {
        // Kahn's order would number d second; list() numbers jobs 1 to 4 as added.
        let a = Job::new(|_| 1).label("a");
        let b = Job::new(|_| 2).label("b").requires(&a);
        let c = Job::new(|_| 3).label("c").requires(&b);
        let d = Job::new(|_| 4).label("d");
        let s = Scheduler::new().window(1);
        s.add((&a, &b, &c, &d));
        let text = verbose_lines(&s);
        assert!(
            text.contains("DONE    : 3 ⚠ ☉ ☓   <Job `c`> [[ -> 3]] requires={2}\n"),
            "{text}"
        );
        assert!(
            text.contains("DONE    : 4 ⚠ ☉ ☓   <Job `d`> [[ -> 4]] \n"),
            "{text}"
        );
    }

    #[test]
    fn verbose_says_which_kind_of_job_raised() {
        let boom = Job::new(|_| Err::<(), _>("zz")).label("crit");
        let s = Scheduler::new().critical(false);
        s.add(&boom);
        let text = verbose_lines(&s);
        assert!(
            text.contains("EXCEPTION occurred - on critical job: 1 ⚠ ★ ☓   <Job `crit`>"),
            "{text}"
        );
    }

    #[test]
    fn verbose_prints_emergency_exit_and_tidying() {
        let boom = Job::new(|_| Err::<(), _>("zz")).label("crit");
        let s = Scheduler::new().critical(false);
        s.add(&boom);
        let text = verbose_lines(&s);
        assert!(text.contains("!! CRIT. EXC. => "), "{text}");
        assert!(
            text.contains("Emergency exit upon exception in critical job"),
            "{text}"
        );

        async fn tick() {
            loop {
                crate::sleep(Duration::from_millis(5)).await;
            }
        }
        let mon = Job::future(tick())
            .label("mon")
            .forever(true)
            .critical(false);
        let a = Job::new(|ctx| ctx.sleep(Duration::from_millis(30))).label("a");
        let s = Scheduler::new();
        s.add((&a, &mon));
        let text = verbose_lines(&s);
        assert!(text.contains("TIDYING forever: "), "{text}");
        assert!(text.contains("<Job `mon`>"), "{text}");
    }

    #[test]
    fn verbose_prints_timeout() {
        let slow = Job::new(|ctx| ctx.sleep(Duration::from_secs(5))).label("slow");
        let s = Scheduler::new()
            .critical(false)
            .timeout(Duration::from_millis(30));
        s.add(&slow);
        let text = verbose_lines(&s);
        assert!(text.contains("TIMEOUT occurred"), "{text}");
        assert!(
            text.contains("ABORTING: 1 ⚠ ☉ ↺   <Job `slow`> [not done] "),
            "{text}"
        );
    }
}
