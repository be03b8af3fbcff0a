//! Special tokens come only from the chat template's own markup: message text (the conversation,
//! the policy, benchmark rows) is tokenised as plain text, as Hugging Face tokenises with
//! `split_special_tokens=True`. Otherwise `<|im_end|><|im_start|>assistant` typed by a user would
//! become real control tokens, and the text being judged could close the guard's turn and write
//! its own verdict.
//!
//! How: before rendering, every special-token string in a message is replaced by a placeholder
//! (a marker character followed by the token's index, both noncharacters / private-use code points
//! that the marker escape keeps unambiguous). After rendering, the special-token strings still in
//! the text can only come from the template (its literals, `bos_token`, `eos_token`); they become
//! their ids, and the text between them (placeholders restored) is encoded with special-token
//! splitting switched off. The tokenizer splits its input at special tokens and normalises and
//! pre-tokenises each piece separately, so for text without special-token strings in messages the
//! ids are exactly those of encoding the whole rendered text.

use crate::error::DataError;
use aho_corasick::{AhoCorasick, MatchKind};
use tokenizers::{Encoding, Tokenizer};

/// Starts a placeholder; itself escaped when it occurs in a message. A Unicode noncharacter.
const MARKER: char = '\u{FDD0}';
/// Placeholder `k` is [`MARKER`] followed by this code point plus `k` (plane 15, private use).
const INDEX_BASE: u32 = 0xF0000;
/// Plane 15's private-use code points (U+F0000..=U+FFFFD).
const MAX_PROTECTED: usize = 0xFFFE;

/// One part of a rendered conversation.
enum Piece<'a> {
    /// A special token written by the template.
    Special(u32, &'a str),
    /// Text, placeholders restored; never parsed for special tokens.
    Text(String),
}

/// The tokenizer's special tokens, and the escaping that keeps them out of message text.
pub(crate) struct PlainText {
    /// The special-token strings, then [`MARKER`] (so its index is `specials.len() - 1`).
    protected: Vec<String>,
    ids: Vec<u32>,
    /// Matches the special-token strings only (leftmost-longest, as the tokenizer matches them).
    specials: Option<AhoCorasick>,
    /// Matches the special-token strings and the marker.
    escapes: AhoCorasick,
    /// `protected[k]`'s placeholder.
    placeholders: Vec<String>,
    /// The tokenizer with special-token splitting switched off.
    plain: Tokenizer,
}

impl PlainText {
    /// Reads the special added tokens of `tokenizer` (truncation and padding already off).
    pub fn new(tokenizer: &Tokenizer) -> Result<Self, DataError> {
        let mut specials: Vec<(u32, String)> = tokenizer
            .get_added_tokens_decoder()
            .into_iter()
            .filter(|(_, token)| token.special && !token.content.is_empty())
            .map(|(id, token)| (id, token.content))
            .collect();
        specials.sort();
        if specials.len() >= MAX_PROTECTED {
            return Err(DataError::Tokenizer(format!(
                "{} special tokens; at most {} are supported",
                specials.len(),
                MAX_PROTECTED - 1
            )));
        }
        let ids = specials.iter().map(|(id, _)| *id).collect();
        let mut protected: Vec<String> = specials.into_iter().map(|(_, text)| text).collect();
        let build = |patterns: &[String]| {
            AhoCorasick::builder()
                .match_kind(MatchKind::LeftmostLongest)
                .build(patterns)
                .map_err(|e| DataError::Tokenizer(format!("special tokens: {e}")))
        };
        let specials = if protected.is_empty() { None } else { Some(build(&protected)?) };
        protected.push(MARKER.to_string());
        let escapes = build(&protected)?;
        let placeholders = (0..protected.len()).map(placeholder).collect();
        let mut plain = tokenizer.clone();
        plain.set_encode_special_tokens(true);
        Ok(PlainText { protected, ids, specials, escapes, placeholders, plain })
    }

    /// `content` with every special-token string (and the marker) replaced by its placeholder.
    pub fn escape(&self, content: &str) -> String {
        self.escapes.replace_all(content, &self.placeholders)
    }

    /// The text as the model sees it: `escaped` with its placeholders restored.
    pub fn unescape(&self, escaped: &str) -> Result<String, DataError> {
        let mut text = String::with_capacity(escaped.len());
        let mut chars = escaped.char_indices();
        while let Some((_, c)) = chars.next() {
            if c != MARKER {
                text.push(c);
                continue;
            }
            let index = chars
                .next()
                .and_then(|(_, c)| (c as u32).checked_sub(INDEX_BASE))
                .and_then(|k| self.protected.get(k as usize))
                .ok_or_else(|| {
                    DataError::Template(
                        "the chat template cut a message inside an escaped special token; \
                         templates must copy message content whole (trimming is fine)"
                            .into(),
                    )
                })?;
            text.push_str(index);
        }
        Ok(text)
    }

    /// Splits a rendering of escaped messages into the template's special tokens and plain text.
    fn pieces<'a>(&self, escaped: &'a str) -> Result<Vec<Piece<'a>>, DataError> {
        let mut pieces = Vec::new();
        let mut start = 0;
        if let Some(specials) = &self.specials {
            for found in specials.find_iter(escaped) {
                if found.start() > start {
                    pieces.push(Piece::Text(self.unescape(&escaped[start..found.start()])?));
                }
                let text = &escaped[found.start()..found.end()];
                pieces.push(Piece::Special(self.ids[found.pattern().as_usize()], text));
                start = found.end();
            }
        }
        if start < escaped.len() {
            pieces.push(Piece::Text(self.unescape(&escaped[start..])?));
        }
        Ok(pieces)
    }

    /// Encodes a rendering of escaped messages: the template's special tokens as their ids, all
    /// other text as plain text. Offsets index the unescaped text. With `add_special_tokens`, the
    /// tokenizer's post-processor adds what it adds (the BOS of Llama tokenizers).
    pub fn encode(&self, escaped: &str, add_special_tokens: bool) -> Result<Encoding, DataError> {
        let mut ids = Vec::new();
        let mut tokens = Vec::new();
        let mut offsets = Vec::new();
        let mut special_mask = Vec::new();
        let mut position = 0;
        for piece in self.pieces(escaped)? {
            match piece {
                Piece::Special(id, text) => {
                    ids.push(id);
                    tokens.push(text.to_string());
                    offsets.push((position, position + text.len()));
                    special_mask.push(1);
                    position += text.len();
                }
                Piece::Text(text) => {
                    let encoding = self
                        .plain
                        .encode(text.as_str(), false)
                        .map_err(|e| DataError::Tokenizer(e.to_string()))?;
                    ids.extend_from_slice(encoding.get_ids());
                    tokens.extend_from_slice(encoding.get_tokens());
                    offsets.extend(
                        encoding.get_offsets().iter().map(|&(s, e)| (s + position, e + position)),
                    );
                    special_mask.extend(std::iter::repeat_n(0, encoding.len()));
                    position += text.len();
                }
            }
        }
        let n = ids.len();
        let encoding = Encoding::new(
            ids,
            vec![0; n],
            tokens,
            vec![None; n],
            offsets,
            special_mask,
            vec![1; n],
            Vec::new(),
            Default::default(),
        );
        self.plain
            .post_process(encoding, None, add_special_tokens)
            .map_err(|e| DataError::Tokenizer(format!("post-processing: {e}")))
    }
}

fn placeholder(index: usize) -> String {
    let code = char::from_u32(INDEX_BASE + index as u32).expect("plane 15 private use");
    format!("{MARKER}{code}")
}
