//! The journal: one line per ended job, appended and synced as each job ends, so that
//! a run that crashes can be resumed, skipping what is done already.
//!
//! Each record is `v2 <full key> <own key> <status> <id>\n`, written with one `write`
//! on a file opened for appending, then `fdatasync`ed. A record cut short by a crash
//! (no final `\n`) is ignored when reading. The own key is a hash of the job's command,
//! host, environment and working directory; the full key also covers what the job
//! comes after (see [`crate::resume`]). `<status>` is the exit status, or `failed`,
//! `timeout`, `cancelled`. Records of the first format, `v1`, are read as records of
//! jobs whose keys changed: those jobs run again.

use std::collections::{BTreeMap, HashMap};
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use jobgraph_command::Program;

/// A stable 64-bit FNV-1a hash of the job's command, host, env and cwd, in hex.
pub fn job_key(
    program: &Program,
    host: Option<&str>,
    env: &BTreeMap<String, String>,
    cwd: Option<&str>,
) -> String {
    let mut text = String::new();
    match program {
        Program::Argv(argv) => {
            text.push_str("argv");
            for word in argv {
                text.push('\0');
                text.push_str(word);
            }
        }
        Program::Shell(shell) => {
            text.push_str("shell\0");
            text.push_str(shell);
        }
    }
    text.push_str("\0\0host\0");
    text.push_str(host.unwrap_or(""));
    text.push_str("\0\0env");
    for (k, v) in env {
        text.push('\0');
        text.push_str(k);
        text.push('=');
        text.push_str(v);
    }
    text.push_str("\0\0cwd\0");
    text.push_str(cwd.unwrap_or(""));
    hash(&text)
}

/// A stable 64-bit FNV-1a hash of `text`, in hex.
pub fn hash(text: &str) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in text.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{hash:016x}")
}

/// A job's last record in the journal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Its full key then.
    pub full: String,
    /// Its own key then.
    pub own: String,
    /// How it ended: `0`, another status, `failed`, `timeout`, `cancelled`.
    pub status: String,
}

/// A journal being written, and what it held when opened.
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    file: Mutex<File>,
    /// The last record of each job, by id, read at opening.
    done: HashMap<String, Record>,
}

impl Journal {
    /// Opens a journal and locks it (`flock`, exclusive) for as long as it is open:
    /// `resume` keeps and reads what it holds; otherwise it starts empty, which
    /// `fresh` must allow when it holds records (else an error says so and it is left
    /// as it is). A journal that another process holds is not touched: the error names
    /// that process.
    pub fn open(path: &Path, resume: bool, fresh: bool) -> io::Result<Journal> {
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(path)?;
        lock(&file, path)?;
        let mut done = HashMap::new();
        let mut text = String::new();
        // Invalid UTF-8 is no record: read what can be read.
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)?;
        // A file given by mistake (the scenario itself, notes) is neither emptied nor
        // appended to, whatever the flags say.
        if let Some(line) = foreign_line(&bytes) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "it is not a journal (its line {line} is no record; a record starts with `v2 `), and is left as it is: give the path of a journal, or of a file that does not exist yet"
                ),
            ));
        }
        text.push_str(&String::from_utf8_lossy(&bytes));
        let records = text.lines().filter(|l| l.starts_with('v')).count();
        if !resume && !fresh && records > 0 {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!(
                    "the journal {} holds {records} record(s) of an earlier run: give --resume to skip what it says is done, or --fresh to start it anew",
                    path.display()
                ),
            ));
        }
        if resume {
            for line in text.split_inclusive('\n') {
                let Some(line) = line.strip_suffix('\n') else {
                    continue; // cut short by a crash
                };
                let fields: Vec<&str> = line.splitn(5, ' ').collect();
                let (full, own, status, id) = match fields[..] {
                    ["v2", full, own, status, id] => (full, own, status, id.to_string()),
                    // The first format, keys of another kind: the job runs again.
                    ["v1", _, status, ..] => {
                        let id = line.splitn(4, ' ').nth(3).unwrap_or("").to_string();
                        ("v1", "v1", status, id)
                    }
                    _ => continue,
                };
                done.insert(
                    id,
                    Record {
                        full: full.to_string(),
                        own: own.to_string(),
                        status: status.to_string(),
                    },
                );
            }
            if bytes.last().is_some_and(|b| *b != b'\n') {
                // A record cut short by a crash: end its line, so that it stays apart
                // from the next record (and is ignored, being malformed).
                file.write_all(b" (cut)\n")?;
                file.sync_data()?;
            }
        } else {
            file.set_len(0)?;
            file.sync_all()?;
        }
        Ok(Journal {
            path: path.to_path_buf(),
            file: Mutex::new(file),
            done,
        })
    }

    /// The job's last record in the journal read at opening.
    pub fn last(&self, id: &str) -> Option<&Record> {
        self.done.get(id)
    }

    /// Appends a record and syncs it to disk.
    pub fn record(&self, id: &str, full: &str, own: &str, status: &str) -> io::Result<()> {
        let line = format!("v2 {full} {own} {status} {id}\n");
        let mut file = self.file.lock().unwrap_or_else(|e| e.into_inner());
        file.write_all(line.as_bytes())?;
        file.sync_data()
    }

    /// Where it is.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// The number (from 1) of the first line of `bytes` that no journal holds, if any. A
/// journal's lines are records, `v1 ` or `v2 ` first; one cut short by a crash keeps at
/// least its `v`, and is ended with ` (cut)` when the journal is opened again.
fn foreign_line(bytes: &[u8]) -> Option<usize> {
    let lines: Vec<&[u8]> = bytes.split(|b| *b == b'\n').collect();
    let last = lines.len() - 1;
    lines.iter().enumerate().find_map(|(k, line)| {
        let record = line.starts_with(b"v2 ") || line.starts_with(b"v1 ");
        let cut = line.starts_with(b"v") && (line.ends_with(b" (cut)") || k == last);
        // The piece after the last line's end is empty.
        let end = k == last && line.is_empty();
        (!(record || cut || end)).then_some(k + 1)
    })
}

/// Takes an exclusive `flock` on the journal, or says who holds it.
fn lock(file: &File, path: &Path) -> io::Result<()> {
    // SAFETY: flock on a file descriptor we own; no memory is involved.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc == 0 {
        return Ok(());
    }
    let error = io::Error::last_os_error();
    if error.kind() != io::ErrorKind::WouldBlock {
        return Err(error);
    }
    let holder = match holder(file) {
        Some(pid) => {
            let command = std::fs::read(format!("/proc/{pid}/cmdline"))
                .map(|c| {
                    String::from_utf8_lossy(&c)
                        .split('\0')
                        .filter(|w| !w.is_empty())
                        .collect::<Vec<_>>()
                        .join(" ")
                })
                .unwrap_or_default();
            if command.is_empty() {
                format!("process {pid}")
            } else {
                format!("process {pid} (`{command}`)")
            }
        }
        None => "another process".to_string(),
    };
    Err(io::Error::new(
        io::ErrorKind::WouldBlock,
        format!(
            "the journal {} is in use by {holder}: two runs on one journal would both run every job; wait for it to end, or give another --journal",
            path.display()
        ),
    ))
}

/// The process holding a `flock` on this file, from `/proc/locks` (Linux).
fn holder(file: &File) -> Option<u32> {
    use std::os::unix::fs::MetadataExt;
    let meta = file.metadata().ok()?;
    let at = format!(
        "{:02x}:{:02x}:{}",
        libc::major(meta.dev()),
        libc::minor(meta.dev()),
        meta.ino()
    );
    let locks = std::fs::read_to_string("/proc/locks").ok()?;
    // `1: FLOCK  ADVISORY  WRITE 12345 08:01:1234567 0 EOF`; `->` marks a waiter.
    locks.lines().find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.get(1) != Some(&"FLOCK") {
            return None;
        }
        (fields.get(5) == Some(&at.as_str()))
            .then(|| fields.get(4)?.parse().ok())
            .flatten()
    })
}
