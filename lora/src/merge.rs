//! Merging adapters into the base weights, `W' = W + scale * B @ A`, in f32 and cast once, and
//! writing the result as a complete Hugging Face model folder (sharded past a size limit).

use std::collections::BTreeMap;
use std::path::Path;

use burn::tensor::backend::Backend;
use guardtune_model::{Dtype, LlamaForCausalLM, Weights};
use serde_json::{json, Value};

use crate::adapter::{adapter, attached_sites, Site};
use crate::error::LoraError;
use crate::files::write_json;
use crate::safetensors_out::{write_safetensors, TensorEntry};

/// Files copied unchanged from the base folder when present.
const COPIED_FILES: [&str; 6] = [
    "generation_config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "tokenizer.model",
    "chat_template.jinja",
];

/// The update `scale * B @ A` of one adapter, `[out, in]` (PyTorch layout), in f32.
pub fn delta_weight<B: Backend>(model: &LlamaForCausalLM<B>, site: Site) -> Vec<f32> {
    let lora = adapter(model, site);
    // a [in, r] @ b [r, out] = (B @ A)^T; transposing gives PyTorch's [out, in].
    let delta = lora.a.val().matmul(lora.b.val()).mul_scalar(lora.scale).transpose();
    delta.into_data().convert::<f32>().to_vec::<f32>().expect("f32 data")
}

/// Writes base + merged adapters to `out` as a Hugging Face model folder: config.json (with the
/// new dtype), the base's generation and tokenizer files, and `model.safetensors`, or
/// `model-0000k-of-0000n.safetensors` plus `model.safetensors.index.json` when the weights
/// exceed `shard_size` bytes. Every base tensor is kept (tied heads stay tied). Weight files of
/// an earlier export in `out` are removed first, so the folder never holds two layouts (a
/// stale `model.safetensors` beside a new index would be loaded instead of it).
pub fn export_merged<B: Backend>(
    model: &LlamaForCausalLM<B>,
    base_dir: &Path,
    out: &Path,
    dtype: Dtype,
    shard_size: u64,
) -> Result<(), LoraError> {
    std::fs::create_dir_all(out).map_err(|e| LoraError::io(out, e))?;
    remove_weight_files(out)?;
    let base = Weights::open_dir(base_dir)?;
    let merged_sites: BTreeMap<String, Site> = attached_sites(model)
        .into_iter()
        .map(|s| (format!("{}.weight", s.kind.checkpoint_name(s.layer)), s))
        .collect();

    let mut entries = Vec::new();
    for name in base.names() {
        let (shape, _) = base.read(name)?;
        entries.push(TensorEntry { name: name.to_string(), shape });
    }
    let shards = split_into_shards(&entries, dtype, shard_size);
    let fill = |name: &str| -> Result<Vec<f32>, LoraError> {
        let (_, mut values) = base.read(name)?;
        if let Some(site) = merged_sites.get(name) {
            for (w, d) in values.iter_mut().zip(delta_weight(model, *site)) {
                *w += d;
            }
        }
        Ok(values)
    };
    if shards.len() == 1 {
        write_safetensors(&out.join("model.safetensors"), &entries, dtype, fill)?;
    } else {
        let mut weight_map = BTreeMap::new();
        let count = shards.len();
        for (i, shard) in shards.iter().enumerate() {
            let file = format!("model-{:05}-of-{count:05}.safetensors", i + 1);
            write_safetensors(&out.join(&file), shard, dtype, fill)?;
            for entry in shard {
                weight_map.insert(entry.name.clone(), file.clone());
            }
        }
        let total: usize = entries.iter().map(|e| e.bytes(dtype)).sum();
        write_json(
            &out.join("model.safetensors.index.json"),
            &json!({"metadata": {"total_size": total}, "weight_map": weight_map}),
        )?;
    }
    write_config(base_dir, out, dtype)?;
    for file in COPIED_FILES {
        let source = base_dir.join(file);
        if source.exists() {
            std::fs::copy(&source, out.join(file)).map_err(|e| LoraError::io(&source, e))?;
        }
    }
    Ok(())
}

/// Removes the weight files a Hugging Face model folder can hold: `model.safetensors`, its
/// shards (`model-00001-of-00002.safetensors`) and index, and the PyTorch `.bin` equivalents.
fn remove_weight_files(dir: &Path) -> Result<(), LoraError> {
    let is_weights = |name: &str| {
        let stem = name
            .strip_suffix(".safetensors")
            .or_else(|| name.strip_suffix(".safetensors.index.json"))
            .or_else(|| name.strip_suffix(".bin"))
            .or_else(|| name.strip_suffix(".bin.index.json"));
        stem.is_some_and(|s| s.starts_with("model") || s.starts_with("pytorch_model"))
    };
    for entry in std::fs::read_dir(dir).map_err(|e| LoraError::io(dir, e))? {
        let path = entry.map_err(|e| LoraError::io(dir, e))?.path();
        if path.is_file() && path.file_name().and_then(|n| n.to_str()).is_some_and(is_weights) {
            std::fs::remove_file(&path).map_err(|e| LoraError::io(&path, e))?;
        }
    }
    Ok(())
}

/// Consecutive groups of entries of at most `shard_size` bytes each (a tensor larger than the
/// limit gets a shard of its own), as transformers' `save_pretrained` does.
fn split_into_shards(
    entries: &[TensorEntry],
    dtype: Dtype,
    shard_size: u64,
) -> Vec<Vec<TensorEntry>> {
    let mut shards: Vec<Vec<TensorEntry>> = vec![vec![]];
    let mut size = 0u64;
    for entry in entries {
        let bytes = entry.bytes(dtype) as u64;
        if size + bytes > shard_size && !shards.last().expect("non-empty").is_empty() {
            shards.push(vec![]);
            size = 0;
        }
        shards.last_mut().expect("non-empty").push(entry.clone());
        size += bytes;
    }
    shards
}

/// The base config.json with the stored dtype updated (both spellings, as present).
fn write_config(base_dir: &Path, out: &Path, dtype: Dtype) -> Result<(), LoraError> {
    let path = base_dir.join("config.json");
    let text = std::fs::read_to_string(&path).map_err(|e| LoraError::io(&path, e))?;
    let mut config: Value = serde_json::from_str(&text)
        .map_err(|e| LoraError::adapter(&path, format!("invalid JSON: {e}")))?;
    if let Some(object) = config.as_object_mut() {
        for key in ["torch_dtype", "dtype"] {
            if object.contains_key(key) {
                object.insert(key.into(), json!(dtype.torch_name()));
            }
        }
    }
    write_json(&out.join("config.json"), &config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_weight_files_of_an_earlier_export_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let weights = [
            "model.safetensors",
            "model-00001-of-00002.safetensors",
            "model.safetensors.index.json",
            "pytorch_model.bin",
            "pytorch_model.bin.index.json",
        ];
        let others = ["adapter_model.safetensors", "config.json", "tokenizer.json"];
        for name in weights.iter().chain(&others) {
            std::fs::write(dir.path().join(name), b"x").unwrap();
        }
        remove_weight_files(dir.path()).unwrap();
        let mut left: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(left, others);
    }
}
