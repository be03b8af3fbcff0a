//! Which prefix of a batch's prompts to compute once, and the cache that keeps it between
//! batches: a guard's prompts of one policy share their template header, task and policy
//! (about 400 of ~500 tokens with the 23-category prompt), so that part runs once per model,
//! adapter and policy, and each batch runs only its rows' own tokens.

use std::cell::{Cell, RefCell};

use anyhow::Result;
use burn::tensor::backend::Backend;
use guardtune_model::{common_prefix_len, KvCache, LlamaForCausalLM, PrefixCache};
use serde::Serialize;

/// What a classifier's [`PrefixSlot`] has served: token counts, and how often the verdict's
/// opening came out of the scoring pass.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct TokenStats {
    /// Rows classified.
    pub rows: usize,
    /// Rows whose greedy verdict began with the opening run as a draft with the prompt (so
    /// decoding started after it).
    pub openings_kept: usize,
    /// Tokens generated (the verdicts).
    pub generated_tokens: usize,
    /// Prompt tokens of every row served.
    pub prompt_tokens: usize,
    /// Prompt tokens run through the model: each row's tokens after the prefix, plus each
    /// computation of a prefix.
    pub computed_tokens: usize,
    /// How often a prefix was computed.
    pub prefix_builds: usize,
}

impl TokenStats {
    /// The fraction of prompt tokens that sharing the prefix saved.
    pub fn saved_fraction(&self) -> f64 {
        if self.prompt_tokens == 0 {
            return 0.0;
        }
        1.0 - self.computed_tokens as f64 / self.prompt_tokens as f64
    }
}

/// The prefix cache of one model (with its adapter): the last prefix computed, kept until a
/// batch needs another one (a new policy).
pub struct PrefixSlot<B: Backend> {
    cached: RefCell<Option<PrefixCache<B>>>,
    stats: Cell<TokenStats>,
}

impl<B: Backend> Default for PrefixSlot<B> {
    fn default() -> Self {
        PrefixSlot { cached: RefCell::new(None), stats: Cell::new(TokenStats::default()) }
    }
}

impl<B: Backend> PrefixSlot<B> {
    /// A cache holding the prefix that `prompts` share, broadcast to their rows, and each
    /// prompt's tokens after it. The prefix is [`choose_prefix`]'s; it is computed only when it
    /// differs from the one kept.
    pub fn prepare(
        &self,
        model: &LlamaForCausalLM<B>,
        prompts: &[Vec<u32>],
        policy: Option<&[u32]>,
        device: &B::Device,
    ) -> Result<(KvCache<B>, Vec<Vec<u32>>)> {
        if let Some(row) = prompts.iter().position(Vec::is_empty) {
            anyhow::bail!("prompt {row} is empty: a guard prompt needs at least one token");
        }
        let mut cached = self.cached.borrow_mut();
        let kept = cached.as_ref().map(PrefixCache::ids);
        let len = choose_prefix(kept, prompts, policy);
        let mut stats = self.stats.get();
        let prefix = prompts.first().map_or(&[][..], |p| &p[..len]);
        if kept != Some(prefix) {
            *cached = Some(PrefixCache::build(model, prefix, device));
            stats.prefix_builds += 1;
            stats.computed_tokens += len;
        }
        let suffixes: Vec<Vec<u32>> = prompts.iter().map(|p| p[len..].to_vec()).collect();
        stats.prompt_tokens += prompts.iter().map(Vec::len).sum::<usize>();
        stats.computed_tokens += suffixes.iter().map(Vec::len).sum::<usize>();
        self.stats.set(stats);
        let cache = cached.as_ref().expect("just filled").rows(prompts.len());
        Ok((cache, suffixes))
    }

    /// Counts one batch's generated verdicts: their tokens, and how many began with the
    /// `opening` drafted with the prompt.
    pub fn count_generated<'a>(&self, outputs: impl Iterator<Item = &'a [u32]>, opening: &[u32]) {
        let mut stats = self.stats.get();
        for tokens in outputs {
            stats.rows += 1;
            stats.generated_tokens += tokens.len();
            stats.openings_kept +=
                usize::from(tokens.len() > opening.len() && tokens.starts_with(opening));
        }
        self.stats.set(stats);
    }

    /// What this slot has served so far.
    pub fn stats(&self) -> TokenStats {
        self.stats.get()
    }
}

/// The length of the prefix to share among `prompts` (non-empty rows), at most one token short
/// of the shortest, so every row keeps a token whose logits decide its first output token.
///
/// With a `policy` prefix (what every prompt of the batch's policy starts with), it is the part
/// of it that all prompts share: the same for every batch of that policy. Without one, the `kept`
/// prefix is reused while every prompt starts with it; otherwise the prompts' longest common
/// prefix is taken.
pub fn choose_prefix(kept: Option<&[u32]>, prompts: &[Vec<u32>], policy: Option<&[u32]>) -> usize {
    let Some(shortest) = prompts.iter().map(Vec::len).min() else { return 0 };
    let cap = shortest.saturating_sub(1);
    let rows = || prompts.iter().map(Vec::as_slice);
    let len = match (policy, kept) {
        (Some(policy), _) => common_prefix_len(std::iter::once(policy).chain(rows())),
        (None, Some(kept)) if kept.len() <= cap && rows().all(|p| p.starts_with(kept)) => {
            kept.len()
        }
        (None, _) => common_prefix_len(rows()),
    };
    len.min(cap)
}
