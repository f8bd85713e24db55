//! The report methods of a scheduler: listings, debrief, DOT text and pictures, each
//! a thin call into `report` over this scheduler's jobs.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::{inner_of, Scheduler};
use crate::error::Error;
use crate::job::AnyJob;
use crate::report::{self, Debrief, Listing, Recorder, Timeline};

impl Scheduler {
    /// Every job, one a line, in the order they can run, numbered depth first
    /// through nested schedulers, as asynciojobs' `list()`:
    ///
    /// ```text
    /// 1 ⚠ ☉ ☓   <Job `b1`> [[ -> 100.0]]
    /// 2 ⚠ ☉ ☓   <Job `b2`> [[ -> 200.0]] requires={1}
    /// ```
    ///
    /// asynciojobs' `list(details=True)` is `list().details()`: each job's
    /// [`details`](crate::AnyJob::details) on the line after it; its
    /// `list(silence_done_jobs=True)` is `list().silence_done_jobs()`: the jobs that are
    /// done left out. Values longer than [`Listing::width`] ([`VALUE_WIDTH`](crate::VALUE_WIDTH), 100 characters, by default)
    /// are cut with `…`; [`Job::result`](crate::Job::result) gives the whole value.
    ///
    /// It works on any graph: jobs on a cycle come last, a requirement outside the
    /// scheduler shows as `??`. The returned value reads the scheduler when it is
    /// printed: print it while the scheduler runs (from any thread, a job of the run
    /// included) to see the run as it is then.
    ///
    /// ```
    /// use jobgraph::{Job, Scheduler};
    /// let s = Scheduler::new();
    /// s.add(Job::new(|_| 1).label("one"));
    /// s.run().unwrap();
    /// println!("{}", s.list());
    /// println!("{}", s.list().details().silence_done_jobs().ascii());
    /// ```
    pub fn list(&self) -> Listing {
        Listing::new(self.as_group(), false)
    }

    /// Every job in insertion order, numbered `.1`, `.2`, … (`3.1`, … inside a nested
    /// scheduler numbered `.3`), without looking at the graph's order: for a graph
    /// that may be broken. asynciojobs' `list_safe()`; `.silence_done_jobs()` leaves
    /// out the jobs that are done.
    pub fn list_safe(&self) -> Listing {
        Listing::new(self.as_group(), true)
    }

    /// Why the run ended, the [`list`](Scheduler::list), then how many jobs failed and
    /// each failure: error chains of critical jobs framed as asynciojobs frames their
    /// stacks, one line for each non-critical one. Failures inside nested schedulers
    /// are told too, each once: a nested scheduler that failed because one of its jobs
    /// did is not told apart from that job. `.details()` and `.silence_done_jobs()`
    /// apply to its listing, as on [`list`](Scheduler::list).
    ///
    /// ```text
    /// ----- a CRITICAL job has raised an exception
    /// 1 ⚠ ☉ ☓   <Job `begin`> [[ -> 1]]
    /// 2 ⚠ ★ ☓   <Job `boom`> !! CRIT. EXC. => ValueError:boom!! requires={1}
    /// 3 ⚠   ⚐   <Job `end`> [not done] requires={2}
    /// ===== 1 job(s) with an exception, including 1 critical
    ///     ********************
    ///     ******************** BEG stack for CRITICAL JOB 2 ⚠ ★ ☓   <Job `boom`>
    ///     ********************
    ///     ValueError: boom
    ///     caused by: the disk is full
    ///     ********************
    ///     ******************** END stack for CRITICAL JOB 2 ⚠ ★ ☓   <Job `boom`>
    ///     ********************
    /// ```
    ///
    /// When the run recorded its timeline ([`record_timeline`](Scheduler::record_timeline)),
    /// it ends with the run's [critical path](Timeline::critical_path), as it was when
    /// the debrief was made:
    ///
    /// ```text
    /// ===== critical path: 3 job(s), 812.4ms of the run's 815.0ms (idle 0.3ms)
    ///     fetch    101.2ms
    ///     slow     600.9ms
    ///     report   110.0ms
    /// ```
    pub fn debrief(&self) -> Debrief {
        let path = self.timeline().map(|timeline| timeline.critical_path());
        Debrief::new(self.list()).with_critical_path(path)
    }

    /// The timeline of the run, when it recorded one
    /// ([`record_timeline`](Scheduler::record_timeline)): each job's start, end, worker,
    /// attempts and outcome, nested schedulers' runs inside their jobs. `None` when
    /// recording was off, or before the run started; while it runs, the timeline so
    /// far (the jobs still running [`Unfinished`](crate::JobEnd::Unfinished)).
    ///
    /// Times count from the start of this scheduler's run: asked of a nested
    /// scheduler, from the start of its own run; asked of its parent, the nested
    /// scheduler's jobs are on the parent's clock.
    ///
    /// ```
    /// use jobgraph::{Job, JobEnd, Scheduler};
    /// let s = Scheduler::new().record_timeline(true).with(Job::new(|_| 1).label("one"));
    /// assert!(s.timeline().is_none());
    /// s.run().unwrap();
    /// let timeline = s.timeline().unwrap();
    /// assert_eq!(timeline.jobs()[0].outcome(), JobEnd::Done);
    /// let json = timeline.chrome_trace(); // for ui.perfetto.dev or chrome://tracing
    /// assert!(json.contains("\"name\":\"one\""));
    /// ```
    pub fn timeline(&self) -> Option<Timeline> {
        let recorder = self.inner.recorder.lock().clone()?;
        let origin = recorder.origin()?;
        let nested = |job: &AnyJob| -> Option<Arc<Recorder>> {
            inner_of(job).and_then(|nested| nested.recorder.lock().clone())
        };
        Some(recorder.timeline(self.inner.label(), origin, &nested))
    }

    /// The graph in DOT, asynciojobs' `dot_format()`: one box per job, labelled
    /// `NN: label` with the [`list`](Scheduler::list) numbering; rounded, dashed when
    /// forever, thick and red when critical; nested schedulers as `cluster_NN`
    /// subgraphs, edges into and out of them drawn to their border (`lhead`, `ltail`).
    /// Once the scheduler has run, each box is filled with its job's outcome (done,
    /// failed, cancelled or still running, not run) and a legend is added; when the run
    /// recorded its timeline ([`record_timeline`](Scheduler::record_timeline)), the
    /// jobs and edges of its [critical path](Timeline::critical_path) are drawn bold
    /// (`penwidth=4`), along the paths of the nested schedulers on it too.
    pub fn dot_format(&self) -> String {
        let timeline = self.timeline();
        report::dot_text(&*self.inner, timeline.as_ref())
    }

    /// Writes [`dot_format`](Scheduler::dot_format) to `path`; needs no external tool.
    /// Returns the path written.
    pub fn export_as_dotfile(&self, path: impl AsRef<Path>) -> Result<PathBuf, Error> {
        let path = path.as_ref().to_path_buf();
        std::fs::write(&path, self.dot_format()).map_err(|source| Error::Write {
            path: path.display().to_string(),
            source: Arc::new(source),
        })?;
        Ok(path)
    }

    /// Draws the graph as a PNG with Graphviz's `dot`: writes the DOT text to
    /// `path.dot`, then the picture to `path.png`, and returns the picture's path.
    /// `target/graph`, `target/graph.png` and `target/graph.dot` all give
    /// `target/graph.dot` and `target/graph.png`; any other extension is kept
    /// (`v1.2` gives `v1.2.png`).
    ///
    /// Needs the `pictures` feature (on by default).
    ///
    /// [`Error::GraphvizMissing`], saying how to install it, when `dot` is not on the
    /// `PATH` (the `.dot` file is written all the same).
    ///
    /// ```no_run
    /// use jobgraph::{Job, Scheduler};
    /// let s = Scheduler::new();
    /// s.add(Job::new(|_| 1).label("one"));
    /// match s.export_as_pngfile("target/one") {
    ///     Ok(png) => println!("wrote {}", png.display()),
    ///     Err(error) => eprintln!("{error}"), // no Graphviz: says how to install it
    /// }
    /// ```
    #[cfg(feature = "pictures")]
    #[cfg_attr(docsrs, doc(cfg(feature = "pictures")))]
    pub fn export_as_pngfile(&self, path: impl AsRef<Path>) -> Result<PathBuf, Error> {
        report::export(self.dot_format(), path.as_ref(), "png", report::find_dot())
    }

    /// The same as [`export_as_pngfile`](Scheduler::export_as_pngfile), as an SVG.
    /// Needs the `pictures` feature (on by default).
    #[cfg(feature = "pictures")]
    #[cfg_attr(docsrs, doc(cfg(feature = "pictures")))]
    pub fn export_as_svgfile(&self, path: impl AsRef<Path>) -> Result<PathBuf, Error> {
        report::export(self.dot_format(), path.as_ref(), "svg", report::find_dot())
    }
}
