//! The model's tokenizer: `tokenizer.json` through the `tokenizers` crate, plus the special
//! tokens that generation and batching need, from `tokenizer_config.json`,
//! `generation_config.json` and `config.json`.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::config::{LlamaConfig, TokenIds};
use crate::error::ModelError;

pub struct Tokenizer {
    inner: tokenizers::Tokenizer,
    pub bos_id: Option<u32>,
    pub eos_id: Option<u32>,
    /// The padding id: the configured pad token, else eos (padding is masked out anyway).
    pub pad_id: u32,
    /// Generation stops at any of these (generation_config's `eos_token_id` list, the
    /// tokenizer's eos token, and config.json's as a fallback).
    pub stop_ids: Vec<u32>,
    /// The model's context, from the `config.json` beside the tokenizer (absent for a folder
    /// that holds only a tokenizer).
    context: Option<ModelContext>,
}

/// What the model of a folder can take: its positions.
struct ModelContext {
    config_path: PathBuf,
    max_position_embeddings: usize,
}

impl Tokenizer {
    /// Loads `<dir>/tokenizer.json` and the special tokens of the files beside it.
    pub fn from_model_dir(dir: &Path) -> Result<Self, ModelError> {
        let path = dir.join("tokenizer.json");
        let inner = tokenizers::Tokenizer::from_file(&path)
            .map_err(|e| ModelError::tokenizer(&path, e.to_string()))?;
        let tokenizer_config = read_json_if_present(&dir.join("tokenizer_config.json"))?;
        let generation_config = read_json_if_present(&dir.join("generation_config.json"))?;
        let model_config = read_json_if_present(&dir.join("config.json"))?;

        // tokenizer_config names tokens by text ("<|eot_id|>" or {"content": ...}).
        let token_named = |key: &str| -> Option<u32> {
            let value = tokenizer_config.as_ref()?.get(key)?;
            let text = value.as_str().or_else(|| value.get("content")?.as_str())?;
            inner.token_to_id(text)
        };
        // generation_config and config.json give ids, eos possibly as a list.
        let ids_at = |json: &Option<Value>, key: &str| -> Vec<u32> {
            json.as_ref()
                .and_then(|j| j.get(key))
                .and_then(|v| serde_json::from_value::<TokenIds>(v.clone()).ok())
                .map(TokenIds::into_vec)
                .unwrap_or_default()
        };

        let eos_id = token_named("eos_token")
            .or_else(|| ids_at(&generation_config, "eos_token_id").first().copied());
        let bos_id = token_named("bos_token")
            .or_else(|| ids_at(&generation_config, "bos_token_id").first().copied());
        let mut stop_ids = ids_at(&generation_config, "eos_token_id");
        if stop_ids.is_empty() {
            stop_ids = ids_at(&model_config, "eos_token_id");
        }
        stop_ids.extend(eos_id);
        stop_ids.sort_unstable();
        stop_ids.dedup();
        let pad_id = token_named("pad_token")
            .or_else(|| ids_at(&generation_config, "pad_token_id").first().copied())
            .or(eos_id)
            .unwrap_or(0);
        let config_path = dir.join("config.json");
        let context = if model_config.is_some() {
            let config = LlamaConfig::from_file(&config_path)?;
            check_vocabulary(&inner, &path, &config, &config_path)?;
            Some(ModelContext {
                config_path,
                max_position_embeddings: config.max_position_embeddings,
            })
        } else {
            None
        };
        Ok(Tokenizer { inner, bos_id, eos_id, pad_id, stop_ids, context })
    }

    /// Refuses a sequence of `tokens` tokens longer than the model's `max_position_embeddings`
    /// (positions past it run silently wrong). `what` names the sequence (a file, a prompt).
    /// Every command checks its inputs with this one function.
    pub fn check_fits(&self, tokens: usize, what: &str) -> Result<(), ModelError> {
        match &self.context {
            Some(context) if tokens > context.max_position_embeddings => {
                Err(ModelError::Invalid(format!(
                    "{what}: {tokens} tokens exceed the model's max_position_embeddings ({}, {})",
                    context.max_position_embeddings,
                    context.config_path.display()
                )))
            }
            _ => Ok(()),
        }
    }

    /// The model's `max_position_embeddings`, when the folder has a `config.json`.
    pub fn max_position_embeddings(&self) -> Option<usize> {
        self.context.as_ref().map(|c| c.max_position_embeddings)
    }

    /// Token ids of `text`; with `add_special_tokens` the tokenizer's own post-processor adds
    /// what the model was trained with (BOS for Llama, nothing for SmolLM2).
    pub fn encode(&self, text: &str, add_special_tokens: bool) -> Result<Vec<u32>, ModelError> {
        let encoding = self
            .inner
            .encode(text, add_special_tokens)
            .map_err(|e| ModelError::Invalid(format!("tokenizing failed: {e}")))?;
        Ok(encoding.get_ids().to_vec())
    }

    pub fn decode(&self, ids: &[u32], skip_special_tokens: bool) -> Result<String, ModelError> {
        self.inner
            .decode(ids, skip_special_tokens)
            .map_err(|e| ModelError::Invalid(format!("decoding failed: {e}")))
    }

    /// Vocabulary size including added tokens.
    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    pub fn token_to_id(&self, token: &str) -> Option<u32> {
        self.inner.token_to_id(token)
    }

    /// The underlying `tokenizers` tokenizer, for callers that need offsets or batches.
    pub fn inner(&self) -> &tokenizers::Tokenizer {
        &self.inner
    }
}

/// Refuses a tokenizer with ids the model has no embedding for (they would index past the
/// embedding table).
fn check_vocabulary(
    tokenizer: &tokenizers::Tokenizer,
    tokenizer_path: &Path,
    config: &LlamaConfig,
    config_path: &Path,
) -> Result<(), ModelError> {
    let largest = tokenizer.get_vocab(true).into_values().max();
    match largest {
        Some(id) if id as usize >= config.vocab_size => Err(ModelError::Config {
            path: config_path.to_path_buf(),
            msg: format!(
                "vocab_size is {} but {} has token ids up to {id}; the model has no embedding for them",
                config.vocab_size,
                tokenizer_path.display()
            ),
        }),
        _ => Ok(()),
    }
}

fn read_json_if_present(path: &Path) -> Result<Option<Value>, ModelError> {
    if !path.exists() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(path).map_err(|e| ModelError::io(path, e))?;
    serde_json::from_str(&text).map(Some).map_err(|e| ModelError::Config {
        path: path.to_path_buf(),
        msg: format!("invalid JSON: {e}"),
    })
}
