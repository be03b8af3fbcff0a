//! A run's data: the blend, rendered with the model's own chat template and tokenised, and the
//! tokenizers that evaluation needs.

use std::io::Write as _;
use std::path::Path;

use anyhow::{bail, Result};
use guardtune_data::{build_blend, GuardExample, GuardTokenizer, Tokenized};
use guardtune_lora::files::write_atomically;

use crate::config::RunConfig;

pub struct RunData {
    /// Moved into the batch plan once the run starts.
    pub train: Vec<Tokenized>,
    pub validation: Vec<Tokenized>,
    /// Renders and tokenises guard prompts (the model's chat template).
    pub prompts: GuardTokenizer,
    /// The model's tokenizer, for decoding verdicts and its pad id.
    pub tokenizer: guardtune_model::Tokenizer,
}

impl RunData {
    /// Builds the blend of `config`, writes its report to `run_dir/blend.md`, and tokenises it.
    pub fn load(config: &RunConfig, run_dir: &Path) -> Result<Self> {
        let prompts = GuardTokenizer::from_model_dir(&config.model.path)?;
        let blend = build_blend(&config.data, Path::new("."), &prompts)?;
        let report = blend.report.to_markdown();
        write_atomically(&run_dir.join("blend.md"), |out| out.write_all(report.as_bytes()))?;
        if let Some(line) = crate::skipped_rows::summary(&blend.report) {
            println!("{line} (details in {})", run_dir.join("blend.md").display());
        }
        let tokenize = |examples: &[GuardExample]| -> Result<Vec<Tokenized>> {
            examples.iter().map(|e| prompts.tokenize(e).map_err(Into::into)).collect()
        };
        let train = tokenize(&blend.train)?;
        let mut validation = tokenize(&blend.validation)?;
        if let Some(cap) = config.eval.max_examples {
            validation.truncate(cap);
        }
        if train.is_empty() {
            bail!("the blend has no training examples");
        }
        let tokenizer = guardtune_model::Tokenizer::from_model_dir(&config.model.path)?;
        Ok(RunData { train, validation, prompts, tokenizer })
    }
}
