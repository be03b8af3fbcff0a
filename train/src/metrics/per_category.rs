//! One-vs-rest F1 for each hazard category (multi-label: an example can have several).

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::Confusion;

/// The categories of one example: the reference annotation and the guard's output.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CategorySets {
    /// Categories the example is annotated with (empty for safe examples).
    pub label: BTreeSet<String>,
    /// Categories the guard named (empty when it named none or its output was unparseable).
    pub predicted: BTreeSet<String>,
}

/// One-vs-rest scores of one category.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CategoryScore {
    /// Category name.
    pub category: String,
    /// Examples annotated with the category.
    pub support: usize,
    /// Examples for which the guard named the category.
    pub predicted: usize,
    /// Examples both annotated with and predicted as the category.
    pub true_positives: usize,
    /// `true_positives / predicted`, 0 when never predicted.
    pub precision: f64,
    /// `true_positives / support`, 0 when never annotated.
    pub recall: f64,
    /// Harmonic mean of precision and recall, 0 when both are 0.
    pub f1: f64,
}

/// Scores every category that occurs in any label or prediction, sorted by name. A
/// category that is only ever predicted has support 0 and F1 0.
pub fn per_category_f1(examples: &[CategorySets]) -> Vec<CategoryScore> {
    let mut confusions: BTreeMap<&str, Confusion> = BTreeMap::new();
    for example in examples {
        for category in &example.label {
            let confusion = confusions.entry(category).or_default();
            if example.predicted.contains(category) {
                confusion.true_positives += 1;
            } else {
                confusion.false_negatives += 1;
            }
        }
        for category in example.predicted.difference(&example.label) {
            confusions.entry(category).or_default().false_positives += 1;
        }
    }
    confusions
        .into_iter()
        .map(|(category, confusion)| CategoryScore {
            category: category.to_owned(),
            support: confusion.true_positives + confusion.false_negatives,
            predicted: confusion.true_positives + confusion.false_positives,
            true_positives: confusion.true_positives,
            precision: confusion.precision(),
            recall: confusion.recall(),
            f1: confusion.f1(),
        })
        .collect()
}
