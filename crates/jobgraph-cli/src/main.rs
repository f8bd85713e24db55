//! `jobgraph`: runs a DAG of shell commands described in a TOML scenario file.
//!
//! Exit codes: 0 the run succeeded (no critical job failed, no timeout; non-critical
//! failures are told, not counted, unless `--strict`); 1 the run failed; 2 a bad
//! scenario or bad usage; 130 interrupted (Ctrl-C, SIGTERM, or SIGHUP).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use jobgraph_cli::build::{build, BuildOptions, OnFailure};
use jobgraph_cli::expand::{keep_targets, parse_set, read_hosts, Overrides};
use jobgraph_cli::run::{run, RunOptions, EXIT_FAILED, EXIT_OK, EXIT_USAGE};
use jobgraph_cli::scenario::{load_with, parse_duration, GroupDef, JobDef, Loaded};
use jobgraph_cli::{errln, out, outln, submit};

const EXIT_CODES: &str = "Exit codes: 0 the run succeeded: no critical job failed and no timeout (non-critical jobs that failed are told in the debrief and the summary; --strict makes them fail the run); 1 the run failed; 2 a bad scenario or bad usage; 130 interrupted (Ctrl-C, SIGTERM, or SIGHUP: the run is cancelled and its commands killed; a second one exits at once).";

/// Runs a DAG of shell commands, here and on other hosts over ssh, from a TOML scenario.
#[derive(Parser, Debug)]
#[command(name = "jobgraph", version, about, after_help = EXIT_CODES)]
struct Cli {
    #[command(subcommand)]
    command: Commands,
}

/// How the scenario is read: the file and the values given for its variables.
#[derive(Args, Debug)]
struct Source {
    /// The scenario file (TOML).
    file: PathBuf,
    /// Sets the variable NAME for `{NAME}` in the file (over its `[vars]`); repeatable.
    #[arg(long = "set", value_name = "NAME=VALUE", value_parser = parse_set)]
    set: Vec<(String, String)>,
    /// Reads hosts from FILE, one `[user@]host[:port]` a line (`#` comments), as the
    /// list variable `hosts`: `matrix = { host = "{hosts}" }` runs a job on each.
    #[arg(long, value_name = "FILE")]
    hosts: Option<PathBuf>,
}

#[derive(Subcommand, Debug)]
enum Commands {
    /// Runs a scenario, or only TARGETS and what they need.
    #[command(after_help = EXIT_CODES)]
    Run {
        #[command(flatten)]
        source: Source,
        /// Runs only these jobs or groups, and what they require (and the groups they
        /// are in, with what those require). A template's id means all its instances;
        /// `id[name=value]` those with that parameter.
        targets: Vec<String>,
        /// At most this many jobs at once (overrides the file's `window`); 0: no limit.
        #[arg(long)]
        window: Option<usize>,
        /// A timeout for the whole run: seconds, or `500ms`, `30s`, `2m`, `1h`
        /// (overrides the file's `timeout`).
        #[arg(long, value_parser = parse_duration)]
        timeout: Option<Duration>,
        /// Shows what would run, with the commands (and with --resume, which jobs are
        /// skipped and why each other one runs); runs nothing.
        #[arg(long)]
        dry_run: bool,
        /// Also prints each job's start and end, and at the end the listing and the
        /// critical path (the chain of jobs that set the run's length, with their
        /// durations).
        #[arg(long, short, conflicts_with = "quiet")]
        verbose: bool,
        /// Prints no job output and no progress: only failures and the summary.
        #[arg(long, short)]
        quiet: bool,
        /// Prints the jobs' output as the commands wrote it, escape sequences and
        /// control characters included. By default they are shown escaped (`\x1b`),
        /// so that no job can rewrite the terminal; `--logs` files always hold the
        /// exact bytes.
        #[arg(long, conflicts_with = "quiet")]
        raw: bool,
        /// Writes each job's output to DIR/ID.stdout and DIR/ID.stderr (ID: the job's id).
        #[arg(long, value_name = "DIR")]
        logs: Option<PathBuf>,
        /// Records each ended job in FILE (synced as each job ends), locked for the run.
        #[arg(long, value_name = "FILE")]
        journal: Option<PathBuf>,
        /// Writes the run's timeline to FILE as a Chrome trace (JSON): one track per
        /// worker, one slice per attempt of each job. Open it in ui.perfetto.dev or
        /// chrome://tracing.
        #[arg(long, value_name = "FILE")]
        trace: Option<PathBuf>,
        /// Skips each job the journal says succeeded, unless the job changed (its
        /// command, host, env or cwd) or anything it comes after changed or runs again;
        /// needs --journal.
        #[arg(long, requires = "journal", conflicts_with = "fresh")]
        resume: bool,
        /// Empties a journal that holds records of an earlier run (without it, and
        /// without --resume, such a journal is refused, not emptied).
        #[arg(long, requires = "journal")]
        fresh: bool,
        /// Exits 1 when any job failed, a non-critical one too.
        #[arg(long)]
        strict: bool,
        /// Stops at no failure: runs everything that does not come after a failed job
        /// (make's -k); the jobs the file marks critical still decide the exit code.
        #[arg(long, short = 'k', conflicts_with = "halt_on_failure")]
        keep_going: bool,
        /// Stops the run at the first failure, a non-critical job's too.
        #[arg(long)]
        halt_on_failure: bool,
        /// Runs every command job without a `host` on Slurm (with the `[slurm]` table's
        /// settings, unless it says `slurm = false`): a step of the allocation when run
        /// inside one (`SLURM_JOB_ID` set), a batch job otherwise.
        #[arg(long)]
        slurm: bool,
    },
    /// Checks a scenario (syntax, references, cycles) and prints its jobs as they will
    /// run, templates expanded.
    Check {
        #[command(flatten)]
        source: Source,
        /// Shows the command jobs without a `host` as Slurm jobs, as `run --slurm` runs
        /// them.
        #[arg(long)]
        slurm: bool,
    },
    /// Names a scenario's jobs and groups, with what each requires.
    List {
        #[command(flatten)]
        source: Source,
    },
    /// Hands the whole scenario to Slurm at once: one `sbatch` per job, its
    /// requirements as `--dependency` edges, for a run that outlives this command.
    /// Prints the Slurm job ids and writes them to the state folder.
    Submit {
        #[command(flatten)]
        source: Source,
        /// The state folder: the ids, and each job's script and output files
        /// (default: `NAME.slurm` beside the scenario `NAME.toml`).
        #[arg(long, value_name = "DIR")]
        state: Option<PathBuf>,
        /// Submits a scenario with a `window` anyway (Slurm does not keep it).
        #[arg(long)]
        ignore_window: bool,
    },
    /// Lists the jobs of a submitted scenario with their Slurm state (exit 1 when one
    /// ended badly).
    Status {
        /// The state folder `submit` wrote.
        state: PathBuf,
    },
    /// Cancels the jobs of a submitted scenario that have not ended.
    Cancel {
        /// The state folder `submit` wrote.
        state: PathBuf,
    },
    /// Draws a scenario's graph: DOT, or PNG/SVG with Graphviz's `dot`.
    Graph {
        #[command(flatten)]
        source: Source,
        /// Where to write it; the extension (.dot, .png, .svg) says the format.
        #[arg(short, long, value_name = "OUT")]
        output: PathBuf,
    },
}

fn load_or_report(source: &Source) -> Result<Loaded, i32> {
    let hosts = match &source.hosts {
        Some(path) => match read_hosts(path) {
            Ok(hosts) => Some(hosts),
            Err(e) => {
                errln!("jobgraph: error: --hosts {e}");
                return Err(EXIT_USAGE);
            }
        },
        None => None,
    };
    let overrides = Overrides {
        set: source.set.clone(),
        hosts,
    };
    let loaded = load_with(&source.file, &overrides).map_err(|e| {
        errln!("jobgraph: error: {e}");
        EXIT_USAGE
    })?;
    for warning in &loaded.warnings {
        errln!("jobgraph: warning: {warning}");
    }
    Ok(loaded)
}

/// `id  requires a, b` for each job and group, groups' members indented.
fn list(jobs: &[JobDef], groups: &[GroupDef], depth: usize) {
    let indent = "  ".repeat(depth);
    let requires = |r: &[toml::Spanned<String>]| {
        if r.is_empty() {
            String::new()
        } else {
            let names: Vec<&str> = r.iter().map(|r| r.get_ref().as_str()).collect();
            format!("  requires {}", names.join(", "))
        }
    };
    for job in jobs {
        let label = match &job.label {
            Some(label) if label != job.id.get_ref() => {
                format!("  ({})", jobgraph::printable(label))
            }
            _ => String::new(),
        };
        outln!(
            "{indent}{}{label}{}",
            jobgraph::printable(job.id.get_ref()),
            requires(&job.requires)
        );
    }
    for group in groups {
        outln!(
            "{indent}{}/  (group){}",
            group.id.get_ref(),
            requires(&group.requires)
        );
        list(&group.jobs, &group.groups, depth + 1);
    }
}

/// Reads a submitted scenario's state and does `what` with it: exit 2 when the state
/// cannot be read, 1 when Slurm cannot be asked.
fn with_state(
    dir: &std::path::Path,
    what: impl FnOnce(&submit::State) -> Result<i32, String>,
) -> i32 {
    let state = match submit::read_state(dir) {
        Ok((_, state)) => state,
        Err(e) => {
            errln!("jobgraph: error: {e}");
            return EXIT_USAGE;
        }
    };
    what(&state).unwrap_or_else(|e| {
        errln!("jobgraph: error: {e}");
        EXIT_FAILED
    })
}

/// Whether `output` names a file that `input` names too (the same inode): an output
/// that does not exist yet names no input.
fn same_file(output: &Path, input: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(output), std::fs::metadata(input)) {
        (Ok(out), Ok(inp)) => out.dev() == inp.dev() && out.ino() == inp.ino(),
        _ => false,
    }
}

/// Refuses outputs that would overwrite an input, or each other: `--trace s.toml` (a
/// slip of tab completion) wrote the trace over the scenario. `outputs`: each output's
/// flag and path.
fn outputs_apart(source: &Source, outputs: &[(&str, &Path)]) -> Result<(), String> {
    let mut inputs = vec![("the scenario", source.file.as_path())];
    if let Some(hosts) = &source.hosts {
        inputs.push(("the --hosts file", hosts.as_path()));
    }
    for (k, (flag, path)) in outputs.iter().enumerate() {
        let earlier = outputs[..k].iter().map(|(other, path)| (*other, *path));
        for (what, other) in inputs.iter().copied().chain(earlier) {
            if same_file(path, other) || path == &other {
                return Err(format!(
                    "{flag} {} is {what} too: give it a path of its own (nothing was written)",
                    path.display()
                ));
            }
        }
    }
    Ok(())
}

fn main_code(cli: Cli) -> i32 {
    match cli.command {
        Commands::Run {
            source,
            targets,
            window,
            timeout,
            dry_run,
            verbose,
            quiet,
            raw,
            logs,
            journal,
            trace,
            resume,
            fresh,
            strict,
            keep_going,
            halt_on_failure,
            slurm,
        } => {
            let outputs: Vec<(&str, &Path)> = [("--journal", &journal), ("--trace", &trace)]
                .into_iter()
                .filter_map(|(flag, path)| Some((flag, path.as_deref()?)))
                .collect();
            if let Err(e) = outputs_apart(&source, &outputs) {
                errln!("jobgraph: error: {e}");
                return EXIT_USAGE;
            }
            let mut loaded = match load_or_report(&source) {
                Ok(loaded) => loaded,
                Err(code) => return code,
            };
            if let Err(e) = keep_targets(&mut loaded.scenario, &targets) {
                errln!("jobgraph: error: {e}");
                return EXIT_USAGE;
            }
            let options = RunOptions {
                window,
                timeout,
                dry_run,
                verbose,
                quiet,
                raw,
                logs,
                journal,
                trace,
                resume,
                fresh,
                strict,
                on_failure: if keep_going {
                    OnFailure::KeepGoing
                } else if halt_on_failure {
                    OnFailure::Halt
                } else {
                    OnFailure::AsWritten
                },
                slurm,
            };
            run(&loaded, &options)
        }
        Commands::Check { source, slurm } => {
            let loaded = match load_or_report(&source) {
                Ok(loaded) => loaded,
                Err(code) => return code,
            };
            let mut options = BuildOptions::plain();
            options.slurm = slurm;
            let built = build(&loaded, &options);
            out!("{}", built.scheduler.list().details());
            outln!(
                "{}: ok, {} job(s) in {} scheduler(s)",
                source.file.display(),
                built.jobs.len(),
                built.schedulers.len()
            );
            EXIT_OK
        }
        Commands::List { source } => {
            let loaded = match load_or_report(&source) {
                Ok(loaded) => loaded,
                Err(code) => return code,
            };
            list(&loaded.scenario.jobs, &loaded.scenario.groups, 0);
            EXIT_OK
        }
        Commands::Submit {
            source,
            state,
            ignore_window,
        } => {
            let loaded = match load_or_report(&source) {
                Ok(loaded) => loaded,
                Err(code) => return code,
            };
            let dir = state.unwrap_or_else(|| {
                let stem = source
                    .file
                    .file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_else(|| "scenario".into());
                source.file.with_file_name(format!("{stem}.slurm"))
            });
            match submit::submit(&loaded, &dir, ignore_window) {
                Ok(state) => {
                    for job in &state.jobs {
                        outln!("{}  {}", job.slurm_id, jobgraph::printable(&job.id));
                    }
                    outln!(
                        "submitted {} job(s); `jobgraph status {}` follows them, `jobgraph cancel {}` cancels them",
                        state.jobs.len(),
                        dir.display(),
                        dir.display()
                    );
                    EXIT_OK
                }
                Err(e) => {
                    errln!("jobgraph: error: {e}");
                    EXIT_USAGE
                }
            }
        }
        Commands::Status { state } => with_state(&state, |state| {
            let (text, bad) = submit::status(state)?;
            out!("{text}");
            Ok(if bad { EXIT_FAILED } else { EXIT_OK })
        }),
        Commands::Cancel { state } => with_state(&state, |state| {
            let n = submit::cancel(state)?;
            outln!("cancelled {n} job(s) that had not ended");
            Ok(EXIT_OK)
        }),
        Commands::Graph { source, output } => {
            if let Err(e) = outputs_apart(&source, &[("--output", &output)]) {
                errln!("jobgraph: error: {e}");
                return EXIT_USAGE;
            }
            let loaded = match load_or_report(&source) {
                Ok(loaded) => loaded,
                Err(code) => return code,
            };
            let scheduler = build(&loaded, &BuildOptions::plain()).scheduler;
            let extension = output
                .extension()
                .map(|e| e.to_string_lossy().to_lowercase())
                .unwrap_or_default();
            let written = match extension.as_str() {
                "dot" | "gv" => scheduler.export_as_dotfile(&output),
                "png" => scheduler.export_as_pngfile(&output),
                "svg" => scheduler.export_as_svgfile(&output),
                _ => {
                    errln!(
                        "jobgraph: error: cannot tell the format of `{}`: name it .dot, .png or .svg",
                        output.display()
                    );
                    return EXIT_USAGE;
                }
            };
            match written {
                Ok(path) => {
                    outln!("wrote {}", path.display());
                    EXIT_OK
                }
                Err(e) => {
                    errln!("jobgraph: error: {e}");
                    EXIT_FAILED
                }
            }
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let code = main_code(cli);
    ExitCode::from(code as u8)
}
