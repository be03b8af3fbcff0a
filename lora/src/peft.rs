//! PEFT's adapter format: `adapter_config.json` + `adapter_model.safetensors` with tensors
//! `base_model.model.model.layers.{i}.{self_attn|mlp}.{proj}.lora_A.weight` `[r, in]` and
//! `.lora_B.weight` `[out, r]`. Only LoRA tensors are written (no embeddings, no
//! `modules_to_save`), so vLLM, PEFT, transformers and mistral.rs accept the files.

use std::collections::BTreeMap;
use std::path::Path;

use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};
use guardtune_model::weights::transpose;
use guardtune_model::{Dtype, LlamaForCausalLM, LowRank, ProjKind, Weights};
use serde_json::{json, Value};

use crate::adapter::{adapter_params, attached_sites, param, AdapterParam, Factor, Site};
use crate::config::{LoraConfig, LoraInit, TargetModules};
use crate::error::LoraError;
use crate::files::write_json;
use crate::safetensors_out::{write_safetensors, TensorEntry};

pub const CONFIG_FILE: &str = "adapter_config.json";
pub const WEIGHTS_FILE: &str = "adapter_model.safetensors";

/// The PEFT version whose format we write (the reference of our golden files).
const PEFT_VERSION: &str = "0.21.2";

/// Writes the model's adapters to `dir` as a PEFT adapter.
pub fn save_adapter<B: Backend>(
    model: &LlamaForCausalLM<B>,
    config: &LoraConfig,
    base_model_name_or_path: &str,
    dir: &Path,
    dtype: Dtype,
) -> Result<(), LoraError> {
    std::fs::create_dir_all(dir).map_err(|e| LoraError::io(dir, e))?;
    let sites = attached_sites(model);
    let params = adapter_params(model);
    let entries: Vec<TensorEntry> = params
        .iter()
        .map(|&name| {
            // Ours are [in, r] and [r, out]; PEFT's are the transposes.
            let [rows, cols] = param(model, name).val().dims();
            TensorEntry { name: name.to_string(), shape: vec![cols, rows] }
        })
        .collect();
    let by_name: BTreeMap<String, AdapterParam> =
        params.iter().map(|&name| (name.to_string(), name)).collect();
    write_safetensors(&dir.join(WEIGHTS_FILE), &entries, dtype, |name| {
        let tensor = param(model, by_name[name]).val();
        let [rows, cols] = tensor.dims();
        Ok(transpose(
            &tensor.into_data().convert::<f32>().to_vec::<f32>().expect("f32 data"),
            rows,
            cols,
        ))
    })?;
    write_json(&dir.join(CONFIG_FILE), &peft_config_json(config, &sites, base_model_name_or_path))
}

/// `adapter_config.json` with the fields PEFT 0.21 writes, so PEFT loads it without warnings.
fn peft_config_json(config: &LoraConfig, sites: &[Site], base: &str) -> Value {
    let mut targets: Vec<ProjKind> = sites.iter().map(|s| s.kind).collect();
    targets.sort();
    targets.dedup();
    let targets: Vec<&str> = targets.iter().map(|k| k.name()).collect();
    let init = match config.init {
        LoraInit::Peft => json!(true),
        LoraInit::Gaussian => json!("gaussian"),
    };
    // PEFT writes integral alphas as integers.
    let alpha =
        if config.alpha.fract() == 0.0 { json!(config.alpha as i64) } else { json!(config.alpha) };
    json!({
        "alpha_pattern": {},
        "auto_mapping": null,
        "base_model_name_or_path": base,
        "bias": "none",
        "corda_config": null,
        "eva_config": null,
        "exclude_modules": null,
        "fan_in_fan_out": false,
        "inference_mode": true,
        "init_lora_weights": init,
        "layer_replication": null,
        "layers_pattern": null,
        "layers_to_transform": config.layers,
        "loftq_config": {},
        "lora_alpha": alpha,
        "lora_bias": false,
        "lora_dropout": config.dropout,
        "megatron_config": null,
        "megatron_core": "megatron.core",
        "modules_to_save": null,
        "peft_type": "LORA",
        "peft_version": PEFT_VERSION,
        "r": config.r,
        "rank_pattern": {},
        "revision": null,
        "target_modules": targets,
        "target_parameters": null,
        "task_type": "CAUSAL_LM",
        "trainable_token_indices": null,
        "use_dora": false,
        "use_qalora": false,
        "use_rslora": config.use_rslora,
    })
}

/// Reads `adapter_config.json` into our config, refusing what we cannot apply faithfully.
pub fn read_adapter_config(dir: &Path) -> Result<LoraConfig, LoraError> {
    let path = dir.join(CONFIG_FILE);
    let text = std::fs::read_to_string(&path).map_err(|e| LoraError::io(&path, e))?;
    let json: Value = serde_json::from_str(&text)
        .map_err(|e| LoraError::adapter(&path, format!("invalid JSON: {e}")))?;
    lora_config(&Fields(&json)).map_err(|msg| LoraError::adapter(&path, msg))
}

/// An adapter config's fields, where JSON `null` counts as absent (PEFT writes `null` for
/// every unset option).
struct Fields<'a>(&'a Value);

impl Fields<'_> {
    fn get(&self, key: &str) -> Option<&Value> {
        self.0.get(key).filter(|v| !v.is_null())
    }
}

fn lora_config(fields: &Fields) -> Result<LoraConfig, String> {
    refuse_unsupported(fields)?;
    let r = fields.get("r").and_then(Value::as_u64).ok_or("missing or invalid \"r\"")? as usize;
    let config = LoraConfig {
        r,
        alpha: fields.get("lora_alpha").and_then(Value::as_f64).unwrap_or(8.0),
        dropout: fields.get("lora_dropout").and_then(Value::as_f64).unwrap_or(0.0),
        target_modules: target_modules(fields)?,
        layers: layers_to_transform(fields)?,
        use_rslora: fields.get("use_rslora").and_then(Value::as_bool).unwrap_or(false),
        init: match fields.get("init_lora_weights") {
            Some(Value::String(s)) if s == "gaussian" => LoraInit::Gaussian,
            _ => LoraInit::Peft,
        },
        init_from: None,
    };
    config.validate()?;
    Ok(config)
}

/// Refuses the PEFT options that would change what the adapter computes and that we do not
/// implement, rather than loading an adapter that behaves differently from PEFT's.
fn refuse_unsupported(fields: &Fields) -> Result<(), String> {
    if let Some(kind) = fields.get("peft_type").and_then(Value::as_str) {
        if kind != "LORA" {
            return Err(format!("peft_type is \"{kind}\"; only LORA adapters are supported"));
        }
    }
    let is_true = |key: &str| fields.get(key).and_then(Value::as_bool) == Some(true);
    let non_empty_map =
        |key: &str| fields.get(key).and_then(Value::as_object).is_some_and(|o| !o.is_empty());
    let refused = [
        ("use_dora", is_true("use_dora"), "DoRA adapters are not supported"),
        ("fan_in_fan_out", is_true("fan_in_fan_out"), "fan_in_fan_out adapters are not supported"),
        (
            "bias",
            fields.get("bias").and_then(Value::as_str).is_some_and(|b| b != "none"),
            "only bias = \"none\" is supported",
        ),
        (
            "modules_to_save",
            fields
                .get("modules_to_save")
                .is_some_and(|v| v.as_array().is_none_or(|a| !a.is_empty())),
            "modules_to_save is not supported",
        ),
        (
            "rank_pattern",
            non_empty_map("rank_pattern"),
            "per-module ranks or alphas are not supported",
        ),
        (
            "alpha_pattern",
            non_empty_map("alpha_pattern"),
            "per-module ranks or alphas are not supported",
        ),
    ];
    match refused.into_iter().find(|(_, unsupported, _)| *unsupported) {
        Some((key, _, why)) => Err(format!("{key}: {why}")),
        None => Ok(()),
    }
}

/// `target_modules`: a preset name (`"all-linear"`) or a list of projection names.
fn target_modules(fields: &Fields) -> Result<TargetModules, String> {
    match fields.get("target_modules") {
        Some(Value::String(s)) => Ok(TargetModules::Preset(s.clone())),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| v.as_str().map(String::from).ok_or("target_modules must hold strings".into()))
            .collect::<Result<_, String>>()
            .map(TargetModules::Names),
        _ => Err("missing or invalid \"target_modules\"".into()),
    }
}

/// `layers_to_transform`: absent (every layer), one layer index, or a list of them.
fn layers_to_transform(fields: &Fields) -> Result<Option<Vec<usize>>, String> {
    let index = |v: &Value| v.as_u64().map(|n| n as usize).ok_or("invalid layers_to_transform");
    match fields.get("layers_to_transform") {
        None => Ok(None),
        Some(n @ Value::Number(_)) => Ok(Some(vec![index(n)?])),
        Some(Value::Array(items)) => Ok(Some(items.iter().map(index).collect::<Result<_, _>>()?)),
        Some(_) => Err("invalid layers_to_transform".into()),
    }
}

/// Loads a PEFT adapter onto `model` (replacing any adapters it has) and returns its config.
/// Every tensor must belong to a projection of this model with matching shapes.
pub fn load_adapter<B: Backend>(
    model: &mut LlamaForCausalLM<B>,
    dir: &Path,
    device: &B::Device,
) -> Result<LoraConfig, LoraError> {
    let config = read_adapter_config(dir)?;
    let path = dir.join(WEIGHTS_FILE);
    if !path.exists() {
        return Err(LoraError::adapter(dir, format!("no {WEIGHTS_FILE} in this folder")));
    }
    let file = Weights::open_file(&path)?;
    let bad = |msg: String| LoraError::adapter(&path, msg);
    // Each site's A and B values, as they are found.
    type Factors = (Option<Vec<f32>>, Option<Vec<f32>>);
    let mut pairs: BTreeMap<Site, Factors> = BTreeMap::new();
    for name in file.names() {
        let AdapterParam { site, factor } =
            name.parse().map_err(|e| bad(format!("unexpected tensor: {e}")))?;
        if site.layer >= model.num_layers() {
            return Err(bad(format!(
                "tensor `{name}` targets layer {}, but the model has {} layers",
                site.layer,
                model.num_layers()
            )));
        }
        let (fan_in, fan_out) = {
            let [i, o] = model.projection(site.layer, site.kind).weight.val().dims();
            (i, o)
        };
        let expected = match factor {
            Factor::A => vec![config.r, fan_in],
            Factor::B => vec![fan_out, config.r],
        };
        let (shape, values) = file.read(name)?;
        if shape != expected {
            return Err(bad(format!(
                "tensor `{name}` has shape {shape:?}, expected {expected:?} (r = {})",
                config.r
            )));
        }
        let entry = pairs.entry(site).or_default();
        let values = transpose(&values, shape[0], shape[1]);
        match factor {
            Factor::A => entry.0 = Some(values),
            Factor::B => entry.1 = Some(values),
        }
    }
    if pairs.is_empty() {
        return Err(bad("the adapter holds no LoRA tensors".into()));
    }
    for site in crate::adapter::attached_sites(model) {
        model.projection_mut(site.layer, site.kind).adapter = None;
    }
    for (site, (a, b)) in pairs {
        let (Some(a), Some(b)) = (a, b) else {
            return Err(bad(format!("{} has only one of lora_A and lora_B", site.peft_prefix())));
        };
        let [fan_in, fan_out] = model.projection(site.layer, site.kind).weight.val().dims();
        let a = Tensor::from_data(TensorData::new(a, [fan_in, config.r]), device);
        let b = Tensor::from_data(TensorData::new(b, [config.r, fan_out]), device);
        model.projection_mut(site.layer, site.kind).adapter =
            Some(LowRank::new(a, b, config.scale(), config.dropout));
    }
    Ok(config)
}

/// Starts the adapters of `model`, attached as `config` says, from the PEFT adapter in `dir`:
/// a new run that trains on from an existing one. The adapter must be the same function under
/// this config: the same `r`, `alpha` and `use_rslora`, and adapters on exactly the sites this
/// config attaches (the first difference is named). Dropout is a training setting: the
/// config's.
pub fn init_from_adapter<B: Backend>(
    model: &mut LlamaForCausalLM<B>,
    config: &LoraConfig,
    dir: &Path,
    device: &B::Device,
) -> Result<(), LoraError> {
    let expected = crate::adapter::attached_sites(model);
    let saved = load_adapter(model, dir, device)?;
    let refuse = |what: String| -> Result<(), LoraError> {
        Err(LoraError::adapter(dir, format!("lora.init_from: {what}")))
    };
    let settings = [
        ("r", saved.r.to_string(), config.r.to_string()),
        ("alpha", saved.alpha.to_string(), config.alpha.to_string()),
        ("use_rslora", saved.use_rslora.to_string(), config.use_rslora.to_string()),
    ];
    for (key, theirs, ours) in settings {
        if theirs != ours {
            return refuse(format!(
                "the adapter's {key} is {theirs}, the config's lora.{key} is {ours}: they must be equal"
            ));
        }
    }
    let found = crate::adapter::attached_sites(model);
    if let Some(site) = expected.iter().find(|s| !found.contains(s)) {
        return refuse(format!(
            "the adapter has nothing on {}, which lora.target_modules and lora.layers ask for",
            site.kind.checkpoint_name(site.layer)
        ));
    }
    if let Some(site) = found.iter().find(|s| !expected.contains(s)) {
        return refuse(format!(
            "the adapter has weights on {}, which lora.target_modules and lora.layers leave out",
            site.kind.checkpoint_name(site.layer)
        ));
    }
    for site in found {
        crate::adapter::adapter_mut(model, site).dropout =
            burn::nn::DropoutConfig::new(config.dropout).init();
    }
    Ok(())
}
