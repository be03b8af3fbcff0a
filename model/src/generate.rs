//! Greedy generation with the KV cache: the prompt is run once, then one token per step.
//!
//! [`continue_greedy`] is the general form: the rows continue a cache (empty, or a shared prefix
//! broadcast to them), and each row may carry a draft, tokens guessed to come next. The draft is
//! run with the prompt in the same pass and kept as far as greedy decoding would have produced it
//! (the argmax after each draft token is the next draft token); the first disagreement becomes
//! the row's next output token and the rest of the draft is hidden from later steps. The output is
//! the greedy output whatever the draft; a good draft only saves decoding steps.

use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor, TensorData};

use crate::batch::Batch;
use crate::cache::KvCache;
use crate::error::ModelError;
use crate::llama::LlamaForCausalLM;

/// Greedy continuations of `prompts` (batched). Each row stops after emitting any of `stop_ids`
/// (the stop token is included in its output) or after `max_new_tokens`.
pub fn generate_greedy<B: Backend>(
    model: &LlamaForCausalLM<B>,
    prompts: &[Vec<u32>],
    max_new_tokens: usize,
    stop_ids: &[u32],
    pad_id: u32,
    device: &B::Device,
) -> Result<Vec<Vec<u32>>, ModelError> {
    if prompts.is_empty() || max_new_tokens == 0 {
        check_rows(prompts)?;
        return Ok(vec![Vec::new(); prompts.len()]);
    }
    let settings = Greedy { max_new_tokens, stop_ids, pad_id, watch: &[] };
    let drafts = vec![Vec::new(); prompts.len()];
    let cache = KvCache::new(model.num_layers());
    let rows = continue_greedy(model, cache, prompts, &drafts, &settings, device)?;
    Ok(rows.into_iter().map(|row| row.tokens).collect())
}

/// How [`continue_greedy`] decodes.
#[derive(Clone, Copy, Debug)]
pub struct Greedy<'a> {
    pub max_new_tokens: usize,
    /// A row stops after emitting one of these (it is included in its output).
    pub stop_ids: &'a [u32],
    pub pad_id: u32,
    /// Token ids whose logits are reported (e.g. the two that start "safe" and "unsafe").
    pub watch: &'a [u32],
}

/// One row's greedy continuation.
#[derive(Clone, Debug, PartialEq)]
pub struct Continuation {
    /// The generated tokens, a stop token included.
    pub tokens: Vec<u32>,
    /// For each generated token, the logits of the watched ids at the step that chose it.
    pub watched: Vec<Vec<f32>>,
    /// The logits of the watched ids right after the row's prompt and its whole draft (the
    /// teacher-forced next-token scores), whether or not decoding kept the draft.
    pub after_draft: Vec<f32>,
}

/// Greedy continuations of `rows` after the positions already in `cache` (empty, a prefix of one
/// row broadcast to all, or one per row), each row first fed its `drafts` entry (see the module
/// docs). Rows must not be empty; positions continue from `cache.len()`.
pub fn continue_greedy<B: Backend>(
    model: &LlamaForCausalLM<B>,
    mut cache: KvCache<B>,
    rows: &[Vec<u32>],
    drafts: &[Vec<u32>],
    settings: &Greedy<'_>,
    device: &B::Device,
) -> Result<Vec<Continuation>, ModelError> {
    check_rows(rows)?;
    if drafts.len() != rows.len() {
        return Err(ModelError::Invalid(format!(
            "{} drafts for {} rows: give one (possibly empty) per row",
            drafts.len(),
            rows.len()
        )));
    }
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let offset = cache.len();
    let (mut outputs, done) =
        feed_rows_and_drafts(model, &mut cache, rows, drafts, settings, device);
    let positions = rows
        .iter()
        .zip(&outputs)
        .map(|(row, out)| (offset + row.len() + out.tokens.len()) as i64 - 1)
        .collect();
    decode_until_done(model, &mut cache, &mut outputs, done, positions, settings, device);
    Ok(outputs)
}

/// The first pass: each row's prompt and draft in one batch after the cache. Returns each row's
/// continuation so far (the draft tokens greedy decoding agrees with, then its first own token)
/// and whether the row is already finished; the rejected rest of each draft is hidden in the
/// cache.
fn feed_rows_and_drafts<B: Backend>(
    model: &LlamaForCausalLM<B>,
    cache: &mut KvCache<B>,
    rows: &[Vec<u32>],
    drafts: &[Vec<u32>],
    settings: &Greedy<'_>,
    device: &B::Device,
) -> (Vec<Continuation>, Vec<bool>) {
    let offset = cache.len();
    let fed: Vec<Vec<u32>> = rows.iter().zip(drafts).map(|(r, d)| [&r[..], d].concat()).collect();
    let mut batch = Batch::<B>::right_padded(&fed, settings.pad_id, device);
    batch.positions = batch.positions.add_scalar(offset as i64);
    let hidden = model.model.forward(&batch, Some(&mut *cache), None);
    // The positions whose logits decide a token: each row's last prompt token and its draft.
    let seq = batch.dims()[1];
    let picked: Vec<i64> = rows
        .iter()
        .zip(drafts)
        .enumerate()
        .flat_map(|(r, (row, draft))| {
            let first = r * seq + row.len() - 1;
            (first..=first + draft.len()).map(|i| i as i64)
        })
        .collect();
    let (best, watched) = read_positions(model, hidden, picked, settings.watch, device);
    let mut outputs = Vec::with_capacity(rows.len());
    let mut done = Vec::with_capacity(rows.len());
    let mut rejected_drafts = Vec::new();
    let mut at = 0;
    for (r, (row, draft)) in rows.iter().zip(drafts).enumerate() {
        let mut out = Continuation {
            tokens: Vec::new(),
            watched: Vec::new(),
            after_draft: watched[at + draft.len()].clone(),
        };
        let mut finished = false;
        for j in 0..=draft.len() {
            finished = push_token(&mut out, best[at + j], &watched[at + j], settings);
            if finished || draft.get(j).is_some_and(|&d| d != best[at + j]) {
                break;
            }
        }
        // Draft tokens after the first one decoding did not keep are no longer the row's text.
        let kept = out.tokens.len().saturating_sub(1).min(draft.len());
        let start = offset + row.len();
        rejected_drafts.push((r, start + kept..start + draft.len()));
        at += draft.len() + 1;
        done.push(finished);
        outputs.push(out);
    }
    cache.hide(&rejected_drafts);
    (outputs, done)
}

/// One token per step for every row not yet finished, each fed its last token at its position
/// (`positions`, one per row, advanced together).
fn decode_until_done<B: Backend>(
    model: &LlamaForCausalLM<B>,
    cache: &mut KvCache<B>,
    outputs: &mut [Continuation],
    mut done: Vec<bool>,
    mut positions: Vec<i64>,
    settings: &Greedy<'_>,
    device: &B::Device,
) {
    while !done.iter().all(|&d| d) {
        let last: Vec<u32> =
            outputs.iter().map(|o| o.tokens.last().copied().unwrap_or(settings.pad_id)).collect();
        let batch = Batch::next_tokens(&last, &positions, device);
        let hidden = model.model.forward(&batch, Some(&mut *cache), None);
        let picked = (0..outputs.len() as i64).collect();
        let (best, watched) = read_positions(model, hidden, picked, settings.watch, device);
        for (r, out) in outputs.iter_mut().enumerate() {
            if !done[r] {
                done[r] = push_token(out, best[r], &watched[r], settings);
            }
        }
        positions.iter_mut().for_each(|p| *p += 1);
    }
}

fn check_rows(rows: &[Vec<u32>]) -> Result<(), ModelError> {
    match rows.iter().position(Vec::is_empty) {
        Some(row) => Err(ModelError::Invalid(format!(
            "prompt {row} is empty: generation needs at least one token"
        ))),
        None => Ok(()),
    }
}

/// Appends a chosen token unless the row is already at its length limit; returns whether the
/// row is finished.
fn push_token(out: &mut Continuation, token: u32, watched: &[f32], settings: &Greedy<'_>) -> bool {
    if out.tokens.len() >= settings.max_new_tokens {
        return true;
    }
    out.tokens.push(token);
    out.watched.push(watched.to_vec());
    settings.stop_ids.contains(&token) || out.tokens.len() >= settings.max_new_tokens
}

/// The argmax token and the watched logits at the flat positions `picked` of `hidden`
/// `[batch, seq, width]`; only those positions go through the output head.
fn read_positions<B: Backend>(
    model: &LlamaForCausalLM<B>,
    hidden: Tensor<B, 3>,
    picked: Vec<i64>,
    watch: &[u32],
    device: &B::Device,
) -> (Vec<u32>, Vec<Vec<f32>>) {
    let [batch, seq, width] = hidden.dims();
    let n = picked.len();
    let index = Tensor::<B, 1, Int>::from_data(TensorData::new(picked, [n]), device);
    let rows = hidden.reshape([batch * seq, width]).select(0, index).reshape([1, n, width]);
    let logits = model.logits(rows).reshape([n, model.vocab_size()]);
    let best: Tensor<B, 2, Int> = logits.clone().argmax(1);
    let best = best.into_data().iter::<i64>().map(|v| v as u32).collect();
    if watch.is_empty() {
        return (best, vec![Vec::new(); n]);
    }
    let ids: Vec<i64> = watch.iter().map(|&t| t as i64).collect();
    let ids = Tensor::<B, 1, Int>::from_data(TensorData::new(ids, [watch.len()]), device);
    let values: Vec<f32> =
        logits.select(1, ids).into_data().convert::<f32>().to_vec().expect("f32 logits");
    (best, values.chunks(watch.len()).map(<[f32]>::to_vec).collect())
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
