//! The plan of a sweep: every variant x seed resolved into a run config with its folder and
//! the hashes that say whether a run on disk was made by this config.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Result};
use sha2::{Digest, Sha256};

use super::file::SweepFile;
use crate::config::{load_run_config, ConfigError, Devices, RunConfig};

/// One run of the sweep.
#[derive(Clone, Debug)]
pub struct PlannedRun {
    pub variant: String,
    pub seed: u64,
    /// false: the base model is evaluated without an adapter.
    pub train: bool,
    /// `<output>/<variant>-seed<S>`.
    pub dir: PathBuf,
    /// Every `--set` of the run, in order: the sweep's, the variant's, the command line's,
    /// then the seed and the folder.
    pub overrides: Vec<String>,
    pub config: RunConfig,
    /// SHA-256 of the resolved config (see [`config_hash`]).
    pub config_hash: String,
    /// SHA-256 of the config hash and the evaluation settings.
    pub eval_hash: String,
}

impl PlannedRun {
    /// `variant-seedS`, the folder's name.
    pub fn name(&self) -> String {
        run_name(&self.variant, self.seed)
    }
}

pub fn run_name(variant: &str, seed: u64) -> String {
    format!("{variant}-seed{seed}")
}

/// Resolves every run of `sweep` (or those `only` selects), with `extra` overrides from the
/// command line applied after the file's.
pub fn plan(sweep: &SweepFile, extra: &[String], only: &[String]) -> Result<Vec<PlannedRun>> {
    let selected = Selection::parse(sweep, only)?;
    let mut runs = Vec::new();
    for variant in &sweep.variants {
        for &seed in variant.seeds(&sweep.seeds) {
            if !selected.includes(&variant.name, seed) {
                continue;
            }
            let dir = sweep.output.join(run_name(&variant.name, seed));
            let mut overrides: Vec<String> = sweep.common.clone();
            overrides.extend(variant.overrides.iter().cloned());
            overrides.extend(extra.iter().cloned());
            overrides.push(format!("training.seed={seed}"));
            overrides.push(format!("data.seed={seed}"));
            overrides.push(format!("output.dir={}", toml_string(&dir)));
            // Kept as a ConfigError under the context, so the command exits with 2.
            let config = load_run_config(&sweep.base, &overrides).map_err(|e| {
                anyhow::Error::new(e).context(format!("variant {} seed {seed}", variant.name))
            })?;
            let config_hash = if variant.train {
                config_hash(&config, &sweep.dir)?
            } else {
                model_hash(&config, &sweep.dir)?
            };
            let eval_hash = eval_hash(&config_hash, sweep)?;
            runs.push(PlannedRun {
                variant: variant.name.clone(),
                seed,
                train: variant.train,
                dir,
                overrides,
                config,
                config_hash,
                eval_hash,
            });
        }
    }
    Ok(runs)
}

/// A path as a TOML string literal (so `--set` never mistakes it for another type).
fn toml_string(path: &Path) -> String {
    toml::Value::String(path.display().to_string()).to_string()
}

/// The hash of what a run trains: the resolved config, with paths written relative to the
/// sweep's folder (so the experiment can move) and without the device and the run folder
/// (a run trained on a GPU by a Slurm task is the same run as far as a report is concerned).
pub fn config_hash(config: &RunConfig, sweep_dir: &Path) -> Result<String> {
    let mut canonical = config.portable();
    canonical.model.device = Devices::default();
    canonical.output.dir = PathBuf::new();
    for (_, path) in canonical.input_paths_mut() {
        if let Ok(rest) = path.strip_prefix(sweep_dir) {
            *path = rest.to_path_buf();
        }
    }
    Ok(sha256_hex(toml::to_string(&canonical)?.as_bytes()))
}

/// The hash of an untrained run: the model alone (its path relative to the sweep's folder,
/// and its dtype), so that changing the training settings does not re-evaluate the base model.
fn model_hash(config: &RunConfig, sweep_dir: &Path) -> Result<String> {
    let model = crate::hub::portable(&config.model.path);
    let path = model.strip_prefix(sweep_dir).unwrap_or(&model);
    let text = serde_json::to_string(&(path, config.model.dtype.to_string()))?;
    Ok(sha256_hex(text.as_bytes()))
}

/// The hash of a run's evaluation: its config hash, the benchmarks (paths relative to the
/// sweep's folder) and the evaluation settings.
fn eval_hash(config_hash: &str, sweep: &SweepFile) -> Result<String> {
    let benchmarks: Vec<(String, String)> = sweep
        .benchmarks
        .iter()
        .map(|b| {
            let path = crate::hub::portable(&b.path);
            let path = path.strip_prefix(&sweep.dir).unwrap_or(&path);
            (b.kind.to_string(), path.display().to_string())
        })
        .collect();
    let text = serde_json::to_string(&(config_hash, benchmarks, &sweep.eval))?;
    Ok(sha256_hex(text.as_bytes()))
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// Which runs `--only VARIANT[:SEED]` (repeatable) selects; all when none is given.
struct Selection(Vec<(String, Option<u64>)>);

impl Selection {
    /// A bad `--only` is a usage error (a [`ConfigError`] naming the sweep file).
    fn parse(sweep: &SweepFile, only: &[String]) -> Result<Selection> {
        Self::pick(sweep, only).map_err(|e| ConfigError::new(&sweep.path, e.to_string()).into())
    }

    fn pick(sweep: &SweepFile, only: &[String]) -> Result<Selection> {
        let mut picked = Vec::new();
        for item in only {
            let (name, seed) = match item.split_once(':') {
                Some((name, seed)) => {
                    let seed: u64 = seed
                        .parse()
                        .map_err(|_| anyhow!("--only {item}: expected VARIANT[:SEED]"))?;
                    if !sweep.seeds.contains(&seed) {
                        bail!(
                            "--only {item}: seed {seed} is not one of the sweep's seeds {:?}",
                            sweep.seeds
                        );
                    }
                    (name, Some(seed))
                }
                None => (item.as_str(), None),
            };
            if sweep.variant(name).is_none() {
                let names: Vec<&str> = sweep.variants.iter().map(|v| v.name.as_str()).collect();
                bail!("--only {item}: no variant \"{name}\" (variants: {})", names.join(", "));
            }
            picked.push((name.to_string(), seed));
        }
        Ok(Selection(picked))
    }

    fn includes(&self, variant: &str, seed: u64) -> bool {
        self.0.is_empty() || self.0.iter().any(|(v, s)| v == variant && s.is_none_or(|s| s == seed))
    }
}
