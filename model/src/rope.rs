//! Rotary position embeddings in Hugging Face's rotate-half layout, with the default, linear and
//! Llama 3 frequency scalings.
//!
//! HF checkpoints store q/k projections for rotate-half pairs `(x[j], x[j + d/2])`; Burn's own
//! `RotaryEncoding` rotates interleaved pairs, which would need permuted weights and permuted
//! LoRA exports. Rotating halves here keeps checkpoints and adapters byte-compatible.

use burn::module::Module;
use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor, TensorData};

use crate::config::{LlamaConfig, RopeScaling};

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
        RopeScaling::Llama3 { factor, low_freq_factor, high_freq_factor, original_max_position_embeddings } => {
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

/// The per-position rotation for a batch: cos and sin of shape `[batch, 1, seq, head_dim]`.
pub struct RotaryTables<B: Backend> {
    pub cos: Tensor<B, 4>,
    pub sin: Tensor<B, 4>,
}

/// Holds the inverse frequencies and turns position ids into rotation tables.
#[derive(Module, Debug)]
pub struct Rope<B: Backend> {
    /// `[1, 1, head_dim/2]`, a constant (not a parameter).
    inv_freq: Tensor<B, 3>,
}

impl<B: Backend> Rope<B> {
    pub fn new(cfg: &LlamaConfig, device: &B::Device) -> Self {
        let freqs = inverse_frequencies(cfg);
        let half = freqs.len();
        let inv_freq = Tensor::from_data(TensorData::new(freqs, [1, 1, half]), device);
        Self { inv_freq }
    }

    /// cos/sin tables for `positions` `[batch, seq]`: angle `pos * inv_freq[j mod d/2]`, as
    /// transformers computes it (the f32 product, then cos and sin).
    pub fn tables(&self, positions: Tensor<B, 2, Int>) -> RotaryTables<B> {
        let [batch, seq] = positions.dims();
        let angles = positions.float().reshape([batch, seq, 1]) * self.inv_freq.clone();
        let angles = Tensor::cat(vec![angles.clone(), angles], 2).unsqueeze_dim::<4>(1);
        RotaryTables { cos: angles.clone().cos(), sin: angles.sin() }
    }
}

/// Rotates `x` `[batch, heads, seq, head_dim]`: `x * cos + rotate_half(x) * sin`, where
/// `rotate_half(x) = cat(-x2, x1)` for the halves `x1`, `x2` of the last dimension.
pub fn apply_rotary<B: Backend>(x: Tensor<B, 4>, tables: &RotaryTables<B>) -> Tensor<B, 4> {
    let [b, h, t, d] = x.dims();
    let half = d / 2;
    let x1 = x.clone().slice([0..b, 0..h, 0..t, 0..half]);
    let x2 = x.clone().slice([0..b, 0..h, 0..t, half..d]);
    let rotated = Tensor::cat(vec![x2.neg(), x1], 3);
    x * tables.cos.clone() + rotated * tables.sin.clone()
}
