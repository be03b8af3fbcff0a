//! Rotary position embeddings in Hugging Face's rotate-half layout, with the default, linear and
//! Llama 3 frequency scalings.
//!
//! HF checkpoints store q/k projections for rotate-half pairs `(x[j], x[j + d/2])`; Burn's own
//! `RotaryEncoding` rotates interleaved pairs, which would need permuted weights and permuted
//! LoRA exports. Rotating halves here keeps checkpoints and adapters byte-compatible.

use burn::module::Module;
use burn::tensor::backend::Backend;
use burn::tensor::{DType, Int, Tensor, TensorData};

use crate::config::{LlamaConfig, RopeScaling};
use crate::kernels;

/// Inverse frequencies `inv_freq[i]`, i = 0..head_dim/2, after scaling.
///
/// Computed in f64 and rounded once to f32; transformers computes the same formula in f32, so
/// the two agree to an ulp.
pub fn inverse_frequencies(cfg: &LlamaConfig) -> Vec<f32> {
    let d = cfg.head_dim as f64;
    (0..cfg.head_dim / 2)
        .map(|i| {
            let f = 1.0 / cfg.rope_theta.powf(2.0 * i as f64 / d);
            scale_frequency(f, &cfg.rope_scaling) as f32
        })
        .collect()
}

fn scale_frequency(f: f64, scaling: &RopeScaling) -> f64 {
    match *scaling {
        RopeScaling::Default => f,
        RopeScaling::Linear { factor } => f / factor,
        RopeScaling::Llama3 {
            factor,
            low_freq_factor,
            high_freq_factor,
            original_max_position_embeddings,
        } => {
            let wavelen = 2.0 * std::f64::consts::PI / f;
            let low_freq_wavelen = original_max_position_embeddings / low_freq_factor;
            let high_freq_wavelen = original_max_position_embeddings / high_freq_factor;
            if wavelen < high_freq_wavelen {
                f
            } else if wavelen > low_freq_wavelen {
                f / factor
            } else {
                let smooth = (original_max_position_embeddings / wavelen - low_freq_factor)
                    / (high_freq_factor - low_freq_factor);
                (1.0 - smooth) * f / factor + smooth * f
            }
        }
    }
}

/// The per-position rotation for a batch: cos and sin of shape `[batch, seq, head_dim]`.
pub struct RotaryTables<B: Backend> {
    pub cos: Tensor<B, 3>,
    pub sin: Tensor<B, 3>,
}

/// Holds the inverse frequencies and turns position ids into rotation tables.
#[derive(Module, Debug)]
pub struct Rope<B: Backend> {
    /// `[1, 1, head_dim/2]`, a constant (not a parameter).
    inv_freq: Tensor<B, 3>,
    /// `[head_dim, head_dim]`: `x @ rotate_half == cat(-x2, x1)`, a signed permutation (constant).
    rotate_half: Tensor<B, 2>,
}

impl<B: Backend> Rope<B> {
    pub fn new(cfg: &LlamaConfig, device: &B::Device) -> Self {
        let freqs = inverse_frequencies(cfg);
        let half = freqs.len();
        let inv_freq = Tensor::from_data(TensorData::new(freqs, [1, 1, half]), device);
        Self { inv_freq, rotate_half: rotate_half_matrix(cfg.head_dim, device) }
    }

    /// cos/sin tables for `positions` `[batch, seq]`: angle `pos * inv_freq[j mod d/2]`, as
    /// transformers computes it (the f32 product, then cos and sin).
    pub fn tables(&self, positions: Tensor<B, 2, Int>) -> RotaryTables<B> {
        let [batch, seq] = positions.dims();
        let angles = positions.float().reshape([batch, seq, 1]) * self.inv_freq.clone();
        let angles = Tensor::cat(vec![angles.clone(), angles], 2);
        RotaryTables { cos: angles.clone().cos(), sin: angles.sin() }
    }

    /// The rotation of one attention input with `heads` heads, its result multiplied by
    /// `scale` (queries carry the `1/sqrt(head_dim)` score scale this way, for free), applied
    /// in `dtype` (transformers rounds cos and sin to the activations' dtype too).
    pub fn for_heads(
        &self,
        tables: &RotaryTables<B>,
        heads: usize,
        scale: f64,
        dtype: DType,
    ) -> HeadRotation<B> {
        let [batch, seq, d] = tables.cos.dims();
        // One row per token and a copy per head, so the products below are same-shape and
        // contiguous: broadcasting a table over the head axis is a slow strided loop on CPU.
        let per_head = |t: Tensor<B, 3>| {
            t.reshape([batch * seq, 1, d])
                .repeat_dim(1, heads)
                .reshape([batch * seq, heads * d])
                .mul_scalar(scale)
                .cast(dtype)
        };
        HeadRotation {
            cos: per_head(tables.cos.clone()),
            sin: per_head(tables.sin.clone()),
            rotate_half: self.rotate_half.clone().cast(dtype),
        }
    }
}

/// The signed permutation `R` with `x @ R = cat(-x[d/2..], x[..d/2])` (rotate-half as a matmul:
/// one contiguous product forward and one backward, where slicing and concatenating halves
/// costs several strided copies each way; every output is exactly one input or its negation).
fn rotate_half_matrix<B: Backend>(d: usize, device: &B::Device) -> Tensor<B, 2> {
    let half = d / 2;
    let mut r = vec![0.0f32; d * d];
    for j in 0..half {
        r[(j + half) * d + j] = -1.0; // out[j] = -x[j + half]
        r[j * d + j + half] = 1.0; // out[j + half] = x[j]
    }
    Tensor::from_data(TensorData::new(r, [d, d]), device)
}

/// RoPE for one attention input `[tokens, heads * head_dim]` (token-major, heads side by side,
/// as the projection produces it).
pub struct HeadRotation<B: Backend> {
    /// `[tokens, heads * head_dim]`, already multiplied by the output scale.
    cos: Tensor<B, 2>,
    sin: Tensor<B, 2>,
    rotate_half: Tensor<B, 2>,
}

impl<B: Backend> HeadRotation<B> {
    /// `x * cos + rotate_half(x) * sin`, times the scale.
    pub fn apply(&self, x: Tensor<B, 2>) -> Tensor<B, 2> {
        let d = self.rotate_half.dims()[0];
        kernels::rope::rotate(x, self.cos.clone(), self.sin.clone(), d, |x| {
            let [tokens, width] = x.dims();
            let rotated = x
                .clone()
                .reshape([tokens * width / d, d])
                .matmul(self.rotate_half.clone())
                .reshape([tokens, width]);
            x * self.cos.clone() + rotated * self.sin.clone()
        })
    }
}
