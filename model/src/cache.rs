//! The key/value cache for incremental decoding: each layer's rotated keys and values so far,
//! and the segment id of every cached position so new queries get the same masking rule.

use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor};

use crate::batch::Batch;

/// One layer's cached keys and values, `[batch, kv_heads, cached, head_dim]`.
pub struct LayerCache<B: Backend> {
    kv: Option<(Tensor<B, 4>, Tensor<B, 4>)>,
}

impl<B: Backend> LayerCache<B> {
    /// Appends this step's keys/values and returns all of them.
    pub(crate) fn append(
        &mut self,
        k: Tensor<B, 4>,
        v: Tensor<B, 4>,
    ) -> (Tensor<B, 4>, Tensor<B, 4>) {
        let (k, v) = match self.kv.take() {
            Some((ck, cv)) => (Tensor::cat(vec![ck, k], 2), Tensor::cat(vec![cv, v], 2)),
            None => (k, v),
        };
        self.kv = Some((k.clone(), v.clone()));
        (k, v)
    }
}

pub struct KvCache<B: Backend> {
    layers: Vec<LayerCache<B>>,
    /// `[batch, cached]`, or `None` before the first step.
    segments: Option<Tensor<B, 2, Int>>,
}

impl<B: Backend> KvCache<B> {
    pub fn new(num_layers: usize) -> Self {
        KvCache {
            layers: (0..num_layers).map(|_| LayerCache { kv: None }).collect(),
            segments: None,
        }
    }

    /// Number of cached positions.
    pub fn len(&self) -> usize {
        self.segments.as_ref().map_or(0, |s| s.dims()[1])
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
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
