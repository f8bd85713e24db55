//! Pictures (asynciojobs' `export_as_pngfile`, `export_as_svgfile`): PNG and SVG files made by Graphviz's `dot`, which gets the DOT text
//! on its standard input (no temporary file); a missing `dot` is said plainly, with how
//! to install it.
//!
//! `dot` runs in a process group of its own, so a Ctrl-C at the terminal reaches only
//! the program, which decides; and on Linux it is killed by the kernel if the program
//! dies while it runs (`PR_SET_PDEATHSIG`), so an interrupted export leaves no `dot`
//! behind. Elsewhere a `dot` still reading its input sees it end when the program dies.
//!
//! The files need the `pictures` feature (on by default); finding `dot` does not. They
//! were made through graphviz-rust before; its `exec_dot` writes the text to a temporary
//! file first, which an interrupted export leaves behind, so `dot` is run here instead.

use std::ffi::OsStr;
#[cfg(feature = "pictures")]
use std::io::Write;
use std::path::{Path, PathBuf};
#[cfg(feature = "pictures")]
use std::process::{Command, Stdio};
#[cfg(feature = "pictures")]
use std::sync::Arc;

#[cfg(feature = "pictures")]
use crate::error::Error;

/// Where Graphviz's `dot` program is, looked up on the `PATH`; `None` when it is not
/// installed. PNG and SVG export need it; DOT text does not.
pub fn find_dot() -> Option<PathBuf> {
    find_dot_in(std::env::var_os("PATH").as_deref())
}

/// `dot` looked up in this search path (the format of `PATH`).
pub(crate) fn find_dot_in(search: Option<&OsStr>) -> Option<PathBuf> {
    let name = if cfg!(windows) { "dot.exe" } else { "dot" };
    std::env::split_paths(search?)
        .filter(|dir| !dir.as_os_str().is_empty())
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate))
}

#[cfg(unix)]
fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

#[cfg(not(unix))]
fn is_executable(path: &Path) -> bool {
    path.is_file()
}

/// Where a picture of type `suffix` asked for at `path` goes, and its DOT text: `path`
/// with `.suffix` and `.dot` added, or put in place of a `.suffix` or `.dot` extension.
#[cfg(feature = "pictures")]
fn picture_paths(path: &Path, suffix: &str) -> (PathBuf, PathBuf) {
    let known = path
        .extension()
        .is_some_and(|extension| extension == suffix || extension == "dot");
    let stem = if known {
        path.with_extension("")
    } else {
        path.to_path_buf()
    };
    let with = |extension: &str| {
        let mut name = stem.clone().into_os_string();
        name.push(".");
        name.push(extension);
        PathBuf::from(name)
    };
    (with(suffix), with("dot"))
}

/// Writes `text` (DOT) beside the picture asked for at `path`, then the picture of
/// type `suffix` (`png` or `svg`) with `dot`, found first (`None`: not installed).
#[cfg(feature = "pictures")]
pub(crate) fn export(
    text: String,
    path: &Path,
    suffix: &str,
    dot: Option<PathBuf>,
) -> Result<PathBuf, Error> {
    let (picture, dotfile) = picture_paths(path, suffix);
    std::fs::write(&dotfile, &text).map_err(|source| Error::Write {
        path: dotfile.display().to_string(),
        source: Arc::new(source),
    })?;
    let missing = || Error::GraphvizMissing {
        path: picture.display().to_string(),
    };
    let failed = |message: String| Error::Graphviz {
        path: picture.display().to_string(),
        message,
    };
    let dot = dot.ok_or_else(missing)?;
    let mut command = Command::new(&dot);
    command
        .arg(format!("-T{suffix}"))
        .arg("-o")
        .arg(&picture)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    bound_to_this_process(&mut command);
    let mut child = command.spawn().map_err(|error| {
        if error.kind() == std::io::ErrorKind::NotFound {
            missing()
        } else {
            failed(error.to_string())
        }
    })?;
    // Written by another thread while this one reads what `dot` says: a `dot` that
    // fills its error pipe before it has read all its input cannot block us.
    let writer = child.stdin.take().map(|mut stdin| {
        std::thread::spawn(move || {
            let written = stdin.write_all(text.as_bytes());
            drop(stdin);
            written
        })
    });
    let output = child
        .wait_with_output()
        .map_err(|error| failed(error.to_string()))?;
    let written = writer.map(|writer| writer.join());
    if !output.status.success() {
        let said = String::from_utf8_lossy(&output.stderr).trim().to_string();
        return Err(failed(if said.is_empty() {
            format!("dot ended with {}", output.status)
        } else {
            said
        }));
    }
    match written {
        Some(Ok(Err(error))) => return Err(failed(format!("writing to dot: {error}"))),
        Some(Err(_)) => return Err(failed("writing to dot failed".to_string())),
        _ => {}
    }
    match std::fs::metadata(&picture) {
        Ok(meta) if meta.len() > 0 => Ok(picture),
        _ => Err(failed("no picture was written".to_string())),
    }
}

/// Puts `dot` in a process group of its own and, on Linux, asks the kernel to kill it
/// when the thread that started it (this one, which waits for it) goes: when the
/// program dies of a signal while `dot` runs.
#[cfg(all(feature = "pictures", target_os = "linux"))]
#[allow(unsafe_code)]
fn bound_to_this_process(command: &mut Command) {
    use std::os::unix::process::CommandExt;
    command.process_group(0);
    let parent = std::process::id();
    // SAFETY: the hook runs in the child between `fork` and `exec`, where only
    // async-signal-safe calls may be made: it makes two system calls (`prctl`,
    // `getppid`), reads a copied integer, and allocates nothing (`from_raw_os_error`
    // builds its error in place).
    unsafe {
        command.pre_exec(move || {
            let sigkill = libc::SIGKILL as libc::c_ulong;
            if libc::prctl(libc::PR_SET_PDEATHSIG, sigkill, 0, 0, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // The parent may have died before the request: nobody would kill us then.
            if libc::getppid() as u32 != parent {
                return Err(std::io::Error::from_raw_os_error(libc::ESRCH));
            }
            Ok(())
        });
    }
}

/// Puts `dot` in a process group of its own.
#[cfg(all(feature = "pictures", unix, not(target_os = "linux")))]
fn bound_to_this_process(command: &mut Command) {
    use std::os::unix::process::CommandExt;
    command.process_group(0);
}

#[cfg(all(feature = "pictures", not(unix)))]
fn bound_to_this_process(_: &mut Command) {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_is_not_found_in_an_empty_search_path() {
        assert_eq!(find_dot_in(Some(OsStr::new(""))), None);
        assert_eq!(find_dot_in(None), None);
        let empty = tempfile::tempdir().unwrap();
        assert_eq!(find_dot_in(Some(empty.path().as_os_str())), None);
    }

    #[cfg(feature = "pictures")]
    #[test]
    fn a_missing_dot_is_a_clear_error_and_the_dot_file_is_still_written() {
        let temp = tempfile::tempdir().unwrap();
        let dir = temp.path();
        let text = "digraph { a }".to_string();
        let error = export(text, &dir.join("g"), "png", None).unwrap_err();
        assert!(matches!(error, Error::GraphvizMissing { .. }), "{error}");
        let message = error.to_string();
        assert!(message.contains("apt-get install graphviz"), "{message}");
        assert!(message.contains("brew install graphviz"), "{message}");
        assert!(dir.join("g.dot").exists());
        assert!(!dir.join("g.png").exists());
    }

    #[cfg(feature = "pictures")]
    #[test]
    fn pictures_are_named_after_the_path_given() {
        let named = |path: &str, suffix: &str| {
            let (picture, dotfile) = picture_paths(Path::new(path), suffix);
            (picture.display().to_string(), dotfile.display().to_string())
        };
        let pair = |a: &str, b: &str| (a.to_string(), b.to_string());
        let png = pair("target/graph.png", "target/graph.dot");
        assert_eq!(named("target/graph", "png"), png);
        assert_eq!(named("target/graph.png", "png"), png);
        assert_eq!(named("target/graph.dot", "png"), png);
        assert_eq!(
            named("target/graph.png", "svg"),
            pair("target/graph.png.svg", "target/graph.png.dot")
        );
        assert_eq!(named("v1.2", "svg"), pair("v1.2.svg", "v1.2.dot"));
    }
}
