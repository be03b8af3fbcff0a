//! `guardtune classify`: the guard's verdict on one conversation, or on every row of a JSONL file.

use std::io::BufRead;
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use burn::tensor::backend::Backend;
use guardtune_data::{GuardExample, Policy};
use serde::Deserialize;

use crate::classifier::GuardArgs;
use crate::device::BackendJob;

#[derive(clap::Args)]
pub struct ClassifyArgs {
    #[command(flatten)]
    pub guard: GuardArgs,
    /// A policy text file that replaces the Aegis 2.0 taxonomy (custom categories or topics).
    #[arg(long)]
    pub policy: Option<PathBuf>,
    /// The agent's response to judge along with the prompt.
    #[arg(long)]
    pub response: Option<String>,
    /// JSONL rows `{"prompt": ..., "response": ...}` to classify instead of PROMPT.
    #[arg(long)]
    pub input: Option<PathBuf>,
    /// Add P(unsafe) from the logits of the first verdict token.
    #[arg(long)]
    pub scores: bool,
    /// The user prompt to judge.
    pub prompt: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InputRow {
    prompt: String,
    #[serde(default)]
    response: Option<String>,
}

impl BackendJob for ClassifyArgs {
    type Output = ();

    fn run<B: Backend>(self, device: B::Device) -> Result<()> {
        let rows = self.rows()?;
        let policy = match &self.policy {
            Some(path) => Policy::Custom(
                std::fs::read_to_string(path)
                    .with_context(|| format!("{}: cannot read the policy", path.display()))?,
            ),
            None => Policy::Aegis2Taxonomy,
        };
        let examples: Vec<GuardExample> = rows
            .into_iter()
            .enumerate()
            .map(|(i, row)| {
                let mut example = GuardExample::safety(
                    "classify",
                    format!("{}", i + 1),
                    row.prompt,
                    row.response,
                    None,
                    None,
                    vec![],
                );
                example.policy = policy.clone();
                example
            })
            .collect();
        let guard = self.guard.load::<B>(&device)?;
        let classifier = guard.classifier(self.guard.max_new_tokens, device);
        for chunk in examples.chunks(self.guard.batch_size.max(1)) {
            for result in classifier.classify(chunk, self.scores)? {
                println!("{}", serde_json::to_string(&result)?);
            }
        }
        Ok(())
    }
}

impl ClassifyArgs {
    fn rows(&self) -> Result<Vec<InputRow>> {
        match (&self.input, &self.prompt) {
            (Some(_), Some(_)) => bail!("give either PROMPT or --input, not both"),
            (None, None) => bail!("nothing to classify: give PROMPT or --input FILE.jsonl"),
            (None, Some(prompt)) => {
                Ok(vec![InputRow { prompt: prompt.clone(), response: self.response.clone() }])
            }
            (Some(path), None) => {
                let file = std::fs::File::open(path)
                    .with_context(|| format!("{}: cannot open", path.display()))?;
                let mut rows = Vec::new();
                for (i, line) in std::io::BufReader::new(file).lines().enumerate() {
                    let line = line.with_context(|| format!("{}: cannot read", path.display()))?;
                    if line.trim().is_empty() {
                        continue;
                    }
                    rows.push(serde_json::from_str(&line).with_context(|| {
                        format!(
                            "{}: row {}: expected {{\"prompt\": ..., \"response\"?: ...}}",
                            path.display(),
                            i + 1
                        )
                    })?);
                }
                Ok(rows)
            }
        }
    }
}
