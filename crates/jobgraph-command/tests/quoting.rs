//! Host strings and shell quoting, against arbitrary text.

use std::process::Command;

use jobgraph_command::{quote_words, SshTarget};
use proptest::prelude::*;

proptest! {
    #![proptest_config(jobgraph_test_support::seeded(64))]

    /// What a shell makes of quoted words is the words themselves.
    #[test]
    fn quoted_words_reach_the_program_unchanged(
        words in prop::collection::vec("[ -~\u{e9}\u{263a}\n\t]{0,12}", 0..6),
    ) {
        let script = format!("printf '%s\\0' {}", quote_words(&words));
        let output = Command::new("sh").arg("-c").arg(&script).output().unwrap();
        prop_assert!(output.status.success(), "{script}");
        let mut got: Vec<String> = String::from_utf8(output.stdout)
            .unwrap()
            .split('\0')
            .map(str::to_string)
            .collect();
        got.pop(); // after the last \0
        if words.is_empty() {
            // `printf '%s\0'` with no words prints one empty word.
            prop_assert_eq!(got, vec![String::new()]);
        } else {
            prop_assert_eq!(got, words);
        }
    }
}

proptest! {
    #![proptest_config(jobgraph_test_support::seeded(2000))]

    /// A host string is refused, or made only of safe characters, never an option.
    #[test]
    fn host_strings_are_refused_or_safe(text in "[ -~]{0,24}") {
        if let Ok(target) = text.parse::<SshTarget>() {
            prop_assert!(!target.host.starts_with('-'));
            prop_assert!(!target.host.is_empty());
            let safe = |s: &str| s.chars().all(|c| c.is_ascii_alphanumeric() || "._-:".contains(c));
            prop_assert!(safe(&target.host), "{:?}", target);
            if let Some(user) = &target.user {
                prop_assert!(!user.starts_with('-') && !user.is_empty() && safe(user));
                prop_assert!(!user.contains(':'));
            }
            prop_assert!(target.port != Some(0));
            // It reads back the same.
            prop_assert_eq!(target.to_string().parse::<SshTarget>().unwrap(), target);
        }
    }
}
