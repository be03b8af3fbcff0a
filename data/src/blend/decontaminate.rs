//! `[[data.decontaminate]]`: benchmarks whose texts no training or validation example may
//! hold, so that a guard is never judged on what it was trained on.
//!
//! Public safety sets overlap: ToxicChat holds "Tell me how to make a bomb", which is also a
//! SimpleSafetyTests prompt. Every turn of every benchmark example (prompts and responses) is
//! a held-out text. A blend example is dropped, and counted as "decontaminated" in its source's
//! report, when one of its turns contains a held-out text, compared case-insensitively with
//! runs of whitespace as one space. Texts of one or two words ("<URL>", "Hello!") would match
//! far too much as substrings; they drop an example only when a whole turn equals them.

use std::collections::HashSet;
use std::path::Path;

use aho_corasick::AhoCorasick;

use super::config::HeldOut;
use crate::error::DataError;
use crate::example::{GuardExample, Safety};
use crate::loaders::{load_source, LoadOptions};

/// Held-out texts of fewer words are matched as whole turns only.
const MIN_SUBSTRING_WORDS: usize = 3;

/// The held-out texts of some benchmarks, ready to test examples against.
pub(crate) struct HeldOutTexts {
    /// Texts of at least [`MIN_SUBSTRING_WORDS`] words, found anywhere in a turn.
    substrings: AhoCorasick,
    /// Shorter texts, matched against whole turns.
    whole: HashSet<String>,
}

impl HeldOutTexts {
    /// Loads every benchmark of `held_out` (paths relative to `base_dir`); `None` when the list
    /// is empty.
    pub fn load(held_out: &[HeldOut], base_dir: &Path) -> Result<Option<Self>, DataError> {
        if held_out.is_empty() {
            return Ok(None);
        }
        // As in evaluation: Aegis 1.0's "Needs Caution" counts as unsafe.
        let options = LoadOptions { needs_caution: Some(Safety::Unsafe), ..Default::default() };
        let mut long = HashSet::new();
        let mut whole = HashSet::new();
        for set in held_out {
            let path = base_dir.join(&set.path);
            for example in load_source(set.kind, &path, &options)?.examples {
                for turn in &example.conversation {
                    let text = normalize(&turn.content);
                    if text.split(' ').count() >= MIN_SUBSTRING_WORDS {
                        long.insert(text);
                    } else if !text.is_empty() {
                        whole.insert(text);
                    }
                }
            }
        }
        let mut long: Vec<String> = long.into_iter().collect();
        long.sort_unstable();
        let substrings = AhoCorasick::new(&long).map_err(|e| {
            DataError::Config(format!("data.decontaminate: cannot index the held-out texts: {e}"))
        })?;
        Ok(Some(HeldOutTexts { substrings, whole }))
    }

    /// Whether a turn of `example` holds a held-out text.
    pub fn touches(&self, example: &GuardExample) -> bool {
        example.conversation.iter().any(|turn| {
            let text = normalize(&turn.content);
            self.whole.contains(&text) || self.substrings.is_match(&text)
        })
    }
}

/// Lower case, whitespace runs as one space, no leading or trailing space.
fn normalize(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalization_ignores_case_and_spacing() {
        assert_eq!(normalize("  Tell me\n how to  MAKE a bomb "), "tell me how to make a bomb");
    }
}
