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
use crate::llama::LlamaForCausalLM;

/// Positions of room a layer's buffers get beyond what they hold when they grow: decoding
/// appends one position per step, so a buffer is copied once per this many steps, not at every
/// step (a concatenation per step copied the whole cache: 13% of a base-model classification).
const HEADROOM: usize = 64;

/// One layer's cached keys and values: buffers `[batch, kv_heads, capacity, head_dim]` whose
/// first `len` positions are filled.
pub struct LayerCache<B: Backend> {
    kv: Option<(Tensor<B, 4>, Tensor<B, 4>)>,
    len: usize,
}

impl<B: Backend> LayerCache<B> {
    fn empty() -> Self {
        LayerCache { kv: None, len: 0 }
    }

    /// Appends this step's keys/values and returns all of them (views of the buffers).
    ///
    /// They are written in place when the buffers have room and nothing else holds them
    /// (Burn copies a shared buffer before writing, so a cache lent to many batches, such as a
    /// [`PrefixCache`], never changes); otherwise the buffers grow, with [`HEADROOM`] to spare.
    pub(crate) fn append(
        &mut self,
        k: Tensor<B, 4>,
        v: Tensor<B, 4>,
    ) -> (Tensor<B, 4>, Tensor<B, 4>) {
        let [batch, heads, new, d] = k.dims();
        let (len, total) = (self.len, self.len + new);
        let (k, v) = match self.kv.take() {
            // The first keys are kept as they are: a prefix computed once is never appended to.
            None => (k, v),
            Some((ck, cv)) if ck.dims()[2] >= total && ck.dims()[0] == batch => {
                let at = [0..batch, 0..heads, len..total, 0..d];
                (ck.slice_assign(at.clone(), k), cv.slice_assign(at, v))
            }
            Some((ck, cv)) => {
                let grown = |cached: Tensor<B, 4>, fresh: Tensor<B, 4>| {
                    let room = Tensor::<B, 4>::zeros([batch, heads, HEADROOM, d], &fresh.device())
                        .cast(fresh.dtype());
                    let rows = cached.dims()[0];
                    let filled = cached.slice([0..rows, 0..heads, 0..len, 0..d]);
                    Tensor::cat(vec![filled, fresh, room], 2)
                };
                (grown(ck, k), grown(cv, v))
            }
        };
        self.len = total;
        let filled = |t: &Tensor<B, 4>| t.clone().slice([0..batch, 0..heads, 0..total, 0..d]);
        let out = (filled(&k), filled(&v));
        self.kv = Some((k, v));
        out
    }
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
    /// shared until the rows append their own, when each layer's concatenation copies them once);
    /// an empty cache stays empty, and a cache of `rows` rows is shared as it is.
    ///
    /// Panics if the cache holds another number of rows: a caller's bug, never user input.
    pub fn broadcast(&self, rows: usize) -> Self {
        let cached = self.rows();
        assert!(
            cached <= 1 || cached == rows,
            "a cache of {cached} rows cannot be broadcast to {rows} rows"
        );
        let expand = |t: &Tensor<B, 4>| {
            let [_, heads, len, d] = t.dims();
            t.clone().expand([rows, heads, len, d])
        };
        KvCache {
            layers: self
                .layers
                .iter()
                .map(|layer| LayerCache {
                    kv: layer.kv.as_ref().map(|(k, v)| (expand(k), expand(v))),
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
