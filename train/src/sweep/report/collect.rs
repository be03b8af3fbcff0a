//! Reading what each finished run left in its folder: the evaluation's predictions.jsonl (the
//! numbers are recomputed from it), the losses and timings in metrics.jsonl, the evaluation's
//! time in its report.json, and blend.json.

use std::path::Path;

use anyhow::{Context, Result};
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::cost::{self, RunCost};
use crate::evaluation::PredictionRow;
use crate::sweep::blend::BLEND_FILE;
use crate::sweep::plan::PlannedRun;
use crate::sweep::state::{eval_dir, RunState};

/// `(step, value)` points of one logged series.
pub type Curve = Vec<(f64, f64)>;

/// A finished run's outputs.
pub struct RunOutputs {
    pub run: PlannedRun,
    pub rows: Vec<PredictionRow>,
    /// `(step, train/loss)` of every logged step.
    pub train_loss: Curve,
    /// `(step, eval/loss)` of every validation.
    pub validation_loss: Curve,
    /// The run's blend report (blend.json), when present.
    pub blend: Option<Value>,
    pub cost: RunCost,
}

/// The outputs of the runs that are trained and evaluated with their planned settings, and the
/// names of those that are not.
pub fn collect(runs: &[PlannedRun]) -> Result<(Vec<RunOutputs>, Vec<String>)> {
    let mut done = Vec::new();
    let mut missing = Vec::new();
    for run in runs {
        let complete = RunState::read(&run.dir)?.is_some_and(|s| s.is_complete_for(run));
        if !complete {
            missing.push(run.name());
            continue;
        }
        let eval = eval_dir(&run.dir);
        let rows = read_json_lines(&eval.join("predictions.jsonl"), "a prediction row")?;
        // One object per logged step or validation, as the trainer wrote them.
        let metrics = if run.train {
            read_json_lines(&run.dir.join("metrics.jsonl"), "a JSON object")?
        } else {
            Vec::new()
        };
        let (train_loss, validation_loss) = losses(&metrics);
        let cost = RunCost {
            run: run.name(),
            training: cost::training(&metrics),
            evaluation: cost::evaluation(&eval.join("report.json"), &rows)?,
        };
        let blend_path = run.dir.join(BLEND_FILE);
        let blend = if blend_path.exists() {
            let text = std::fs::read_to_string(&blend_path)
                .with_context(|| format!("{}: cannot read", blend_path.display()))?;
            Some(
                serde_json::from_str(&text)
                    .with_context(|| format!("{}: invalid JSON", blend_path.display()))?,
            )
        } else {
            None
        };
        done.push(RunOutputs { run: run.clone(), rows, train_loss, validation_loss, blend, cost });
    }
    Ok((done, missing))
}

/// The rows of a JSON-lines file, each `what` ("a prediction row").
fn read_json_lines<T: DeserializeOwned>(path: &Path, what: &str) -> Result<Vec<T>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("{}: cannot read", path.display()))?;
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(i, line)| {
            serde_json::from_str(line)
                .with_context(|| format!("{}:{}: not {what}", path.display(), i + 1))
        })
        .collect()
}

/// Train and validation losses by step.
fn losses(entries: &[Value]) -> (Curve, Curve) {
    let (mut train, mut validation) = (Vec::new(), Vec::new());
    for entry in entries {
        let Some(step) = entry["step"].as_f64() else { continue };
        if let Some(loss) = entry["train/loss"].as_f64() {
            train.push((step, loss));
        }
        if let Some(loss) = entry["eval/loss"].as_f64() {
            validation.push((step, loss));
        }
    }
    (train, validation)
}
