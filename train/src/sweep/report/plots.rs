//! The sweep report's charts, drawn with the crate's plot module: the loss curves of every run,
//! F1 bars with their bootstrap intervals, and each benchmark's precision-recall curves.

use std::path::Path;

use anyhow::Result;

use super::collect::RunOutputs;
use super::results::{Column, SweepResults};
use crate::metrics::{precision_recall_curve, Prediction};
use crate::plot::{plot_bars_with_intervals, plot_lines, plot_pr_curves};

/// Writes the charts into `dir`; returns their file names, in report order.
pub fn write_plots(dir: &Path, results: &SweepResults, runs: &[RunOutputs]) -> Result<Vec<String>> {
    let mut written = Vec::new();
    written.extend(loss_plot(dir, runs)?);
    written.push(f1_plot(dir, results)?);
    for column in &results.columns {
        written.extend(pr_plot(dir, column, runs)?);
    }
    Ok(written)
}

/// `loss_curves.png`: every run's training and validation loss, if any run trained.
fn loss_plot(dir: &Path, runs: &[RunOutputs]) -> Result<Option<String>> {
    let mut losses = Vec::new();
    for run in runs {
        let name = run.run.name();
        if !run.train_loss.is_empty() {
            losses.push((format!("{name} train"), run.train_loss.clone()));
        }
        if !run.validation_loss.is_empty() {
            losses.push((format!("{name} validation"), run.validation_loss.clone()));
        }
    }
    if losses.is_empty() {
        return Ok(None);
    }
    let file = "loss_curves.png";
    plot_lines(dir.join(file), "Training and validation loss", &losses, "step", "loss")?;
    Ok(Some(file.to_string()))
}

/// `f1.png`: each variant's mean F1 per column and on average, with interval whiskers.
fn f1_plot(dir: &Path, results: &SweepResults) -> Result<String> {
    let mut bars = Vec::new();
    let mut intervals = Vec::new();
    for variant in &results.variants {
        let cells = results.columns.iter().map(|c| c.label()).zip(&variant.f1);
        for (label, f1) in cells.chain([("average".to_string(), &variant.average_f1)]) {
            bars.push((format!("{}: {label}", variant.name), f1.mean));
            intervals.push(f1.ci95.map_or((f1.mean, f1.mean), |[low, high]| (low, high)));
        }
    }
    let file = "f1.png";
    plot_bars_with_intervals(
        dir.join(file),
        "Harmful-class F1, mean over seeds (whiskers: bootstrap 95% interval)",
        &bars,
        &intervals,
    )?;
    Ok(file.to_string())
}

/// `pr_<benchmark>_<level>.png`: the precision-recall curve of every run with scores on
/// `column`, if any has them.
fn pr_plot(dir: &Path, column: &Column, runs: &[RunOutputs]) -> Result<Option<String>> {
    let curves: Vec<(String, Vec<(f64, f64)>)> = runs
        .iter()
        .filter_map(|run| {
            let predictions: Vec<Prediction> = run
                .rows
                .iter()
                .filter(|r| r.benchmark == column.benchmark && r.level == column.level)
                .map(|r| Prediction { label: r.label == "unsafe", predicted: None, score: r.score })
                .collect();
            let curve = precision_recall_curve(&predictions).ok()?;
            Some((run.run.name(), curve.iter().map(|p| (p.recall, p.precision)).collect()))
        })
        .collect();
    if curves.is_empty() {
        return Ok(None);
    }
    let file = format!("pr_{}_{}.png", column.benchmark, column.level);
    plot_pr_curves(
        dir.join(&file),
        &format!("Precision-recall: {} (unsafe = positive)", column.label()),
        &curves,
    )?;
    Ok(Some(file))
}
