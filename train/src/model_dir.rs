//! Loading a base model folder with an optional PEFT adapter on top (applied unmerged).

use std::path::Path;

use anyhow::Result;
use burn::tensor::backend::Backend;
use guardtune_model::{Dtype, LlamaConfig, LlamaForCausalLM};

/// The base in `dtype` (adapters stay f32 whatever it is).
pub fn load_model_with_adapter<B: Backend>(
    model_dir: &Path,
    adapter_dir: Option<&Path>,
    dtype: Dtype,
    device: &B::Device,
) -> Result<(LlamaConfig, LlamaForCausalLM<B>)> {
    let (config, mut model) = guardtune_model::load_model_as::<B>(model_dir, dtype, device)?;
    if let Some(adapter_dir) = adapter_dir {
        if let Some(warning) = crate::base_model_check::mismatch_warning(model_dir, adapter_dir) {
            eprintln!("{warning}");
        }
        guardtune_lora::load_adapter(&mut model, adapter_dir, device)?;
    }
    Ok((config, model))
}
