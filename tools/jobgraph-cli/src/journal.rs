//! The journal: one line per ended job, appended and synced as each job ends, so that
//! a run that crashes can be resumed, skipping what is done already.
//!
//! Each record is `v1 <key> <status> <id>\n`, written with one `write` on a file
//! opened for appending, then `fdatasync`ed. A record cut short by a crash (no final
//! `\n`) is ignored when reading. `<key>` is a hash of the job's command, host,
//! environment and working directory: a job whose command changed runs again.
//! `<status>` is the exit status, or `failed`, `timeout`, `cancelled`.

use std::collections::{BTreeMap, HashMap};
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
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
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in text.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{hash:016x}")
}

/// A journal being written, and what it held when opened.
pub struct Journal {
    path: PathBuf,
    file: Mutex<File>,
    /// id -> (key, status) of the last record of each job read at opening.
    done: HashMap<String, (String, String)>,
}

impl Journal {
    /// Opens a journal: `resume` keeps and reads what it holds, otherwise it starts
    /// empty.
    pub fn open(path: &Path, resume: bool) -> io::Result<Journal> {
        let mut done = HashMap::new();
        if resume {
            match std::fs::read_to_string(path) {
                Ok(text) => {
                    for line in text.split_inclusive('\n') {
                        let Some(line) = line.strip_suffix('\n') else {
                            continue; // cut short by a crash
                        };
                        let mut fields = line.splitn(4, ' ');
                        if let (Some("v1"), Some(key), Some(status), Some(id)) =
                            (fields.next(), fields.next(), fields.next(), fields.next())
                        {
                            done.insert(id.to_string(), (key.to_string(), status.to_string()));
                        }
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        let mut options = OpenOptions::new();
        options.create(true);
        if resume {
            options.append(true);
        } else {
            options.write(true).truncate(true);
        }
        let file = options.open(path)?;
        if !resume {
            file.sync_all()?;
        }
        // Later writes append whatever the mode: reopen for appending.
        let mut file = OpenOptions::new().append(true).open(path)?;
        let ends_cut = std::fs::read(path)
            .map(|bytes| bytes.last().is_some_and(|b| *b != b'\n'))
            .unwrap_or(false);
        if ends_cut {
            // A record cut short by a crash: end its line, so that it stays apart
            // from the next record (and is ignored, being malformed).
            file.write_all(b" (cut)\n")?;
            file.sync_data()?;
        }
        Ok(Journal {
            path: path.to_path_buf(),
            file: Mutex::new(file),
            done,
        })
    }

    /// Whether the journal read at opening says this job ended with status 0 with
    /// the same key.
    pub fn is_done(&self, id: &str, key: &str) -> bool {
        self.done
            .get(id)
            .is_some_and(|(k, status)| k == key && status == "0")
    }

    /// Appends a record and syncs it to disk.
    pub fn record(&self, id: &str, key: &str, status: &str) -> io::Result<()> {
        let line = format!("v1 {key} {status} {id}\n");
        let mut file = self.file.lock().unwrap_or_else(|e| e.into_inner());
        file.write_all(line.as_bytes())?;
        file.sync_data()
    }

    /// Where it is.
    pub fn path(&self) -> &Path {
        &self.path
    }
}
