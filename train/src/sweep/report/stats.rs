//! Mean, standard deviation over seeds, and percentile-bootstrap 95% intervals of F1.
//!
//! The bootstrap resamples a benchmark's examples (with replacement; the same draw for every
//! variant and seed, since all runs classify the same examples), recomputes each run's F1 on
//! the draw, and averages over the variant's seeds. The 2.5th and 97.5th percentiles of 1000
//! such draws bound the variant's mean F1; the same draws give intervals for the average over
//! benchmarks and for the difference from the first variant (a paired bootstrap). Draws come
//! from a fixed seed, so a report is reproducible to the digit.

use guardtune_data::seeding::{below, rng_for};
use serde::{Deserialize, Serialize};

use crate::metrics::{ClassificationMetrics, Prediction};

pub const RESAMPLES: usize = 1000;
pub const SEED: u64 = 20250109;
pub const CONFIDENCE: f64 = 0.95;

/// A mean over seeds, their standard deviation (n - 1; none with one seed) and an interval.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Estimate {
    pub mean: f64,
    pub std: Option<f64>,
    /// The bootstrap 95% interval, when computed.
    pub ci95: Option<[f64; 2]>,
}

impl Estimate {
    pub fn of(values: &[f64], ci95: Option<[f64; 2]>) -> Estimate {
        let n = values.len() as f64;
        let mean = values.iter().sum::<f64>() / n;
        let std = (values.len() > 1)
            .then(|| (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt());
        Estimate { mean, std, ci95 }
    }
}

/// `predictions[v][s][c]`: variant v's seed s's predictions on column c (a benchmark at a
/// level), without scores (F1 only needs verdicts); every run has the same number of examples
/// per column, in the same order.
pub type Table = Vec<Vec<Vec<Vec<Prediction>>>>;

/// Bootstrap draws of the seed-averaged F1: `draws[b][v][c]`.
pub fn bootstrap_f1(table: &Table, columns: usize) -> Vec<Vec<Vec<f64>>> {
    let sizes: Vec<usize> = (0..columns).map(|c| table[0][0][c].len()).collect();
    let mut rng = rng_for(SEED, "sweep-bootstrap");
    let mut resample = Vec::new();
    (0..RESAMPLES)
        .map(|_| {
            let indices: Vec<Vec<usize>> = sizes
                .iter()
                .map(|&n| (0..n).map(|_| below(&mut rng, n.max(1))).collect())
                .collect();
            table
                .iter()
                .map(|seeds| {
                    (0..columns)
                        .map(|c| {
                            let total: f64 = seeds
                                .iter()
                                .map(|run| {
                                    resample.clear();
                                    resample.extend(indices[c].iter().map(|&i| run[c][i]));
                                    f1(&resample)
                                })
                                .sum();
                            total / seeds.len() as f64
                        })
                        .collect()
                })
                .collect()
        })
        .collect()
}

/// Harmful-class F1 of `predictions` (give them no scores: then no AUPRC is computed).
fn f1(predictions: &[Prediction]) -> f64 {
    ClassificationMetrics::from_predictions(predictions).f1
}

/// The central 95% of `values`: the 2.5th and 97.5th percentiles (linear interpolation
/// between order statistics, as numpy's default).
pub fn interval(values: &[f64]) -> [f64; 2] {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let tail = (1.0 - CONFIDENCE) / 2.0;
    [percentile(&sorted, tail), percentile(&sorted, 1.0 - tail)]
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    let position = q * (sorted.len() - 1) as f64;
    let (low, high) = (position.floor() as usize, position.ceil() as usize);
    sorted[low] + (sorted[high] - sorted[low]) * (position - low as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_match_numpy() {
        let values: Vec<f64> = (1..=11).map(f64::from).collect();
        // numpy.percentile(range(1, 12), [2.5, 97.5]) == [1.25, 10.75] (0.025 * 10 is not
        // exact in binary, so equal to rounding).
        let [low, high] = interval(&values);
        assert!((low - 1.25).abs() < 1e-12 && (high - 10.75).abs() < 1e-12, "{low} {high}");
    }

    #[test]
    fn estimate_uses_the_sample_standard_deviation() {
        let e = Estimate::of(&[1.0, 2.0, 3.0], None);
        assert_eq!((e.mean, e.std), (2.0, Some(1.0)));
        assert_eq!(Estimate::of(&[0.5], None).std, None);
    }

    #[test]
    fn bootstrap_of_a_perfect_guard_is_one_and_repeatable() {
        let p = |label: bool| Prediction { label, predicted: Some(label), score: None };
        let run: Vec<Prediction> = (0..20).map(|i| p(i % 3 == 0)).collect();
        let table: Table = vec![vec![vec![run.clone()], vec![run]]];
        let draws = bootstrap_f1(&table, 1);
        assert_eq!(draws.len(), RESAMPLES);
        assert!(draws.iter().all(|d| d[0][0] == 1.0 || d[0][0] == 0.0));
        assert_eq!(draws, bootstrap_f1(&table, 1));
    }
}
