//! `guardtune init-model`: a randomly initialised model folder of a given shape (transformers'
//! `from_config`), with a real tokenizer beside it. For tests, benchmarks and quickstarts that
//! need a model of some shape but no trained weights.

use std::path::PathBuf;

use anyhow::{Context, Result};
use burn::backend::Flex;
use guardtune_lora::{write_safetensors, TensorEntry};
use guardtune_model::weights::Recorder;
use guardtune_model::Dtype;
use guardtune_model::{LlamaConfig, LlamaForCausalLM, RandomInit};

#[derive(clap::Args)]
pub struct InitModelArgs {
    /// A config.json giving the shape.
    #[arg(long)]
    pub config: PathBuf,
    /// A model folder whose tokenizer files (and generation_config.json) are copied.
    #[arg(long)]
    pub tokenizer_from: PathBuf,
    /// Output folder.
    #[arg(long)]
    pub out: PathBuf,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Standard deviation of the weight matrices (transformers' initializer_range).
    #[arg(long, default_value_t = 0.02)]
    pub std: f32,
    /// Stored dtype: f32, bf16 or f16.
    #[arg(long, default_value = "f32")]
    pub dtype: Dtype,
}

pub fn init_model(args: &InitModelArgs) -> Result<()> {
    let config = LlamaConfig::from_file(&args.config)?;
    let dtype = args.dtype;
    let recorder = Recorder::new(RandomInit::new(args.seed, args.std));
    let tensors = recorder.tensors.clone();
    // Building the model walks every tensor in checkpoint naming; the recorder keeps them.
    LlamaForCausalLM::<Flex>::load(
        &config,
        Box::new(recorder),
        guardtune_model::Dtype::F32,
        &Default::default(),
    )?;
    let tensors = std::mem::take(&mut *tensors.lock().expect("not poisoned"));
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("{}: cannot create", args.out.display()))?;
    let entries: Vec<TensorEntry> = tensors
        .iter()
        .map(|(name, shape, _)| TensorEntry { name: name.clone(), shape: shape.clone() })
        .collect();
    let mut values = tensors.into_iter().map(|(_, _, v)| v);
    write_safetensors(&args.out.join("model.safetensors"), &entries, dtype, |_| {
        Ok(values.next().expect("one value per entry"))
    })?;
    std::fs::copy(&args.config, args.out.join("config.json"))
        .with_context(|| format!("{}: cannot copy", args.config.display()))?;
    for file in [
        "tokenizer.json",
        "tokenizer_config.json",
        "special_tokens_map.json",
        "generation_config.json",
    ] {
        let source = args.tokenizer_from.join(file);
        if source.exists() {
            std::fs::copy(&source, args.out.join(file))
                .with_context(|| format!("{}: cannot copy", source.display()))?;
        }
    }
    println!(
        "random model ({} tensors, seed {}) written to {}",
        entries.len(),
        args.seed,
        args.out.display()
    );
    Ok(())
}
