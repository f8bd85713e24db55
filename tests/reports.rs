//! Golden tests of the text reports (asynciojobs' `list`, `debrief`): `list`, `list_safe`, `debrief`, `why`,
//! `stats`, and the `Display` of schedulers and jobs, compared as whole strings with
//! what asynciojobs 0.21.3 prints for the same graphs (listed in insertion order, as
//! its own documentation shows them).
//!
//! Where jobgraph prints something else on purpose, the expected text is jobgraph's
//! and a comment says what asynciojobs prints.

use std::error::Error as StdError;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use jobgraph::{
    AbstractJob, Badge, Context, Debrief, Error, Job, JobState, Listing, PrintJob, Scheduler,
    Sequence, Symbols, Watch,
};

mod support;
use support::{child_test_stdout, poll_until, text};

/// A report as the golden texts show it: with Unicode symbols, whatever the locale.
trait Unicode {
    fn unicode(self) -> String;
}

impl Unicode for Listing {
    fn unicode(self) -> String {
        self.symbols(Symbols::Unicode).to_string()
    }
}

impl Unicode for Debrief {
    fn unicode(self) -> String {
        self.symbols(Symbols::Unicode).to_string()
    }
}

impl Unicode for Badge {
    fn unicode(self) -> String {
        self.symbols(Symbols::Unicode).to_string()
    }
}

/// Asserts how `s` counts its jobs: in its `Display`, and in its `stats()`.
#[track_caller]
fn assert_counts(s: &Scheduler, display: &str, stats: &str) {
    assert_eq!(s.to_string(), display);
    assert_eq!(s.stats(), stats);
}

/// Asserts what `s` says of how its run went: `why()`, `failed_critical()` and
/// `failed_time_out()`.
#[track_caller]
fn assert_why(s: &Scheduler, why: &str, failed_critical: bool, failed_time_out: Option<Duration>) {
    assert_eq!(s.why(), why);
    assert_eq!(s.failed_critical(), failed_critical);
    assert_eq!(s.failed_time_out(), failed_time_out);
}

/// A gate jobs wait at until the test opens it.
#[derive(Clone, Default)]
struct Gate(Arc<AtomicBool>);

impl Gate {
    fn open(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    /// Waits for the gate, or for the run to cancel the job.
    fn pass(&self, ctx: &Context<'_>) {
        while !self.0.load(Ordering::SeqCst) {
            if !ctx.sleep(Duration::from_millis(1)) {
                return;
            }
        }
    }

    /// A job's body: [`pass`](Gate::pass) the gate, then return `value`.
    fn then_return<T: Send + 'static>(
        &self,
        value: T,
    ) -> impl FnOnce(&Context<'_>) -> T + Send + 'static {
        let gate = self.clone();
        move |ctx| {
            gate.pass(ctx);
            value
        }
    }
}

/// A forever job labelled `monitor`: opens `started`, then runs until cancelled.
fn monitor(started: Gate) -> Job<()> {
    Job::new(move |ctx: &Context<'_>| {
        started.open();
        while ctx.sleep(Duration::from_millis(1)) {}
    })
    .label("monitor")
    .forever(true)
}

/// A job labelled `slow` that runs until cancelled.
fn slow_job() -> Job<()> {
    Job::new(|ctx: &Context<'_>| while ctx.sleep(Duration::from_millis(1)) {}).label("slow")
}

/// asynciojobs' `Exception`: the error its seed examples raise.
#[derive(Debug)]
struct Exception(String);

impl fmt::Display for Exception {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl StdError for Exception {}

/// The seed's `in_out` coroutine, without the sleep: returns milliseconds.
fn in_out(seconds: f64) -> impl FnOnce(&Context<'_>) -> f64 + Send + 'static {
    move |_| 1000.0 * seconds
}

/// The seed's `boom` coroutine, without the sleep.
fn boom(seconds: f64) -> impl FnOnce(&Context<'_>) -> Result<(), Exception> + Send + 'static {
    move |_| Err(Exception(format!("boom after {seconds}s")))
}

// ---------------------------------------------------------------------------------
// The seed's examples

#[test]
fn list_of_seed_example_b_before_and_after_the_run() {
    let b1 = Job::new(in_out(0.1)).label("b1");
    let b2 = Job::new(in_out(0.2)).label("b2");
    let b3 = Job::new(in_out(0.25));
    b2.add_requires(&b1);
    let sb = Scheduler::new();
    sb.add((&b1, &b2, &b3));

    assert_counts(
        &sb,
        "Scheduler with 0 done + 0 ongoing + 3 idle = 3 job(s)",
        "0D + 0R + 3I = 3",
    );
    assert_eq!(
        sb.list().unicode(),
        text(&[
            "1 ⚠   ⚐   <Job `b1`> [not done] ",
            "2 ⚠   ⚐   <Job `b2`> [not done] requires={1}",
            "3 ⚠   ⚐   <Job `Job[in_out (...)]`> [not done] ",
        ])
    );
    assert_eq!(
        sb.list_safe().unicode(),
        text(&[
            "⚠   ⚐   .1 <Job `b1`> ",
            "⚠   ⚐   .2 <Job `b2`> requires={.1}",
            "⚠   ⚐   .3 <Job `Job[in_out (...)]`> ",
        ])
    );
    assert_eq!(sb.why(), "FINE");

    assert!(sb.run().unwrap());
    // The seed's listing, character for character.
    assert_eq!(
        sb.list().unicode(),
        text(&[
            "1 ⚠ ☉ ☓   <Job `b1`> [[ -> 100.0]] ",
            "2 ⚠ ☉ ☓   <Job `b2`> [[ -> 200.0]] requires={1}",
            "3 ⚠ ☉ ☓   <Job `Job[in_out (...)]`> [[ -> 250.0]] ",
        ])
    );
    assert_counts(
        &sb,
        "Scheduler with 3 done + 0 ongoing + 0 idle = 3 job(s)",
        "3D + 0R + 0I = 3",
    );
    assert_why(&sb, "FINE", false, None);
    // asynciojobs shows `requires={1}`, the ids of the last listing; a job's Display
    // names its requirements by label, since ids exist only within a listing.
    assert_eq!(
        format!("{:#}", b1.any()),
        "! :) x   <Job `b1`> [[ -> 100.0]] "
    );
    assert_eq!(Badge::of(&b2).unicode(), "⚠ ☉ ☓  ");
    assert_eq!(
        format!("{:#}", b2),
        "! :) x   <Job `b2`> [[ -> 200.0]] requires={`b1`}"
    );
}

#[test]
fn list_of_seed_example_c_shows_the_forever_job_cancelled() {
    let started = Gate::default();
    // Waits for the monitor to be running, so that it is cancelled, not left idle.
    let c1 = Job::new(started.then_return(2.0)).label("c1");
    let c2 = Job::new(|_| 4.0).label("c2");
    let c3 = Job::new(|_| 3.0).label("c3").requires(&c1);
    let c4 = monitor(started);
    let sc = Scheduler::new();
    sc.add((&c1, &c2, &c3, &c4));
    assert!(sc.run().unwrap());
    // The seed's listing, in insertion order.
    assert_eq!(
        sc.list().unicode(),
        text(&[
            "1 ⚠ ☉ ☓   <Job `c1`> [[ -> 2.0]] ",
            "2 ⚠ ☉ ☓   <Job `c2`> [[ -> 4.0]] ",
            "3 ⚠ ☉ ☓   <Job `c3`> [[ -> 3.0]] requires={1}",
            "4 ⚠ ☉ ↺ ∞ <Job `monitor`> [not done] ",
        ])
    );
    assert_counts(
        &sc,
        "Scheduler with 3 done + 1 ongoing + 0 idle = 4 job(s)",
        "3D + 1R + 0I = 4",
    );
}

/// The seed's examples E and F: `begin`, `boom` (critical in F only), then `end`, in
/// a non-critical scheduler.
fn begin_boom_end(critical_boom: bool) -> Scheduler {
    let begin = Job::new(in_out(0.2)).label("begin");
    let fails = Job::new(boom(0.2)).label("boom").critical(critical_boom);
    let end = Job::new(in_out(0.3)).label("end");
    let s = Scheduler::new().critical(false);
    s.add(Sequence::new((&begin, &fails, &end)));
    s
}

#[test]
fn list_of_seed_example_e_shows_the_non_critical_exception() {
    let se = begin_boom_end(false);
    assert!(se.run().unwrap());
    assert_eq!(
        se.list().unicode(),
        text(&[
            "1 ⚠ ☉ ☓   <Job `begin`> [[ -> 200.0]] ",
            "2   ★ ☓   <Job `boom`> !! exception => Exception:boom after 0.2s!! requires={1}",
            "3 ⚠ ☉ ☓   <Job `end`> [[ -> 300.0]] requires={2}",
        ])
    );
    assert_eq!(se.why(), "FINE");
    assert_eq!(
        se.debrief().unicode(),
        text(&[
            "----- FINE",
            "1 ⚠ ☉ ☓   <Job `begin`> [[ -> 200.0]] ",
            "2   ★ ☓   <Job `boom`> !! exception => Exception:boom after 0.2s!! requires={1}",
            "3 ⚠ ☉ ☓   <Job `end`> [[ -> 300.0]] requires={2}",
            "===== 1 job(s) with an exception, including 0 critical",
            "non-critical: boom: exception boom after 0.2s",
        ])
    );
}

#[test]
fn list_of_seed_example_f_shows_the_critical_exception_and_the_job_never_run() {
    let sf = begin_boom_end(true);
    assert!(!sf.run().unwrap());
    assert_eq!(
        sf.list().unicode(),
        text(&[
            "1 ⚠ ☉ ☓   <Job `begin`> [[ -> 200.0]] ",
            "2 ⚠ ★ ☓   <Job `boom`> !! CRIT. EXC. => Exception:boom after 0.2s!! requires={1}",
            "3 ⚠   ⚐   <Job `end`> [not done] requires={2}",
        ])
    );
    assert_eq!(
        sf.list().ascii().to_string(),
        text(&[
            "1 ! :) x   <Job `begin`> [[ -> 200.0]] ",
            "2 ! :( x   <Job `boom`> !! CRIT. EXC. => Exception:boom after 0.2s!! requires={1}",
            "3 !    >   <Job `end`> [not done] requires={2}",
        ])
    );
    assert_why(&sf, "a CRITICAL job has raised an exception", true, None);
    assert_eq!(sf.stats(), "2D + 0R + 1I = 3");
}

#[test]
fn list_of_the_seed_nested_example_before_the_run() {
    let aprint = |label: &str| Job::new(|_| ()).label(label);
    let sub_sched = Scheduler::new().label("critical nested").critical(true);
    let subj1 = aprint("subj1");
    let subj2 = aprint("subj2").requires(&subj1);
    let subj3 = aprint("subj3").requires(&subj1);
    let subj4 = aprint("subj4").requires((&subj2, &subj3));
    sub_sched.add((&subj1, &subj2, &subj3, &subj4));
    let main_sched = Scheduler::new();
    main_sched.add(Sequence::new((
        aprint("main-start"),
        &sub_sched,
        aprint("main-end"),
    )));
    // The seed's listing, character for character.
    let before = text(&[
        "1 ⚠   ⚐   <Job `main-start`> [not done] ",
        "2 ⚠   ⚐   <Scheduler `critical nested`> [not done] requires={1} -> entries={3}",
        "3 ⚠   ⚐   > <Job `subj1`> [not done] ",
        "4 ⚠   ⚐   > <Job `subj2`> [not done] requires={3}",
        "5 ⚠   ⚐   > <Job `subj3`> [not done] requires={3}",
        "6 ⚠   ⚐   > <Job `subj4`> [not done] requires={4, 5}",
        "2 --end-- < <Scheduler `critical nested`> exits={6}",
        "7 ⚠   ⚐   <Job `main-end`> [not done] requires={2}",
    ]);
    assert_eq!(main_sched.list().unicode(), before);
    assert!(main_sched.run().unwrap());
    assert_eq!(
        main_sched.list().unicode(),
        text(&[
            "1 ⚠ ☉ ☓   <Job `main-start`> [[ -> ()]] ",
            "2 ⚠ ☉ ☓   <Scheduler `critical nested`> [[ -> true]] requires={1} -> entries={3}",
            "3 ⚠ ☉ ☓   > <Job `subj1`> [[ -> ()]] ",
            "4 ⚠ ☉ ☓   > <Job `subj2`> [[ -> ()]] requires={3}",
            "5 ⚠ ☉ ☓   > <Job `subj3`> [[ -> ()]] requires={3}",
            "6 ⚠ ☉ ☓   > <Job `subj4`> [[ -> ()]] requires={4, 5}",
            "2 --end-- < <Scheduler `critical nested`> exits={6}",
            "7 ⚠ ☉ ☓   <Job `main-end`> [[ -> ()]] requires={2}",
        ])
    );
}

#[test]
fn list_details_silence_and_debrief_of_the_reference_scheduler() {
    // asynciojobs-behaviour.md §6a, jobs in insertion order.
    let monitor_started = Gate::default();
    let j1 = Job::new(monitor_started.then_return("one")).label("j1");
    let j2 = Job::new(|_| Err::<(), _>(ValueError::new("boom after 0.1s")))
        .label("boom")
        .critical(false)
        .requires(&j1);
    let j3 = Job::new(sleep_ret(3)).requires(&j2);
    let j4 = monitor(monitor_started).critical(false);
    let j5 = Job::custom(PrintJob::new(["hello", "world"]).sleep(Duration::from_millis(50)))
        .requires(&j1);
    let s = Scheduler::new().critical(false).label("top");
    s.add((&j1, &j2, &j3, &j4, &j5));

    let before = [
        "1 ⚠   ⚐   <Job `j1`> [not done] ",
        "2     ⚐   <Job `boom`> [not done] requires={1}",
        "3 ⚠   ⚐   <Job `Job[sleep_ret (...)]`> [not done] requires={2}",
        "4     ⚐ ∞ <Job `monitor`> [not done] ",
        "5 ⚠   ⚐   <PrintJob `NOLABEL`> [not done] requires={1}",
    ];
    assert_eq!(s.list().unicode(), text(&before));
    let mut detailed = before.to_vec();
    detailed.push("[+ sleep 0.05s] msg= hello...");
    assert_eq!(s.list().details().unicode(), text(&detailed));
    assert_eq!(
        s.list_safe().unicode(),
        text(&[
            "⚠   ⚐   .1 <Job `j1`> ",
            "    ⚐   .2 <Job `boom`> requires={.1}",
            "⚠   ⚐   .3 <Job `Job[sleep_ret (...)]`> requires={.2}",
            "    ⚐ ∞ .4 <Job `monitor`> ",
            "⚠   ⚐   .5 <PrintJob `NOLABEL`> requires={.1}",
        ])
    );

    assert!(s.run().unwrap());
    // asynciojobs shows values with str(): `one`, `None`; jobgraph with Debug.
    let after = [
        "1 ⚠ ☉ ☓   <Job `j1`> [[ -> \"one\"]] ",
        "2   ★ ☓   <Job `boom`> !! exception => ValueError:boom after 0.1s!! requires={1}",
        "3 ⚠ ☉ ☓   <Job `Job[sleep_ret (...)]`> [[ -> 3]] requires={2}",
        "4   ☉ ↺ ∞ <Job `monitor`> [not done] ",
        "5 ⚠ ☉ ☓   <PrintJob `NOLABEL`> [[ -> ()]] requires={1}",
    ];
    assert_eq!(s.list().unicode(), text(&after));
    assert_eq!(
        s.list().silence_done_jobs().unicode(),
        text(&["4   ☉ ↺ ∞ <Job `monitor`> [not done] "])
    );
    assert_eq!(
        s.list_safe().silence_done_jobs().unicode(),
        text(&["  ☉ ↺ ∞ .4 <Job `monitor`> "])
    );
    let mut debrief = vec!["----- FINE"];
    debrief.extend(after);
    debrief.extend([
        "===== 1 job(s) with an exception, including 0 critical",
        "non-critical: boom: exception boom after 0.1s",
    ]);
    assert_eq!(s.debrief().unicode(), text(&debrief));
    assert_eq!(
        s.debrief().silence_done_jobs().unicode(),
        text(&[
            "----- FINE",
            "4   ☉ ↺ ∞ <Job `monitor`> [not done] ",
            "===== 1 job(s) with an exception, including 0 critical",
            "non-critical: boom: exception boom after 0.1s",
        ])
    );
    assert_counts(
        &s,
        "Scheduler with 4 done + 1 ongoing + 0 idle = 5 job(s)",
        "4D + 1R + 0I = 5",
    );
    assert_eq!(s.why(), "FINE");
}

/// The reference's `sleep_ret` coroutine, without the sleep.
fn sleep_ret(value: i32) -> impl FnOnce(&Context<'_>) -> i32 + Send + 'static {
    move |_| value
}

/// asynciojobs' `ValueError`, with an optional cause.
#[derive(Debug)]
struct ValueError {
    message: String,
    cause: Option<Exception>,
}

impl ValueError {
    fn new(message: &str) -> Self {
        ValueError {
            message: message.to_string(),
            cause: None,
        }
    }
}

impl fmt::Display for ValueError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl StdError for ValueError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.cause.as_ref().map(|cause| cause as _)
    }
}

// ---------------------------------------------------------------------------------
// Failed runs

/// The line that frames a critical job's error chain in a debrief.
const FRAME: &str = "    ********************";

#[test]
fn debrief_of_a_failed_critical_run_shows_the_error_chain() {
    // asynciojobs-behaviour.md §6b. asynciojobs prints the Python traceback between
    // the BEG and END lines; jobgraph prints the error and its chain of causes.
    let begin = Job::new(|_| 1).label("begin");
    let noncrit = Job::new(|_| Err::<(), _>(ValueError::new("boom after 0.05s")))
        .label("noncrit-boom")
        .critical(false);
    let crit = Job::new({
        let noncrit = noncrit.clone();
        // Fails once the non-critical job has failed, so that both show.
        move |ctx: &Context<'_>| {
            while !noncrit.is_done() && ctx.sleep(Duration::from_millis(1)) {}
            Err::<(), _>(ValueError {
                message: "boom after 0.1s".into(),
                cause: Some(Exception("the disk is full".into())),
            })
        }
    })
    .label("crit-boom");
    let end = Job::new(|_| 3).label("end");
    let s = Scheduler::new().critical(false).label("b1");
    s.add((Sequence::new((&begin, &crit, &end)), &noncrit));
    assert!(!s.run().unwrap());
    assert_why(&s, "a CRITICAL job has raised an exception", true, None);
    assert_eq!(s.stats(), "3D + 0R + 1I = 4");
    assert_eq!(
        s.debrief().unicode(),
        text(&[
            "----- a CRITICAL job has raised an exception",
            "1 ⚠ ☉ ☓   <Job `begin`> [[ -> 1]] ",
            "2 ⚠ ★ ☓   <Job `crit-boom`> !! CRIT. EXC. => ValueError:boom after 0.1s!! requires={1}",
            "3 ⚠   ⚐   <Job `end`> [not done] requires={2}",
            "4   ★ ☓   <Job `noncrit-boom`> !! exception => ValueError:boom after 0.05s!! ",
            "===== 2 job(s) with an exception, including 1 critical",
            FRAME,
            "    ******************** BEG stack for CRITICAL JOB 2 ⚠ ★ ☓   <Job `crit-boom`>",
            FRAME,
            "    ValueError: boom after 0.1s",
            "    caused by: the disk is full",
            FRAME,
            "    ******************** END stack for CRITICAL JOB 2 ⚠ ★ ☓   <Job `crit-boom`>",
            FRAME,
            "non-critical: noncrit-boom: exception boom after 0.05s",
        ])
    );
    // Silenced: the jobs that are done go, the summary stays.
    assert_eq!(
        s.debrief().silence_done_jobs().ascii().to_string(),
        text(&[
            "----- a CRITICAL job has raised an exception",
            "3 !    >   <Job `end`> [not done] requires={2}",
            "===== 2 job(s) with an exception, including 1 critical",
            FRAME,
            "    ******************** BEG stack for CRITICAL JOB 2 ! :( x   <Job `crit-boom`>",
            FRAME,
            "    ValueError: boom after 0.1s",
            "    caused by: the disk is full",
            FRAME,
            "    ******************** END stack for CRITICAL JOB 2 ! :( x   <Job `crit-boom`>",
            FRAME,
            "non-critical: noncrit-boom: exception boom after 0.05s",
        ])
    );
}

#[test]
fn a_critical_scheduler_returns_the_failed_job_error_and_reports_alike() {
    let begin = Job::new(|_| 1).label("begin");
    let crit = Job::new(|_| Err::<(), _>(ValueError::new("zz"))).label("crit-boom");
    let s = Scheduler::new().label("b2");
    s.add(Sequence::new((&begin, &crit)));
    let error = s.run().unwrap_err();
    assert_eq!(error.to_string(), "job `crit-boom` failed: zz");
    assert_eq!(s.why(), "a CRITICAL job has raised an exception");
    assert_eq!(
        s.list().unicode(),
        text(&[
            "1 ⚠ ☉ ☓   <Job `begin`> [[ -> 1]] ",
            "2 ⚠ ★ ☓   <Job `crit-boom`> !! CRIT. EXC. => ValueError:zz!! requires={1}",
        ])
    );
}

#[test]
fn panics_show_as_panic_messages() {
    // asynciojobs has no panics: jobgraph shows one as an exception of type `panic`.
    let calm = Job::new(|_| 1).label("calm");
    let nc = Job::new(|_| -> i32 { panic!("kaboom") })
        .label("nc-panic")
        .critical(false)
        .requires(&calm);
    let crit = Job::new({
        let nc = nc.clone();
        move |ctx: &Context<'_>| -> i32 {
            while !nc.is_done() && ctx.sleep(Duration::from_millis(1)) {}
            panic!("out of {}", "cheese")
        }
    })
    .label("crit-panic");
    let s = Scheduler::new().critical(false);
    s.add((&calm, &nc, &crit));
    assert!(!s.run().unwrap());
    assert_eq!(
        s.debrief().unicode(),
        text(&[
            "----- a CRITICAL job has raised an exception",
            "1 ⚠ ☉ ☓   <Job `calm`> [[ -> 1]] ",
            "2   ★ ☓   <Job `nc-panic`> !! exception => panic:kaboom!! requires={1}",
            "3 ⚠ ★ ☓   <Job `crit-panic`> !! CRIT. EXC. => panic:out of cheese!! ",
            "===== 2 job(s) with an exception, including 1 critical",
            FRAME,
            "    ******************** BEG stack for CRITICAL JOB 3 ⚠ ★ ☓   <Job `crit-panic`>",
            FRAME,
            "    panicked: out of cheese",
            FRAME,
            "    ******************** END stack for CRITICAL JOB 3 ⚠ ★ ☓   <Job `crit-panic`>",
            FRAME,
            "non-critical: nc-panic: exception panicked: kaboom",
        ])
    );
}

#[test]
fn debrief_tells_a_failure_relayed_by_nested_schedulers_once() {
    // asynciojobs re-raises the job's own exception from the nested scheduler, and its
    // debrief looks at the top level only: it tells the failure once, as the nested
    // scheduler's. jobgraph's nested scheduler fails with the job's failure wrapped
    // (`job `x` failed: zz`), and its debrief tells the job's own failure, once.
    let inner = Scheduler::new().label("inner");
    inner.add(Job::new(|_| Err::<(), _>(ValueError::new("zz"))).label("x"));
    let middle = Scheduler::new().label("middle");
    middle.add(&inner);
    let s = Scheduler::new().critical(false);
    s.add(&middle);
    assert!(!s.run().unwrap());
    let relayed = "!! CRIT. EXC. => Error:job `x` failed: zz!!";
    assert_eq!(
        s.debrief().unicode(),
        text(&[
            "----- a CRITICAL job has raised an exception",
            &format!("1 ⚠ ★ ☓   <Scheduler `middle`> {relayed}  -> entries={{2}}"),
            &format!("2 ⚠ ★ ☓   > <Scheduler `inner`> {relayed}  -> entries={{3}}"),
            "3 ⚠ ★ ☓   >> <Job `x`> !! CRIT. EXC. => ValueError:zz!! ",
            "2 --end-- << <Scheduler `inner`> exits={3}",
            "1 --end-- < <Scheduler `middle`> exits={2}",
            "===== 1 job(s) with an exception, including 1 critical",
            FRAME,
            "    ******************** BEG stack for CRITICAL JOB 3 ⚠ ★ ☓   <Job `x`>",
            FRAME,
            "    ValueError: zz",
            FRAME,
            "    ******************** END stack for CRITICAL JOB 3 ⚠ ★ ☓   <Job `x`>",
            FRAME,
        ])
    );
}

#[test]
fn debrief_tells_a_nested_scheduler_that_timed_out() {
    let inner = Scheduler::new()
        .label("slow inner")
        .timeout(Duration::from_millis(200));
    let slow = slow_job();
    inner.add(&slow);
    let s = Scheduler::new().critical(false);
    s.add(&inner);
    assert!(!s.run().unwrap());
    assert_eq!(inner.why(), "TIMED OUT after 0.2s");
    assert_eq!(
        s.debrief().unicode(),
        text(&[
            "----- a CRITICAL job has raised an exception",
            "1 ⚠ ★ ☓   <Scheduler `slow inner`> !! CRIT. EXC. => Error:critical scheduler `slow inner` took too long: timed out after 200ms!!  -> entries={2}",
            "2 ⚠ ☉ ↺   > <Job `slow`> [not done] ",
            "1 --end-- < <Scheduler `slow inner`> exits={2}",
            "===== 1 job(s) with an exception, including 1 critical",
            FRAME,
            "    ******************** BEG stack for CRITICAL JOB 1 ⚠ ★ ☓   <Scheduler `slow inner`>",
            FRAME,
            "    Error: critical scheduler `slow inner` took too long: timed out after 200ms",
            FRAME,
            "    ******************** END stack for CRITICAL JOB 1 ⚠ ★ ☓   <Scheduler `slow inner`>",
            FRAME,
        ])
    );
}

#[test]
fn debrief_of_a_timed_out_run() {
    // asynciojobs-behaviour.md §6b, timeout case.
    let begin = Job::new(|_| 1).label("begin");
    let slow = slow_job();
    let end = Job::new(|_| 3).label("end");
    let s = Scheduler::new()
        .timeout(Duration::from_millis(500))
        .critical(false);
    s.add(Sequence::new((&begin, &slow, &end)));
    assert!(!s.run().unwrap());
    assert_why(
        &s,
        "TIMED OUT after 0.5s",
        false,
        Some(Duration::from_millis(500)),
    );
    assert_counts(
        &s,
        "Scheduler with 1 done + 1 ongoing + 1 idle = 3 job(s)",
        "1D + 1R + 1I = 3",
    );
    assert_eq!(
        s.debrief().unicode(),
        text(&[
            "----- TIMED OUT after 0.5s",
            "1 ⚠ ☉ ☓   <Job `begin`> [[ -> 1]] ",
            "2 ⚠ ☉ ↺   <Job `slow`> [not done] requires={1}",
            "3 ⚠   ⚐   <Job `end`> [not done] requires={2}",
        ])
    );
    assert_eq!(slow.state(), JobState::Cancelled);
}

#[test]
fn a_critical_scheduler_that_times_out_says_so() {
    let slow = slow_job();
    let s = Scheduler::new()
        .label("f1")
        .timeout(Duration::from_millis(200));
    s.add(&slow);
    let error = s.run().unwrap_err();
    assert!(matches!(error, Error::Timeout { .. }), "{error}");
    assert_eq!(
        error.to_string(),
        "critical scheduler `f1` took too long: timed out after 200ms"
    );
    assert_eq!(s.why(), "TIMED OUT after 0.2s");
    assert_eq!(
        s.list().ascii().to_string(),
        text(&["1 ! :) o   <Job `slow`> [not done] "])
    );
}

// ---------------------------------------------------------------------------------
// Nesting

/// start → level 1 [a → level 2 [x → y] → b] → end; `y` runs `inside`.
struct TwoLevels {
    main: Scheduler,
    level1: Scheduler,
    level2: Scheduler,
}

fn two_levels(inside: impl FnOnce(&Context<'_>) + Send + 'static) -> TwoLevels {
    let level2 = Scheduler::new().label("level 2").critical(false);
    let x = Job::new(|_| 1).label("x");
    let y = Job::new(move |ctx: &Context<'_>| {
        inside(ctx);
        2
    })
    .label("y")
    .requires(&x);
    level2.add((&x, &y));
    let level1 = Scheduler::new().label("level 1");
    let a = Job::new(|_| "a").label("a");
    let level2 = level2.requires(&a);
    let b = Job::new(|_| "b").label("b").requires(&level2);
    level1.add((&a, &level2, &b));
    let start = Job::new(|_| 0).label("start");
    let level1 = level1.requires(&start);
    let end = Job::new(|_| 9).label("end").requires(&level1);
    let main = Scheduler::new().label("main");
    main.add((&start, &level1, &end));
    TwoLevels {
        main,
        level1,
        level2,
    }
}

#[test]
fn list_shows_nested_schedulers_two_levels_deep_with_indentation() {
    let g = two_levels(|_| ());
    assert_eq!(
        g.main.list().unicode(),
        text(&[
            "1 ⚠   ⚐   <Job `start`> [not done] ",
            "2 ⚠   ⚐   <Scheduler `level 1`> [not done] requires={1} -> entries={3}",
            "3 ⚠   ⚐   > <Job `a`> [not done] ",
            "4     ⚐   > <Scheduler `level 2`> [not done] requires={3} -> entries={5}",
            "5 ⚠   ⚐   >> <Job `x`> [not done] ",
            "6 ⚠   ⚐   >> <Job `y`> [not done] requires={5}",
            "4 --end-- << <Scheduler `level 2`> exits={6}",
            "7 ⚠   ⚐   > <Job `b`> [not done] requires={4}",
            "2 --end-- < <Scheduler `level 1`> exits={7}",
            "8 ⚠   ⚐   <Job `end`> [not done] requires={2}",
        ])
    );
    assert_eq!(
        g.main.list_safe().unicode(),
        text(&[
            "⚠   ⚐   .1 <Job `start`> ",
            "⚠   ⚐   .2 <Scheduler `level 1`> requires={.1}",
            "⚠   ⚐   2.1 <Job `a`> ",
            "    ⚐   2.2 <Scheduler `level 2`> requires={2.1}",
            "⚠   ⚐   2.2.1 <Job `x`> ",
            "⚠   ⚐   2.2.2 <Job `y`> requires={2.2.1}",
            "--end-- 2.2",
            "⚠   ⚐   2.3 <Job `b`> requires={2.2}",
            "--end-- .2",
            "⚠   ⚐   .3 <Job `end`> requires={.2}",
        ])
    );
    assert!(g.main.run().unwrap());
    // asynciojobs shows the nested results as `True`, `a`, `b` (str()).
    let after = text(&[
        "1 ⚠ ☉ ☓   <Job `start`> [[ -> 0]] ",
        "2 ⚠ ☉ ☓   <Scheduler `level 1`> [[ -> true]] requires={1} -> entries={3}",
        "3 ⚠ ☉ ☓   > <Job `a`> [[ -> \"a\"]] ",
        "4   ☉ ☓   > <Scheduler `level 2`> [[ -> true]] requires={3} -> entries={5}",
        "5 ⚠ ☉ ☓   >> <Job `x`> [[ -> 1]] ",
        "6 ⚠ ☉ ☓   >> <Job `y`> [[ -> 2]] requires={5}",
        "4 --end-- << <Scheduler `level 2`> exits={6}",
        "7 ⚠ ☉ ☓   > <Job `b`> [[ -> \"b\"]] requires={4}",
        "2 --end-- < <Scheduler `level 1`> exits={7}",
        "8 ⚠ ☉ ☓   <Job `end`> [[ -> 9]] requires={2}",
    ]);
    assert_eq!(g.main.list().unicode(), after);
    // Headers and footers stay when done jobs are silenced, as in asynciojobs.
    assert_eq!(
        g.main.list().silence_done_jobs().unicode(),
        text(&[
            "2 ⚠ ☉ ☓   <Scheduler `level 1`> [[ -> true]] requires={1} -> entries={3}",
            "4   ☉ ☓   > <Scheduler `level 2`> [[ -> true]] requires={3} -> entries={5}",
            "4 --end-- << <Scheduler `level 2`> exits={6}",
            "2 --end-- < <Scheduler `level 1`> exits={7}",
        ])
    );
    assert_eq!(
        g.main.to_string(),
        "Scheduler with 3 done + 0 ongoing + 0 idle = 3 job(s)"
    );
    // A nested scheduler lists itself with its own numbering.
    assert_eq!(
        g.level2.list().ascii().to_string(),
        text(&[
            "1 ! :) x   <Job `x`> [[ -> 1]] ",
            "2 ! :) x   <Job `y`> [[ -> 2]] requires={1}",
        ])
    );
    assert_eq!(
        format!("{}", g.level1),
        "Scheduler with 3 done + 0 ongoing + 0 idle = 3 job(s)"
    );
}

#[test]
fn list_taken_inside_a_job_two_levels_deep_shows_the_run_as_it_is() {
    let seen = Arc::new(std::sync::Mutex::new(String::new()));
    let main_slot: Arc<std::sync::Mutex<Option<Scheduler>>> = Arc::default();
    let g = two_levels({
        let (seen, main_slot) = (seen.clone(), main_slot.clone());
        move |_| {
            let main = main_slot.lock().unwrap().take().expect("main is set");
            *seen.lock().unwrap() = main.list().unicode();
        }
    });
    *main_slot.lock().unwrap() = Some(g.main.clone());
    assert!(g.main.run().unwrap());
    assert_eq!(
        *seen.lock().unwrap(),
        text(&[
            "1 ⚠ ☉ ☓   <Job `start`> [[ -> 0]] ",
            "2 ⚠ ☉ ↺   <Scheduler `level 1`> [not done] requires={1} -> entries={3}",
            "3 ⚠ ☉ ☓   > <Job `a`> [[ -> \"a\"]] ",
            "4   ☉ ↺   > <Scheduler `level 2`> [not done] requires={3} -> entries={5}",
            "5 ⚠ ☉ ☓   >> <Job `x`> [[ -> 1]] ",
            "6 ⚠ ☉ ↺   >> <Job `y`> [not done] requires={5}",
            "4 --end-- << <Scheduler `level 2`> exits={6}",
            "7 ⚠   ⚐   > <Job `b`> [not done] requires={4}",
            "2 --end-- < <Scheduler `level 1`> exits={7}",
            "8 ⚠   ⚐   <Job `end`> [not done] requires={2}",
        ])
    );
}

// ---------------------------------------------------------------------------------
// The twenty combinations of the seed's symbol legend

/// The seed's `J`: a job that returns 0, fails, or waits at a gate.
enum J {
    Returns,
    Fails,
    Waits(Gate),
}

/// The error `J` fails with.
#[derive(Debug)]
struct Boom;

impl fmt::Display for Boom {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("boom")
    }
}

impl StdError for Boom {}

impl AbstractJob for J {
    type Output = Result<i32, Boom>;
    fn run(&mut self, ctx: &Context<'_>) -> Result<i32, Boom> {
        match self {
            J::Returns => Ok(0),
            J::Fails => Err(Boom),
            J::Waits(gate) => {
                gate.pass(ctx);
                Ok(0)
            }
        }
    }
}

/// (forever, critical) in the seed's order within each status.
const FLAGS: [(bool, bool); 4] = [(true, true), (false, true), (true, false), (false, false)];

fn seed_label(forever: bool, critical: bool, status: &str, boom: bool) -> String {
    let py = |b: bool| if b { "True" } else { "False" };
    format!(
        "forever={} crit.={} status={status} boom={}",
        py(forever),
        py(critical),
        py(boom)
    )
}

#[test]
fn badges_of_the_twenty_combinations_match_the_seed_legend() {
    // The seed's table, its `NN badge <J `...`>` part: asynciojobs 0.14 printed the
    // rest of each line in an older layout (`- requires {01}`).
    let seed = [
        "01 ⚠   ⚐ ∞ <J `forever=True crit.=True status=idle boom=False`>",
        "02 ⚠   ⚐   <J `forever=False crit.=True status=idle boom=False`>",
        "03     ⚐ ∞ <J `forever=True crit.=False status=idle boom=False`>",
        "04     ⚐   <J `forever=False crit.=False status=idle boom=False`>",
        "05 ⚠   ⚑ ∞ <J `forever=True crit.=True status=scheduled boom=False`>",
        "06 ⚠   ⚑   <J `forever=False crit.=True status=scheduled boom=False`>",
        "07     ⚑ ∞ <J `forever=True crit.=False status=scheduled boom=False`>",
        "08     ⚑   <J `forever=False crit.=False status=scheduled boom=False`>",
        "09 ⚠ ☉ ↺ ∞ <J `forever=True crit.=True status=running boom=False`>",
        "10 ⚠ ☉ ↺   <J `forever=False crit.=True status=running boom=False`>",
        "11   ☉ ↺ ∞ <J `forever=True crit.=False status=running boom=False`>",
        "12   ☉ ↺   <J `forever=False crit.=False status=running boom=False`>",
        "13 ⚠ ★ ☓ ∞ <J `forever=True crit.=True status=done boom=True`>",
        "14 ⚠ ★ ☓   <J `forever=False crit.=True status=done boom=True`>",
        "15   ★ ☓ ∞ <J `forever=True crit.=False status=done boom=True`>",
        "16   ★ ☓   <J `forever=False crit.=False status=done boom=True`>",
        "17 ⚠ ☉ ☓ ∞ <J `forever=True crit.=True status=done boom=False`>",
        "18 ⚠ ☉ ☓   <J `forever=False crit.=True status=done boom=False`>",
        "19   ☉ ☓ ∞ <J `forever=True crit.=False status=done boom=False`>",
        "20   ☉ ☓   <J `forever=False crit.=False status=done boom=False`>",
    ];
    let combinations = [
        (JobState::Idle, "idle", false),
        (JobState::Scheduled, "scheduled", false),
        (JobState::Running, "running", false),
        (JobState::Done, "done", true),
        (JobState::Done, "done", false),
    ];
    let mut lines = Vec::new();
    for (state, status, raised) in combinations {
        for (forever, critical) in FLAGS {
            let badge = Badge {
                critical,
                forever,
                state,
                raised,
                timed_out: false,
                symbols: Symbols::Unicode,
            };
            lines.push(format!(
                "{:02} {badge} <J `{}`>",
                lines.len() + 1,
                seed_label(forever, critical, status, raised)
            ));
        }
    }
    assert_eq!(lines, seed);
    // A cancelled job shows as asynciojobs shows a cancelled task: started, not done.
    let cancelled = Badge {
        critical: true,
        forever: true,
        state: JobState::Cancelled,
        raised: false,
        timed_out: false,
        symbols: Symbols::Unicode,
    };
    assert_eq!(cancelled.to_string(), "⚠ ☉ ↺ ∞");
    assert_eq!(cancelled.symbols(Symbols::Ascii).to_string(), "! :) o 8");
    // A job that timed out (beyond asynciojobs): `⧖` once back, `⧗` while its thread,
    // given up on, still runs.
    let timed_out = Badge {
        critical: false,
        forever: false,
        state: JobState::Done,
        raised: true,
        timed_out: true,
        symbols: Symbols::Unicode,
    };
    assert_eq!(timed_out.to_string(), "  ★ ⧖  ");
    assert_eq!(timed_out.symbols(Symbols::Ascii).to_string(), "  :( T  ");
    let still_running = Badge {
        state: JobState::Running,
        ..timed_out
    };
    assert_eq!(still_running.to_string(), "  ★ ⧗  ");
    assert_eq!(
        still_running.symbols(Symbols::Ascii).to_string(),
        "  :( t  "
    );
}

#[test]
fn list_taken_mid_run_shows_all_twenty_combinations() {
    // What asynciojobs 0.21.3 prints for jobs in these states, in this order (its
    // scheduler given in insertion order).
    let gate = Gate::default();
    let groups = [
        ("done", false),
        ("done", true),
        ("running", false),
        ("scheduled", false),
        ("idle", false),
    ];
    let mut jobs = Vec::new();
    // Idle jobs wait for a running one (not a forever one: requiring a forever job is
    // refused, it would never be done).
    let mut waited_for = None;
    for (status, boom) in groups {
        for (forever, critical) in FLAGS {
            let body = match (status, boom) {
                ("done", false) => J::Returns,
                ("done", true) => J::Fails,
                _ => J::Waits(gate.clone()),
            };
            // The jobs that fail do it as non-critical jobs, or the run would stop:
            // the critical ones become critical once they have failed.
            let job = Job::custom(body)
                .label(seed_label(forever, critical, status, boom))
                .forever(forever)
                .critical(critical && !boom);
            if status == "running" && !forever && waited_for.is_none() {
                waited_for = Some(job.clone());
            }
            if status == "idle" {
                job.add_requires(waited_for.as_ref());
            }
            jobs.push((job, critical));
        }
    }
    // Four workers: the done jobs come and go, the four running ones keep them, and
    // the four after them stay scheduled.
    let s = Scheduler::new().window(4).critical(false);
    for (job, _) in &jobs {
        s.add(job);
    }
    let run = thread::spawn({
        let s = s.clone();
        move || s.run()
    });
    let mid_run = || {
        run.is_finished()
            || jobs[..8].iter().all(|(job, _)| job.is_done())
                && jobs[8..12].iter().all(|(job, _)| job.is_running())
    };
    assert!(
        poll_until(Duration::from_secs(60), Duration::from_millis(1), mid_run),
        "never happened: the first eight jobs are done, the next four running"
    );
    if run.is_finished() {
        panic!("the run ended early: {:?}", run.join());
    }
    for (job, critical) in &jobs[4..8] {
        job.set_critical(*critical);
    }
    assert_eq!(
        s.list().unicode(),
        text(&[
            "01 ⚠ ☉ ☓ ∞ <J `forever=True crit.=True status=done boom=False`> [[ -> 0]] ",
            "02 ⚠ ☉ ☓   <J `forever=False crit.=True status=done boom=False`> [[ -> 0]] ",
            "03   ☉ ☓ ∞ <J `forever=True crit.=False status=done boom=False`> [[ -> 0]] ",
            "04   ☉ ☓   <J `forever=False crit.=False status=done boom=False`> [[ -> 0]] ",
            "05 ⚠ ★ ☓ ∞ <J `forever=True crit.=True status=done boom=True`> !! CRIT. EXC. => Boom:boom!! ",
            "06 ⚠ ★ ☓   <J `forever=False crit.=True status=done boom=True`> !! CRIT. EXC. => Boom:boom!! ",
            "07   ★ ☓ ∞ <J `forever=True crit.=False status=done boom=True`> !! exception => Boom:boom!! ",
            "08   ★ ☓   <J `forever=False crit.=False status=done boom=True`> !! exception => Boom:boom!! ",
            "09 ⚠ ☉ ↺ ∞ <J `forever=True crit.=True status=running boom=False`> [not done] ",
            "10 ⚠ ☉ ↺   <J `forever=False crit.=True status=running boom=False`> [not done] ",
            "11   ☉ ↺ ∞ <J `forever=True crit.=False status=running boom=False`> [not done] ",
            "12   ☉ ↺   <J `forever=False crit.=False status=running boom=False`> [not done] ",
            "13 ⚠   ⚑ ∞ <J `forever=True crit.=True status=scheduled boom=False`> [not done] ",
            "14 ⚠   ⚑   <J `forever=False crit.=True status=scheduled boom=False`> [not done] ",
            "15     ⚑ ∞ <J `forever=True crit.=False status=scheduled boom=False`> [not done] ",
            "16     ⚑   <J `forever=False crit.=False status=scheduled boom=False`> [not done] ",
            "17 ⚠   ⚐ ∞ <J `forever=True crit.=True status=idle boom=False`> [not done] requires={10}",
            "18 ⚠   ⚐   <J `forever=False crit.=True status=idle boom=False`> [not done] requires={10}",
            "19     ⚐ ∞ <J `forever=True crit.=False status=idle boom=False`> [not done] requires={10}",
            "20     ⚐   <J `forever=False crit.=False status=idle boom=False`> [not done] requires={10}",
        ])
    );
    assert_eq!(
        s.list().ascii().to_string(),
        text(&[
            "01 ! :) x 8 <J `forever=True crit.=True status=done boom=False`> [[ -> 0]] ",
            "02 ! :) x   <J `forever=False crit.=True status=done boom=False`> [[ -> 0]] ",
            "03   :) x 8 <J `forever=True crit.=False status=done boom=False`> [[ -> 0]] ",
            "04   :) x   <J `forever=False crit.=False status=done boom=False`> [[ -> 0]] ",
            "05 ! :( x 8 <J `forever=True crit.=True status=done boom=True`> !! CRIT. EXC. => Boom:boom!! ",
            "06 ! :( x   <J `forever=False crit.=True status=done boom=True`> !! CRIT. EXC. => Boom:boom!! ",
            "07   :( x 8 <J `forever=True crit.=False status=done boom=True`> !! exception => Boom:boom!! ",
            "08   :( x   <J `forever=False crit.=False status=done boom=True`> !! exception => Boom:boom!! ",
            "09 ! :) o 8 <J `forever=True crit.=True status=running boom=False`> [not done] ",
            "10 ! :) o   <J `forever=False crit.=True status=running boom=False`> [not done] ",
            "11   :) o 8 <J `forever=True crit.=False status=running boom=False`> [not done] ",
            "12   :) o   <J `forever=False crit.=False status=running boom=False`> [not done] ",
            "13 !    . 8 <J `forever=True crit.=True status=scheduled boom=False`> [not done] ",
            "14 !    .   <J `forever=False crit.=True status=scheduled boom=False`> [not done] ",
            "15      . 8 <J `forever=True crit.=False status=scheduled boom=False`> [not done] ",
            "16      .   <J `forever=False crit.=False status=scheduled boom=False`> [not done] ",
            "17 !    > 8 <J `forever=True crit.=True status=idle boom=False`> [not done] requires={10}",
            "18 !    >   <J `forever=False crit.=True status=idle boom=False`> [not done] requires={10}",
            "19      > 8 <J `forever=True crit.=False status=idle boom=False`> [not done] requires={10}",
            "20      >   <J `forever=False crit.=False status=idle boom=False`> [not done] requires={10}",
        ])
    );
    assert_eq!(
        s.list_safe().ascii().to_string(),
        text(&[
            "! :) x 8 .1 <J `forever=True crit.=True status=done boom=False`> ",
            "! :) x   .2 <J `forever=False crit.=True status=done boom=False`> ",
            "  :) x 8 .3 <J `forever=True crit.=False status=done boom=False`> ",
            "  :) x   .4 <J `forever=False crit.=False status=done boom=False`> ",
            "! :( x 8 .5 <J `forever=True crit.=True status=done boom=True`> ",
            "! :( x   .6 <J `forever=False crit.=True status=done boom=True`> ",
            "  :( x 8 .7 <J `forever=True crit.=False status=done boom=True`> ",
            "  :( x   .8 <J `forever=False crit.=False status=done boom=True`> ",
            "! :) o 8 .9 <J `forever=True crit.=True status=running boom=False`> ",
            "! :) o   .10 <J `forever=False crit.=True status=running boom=False`> ",
            "  :) o 8 .11 <J `forever=True crit.=False status=running boom=False`> ",
            "  :) o   .12 <J `forever=False crit.=False status=running boom=False`> ",
            "!    . 8 .13 <J `forever=True crit.=True status=scheduled boom=False`> ",
            "!    .   .14 <J `forever=False crit.=True status=scheduled boom=False`> ",
            "     . 8 .15 <J `forever=True crit.=False status=scheduled boom=False`> ",
            "     .   .16 <J `forever=False crit.=False status=scheduled boom=False`> ",
            "!    > 8 .17 <J `forever=True crit.=True status=idle boom=False`> requires={.10}",
            "!    >   .18 <J `forever=False crit.=True status=idle boom=False`> requires={.10}",
            "     > 8 .19 <J `forever=True crit.=False status=idle boom=False`> requires={.10}",
            "     >   .20 <J `forever=False crit.=False status=idle boom=False`> requires={.10}",
        ])
    );
    assert_counts(
        &s,
        "Scheduler with 8 done + 4 ongoing + 8 idle = 20 job(s)",
        "8D + 4R + 8I = 20",
    );
    gate.open();
    assert!(run.join().unwrap().unwrap());
    assert!(jobs
        .iter()
        .filter(|(job, _)| !job.is_forever())
        .all(|(job, _)| job.is_done()));
}

// ---------------------------------------------------------------------------------
// Broken graphs, and jobs on their own

#[test]
fn list_safe_and_list_work_on_a_graph_with_a_cycle() {
    // asynciojobs-behaviour.md §6h: its list() raises; list_safe() prints this.
    let a = Job::new(|_| 1).label("a");
    let b = Job::new(|_| 1).label("b").requires(&a);
    let c = Job::new(|_| 1).label("c").requires(&b);
    let d = Job::new(|_| 1).label("d");
    a.add_requires(&c);
    let h = Scheduler::new().critical(false);
    h.add((&a, &b, &c, &d));
    assert_eq!(
        h.list_safe().unicode(),
        text(&[
            "⚠   ⚐   .1 <Job `a`> requires={.3}",
            "⚠   ⚐   .2 <Job `b`> requires={.1}",
            "⚠   ⚐   .3 <Job `c`> requires={.2}",
            "⚠   ⚐   .4 <Job `d`> ",
        ])
    );
    // jobgraph's list() works on any graph: the jobs on a cycle come last.
    assert_eq!(
        h.list().unicode(),
        text(&[
            "1 ⚠   ⚐   <Job `d`> [not done] ",
            "2 ⚠   ⚐   <Job `a`> [not done] requires={4}",
            "3 ⚠   ⚐   <Job `b`> [not done] requires={2}",
            "4 ⚠   ⚐   <Job `c`> [not done] requires={3}",
        ])
    );
}

#[test]
fn a_requirement_outside_the_scheduler_shows_as_question_marks() {
    // asynciojobs-behaviour.md §6g.
    let a = Job::new(|_| 1).label("a");
    let outside = Job::new(|_| 1).label("outside");
    let b = Job::new(|_| 1).label("b").requires((&a, &outside));
    let g = Scheduler::new().critical(false).label("g");
    g.add((&a, &b));
    assert_eq!(
        g.list_safe().unicode(),
        text(&[
            "⚠   ⚐   .1 <Job `a`> ",
            "⚠   ⚐   .2 <Job `b`> requires={.1, ??}",
        ])
    );
    assert_eq!(
        g.list().unicode(),
        text(&[
            "1 ⚠   ⚐   <Job `a`> [not done] ",
            "2 ⚠   ⚐   <Job `b`> [not done] requires={1, ??}",
        ])
    );
}

#[test]
fn a_job_displays_as_its_listing_line_without_the_id() {
    // asynciojobs-behaviour.md §6d; requirements are named by label (asynciojobs
    // shows `{??}` or the ids of the last listing).
    async fn sl() {}
    let one = Job::future(sl());
    let two = Job::new(|_| ())
        .label("two")
        .forever(true)
        .critical(false)
        .requires(&one);
    assert_eq!(
        format!("{:#}", one),
        "!    >   <Job `Job[sl (...)]`> [not done] "
    );
    assert_eq!(
        format!("{:#}", two),
        "     > 8 <Job `two`> [not done] requires={`Job[sl (...)]`}"
    );
    let nested = Scheduler::new();
    nested.add((&one, &two));
    assert_eq!(
        nested.to_string(),
        "Scheduler with 0 done + 0 ongoing + 2 idle = 2 job(s)"
    );
    assert_eq!(
        Scheduler::new().to_string(),
        "Scheduler with 0 done + 0 ongoing + 0 idle = 0 job(s)"
    );
    let outer = Scheduler::new();
    outer.add(&nested);
    assert_eq!(
        outer.list().unicode(),
        text(&[
            "1 ⚠   ⚐   <Scheduler `NOLABEL`> [not done]  -> entries={2}",
            "2 ⚠   ⚐   > <Job `Job[sl (...)]`> [not done] ",
            "3     ⚐ ∞ > <Job `two`> [not done] requires={2}",
            "1 --end-- < <Scheduler `NOLABEL`> exits=",
        ])
    );
}

#[test]
fn ids_are_as_wide_as_the_largest() {
    // asynciojobs numbers ten jobs 1 to 9, then 10; jobgraph 01 to 10.
    let s = Scheduler::new();
    for i in 0..10 {
        s.add(Job::new(move |_| i).label(format!("j{i}")));
    }
    let listing = s.list().ascii().to_string();
    let ids: Vec<&str> = listing.lines().map(|line| &line[..2]).collect();
    assert_eq!(
        ids,
        ["01", "02", "03", "04", "05", "06", "07", "08", "09", "10"]
    );
}

// ---------------------------------------------------------------------------------
// Verbose mode

/// Set for the child process that runs the verbose schedulers.
const VERBOSE_CHILD: &str = "JOBGRAPH_TESTS_VERBOSE_CHILD";

/// A verbose line with its time stamp made constant: `SSS.mmm  ` for a watch's,
/// `HH:MM:SS.mmm ` for the wall clock's; `None` for lines without one.
fn without_time(line: &str) -> Option<String> {
    let shape = |pattern: &str| {
        line.len() > pattern.len()
            && line.bytes().zip(pattern.bytes()).all(|(c, p)| match p {
                b'9' => c.is_ascii_digit(),
                p => c == p,
            })
    };
    if shape("999.999  ") {
        Some(format!("SSS.mmm  {}", &line[9..]))
    } else if shape("99:99:99.999 ") {
        Some(format!("HH:MM:SS.mmm {}", &line[13..]))
    } else if line.starts_with("=== ") {
        Some(line.to_string())
    } else {
        None
    }
}

#[test]
#[ignore = "a child process of verbose_mode_prints_asynciojobs_lines runs it"]
fn verbose_runs_printed_by_a_child_process() {
    assert!(
        std::env::var_os(VERBOSE_CHILD).is_some(),
        "run by verbose_mode_prints_asynciojobs_lines"
    );
    println!("=== a critical failure");
    let a = Job::new(|_| 1).label("a");
    let nc = Job::new(|_| Err::<(), _>(ValueError::new("vb")))
        .label("nc-boom")
        .critical(false);
    let crit = Job::new(|_| Err::<(), _>(ValueError::new("zz"))).label("crit-boom");
    let after = Job::new(|_| ()).label("after");
    let s = Scheduler::new()
        .critical(false)
        .verbose(true)
        .watch(Watch::start());
    s.add(Sequence::new((&a, &nc, &crit, &after)));
    assert!(!s.run().unwrap());

    println!("=== a forever job");
    let started = Gate::default();
    let first = Job::new(|_| ()).label("first");
    let monitor = monitor(started.clone()).critical(false).requires(&first);
    let work = Job::new(started.then_return(()))
        .label("work")
        .requires(&first);
    let s = Scheduler::new().verbose(true).watch(Watch::start());
    s.add((&first, &monitor, &work));
    assert!(s.run().unwrap());

    println!("=== a timeout, without a watch");
    let slow = slow_job();
    let s = Scheduler::new()
        .critical(false)
        .verbose(true)
        .timeout(Duration::from_millis(500));
    s.add(&slow);
    assert!(!s.run().unwrap());
}

#[test]
fn verbose_mode_prints_asynciojobs_lines() {
    // Verbose lines go to the process's stdout: a child process prints them here.
    let stdout = child_test_stdout("verbose_runs_printed_by_a_child_process", |child| {
        child
            .env(VERBOSE_CHILD, "1")
            .env("LANG", "C.UTF-8")
            .env_remove("LC_ALL")
            .env_remove("LC_CTYPE");
    });
    let lines: Vec<String> = stdout.lines().filter_map(without_time).collect();
    let forever = lines
        .iter()
        .position(|line| line == "=== a forever job")
        .unwrap();
    let timeout = lines
        .iter()
        .position(|line| line == "=== a timeout, without a watch")
        .unwrap();
    // As asynciojobs does, the job about to start is printed as it was (`⚐`, counted
    // idle), before its body runs.
    assert_eq!(
        lines[..forever].join("\n"),
        [
            "=== a critical failure",
            "SSS.mmm  SCHEDULER 0D + 0R + 4I = 4: entering run() with 4 jobs",
            "SSS.mmm  0D + 0R + 4I = 4 STARTING: 1 ⚠   ⚐   <Job `a`> [not done] ",
            "SSS.mmm  1D + 0R + 3I = 4 DONE    : 1 ⚠ ☉ ☓   <Job `a`> [[ -> 1]] ",
            "SSS.mmm  1D + 0R + 3I = 4 STARTING: 2     ⚐   <Job `nc-boom`> [not done] requires={1}",
            "SSS.mmm  2D + 0R + 2I = 4 RAISED EXC.: 2   ★ ☓   <Job `nc-boom`> !! exception => ValueError:vb!! requires={1}",
            "SSS.mmm  2D + 0R + 2I = 4 EXCEPTION occurred - on non-critical job: 2   ★ ☓   <Job `nc-boom`> !! exception => ValueError:vb!! requires={1}",
            "SSS.mmm  2D + 0R + 2I = 4 STARTING: 3 ⚠   ⚐   <Job `crit-boom`> [not done] requires={2}",
            "SSS.mmm  3D + 0R + 1I = 4 RAISED EXC.: 3 ⚠ ★ ☓   <Job `crit-boom`> !! CRIT. EXC. => ValueError:zz!! requires={2}",
            "SSS.mmm  3D + 0R + 1I = 4 EXCEPTION occurred - on critical job: 3 ⚠ ★ ☓   <Job `crit-boom`> !! CRIT. EXC. => ValueError:zz!! requires={2}",
            "SSS.mmm  SCHEDULER 3D + 0R + 1I = 4: Emergency exit upon exception in critical job",
        ]
        .join("\n")
    );
    // The monitor and `work` start on two workers, in either order: the rest is fixed.
    let run = &lines[forever + 1..timeout];
    assert_eq!(
        run[..3].join("\n"),
        [
            "SSS.mmm  SCHEDULER 0D + 0R + 3I = 3: entering run() with 3 jobs",
            "SSS.mmm  0D + 0R + 3I = 3 STARTING: 1 ⚠   ⚐   <Job `first`> [not done] ",
            "SSS.mmm  1D + 0R + 2I = 3 DONE    : 1 ⚠ ☉ ☓   <Job `first`> [[ -> ()]] ",
        ]
        .join("\n")
    );
    let mut starting = run[3..5].to_vec();
    starting.sort();
    assert_eq!(starting.len(), 2);
    assert!(starting[0].ends_with("STARTING: 2     ⚐ ∞ <Job `monitor`> [not done] requires={1}"));
    assert!(starting[1].ends_with("STARTING: 3 ⚠   ⚐   <Job `work`> [not done] requires={1}"));
    assert_eq!(
        run[5..].join("\n"),
        [
            "SSS.mmm  2D + 1R + 0I = 3 DONE    : 3 ⚠ ☉ ☓   <Job `work`> [[ -> ()]] requires={1}",
            "SSS.mmm  2D + 1R + 0I = 3 TIDYING forever: 2   ☉ ↺ ∞ <Job `monitor`> [not done] requires={1}",
            "SSS.mmm  2D + 1R + 0I = 3 CANCELLED: 2   ☉ ↺ ∞ <Job `monitor`> [not done] requires={1}",
        ]
        .join("\n")
    );
    // Without a watch, the wall clock.
    assert_eq!(
        lines[timeout + 1..].join("\n"),
        [
            "HH:MM:SS.mmm SCHEDULER 0D + 0R + 1I = 1: entering run() with 1 jobs",
            "HH:MM:SS.mmm 0D + 0R + 1I = 1 STARTING: 1 ⚠   ⚐   <Job `slow`> [not done] ",
            "HH:MM:SS.mmm SCHEDULER 0D + 1R + 0I = 1: TIMEOUT occurred",
            "HH:MM:SS.mmm 0D + 1R + 0I = 1 ABORTING: 1 ⚠ ☉ ↺   <Job `slow`> [not done] ",
            "HH:MM:SS.mmm 0D + 1R + 0I = 1 CANCELLED: 1 ⚠ ☉ ↺   <Job `slow`> [not done] ",
        ]
        .join("\n")
    );
}

#[test]
fn listings_and_debriefs_cut_long_values_and_the_handle_keeps_them_whole() {
    let big = Job::new(|_| (0..4000).collect::<Vec<u32>>()).label("big");
    let s = Scheduler::new();
    s.add(&big);
    assert!(s.run().unwrap());
    for report in [
        s.list().ascii().to_string(),
        s.debrief().ascii().to_string(),
    ] {
        let longest = report.lines().map(str::len).max().unwrap();
        assert!(longest < 200, "a {longest}-byte line in:\n{report}");
        assert!(report.contains("…]]"), "{report}");
    }
    assert!(format!("{big}").len() < 200);
    assert_eq!(big.result().unwrap().len(), 4000);
    assert_eq!(
        big.result_text().unwrap().len(),
        format!("{:?}", big.result().unwrap()).len()
    );
    let whole = s.list().width(None).ascii().to_string();
    assert!(whole.len() > 20_000);
}

/// Set for the child process that sanitizes verbose schedulers.
const SANITIZE_CHILD: &str = "JOBGRAPH_TESTS_SANITIZE_CHILD";

#[test]
#[ignore = "a child process of sanitize_in_verbose_mode_says_what_it_removed runs it"]
fn sanitize_printed_by_a_child_process() {
    assert!(std::env::var_os(SANITIZE_CHILD).is_some());
    let outside = Job::new(|_| 0).label("outside");
    let a = Job::new(|_| 1).label("a").requires(&outside);
    let b = Job::new(|_| 2).label("b").requires((&a, &outside));
    let inner = Job::new(|_| 3).label("inner").requires(&a);
    let nested = Scheduler::new().label("nested").verbose(true);
    nested.add(&inner);
    let s = Scheduler::new().label("outer").verbose(true);
    s.add((&a, &b, &nested));
    assert!(!s.sanitize());
    assert!(s.sanitize());
}

#[test]
fn sanitize_in_verbose_mode_says_what_it_removed() {
    // asynciojobs' sanitize(verbose=True): one line per job that lost requirements.
    let stdout = child_test_stdout("sanitize_printed_by_a_child_process", |child| {
        child.env(SANITIZE_CHILD, "1");
    });
    let warnings: Vec<&str> = stdout.lines().filter(|l| l.starts_with("*****")).collect();
    assert_eq!(
        warnings,
        [
            "********** WARNING: job <Job `a`> in outer had 1 requirements removed",
            "********** WARNING: job <Job `b`> in outer had 1 requirements removed",
            "********** WARNING: job <Job `inner`> in nested had 1 requirements removed",
        ],
        "{stdout}"
    );
}
