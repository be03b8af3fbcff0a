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
        let Some(parents) = &self.parents else {
            return Self::attention_bias(&self.segments, &self.segments, 0);
        };
        let [batch, seq] = self.dims();
        let shape = [batch, seq, seq];
        let key_segments = self.segments.clone().reshape([batch, 1, seq]).expand(shape);
        let same_segment = self
            .segments
            .clone()
            .reshape([batch, seq, 1])
            .expand(shape)
            .equal(key_segments.clone());
        let in_parent = parents.clone().reshape([batch, seq, 1]).expand(shape).equal(key_segments);
        let device = self.segments.device();
        let key_index = Tensor::<B, 1, Int>::arange(0..seq as i64, &device).reshape([1, 1, seq]);
        let query_index = Tensor::<B, 1, Int>::arange(0..seq as i64, &device).reshape([1, seq, 1]);
        let causal = key_index.expand(shape).lower_equal(query_index.expand(shape));
        let allowed = same_segment.bool_or(in_parent).bool_and(causal);
        Tensor::<B, 3>::zeros(shape, &device)
            .mask_fill(allowed.bool_not(), f32::NEG_INFINITY)
            .reshape([batch, 1, 1, seq, seq])
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
        let device = query_segments.device();
        let shape = [batch, queries, keys];
        let same_segment = query_segments
            .clone()
            .reshape([batch, queries, 1])
            .expand(shape)
            .equal(key_segments.clone().reshape([batch, 1, keys]).expand(shape));
        let key_index = Tensor::<B, 1, Int>::arange(0..keys as i64, &device)
            .reshape([1, 1, keys])
            .expand(shape);
        let query_index = Tensor::<B, 1, Int>::arange(
            query_offset as i64..(query_offset + queries) as i64,
            &device,
        )
        .reshape([1, queries, 1])
        .expand(shape);
        let allowed = same_segment.bool_and(key_index.lower_equal(query_index));
        Tensor::<B, 3>::zeros(shape, &device)
            .mask_fill(allowed.bool_not(), f32::NEG_INFINITY)
            .reshape([batch, 1, 1, queries, keys])
    }
}
