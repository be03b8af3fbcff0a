//! Precision-recall curve and average precision (AUPRC) from guard scores.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::{ratio, Prediction};

/// The curve at one score threshold: examples scoring `>= threshold` are called unsafe.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PrPoint {
    /// Score threshold (one of the scores present in the data).
    pub threshold: f64,
    /// Precision at this threshold.
    pub precision: f64,
    /// Recall at this threshold.
    pub recall: f64,
}

/// Why a score-based metric is undefined for a set of predictions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScoreError {
    /// There are no predictions.
    Empty,
    /// Row `row` has no score.
    MissingScore {
        /// Index into the predictions slice.
        row: usize,
    },
    /// Row `row` has a NaN score, which cannot be ranked.
    NanScore {
        /// Index into the predictions slice.
        row: usize,
    },
    /// No example is labelled unsafe, so recall is undefined.
    NoPositives,
}

impl fmt::Display for ScoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ScoreError::Empty => write!(f, "no predictions"),
            ScoreError::MissingScore { row } => write!(f, "prediction #{row} has no score"),
            ScoreError::NanScore { row } => write!(f, "prediction #{row} has a NaN score"),
            ScoreError::NoPositives => {
                write!(f, "no example is labelled unsafe, so recall is undefined")
            }
        }
    }
}

impl std::error::Error for ScoreError {}

/// One point per distinct score, from the highest threshold (lowest recall) to the
/// lowest. Equal scores form a single threshold. Unlike scikit-learn, no artificial
/// `(recall 0, precision 1)` end point is added: every point is attained by a threshold.
pub fn precision_recall_curve(predictions: &[Prediction]) -> Result<Vec<PrPoint>, ScoreError> {
    let mut scored = Vec::with_capacity(predictions.len());
    for (row, prediction) in predictions.iter().enumerate() {
        match prediction.score {
            None => return Err(ScoreError::MissingScore { row }),
            Some(score) if score.is_nan() => return Err(ScoreError::NanScore { row }),
            Some(score) => scored.push((score, prediction.label)),
        }
    }
    if scored.is_empty() {
        return Err(ScoreError::Empty);
    }
    let positives = scored.iter().filter(|(_, label)| *label).count();
    if positives == 0 {
        return Err(ScoreError::NoPositives);
    }
    scored.sort_by(|a, b| b.0.total_cmp(&a.0));

    let mut points = Vec::new();
    let (mut true_positives, mut false_positives) = (0, 0);
    for (index, &(score, label)) in scored.iter().enumerate() {
        if label {
            true_positives += 1;
        } else {
            false_positives += 1;
        }
        // Emit a point only after the last row of a run of equal scores.
        if scored.get(index + 1).is_none_or(|next| next.0 != score) {
            points.push(PrPoint {
                threshold: score,
                precision: ratio(true_positives, true_positives + false_positives),
                recall: ratio(true_positives, positives),
            });
        }
    }
    Ok(points)
}

/// Average precision, `sum_n (R_n - R_{n-1}) * P_n` over [`precision_recall_curve`]
/// (scikit-learn's `average_precision_score`).
pub fn average_precision(predictions: &[Prediction]) -> Result<f64, ScoreError> {
    let mut previous_recall = 0.0;
    let mut sum = 0.0;
    for point in precision_recall_curve(predictions)? {
        sum += (point.recall - previous_recall) * point.precision;
        previous_recall = point.recall;
    }
    Ok(sum)
}
