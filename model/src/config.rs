//! The Llama configuration, read straight from a model folder's `config.json`.
//!
//! Both spellings in circulation are accepted: the hub's (transformers 4: `rope_theta`,
//! `rope_scaling`, `torch_dtype`) and transformers 5's (`rope_parameters`, `dtype`). Anything the
//! model cannot honour (biases, other activations, other RoPE types) is refused by name rather
//! than silently ignored.

use std::path::Path;

use serde::Deserialize;
use serde_json::Value;

use crate::error::ModelError;

/// How RoPE frequencies are scaled for long contexts.
#[derive(Clone, Debug, PartialEq)]
pub enum RopeScaling {
    /// Plain RoPE: `inv_freq[i] = 1 / theta^(2i/d)`.
    Default,
    /// Position interpolation: every frequency divided by `factor`.
    Linear { factor: f64 },
    /// Llama 3.1's band-wise scaling (peers.md section 2.6).
    Llama3 {
        factor: f64,
        low_freq_factor: f64,
        high_freq_factor: f64,
        original_max_position_embeddings: f64,
    },
}

/// The architecture of a Llama-family causal LM, with every derived value resolved.
#[derive(Clone, Debug, PartialEq)]
pub struct LlamaConfig {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub num_key_value_heads: usize,
    pub head_dim: usize,
    pub rms_norm_eps: f64,
    pub rope_theta: f64,
    pub rope_scaling: RopeScaling,
    pub max_position_embeddings: usize,
    pub tie_word_embeddings: bool,
    /// The dtype the checkpoint was saved in (`torch_dtype` / `dtype`), if stated.
    pub stored_dtype: Option<String>,
    pub bos_token_id: Option<u32>,
    pub eos_token_ids: Vec<u32>,
    pub pad_token_id: Option<u32>,
}

/// `config.json` as written by transformers 4 or 5: only the keys we read.
#[derive(Deserialize)]
struct RawConfig {
    model_type: Option<String>,
    vocab_size: usize,
    hidden_size: usize,
    intermediate_size: usize,
    num_hidden_layers: usize,
    num_attention_heads: usize,
    num_key_value_heads: Option<usize>,
    head_dim: Option<usize>,
    rms_norm_eps: f64,
    max_position_embeddings: Option<usize>,
    #[serde(default)]
    tie_word_embeddings: bool,
    hidden_act: Option<String>,
    #[serde(default)]
    attention_bias: bool,
    #[serde(default)]
    mlp_bias: bool,
    attention_dropout: Option<f64>,
    pretraining_tp: Option<usize>,
    rope_theta: Option<f64>,
    rope_scaling: Option<Value>,
    rope_parameters: Option<Value>,
    torch_dtype: Option<String>,
    dtype: Option<String>,
    bos_token_id: Option<u32>,
    eos_token_id: Option<TokenIds>,
    pad_token_id: Option<u32>,
}

/// `eos_token_id` is an int in most configs and a list in Llama 3.1 Instruct's.
#[derive(Deserialize, Clone, Debug)]
#[serde(untagged)]
pub(crate) enum TokenIds {
    One(u32),
    Many(Vec<u32>),
}

impl TokenIds {
    pub(crate) fn into_vec(self) -> Vec<u32> {
        match self {
            TokenIds::One(id) => vec![id],
            TokenIds::Many(ids) => ids,
        }
    }
}

impl LlamaConfig {
    /// Reads `<dir>/config.json`.
    pub fn from_model_dir(dir: &Path) -> Result<Self, ModelError> {
        Self::from_file(&dir.join("config.json"))
    }

    /// Reads a `config.json` file (any name, so tests can point at variants).
    pub fn from_file(path: &Path) -> Result<Self, ModelError> {
        let text = std::fs::read_to_string(path).map_err(|e| ModelError::io(path, e))?;
        Self::from_json(&text).map_err(|msg| ModelError::Config { path: path.to_path_buf(), msg })
    }

    /// Parses and validates the JSON text of a `config.json`.
    pub fn from_json(text: &str) -> Result<Self, String> {
        let raw: RawConfig = serde_json::from_str(text).map_err(|e| e.to_string())?;
        refuse_unsupported(&raw)?;
        check_positive_shape(&raw)?;
        let (kv_heads, head_dim) = attention_shape(&raw)?;
        let heads = raw.num_attention_heads;
        if !(raw.rms_norm_eps.is_finite() && raw.rms_norm_eps > 0.0) {
            return Err(format!(
                "rms_norm_eps is {}; expected a positive number",
                raw.rms_norm_eps
            ));
        }

        let (rope_theta, rope_scaling) = parse_rope(&raw)?;
        Ok(LlamaConfig {
            vocab_size: raw.vocab_size,
            hidden_size: raw.hidden_size,
            intermediate_size: raw.intermediate_size,
            num_hidden_layers: raw.num_hidden_layers,
            num_attention_heads: heads,
            num_key_value_heads: kv_heads,
            head_dim,
            rms_norm_eps: raw.rms_norm_eps,
            rope_theta,
            rope_scaling,
            max_position_embeddings: raw.max_position_embeddings.unwrap_or(2048),
            tie_word_embeddings: raw.tie_word_embeddings,
            stored_dtype: raw.dtype.or(raw.torch_dtype),
            bos_token_id: raw.bos_token_id,
            eos_token_ids: raw.eos_token_id.map(TokenIds::into_vec).unwrap_or_default(),
            pad_token_id: raw.pad_token_id,
        })
    }

    /// Number of query heads sharing one key/value head.
    pub fn gqa_group_size(&self) -> usize {
        self.num_attention_heads / self.num_key_value_heads
    }
}

/// Refuses the config.json options that would make transformers compute something this Llama
/// does not (another architecture, biases, tensor-parallel slicing, attention dropout).
fn refuse_unsupported(raw: &RawConfig) -> Result<(), String> {
    if let Some(kind) = &raw.model_type {
        if kind != "llama" {
            return Err(format!("model_type is \"{kind}\"; only \"llama\" is supported"));
        }
    }
    if let Some(act) = &raw.hidden_act {
        if act != "silu" {
            return Err(format!("hidden_act is \"{act}\"; only \"silu\" (SwiGLU) is supported"));
        }
    }
    if raw.attention_bias {
        return Err("attention_bias = true is not supported (Llama 3.1 has no biases)".into());
    }
    if raw.mlp_bias {
        return Err("mlp_bias = true is not supported (Llama 3.1 has no biases)".into());
    }
    if raw.pretraining_tp.unwrap_or(1) != 1 {
        return Err("pretraining_tp other than 1 is not supported".into());
    }
    if raw.attention_dropout.unwrap_or(0.0) != 0.0 {
        return Err("attention_dropout other than 0 is not supported".into());
    }
    Ok(())
}

/// The key/value head count and the head width, checked for grouped-query attention and
/// rotary embeddings (transformers' defaults: as many key/value heads as query heads, and
/// `hidden_size / num_attention_heads`). Sizes are already known to be positive.
fn attention_shape(raw: &RawConfig) -> Result<(usize, usize), String> {
    let heads = raw.num_attention_heads;
    let kv_heads = raw.num_key_value_heads.unwrap_or(heads);
    if heads % kv_heads != 0 {
        return Err(format!(
            "num_attention_heads ({heads}) must be a positive multiple of num_key_value_heads ({kv_heads})"
        ));
    }
    let head_dim = match raw.head_dim {
        Some(d) => d,
        None if raw.hidden_size % heads == 0 => raw.hidden_size / heads,
        None => {
            return Err(format!(
                "head_dim is absent and hidden_size {} is not divisible by \
                 num_attention_heads {heads}",
                raw.hidden_size
            ))
        }
    };
    if head_dim == 0 || head_dim % 2 != 0 {
        return Err(format!(
            "head_dim is {head_dim}; it must be positive and even for rotary embeddings"
        ));
    }
    Ok((kv_heads, head_dim))
}

/// Every size of the model must be positive: a zero makes empty tensors that fail (or divide by
/// zero) far from the cause. Names the first key that is 0.
fn check_positive_shape(raw: &RawConfig) -> Result<(), String> {
    let sizes = [
        ("vocab_size", Some(raw.vocab_size)),
        ("hidden_size", Some(raw.hidden_size)),
        ("intermediate_size", Some(raw.intermediate_size)),
        ("num_hidden_layers", Some(raw.num_hidden_layers)),
        ("num_attention_heads", Some(raw.num_attention_heads)),
        ("num_key_value_heads", raw.num_key_value_heads),
        ("head_dim", raw.head_dim),
        ("max_position_embeddings", raw.max_position_embeddings),
    ];
    match sizes.iter().find(|(_, value)| *value == Some(0)) {
        Some((key, _)) => Err(format!("{key} is 0; expected a positive size")),
        None => Ok(()),
    }
}

/// A positive, finite number from RoPE settings (a zero or negative factor gives inf/NaN angles).
fn positive(value: f64, key: &str) -> Result<f64, String> {
    if value.is_finite() && value > 0.0 {
        Ok(value)
    } else {
        Err(format!("{key} is {value}; expected a positive number"))
    }
}

/// RoPE settings from either `rope_theta` + `rope_scaling` (transformers 4) or
/// `rope_parameters` (transformers 5, which carries `rope_theta` inside).
fn parse_rope(raw: &RawConfig) -> Result<(f64, RopeScaling), String> {
    let params =
        raw.rope_parameters.as_ref().or(raw.rope_scaling.as_ref()).filter(|v| !v.is_null());
    let theta_in_params = params.and_then(|p| p.get("rope_theta")).and_then(Value::as_f64);
    let theta = positive(theta_in_params.or(raw.rope_theta).unwrap_or(10_000.0), "rope_theta")?;
    let Some(params) = params else {
        return Ok((theta, RopeScaling::Default));
    };
    // transformers accepts the legacy key `type` in place of `rope_type`.
    let kind = params
        .get("rope_type")
        .or_else(|| params.get("type"))
        .and_then(Value::as_str)
        .unwrap_or("default");
    let number = |key: &str| -> Result<f64, String> {
        let value = params
            .get(key)
            .and_then(Value::as_f64)
            .ok_or_else(|| format!("rope type \"{kind}\" needs a numeric \"{key}\""))?;
        positive(value, key)
    };
    let scaling = match kind {
        "default" => RopeScaling::Default,
        "linear" => RopeScaling::Linear { factor: number("factor")? },
        "llama3" => RopeScaling::Llama3 {
            factor: number("factor")?,
            low_freq_factor: number("low_freq_factor")?,
            high_freq_factor: number("high_freq_factor")?,
            original_max_position_embeddings: number("original_max_position_embeddings")?,
        },
        other => {
            return Err(format!(
                "rope type \"{other}\" is not supported (supported: default, linear, llama3)"
            ))
        }
    };
    Ok((theta, scaling))
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = r#""vocab_size": 10, "hidden_size": 8, "intermediate_size": 16,
        "num_hidden_layers": 1, "num_attention_heads": 2, "rms_norm_eps": 1e-5"#;

    #[test]
    fn derives_head_dim_and_kv_heads() {
        let cfg = LlamaConfig::from_json(&format!("{{{BASE}}}")).unwrap();
        assert_eq!((cfg.head_dim, cfg.num_key_value_heads), (4, 2));
        assert_eq!(cfg.rope_scaling, RopeScaling::Default);
        assert_eq!(cfg.rope_theta, 10_000.0);
    }

    #[test]
    fn reads_legacy_type_key_and_linear_scaling() {
        let cfg = LlamaConfig::from_json(&format!(
            r#"{{{BASE}, "rope_theta": 5.0, "rope_scaling": {{"type": "linear", "factor": 4}}}}"#
        ))
        .unwrap();
        assert_eq!(cfg.rope_scaling, RopeScaling::Linear { factor: 4.0 });
        assert_eq!(cfg.rope_theta, 5.0);
    }

    #[test]
    fn refuses_unsupported_options() {
        for extra in [
            r#""attention_bias": true"#,
            r#""mlp_bias": true"#,
            r#""hidden_act": "gelu""#,
            r#""rope_scaling": {"rope_type": "yarn", "factor": 2}"#,
            r#""num_key_value_heads": 3"#,
        ] {
            let err = LlamaConfig::from_json(&format!("{{{BASE}, {extra}}}")).unwrap_err();
            assert!(!err.is_empty(), "{extra}");
        }
    }

    #[test]
    fn refuses_a_zero_size_by_name() {
        for key in [
            "vocab_size",
            "hidden_size",
            "intermediate_size",
            "num_hidden_layers",
            "num_attention_heads",
            "num_key_value_heads",
            "head_dim",
            "max_position_embeddings",
        ] {
            let mut config: Value = serde_json::from_str(&format!("{{{BASE}}}")).unwrap();
            config[key] = Value::from(0);
            let err = LlamaConfig::from_json(&config.to_string()).unwrap_err();
            assert!(err.starts_with(&format!("{key} is 0")), "{key}: {err}");
        }
    }

    #[test]
    fn refuses_non_positive_norm_and_rope_numbers() {
        for (key, value) in [
            ("rms_norm_eps", serde_json::json!(0)),
            ("rope_theta", serde_json::json!(-1)),
            ("rope_scaling", serde_json::json!({"type": "linear", "factor": 0})),
        ] {
            let mut config: Value = serde_json::from_str(&format!("{{{BASE}}}")).unwrap();
            config[key] = value;
            let err = LlamaConfig::from_json(&config.to_string()).unwrap_err();
            let named = if key == "rope_scaling" { "factor" } else { key };
            assert!(err.starts_with(named), "{key}: {err}");
        }
    }

    #[test]
    fn names_a_missing_key() {
        let err = LlamaConfig::from_json(r#"{"vocab_size": 10}"#).unwrap_err();
        assert!(err.contains("hidden_size"), "{err}");
    }
}
