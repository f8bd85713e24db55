//! What makes the crate publishable and its default build lean, read from the files
//! that say it: the manifest, the licenses, the changelog. They are the repository's:
//! in a published package, whose manifest Cargo rewrote, these tests check nothing.

use std::path::Path;

/// Whether this runs from a published package (Cargo keeps the manifest as written
/// beside the one it rewrote) rather than from the repository.
fn packaged() -> bool {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("Cargo.toml.orig")
        .exists()
}

fn read(file: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(file);
    std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

/// The lines of the manifest's `[section]`, up to the next section.
fn section(manifest: &str, name: &str) -> Vec<String> {
    let header = format!("[{name}]");
    manifest
        .lines()
        .skip_while(|line| line.trim() != header)
        .skip(1)
        .take_while(|line| !line.starts_with('['))
        .map(str::to_string)
        .collect()
}

/// The library's runtime dependencies are the few it needs; graphviz-rust is not one of
/// them (pictures run Graphviz's `dot` directly, with no temporary file), and pictures
/// are a default feature that an embedder who never draws can turn off.
#[test]
fn the_default_build_is_lean_and_pictures_are_a_default_feature() {
    if packaged() {
        return;
    }
    let manifest = read("Cargo.toml");
    let dependencies: Vec<String> = section(&manifest, "dependencies")
        .iter()
        .filter(|line| !line.trim().is_empty() && !line.starts_with('#'))
        .filter_map(|line| line.split([' ', '=']).next().map(str::to_string))
        .collect();
    let lean = [
        "parking_lot",
        "crossbeam-deque",
        "smallvec",
        "pollster",
        "spin",
        "thiserror",
        "tracing",
    ];
    for dependency in &dependencies {
        assert!(
            lean.contains(&dependency.as_str()),
            "{dependency} is not one of the lean dependencies"
        );
    }
    assert!(
        !manifest.contains("graphviz-rust ="),
        "graphviz-rust is not needed"
    );
    let features = section(&manifest, "features");
    assert!(features
        .iter()
        .any(|line| line == "default = [\"pictures\"]"));
    assert!(features.iter().any(|line| line == "pictures = []"));
}

#[test]
fn the_benches_dependencies_are_not_the_examples_and_tests() {
    if packaged() {
        return;
    }
    let manifest = read("Cargo.toml");
    let dev = section(&manifest, "dev-dependencies");
    for heavy in ["criterion", "rayon"] {
        assert!(
            !dev.iter().any(|line| line.starts_with(heavy)),
            "{heavy} builds for every example and test"
        );
    }
    let benches = read("benches/Cargo.toml");
    assert!(
        benches.contains("criterion = { version = \"0.8\""),
        "criterion at its current major"
    );
}

#[test]
fn the_package_is_publishable() {
    if packaged() {
        return;
    }
    let manifest = read("Cargo.toml");
    let package = section(&manifest, "package");
    assert!(package
        .iter()
        .any(|line| line == "documentation = \"https://docs.rs/jobgraph\""));
    assert!(package
        .iter()
        .any(|line| line == "license = \"MIT OR Apache-2.0\""));
    assert!(package.iter().any(|line| line.starts_with("include = [")));
    assert!(!package
        .iter()
        .any(|line| line.contains("proptest-regressions")));
    let docs_rs = section(&manifest, "package.metadata.docs.rs");
    assert!(docs_rs.iter().any(|line| line == "all-features = true"));
    assert!(read("LICENSE-MIT").contains("Copyright (c) the jobgraph developers"));
    assert!(read("LICENSE-APACHE").contains("Version 2.0, January 2004"));
    assert!(read("CHANGELOG.md").contains("## [Unreleased]"));
    // The crate's front page tells its features.
    let lib = read("src/lib.rs");
    assert!(lib.contains("//! # Cargo features"));
    assert!(lib.contains("//! - `tracing`"));
    assert!(lib.contains("//! - `pictures`"));
}
