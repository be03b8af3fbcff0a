//! What each run cost: the wall time and throughput of its training and of its evaluation,
//! read from the logs the run left. Kept out of results.json, which holds only numbers that the
//! same runs reproduce to the bit; timings never do.
//!
//! A run resumed across processes (a crash, a stop, a later session) counts the time of each
//! process up to its last kept entry: metrics.jsonl drops the entries of steps redone after a
//! resume, so lost work is not counted, and nor is the time between processes.

use std::collections::HashSet;
use std::path::Path;

use anyhow::{Context, Result};
use serde_json::Value;

use crate::evaluation::PredictionRow;

/// The cost of one finished run.
pub struct RunCost {
    pub run: String,
    /// None for a run that did not train (a base model's zero-shot row).
    pub training: Option<TrainingCost>,
    pub evaluation: EvaluationCost,
}

pub struct TrainingCost {
    /// Wall time of the training processes, validation passes included.
    pub seconds: f64,
    /// Optimizer steps logged.
    pub steps: usize,
    /// Training tokens per second of step time (validation excluded), as the trainer measures
    /// it; averaged over the run's processes weighted by their steps.
    pub tokens_per_second: f64,
}

pub struct EvaluationCost {
    /// Classification time over all benchmarks (resumed batches included).
    pub seconds: f64,
    /// Conversations classified: one generated verdict each, whatever its levels.
    pub conversations: usize,
}

impl EvaluationCost {
    pub fn verdicts_per_second(&self) -> f64 {
        self.conversations as f64 / self.seconds.max(1e-9)
    }
}

impl TrainingCost {
    /// The cost of `parts` done one after another (processes of a run, or runs of a sweep):
    /// their seconds and steps added, their rates averaged weighted by steps. None without steps.
    pub fn combined<'a>(parts: impl IntoIterator<Item = &'a TrainingCost>) -> Option<Self> {
        let (mut seconds, mut steps, mut weighted) = (0.0, 0, 0.0);
        for part in parts {
            seconds += part.seconds;
            steps += part.steps;
            weighted += part.tokens_per_second * part.steps as f64;
        }
        (steps > 0).then(|| TrainingCost {
            seconds,
            steps,
            tokens_per_second: weighted / steps as f64,
        })
    }
}

/// The training cost in a run's metrics.jsonl entries (in file order), if it logged a step.
/// Each process's `elapsed_s` starts at 0, so a value lower than the one before starts a new
/// process; `train/tokens_per_second` is that process's own running average.
pub fn training(entries: &[Value]) -> Option<TrainingCost> {
    let mut processes: Vec<TrainingCost> = Vec::new();
    let mut previous = f64::INFINITY;
    for entry in entries {
        let Some(elapsed) = entry["elapsed_s"].as_f64() else { continue };
        if elapsed < previous {
            processes.push(TrainingCost { seconds: 0.0, steps: 0, tokens_per_second: 0.0 });
        }
        previous = elapsed;
        let process = processes.last_mut().expect("pushed above");
        process.seconds = elapsed;
        if let Some(rate) = entry["train/tokens_per_second"].as_f64() {
            process.steps += 1;
            process.tokens_per_second = rate;
        }
    }
    TrainingCost::combined(&processes)
}

/// The evaluation cost: the seconds in the evaluation's report.json, and the conversations
/// behind its prediction rows.
pub fn evaluation(report: &Path, rows: &[PredictionRow]) -> Result<EvaluationCost> {
    let text = std::fs::read_to_string(report)
        .with_context(|| format!("{}: cannot read", report.display()))?;
    let json: Value = serde_json::from_str(&text)
        .with_context(|| format!("{}: invalid JSON", report.display()))?;
    let seconds = json["seconds"]
        .as_f64()
        .with_context(|| format!("{}: key `seconds`: expected a number", report.display()))?;
    let conversations: HashSet<(&str, &str)> =
        rows.iter().map(|r| (r.benchmark.as_str(), r.id.as_str())).collect();
    Ok(EvaluationCost { seconds, conversations: conversations.len() })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_resumed_run_counts_each_process_once() {
        // Process 1: step 0's validation, steps 1-2 at 100 tok/s, ending at 30 s. Process 2
        // (resumed): steps 3-6 at 200 tok/s, ending at 50 s with a validation.
        let entries = [
            json!({"step": 0, "eval/loss": 1.0, "elapsed_s": 5.0}),
            json!({"step": 1, "train/tokens_per_second": 90.0, "elapsed_s": 15.0}),
            json!({"step": 2, "train/tokens_per_second": 100.0, "elapsed_s": 30.0}),
            json!({"step": 3, "train/tokens_per_second": 250.0, "elapsed_s": 10.0}),
            json!({"step": 4, "train/tokens_per_second": 220.0, "elapsed_s": 20.0}),
            json!({"step": 5, "train/tokens_per_second": 210.0, "elapsed_s": 30.0}),
            json!({"step": 6, "train/tokens_per_second": 200.0, "elapsed_s": 40.0}),
            json!({"step": 6, "eval/loss": 0.5, "elapsed_s": 50.0}),
        ];
        let cost = training(&entries).unwrap();
        assert_eq!(cost.seconds, 80.0);
        assert_eq!(cost.steps, 6);
        assert!((cost.tokens_per_second - (100.0 * 2.0 + 200.0 * 4.0) / 6.0).abs() < 1e-9);
        assert!(training(&entries[..1]).is_none(), "no step logged");
    }
}
