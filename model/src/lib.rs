//! Llama 3.1 in Burn, numerically equal to transformers: the config read from `config.json`,
//! weights from safetensors (single or sharded; f32, bf16 or f16), the tokenizer from
//! `tokenizer.json`, batched forward passes with padding or packing, and greedy generation with
//! a KV cache.

pub mod attention;
pub mod batch;
pub mod cache;
pub mod checkpoint;
pub mod config;
pub mod error;
pub mod generate;
pub mod kernels;
pub mod llama;
pub mod loss;
pub mod rng;
pub mod rope;
pub mod testing;
pub mod tokenizer;

pub use batch::Batch;
pub use cache::{common_prefix_len, KvCache, PrefixCache};
pub use checkpoint::{Checkpoint, RandomInit, WeightSource};
pub use config::{LlamaConfig, RopeScaling};
pub use error::ModelError;
pub use generate::{continue_greedy, generate_greedy, Continuation, Greedy};
pub use llama::{DecoderLayer, LayerContext, LlamaForCausalLM, LowRank, ProjKind, Projection};
pub use tokenizer::Tokenizer;

use std::path::Path;

use burn::tensor::backend::Backend;
use burn::tensor::DType;

/// Loads the model of a Hugging Face folder (config.json + safetensors) in f32.
pub fn load_model<B: Backend>(
    dir: &Path,
    device: &B::Device,
) -> Result<(LlamaConfig, LlamaForCausalLM<B>), ModelError> {
    load_model_as(dir, DType::F32, device)
}

/// Loads the model of a Hugging Face folder with its base weights stored and computed in
/// `dtype` (see [`parse_dtype`]).
pub fn load_model_as<B: Backend>(
    dir: &Path,
    dtype: DType,
    device: &B::Device,
) -> Result<(LlamaConfig, LlamaForCausalLM<B>), ModelError> {
    let config = LlamaConfig::from_model_dir(dir)?;
    let checkpoint = Checkpoint::open_dir(dir)?;
    let model = LlamaForCausalLM::load(&config, Box::new(checkpoint), dtype, device)?;
    Ok((config, model))
}

/// The base model's dtypes by their names in configs and on the command line.
const DTYPE_NAMES: [(&str, DType); 3] =
    [("f32", DType::F32), ("bf16", DType::BF16), ("f16", DType::F16)];

/// The base model's dtype from its name: `f32`, `bf16` or `f16`.
pub fn parse_dtype(name: &str) -> Result<DType, ModelError> {
    DTYPE_NAMES.iter().find(|(n, _)| *n == name).map(|(_, dtype)| *dtype).ok_or_else(|| {
        ModelError::Invalid(format!("unknown dtype \"{name}\" (expected f32, bf16 or f16)"))
    })
}

/// The name [`parse_dtype`] reads for `dtype` (`f32` for any dtype it does not know).
pub fn dtype_name(dtype: DType) -> &'static str {
    DTYPE_NAMES.iter().find(|(_, d)| *d == dtype).map_or("f32", |(name, _)| name)
}
