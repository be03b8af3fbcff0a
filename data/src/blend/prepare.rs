//! Rendering and tokenising a source's examples (in parallel, order kept), applying
//! `max_seq_len`, and fingerprinting each example for the blend hash.

use super::config::Truncation;
use crate::error::DataError;
use crate::example::{GuardExample, Role};
use crate::tokenize::{GuardTokenizer, RenderedExample, Tokenized};
use rayon::prelude::*;
use sha2::{Digest, Sha256};

/// An example ready for the blend.
pub(crate) struct Prepared {
    pub example: GuardExample,
    pub num_tokens: usize,
    /// SHA-256 of the rendered text, token ids and labels.
    pub digest: [u8; 32],
}

/// What became of one example.
pub(crate) enum Preparation {
    /// Fits; `shortened` when earlier turns were dropped to make it fit.
    Ready { prepared: Prepared, shortened: bool },
    /// Longer than `max_seq_len` even after any shortening.
    TooLong,
    /// Cannot be a training pair (for example, a benchmark row without a prompt label).
    Untrainable { id: String, reason: String },
}

/// Prepares `examples` on the current rayon pool. Results keep the input order, so the outcome
/// does not depend on the number of threads.
pub(crate) fn prepare_all(
    examples: Vec<GuardExample>,
    tokenizer: &GuardTokenizer,
    max_seq_len: usize,
    truncation: Truncation,
) -> Result<Vec<Preparation>, DataError> {
    examples
        .into_par_iter()
        .map(|example| prepare(example, tokenizer, max_seq_len, truncation))
        .collect()
}

fn prepare(
    mut example: GuardExample,
    tokenizer: &GuardTokenizer,
    max_seq_len: usize,
    truncation: Truncation,
) -> Result<Preparation, DataError> {
    if let Err(reason) = example.check_trainable() {
        return Ok(Preparation::Untrainable { id: example.id, reason });
    }
    let mut shortened = false;
    loop {
        let (rendered, tokens) = tokenizer.render_and_tokenize(&example)?;
        if tokens.len() <= max_seq_len {
            let prepared =
                Prepared { digest: digest(&rendered, &tokens), num_tokens: tokens.len(), example };
            return Ok(Preparation::Ready { prepared, shortened });
        }
        if truncation == Truncation::Shorten && drop_earliest_exchange(&mut example) {
            shortened = true;
            continue;
        }
        return Ok(Preparation::TooLong);
    }
}

/// Drops the conversation's first user turn and the assistant turns after it, keeping the
/// conversation starting with a user turn. Returns false when only the judged user turn is left.
fn drop_earliest_exchange(example: &mut GuardExample) -> bool {
    let user_turns = example.conversation.iter().filter(|turn| turn.role == Role::User).count();
    if user_turns <= 1 {
        return false;
    }
    let first_user =
        example.conversation.iter().position(|turn| turn.role == Role::User).unwrap_or(0);
    let next_user = example.conversation[first_user + 1..]
        .iter()
        .position(|turn| turn.role == Role::User)
        .map_or(example.conversation.len(), |offset| first_user + 1 + offset);
    example.conversation.drain(..next_user);
    true
}

/// The fingerprint of one rendered, tokenised example: lengths are included so that no two
/// different examples can hash the same by shifting bytes between fields.
pub(crate) fn digest(rendered: &RenderedExample, tokens: &Tokenized) -> [u8; 32] {
    let mut hasher = Sha256::new();
    for text in [&rendered.prompt, &rendered.completion] {
        hasher.update((text.len() as u64).to_le_bytes());
        hasher.update(text.as_bytes());
    }
    hasher.update((tokens.input_ids.len() as u64).to_le_bytes());
    for id in &tokens.input_ids {
        hasher.update(id.to_le_bytes());
    }
    for label in &tokens.labels {
        hasher.update(label.to_le_bytes());
    }
    hasher.finalize().into()
}
