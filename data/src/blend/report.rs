//! What a blend is made of, per source: for `guardtune blend` and for run logs.

use super::config::Truncation;
use crate::example::{GuardExample, Target, Topic};
use crate::loaders::{LoadReport, SourceKind};
use crate::taxonomy::category_number;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// Token-length percentiles (nearest rank) and maximum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct LengthStats {
    /// Median.
    pub p50: usize,
    /// 90th percentile.
    pub p90: usize,
    /// 99th percentile.
    pub p99: usize,
    /// Longest.
    pub max: usize,
}

impl LengthStats {
    /// Statistics of `lengths`, or `None` when there are none.
    pub fn of(lengths: &[usize]) -> Option<Self> {
        let mut sorted = lengths.to_vec();
        sorted.sort_unstable();
        let rank = |p: usize| sorted[(p * sorted.len()).div_ceil(100).max(1) - 1];
        let max = *sorted.last()?;
        Some(LengthStats { p50: rank(50), p90: rank(90), p99: rank(99), max })
    }
}

/// One source's part of the blend.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SourceReport {
    /// The source's name.
    pub name: String,
    /// Its kind.
    pub kind: SourceKind,
    /// What loading found: files (training, then validation files), rows read, examples loaded,
    /// notes, unknown categories, the first bad rows, and `skipped` by reason: the loader's
    /// reasons ("REDACTED prompt", "bad row", ...) plus "filtered", "too long" and
    /// "not trainable: ..." (with `on_error = "skip"`).
    #[serde(flatten)]
    pub load: LoadReport,
    /// Examples that fit only after their earliest turns were dropped.
    pub shortened: usize,
    /// Training examples available after all of the above and the validation split.
    pub available: usize,
    /// Training examples in the blend (repeats counted).
    pub train: usize,
    /// Distinct training examples in the blend.
    pub distinct_train: usize,
    /// Validation examples.
    pub validation: usize,
    /// Label counts over the training examples: "prompt safe", "prompt unsafe", "response safe",
    /// "response unsafe", "no response", "on-topic", "off-topic".
    pub labels: BTreeMap<String, usize>,
    /// Category counts over the training examples.
    pub categories: BTreeMap<String, usize>,
    /// Token lengths of the training examples.
    pub token_lengths: Option<LengthStats>,
}

impl SourceReport {
    pub(crate) fn new(name: &str, kind: SourceKind) -> Self {
        SourceReport {
            name: name.to_string(),
            kind,
            load: LoadReport::default(),
            shortened: 0,
            available: 0,
            train: 0,
            distinct_train: 0,
            validation: 0,
            labels: BTreeMap::new(),
            categories: BTreeMap::new(),
            token_lengths: None,
        }
    }

    /// Counts `count` examples left out for `reason`.
    pub(crate) fn count_skipped(&mut self, reason: &str, count: usize) {
        if count > 0 {
            *self.load.skipped.entry(reason.to_string()).or_default() += count;
        }
    }

    /// Counts one training example's labels and categories.
    pub(crate) fn count_train_example(&mut self, example: &GuardExample) {
        let mut count = |key: &str| *self.labels.entry(key.to_string()).or_default() += 1;
        match &example.target {
            Target::Topic(Topic::OnTopic) => count("on-topic"),
            Target::Topic(Topic::OffTopic) => count("off-topic"),
            Target::Safety { user, response, categories } => {
                if let Some(user) = user {
                    count(&format!("prompt {}", user.as_str()));
                }
                match response {
                    Some(response) => count(&format!("response {}", response.as_str())),
                    None => count("no response"),
                }
                for category in categories {
                    *self.categories.entry(category.clone()).or_default() += 1;
                }
            }
        }
    }
}

/// The whole blend.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BlendReport {
    /// The seed used.
    pub seed: u64,
    /// The length limit.
    pub max_seq_len: usize,
    /// The truncation policy.
    pub truncation: Truncation,
    /// Training examples.
    pub train: usize,
    /// Validation examples.
    pub validation: usize,
    /// SHA-256 (hex) over every training then validation example in order: its rendered text,
    /// token ids and labels. Equal hashes mean the model sees exactly the same data.
    pub hash: String,
    /// Token lengths over all training examples.
    pub token_lengths: Option<LengthStats>,
    /// Per source, in config order.
    pub sources: Vec<SourceReport>,
}

impl BlendReport {
    /// The report as pretty-printed JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
    }

    /// The report as Markdown: a summary table, then one section per source.
    pub fn to_markdown(&self) -> String {
        let mut md = String::new();
        let _ = writeln!(md, "# Blend report\n");
        let _ = writeln!(
            md,
            "seed {} · max_seq_len {} · truncation {:?} · train {} · validation {}\n",
            self.seed, self.max_seq_len, self.truncation, self.train, self.validation
        );
        let _ = writeln!(md, "hash (SHA-256 of the rendered, tokenised blend): `{}`\n", self.hash);
        let _ =
            writeln!(md, "tokens (train) p50/p90/p99/max: {}\n", lengths_cell(&self.token_lengths));
        let _ = writeln!(md, "| source | kind | rows read | skipped | available | train | distinct | validation | tokens p50/p90/p99/max |");
        let _ = writeln!(md, "|---|---|---:|---:|---:|---:|---:|---:|---|");
        for s in &self.sources {
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                s.name,
                s.kind,
                s.load.rows_read,
                s.load.skipped.values().sum::<usize>(),
                s.available,
                s.train,
                s.distinct_train,
                s.validation,
                lengths_cell(&s.token_lengths)
            );
        }
        for s in &self.sources {
            let _ = writeln!(md, "\n## {} ({})\n", s.name, s.kind);
            let _ = writeln!(md, "- files: {}", s.load.files.join(", "));
            let _ = writeln!(
                md,
                "- rows read: {}; examples loaded: {}; shortened: {}",
                s.load.rows_read, s.load.examples, s.shortened
            );
            let _ = writeln!(md, "- skipped: {}", counts_line(s.load.skipped.iter()));
            let _ = writeln!(md, "- notes: {}", counts_line(s.load.notes.iter()));
            let _ = writeln!(md, "- labels (train): {}", counts_line(s.labels.iter()));
            let _ = writeln!(
                md,
                "- categories (train): {}",
                counts_line(taxonomy_order(&s.categories).into_iter())
            );
            let _ = writeln!(
                md,
                "- unknown categories: {}",
                counts_line(s.load.unknown_categories.iter())
            );
            for error in &s.load.bad_rows {
                let _ = writeln!(md, "- bad row: {error}");
            }
        }
        md
    }
}

fn lengths_cell(stats: &Option<LengthStats>) -> String {
    stats.map_or_else(|| "-".to_string(), |s| format!("{}/{}/{}/{}", s.p50, s.p90, s.p99, s.max))
}

fn counts_line<'a>(counts: impl Iterator<Item = (&'a String, &'a usize)>) -> String {
    let parts: Vec<String> = counts.map(|(key, count)| format!("{key} {count}")).collect();
    if parts.is_empty() {
        "none".to_string()
    } else {
        parts.join("; ")
    }
}

/// Categories in S1..S23 order, then unknown names alphabetically.
fn taxonomy_order(categories: &BTreeMap<String, usize>) -> Vec<(&String, &usize)> {
    let mut entries: Vec<(&String, &usize)> = categories.iter().collect();
    entries.sort_by_key(|(name, _)| (category_number(name).unwrap_or(usize::MAX), (*name).clone()));
    entries
}
