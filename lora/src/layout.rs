//! How a micro-batch's samples are laid out for the model: padded rows, packed rows, or rows
//! that hold a prefix shared by several samples once (`training.share_prefix`).
//!
//! Guard examples begin with the same chat-template header, task and 23-category policy (~400
//! tokens), followed by a short conversation and the verdict. Computed row by row, most of a
//! micro-batch is that prefix again and again. A shared-prefix row holds the longest common
//! prefix once, then each sample's remaining tokens; those tokens attend to the whole prefix and
//! to their own sample (the parent rule of `guardtune_model::batch`), with RoPE positions
//! continuing after the prefix. Every token then sees exactly the keys and values it would see in
//! its own row, so the loss and its gradients are those of the unshared layout; only the order
//! of summation changes. (With LoRA dropout, the prefix's tokens draw one mask instead of one
//! per sample.)
//!
//! The prefix stops before the first target token of any sample, so no target is predicted from
//! a shared position: the loss needs no change. Rows are only shared when that costs less: a
//! micro-batch of separate rows becomes one row only if it holds fewer tokens and their
//! projections and attention together cost less (see [`worth_sharing`]); a packed row always
//! gains.

use burn::tensor::backend::Backend;
use guardtune_model::batch::{Token, NO_PARENT};
use guardtune_model::loss::IGNORE_INDEX;
use guardtune_model::Batch;

/// One sample: its token ids and labels (aligned, [`IGNORE_INDEX`] where nothing is predicted).
#[derive(Clone, Copy)]
pub(crate) struct Sample<'a> {
    pub ids: &'a [u32],
    pub labels: &'a [i64],
}

/// The model input for some rows of samples: each row's tokens and its labels.
pub(crate) struct Layout {
    rows: Vec<Vec<Token>>,
    labels: Vec<Vec<i64>>,
}

impl Layout {
    /// Rows of samples laid end to end (one sample per row: plain padded rows), each row with a
    /// shared prefix when `share_prefix` and it pays (see the module docs).
    pub fn new(rows: &[Vec<Sample>], share_prefix: bool) -> Self {
        let mut layout = Layout { rows: Vec::new(), labels: Vec::new() };
        let separate = rows.iter().all(|row| row.len() == 1);
        if share_prefix && separate && rows.len() > 1 {
            let samples: Vec<Sample> = rows.iter().map(|row| row[0]).collect();
            if let Some(prefix) = worth_sharing(&samples) {
                layout.push_shared(&samples, prefix);
                return layout;
            }
        }
        for row in rows {
            match shared_prefix(row).filter(|_| share_prefix && row.len() > 1) {
                Some(prefix) => layout.push_shared(row, prefix),
                None => layout.push_packed(row),
            }
        }
        layout
    }

    pub fn batch<B: Backend>(&self, pad_id: u32, device: &B::Device) -> Batch<B> {
        Batch::from_tokens(&self.rows, pad_id, device)
    }

    pub fn labels(&self) -> &[Vec<i64>] {
        &self.labels
    }

    /// Tokens the model computes (padding excluded).
    pub fn tokens(&self) -> usize {
        self.rows.iter().map(Vec::len).sum()
    }

    /// Samples one after another, each its own segment with positions from 0.
    fn push_packed(&mut self, samples: &[Sample]) {
        let (mut tokens, mut labels) = (Vec::new(), Vec::new());
        for (k, sample) in samples.iter().enumerate() {
            let segment = k as i64 + 1;
            tokens.extend(sample.ids.iter().enumerate().map(|(t, &id)| Token {
                id,
                position: t as i64,
                segment,
                parent: NO_PARENT,
            }));
            let start = labels.len();
            labels.extend_from_slice(sample.labels);
            // A sample's first token is never predicted from the previous sample's last.
            labels[start] = IGNORE_INDEX;
        }
        self.rows.push(tokens);
        self.labels.push(labels);
    }

    /// The first `prefix` tokens once (segment 1), then each sample's remaining tokens.
    fn push_shared(&mut self, samples: &[Sample], prefix: usize) {
        let first = samples[0];
        let mut tokens: Vec<Token> = first.ids[..prefix]
            .iter()
            .enumerate()
            .map(|(t, &id)| Token { id, position: t as i64, segment: 1, parent: NO_PARENT })
            .collect();
        let mut labels = vec![IGNORE_INDEX; prefix];
        for (k, sample) in samples.iter().enumerate() {
            let segment = k as i64 + 2;
            tokens.extend(sample.ids[prefix..].iter().enumerate().map(|(t, &id)| Token {
                id,
                position: (prefix + t) as i64,
                segment,
                parent: 1,
            }));
            // Its first label is ignored (the prefix ends before any target).
            labels.extend_from_slice(&sample.labels[prefix..]);
        }
        self.rows.push(tokens);
        self.labels.push(labels);
    }
}

/// A token's projections and MLP cost about as much as attending over this many keys: per
/// layer, ~2 x params FLOPs against ~4 x hidden per key (QK^T and AV over all heads). That is
/// ~3,000 for SmolLM2-135M and ~27,000 for Llama-3.1-8B; the lower bound keeps the choice safe
/// for any Llama shape.
const KEYS_PER_TOKEN_COST: usize = 2048;

/// The prefix length that rows of separate samples can share, if one row holding it once costs
/// less than the padded rows: a row of `n` tokens costs `n x (KEYS_PER_TOKEN_COST + n)` (its
/// projections, then its attention square). Eight SmolLM2 guard examples of ~490 tokens sharing
/// a 357-token prefix are one row of ~1,420 tokens: 2.8x fewer tokens for a square 1.05x the
/// eight small ones together, far cheaper overall (a rule on the square alone refused it).
fn worth_sharing(samples: &[Sample]) -> Option<usize> {
    let prefix = shared_prefix(samples)?;
    let longest = samples.iter().map(|s| s.ids.len()).max().unwrap_or(0);
    let shared_len = prefix + samples.iter().map(|s| s.ids.len() - prefix).sum::<usize>();
    let cost = |tokens: usize, width: usize| tokens as f64 * (KEYS_PER_TOKEN_COST + width) as f64;
    let padded = samples.len() * longest;
    (shared_len < padded && cost(shared_len, shared_len) < cost(padded, longest)).then_some(prefix)
}

/// The longest prefix common to every sample's ids that ends before the first token any of them
/// predicts (its label is not ignored), if it is not empty.
pub(crate) fn shared_prefix(samples: &[Sample]) -> Option<usize> {
    let first = samples.first()?;
    let common = samples[1..].iter().fold(first.ids.len(), |common, sample| {
        common.min(first.ids.iter().zip(sample.ids).take_while(|(a, b)| a == b).count())
    });
    // Token t is predicted when labels[t] is set (the loss shifts labels): the prefix must end
    // before t - 1, the position that predicts it, for every sample.
    let before_targets = samples
        .iter()
        .map(|s| s.labels.iter().skip(1).position(|&l| l != IGNORE_INDEX).unwrap_or(s.ids.len()))
        .min()?;
    let prefix = common.min(before_targets);
    (prefix > 0).then_some(prefix)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample<'a>(ids: &'a [u32], labels: &'a [i64]) -> Sample<'a> {
        Sample { ids, labels }
    }

    #[test]
    fn the_prefix_stops_at_the_first_difference_and_before_any_target() {
        let (a, b) = ([1, 2, 3, 4, 5, 6], [1, 2, 3, 9, 9]);
        let none = [-100i64; 6];
        assert_eq!(shared_prefix(&[sample(&a, &none), sample(&b, &none[..5])]), Some(3));
        // Token 2 is predicted in the second sample: the prefix ends before position 1.
        let targets = [-100, -100, 3, 9, 9];
        assert_eq!(shared_prefix(&[sample(&a, &none), sample(&b, &targets)]), Some(1));
        // Identical samples with targets from token 4 on: positions 0..3 are shared.
        let labels = [-100, -100, -100, -100, 5, 6];
        assert_eq!(shared_prefix(&[sample(&a, &labels), sample(&a, &labels)]), Some(3));
        assert_eq!(shared_prefix(&[sample(&a, &none), sample(&[7, 2], &none[..2])]), None);
    }

    #[test]
    fn a_shared_row_holds_the_prefix_once_and_continues_positions() {
        let (a, b) = ([1, 2, 3, 4, 5], [1, 2, 3, 8]);
        let (la, lb) = ([-100, -100, -100, -100, 5], [-100, -100, -100, 8]);
        let rows = vec![vec![sample(&a, &la)], vec![sample(&b, &lb)]];
        let layout = Layout::new(&rows, true);
        assert_eq!(layout.rows.len(), 1);
        let row = &layout.rows[0];
        // The second sample predicts its token 3 from position 2: only positions 0..2 are shared.
        let ids: Vec<u32> = row.iter().map(|t| t.id).collect();
        assert_eq!(ids, [1, 2, 3, 4, 5, 3, 8]);
        let positions: Vec<i64> = row.iter().map(|t| t.position).collect();
        assert_eq!(positions, [0, 1, 2, 3, 4, 2, 3]);
        let parents: Vec<i64> = row.iter().map(|t| t.parent).collect();
        assert_eq!(parents, [NO_PARENT, NO_PARENT, 1, 1, 1, 1, 1]);
        let segments: Vec<i64> = row.iter().map(|t| t.segment).collect();
        assert_eq!(segments, [1, 1, 2, 2, 2, 3, 3]);
        assert_eq!(layout.labels[0], [-100, -100, -100, -100, 5, -100, 8]);
        assert_eq!(layout.tokens(), 7);
        // Without sharing: the padded rows as they are.
        let plain = Layout::new(&rows, false);
        assert_eq!((plain.rows.len(), plain.tokens()), (2, 9));
        assert_eq!(plain.labels[1], [-100, -100, -100, 8]);
    }

    /// The shape of a SmolLM2 guard micro-batch: eight ~490-token examples after a 357-token
    /// template and policy. One shared row is cheaper although its attention square is a little
    /// larger than the eight rows' together.
    #[test]
    fn guard_examples_share_their_policy_prefix() {
        let rows: Vec<(Vec<u32>, Vec<i64>)> = (0..8u32)
            .map(|k| {
                let len = 480 + 2 * k as usize;
                let ids: Vec<u32> =
                    (0..len as u32).map(|t| if t < 357 { t } else { t + 1000 * k }).collect();
                let mut labels = vec![-100i64; len];
                labels[len - 20..].iter_mut().for_each(|l| *l = 1);
                (ids, labels)
            })
            .collect();
        let samples: Vec<Vec<Sample>> =
            rows.iter().map(|(ids, labels)| vec![sample(ids, labels)]).collect();
        let layout = Layout::new(&samples, true);
        assert_eq!(layout.rows.len(), 1);
        let unshared: usize = rows.iter().map(|(ids, _)| ids.len()).sum();
        assert_eq!(layout.tokens(), unshared - 7 * 357);
        // Two long samples that share one token gain nothing: they stay apart.
        let (a, b) = ((0..400).collect::<Vec<u32>>(), (0..1).chain(500..900).collect::<Vec<u32>>());
        let none = vec![-100i64; 401];
        let apart = vec![vec![sample(&a, &none[..400])], vec![sample(&b, &none)]];
        assert_eq!(Layout::new(&apart, true).rows.len(), 2);
    }

    #[test]
    fn rows_without_a_common_prefix_stay_apart() {
        let (a, b) = ([1, 2, 3], [4, 5, 6]);
        let labels = [-100, 2, 3];
        let rows = vec![vec![sample(&a, &labels)], vec![sample(&b, &labels)]];
        assert_eq!(Layout::new(&rows, true).rows.len(), 2);
    }
}
