//! Pictures (F25): PNG and SVG files through graphviz-rust, which runs Graphviz's
//! `dot`; a missing `dot` is said plainly, with how to install it. The files need the
//! `pictures` feature (on by default); finding `dot` does not.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
#[cfg(feature = "pictures")]
use std::sync::Arc;

#[cfg(feature = "pictures")]
use graphviz_rust::cmd::{CommandArg, Format};

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

#[cfg(feature = "pictures")]
/// Where a picture of type `suffix` asked for at `path` goes, and its DOT text: `path`
/// with `.suffix` and `.dot` added, or put in place of a `.suffix` or `.dot` extension.
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

#[cfg(feature = "pictures")]
/// Writes `text` (DOT) beside the picture asked for at `path`, then the picture of
/// type `suffix` (`png` or `svg`) through graphviz-rust, with `dot` found first (`None`: not installed).
pub(crate) fn export(
    text: String,
    path: &Path,
    suffix: &str,
    dot: Option<PathBuf>,
) -> Result<PathBuf, Error> {
    let format = if suffix == "svg" {
        Format::Svg
    } else {
        Format::Png
    };
    let (picture, dotfile) = picture_paths(path, suffix);
    std::fs::write(&dotfile, &text).map_err(|source| Error::Write {
        path: dotfile.display().to_string(),
        source: Arc::new(source),
    })?;
    let missing = || Error::GraphvizMissing {
        path: picture.display().to_string(),
    };
    // graphviz-rust runs `dot` from the PATH: make sure it is there first, so a
    // missing Graphviz is said plainly.
    dot.ok_or_else(missing)?;
    let args = vec![
        CommandArg::Format(format),
        CommandArg::Output(picture.display().to_string()),
    ];
    graphviz_rust::exec_dot(text, args).map_err(|error| {
        if error.kind() == std::io::ErrorKind::NotFound {
            missing()
        } else {
            Error::Graphviz {
                path: picture.display().to_string(),
                message: error.to_string().trim().to_string(),
            }
        }
    })?;
    match std::fs::metadata(&picture) {
        Ok(meta) if meta.len() > 0 => Ok(picture),
        _ => Err(Error::Graphviz {
            path: picture.display().to_string(),
            message: "no picture was written".to_string(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_is_not_found_in_an_empty_search_path() {
        assert_eq!(find_dot_in(Some(OsStr::new(""))), None);
        assert_eq!(find_dot_in(None), None);
        let empty = std::env::temp_dir().join(format!("jobgraph-no-dot-{}", std::process::id()));
        std::fs::create_dir_all(&empty).unwrap();
        assert_eq!(find_dot_in(Some(empty.as_os_str())), None);
    }

    #[cfg(feature = "pictures")]
    #[test]
    fn a_missing_dot_is_a_clear_error_and_the_dot_file_is_still_written() {
        let dir = std::env::temp_dir().join(format!("jobgraph-missing-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
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
