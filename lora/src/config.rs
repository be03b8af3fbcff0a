//! The LoRA configuration (`[lora]` in a run config): which projections get adapters, their
//! rank and scaling, dropout and initialisation, with PEFT's meanings and defaults.

use serde::{Deserialize, Serialize};

use guardtune_model::ProjKind;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoraConfig {
    /// Rank of the update.
    #[serde(default = "default_r")]
    pub r: usize,
    /// Scaling numerator: the update is multiplied by `alpha / r` (or `alpha / sqrt(r)`).
    #[serde(default = "default_alpha")]
    pub alpha: f64,
    /// Dropout on the adapter's input during training.
    #[serde(default)]
    pub dropout: f64,
    /// Projection names (`q_proj`, ..., `down_proj`) or `"all-linear"` (all seven; never the
    /// output head, as in PEFT).
    #[serde(default = "default_targets")]
    pub target_modules: TargetModules,
    /// Only these decoder layers get adapters (PEFT's `layers_to_transform`); all if absent.
    #[serde(default)]
    pub layers: Option<Vec<usize>>,
    /// rsLoRA: scale by `alpha / sqrt(r)` instead of `alpha / r`.
    #[serde(default)]
    pub use_rslora: bool,
    #[serde(default)]
    pub init: LoraInit,
    /// Start from the weights of this PEFT adapter instead of `init` (a new run from an
    /// existing guard; see `init_from_adapter`). Its `r`, `alpha`, `use_rslora`, targets and
    /// layers must be this config's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init_from: Option<std::path::PathBuf>,
}

/// PEFT's defaults: r 8, alpha 8.
fn default_r() -> usize {
    8
}
fn default_alpha() -> f64 {
    8.0
}
fn default_targets() -> TargetModules {
    TargetModules::Names(vec!["q_proj".into(), "v_proj".into()])
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum TargetModules {
    /// `"all-linear"`.
    Preset(String),
    Names(Vec<String>),
}

/// How `A` starts (`B` always starts at zero, so training begins at the base model).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LoraInit {
    /// PEFT's default: kaiming-uniform with a = sqrt(5), i.e. U(-1/sqrt(in), 1/sqrt(in)).
    #[default]
    Peft,
    /// PEFT's `"gaussian"`: Normal(0, 1/r).
    Gaussian,
}

impl Default for LoraConfig {
    /// What a config that sets nothing gets: PEFT's defaults.
    fn default() -> Self {
        LoraConfig {
            r: default_r(),
            alpha: default_alpha(),
            dropout: 0.0,
            target_modules: default_targets(),
            layers: None,
            use_rslora: false,
            init: LoraInit::default(),
            init_from: None,
        }
    }
}

impl LoraConfig {
    /// The update's multiplier.
    pub fn scale(&self) -> f64 {
        if self.use_rslora {
            self.alpha / (self.r as f64).sqrt()
        } else {
            self.alpha / self.r as f64
        }
    }

    /// The targeted projections, or an error naming the unknown target.
    pub fn targets(&self) -> Result<Vec<ProjKind>, String> {
        let mut kinds = match &self.target_modules {
            TargetModules::Preset(p) if p == "all-linear" => ProjKind::ALL.to_vec(),
            TargetModules::Preset(other) => vec![kind_named(other)?],
            TargetModules::Names(names) => {
                names.iter().map(|n| kind_named(n)).collect::<Result<_, _>>()?
            }
        };
        kinds.sort();
        kinds.dedup();
        if kinds.is_empty() {
            return Err("target_modules is empty".into());
        }
        Ok(kinds)
    }

    /// Checks the values a model does not need to judge; the first problem, naming its key.
    pub fn validate(&self) -> Result<(), String> {
        match self.problems().into_iter().next() {
            Some((key, message)) => Err(format!("{key} {message}")),
            None => Ok(()),
        }
    }

    /// Every problem of [`LoraConfig::validate`], as `(key, message)`: a run config reports
    /// them all, one line each.
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        let mut found = Vec::new();
        if self.r == 0 {
            found.push(("lora.r", "must be at least 1".to_string()));
        }
        // Zero learns nothing (the update is multiplied by it); NaN or infinity poisons it.
        if !(self.alpha.is_finite() && self.alpha > 0.0) {
            found.push(("lora.alpha", format!("must be finite and > 0, got {}", self.alpha)));
        }
        if !(0.0..1.0).contains(&self.dropout) {
            found.push(("lora.dropout", format!("must be in [0, 1), got {}", self.dropout)));
        }
        if let Err(message) = self.targets() {
            found.push(("lora.target_modules", message));
        }
        found
    }
}

fn kind_named(name: &str) -> Result<ProjKind, String> {
    ProjKind::from_name(name).ok_or_else(|| {
        format!(
            "unknown LoRA target \"{name}\" (expected q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj or all-linear)"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_is_what_a_config_that_sets_nothing_reads_as() {
        let read: LoraConfig = serde_json::from_str("{}").unwrap();
        assert_eq!(read, LoraConfig::default());
    }
}
