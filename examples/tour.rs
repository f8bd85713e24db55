//! The walk-through of asynciojobs' README, in jobgraph: examples A to F, the window,
//! nesting. Each example prints a timed trace, as the original does, then `run()`'s
//! result and the listings the README shows (`list()`, and `debrief()` for the runs
//! that fail). The README's pictures (examples B, C, E, F, the nested scheduler and
//! the scheduler nesting it) are written as DOT files, and as PNG files when
//! Graphviz's `dot` is installed, in `target/tour/` (under `CARGO_TARGET_DIR` when it
//! is set).
//!
//! ```text
//! cargo run --release --example tour
//! ```

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use jobgraph::{find_dot, Context, Job, Scheduler, Sequence, Watch};

/// Prints when it starts and ends, sleeps in between, and returns the number of
/// milliseconds it slept: asynciojobs' `in_out` coroutine, as a closure job.
fn in_out(watch: &Watch, seconds: f64) -> impl FnOnce(&Context<'_>) -> f64 + Send + 'static {
    let watch = watch.clone();
    move |ctx| {
        watch.print_elapsed(&format!("-> in_out({seconds})\n"));
        ctx.sleep(Duration::from_secs_f64(seconds));
        watch.print_elapsed(&format!("<- in_out({seconds})\n"));
        1000.0 * seconds
    }
}

/// The error of `boom`.
#[derive(Debug)]
struct Boom(f64);

impl fmt::Display for Boom {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "boom after {}s", self.0)
    }
}

impl std::error::Error for Boom {}

/// Sleeps, then fails: asynciojobs' `boom` coroutine.
fn boom(seconds: f64) -> impl FnOnce(&Context<'_>) -> Result<(), Boom> + Send + 'static {
    move |ctx| {
        ctx.sleep(Duration::from_secs_f64(seconds));
        Err(Boom(seconds))
    }
}

/// Loops, printing, until the run's timeout cancels it: asynciojobs' `forever`.
fn forever(watch: &Watch) -> impl FnOnce(&Context<'_>) + Send + 'static {
    let watch = watch.clone();
    move |ctx| {
        for i in 0..100_000 {
            println!("{}: forever {i}", watch.elapsed());
            if !ctx.sleep(Duration::from_millis(100)) {
                break;
            }
        }
    }
}

fn title(text: &str) {
    println!("\n### {text}\n");
}

/// Where the pictures go, and whether Graphviz can draw them as PNG.
struct Pictures {
    dir: PathBuf,
    graphviz: bool,
}

impl Pictures {
    /// `target/tour/`, created; says where it is, and how to get PNG files when
    /// Graphviz is not installed.
    fn new() -> Pictures {
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
        let dir = target.join("tour");
        if let Err(error) = std::fs::create_dir_all(&dir) {
            println!("cannot create {}: {error}", dir.display());
        }
        let graphviz = cfg!(feature = "pictures") && find_dot().is_some();
        println!("pictures go to {}", dir.display());
        if !cfg!(feature = "pictures") {
            println!("built without jobgraph's `pictures` feature: DOT files only");
        } else if !graphviz {
            println!(
                "Graphviz's `dot` is not installed: DOT files only; for PNG pictures too, \
                 install Graphviz (apt-get install graphviz, brew install graphviz)"
            );
        }
        Pictures { dir, graphviz }
    }

    /// Writes `scheduler` as `name.dot`, and `name.png` when Graphviz is there: the
    /// README's `make_png`.
    fn draw(&self, scheduler: &Scheduler, name: &str) {
        let path = self.dir.join(name);
        #[cfg(feature = "pictures")]
        let written = if self.graphviz {
            scheduler.export_as_pngfile(&path)
        } else {
            scheduler.export_as_dotfile(path.with_extension("dot"))
        };
        #[cfg(not(feature = "pictures"))]
        let written = scheduler.export_as_dotfile(path.with_extension("dot"));
        match written {
            Ok(file) if self.graphviz => println!(
                "picture: {} (from {})",
                file.display(),
                file.with_extension("dot").display()
            ),
            Ok(file) => println!("picture: {}", file.display()),
            Err(error) => println!("no picture: {error}"),
        }
    }
}

fn main() {
    let pictures = Pictures::new();
    // Started silently: asynciojobs' `Watch()` prints an empty `000.000` line first.
    let watch = Watch::start();

    title("Example A: running in parallel");
    let (a1, a2, a3) = (
        Job::new(in_out(&watch, 0.1)),
        Job::new(in_out(&watch, 0.2)),
        Job::new(in_out(&watch, 0.25)),
    );
    watch.reset();
    let sa = Scheduler::new();
    sa.add((&a1, &a2, &a3));
    println!("{sa}");
    println!("run() -> {:?}", sa.run());
    println!("a1.result() -> {:?}", a1.result());

    title("Example B: adding requirements");
    let b1 = Job::new(in_out(&watch, 0.1)).label("b1");
    let b2 = Job::new(in_out(&watch, 0.2)).label("b2");
    let b3 = Job::new(in_out(&watch, 0.25));
    b2.add_requires(&b1);
    watch.reset();
    let sb = Scheduler::new();
    sb.add((&b1, &b2, &b3));
    println!("run() -> {:?}", sb.run());
    println!("b1.is_done() -> {}", b1.is_done());
    println!("b3.raised_exception() -> {:?}", b3.raised_exception());
    print!("{}", sb.list());

    title("Example B': the same with a Sequence");
    let sb2 = Scheduler::new();
    sb2.add((
        Sequence::new((
            Job::new(in_out(&watch, 0.1)).label("bp1"),
            Job::new(in_out(&watch, 0.2)).label("bp2"),
        )),
        Job::new(in_out(&watch, 0.25)),
    ));
    watch.reset();
    println!("run() -> {:?}", sb2.run());
    pictures.draw(&sb2, "example-b");

    title("Example C: a forever job, reading a message bus");
    let (bus, inbox) = std::sync::mpsc::channel::<String>();
    let in_out_bus = |seconds: f64, label: &str| {
        let (watch, bus) = (watch.clone(), bus.clone());
        Job::new(move |ctx| {
            let _ = bus.send(format!("{} -> in_out({seconds})", watch.elapsed()));
            ctx.sleep(Duration::from_secs_f64(seconds));
            let _ = bus.send(format!("{} <- in_out({seconds})", watch.elapsed()));
            10.0 * seconds
        })
        .label(label)
    };
    let c1 = in_out_bus(0.2, "c1");
    let c2 = in_out_bus(0.4, "c2");
    let c3 = in_out_bus(0.3, "c3").requires(&c1);
    let c4 = Job::new(move |ctx| {
        while !ctx.is_cancelled() {
            if let Ok(message) = inbox.recv_timeout(Duration::from_millis(10)) {
                println!("BUS: {message}");
            }
        }
    })
    .label("monitor")
    .forever(true);
    watch.reset();
    let sc = Scheduler::new();
    sc.add((&c1, &c2, &c3, &c4));
    println!("run() -> {:?}", sc.run());
    println!("monitor is cancelled: {}", c4.is_cancelled());
    print!("{}", sc.list());
    pictures.draw(&sc, "example-c");

    title("Example D: a global timeout");
    // Not a forever job, as it is in the README: a scheduler of forever jobs alone
    // has nothing to wait for, and ends at once.
    let j = Job::new(forever(&watch));
    watch.reset();
    let sd = Scheduler::new()
        .timeout(Duration::from_millis(250))
        .critical(false);
    sd.add(&j);
    println!("run() -> {:?}   why() -> {}", sd.run(), sd.why());
    println!("{j}");
    print!("{}", sd.debrief());

    title("Example E: non-critical jobs");
    let e1 = Job::new(in_out(&watch, 0.2)).label("begin");
    let e2 = Job::new(boom(0.2)).label("boom").critical(false);
    let e3 = Job::new(in_out(&watch, 0.3)).label("end");
    let se = Scheduler::new().critical(false);
    se.add(Sequence::new((&e1, &e2, &e3)));
    watch.reset();
    println!("run() -> {:?}", se.run());
    println!(
        "boom raised: {:?}",
        e2.raised_exception().map(|e| e.to_string())
    );
    print!("{}", se.list());
    pictures.draw(&se, "example-e");

    title("Example F: critical jobs");
    let f1 = Job::new(in_out(&watch, 0.2)).label("begin");
    let f2 = Job::new(boom(0.2)).label("boom").critical(true);
    let f3 = Job::new(in_out(&watch, 0.3)).label("end");
    let sf = Scheduler::new().critical(false);
    sf.add(Sequence::new((&f1, &f2, &f3)));
    watch.reset();
    println!("run() -> {:?}   why() -> {}", sf.run(), sf.why());
    println!("end never started: {:?}", f3.state());
    print!("{}", sf.list());
    print!("{}", sf.debrief());
    pictures.draw(&sf, "example-f");

    title("Limiting the number of simultaneous jobs: 8 jobs of 0.5 s, window 4");
    let s = Scheduler::new().window(4);
    for i in 1..=8 {
        let watch = watch.clone();
        s.add(Job::new(move |ctx| {
            println!("{} {i}-th job", watch.elapsed());
            ctx.sleep(Duration::from_millis(500));
        }));
    }
    watch.reset();
    println!("run() -> {:?}", s.run());
    println!("total duration = {}s", watch.elapsed());

    title("Nesting schedulers");
    let aprint = |message: &'static str| {
        Job::new(move |ctx| {
            println!("{message}");
            ctx.sleep(Duration::from_millis(100));
        })
        .label(message)
    };
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
    pictures.draw(&sub_sched, "subscheduler");
    print!("{}", main_sched.list());
    pictures.draw(&main_sched, "nested");
    println!("run() -> {:?}", main_sched.run());
    println!("the nested scheduler's result: {:?}", sub_sched.result());
    print!("{}", main_sched.list());
}
