//! Loading a base model folder with an optional PEFT adapter on top (applied unmerged): the
//! flags every model command takes ([`ModelArgs`]), and the check that a path is a model folder,
//! shared by `--model` and `model.path`.

use std::path::{Path, PathBuf};

use anyhow::Result;
use burn::tensor::backend::Backend;
use guardtune_model::{Dtype, LlamaConfig, LlamaForCausalLM};

/// The model flags of `classify`, `eval`, `perplexity`, `generate` and `export`. (`bench` has
/// its own: a list of devices, one replica each, and a model only with `--rows`.)
#[derive(clap::Args, Clone, Debug)]
pub struct ModelArgs {
    /// Hugging Face model folder (config.json, safetensors, tokenizer files): the base.
    #[arg(long = "model", value_name = "DIR", value_parser = parse_model_folder)]
    pub path: PathBuf,
    /// PEFT adapter folder, applied on top of the base unmerged (the trained guard).
    #[arg(long, value_name = "DIR")]
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
/// `typed` is the path as the user wrote it (before it was resolved against a config's folder):
/// when it looks like a Hugging Face Hub id (`ORG/NAME`), the message says how to get it.
pub fn model_folder_problem(path: &Path, typed: &Path) -> Option<String> {
    if path.join("config.json").is_file() {
        return None;
    }
    let what =
        if path.exists() { "is not a model folder (no config.json)" } else { "does not exist" };
    let hint = match hub_id(typed) {
        Some(id) => format!(
            "; `{id}` looks like a Hugging Face Hub id: download it first \
             (`huggingface-cli download {id} --local-dir models/{name}`) and give that folder",
            name = id.rsplit('/').next().unwrap_or(&id)
        ),
        None => String::new(),
    };
    Some(format!("{} {what}{hint}", path.display()))
}

/// `ORG/NAME` when `typed` has that shape: two plain names of Hub characters, relative, no
/// `.` or `..`.
fn hub_id(typed: &Path) -> Option<String> {
    let text = typed.to_str()?;
    let parts: Vec<&str> = text.split('/').collect();
    let plain = |p: &&str| {
        !p.is_empty()
            && !p.starts_with('.')
            && p.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    };
    (parts.len() == 2 && parts.iter().all(plain)).then(|| text.to_string())
}

/// clap's parser for `--model`: the folder, or a one-line reason it is not a model folder.
pub fn parse_model_folder(text: &str) -> Result<PathBuf, String> {
    let path = PathBuf::from(text);
    match model_folder_problem(&path, &path) {
        None => Ok(path),
        Some(problem) => Err(problem),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hub_ids_are_recognised_and_paths_are_not() {
        assert_eq!(
            hub_id(Path::new("meta-llama/Llama-3.1-8B-Instruct")).as_deref(),
            Some("meta-llama/Llama-3.1-8B-Instruct")
        );
        for path in ["models/a/b", "./org/name", "../org/name", "/org/name", "name", "org/"] {
            assert_eq!(hub_id(Path::new(path)), None, "{path}");
        }
        let problem = model_folder_problem(
            Path::new("/nowhere/x/y"),
            Path::new("HuggingFaceTB/SmolLM2-135M-Instruct"),
        )
        .unwrap();
        assert!(problem.contains("does not exist") && problem.contains("huggingface-cli download HuggingFaceTB/SmolLM2-135M-Instruct --local-dir models/SmolLM2-135M-Instruct"), "{problem}");
        let plain = model_folder_problem(Path::new("/nowhere/x/y/z"), Path::new("x/y/z")).unwrap();
        assert!(!plain.contains("Hub"), "{plain}");
    }
}
