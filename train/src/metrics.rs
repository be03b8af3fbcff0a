//! Guard classification metrics, with the harmful (unsafe) class as the positive class.
//!
//! Conventions, chosen to match scikit-learn with `zero_division=0`:
//! - An unparseable model output (`predicted: None`) counts as a *safe* prediction: a
//!   guard that cannot be read does not block anything. Such rows are also counted in
//!   [`ClassificationMetrics::unparseable`], so the number is never hidden.
//! - A ratio whose denominator is zero is 0: precision with no predicted positives,
//!   recall with no positives, F1 when both precision and recall are 0, accuracy of an
//!   empty input.
//! - AUPRC is average precision, `sum_n (R_n - R_{n-1}) * P_n` over the distinct score
//!   thresholds in descending order (scikit-learn's `average_precision_score`; rows with
//!   equal scores enter together). It is undefined, and reported as `None` or
//!   [`ScoreError`], without positives or unless every row has a non-NaN score.

mod binary;
mod per_category;
mod pr_curve;

pub use binary::{ClassificationMetrics, Prediction};
pub use per_category::{per_category_f1, CategoryScore, CategorySets};
pub use pr_curve::{average_precision, precision_recall_curve, PrPoint, ScoreError};

/// Confusion counts for one positive class, and the ratios derived from them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Confusion {
    true_positives: usize,
    false_positives: usize,
    false_negatives: usize,
}

impl Confusion {
    fn precision(&self) -> f64 {
        ratio(self.true_positives, self.true_positives + self.false_positives)
    }

    fn recall(&self) -> f64 {
        ratio(self.true_positives, self.true_positives + self.false_negatives)
    }

    /// Harmonic mean of precision and recall, computed from counts so that it is exact
    /// and 0 (not NaN) when both are 0.
    fn f1(&self) -> f64 {
        ratio(
            2 * self.true_positives,
            2 * self.true_positives + self.false_positives + self.false_negatives,
        )
    }
}

/// `numerator / denominator`, or 0 when the denominator is 0.
fn ratio(numerator: usize, denominator: usize) -> f64 {
    if denominator == 0 {
        0.0
    } else {
        numerator as f64 / denominator as f64
    }
}
