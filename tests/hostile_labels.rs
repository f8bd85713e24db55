//! Labels are user text: whatever they hold, the DOT text stays valid, each label reads
//! back as given (a NUL, which DOT cannot hold, shown as `␀`; a carriage return
//! dropped), and Graphviz's `dot` accepts it when it is installed.

use std::io::Write;
use std::process::{Command, Stdio};

use jobgraph::{Job, Scheduler};

/// Labels that have broken, or could break, a DOT quoted string.
fn hostile_labels() -> Vec<String> {
    let mut labels: Vec<String> = [
        // NUL: Graphviz reads strings as C strings.
        "\0",
        "a\0b",
        "\0\0",
        "end\0",
        // Quotes and backslashes.
        "\"",
        "\"\"",
        "a\"b",
        "\"quoted\"",
        "\\\"",
        "\"\\",
        "\\",
        "\\\\",
        "a\\",
        "trailing\\",
        "\\\\\\",
        // Graphviz's own escapes, which must stay text.
        "\\l",
        "\\n",
        "\\r",
        "\\N",
        "\\G",
        "\\E",
        "\\T",
        "\\H",
        "\\L",
        "a\\lb\\rc",
        "\\\\l",
        // Line breaks and other blanks.
        "\n",
        "\r",
        "\r\n",
        "a\nb",
        "\n\n\n",
        "\t",
        "a\tb",
        "\u{b}",
        "\u{c}",
        "",
        " ",
        // HTML, which a quoted string must not become.
        "<b>bold</b>",
        "<<table><tr><td>x</td></tr></table>>",
        "<",
        ">",
        "&amp;",
        "&",
        "&#0;",
        "<br/>",
        "<!-- -->",
        // DOT's own syntax.
        "}",
        "{",
        "]",
        "[",
        ";",
        ",",
        "=",
        "->",
        "--",
        "digraph",
        "subgraph",
        "node",
        "strict",
        "a -> b",
        "} digraph x {",
        "\"]; evil [label=\"",
        "//",
        "/*",
        "*/",
        "#",
        "cluster_1",
        // Unicode that reorders, joins, separates or is invisible.
        "\u{202e}abc",
        "\u{202d}xyz",
        "\u{200f}",
        "\u{2028}",
        "\u{2029}",
        "\u{feff}",
        "\u{200b}",
        "e\u{301}",
        "\u{1f980}",
        "\u{1f468}\u{200d}\u{1f469}\u{200d}\u{1f467}",
        "\u{65e5}\u{672c}",
        "\u{5e2}\u{5d1}",
        "\u{fffd}",
        "\u{85}",
        // Terminal controls.
        "\u{1b}",
        "\u{1b}[31mred\u{1b}[0m",
        "\u{7}",
        "\u{7f}",
        "\u{1}",
        "\u{8}",
        "\u{1f}",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    // Long, though not so long that the box is wider than Graphviz lays out.
    labels.push("x".repeat(1_000));
    labels
}

/// How a label reads back from the DOT text.
fn shown(label: &str) -> String {
    label.replace('\0', "\u{2400}").replace('\r', "")
}

/// A scheduler where `label` is a job's, a nested scheduler's and a job's inside it.
fn labelled(label: &str) -> Scheduler {
    let job = Job::new(|_| ()).label(label);
    let inner = Job::new(|_| ()).label(label);
    let nested = Scheduler::new().label(label);
    nested.add(&inner);
    let s = Scheduler::new().label(label);
    s.add((&job, &nested));
    s
}

/// The DOT quoted strings of `text`, decoded (`\"`, `\\` and `\n`; other escapes
/// kept as written); panics on one that is not closed or that holds a raw NUL or line
/// break.
fn quoted_strings(text: &str) -> Vec<String> {
    let mut strings = Vec::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '"' {
            continue;
        }
        let mut decoded = String::new();
        loop {
            match chars.next() {
                None => panic!("a quoted string is not closed in:\n{text}"),
                Some('"') => break,
                Some('\\') => match chars.next() {
                    Some('"') => decoded.push('"'),
                    Some('\\') => decoded.push('\\'),
                    Some('n') => decoded.push('\n'),
                    Some(other) => {
                        decoded.push('\\');
                        decoded.push(other);
                    }
                    None => panic!("a quoted string ends on a backslash in:\n{text}"),
                },
                Some(raw @ ('\0' | '\n' | '\r')) => {
                    panic!("a raw {raw:?} in a quoted string of:\n{text}")
                }
                Some(other) => decoded.push(other),
            }
        }
        strings.push(decoded);
    }
    strings
}

#[test]
fn there_are_seventy_hostile_labels_besides_the_nul_bytes() {
    let labels = hostile_labels();
    let with_nul = labels.iter().filter(|l| l.contains('\0')).count();
    assert!(with_nul >= 4);
    assert!(labels.len() - with_nul >= 70, "{}", labels.len() - with_nul);
}

#[test]
fn a_nul_byte_in_a_label_is_shown_as_a_symbol_and_never_written() {
    let text = labelled("a\0b").dot_format();
    assert!(!text.contains('\0'), "{text:?}");
    assert!(text.contains("a\u{2400}b"), "{text}");
}

#[test]
fn every_hostile_label_reads_back_from_well_formed_dot_text() {
    for label in hostile_labels() {
        let text = labelled(&label).dot_format();
        assert!(!text.contains('\0'), "a NUL in the DOT text of {label:?}");
        let strings = quoted_strings(&text);
        let want = shown(&label);
        let labels: Vec<&String> = strings
            .iter()
            .filter(|s| s.ends_with(&format!(": {want}")))
            .collect();
        // The job, the nested scheduler and the job inside it.
        assert_eq!(labels.len(), 3, "label {label:?} in:\n{text}");
    }
}

#[test]
fn every_hostile_label_makes_dot_text_that_graphviz_accepts() {
    let Some(dot) = jobgraph::find_dot() else {
        // Checked without Graphviz by the test above.
        jobgraph_test_support::skipped("the real check: Graphviz's `dot` is not installed");
        return;
    };
    let mut refused = Vec::new();
    for label in hostile_labels() {
        let text = labelled(&label).dot_format();
        let mut child = Command::new(&dot)
            .arg("-Tsvg")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let writer = std::thread::spawn(move || stdin.write_all(text.as_bytes()));
        let output = child.wait_with_output().unwrap();
        writer.join().unwrap().unwrap();
        if !output.status.success() {
            refused.push((label, String::from_utf8_lossy(&output.stderr).into_owned()));
        }
    }
    assert!(refused.is_empty(), "dot refused: {refused:#?}");
}

/// The text reports go to terminals: no label, value or error reaches one with a
/// control character (an escape sequence, a carriage return, a newline) in it.
#[test]
fn text_reports_show_control_characters_escaped() {
    let s = Scheduler::new();
    let mut jobs = Vec::new();
    for label in hostile_labels() {
        let job = Job::new(|_| "value\x1b]0;title\x07\r\n".to_string()).label(label);
        s.add(&job);
        jobs.push(job);
    }
    let failing = Job::new(|_| -> Result<(), String> { Err("bad\x1b[2J\nnews".into()) })
        .label("fails\x1b[31m")
        .critical(false);
    s.add(&failing);
    assert!(s.run().unwrap());
    let texts = [
        s.list().to_string(),
        s.list().details().to_string(),
        s.debrief().to_string(),
        failing.any().to_string(),
    ];
    for text in &texts {
        for line in text.lines() {
            assert!(
                !line.chars().any(char::is_control),
                "a control character in {line:?}"
            );
        }
    }
    assert!(texts[0].contains(r"<Job `a\0b`>"), "{}", texts[0]);
    assert!(texts[2].contains(r"fails\x1b[31m"), "{}", texts[2]);
    assert!(texts[2].contains(r"bad\x1b[2J"), "{}", texts[2]);
}
