//! What the compiler says when a job returns a type of one's own that is not a
//! `JobOutput`: it names the type and points to `job_output!` and `Result`, rather than
//! listing the types that are.
//!
//! It compiles a small program against the library this test was built with (the
//! newest `libjobgraph-*.rlib` beside it), with the `rustc` on the `PATH`.

use std::path::PathBuf;
use std::process::Command;

/// The directory of this test's executable (`target/<profile>/deps`) and the newest
/// jobgraph library in it.
fn library() -> Option<(PathBuf, PathBuf)> {
    let deps = std::env::current_exe().ok()?.parent()?.to_path_buf();
    let rlib = std::fs::read_dir(&deps)
        .ok()?
        .filter_map(Result::ok)
        .filter(|entry| {
            let name = entry.file_name().to_string_lossy().to_string();
            name.starts_with("libjobgraph-") && name.ends_with(".rlib")
        })
        .max_by_key(|entry| entry.metadata().and_then(|m| m.modified()).ok())?
        .path();
    Some((deps, rlib))
}

#[test]
fn a_job_returning_a_type_of_ones_own_points_to_the_fix() {
    let Some((deps, rlib)) = library() else {
        eprintln!("skipped: no libjobgraph rlib beside the test");
        return;
    };
    let dir = std::env::temp_dir().join(format!("jobgraph-diagnostics-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let program = dir.join("main.rs");
    std::fs::write(
        &program,
        "#[derive(Debug)]\n\
         struct Summary { jobs: usize }\n\
         fn main() {\n\
             let _job = jobgraph::Job::new(|_| Summary { jobs: 1 });\n\
         }\n",
    )
    .unwrap();
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_string());
    let output = Command::new(rustc)
        .args([
            "--edition",
            "2021",
            "--crate-type",
            "bin",
            "--emit",
            "metadata",
        ])
        .arg("-L")
        .arg(format!("dependency={}", deps.display()))
        .arg("--extern")
        .arg(format!("jobgraph={}", rlib.display()))
        .arg("--out-dir")
        .arg(&dir)
        .arg(&program)
        .output()
        .expect("rustc runs");
    let _ = std::fs::remove_dir_all(&dir);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "the program must not compile");
    assert!(
        stderr.contains("a job cannot return `Summary`: it is not a `JobOutput`"),
        "{stderr}"
    );
    assert!(
        stderr.contains("jobgraph::job_output!(Summary);"),
        "{stderr}"
    );
    assert!(
        stderr.contains("Ok::<_, jobgraph::Error>(value)"),
        "{stderr}"
    );
}
