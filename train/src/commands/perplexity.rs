//! `guardtune perplexity`: mean next-token NLL and perplexity of a text file under a model.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use burn::tensor::backend::Backend;
use burn::tensor::ElementConversion;
use guardtune_model::loss::nll_sum;
use guardtune_model::{Batch, Tokenizer};
use serde::Serialize;

use crate::device::BackendJob;
use crate::model_dir::ModelArgs;

#[derive(clap::Args)]
pub struct PerplexityArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Text file, tokenized exactly as it is (a trailing newline included).
    #[arg(long)]
    pub text_file: PathBuf,
    /// Print exactly one JSON object.
    #[arg(long)]
    pub json: bool,
}

#[derive(Serialize)]
pub struct Perplexity {
    pub tokens: usize,
    pub mean_nll: f64,
    pub perplexity: f64,
    /// Wall time of the forward pass and the loss (model loading and tokenisation excluded): the
    /// number to compare with another tool's forward pass on the same text.
    pub seconds: f64,
}

impl BackendJob for PerplexityArgs {
    type Output = ();

    fn run<B: Backend>(self, device: B::Device) -> Result<()> {
        let text = std::fs::read_to_string(&self.text_file)
            .with_context(|| format!("{}: cannot read text file", self.text_file.display()))?;
        let tokenizer = Tokenizer::from_model_dir(&self.model.path)?;
        let (_, model) = self.model.load::<B>(&device)?;
        let ids = tokenizer.encode(&text, true)?;
        if ids.len() < 2 {
            bail!(
                "{}: {} token(s); perplexity needs at least 2",
                self.text_file.display(),
                ids.len()
            );
        }
        tokenizer.check_fits(ids.len(), &self.text_file.display().to_string())?;
        let labels = vec![ids.iter().map(|&t| t as i64).collect::<Vec<_>>()];
        let started = Instant::now();
        let hidden = model.model.forward(
            &Batch::<B>::right_padded(std::slice::from_ref(&ids), tokenizer.pad_id, &device),
            None,
            None,
        );
        let (sum, count) = nll_sum(&model, hidden, &labels);
        let mean_nll = sum.into_scalar().elem::<f64>() / count as f64;
        let seconds = started.elapsed().as_secs_f64();
        let result =
            Perplexity { tokens: ids.len(), mean_nll, perplexity: mean_nll.exp(), seconds };
        if self.json {
            println!("{}", serde_json::to_string(&result)?);
        } else {
            println!(
                "tokens: {}\nmean_nll: {:.6}\nperplexity: {:.4}\nseconds: {:.3}",
                result.tokens, result.mean_nll, result.perplexity, result.seconds
            );
        }
        Ok(())
    }
}
