//! What a forward pass reads besides the weights: token ids, RoPE positions, and segment ids
//! that say which tokens may attend to which.
//!
//! One rule covers every layout: a query attends to a key when both carry the same segment id
//! and the key does not come after the query. Real tokens of a sample share a segment; padding
//! gets segment 0. So padding never leaks into real tokens, packed samples never see each other,
//! and no row is ever fully masked (a pad token still sees itself), so softmax never yields NaN.
//!
//! A row may also hold a prefix shared by several samples, once, followed by each sample's
//! remaining tokens ([`Batch::from_tokens`]): those tokens name the prefix's segment as their
//! parent and attend to all of it as well (the prefix comes first in the row).

use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor, TensorData};
use rayon::prelude::*;

/// Segment id of padding tokens.
pub const PAD_SEGMENT: i64 = 0;

pub struct Batch<B: Backend> {
    /// `[batch, seq]`
    pub input_ids: Tensor<B, 2, Int>,
    /// `[batch, seq]`: RoPE positions (restarting per packed sample).
    pub positions: Tensor<B, 2, Int>,
    /// `[batch, seq]`: 0 for padding, 1.. for samples.
    pub segments: Tensor<B, 2, Int>,
    /// `[batch, seq]`: the segment each token's sample continues (a shared prefix), or
    /// [`NO_PARENT`]; `None` when no token has one.
    pub parents: Option<Tensor<B, 2, Int>>,
}

/// Parent segment of a token whose sample continues no shared prefix.
pub const NO_PARENT: i64 = -1;

/// One token placed explicitly (see [`Batch::from_tokens`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Token {
    pub id: u32,
    /// RoPE position.
    pub position: i64,
    /// Its sample's segment (1..).
    pub segment: i64,
    /// The segment of the prefix its sample continues, or [`NO_PARENT`].
    pub parent: i64,
}

impl<B: Backend> Batch<B> {
    /// Rows of token ids padded on the right with `pad_id` (training and scoring).
    pub fn right_padded(rows: &[Vec<u32>], pad_id: u32, device: &B::Device) -> Self {
        let seq = rows.iter().map(Vec::len).max().unwrap_or(0);
        Self::build(rows.len(), seq, device, |row, t| match rows[row].get(t) {
            Some(&id) => (id, t as i64, 1),
            None => (pad_id, t as i64, PAD_SEGMENT),
        })
    }

    /// Rows padded on the left (batched generation: every row's last prompt token is at the
    /// same index, so decoding appends one column per step). Positions start at 0 at each
    /// row's first real token, as if the row were alone.
    pub fn left_padded(rows: &[Vec<u32>], pad_id: u32, device: &B::Device) -> Self {
        let seq = rows.iter().map(Vec::len).max().unwrap_or(0);
        Self::build(rows.len(), seq, device, |row, t| {
            let pad = seq - rows[row].len();
            match t.checked_sub(pad) {
                Some(i) => (rows[row][i], i as i64, 1),
                None => (pad_id, 0, PAD_SEGMENT),
            }
        })
    }

    /// Several samples per row, packed end to end: positions restart and attention stays
    /// within each sample. Rows are padded on the right.
    pub fn packed(rows: &[Vec<Vec<u32>>], pad_id: u32, device: &B::Device) -> Self {
        let flat: Vec<Vec<(u32, i64, i64)>> = rows
            .iter()
            .map(|samples| {
                samples
                    .iter()
                    .enumerate()
                    .flat_map(|(s, ids)| {
                        ids.iter().enumerate().map(move |(p, &id)| (id, p as i64, s as i64 + 1))
                    })
                    .collect()
            })
            .collect();
        let seq = flat.iter().map(Vec::len).max().unwrap_or(0);
        Self::build(rows.len(), seq, device, |row, t| {
            flat[row].get(t).copied().unwrap_or((pad_id, t as i64, PAD_SEGMENT))
        })
    }

    /// Rows of explicitly placed tokens, padded on the right: layouts the constructors above do
    /// not cover, such as a shared prefix followed by the samples that continue it.
    pub fn from_tokens(rows: &[Vec<Token>], pad_id: u32, device: &B::Device) -> Self {
        let seq = rows.iter().map(Vec::len).max().unwrap_or(0);
        let cell = |row: usize, t: usize| match rows[row].get(t) {
            Some(token) => (token.id, token.position, token.segment),
            None => (pad_id, t as i64, PAD_SEGMENT),
        };
        let mut batch = Self::build(rows.len(), seq, device, cell);
        if rows.iter().flatten().all(|token| token.parent == NO_PARENT) {
            return batch;
        }
        let parents: Vec<i64> = (0..rows.len())
            .flat_map(|row| (0..seq).map(move |t| rows[row].get(t).map_or(NO_PARENT, |x| x.parent)))
            .collect();
        batch.parents =
            Some(Tensor::from_data(TensorData::new(parents, [rows.len(), seq]), device));
        batch
    }

    /// One new token per row at the given positions (a decoding step after a prompt).
    pub fn next_tokens(tokens: &[u32], positions: &[i64], device: &B::Device) -> Self {
        Self::build(tokens.len(), 1, device, |row, _| (tokens[row], positions[row], 1))
    }

    fn build(
        batch: usize,
        seq: usize,
        device: &B::Device,
        cell: impl Fn(usize, usize) -> (u32, i64, i64),
    ) -> Self {
        let mut ids = Vec::with_capacity(batch * seq);
        let mut positions = Vec::with_capacity(batch * seq);
        let mut segments = Vec::with_capacity(batch * seq);
        for row in 0..batch {
            for t in 0..seq {
                let (id, pos, seg) = cell(row, t);
                ids.push(id as i64);
                positions.push(pos);
                segments.push(seg);
            }
        }
        let tensor = |v: Vec<i64>| Tensor::from_data(TensorData::new(v, [batch, seq]), device);
        Batch {
            input_ids: tensor(ids),
            positions: tensor(positions),
            segments: tensor(segments),
            parents: None,
        }
    }

    pub fn dims(&self) -> [usize; 2] {
        self.input_ids.dims()
    }

    /// The batch's attention bias over its own tokens (no cache): the segment rule, plus each
    /// token's parent prefix when the batch has shared prefixes.
    pub fn self_attention_bias(&self) -> Tensor<B, 5> {
        let parents = self.parents.as_ref().map(host_ids);
        let segments = host_ids(&self.segments);
        let [batch, seq] = self.dims();
        let rule = MaskRule { query_offset: 0, parents: parents.as_deref() };
        bias_tensor(rule.bias(&segments, &segments, batch), [batch, seq, seq], &self.segments)
    }

    /// Additive attention bias `[batch, 1, 1, queries, keys]`: 0 where query `t` (at absolute
    /// index `query_offset + t`) may attend to key `s`, -inf elsewhere. The two singleton axes
    /// broadcast over KV heads and the query heads that share each of them.
    pub fn attention_bias(
        query_segments: &Tensor<B, 2, Int>,
        key_segments: &Tensor<B, 2, Int>,
        query_offset: usize,
    ) -> Tensor<B, 5> {
        let [batch, queries] = query_segments.dims();
        let keys = key_segments.dims()[1];
        let rule = MaskRule { query_offset, parents: None };
        let bias = rule.bias(&host_ids(query_segments), &host_ids(key_segments), batch);
        bias_tensor(bias, [batch, queries, keys], query_segments)
    }
}

/// The ids of an integer tensor, row-major.
fn host_ids<B: Backend>(t: &Tensor<B, 2, Int>) -> Vec<i64> {
    t.to_data().iter::<i64>().collect()
}

/// `[batch, queries, keys]` bias values as the `[batch, 1, 1, queries, keys]` tensor on the
/// device of `like`.
fn bias_tensor<B: Backend>(
    values: Vec<f32>,
    [batch, queries, keys]: [usize; 3],
    like: &Tensor<B, 2, Int>,
) -> Tensor<B, 5> {
    Tensor::from_data(TensorData::new(values, [batch, 1, 1, queries, keys]), &like.device())
}

/// Who may attend to whom (the module's rule), computed on the host in one pass over the
/// `[batch, queries, keys]` bias. As tensor operations it took several passes over integer
/// tensors of that size (2.4% of a 4k-token forward pass); the ids are a few thousand numbers.
struct MaskRule<'a> {
    /// The absolute index of the first query among the keys (the length of a cache).
    query_offset: usize,
    /// `[batch, queries]`: the prefix segment each query also sees, or [`NO_PARENT`].
    parents: Option<&'a [i64]>,
}

impl MaskRule<'_> {
    fn bias(&self, query_segments: &[i64], key_segments: &[i64], batch: usize) -> Vec<f32> {
        let queries = query_segments.len() / batch.max(1);
        let keys = key_segments.len() / batch.max(1);
        let mut bias = vec![f32::NEG_INFINITY; query_segments.len() * keys];
        bias.par_chunks_mut(keys.max(1)).enumerate().for_each(|(row, out)| {
            let (b, t) = (row / queries, row % queries);
            let own = query_segments[row];
            let parent = self.parents.map_or(NO_PARENT, |p| p[row]);
            // Causal: keys after the query stay masked.
            let visible = (self.query_offset + t + 1).min(keys);
            let key_row = &key_segments[b * keys..b * keys + visible];
            for (x, &segment) in out.iter_mut().zip(key_row) {
                if segment == own || (parent != NO_PARENT && segment == parent) {
                    *x = 0.0;
                }
            }
        });
        bias
    }
}

#[cfg(test)]
mod tests {
    use burn::backend::Flex;

    use super::*;

    /// The bias as rows of 0 (`.`) and -inf (`x`), one string per query.
    fn pattern(bias: Tensor<Flex, 5>) -> Vec<String> {
        let keys = bias.dims()[4];
        let values: Vec<f32> = bias.into_data().to_vec().unwrap();
        values
            .chunks(keys)
            .map(|row| row.iter().map(|&x| if x == 0.0 { '.' } else { 'x' }).collect())
            .collect()
    }

    #[test]
    fn padding_and_packing_follow_the_segment_rule() {
        // Row 0: one sample and a pad; row 1: two packed samples.
        let rows = [vec![vec![5, 6]], vec![vec![5], vec![6, 7]]];
        let batch = Batch::<Flex>::packed(&rows, 0, &Default::default());
        let expected = [".xx", "..x", "xx.", ".xx", "x.x", "x.."];
        assert_eq!(pattern(batch.self_attention_bias()), expected);
    }

    #[test]
    fn samples_also_see_the_prefix_they_continue() {
        let token = |segment, parent| Token { id: 5, position: 0, segment, parent };
        // Row 0: a prefix (segment 1), a sample after it, a second sample after it.
        // Row 1: a prefix alone, then padding.
        let rows = [
            vec![token(1, NO_PARENT), token(1, NO_PARENT), token(2, 1), token(3, 1), token(3, 1)],
            vec![token(1, NO_PARENT)],
        ];
        let batch = Batch::<Flex>::from_tokens(&rows, 0, &Default::default());
        let expected = [
            ".xxxx", "..xxx", "...xx", "..x.x", "..x..", // row 0
            ".xxxx", "x.xxx", "x..xx", "x...x", "x....", // row 1
        ];
        assert_eq!(pattern(batch.self_attention_bias()), expected);
    }

    #[test]
    fn queries_after_a_cache_see_its_keys_up_to_themselves() {
        let device = Default::default();
        let ids = |v: Vec<i64>| {
            Tensor::<Flex, 2, Int>::from_data(TensorData::new(v.clone(), [1, v.len()]), &device)
        };
        // Two cached keys (a sample of segment 1, a pad), then two queries of segment 2.
        let bias = Batch::attention_bias(&ids(vec![2, 2]), &ids(vec![1, 0, 2, 2]), 2);
        assert_eq!(pattern(bias), ["xx.x", "xx.."]);
    }
}
