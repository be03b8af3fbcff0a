//! The numeric settings of a run config that types cannot rule out: every one that would train
//! wrongly or not at all (gradient ascent from a negative clipping norm, no learning from a zero
//! one, a NaN loss only steps later from an infinite rate) is refused when the config is loaded,
//! each problem on its own line, naming its key.

use super::{EvalSection, RunConfig, TrainingSection};

/// One problem: the dotted key and what is wrong with its value.
pub type Problem = (String, String);

/// Every problem with the LoRA and optimizer settings of `config`, in key order of the file.
pub fn setting_problems(config: &RunConfig) -> Vec<Problem> {
    let mut found: Vec<Problem> =
        config.lora.problems().into_iter().map(|(key, m)| (key.to_string(), m)).collect();
    found.extend(training_problems(&config.training));
    found.extend(eval_problems(&config.eval));
    found
}

/// Caps of zero would evaluate nothing and log no number, or a meaningless one.
fn eval_problems(e: &EvalSection) -> Vec<Problem> {
    [
        ("max_examples", e.max_examples),
        ("benchmark_max_examples", e.benchmark_max_examples),
        ("batch_size", e.batch_size),
    ]
    .into_iter()
    .filter(|(_, value)| *value == Some(0))
    .map(|(key, _)| (format!("eval.{key}"), "must be at least 1, got 0".to_string()))
    .collect()
}

fn training_problems(t: &TrainingSection) -> Vec<Problem> {
    let mut found = Vec::new();
    let mut refuse = |key: &str, message: String| found.push((format!("training.{key}"), message));
    if t.max_steps == Some(0) {
        refuse("max_steps", "must be at least 1, got 0".into());
    }
    if let Some(epochs) = t.epochs.filter(|e| !(e.is_finite() && *e > 0.0)) {
        refuse("epochs", format!("must be finite and > 0, got {epochs}"));
    }
    if !positive(t.lr) {
        refuse("lr", format!("must be finite and > 0, got {}", t.lr));
    }
    if !(t.min_lr.is_finite() && t.min_lr >= 0.0) {
        refuse("min_lr", format!("must be finite and >= 0, got {}", t.min_lr));
    } else if t.lr.is_finite() && t.min_lr > t.lr {
        refuse("min_lr", format!("must be at most lr ({}), got {}", t.lr, t.min_lr));
    }
    for (i, beta) in t.betas.iter().enumerate() {
        if !(0.0..1.0).contains(beta) {
            refuse("betas", format!("beta{} must be in [0, 1), got {beta}", i + 1));
        }
    }
    if !positive(t.eps) {
        refuse("eps", format!("must be finite and > 0, got {}", t.eps));
    }
    if !(t.weight_decay.is_finite() && t.weight_decay >= 0.0) {
        refuse("weight_decay", format!("must be finite and >= 0, got {}", t.weight_decay));
    }
    // Clipping to a negative norm flips the gradient (ascent); to zero, it stops learning.
    if let Some(norm) = t.max_grad_norm.filter(|n| !positive(*n)) {
        refuse(
            "max_grad_norm",
            format!("must be finite and > 0 (leave it out for no clipping), got {norm}"),
        );
    }
    if t.log_every_steps == 0 {
        refuse("log_every_steps", "must be at least 1, got 0".into());
    }
    found
}

fn positive(x: f64) -> bool {
    x.is_finite() && x > 0.0
}
