//! Malformed scenarios, made by mutating valid ones: an error, never a panic.

mod common;

use std::path::Path;

use jobgraph_cli::build::{build, BuildOptions};
use jobgraph_cli::scenario::load_str;
use proptest::prelude::*;

const SEED: &str = r#"
label = "seed"
window = 3
timeout = "1m"
[ssh]
options = ["StrictHostKeyChecking=no"]
shared = true
[[job]]
id = "a"
command = ["echo", "a"]
env = { K = "v" }
[[job]]
id = "b"
shell = "echo b"
requires = ["a"]
timeout = 2.5
host = "user@node-1:2222"
[[group]]
id = "g"
window = 2
critical = false
requires = ["b"]
  [[group.job]]
  id = "c"
  command = ["true"]
  [[group.job]]
  id = "d"
  command = ["true"]
  forever = true
  [[group.sequence]]
  jobs = ["c"]
[[sequence]]
jobs = ["a", "g"]
"#;

fn seeds() -> Vec<String> {
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/scenarios");
    let mut seeds = vec![SEED.to_string()];
    for name in ["build-pipeline.toml", "fan-out.toml", "monitor.toml"] {
        seeds.push(std::fs::read_to_string(examples.join(name)).unwrap());
    }
    seeds
}

#[derive(Debug, Clone)]
enum Mutation {
    Delete(usize, usize),
    Insert(usize, char),
    DuplicateLine(usize),
    SwapLines(usize, usize),
    DropLine(usize),
    ReplaceWord(usize, &'static str),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let chars = prop::sample::select(vec![
        '[', ']', '{', '}', '"', '\'', '=', ',', '\n', '#', '.', '-', 'x', '0', ' ', '\\', 'é',
    ]);
    let words = prop::sample::select(vec![
        "id",
        "requires",
        "command",
        "shell",
        "forever",
        "window",
        "0",
        "-1",
        "\"\"",
        "[]",
        "true",
        "\"a\"",
        "\"g\"",
        "host",
        "\"-x\"",
        "timeout",
        "\"0s\"",
        "1e400",
        "[[job]]",
        "[[group]]",
        "[[group.job]]",
        "jobs",
        "env",
        "{}",
        "cwd",
    ]);
    prop_oneof![
        (any::<usize>(), 1usize..20).prop_map(|(at, n)| Mutation::Delete(at, n)),
        (any::<usize>(), chars).prop_map(|(at, c)| Mutation::Insert(at, c)),
        any::<usize>().prop_map(Mutation::DuplicateLine),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Mutation::SwapLines(a, b)),
        any::<usize>().prop_map(Mutation::DropLine),
        (any::<usize>(), words).prop_map(|(at, w)| Mutation::ReplaceWord(at, w)),
    ]
}

fn apply(text: &str, mutation: &Mutation) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut lines: Vec<&str> = text.lines().collect();
    match *mutation {
        Mutation::Delete(at, n) => {
            let at = at % chars.len().max(1);
            let end = (at + n).min(chars.len());
            chars[..at].iter().chain(&chars[end..]).collect()
        }
        Mutation::Insert(at, c) => {
            let at = at % (chars.len() + 1);
            let mut out: Vec<char> = chars.clone();
            out.insert(at, c);
            out.into_iter().collect()
        }
        Mutation::DuplicateLine(i) => {
            let i = i % lines.len().max(1);
            if !lines.is_empty() {
                lines.insert(i, lines[i]);
            }
            lines.join("\n")
        }
        Mutation::SwapLines(a, b) => {
            if !lines.is_empty() {
                let n = lines.len();
                lines.swap(a % n, b % n);
            }
            lines.join("\n")
        }
        Mutation::DropLine(i) => {
            if !lines.is_empty() {
                let n = lines.len();
                lines.remove(i % n);
            }
            lines.join("\n")
        }
        Mutation::ReplaceWord(i, word) => {
            // Replaces the i-th run of letters/digits/quotes.
            let mut words: Vec<(usize, usize)> = Vec::new();
            let mut start = None;
            for (k, c) in chars.iter().enumerate() {
                let w = c.is_alphanumeric() || *c == '"' || *c == '_';
                match (w, start) {
                    (true, None) => start = Some(k),
                    (false, Some(s)) => {
                        words.push((s, k));
                        start = None;
                    }
                    _ => {}
                }
            }
            if words.is_empty() {
                return text.to_string();
            }
            let (s, e) = words[i % words.len()];
            chars[..s]
                .iter()
                .copied()
                .chain(word.chars())
                .chain(chars[e..].iter().copied())
                .collect()
        }
    }
}

fn check_in_process(text: &str) {
    match load_str(Path::new("mutated.toml"), text) {
        Ok(loaded) => {
            // A scenario found valid must build without panicking.
            let built = build(&loaded, &BuildOptions::plain());
            assert_eq!(built.jobs.len(), loaded.scenario.count_jobs());
            let _ = format!("{}", built.scheduler.list().details());
        }
        Err(error) => {
            let lines = text.lines().count() + 1;
            assert!(
                error.line >= 1 && error.line <= lines.max(1),
                "{error} for:\n{text}"
            );
            assert!(error.column >= 1, "{error}");
            assert!(!error.message.is_empty());
            assert!(error.to_string().starts_with("mutated.toml:"));
        }
    }
}

proptest! {
    #![proptest_config(jobgraph_test_support::seeded(600))]

    #[test]
    fn mutated_scenarios_give_an_error_never_a_panic(
        seed in 0usize..4,
        mutations in prop::collection::vec(mutation(), 1..4),
    ) {
        let mut text = seeds()[seed].clone();
        for m in &mutations {
            text = apply(&text, m);
        }
        check_in_process(&text);
    }
}

proptest! {
    // The binary too: exit 0 or 2, never a panic's 101.
    #![proptest_config(jobgraph_test_support::seeded(24))]

    #[test]
    fn the_binary_checks_mutated_scenarios_with_exit_0_or_2(
        seed in 0usize..4,
        mutations in prop::collection::vec(mutation(), 1..3),
    ) {
        let mut text = seeds()[seed].clone();
        for m in &mutations {
            text = apply(&text, m);
        }
        let dir = tempfile::tempdir().unwrap();
        let file = common::scenario(dir.path(), &text);
        let run = common::jobgraph(&["check", file.to_str().unwrap()], dir.path());
        prop_assert!(run.code == Some(0) || run.code == Some(2), "{}", run);
        if run.code == Some(2) {
            prop_assert!(run.stderr.contains("scenario.toml:"), "{}", run);
        }
    }
}

#[test]
fn the_seeds_are_valid() {
    for seed in seeds() {
        load_str(Path::new("seed.toml"), &seed).unwrap();
    }
}
