//! The numbers of a sweep report (results.json): per variant and benchmark column, F1 and
//! AUPRC over seeds with bootstrap intervals, the average over columns, the difference from the
//! first variant, each run's own numbers, and each variant's blend.

use std::collections::BTreeMap;

use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::collect::RunOutputs;
use super::stats::{bootstrap_f1, interval, Estimate, Table, CONFIDENCE, RESAMPLES, SEED};
use crate::evaluation::{summarize, PredictionRow};
use crate::metrics::Prediction;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SweepResults {
    /// The sweep file's name.
    pub sweep: String,
    pub seeds: Vec<u64>,
    /// The table's columns: benchmark and level, in evaluation order.
    pub columns: Vec<Column>,
    pub bootstrap: BootstrapSettings,
    /// Variants with at least one finished run, in the sweep file's order.
    pub variants: Vec<VariantResults>,
    /// Runs not (yet) trained and evaluated with the current settings.
    pub missing: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Column {
    pub benchmark: String,
    pub level: String,
}

impl Column {
    pub fn label(&self) -> String {
        format!("{} ({})", self.benchmark, self.level)
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BootstrapSettings {
    pub resamples: usize,
    pub seed: u64,
    pub confidence: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VariantResults {
    pub name: String,
    /// Per column.
    pub f1: Vec<Estimate>,
    /// Per column; none when some run has no scores or the column has no unsafe example.
    pub auprc: Vec<Option<Estimate>>,
    /// F1 averaged over the columns.
    pub average_f1: Estimate,
    /// F1 minus the first variant's, per column (paired bootstrap); none for the first.
    pub f1_difference: Option<Vec<Estimate>>,
    pub average_f1_difference: Option<Estimate>,
    pub runs: Vec<RunResults>,
    /// The first seed's blend: examples and labels per source.
    pub blend: Option<BlendSummary>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunResults {
    pub seed: u64,
    /// The run folder's name.
    pub run: String,
    pub config_hash: String,
    /// Per column.
    pub f1: Vec<f64>,
    pub auprc: Vec<Option<f64>>,
    pub examples: Vec<usize>,
    pub final_train_loss: Option<f64>,
    pub final_validation_loss: Option<f64>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BlendSummary {
    pub seed: u64,
    pub train: u64,
    pub validation: u64,
    pub sources: Vec<SourceSummary>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SourceSummary {
    pub name: String,
    pub kind: String,
    pub train: u64,
    pub validation: u64,
    /// Label counts over its training examples ("prompt unsafe", "response safe", ...).
    pub labels: BTreeMap<String, u64>,
}

/// Builds the results of `runs` (finished runs, in plan order: variant by variant).
pub fn results(
    sweep: String,
    seeds: Vec<u64>,
    runs: &[RunOutputs],
    missing: Vec<String>,
) -> Result<SweepResults> {
    let Some(first) = runs.first() else {
        bail!("no run is finished yet ({} to go): nothing to report", missing.len())
    };
    let columns: Vec<Column> = summarize(&first.rows)
        .into_iter()
        .map(|l| Column { benchmark: l.benchmark, level: l.level })
        .collect();
    let mut groups: Vec<(String, Vec<&RunOutputs>)> = Vec::new();
    for run in runs {
        match groups.iter_mut().find(|(name, _)| *name == run.run.variant) {
            Some((_, group)) => group.push(run),
            None => groups.push((run.run.variant.clone(), vec![run])),
        }
    }
    let mut table: Table = Vec::new();
    for (_, group) in &groups {
        let per_seed = group
            .iter()
            .map(|run| column_predictions(run, &columns, &first.rows))
            .collect::<Result<Vec<_>>>()?;
        table.push(per_seed);
    }
    let draws = bootstrap_f1(&table, columns.len());
    let mut variants: Vec<VariantResults> = groups
        .iter()
        .enumerate()
        .map(|(v, (name, group))| variant_results(name, group, &columns, &draws, v))
        .collect();
    add_differences(&mut variants, &draws);
    Ok(SweepResults {
        sweep,
        seeds,
        columns,
        bootstrap: BootstrapSettings { resamples: RESAMPLES, seed: SEED, confidence: CONFIDENCE },
        variants,
        missing,
    })
}

/// A run's verdicts per column, without scores; refused unless it classified the same examples
/// as the reference run (same ids in the same order), which the paired bootstrap needs.
fn column_predictions(
    run: &RunOutputs,
    columns: &[Column],
    reference: &[PredictionRow],
) -> Result<Vec<Vec<Prediction>>> {
    columns
        .iter()
        .map(|column| {
            let select = |rows: &[PredictionRow]| -> Vec<PredictionRow> {
                rows.iter()
                    .filter(|r| r.benchmark == column.benchmark && r.level == column.level)
                    .cloned()
                    .collect()
            };
            let mine = select(&run.rows);
            let ids = |rows: &[PredictionRow]| rows.iter().map(|r| r.id.clone()).collect::<Vec<_>>();
            if ids(&mine) != ids(&select(reference)) {
                bail!(
                    "{}: its evaluation of {} holds other examples than the first run's; evaluate every run alike",
                    run.run.dir.display(),
                    column.label()
                );
            }
            Ok(mine
                .iter()
                .map(|r| Prediction {
                    label: r.label == "unsafe",
                    predicted: r.parsed.then_some(r.prediction == "unsafe"),
                    score: None,
                })
                .collect())
        })
        .collect()
}

fn variant_results(
    name: &str,
    group: &[&RunOutputs],
    columns: &[Column],
    draws: &[Vec<Vec<f64>>],
    v: usize,
) -> VariantResults {
    let runs: Vec<RunResults> = group.iter().map(|run| run_results(run, columns)).collect();
    let ci = |f: &dyn Fn(&Vec<Vec<f64>>) -> f64| {
        Some(interval(&draws.iter().map(f).collect::<Vec<_>>()))
    };
    let average = |row: &[f64]| row.iter().sum::<f64>() / row.len().max(1) as f64;
    let f1 = (0..columns.len())
        .map(|c| Estimate::of(&runs.iter().map(|r| r.f1[c]).collect::<Vec<_>>(), ci(&|d| d[v][c])))
        .collect();
    let auprc = (0..columns.len())
        .map(|c| {
            let values: Option<Vec<f64>> = runs.iter().map(|r| r.auprc[c]).collect();
            values.map(|values| Estimate::of(&values, None))
        })
        .collect();
    let averages: Vec<f64> = runs.iter().map(|r| average(&r.f1)).collect();
    let average_f1 = Estimate::of(&averages, ci(&|d| average(&d[v])));
    VariantResults {
        name: name.to_string(),
        f1,
        auprc,
        average_f1,
        f1_difference: None,
        average_f1_difference: None,
        runs,
        blend: group.first().and_then(|run| blend_summary(run)),
    }
}

/// Each variant after the first: its mean F1 minus the first's, with the paired bootstrap
/// interval of that difference.
fn add_differences(variants: &mut [VariantResults], draws: &[Vec<Vec<f64>>]) {
    let Some((first, rest)) = variants.split_first_mut() else { return };
    let average = |row: &[f64]| row.iter().sum::<f64>() / row.len().max(1) as f64;
    for (offset, variant) in rest.iter_mut().enumerate() {
        let v = offset + 1;
        let ci = |f: &dyn Fn(&Vec<Vec<f64>>) -> f64| {
            Some(interval(&draws.iter().map(f).collect::<Vec<_>>()))
        };
        let differences = (0..first.f1.len())
            .map(|c| Estimate {
                mean: variant.f1[c].mean - first.f1[c].mean,
                std: None,
                ci95: ci(&|d| d[v][c] - d[0][c]),
            })
            .collect();
        variant.f1_difference = Some(differences);
        variant.average_f1_difference = Some(Estimate {
            mean: variant.average_f1.mean - first.average_f1.mean,
            std: None,
            ci95: ci(&|d| average(&d[v]) - average(&d[0])),
        });
    }
}

fn run_results(run: &RunOutputs, columns: &[Column]) -> RunResults {
    let levels = summarize(&run.rows);
    let metric = |column: &Column| {
        levels.iter().find(|l| l.benchmark == column.benchmark && l.level == column.level)
    };
    RunResults {
        seed: run.run.seed,
        run: run.run.name(),
        config_hash: run.run.config_hash.clone(),
        f1: columns.iter().map(|c| metric(c).map_or(0.0, |l| l.metrics.f1)).collect(),
        auprc: columns.iter().map(|c| metric(c).and_then(|l| l.metrics.auprc)).collect(),
        examples: columns.iter().map(|c| metric(c).map_or(0, |l| l.metrics.count)).collect(),
        final_train_loss: run.train_loss.last().map(|p| p.1),
        final_validation_loss: run.validation_loss.last().map(|p| p.1),
    }
}

/// The parts of a blend.json a reader of the sweep needs.
fn blend_summary(run: &RunOutputs) -> Option<BlendSummary> {
    let blend = run.blend.as_ref()?;
    let count = |v: &Value, key: &str| v[key].as_u64().unwrap_or(0);
    let sources = blend["sources"]
        .as_array()?
        .iter()
        .map(|s| SourceSummary {
            name: s["name"].as_str().unwrap_or_default().to_string(),
            kind: s["kind"].as_str().unwrap_or_default().to_string(),
            train: count(s, "train"),
            validation: count(s, "validation"),
            labels: s["labels"]
                .as_object()
                .map(|o| o.iter().map(|(k, v)| (k.clone(), v.as_u64().unwrap_or(0))).collect())
                .unwrap_or_default(),
        })
        .collect();
    Some(BlendSummary {
        seed: run.run.seed,
        train: count(blend, "train"),
        validation: count(blend, "validation"),
        sources,
    })
}
