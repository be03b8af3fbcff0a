//! Validation loss: mean token NLL over the validation examples, on the model without dropout.

use burn::tensor::backend::Backend;
use burn::tensor::ElementConversion;
use guardtune_data::Tokenized;
use guardtune_model::loss::nll_sum;
use guardtune_model::{Batch, LlamaForCausalLM};
use indicatif::ProgressBar;

/// Mean next-token loss over the examples' targets, in batches of `batch_size`; `progress`
/// counts the examples done.
pub fn validation_loss<B: Backend>(
    model: &LlamaForCausalLM<B>,
    examples: &[Tokenized],
    batch_size: usize,
    pad_id: u32,
    device: &B::Device,
    progress: &ProgressBar,
) -> Option<f64> {
    progress.inc_length(examples.len() as u64);
    let mut total = 0.0;
    let mut count = 0;
    // Length-sorted batches pad least; the order does not change the mean.
    let mut order: Vec<&Tokenized> = examples.iter().collect();
    order.sort_by_key(|e| e.len());
    for chunk in order.chunks(batch_size.max(1)) {
        let ids: Vec<Vec<u32>> = chunk.iter().map(|e| e.input_ids.clone()).collect();
        let labels: Vec<Vec<i64>> = chunk.iter().map(|e| e.labels.clone()).collect();
        let hidden =
            model.model.forward(&Batch::<B>::right_padded(&ids, pad_id, device), None, None);
        let (sum, n) = nll_sum(model, hidden, &labels);
        total += sum.into_scalar().elem::<f64>();
        count += n;
        progress.inc(chunk.len() as u64);
    }
    (count > 0).then(|| total / count as f64)
}
