//! Safe/unsafe classification metrics over a set of guard predictions.

use serde::{Deserialize, Serialize};

use super::pr_curve::average_precision;
use super::{ratio, Confusion};

/// One evaluated example.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Prediction {
    /// Ground truth: `true` = unsafe/harmful.
    pub label: bool,
    /// The guard's verdict, `None` when its output could not be parsed.
    pub predicted: Option<bool>,
    /// The guard's probability that the example is unsafe, when available.
    pub score: Option<f64>,
}

/// Binary metrics with unsafe as the positive class; conventions in [`crate::metrics`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassificationMetrics {
    /// Number of examples.
    pub count: usize,
    /// Examples labelled unsafe.
    pub positives: usize,
    /// Examples predicted unsafe.
    pub predicted_positives: usize,
    /// Unsafe examples predicted unsafe.
    pub true_positives: usize,
    /// Safe examples predicted unsafe.
    pub false_positives: usize,
    /// Unsafe examples predicted safe or unparseable.
    pub false_negatives: usize,
    /// `true_positives / predicted_positives`, 0 when nothing was predicted unsafe.
    pub precision: f64,
    /// `true_positives / positives`, 0 when nothing is labelled unsafe.
    pub recall: f64,
    /// Harmonic mean of precision and recall, 0 when both are 0.
    pub f1: f64,
    /// Share of examples classified correctly (unparseable = predicted safe), 0 if empty.
    pub accuracy: f64,
    /// Examples whose output could not be parsed (counted as predicted safe above).
    pub unparseable: usize,
    /// Average precision over `score`; `None` unless every example has a non-NaN score
    /// and at least one is labelled unsafe.
    pub auprc: Option<f64>,
}

impl ClassificationMetrics {
    /// Computes the metrics of `predictions`; an empty slice gives all zeros and no AUPRC.
    pub fn from_predictions(predictions: &[Prediction]) -> Self {
        let mut confusion = Confusion::default();
        let mut true_negatives = 0;
        let mut unparseable = 0;
        for prediction in predictions {
            unparseable += usize::from(prediction.predicted.is_none());
            match (prediction.label, prediction.predicted.unwrap_or(false)) {
                (true, true) => confusion.true_positives += 1,
                (false, true) => confusion.false_positives += 1,
                (true, false) => confusion.false_negatives += 1,
                (false, false) => true_negatives += 1,
            }
        }
        ClassificationMetrics {
            count: predictions.len(),
            positives: confusion.true_positives + confusion.false_negatives,
            predicted_positives: confusion.true_positives + confusion.false_positives,
            true_positives: confusion.true_positives,
            false_positives: confusion.false_positives,
            false_negatives: confusion.false_negatives,
            precision: confusion.precision(),
            recall: confusion.recall(),
            f1: confusion.f1(),
            accuracy: ratio(confusion.true_positives + true_negatives, predictions.len()),
            unparseable,
            auprc: average_precision(predictions).ok(),
        }
    }
}
