//! Llama 3.1 in Burn, numerically equal to transformers: the config read from `config.json`,
//! weights from safetensors (single or sharded; f32, bf16 or f16), the tokenizer from
//! `tokenizer.json`, batched forward passes with padding or packing, and greedy generation with
//! a KV cache.

pub mod attention;
pub mod batch;
pub mod cache;
pub mod config;
mod dtype;
pub mod error;
pub mod generate;
mod kernels;
pub mod llama;
pub mod loss;
mod rng;
pub mod rope;
/// Fixtures and golden tensors for the workspace's tests. Always compiled (it is small and has
/// no dependencies of its own): a cargo feature for it would make `cargo test --workspace`
/// build this crate and everything above it a second time (README: one build).
#[doc(hidden)]
pub mod testing;
pub mod tokenizer;
pub mod weights;

pub use batch::Batch;
pub use cache::{common_prefix_len, KvCache, PrefixCache};
pub use config::{LlamaConfig, RopeScaling};
pub use dtype::Dtype;
pub use error::ModelError;
pub use generate::{continue_greedy, generate_greedy, Continuation, Greedy};
pub use llama::{DecoderLayer, LayerContext, LlamaForCausalLM, LowRank, ProjKind, Projection};
pub use rng::SplitMix64;
pub use tokenizer::Tokenizer;
pub use weights::{RandomInit, WeightSource, Weights};

use std::path::Path;

use burn::tensor::backend::Backend;

/// Loads the model of a Hugging Face folder (config.json + safetensors) in f32.
pub fn load_model<B: Backend>(
    dir: &Path,
    device: &B::Device,
) -> Result<(LlamaConfig, LlamaForCausalLM<B>), ModelError> {
    load_model_as(dir, Dtype::F32, device)
}

/// Loads the model of a Hugging Face folder with its base weights stored and computed in
/// `dtype`.
pub fn load_model_as<B: Backend>(
    dir: &Path,
    dtype: Dtype,
    device: &B::Device,
) -> Result<(LlamaConfig, LlamaForCausalLM<B>), ModelError> {
    let config = LlamaConfig::from_model_dir(dir)?;
    let weights = Weights::open_dir(dir)?;
    let model = LlamaForCausalLM::load(&config, Box::new(weights), dtype, device)?;
    Ok((config, model))
}
