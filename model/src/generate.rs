//! Greedy generation with the KV cache: the prompt is run once, then one token per step.

use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor};

use crate::batch::Batch;
use crate::cache::KvCache;
use crate::error::ModelError;
use crate::llama::LlamaForCausalLM;

/// Greedy continuations of `prompts` (batched, left-padded). Each row stops after emitting any
/// of `stop_ids` (the stop token is included in its output) or after `max_new_tokens`.
pub fn generate_greedy<B: Backend>(
    model: &LlamaForCausalLM<B>,
    prompts: &[Vec<u32>],
    max_new_tokens: usize,
    stop_ids: &[u32],
    pad_id: u32,
    device: &B::Device,
) -> Result<Vec<Vec<u32>>, ModelError> {
    if let Some(row) = prompts.iter().position(Vec::is_empty) {
        return Err(ModelError::Invalid(format!(
            "prompt {row} is empty: generation needs at least one token"
        )));
    }
    let mut outputs = vec![Vec::new(); prompts.len()];
    if prompts.is_empty() || max_new_tokens == 0 {
        return Ok(outputs);
    }
    let mut cache = KvCache::new(model.num_layers());
    let mut batch = Batch::left_padded(prompts, pad_id, device);
    let mut positions: Vec<i64> = prompts.iter().map(|p| p.len() as i64).collect();
    let mut done = vec![false; prompts.len()];
    for _ in 0..max_new_tokens {
        let hidden = model.model.forward(&batch, Some(&mut cache), None);
        let next = argmax_last(model.logits(last_position(hidden)));
        for (row, &token) in next.iter().enumerate() {
            if !done[row] {
                outputs[row].push(token);
                done[row] = stop_ids.contains(&token);
            }
        }
        if done.iter().all(|&d| d) {
            break;
        }
        batch = Batch::next_tokens(&next, &positions, device);
        positions.iter_mut().for_each(|p| *p += 1);
    }
    Ok(outputs)
}

/// `[batch, seq, hidden]` -> `[batch, 1, hidden]`: only the last position feeds the head.
pub fn last_position<B: Backend>(hidden: Tensor<B, 3>) -> Tensor<B, 3> {
    let [batch, seq, width] = hidden.dims();
    hidden.slice([0..batch, seq - 1..seq, 0..width])
}

/// The most likely next token of each row, from logits `[batch, 1, vocab]`.
pub fn argmax_last<B: Backend>(logits: Tensor<B, 3>) -> Vec<u32> {
    let [batch, _, vocab] = logits.dims();
    let ids: Tensor<B, 2, Int> = last_position(logits).reshape([batch, vocab]).argmax(1);
    ids.into_data().iter::<i64>().map(|v| v as u32).collect()
}
