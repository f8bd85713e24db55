//! `jobgraph`, the scenario runner: a DAG of shell commands read from a TOML file, run
//! here and on other hosts over ssh with [`jobgraph`] and [`jobgraph_command`].
//!
//! The binary is `src/main.rs`; this library holds its parts, so that they are tested
//! directly too: [`scenario`] (the file format and its checks), [`build`] (schedulers
//! from a scenario), [`journal`] (resuming), [`output`] (what is printed) and [`run`]
//! (a run with Ctrl-C handling, and its summary).

#![warn(missing_docs)]

/// `println!` that ignores a closed stdout (`jobgraph check x | head -1`) instead of
/// panicking.
#[macro_export]
macro_rules! outln {
    ($($arg:tt)*) => {{
        use ::std::io::Write as _;
        let _ = ::std::writeln!(::std::io::stdout().lock(), $($arg)*);
    }};
}

/// `print!` that ignores a closed stdout.
#[macro_export]
macro_rules! out {
    ($($arg:tt)*) => {{
        use ::std::io::Write as _;
        let _ = ::std::write!(::std::io::stdout().lock(), $($arg)*);
    }};
}

/// `eprintln!` that ignores a closed stderr.
#[macro_export]
macro_rules! errln {
    ($($arg:tt)*) => {{
        use ::std::io::Write as _;
        let _ = ::std::writeln!(::std::io::stderr().lock(), $($arg)*);
    }};
}

pub mod build;
pub mod expand;
pub mod journal;
pub mod output;
pub mod resume;
pub mod run;
pub mod scenario;
pub mod submit;
