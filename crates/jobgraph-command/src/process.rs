//! The run loop shared by command jobs and ssh jobs: spawn a program in its own process
//! group, stream and capture its output, and end it (the whole group) on cancellation
//! or timeout; always reap it.

use std::collections::BTreeSet;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::output::{Captured, CommandError, CommandOutput, Line, LineCutter, Sink, Stream};

/// Process groups of the commands running now, in this process.
static LIVE: Mutex<BTreeSet<i32>> = Mutex::new(BTreeSet::new());

/// The process groups of the commands that command jobs and ssh jobs of this process
/// are running now (each command is the leader of its own group).
///
/// A program that must leave nothing behind when it stops abruptly (a second Ctrl-C)
/// can kill them with [`kill_live_process_groups`].
pub fn live_process_groups() -> Vec<i32> {
    LIVE.lock()
        .map(|set| set.iter().copied().collect())
        .unwrap_or_default()
}

/// Sends `signal` (`libc::SIGTERM`, `libc::SIGKILL`, ...) to every process group in
/// [`live_process_groups`]; returns how many there were.
pub fn kill_live_process_groups(signal: i32) -> usize {
    let groups = live_process_groups();
    for group in &groups {
        killpg(*group, signal);
    }
    groups.len()
}

fn killpg(group: i32, signal: i32) {
    if group > 1 {
        // SAFETY: killpg has no memory effects; a group that is gone gives ESRCH.
        unsafe {
            libc::killpg(group, signal);
        }
    }
}

/// Where a command's standard input comes from.
#[derive(Clone, Debug, Default)]
pub(crate) enum Input {
    /// `/dev/null`.
    #[default]
    Null,
    /// These bytes, then end of file.
    Bytes(Arc<[u8]>),
    /// This file.
    File(PathBuf),
}

/// Everything needed to run one program once.
pub(crate) struct Exec<'a> {
    pub command: Command,
    /// How the command is named in errors: its argv quoted, or its shell text.
    pub display: &'a str,
    pub input: &'a Input,
    pub capture_limit: usize,
    pub sink: Option<&'a Sink>,
    pub label: Arc<str>,
    pub grace: Duration,
    pub timeout: Option<Duration>,
    /// Remove `\r` before each `\n` (output through a pty).
    pub strip_cr: bool,
}

/// How often the loop looks at the run's cancellation flag while nothing happens.
const TICK: Duration = Duration::from_millis(10);
/// How long output may still come after the command ended and its group was killed.
const DRAIN: Duration = Duration::from_millis(500);

struct Pipe {
    reader: Option<File>,
    stream: Stream,
    lines: LineCutter,
    captured: Captured,
    /// A `\r` held back (pty output), dropped if a `\n` follows.
    pending_cr: bool,
}

impl Pipe {
    fn new(fd: Option<OwnedFd>, stream: Stream, limit: usize) -> Pipe {
        Pipe {
            reader: fd.map(File::from),
            stream,
            lines: LineCutter::default(),
            captured: Captured::new(limit),
            pending_cr: false,
        }
    }

    /// Reads once (the fd is readable); false at end of file.
    fn read_once(&mut self, exec: &Exec<'_>, buf: &mut [u8]) -> bool {
        let Some(reader) = self.reader.as_mut() else {
            return false;
        };
        match reader.read(buf) {
            Ok(0) => {
                self.close(exec);
                false
            }
            Ok(n) => {
                self.feed(exec, &buf[..n]);
                true
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => true,
            Err(_) => {
                self.close(exec);
                false
            }
        }
    }

    fn feed(&mut self, exec: &Exec<'_>, data: &[u8]) {
        if !exec.strip_cr {
            return self.feed_clean(exec, data);
        }
        let mut clean = Vec::with_capacity(data.len() + 1);
        for &byte in data {
            if std::mem::take(&mut self.pending_cr) && byte != b'\n' {
                clean.push(b'\r');
            }
            if byte == b'\r' {
                self.pending_cr = true;
            } else {
                clean.push(byte);
            }
        }
        self.feed_clean(exec, &clean);
    }

    fn feed_clean(&mut self, exec: &Exec<'_>, data: &[u8]) {
        self.captured.push(data);
        if exec.sink.is_none() {
            return;
        }
        let (stream, label) = (self.stream, &exec.label);
        if let Some(sink) = exec.sink {
            self.lines.feed(data, |bytes, newline| {
                sink(&Line::of(label, stream, bytes, newline))
            });
        }
    }

    fn close(&mut self, exec: &Exec<'_>) {
        self.reader = None;
        if std::mem::take(&mut self.pending_cr) {
            self.feed_clean(exec, b"\r");
        }
        let (stream, label) = (self.stream, &exec.label);
        if let Some(sink) = exec.sink {
            self.lines
                .finish(|bytes, newline| sink(&Line::of(label, stream, bytes, newline)));
        }
    }

    fn fd(&self) -> Option<RawFd> {
        self.reader.as_ref().map(|r| r.as_raw_fd())
    }
}

/// A pidfd for `pid`: readable once the process has ended (Linux 5.3 and later).
fn pidfd_open(pid: i32) -> Option<OwnedFd> {
    // SAFETY: a plain syscall; the fd it returns is ours to own.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        None
    } else {
        // SAFETY: a new fd, owned by nobody else.
        Some(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
    }
}

/// Whether `pid` has ended, without reaping it (it stays a zombie, keeping its process
/// group id taken, until `Child::wait`).
fn has_exited(pid: i32) -> bool {
    // SAFETY: siginfo_t is plain data; waitid writes into it.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    // SAFETY: `info` is a valid siginfo_t for waitid to write; the pid is ours.
    let rc = unsafe {
        libc::waitid(
            libc::P_PID,
            pid as libc::id_t,
            &mut info,
            libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
        )
    };
    // SAFETY: si_pid is valid to read for a WEXITED waitid result.
    rc == 0 && unsafe { info.si_pid() } != 0 || rc < 0
}

fn poll(fds: &mut [libc::pollfd], timeout: Duration) {
    let ms = timeout.as_millis().min(i32::MAX as u128) as i32;
    // SAFETY: fds is a valid slice of pollfd for the duration of the call.
    unsafe {
        libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ms);
    }
}

enum Ending {
    Running,
    /// TERM sent at that time (cancellation or timeout); KILL after the grace.
    Terminating(Instant),
    Killed,
}

/// Runs `exec` to its end: the whole process group is gone and the leader reaped when
/// this returns, whatever happens.
pub(crate) fn run(
    mut exec: Exec<'_>,
    cancelled: &dyn Fn() -> bool,
) -> Result<CommandOutput, CommandError> {
    let started = Instant::now();
    let command_text = exec.display.to_string();
    exec.command
        .process_group(0)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    match exec.input {
        Input::Null => {
            exec.command.stdin(Stdio::null());
        }
        Input::Bytes(_) => {
            exec.command.stdin(Stdio::piped());
        }
        Input::File(path) => {
            let file = File::open(path).map_err(|source| CommandError::Stdin {
                command: command_text.clone(),
                path: path.clone(),
                source,
            })?;
            exec.command.stdin(Stdio::from(file));
        }
    }
    let mut child = spawn_registered(&mut exec.command).map_err(|source| CommandError::Spawn {
        command: command_text.clone(),
        source,
    })?;
    let pid = child.id() as i32;
    let guard = Reaper {
        child: &mut child,
        pid,
    };
    let (status, stdout, stderr, ending) = drive(&exec, guard, cancelled, started)?;
    let output = Box::new(CommandOutput {
        command: command_text.clone(),
        status,
        stdout,
        stderr,
        duration: started.elapsed(),
    });
    match ending {
        Ending::Running if status.success() => Ok(*output),
        Ending::Running => Err(CommandError::Failed {
            command: command_text,
            status,
            output,
        }),
        Ending::Terminating(_) | Ending::Killed => match exec.timeout {
            Some(after) if !cancelled() && started.elapsed() >= after => {
                Err(CommandError::TimedOut {
                    command: command_text,
                    after,
                    output,
                })
            }
            _ => Err(CommandError::Cancelled {
                command: command_text,
                output,
            }),
        },
    }
}

fn spawn_registered(command: &mut Command) -> io::Result<Child> {
    // Registered under the lock, so that kill_live_process_groups, which takes it,
    // never misses a group that exists.
    let mut live = LIVE.lock().unwrap_or_else(|e| e.into_inner());
    let child = command.spawn()?;
    live.insert(child.id() as i32);
    Ok(child)
}

/// Kills what is left of the group and reaps the leader, on every path out of `run`.
struct Reaper<'c> {
    child: &'c mut Child,
    pid: i32,
}

impl Reaper<'_> {
    fn finish(self) -> io::Result<ExitStatus> {
        // The leader is a zombie (or about to be): its group id cannot be reused yet,
        // so this reaches only what the command left behind in its group.
        killpg(self.pid, libc::SIGKILL);
        let status = self.child.wait();
        if let Ok(mut live) = LIVE.lock() {
            live.remove(&self.pid);
        }
        std::mem::forget(self);
        status
    }
}

impl Drop for Reaper<'_> {
    fn drop(&mut self) {
        killpg(self.pid, libc::SIGKILL);
        let _ = self.child.wait();
        if let Ok(mut live) = LIVE.lock() {
            live.remove(&self.pid);
        }
    }
}

type Driven = (ExitStatus, Captured, Captured, Ending);

fn drive(
    exec: &Exec<'_>,
    reaper: Reaper<'_>,
    cancelled: &dyn Fn() -> bool,
    started: Instant,
) -> Result<Driven, CommandError> {
    let pid = reaper.pid;
    let mut stdout = Pipe::new(
        reaper.child.stdout.take().map(OwnedFd::from),
        Stream::Stdout,
        exec.capture_limit,
    );
    let mut stderr = Pipe::new(
        reaper.child.stderr.take().map(OwnedFd::from),
        Stream::Stderr,
        exec.capture_limit,
    );
    let writer = match (exec.input, reaper.child.stdin.take()) {
        (Input::Bytes(bytes), Some(mut stdin)) => {
            let bytes = bytes.clone();
            Some(std::thread::spawn(move || {
                // A command that exits without reading its input closes the pipe.
                let _ = stdin.write_all(&bytes);
            }))
        }
        _ => None,
    };
    let pidfd = pidfd_open(pid);
    let mut ending = Ending::Running;
    let mut exited_at: Option<Instant> = None;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let mut fds: Vec<libc::pollfd> = Vec::with_capacity(3);
        for fd in [stdout.fd(), stderr.fd()].into_iter().flatten() {
            fds.push(libc::pollfd {
                fd,
                events: libc::POLLIN,
                revents: 0,
            });
        }
        let watch_exit = exited_at.is_none() && pidfd.is_some();
        if watch_exit {
            if let Some(fd) = &pidfd {
                fds.push(libc::pollfd {
                    fd: fd.as_raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                });
            }
        }
        if fds.is_empty() && exited_at.is_some() {
            break;
        }
        let tick = if pidfd.is_some() {
            TICK
        } else {
            Duration::from_millis(2)
        };
        poll(&mut fds, tick);
        for pfd in &fds {
            if pfd.revents == 0 {
                continue;
            }
            if Some(pfd.fd) == stdout.fd() {
                stdout.read_once(exec, &mut buf);
            } else if Some(pfd.fd) == stderr.fd() {
                stderr.read_once(exec, &mut buf);
            }
        }
        if exited_at.is_none() && has_exited(pid) {
            exited_at = Some(Instant::now());
            // Whatever the command left running in its group goes with it, so that
            // the pipes reach end of file.
            killpg(pid, libc::SIGKILL);
        }
        if let Some(at) = exited_at {
            if at.elapsed() > DRAIN {
                break;
            }
            continue;
        }
        let now = Instant::now();
        match ending {
            Ending::Running => {
                let timed_out = exec.timeout.is_some_and(|t| now - started >= t);
                if timed_out || cancelled() {
                    killpg(pid, libc::SIGTERM);
                    ending = Ending::Terminating(now);
                }
            }
            Ending::Terminating(since) if now - since >= exec.grace => {
                killpg(pid, libc::SIGKILL);
                ending = Ending::Killed;
            }
            _ => {}
        }
    }
    stdout.close(exec);
    stderr.close(exec);
    let status = reaper.finish().map_err(|source| CommandError::Wait {
        command: exec.display.to_string(),
        source,
    })?;
    if let Some(writer) = writer {
        let _ = writer.join();
    }
    Ok((status, stdout.captured, stderr.captured, ending))
}
