//! A scenario's run: events to output and journal, Ctrl-C, the summary, the exit code.
//!
//! One meaning of failed, for the summary, the debrief and the exit code: the run
//! *succeeded* when no job that the file marks critical failed and the run did not
//! time out, as asynciojobs (and the library's `run()`) say; a non-critical job that
//! failed is told in the debrief and the summary, without making the run fail, unless
//! `--strict`.

use std::collections::BTreeMap;
use std::future::Future;
use std::path::PathBuf;
use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Poll, Wake, Waker};
use std::thread::{self, Thread};
use std::time::{Duration, Instant};

use jobgraph::{AnyJob, EventKind, JobState};
use jobgraph_command::{
    cancel_live_slurm_jobs, kill_live_process_groups, live_process_groups, live_slurm_jobs,
    CommandError, Submitted,
};
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};

use crate::build::{build, BuildOptions, Built, JobInfo, NotRun, OnFailure, SLURM_GRACE};
use crate::journal::Journal;
use crate::output::{sink_for, Printer};
use crate::resume::{decide, Decision};
use crate::scenario::Loaded;

/// Exit code: the run succeeded.
pub const EXIT_OK: i32 = 0;
/// Exit code: the run failed: a critical job failed or timed out, or the run did (or,
/// with `--strict`, any job failed).
pub const EXIT_FAILED: i32 = 1;
/// Exit code: a bad scenario or bad usage.
pub const EXIT_USAGE: i32 = 2;
/// Exit code: interrupted by Ctrl-C (SIGINT), SIGTERM, or SIGHUP (its terminal gone).
pub const EXIT_INTERRUPTED: i32 = 130;

/// What `jobgraph run` was asked.
#[derive(Debug, Default, Clone)]
pub struct RunOptions {
    /// Overrides the scenario's window.
    pub window: Option<usize>,
    /// Overrides the scenario's timeout.
    pub timeout: Option<Duration>,
    /// Shows what would run, runs nothing.
    pub dry_run: bool,
    /// Prints each job's start and end, and the full listing and the critical path at
    /// the end.
    pub verbose: bool,
    /// Prints no job output and no progress bar: only failures and the summary.
    pub quiet: bool,
    /// Shows the jobs' output as the commands wrote it, escape sequences included.
    pub raw: bool,
    /// One stdout and one stderr file per job in this directory.
    pub logs: Option<PathBuf>,
    /// The journal to write.
    pub journal: Option<PathBuf>,
    /// Where to write the run's timeline as a Chrome trace.
    pub trace: Option<PathBuf>,
    /// Skip the jobs the journal says are done.
    pub resume: bool,
    /// Start a journal that holds records anew.
    pub fresh: bool,
    /// Fail the run (exit 1) when any job failed, a non-critical one too.
    pub strict: bool,
    /// How a failure changes the run.
    pub on_failure: OnFailure,
    /// Places every command job without a host on Slurm.
    pub slurm: bool,
}

/// How many jobs ended how.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Tally {
    /// Done without error (skipped ones and stopped forever jobs included).
    pub ok: usize,
    /// Of the ok ones, those skipped because the journal says they are done.
    pub skipped: usize,
    /// Failed (or timed out on their own timeout).
    pub failed: usize,
    /// Of the failed ones, those the file marks critical.
    pub failed_critical: usize,
    /// Never started.
    pub not_run: usize,
    /// Stopped by the run before they ended (not forever jobs).
    pub cancelled: usize,
}

impl Tally {
    /// Counts the command jobs of a built scenario.
    pub fn of(built: &Built) -> Tally {
        let mut tally = Tally::default();
        for (job, info) in &built.jobs {
            if let Some(error) = job.raised_exception() {
                if error.downcast_ref::<NotRun>().is_some() {
                    tally.not_run += 1;
                } else {
                    tally.failed += 1;
                    tally.failed_critical += usize::from(info.critical);
                }
                continue;
            }
            match job.state() {
                JobState::Done => {
                    tally.ok += 1;
                    tally.skipped += usize::from(info.skipped);
                }
                JobState::Cancelled | JobState::Running if info.forever => tally.ok += 1,
                JobState::Cancelled | JobState::Running => tally.cancelled += 1,
                JobState::Idle | JobState::Scheduled => tally.not_run += 1,
            }
        }
        tally
    }
}

impl std::fmt::Display for Tally {
    /// `12 ok, 1 failed, 2 not run` (and `, 1 cancelled`, `(3 done before)` when so).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ok", self.ok)?;
        if self.skipped > 0 {
            write!(f, " ({} done in a previous run)", self.skipped)?;
        }
        write!(f, ", {} failed", self.failed)?;
        let non_critical = self.failed - self.failed_critical;
        if non_critical > 0 && self.failed_critical > 0 {
            write!(f, " ({non_critical} non-critical)")?;
        } else if non_critical > 0 {
            write!(f, " (non-critical)")?;
        }
        write!(f, ", {} not run", self.not_run)?;
        if self.cancelled > 0 {
            write!(f, ", {} cancelled", self.cancelled)?;
        }
        Ok(())
    }
}

struct ThreadWaker(Thread);

impl Wake for ThreadWaker {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
}

/// Signals received: the first cancels the run, the second exits at once. SIGHUP too:
/// each command runs in a process group of its own, which a closed terminal's hangup
/// does not reach, so a runner that died of it would leave them all running.
fn watch_signals(main: Thread) -> Arc<AtomicUsize> {
    let count = Arc::new(AtomicUsize::new(0));
    let seen = count.clone();
    match signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP]) {
        Ok(mut signals) => {
            thread::Builder::new()
                .name("jobgraph signals".into())
                .spawn(move || {
                    for _ in signals.forever() {
                        if seen.fetch_add(1, Ordering::SeqCst) == 0 {
                            errln!(
                                "jobgraph: interrupted: stopping the run (again to exit at once)"
                            );
                            main.unpark();
                        } else {
                            kill_live_process_groups(libc::SIGKILL);
                            cancel_live_slurm_jobs();
                            errln!("jobgraph: interrupted again: killed what ran, exiting");
                            std::process::exit(EXIT_INTERRUPTED);
                        }
                    }
                })
                .ok();
        }
        Err(e) => errln!("jobgraph: cannot watch for Ctrl-C: {e}"),
    }
    count
}

fn failure_status(error: &jobgraph::JobError) -> String {
    if error.is_timeout() {
        return "timeout".into();
    }
    match error.downcast_ref::<CommandError>() {
        Some(CommandError::Failed { status, .. }) => match status.code() {
            Some(code) => code.to_string(),
            None => "killed".into(),
        },
        Some(CommandError::TimedOut { .. }) => "timeout".into(),
        Some(CommandError::Cancelled { .. }) => "cancelled".into(),
        // Slurm's state in its own words: TIMEOUT, OUT_OF_MEMORY, NODE_FAIL, ...
        Some(CommandError::Slurm {
            state, exit_code, ..
        }) => match (state.to_string().as_str(), exit_code) {
            ("FAILED", Some(code)) => code.to_string(),
            (state, _) => state.to_string(),
        },
        _ => "failed".into(),
    }
}

/// Tasks (processes and threads) this user has now, as `ulimit -u` counts them.
fn tasks_of_this_user() -> Option<u64> {
    // SAFETY: getuid has no preconditions and cannot fail.
    let uid = unsafe { libc::getuid() };
    let mut tasks = 0;
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        if !entry
            .file_name()
            .to_string_lossy()
            .bytes()
            .all(|b| b.is_ascii_digit())
        {
            continue;
        }
        let Ok(status) = std::fs::read_to_string(entry.path().join("status")) else {
            continue;
        };
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.split_whitespace().next())
                .and_then(|v| v.parse::<u64>().ok())
        };
        if field("Uid:") == Some(u64::from(uid)) {
            tasks += field("Threads:").unwrap_or(1);
        }
    }
    Some(tasks)
}

/// The window, within what `ulimit -u` leaves: each running command costs a worker
/// thread of the runner and a process (more if it starts others), so a window wider
/// than half the room left would make commands fail to start. Said once when it is
/// narrowed.
fn within_process_budget(window: Option<usize>) -> Option<usize> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct it is given.
    let rc = unsafe { libc::getrlimit(libc::RLIMIT_NPROC, &mut limit) };
    // Root is not held to RLIMIT_NPROC.
    // SAFETY: geteuid has no preconditions and cannot fail.
    if rc != 0 || limit.rlim_cur == libc::RLIM_INFINITY || unsafe { libc::geteuid() } == 0 {
        return window;
    }
    let Some(used) = tasks_of_this_user() else {
        return window;
    };
    // A few tasks of the runner's own (its main and signal threads, an ssh master).
    let room = limit.rlim_cur.saturating_sub(used + 8) / 2;
    let room = room.max(1) as usize;
    let wanted = window
        .filter(|w| *w > 0)
        .unwrap_or(jobgraph::UNLIMITED_WINDOW_WORKERS);
    if wanted <= room {
        return window;
    }
    errln!(
        "jobgraph: warning: `ulimit -u {}` leaves room for {room} command(s) at once ({used} processes and threads of this user run already; each command costs one of each): the window is {room}",
        limit.rlim_cur
    );
    Some(room)
}

/// Runs a checked scenario; returns the exit code.
pub fn run(loaded: &Loaded, options: &RunOptions) -> i32 {
    if let Some(dir) = &options.logs {
        if let Err(e) = std::fs::create_dir_all(dir) {
            errln!(
                "jobgraph: error: cannot make the logs directory {}: {e}",
                dir.display()
            );
            return EXIT_USAGE;
        }
    }
    // A dry run reads the journal it would resume, and writes nothing.
    let journal = match &options.journal {
        Some(path) if !options.dry_run || options.resume => {
            match Journal::open(path, options.resume, options.fresh) {
                Ok(journal) => Some(Arc::new(journal)),
                // In use, or holding an earlier run: the error says it all.
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::AlreadyExists
                    ) =>
                {
                    errln!("jobgraph: error: {e}");
                    return EXIT_USAGE;
                }
                Err(e) => {
                    errln!(
                        "jobgraph: error: cannot open the journal {}: {e}",
                        path.display()
                    );
                    return EXIT_USAGE;
                }
            }
        }
        _ => None,
    };
    let resume = journal
        .as_deref()
        .filter(|_| options.resume)
        .map(|journal| decide(&loaded.scenario, journal));
    let mut printer = Printer::new(options.quiet, options.logs.clone()).raw(options.raw);
    if !options.dry_run {
        printer = printer.with_progress(loaded.scenario.count_jobs() as u64);
    }
    let printer = Arc::new(printer);
    let wants_lines = !options.quiet || options.logs.is_some();
    let sink = |id: &str, prefix: &str| {
        if wants_lines && !options.dry_run {
            printer.touch_logs(id);
            Some(sink_for(&printer, id, prefix))
        } else {
            None
        }
    };
    // Each Slurm batch job's id, by job id, as sbatch gives it.
    let slurm_ids: Arc<Mutex<BTreeMap<String, String>>> = Arc::default();
    let submitted = |id: &str, label: &str| -> Option<Submitted> {
        let ids = slurm_ids.clone();
        let printer = printer.clone();
        let (id, label) = (id.to_string(), jobgraph::printable(label).into_owned());
        let verbose = options.verbose;
        Some(Arc::new(move |slurm_id: &str| {
            if verbose {
                printer.say(&format!("--- [{label}] submitted as Slurm job {slurm_id}"));
            }
            ids.lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(id.clone(), slurm_id.to_string());
        }))
    };
    let window = within_process_budget(
        options
            .window
            .or(loaded.scenario.window.as_ref().map(|w| *w.get_ref())),
    );
    let built = build(
        loaded,
        &BuildOptions {
            window,
            timeout: options.timeout,
            sink: &sink,
            resume: resume.as_ref(),
            on_failure: options.on_failure,
            slurm: options.slurm,
            submitted: &submitted,
        },
    );
    if options.dry_run {
        outln!("{}", built.scheduler.list().details());
        if let Some(decisions) = resume.as_ref().map(|resume| &resume.decisions) {
            let mut ids: Vec<&String> = decisions.keys().collect();
            ids.sort();
            for id in ids {
                match &decisions[id] {
                    Decision::Skip => outln!("skip {id}: done in a previous run"),
                    Decision::Run(why) => outln!("run  {id}: {why}"),
                }
            }
        }
        let skipped = built.jobs.values().filter(|i| i.skipped).count();
        outln!(
            "dry run: {} job(s), {} to run, {} done in a previous run; nothing was run",
            built.jobs.len(),
            built.jobs.len() - skipped,
            skipped
        );
        return EXIT_OK;
    }
    run_built(built, printer, journal, options, &slurm_ids)
}

/// Writes the run's timeline to `path` as a Chrome trace; says so (unless `quiet`),
/// or why not.
fn write_trace(scheduler: &jobgraph::Scheduler, path: &std::path::Path, quiet: bool) {
    let Some(timeline) = scheduler.timeline() else {
        errln!("jobgraph: warning: no trace written: the run did not start");
        return;
    };
    let written = std::fs::File::create(path)
        .map(std::io::BufWriter::new)
        .and_then(|file| timeline.write_chrome_trace(file));
    match written {
        Ok(()) if quiet => {}
        Ok(()) => outln!(
            "trace written to {} (open it in ui.perfetto.dev or chrome://tracing)",
            path.display()
        ),
        Err(e) => errln!(
            "jobgraph: warning: cannot write the trace {}: {e}",
            path.display()
        ),
    }
}

fn run_built(
    built: Built,
    printer: Arc<Printer>,
    journal: Option<Arc<Journal>>,
    options: &RunOptions,
    slurm_ids: &Mutex<BTreeMap<String, String>>,
) -> i32 {
    let infos: Arc<std::collections::HashMap<AnyJob, JobInfo>> = Arc::new(built.jobs.clone());
    for scheduler in &built.schedulers {
        let infos = infos.clone();
        let printer = printer.clone();
        let journal = journal.clone();
        let verbose = options.verbose;
        let _ = scheduler.clone().observe(move |event| {
            let Some(job) = &event.job else { return };
            let Some(info) = infos.get(job) else { return };
            let label = jobgraph::printable(&job.text_label()).into_owned();
            match &event.kind {
                EventKind::Started => {
                    printer.set_message(&label);
                    if verbose {
                        printer.say(&format!("--- [{label}] started"));
                    }
                }
                kind if event.is_job_end() => {
                    printer.job_ended(&info.id);
                    let status = match kind {
                        EventKind::Done => Some("0".to_string()),
                        EventKind::Failed(error) => Some(failure_status(error)),
                        EventKind::TimedOut { .. } => Some("timeout".to_string()),
                        _ => None,
                    };
                    if let (Some(journal), Some(status)) = (&journal, &status) {
                        if !info.skipped {
                            let keys = &info.keys;
                            if let Err(e) = journal.record(&info.id, &keys.full, &keys.own, status)
                            {
                                printer.say(&format!(
                                    "jobgraph: warning: cannot write the journal {}: {e}",
                                    journal.path().display()
                                ));
                            }
                        }
                    }
                    if verbose {
                        let kind = kind.to_string();
                        printer.say(&format!(
                            "--- [{label}] {} ({:.2?})",
                            jobgraph::printable(&kind),
                            event.elapsed
                        ));
                    }
                }
                _ => {}
            }
        });
    }
    if options.verbose || options.trace.is_some() {
        let _ = built.scheduler.clone().record_timeline(true);
    }
    let signals = watch_signals(thread::current());
    let interrupted = || signals.load(Ordering::SeqCst) > 0;
    let waker = Waker::from(Arc::new(ThreadWaker(thread::current())));
    let mut cx = std::task::Context::from_waker(&waker);
    let result = {
        let mut future = pin!(built.scheduler.run_async());
        loop {
            if let Poll::Ready(result) = future.as_mut().poll(&mut cx) {
                break Some(result);
            }
            if interrupted() {
                // Leaving the block drops the future: the run is cancelled.
                break None;
            }
            thread::park_timeout(Duration::from_millis(200));
        }
    };
    if result.is_none() {
        // Cancelled: each command job kills its process group (TERM, then KILL after
        // the grace) and reaps it. Wait for that, then make sure.
        let deadline = Instant::now() + SLURM_GRACE + Duration::from_secs(2);
        while Instant::now() < deadline
            && (!live_process_groups().is_empty()
                || !live_slurm_jobs().is_empty()
                || built.jobs.keys().any(|j| j.is_running()))
        {
            thread::sleep(Duration::from_millis(20));
        }
        kill_live_process_groups(libc::SIGKILL);
    }
    // The last resort: nothing of the run stays in Slurm's queue.
    if !live_slurm_jobs().is_empty() {
        cancel_live_slurm_jobs();
    }
    printer.finish();
    // Shutdown hooks: ssh jobs close their host's shared connection.
    built.scheduler.shutdown();
    for host in &built.hosts {
        host.close();
    }
    let tally = Tally::of(&built);
    let ran = matches!(result, Some(Ok(true)));
    // The run succeeded: no job the file marks critical failed, and no timeout. With
    // --keep-going the jobs are not critical to the engine, so the file's marks count.
    let succeeded = ran && tally.failed_critical == 0;
    let clean = succeeded && tally.failed == 0 && tally.cancelled == 0;
    if !clean {
        let headline = if succeeded {
            Some(format!(
                "the run succeeded; {} non-critical job(s) failed",
                tally.failed
            ))
        } else if ran {
            // --keep-going: the engine went on; the file's critical jobs failed.
            Some(format!(
                "{} critical job(s) failed; --keep-going ran what did not come after them",
                tally.failed_critical
            ))
        } else {
            None
        };
        let debrief = built.scheduler.debrief().silence_done_jobs();
        match headline {
            Some(headline) => out!("{}", debrief.headline(headline)),
            None => out!("{debrief}"),
        }
    } else if options.verbose {
        outln!("{}", built.scheduler.list().details());
        // The debrief of a run that did not go cleanly ends with it already.
        if let Some(timeline) = built.scheduler.timeline() {
            out!("{}", timeline.critical_path());
        }
    }
    if let Some(path) = &options.trace {
        write_trace(&built.scheduler, path, options.quiet);
    }
    match &result {
        // The debrief above tells these already.
        Some(Err(
            jobgraph::Error::JobFailed { .. }
            | jobgraph::Error::JobTimedOut { .. }
            | jobgraph::Error::Timeout { .. },
        )) => {}
        Some(Err(error)) => outln!("jobgraph: {error}"),
        _ => {}
    }
    let ids = slurm_ids.lock().unwrap_or_else(|e| e.into_inner()).clone();
    if !ids.is_empty() {
        const SHOWN: usize = 20;
        let mut text: Vec<String> = ids
            .iter()
            .take(SHOWN)
            .map(|(id, slurm)| format!("{}={slurm}", jobgraph::printable(id)))
            .collect();
        if ids.len() > SHOWN {
            text.push(format!("... ({} in all)", ids.len()));
        }
        outln!("Slurm job ids: {}", text.join(", "));
        if options.verbose {
            outln!(
                "{} Slurm status queries for {} batch job(s) (one squeue a round for all of them)",
                jobgraph_command::slurm_queries(),
                ids.len()
            );
        }
    }
    let log_errors = printer.log_errors();
    if !log_errors.is_empty() {
        // Said as each happened; said again here, where the run's outcome is read.
        outln!(
            "jobgraph: warning: {} log file(s) could not be written (the jobs' outcomes above do not depend on them):",
            log_errors.len()
        );
        for error in &log_errors {
            outln!("    {error}");
        }
    }
    match result {
        None => {
            outln!("interrupted: {tally}");
            EXIT_INTERRUPTED
        }
        Some(_) if succeeded && !(options.strict && tally.failed > 0) => {
            outln!("{tally}");
            EXIT_OK
        }
        Some(_) => {
            if succeeded {
                outln!("{tally}; --strict: a failed job fails the run");
            } else {
                outln!("{tally}");
            }
            EXIT_FAILED
        }
    }
}
