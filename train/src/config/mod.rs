//! The run config: one TOML file per run with `[model]`, `[lora]`, `[data]`, `[training]`,
//! `[eval]` and `[output]`. Unknown keys and wrong types are refused with file, line and key;
//! `--set section.key=value` overrides any key (`data.sources.NAME.key` a source's); a source
//! with `weight = 0` or `enabled = false` is left out; the resolved config is saved in the run
//! folder.

mod key_path;
mod load;
mod sources;
mod validate;

pub(crate) use key_path::from_toml;
pub use load::{load_run_config, ConfigError};
pub use validate::{setting_problems, Problem};

use std::path::PathBuf;

use guardtune_data::BlendConfig;
use guardtune_lora::LoraConfig;
use guardtune_model::Dtype;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunConfig {
    pub model: ModelSection,
    pub lora: LoraConfig,
    pub data: BlendConfig,
    pub training: TrainingSection,
    #[serde(default)]
    pub eval: EvalSection,
    pub output: OutputSection,
}

impl RunConfig {
    /// Every input path the config names, with its key as errors name it: the model, each
    /// source's files and policy, the benchmarks and the held-out sets (not the run folder).
    /// The one list that path resolution, Hub downloads and the sweep's config hash all walk.
    pub fn input_paths_mut(&mut self) -> Vec<(String, &mut PathBuf)> {
        let mut paths = vec![("model.path".to_string(), &mut self.model.path)];
        paths.extend(self.lora.init_from.iter_mut().map(|p| ("lora.init_from".to_string(), p)));
        for source in &mut self.data.sources {
            let key = |field: &str| format!("data.sources.{}.{field}", source.name);
            let (path, paths_key, validation, policy) =
                (key("path"), key("paths"), key("validation_paths"), key("policy_file"));
            paths.extend(source.path.iter_mut().map(|p| (path.clone(), p)));
            paths.extend(source.paths.iter_mut().map(|p| (paths_key.clone(), p)));
            paths.extend(source.validation_paths.iter_mut().map(|p| (validation.clone(), p)));
            paths.extend(source.policy_file.iter_mut().map(|p| (policy.clone(), p)));
        }
        for (i, benchmark) in self.eval.benchmarks.iter_mut().enumerate() {
            paths.push((format!("eval.benchmarks[{i}].path"), &mut benchmark.path));
        }
        for (i, held_out) in self.data.decontaminate.iter_mut().enumerate() {
            paths.push((format!("data.decontaminate[{i}].path"), &mut held_out.path));
        }
        paths
    }

    /// The config as a run records it (its `config.toml`, the sweep's hashes): a path in the
    /// Hub cache is written as its pinned `hf://...@COMMIT` reference, so that a rerun or
    /// `--resume`, on this machine or another, reads the same files.
    pub fn portable(&self) -> RunConfig {
        let mut config = self.clone();
        for (_, path) in config.input_paths_mut() {
            *path = crate::hub::portable(path);
        }
        config
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSection {
    /// Hugging Face model folder; relative paths are relative to the config file.
    pub path: PathBuf,
    /// The base model as users know it, e.g. `HuggingFaceTB/SmolLM2-135M-Instruct`: written as
    /// the adapter's `base_model_name_or_path`, where PEFT and vLLM look for the base. Default:
    /// the folder's name (see [`ModelSection::base_name`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Dtype the frozen base is stored and computed in: `f32`, or `bf16` (half the memory;
    /// fast on GPUs). Adapters, their gradients and the optimizer state are always f32.
    #[serde(default = "default_dtype")]
    pub dtype: Dtype,
    /// `cpu`, `cuda` or `cuda:N`; a list (`["cuda:0", "cuda:1"]`) trains data-parallel, each
    /// device taking a share of every step's micro-batches.
    #[serde(default)]
    pub device: Devices,
}

impl ModelSection {
    /// What an adapter trained on this model names as its base: `name`, or else the folder's
    /// own name (a path typed at training time means nothing on another machine).
    pub fn base_name(&self) -> String {
        self.name.clone().unwrap_or_else(|| folder_name(&self.path))
    }
}

/// The name of a model folder: its Hub id when it is a snapshot in the Hub cache, else the
/// last component of its path (resolved, so `.` has a name too).
pub fn folder_name(path: &std::path::Path) -> String {
    if let Some(reference) = crate::hub::cached_ref(path) {
        return reference.id;
    }
    let resolved = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    resolved
        .file_name()
        .map_or_else(|| resolved.display().to_string(), |name| name.to_string_lossy().into_owned())
}

fn default_dtype() -> Dtype {
    Dtype::F32
}

/// One device name or a list of them, as written in the config.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Devices {
    One(String),
    Many(Vec<String>),
}

impl Default for Devices {
    fn default() -> Self {
        Devices::One("cpu".into())
    }
}

impl Devices {
    pub fn names(&self) -> Vec<String> {
        match self {
            Devices::One(name) => vec![name.clone()],
            Devices::Many(names) => names.clone(),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Schedule {
    Cosine,
    Linear,
    Constant,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainingSection {
    /// Optimizer steps to run (takes precedence over `epochs`).
    #[serde(default)]
    pub max_steps: Option<usize>,
    /// Passes over the training blend, when `max_steps` is not set.
    #[serde(default)]
    pub epochs: Option<f64>,
    pub micro_batch_size: usize,
    #[serde(default = "one")]
    pub grad_accumulation: usize,
    /// Peak learning rate.
    pub lr: f64,
    #[serde(default)]
    pub warmup_steps: Option<usize>,
    /// Fraction of the steps spent warming up (when `warmup_steps` is not set).
    #[serde(default)]
    pub warmup_ratio: Option<f64>,
    #[serde(default = "default_schedule")]
    pub schedule: Schedule,
    /// Learning rate at the end of the cosine or linear decay.
    #[serde(default)]
    pub min_lr: f64,
    #[serde(default)]
    pub weight_decay: f64,
    #[serde(default = "default_betas")]
    pub betas: [f64; 2],
    #[serde(default = "default_eps")]
    pub eps: f64,
    /// Global gradient-norm clipping; none when absent.
    #[serde(default)]
    pub max_grad_norm: Option<f64>,
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// Longest row the model sees; packing fills rows up to it. Defaults to
    /// `data.max_seq_len` and may not be shorter.
    #[serde(default)]
    pub max_seq_len: Option<usize>,
    /// Pack several examples into each row (attention stays within each example).
    #[serde(default)]
    pub packing: bool,
    /// Log to stdout/metrics every this many steps.
    #[serde(default = "one")]
    pub log_every_steps: usize,
    /// Trade compute for memory, as transformers' gradient checkpointing does: the forward pass
    /// keeps only each decoder layer's input and the backward pass recomputes the layers one at
    /// a time. Within the layer being differentiated, the attention recomputes its scores in
    /// chunks instead of keeping them, and Burn's balanced checkpointing strategy recomputes
    /// cheap element-wise activations. About one more forward pass of compute.
    #[serde(default)]
    pub gradient_checkpointing: bool,
    /// Compute a token prefix common to the samples of a micro-batch once (guard examples share
    /// the template and policy, ~400 tokens): the loss and gradients are those of the unshared
    /// computation (see `guardtune_lora`'s layout module); with LoRA dropout the shared tokens
    /// draw one mask.
    #[serde(default = "yes")]
    pub share_prefix: bool,
}

fn yes() -> bool {
    true
}

fn one() -> usize {
    1
}
fn default_schedule() -> Schedule {
    Schedule::Cosine
}
fn default_betas() -> [f64; 2] {
    [0.9, 0.999]
}
fn default_eps() -> f64 {
    1e-8
}
fn default_seed() -> u64 {
    42
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvalSection {
    /// Validation loss every this many steps (and before the first and after the last step).
    #[serde(default)]
    pub every_steps: Option<usize>,
    /// Cap on validation examples evaluated (all when absent).
    #[serde(default)]
    pub max_examples: Option<usize>,
    /// Validation micro-batch size (defaults to the training one).
    #[serde(default)]
    pub batch_size: Option<usize>,
    /// Guard benchmarks classified at each evaluation (F1 and AUPRC logged), e.g.
    /// `benchmarks = [{ kind = "xstest", path = "xstest_prompts.csv" }]`.
    #[serde(default)]
    pub benchmarks: Vec<crate::evaluation::BenchmarkSpec>,
    /// Examples per benchmark at each evaluation, spread evenly over the file (all when absent).
    #[serde(default)]
    pub benchmark_max_examples: Option<usize>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutputSection {
    /// The run folder; a relative path in the file is relative to the config's folder (one
    /// given with `--set`, to the current folder).
    pub dir: PathBuf,
    /// Write a resumable checkpoint every this many steps.
    #[serde(default)]
    pub save_every_steps: Option<usize>,
    /// Keep only the newest this many checkpoints.
    #[serde(default)]
    pub keep_last: Option<usize>,
    /// Dtype of exported adapters: f32 (default) or bf16.
    #[serde(default = "default_dtype")]
    pub adapter_dtype: Dtype,
}
