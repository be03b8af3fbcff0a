//! Reading what each finished run left in its folder: the evaluation's predictions.jsonl (the
//! numbers are recomputed from it), the losses in metrics.jsonl, and blend.json.

use std::path::Path;

use anyhow::{Context, Result};
use serde_json::Value;

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
        let rows = read_predictions(&eval_dir(&run.dir).join("predictions.jsonl"))?;
        let (train_loss, validation_loss) = if run.train {
            read_losses(&run.dir.join("metrics.jsonl"))?
        } else {
            (Vec::new(), Vec::new())
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
        done.push(RunOutputs { run: run.clone(), rows, train_loss, validation_loss, blend });
    }
    Ok((done, missing))
}

fn read_predictions(path: &Path) -> Result<Vec<PredictionRow>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("{}: cannot read", path.display()))?;
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(i, line)| {
            serde_json::from_str(line)
                .with_context(|| format!("{}:{}: not a prediction row", path.display(), i + 1))
        })
        .collect()
}

/// Train and validation losses by step; a run's log is written by its trainer, one JSON object
/// per line.
fn read_losses(path: &Path) -> Result<(Curve, Curve)> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("{}: cannot read", path.display()))?;
    let (mut train, mut validation) = (Vec::new(), Vec::new());
    for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let entry: Value = serde_json::from_str(line)
            .with_context(|| format!("{}:{}: invalid JSON", path.display(), i + 1))?;
        let Some(step) = entry["step"].as_f64() else { continue };
        if let Some(loss) = entry["train/loss"].as_f64() {
            train.push((step, loss));
        }
        if let Some(loss) = entry["eval/loss"].as_f64() {
            validation.push((step, loss));
        }
    }
    Ok((train, validation))
}
