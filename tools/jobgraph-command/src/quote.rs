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

/// Words quoted with [`quote`] and joined by spaces: one command line.
///
/// ```
/// use jobgraph_command::quote_words;
/// assert_eq!(quote_words(["echo", "a b", "$HOME"]), "echo 'a b' '$HOME'");
/// ```
pub fn quote_words<I>(words: I) -> String
where
    I: IntoIterator,
    I::Item: AsRef<str>,
{
    words
        .into_iter()
        .map(|w| quote(w.as_ref()))
        .collect::<Vec<_>>()
        .join(" ")
}
