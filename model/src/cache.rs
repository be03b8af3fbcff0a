//! The key/value cache for incremental decoding: each layer's rotated keys and values so far,
//! and the segment id of every cached position so new queries get the same masking rule.
//!
//! A cache of one row can hold a prefix that many sequences share (a guard's policy prompt):
//! [`PrefixCache`] computes it once, and [`KvCache::broadcast`] lends it to every row of a batch,
//! whose own tokens then continue at the positions after it.

use std::ops::Range;

use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor, TensorData};

use crate::batch::{Batch, PAD_SEGMENT};
use crate::kernels::kv_write::write_positions;
use crate::llama::LlamaForCausalLM;

/// One layer's cached keys and values: buffers `[batch, kv_heads, 1, capacity, head_dim]` (the
/// `1` is the group axis the query heads that share a key/value head broadcast over), whose first
/// `len` positions are filled.
pub struct LayerCache<B: Backend> {
    kv: Option<(Tensor<B, 5>, Tensor<B, 5>)>,
    len: usize,
}

impl<B: Backend> LayerCache<B> {
    fn empty() -> Self {
        LayerCache { kv: None, len: 0 }
    }

    /// Appends this step's keys and values (`[batch, kv_heads, 1, new, head_dim]`) and returns
    /// all of them, as views of the buffers. The buffers keep room for later positions, so a
    /// decoding step writes its one position, where concatenating copied the whole cache at
    /// every step (7% of a classification under `perf`).
    pub(crate) fn append(
        &mut self,
        k: Tensor<B, 5>,
        v: Tensor<B, 5>,
    ) -> (Tensor<B, 5>, Tensor<B, 5>) {
        let start = self.len;
        let len = start + k.dims()[3];
        let (ck, cv) = match self.kv.take() {
            Some((ck, cv)) if ck.dims()[3] >= len => (ck, cv),
            // No buffer yet, or none with room: a full one, or a shared prefix lent to each row
            // (`KvCache::broadcast`). The positions filled so far move to the new one, once.
            kept => {
                let (new_k, new_v) = (buffer(&k, len), buffer(&v, len));
                match kept {
                    Some((ck, cv)) => (
                        write_positions(new_k, 0, filled(ck, start)),
                        write_positions(new_v, 0, filled(cv, start)),
                    ),
                    None => (new_k, new_v),
                }
            }
        };
        let (ck, cv) = (write_positions(ck, start, k), write_positions(cv, start, v));
        self.len = len;
        self.kv = Some((ck.clone(), cv.clone()));
        (filled(ck, len), filled(cv, len))
    }
}

/// A zeroed buffer shaped like `t` (`[batch, kv_heads, 1, _, head_dim]`) with room for `len`
/// positions and half as many again (at least 64): a decoding run grows it a few times at most.
fn buffer<B: Backend>(t: &Tensor<B, 5>, len: usize) -> Tensor<B, 5> {
    let [batch, heads, group, _, d] = t.dims();
    let capacity = len + (len / 2).max(64);
    Tensor::<B, 5>::zeros([batch, heads, group, capacity, d], &t.device()).cast(t.dtype())
}

/// The first `len` positions of a buffer (a view).
fn filled<B: Backend>(t: Tensor<B, 5>, len: usize) -> Tensor<B, 5> {
    let [batch, heads, group, _, d] = t.dims();
    t.slice([0..batch, 0..heads, 0..group, 0..len, 0..d])
}

pub struct KvCache<B: Backend> {
    layers: Vec<LayerCache<B>>,
    /// `[batch, cached]`, or `None` before the first step.
    segments: Option<Tensor<B, 2, Int>>,
}

impl<B: Backend> KvCache<B> {
    pub fn new(num_layers: usize) -> Self {
        KvCache { layers: (0..num_layers).map(|_| LayerCache::empty()).collect(), segments: None }
    }

    /// Number of cached positions.
    pub fn len(&self) -> usize {
        self.segments.as_ref().map_or(0, |s| s.dims()[1])
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Rows of the cached batch (0 before the first step).
    pub fn rows(&self) -> usize {
        self.segments.as_ref().map_or(0, |s| s.dims()[0])
    }

    /// This cache lent to `rows` rows: a cache of one row is broadcast (its keys and values are
    /// shared until the rows append their own, when each layer copies them once into buffers of
    /// the rows' own);
    /// an empty cache stays empty, and a cache of `rows` rows is shared as it is.
    ///
    /// Panics if the cache holds another number of rows: a caller's bug, never user input.
    pub fn broadcast(&self, rows: usize) -> Self {
        let cached = self.rows();
        assert!(
            cached <= 1 || cached == rows,
            "a cache of {cached} rows cannot be broadcast to {rows} rows"
        );
        let expand = |t: &Tensor<B, 5>, len: usize| {
            let [_, heads, group, _, d] = t.dims();
            filled(t.clone(), len).expand([rows, heads, group, len, d])
        };
        KvCache {
            layers: self
                .layers
                .iter()
                .map(|layer| LayerCache {
                    kv: layer
                        .kv
                        .as_ref()
                        .map(|(k, v)| (expand(k, layer.len), expand(v, layer.len))),
                    len: layer.len,
                })
                .collect(),
            segments: self.segments.as_ref().map(|s| s.clone().expand([rows, s.dims()[1]])),
        }
    }

    /// Makes cached positions invisible to every later query, as padding is: `(row, columns)`
    /// pairs, columns counted from the first cached position. Used to drop the keys of draft
    /// tokens that decoding did not accept.
    pub fn hide(&mut self, spans: &[(usize, Range<usize>)]) {
        let Some(segments) = self.segments.take() else { return };
        let [rows, len] = segments.dims();
        let device = segments.device();
        let mut values: Vec<i64> = segments.into_data().iter::<i64>().collect();
        for (row, columns) in spans {
            for column in columns.clone() {
                values[row * len + column] = PAD_SEGMENT;
            }
        }
        self.segments = Some(Tensor::from_data(TensorData::new(values, [rows, len]), &device));
    }

    pub(crate) fn layer(&mut self, i: usize) -> &mut LayerCache<B> {
        &mut self.layers[i]
    }

    /// The bias for new queries with `segments` over the cached keys followed by themselves.
    pub(crate) fn attention_bias(&self, segments: &Tensor<B, 2, Int>) -> Tensor<B, 5> {
        let keys = match &self.segments {
            Some(cached) => Tensor::cat(vec![cached.clone(), segments.clone()], 1),
            None => segments.clone(),
        };
        Batch::attention_bias(segments, &keys, self.len())
    }

    /// Records the segments of the positions just appended by every layer.
    pub(crate) fn commit(&mut self, segments: &Tensor<B, 2, Int>) {
        self.segments = Some(match self.segments.take() {
            Some(cached) => Tensor::cat(vec![cached, segments.clone()], 1),
            None => segments.clone(),
        });
    }
}

/// The keys and values of a token prefix that many sequences start with, computed once as a
/// batch of one (positions 0..len, one segment) and lent to each batch with [`Self::rows`].
pub struct PrefixCache<B: Backend> {
    ids: Vec<u32>,
    cache: KvCache<B>,
}

impl<B: Backend> PrefixCache<B> {
    /// Runs `ids` through the model once (nothing runs for an empty prefix).
    pub fn build(model: &LlamaForCausalLM<B>, ids: &[u32], device: &B::Device) -> Self {
        let mut cache = KvCache::new(model.num_layers());
        if !ids.is_empty() {
            let batch = Batch::right_padded(&[ids.to_vec()], 0, device);
            // Only the keys and values are wanted; the hidden states are dropped.
            drop(model.model.forward(&batch, Some(&mut cache), None));
        }
        PrefixCache { ids: ids.to_vec(), cache }
    }

    /// The prefix's token ids.
    pub fn ids(&self) -> &[u32] {
        &self.ids
    }

    /// A cache for a batch of `rows` sequences that all start with the prefix; their remaining
    /// tokens take positions from `ids().len()` on.
    pub fn rows(&self, rows: usize) -> KvCache<B> {
        self.cache.broadcast(rows)
    }
}

/// Length of the longest common prefix of `rows` (0 for no rows).
pub fn common_prefix_len<'a>(rows: impl IntoIterator<Item = &'a [u32]>) -> usize {
    let mut rows = rows.into_iter();
    let Some(first) = rows.next() else { return 0 };
    rows.fold(first.len(), |len, row| {
        first[..len].iter().zip(row).take_while(|(a, b)| a == b).count()
    })
}
