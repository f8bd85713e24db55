//! `jobgraph`: runs a DAG of shell commands described in a TOML scenario file.
//!
//! Exit codes: 0 the run succeeded; 1 a job failed or timed out; 2 a bad scenario or
//! bad usage; 130 interrupted (Ctrl-C).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use jobgraph_cli::build::{build, no_sink, BuildOptions};
use jobgraph_cli::run::{run, RunOptions, EXIT_FAILED, EXIT_OK, EXIT_USAGE};
use jobgraph_cli::scenario::{load, parse_duration, Loaded};
use jobgraph_cli::{errln, out, outln};

/// Runs a DAG of shell commands, here and on other hosts over ssh, from a TOML scenario.
#[derive(Parser, Debug)]
#[command(
    name = "jobgraph",
    version,
    about,
    after_help = "Exit codes: 0 the run succeeded; 1 a job failed or timed out; 2 a bad scenario or bad usage; 130 interrupted (Ctrl-C)."
)]
struct Cli {
    #[command(subcommand)]
    command: Commands,
}

#[derive(Subcommand, Debug)]
enum Commands {
    /// Runs a scenario.
    Run {
        /// The scenario file (TOML).
        file: PathBuf,
        /// At most this many jobs at once (overrides the file's `window`).
        #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
        window: Option<u64>,
        /// A timeout for the whole run: seconds, or `500ms`, `30s`, `2m`, `1h`
        /// (overrides the file's `timeout`).
        #[arg(long, value_parser = parse_duration)]
        timeout: Option<Duration>,
        /// Shows what would run, with the commands; runs nothing.
        #[arg(long)]
        dry_run: bool,
        /// Also prints each job's start and end, and the listing at the end.
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
        /// Records each ended job in FILE (synced as each job ends).
        #[arg(long, value_name = "FILE")]
        journal: Option<PathBuf>,
        /// Skips the jobs the journal says ended with status 0, with the same command,
        /// host and env; needs --journal.
        #[arg(long, requires = "journal")]
        resume: bool,
    },
    /// Checks a scenario (syntax, references, cycles) and prints its listing.
    Check {
        /// The scenario file (TOML).
        file: PathBuf,
    },
    /// Draws a scenario's graph: DOT, or PNG/SVG with Graphviz's `dot`.
    Graph {
        /// The scenario file (TOML).
        file: PathBuf,
        /// Where to write it; the extension (.dot, .png, .svg) says the format.
        #[arg(short, long, value_name = "OUT")]
        output: PathBuf,
    },
}

fn load_or_report(file: &Path) -> Result<Loaded, i32> {
    load(file).map_err(|e| {
        errln!("jobgraph: error: {e}");
        EXIT_USAGE
    })
}

fn built(loaded: &Loaded) -> jobgraph_cli::build::Built {
    build(
        loaded,
        &BuildOptions {
            window: None,
            timeout: None,
            sink: &no_sink,
            resume: None,
        },
    )
}

fn main_code(cli: Cli) -> i32 {
    match cli.command {
        Commands::Run {
            file,
            window,
            timeout,
            dry_run,
            verbose,
            quiet,
            raw,
            logs,
            journal,
            resume,
        } => {
            let loaded = match load_or_report(&file) {
                Ok(loaded) => loaded,
                Err(code) => return code,
            };
            let options = RunOptions {
                window: window.map(|w| w as usize),
                timeout,
                dry_run,
                verbose,
                quiet,
                raw,
                logs,
                journal,
                resume,
            };
            run(&loaded, &options)
        }
        Commands::Check { file } => {
            let loaded = match load_or_report(&file) {
                Ok(loaded) => loaded,
                Err(code) => return code,
            };
            let built = built(&loaded);
            out!("{}", built.scheduler.list().details());
            outln!(
                "{}: ok, {} job(s) in {} scheduler(s)",
                file.display(),
                built.jobs.len(),
                built.schedulers.len()
            );
            EXIT_OK
        }
        Commands::Graph { file, output } => {
            let loaded = match load_or_report(&file) {
                Ok(loaded) => loaded,
                Err(code) => return code,
            };
            let scheduler = built(&loaded).scheduler;
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
