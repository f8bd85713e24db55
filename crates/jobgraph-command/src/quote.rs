//! Quoting for a POSIX shell: how commands are shown, and how ssh jobs pass theirs to
//! the remote shell.

/// `word` quoted for a POSIX shell: left as is when it holds only safe characters,
/// otherwise in single quotes, each `'` written `'\''`.
///
/// ```
/// use jobgraph_command::quote;
/// assert_eq!(quote("make"), "make");
/// assert_eq!(quote("a b"), "'a b'");
/// assert_eq!(quote("it's"), "'it'\\''s'");
/// assert_eq!(quote(""), "''");
/// ```
pub fn quote(word: &str) -> String {
    let safe = !word.is_empty()
        && word
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./=:,+@%^".contains(&b));
    if safe {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', "'\\''"))
    }
}

/// The shell's reserved words: unquoted as a command's first word, the shell would
/// read them as syntax, not as a program's name.
const RESERVED: [&str; 17] = [
    "if", "then", "else", "elif", "fi", "do", "done", "case", "esac", "while", "until", "for",
    "in", "function", "select", "time", "coproc",
];

/// Words quoted with [`quote`] and joined by spaces: one command line.
///
/// The first word, the program, is also quoted when a shell would not read it as a
/// program's name: with a `=` (`A=b` would be an assignment) or when it is a reserved
/// word (`time`, `if`, ...).
///
/// ```
/// use jobgraph_command::quote_words;
/// assert_eq!(quote_words(["echo", "a b", "$HOME"]), "echo 'a b' '$HOME'");
/// assert_eq!(quote_words(["A=b", "c=d"]), "'A=b' c=d");
/// assert_eq!(quote_words(["time", "make"]), "'time' make");
/// ```
pub fn quote_words<I>(words: I) -> String
where
    I: IntoIterator,
    I::Item: AsRef<str>,
{
    words
        .into_iter()
        .enumerate()
        .map(|(i, w)| {
            let w = w.as_ref();
            if i == 0 && (w.contains('=') || RESERVED.contains(&w)) {
                format!("'{}'", w.replace('\'', "'\\''"))
            } else {
                quote(w)
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}
