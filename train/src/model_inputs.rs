//! Refusing a training run whose model cannot take its inputs, before anything is written: a
//! tokenizer with ids past the model's `vocab_size` (checked when the tokenizer loads), and rows
//! longer than the model's `max_position_embeddings`.

use anyhow::Result;
use guardtune_model::Tokenizer;

use crate::config::RunConfig;

/// The blend keeps only rows of at most `data.max_seq_len` tokens, and packed rows restart their
/// positions per example, so `data.max_seq_len` is the most positions a training row uses.
pub fn check_training_inputs(config: &RunConfig) -> Result<()> {
    let tokenizer = Tokenizer::from_model_dir(&config.model.path)?;
    tokenizer.check_fits(config.data.max_seq_len, "data.max_seq_len")?;
    Ok(())
}
