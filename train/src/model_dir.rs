//! Loading a base model folder with an optional PEFT adapter on top (applied unmerged): the
//! flags every model command takes ([`ModelArgs`]), and the check that a path is a model folder,
//! shared by `--model` and `model.path`.

use std::path::{Path, PathBuf};

use anyhow::Result;
use burn::tensor::backend::Backend;
use guardtune_model::{Dtype, LlamaConfig, LlamaForCausalLM};

use crate::hub::{self, Wanted};

/// The model flags of `classify`, `eval`, `perplexity`, `generate` and `export`. (`bench` has
/// its own: a list of devices, one replica each, and a model only with `--rows`.)
#[derive(clap::Args, Clone, Debug)]
pub struct ModelArgs {
    /// The base: a Hugging Face model folder (config.json, safetensors, tokenizer files), or a
    /// Hub model, `hf://ORG/NAME[@REVISION]` or `ORG/NAME`, fetched into the Hub cache.
    #[arg(long = "model", value_name = "DIR", value_parser = parse_model_folder)]
    pub path: PathBuf,
    /// PEFT adapter folder (or Hub repo, as for --model), applied on top of the base unmerged
    /// (the trained guard).
    #[arg(long, value_name = "DIR", value_parser = parse_adapter_folder)]
    pub adapter: Option<PathBuf>,
    /// The model's dtype. When running it: the dtype the base computes in, f32 (default) or
    /// bf16 (half the memory; fast on GPUs); adapters stay f32. For `export`: the dtype
    /// written, f32, bf16 or f16 (default: f32 for an adapter, the base's own for a merge).
    #[arg(long)]
    pub dtype: Option<Dtype>,
    /// cpu, cuda or cuda:N.
    #[arg(long, default_value = "cpu")]
    pub device: String,
}

impl ModelArgs {
    /// The dtype the base computes in.
    pub fn compute_dtype(&self) -> Dtype {
        self.dtype.unwrap_or(Dtype::F32)
    }

    /// The base with the adapter (if any), computing in [`Self::compute_dtype`].
    pub fn load<B: Backend>(
        &self,
        device: &B::Device,
    ) -> Result<(LlamaConfig, LlamaForCausalLM<B>)> {
        load_model_with_adapter(&self.path, self.adapter.as_deref(), self.compute_dtype(), device)
    }
}

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

/// Why `path` is not a model folder, or `None` when it is one (it holds a `config.json`).
pub fn model_folder_problem(path: &Path) -> Option<String> {
    if path.join("config.json").is_file() {
        return None;
    }
    let what =
        if path.exists() { "is not a model folder (no config.json)" } else { "does not exist" };
    Some(format!("{} {what}", path.display()))
}

/// clap's parser for `--model`: a local model folder, or a Hub model (`hf://ORG/NAME[@REV]`,
/// or `ORG/NAME` when no such folder exists here) downloaded into the Hub cache; or a one-line
/// reason why neither.
pub fn parse_model_folder(text: &str) -> Result<PathBuf, String> {
    let path = hub::resolve(Path::new(text), Wanted::Model, Path::new("."), &[])
        .map_err(|e| format!("{e:#}"))?;
    match model_folder_problem(&path) {
        None => Ok(path),
        Some(problem) => Err(problem),
    }
}

/// clap's parser for `--adapter`: a local adapter folder, or a Hub adapter repo, as for
/// `--model`. (What the folder holds is checked when it is loaded.)
pub fn parse_adapter_folder(text: &str) -> Result<PathBuf, String> {
    hub::resolve(Path::new(text), Wanted::Adapter, Path::new("."), &[])
        .map_err(|e| format!("{e:#}"))
}
