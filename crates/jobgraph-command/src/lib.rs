//! Command jobs, ssh jobs and Slurm jobs for [`jobgraph`]: what `apssh` is to asynciojobs.
//!
//! * [`CommandJob`] runs a program on this machine (argv without a shell, or `sh -c`
//!   when asked), in its own process group, streaming its output line by line to a
//!   [`Sink`] and keeping its tail; a status other than 0 fails the job, naming the
//!   command. Cancellation and timeouts kill the whole group (SIGTERM, then SIGKILL
//!   after a grace); the job returns only once nothing of it is left running.
//! * [`SshJob`] runs a command on another host through the system's OpenSSH client,
//!   over one shared connection per [`SshHost`], closed by the scheduler's shutdown
//!   hook ([`Scheduler::shutdown`](jobgraph::Scheduler::shutdown)).
//! * [`SshPush`] and [`SshPull`] copy files to and from a host with the system's `scp`
//!   (SFTP protocol, so no remote shell ever reads a path: paths are taken literally,
//!   glob characters and a leading `~` included), and [`SshScript`] sends a local
//!   script (a file or a text) to a host, runs it there with arguments as an
//!   [`SshJob`] would, and removes it: apssh's `Push`, `Pull` and `RunScript`. They go
//!   through the same shared connection and session slots as the host's ssh jobs, and
//!   are cancelled the same way.
//! * [`SlurmJob`] runs a program on a Slurm cluster (see "Slurm jobs" below).
//!
//! This is a crate of its own, beside `jobgraph` rather than inside it, so that the
//! core scheduler stays free of processes, signals, pipes and Unix-only code (and of
//! `unsafe`: the few system calls here, `killpg`, `poll`, `waitid`, `pidfd_open`, are
//! in one private module of this crate). It needs Linux (pidfds are used when the
//! kernel has them, 5.3 and later; polling otherwise).
//!
//! ```
//! use jobgraph::{Job, Scheduler};
//! use jobgraph_command::{CommandJob, CommandError};
//!
//! let fails = Job::custom(CommandJob::new(["sh", "-c", "echo oops >&2; exit 3"])).label("fails");
//! let s = Scheduler::new().critical(false).add(&fails).clone();
//! assert!(!s.run().unwrap());
//! let error = fails.raised_exception().unwrap();
//! let error = error.downcast_ref::<CommandError>().unwrap();
//! assert_eq!(error.status().unwrap().code(), Some(3));
//! assert!(error.to_string().contains("oops"));
//! ```
//!
//! # Slurm jobs
//!
//! A [`SlurmJob`] runs its program through Slurm's client tools (`sbatch`, `srun`,
//! `squeue`, `scancel`, `scontrol`), never through a shell of this process; its
//! [`Slurm`] resources (CPUs per task, memory, time limit, partition, GRES, account,
//! QoS, extra `--name=value` options) are checked before anything is submitted.
//!
//! * Inside an allocation (`SLURM_JOB_ID` set, as in `salloc` or a batch script, or
//!   [`Placement::Allocation`] given), each job is a step, `srun --exclusive -n1`, a
//!   local process like a command job's: tens of milliseconds per job.
//! * Outside one, each job is a batch job of its own (`sbatch`), whose output files
//!   are followed line by line while it runs: a submission, a scheduling pass and a
//!   polling round per job, about half a second on an idle single-node cluster.
//!
//! Whatever the number of jobs, one poller thread per process asks Slurm about all of
//! them with one `squeue` per round ([`slurm_queries`]). A job succeeds only when Slurm
//! says `COMPLETED` with exit code 0; any other end is a [`CommandError::Slurm`] naming
//! the Slurm job id and state ([`SlurmState`]). Cancelled jobs are `scancel`led and
//! waited for, so a run leaves nothing in `squeue`; [`cancel_live_slurm_jobs`] is the
//! last resort of a program stopped abruptly.
//!
//! `tools/slurm/start.sh DIR` starts a single-node cluster on localhost for the tests
//! (as root, without systemd); export `SLURM_CONF=DIR/slurm.conf` for the client tools.

#![warn(missing_docs)]

/// The setters that command, ssh and Slurm jobs share, on their `options`: `env`,
/// `cwd`, `capture_limit`, `sink`, `grace` and `timeout`, each with the doc that says
/// what it means for that kind of job.
macro_rules! option_setters {
    (env: $env:literal, cwd: $cwd:literal, grace: $grace:literal, timeout: $timeout:literal $(,)?) => {
        #[doc = $env]
        pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
            self.options.env.push((key.into(), value.into()));
            self
        }

        #[doc = $cwd]
        pub fn cwd(mut self, dir: impl AsRef<std::path::Path>) -> Self {
            self.options.cwd = Some(dir.as_ref().to_path_buf());
            self
        }

        /// Keeps at most this many bytes of each stream, the last ones (default
        /// [`DEFAULT_CAPTURE_LIMIT`](crate::DEFAULT_CAPTURE_LIMIT)); 0 keeps none (lines
        /// still go to the sink).
        pub fn capture_limit(mut self, bytes: usize) -> Self {
            self.options.capture_limit = bytes;
            self
        }

        /// Passes each line of output to `sink` as it comes.
        pub fn sink(mut self, sink: crate::Sink) -> Self {
            self.options.sink = Some(sink);
            self
        }

        #[doc = $grace]
        pub fn grace(mut self, grace: std::time::Duration) -> Self {
            self.options.grace = grace;
            self
        }

        #[doc = $timeout]
        pub fn timeout(mut self, timeout: std::time::Duration) -> Self {
            self.options.timeout = Some(timeout);
            self
        }
    };
}

mod command;
mod host;
mod output;
mod process;
mod quote;
mod script;
mod slurm;
mod ssh;
mod transfer;

pub use command::{is_env_name, CommandJob, Program, DEFAULT_CAPTURE_LIMIT, DEFAULT_GRACE};
pub use host::{check_option, HostError, SshHost, SshTarget};
pub use output::{Captured, CommandError, CommandOutput, Line, Sink, Stream};
pub use process::{kill_live_process_groups, live_process_groups};
pub use quote::{quote, quote_words};
pub use script::SshScript;
pub use slurm::{
    cancel_live_slurm_jobs, is_job_id, live_slurm_jobs, scancel, slurm_queries, slurm_rounds,
    slurm_status, Placement, Slurm, SlurmJob, SlurmState, SlurmStatus, Submitted, STEP_GRACE,
};
pub use ssh::SshJob;
pub use transfer::{SshPull, SshPush};
