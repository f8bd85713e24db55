//! The walk-through of asynciojobs' README, in jobgraph: examples A to F, the window,
//! nesting. Each example prints a timed trace, as the original does, then `run()`'s
//! result.
//!
//! ```text
//! cargo run --release --example tour
//! ```

use std::fmt;
use std::time::Duration;

use jobgraph::{Context, Job, Scheduler, Sequence, Watch};

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

fn title(text: &str) {
    println!("\n### {text}\n");
}

fn main() {
    let watch = Watch::new("");

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

    title("Example D: a global timeout");
    let ticker = watch.clone();
    let j = Job::new(move |ctx| {
        for i in 0..100_000 {
            println!("{}: forever {i}", ticker.elapsed());
            if !ctx.sleep(Duration::from_millis(100)) {
                break;
            }
        }
    });
    watch.reset();
    let sd = Scheduler::new()
        .timeout(Duration::from_millis(250))
        .critical(false);
    sd.add(&j);
    println!("run() -> {:?}   why() -> {}", sd.run(), sd.why());
    println!("the job: {:?}", j.state());

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

    title("Example F: critical jobs");
    let f1 = Job::new(in_out(&watch, 0.2)).label("begin");
    let f2 = Job::new(boom(0.2)).label("boom").critical(true);
    let f3 = Job::new(in_out(&watch, 0.3)).label("end");
    let sf = Scheduler::new().critical(false);
    sf.add(Sequence::new((&f1, &f2, &f3)));
    watch.reset();
    println!("run() -> {:?}   why() -> {}", sf.run(), sf.why());
    println!("end never started: {:?}", f3.state());

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
    println!("run() -> {:?}", main_sched.run());
    println!("the nested scheduler's result: {:?}", sub_sched.result());
}
