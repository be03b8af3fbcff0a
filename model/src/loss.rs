//! The causal-LM negative log-likelihood, computed only where there is a target.
//!
//! Positions whose next-token label is ignored never reach the output head, and the rest go
//! through it in chunks, so a 128k vocabulary never materialises logits for the whole batch.

use burn::tensor::activation::log_softmax;
use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor, TensorData};

use crate::llama::LlamaForCausalLM;

/// Label value that marks a position as "no target" (PyTorch's `ignore_index`).
pub const IGNORE_INDEX: i64 = -100;

/// Rows of the output head evaluated at once.
pub const HEAD_CHUNK_ROWS: usize = 1024;

/// Sum over targets of `-log p(label[b][t+1] | tokens ..= t)` and the number of targets.
///
/// `hidden` is the final-norm output `[batch, seq, hidden]`; `labels` are aligned with the
/// input ids (transformers' convention: the loss shifts them by one), `IGNORE_INDEX` where there
/// is nothing to predict. Returns a scalar tensor so that it can be backpropagated.
pub fn nll_sum<B: Backend>(model: &LlamaForCausalLM<B>, hidden: Tensor<B, 3>, labels: &[Vec<i64>]) -> (Tensor<B, 1>, usize) {
    let [batch, seq, width] = hidden.dims();
    let device = hidden.device();
    let mut rows = Vec::new();
    let mut targets = Vec::new();
    for (b, row) in labels.iter().enumerate().take(batch) {
        for t in 0..seq.saturating_sub(1) {
            match row.get(t + 1) {
                Some(&label) if label != IGNORE_INDEX => {
                    rows.push((b * seq + t) as i64);
                    targets.push(label);
                }
                _ => {}
            }
        }
    }
    let count = rows.len();
    if count == 0 {
        return (Tensor::zeros([1], &device), 0);
    }
    let vocab = model.vocab_size();
    let flat = hidden.reshape([batch * seq, width]);
    let mut total: Option<Tensor<B, 1>> = None;
    for start in (0..count).step_by(HEAD_CHUNK_ROWS) {
        let end = (start + HEAD_CHUNK_ROWS).min(count);
        let n = end - start;
        let index = Tensor::<B, 1, Int>::from_data(TensorData::new(rows[start..end].to_vec(), [n]), &device);
        let picked = flat.clone().select(0, index).reshape([1, n, width]);
        let log_probs = log_softmax(model.logits(picked).reshape([n, vocab]), 1);
        let target = Tensor::<B, 2, Int>::from_data(TensorData::new(targets[start..end].to_vec(), [n, 1]), &device);
        let chunk = log_probs.gather(1, target).sum().neg();
        total = Some(match total {
            Some(t) => t + chunk,
            None => chunk,
        });
    }
    (total.expect("at least one chunk"), count)
}
