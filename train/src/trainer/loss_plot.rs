//! `loss.png` in the run folder: the training and validation loss against the step, drawn from
//! metrics.jsonl (so a resumed run's plot covers the whole run).

use std::path::Path;

use anyhow::{Context, Result};
use serde_json::Value;

use crate::plot::plot_lines;

/// Redraws `run_dir/loss.png` from `run_dir/metrics.jsonl`.
pub fn write_loss_plot(run_dir: &Path) -> Result<()> {
    let metrics = run_dir.join("metrics.jsonl");
    let text = std::fs::read_to_string(&metrics)
        .with_context(|| format!("{}: cannot read", metrics.display()))?;
    let mut series = [("training", Vec::new()), ("validation", Vec::new())];
    for line in text.lines() {
        let Ok(entry) = serde_json::from_str::<Value>(line) else { continue };
        let Some(step) = entry["step"].as_f64() else { continue };
        for ((_, points), tag) in series.iter_mut().zip(["train/loss", "eval/loss"]) {
            if let Some(loss) = entry[tag].as_f64() {
                points.push((step, loss));
            }
        }
    }
    let series: Vec<_> = series.into_iter().filter(|(_, points)| !points.is_empty()).collect();
    if series.is_empty() {
        return Ok(());
    }
    plot_lines(run_dir.join("loss.png"), "Loss", &series, "Step", "Mean token loss")?;
    Ok(())
}
