//! Loading a base model folder with an optional PEFT adapter on top (applied unmerged), and
//! the check that a path is a model folder, shared by `--model` and `model.path`.

use std::path::{Path, PathBuf};

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
