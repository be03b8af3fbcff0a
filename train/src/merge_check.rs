//! How faithful a merged export is. Merging adds B·A to each base weight and stores the sum in
//! the export's dtype; in bf16 the rounding of the sum can be as large as the adapter's own
//! change to a weight, so a merge can silently lose what training learnt. The check runs base +
//! adapter (unmerged, f32) and the merged model as written on the same short conversation in the
//! model's chat template, and compares their logits.

use std::path::Path;

use anyhow::Result;
use burn::tensor::backend::Backend;
use burn::tensor::Tensor;
use guardtune_data::{ChatTemplate, Turn};
use guardtune_model::{Batch, Dtype, LlamaForCausalLM, Tokenizer};

/// The conversation the check runs: short, so the check costs a few seconds even for 8B.
const PROBE: &str = "How do I store cleaning products safely at home?";

/// The merged model against base + adapter on the probe's tokens.
#[derive(Clone, Copy, Debug)]
pub struct MergeCheck {
    pub tokens: usize,
    /// The largest absolute logit difference at any position and token.
    pub max_logit_diff: f32,
    /// Positions where the most likely next token differs.
    pub argmax_changes: usize,
}

impl std::fmt::Display for MergeCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "merge check: largest logit difference {:.3e} against base + adapter over {} tokens of \
             the chat template; the most likely next token changed at {} of them",
            self.max_logit_diff, self.tokens, self.argmax_changes
        )
    }
}

/// Compares `with_adapter` (the base at `base_dir` with the adapter applied, unmerged) with the
/// merged model written to `merged_dir`, loaded as stored and computed in f32. Takes the model
/// so that it is freed before the merged one loads: one model in memory at a time.
pub fn check_merge<B: Backend>(
    with_adapter: LlamaForCausalLM<B>,
    base_dir: &Path,
    merged_dir: &Path,
    device: &B::Device,
) -> Result<MergeCheck> {
    let tokens = probe_tokens(base_dir)?;
    let batch = Batch::<B>::right_padded(std::slice::from_ref(&tokens), 0, device);
    let expected = with_adapter.forward(&batch);
    drop(with_adapter);
    let (_, merged) = guardtune_model::load_model_as::<B>(merged_dir, Dtype::F32, device)?;
    let actual = merged.forward(&batch);
    let diff = (actual.clone() - expected.clone()).abs().max().into_data().convert::<f32>();
    let max_logit_diff = diff.to_vec::<f32>().expect("f32 data")[0];
    let argmax =
        |logits: Tensor<B, 3>| -> Vec<i64> { logits.argmax(2).into_data().iter::<i64>().collect() };
    let argmax_changes =
        argmax(expected).iter().zip(argmax(actual)).filter(|(a, b)| **a != *b).count();
    Ok(MergeCheck { tokens: tokens.len(), max_logit_diff, argmax_changes })
}

/// The probe as one user turn in the model's chat template with the generation prompt, or as
/// plain text when the model has no template.
fn probe_tokens(base_dir: &Path) -> Result<Vec<u32>> {
    let tokenizer = Tokenizer::from_model_dir(base_dir)?;
    let Ok(template) = ChatTemplate::from_model_dir(base_dir) else {
        return Ok(tokenizer.encode(PROBE, true)?);
    };
    let text = template.render(&[Turn::user(PROBE)], true)?;
    // A template that writes the BOS token itself must not get a second one.
    Ok(tokenizer.encode(&text, !template.starts_with_bos(&text))?)
}
