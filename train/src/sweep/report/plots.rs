//! The sweep report's charts, drawn with the crate's plot module: the loss curves of every run,
//! F1 bars with their bootstrap intervals, and each benchmark's precision-recall curves.

use std::path::Path;

use anyhow::Result;

use super::collect::RunOutputs;
use super::results::SweepResults;
use crate::metrics::{precision_recall_curve, Prediction};
use crate::plot::{plot_bars_with_intervals, plot_lines, plot_pr_curves};

/// Writes the charts into `dir`; returns their file names, in report order.
pub fn write_plots(dir: &Path, results: &SweepResults, runs: &[RunOutputs]) -> Result<Vec<String>> {
    let mut written = Vec::new();
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
    if !losses.is_empty() {
        plot_lines(
            dir.join("loss_curves.png"),
            "Training and validation loss",
            &losses,
            "step",
            "loss",
        )?;
        written.push("loss_curves.png".to_string());
    }

    let mut bars = Vec::new();
    let mut intervals = Vec::new();
    for variant in &results.variants {
        let cells = results.columns.iter().map(|c| c.label()).zip(&variant.f1);
        for (label, f1) in cells.chain([("average".to_string(), &variant.average_f1)]) {
            bars.push((format!("{}: {label}", variant.name), f1.mean));
            intervals.push(f1.ci95.map_or((f1.mean, f1.mean), |[low, high]| (low, high)));
        }
    }
    plot_bars_with_intervals(
        dir.join("f1.png"),
        "Harmful-class F1, mean over seeds (whiskers: bootstrap 95% interval)",
        &bars,
        &intervals,
    )?;
    written.push("f1.png".to_string());

    for column in &results.columns {
        let curves: Vec<(String, Vec<(f64, f64)>)> = runs
            .iter()
            .filter_map(|run| {
                let predictions: Vec<Prediction> = run
                    .rows
                    .iter()
                    .filter(|r| r.benchmark == column.benchmark && r.level == column.level)
                    .map(|r| Prediction {
                        label: r.label == "unsafe",
                        predicted: None,
                        score: r.score,
                    })
                    .collect();
                let curve = precision_recall_curve(&predictions).ok()?;
                Some((run.run.name(), curve.iter().map(|p| (p.recall, p.precision)).collect()))
            })
            .collect();
        if curves.is_empty() {
            continue;
        }
        let file = format!("pr_{}_{}.png", column.benchmark, column.level);
        plot_pr_curves(
            dir.join(&file),
            &format!("Precision-recall: {} (unsafe = positive)", column.label()),
            &curves,
        )?;
        written.push(file);
    }
    Ok(written)
}
