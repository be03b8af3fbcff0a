//! The causal-LM negative log-likelihood, computed only where there is a target.
//!
//! Positions whose next-token label is ignored never reach the output head, and the rest go
//! through it in chunks of rows, so a 128k vocabulary never materialises logits for the whole
//! batch. For training, [`nll_sum_for_training`] also keeps the logits out of the autodiff
//! graph altogether (a fused linear cross-entropy): each chunk's gradient with respect to the
//! hidden states is computed right away, and the chunk's logits are freed. On Burn's CPU
//! backend (Flex) the head runs as one host kernel ([`crate::kernels::head`]) instead of tensor
//! operations.

use burn::backend::Flex;
use burn::tensor::activation::softmax;
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{DType, IndexingUpdateOp, Int, Tensor, TensorData, TensorPrimitive};

use crate::kernels::{self, same_type};
use crate::llama::LlamaForCausalLM;

/// Label value that marks a position as "no target" (PyTorch's `ignore_index`).
pub const IGNORE_INDEX: i64 = -100;

/// Logits evaluated at once (rows x vocabulary): 16 MiB of f32, small enough for the allocator
/// to recycle between chunks. Larger chunks pack the head weight fewer times but map fresh pages
/// for every chunk, which costs more on CPU (measured: 128 MiB chunks were 8% slower).
pub const HEAD_CHUNK_LOGITS: usize = 4 << 20;

/// Fewest rows per chunk, so that large vocabularies still give the head matmul a useful height.
pub const HEAD_CHUNK_MIN_ROWS: usize = 128;

/// Sum over targets of `-log p(label[b][t+1] | tokens ..= t)` and the number of targets.
///
/// `hidden` is the final-norm output `[batch, seq, hidden]`; `labels` are aligned with the
/// input ids (transformers' convention: the loss shifts them by one), `IGNORE_INDEX` where there
/// is nothing to predict. Differentiable through `B`'s own autodiff; training uses
/// [`nll_sum_for_training`], which gives the same value and gradient for much less work.
pub fn nll_sum<B: Backend>(
    model: &LlamaForCausalLM<B>,
    hidden: Tensor<B, 3>,
    labels: &[Vec<i64>],
) -> (Tensor<B, 1>, usize) {
    nll_sum_by(model, hidden, labels, |flat, weight, targets, chunk| {
        head_nll(flat, weight, targets, false, chunk).0
    })
}

/// [`nll_sum`] for training on an autodiff backend: the head runs on the inner backend and
/// attaches to the graph only through its exact gradient with respect to `hidden`,
/// `(softmax(logits) - onehot(label)) Wᵀ` per target row (the head's weights are frozen, so that
/// is the only gradient it has). The returned value is the summed loss; differentiating it
/// yields that gradient.
pub fn nll_sum_for_training<B: AutodiffBackend>(
    model: &LlamaForCausalLM<B>,
    hidden: Tensor<B, 3>,
    labels: &[Vec<i64>],
) -> (Tensor<B, 1>, usize) {
    nll_sum_by(model, hidden, labels, fused_head_nll)
}

/// The two entry points, which differ only in how the head computes the summed NLL: `head`
/// gets the positions flattened to `[batch * seq, hidden]`, the head weight, the target rows
/// and the rows per chunk.
fn nll_sum_by<B: Backend>(
    model: &LlamaForCausalLM<B>,
    hidden: Tensor<B, 3>,
    labels: &[Vec<i64>],
    head: impl FnOnce(Tensor<B, 2>, Tensor<B, 2>, &Targets, usize) -> Tensor<B, 1>,
) -> (Tensor<B, 1>, usize) {
    let [batch, seq, width] = hidden.dims();
    let targets = Targets::new(labels, batch, seq);
    let weight = model.head_weight();
    let chunk = chunk_rows(weight.dims()[1]);
    (head(hidden.reshape([batch * seq, width]), weight, &targets, chunk), targets.count())
}

/// Rows per head chunk for a vocabulary of `vocab` entries.
fn chunk_rows(vocab: usize) -> usize {
    (HEAD_CHUNK_LOGITS / vocab.max(1)).max(HEAD_CHUNK_MIN_ROWS)
}

/// The summed NLL of the target rows of `flat` `[positions, hidden]`, attached to the graph
/// only through its gradient with respect to `flat` (see [`nll_sum_for_training`]).
fn fused_head_nll<B: AutodiffBackend>(
    flat: Tensor<B, 2>,
    weight: Tensor<B, 2>,
    targets: &Targets,
    chunk: usize,
) -> Tensor<B, 1> {
    let (sum, grad) = head_nll(flat.clone().inner(), weight.inner(), targets, true, chunk);
    let grad = Tensor::<B, 2>::from_inner(grad.expect("requested"));
    // <flat, grad> has exactly `grad` as its gradient; its value is cancelled so the result is
    // the loss itself (in f32, like the loss).
    let surrogate = (flat * grad).sum().cast(DType::F32);
    surrogate.clone() - surrogate.detach() + Tensor::from_inner(sum)
}

/// Rows of the flattened `[batch * seq]` positions that predict a label, and those labels.
pub(crate) struct Targets {
    pub(crate) rows: Vec<i64>,
    pub(crate) labels: Vec<i64>,
}

impl Targets {
    fn new(labels: &[Vec<i64>], batch: usize, seq: usize) -> Self {
        let mut targets = Targets { rows: Vec::new(), labels: Vec::new() };
        for (b, row) in labels.iter().enumerate().take(batch) {
            for t in 0..seq.saturating_sub(1) {
                match row.get(t + 1) {
                    Some(&label) if label != IGNORE_INDEX => {
                        targets.rows.push((b * seq + t) as i64);
                        targets.labels.push(label);
                    }
                    _ => {}
                }
            }
        }
        targets
    }

    pub(crate) fn count(&self) -> usize {
        self.rows.len()
    }
}

/// The summed NLL of every target row of `flat` `[positions, hidden]` under the head
/// `weight` `[hidden, vocab]`, `chunk` rows at a time; with `want_grad`, also its gradient with
/// respect to `flat` (zero on rows without a target). The logits are taken in the model's dtype
/// and the loss in f32; the gradient comes back in the model's dtype. By the host kernel where
/// it applies ([`on_flex`]), otherwise in tensor operations, for any backend and dtype.
fn head_nll<K: Backend>(
    flat: Tensor<K, 2>,
    weight: Tensor<K, 2>,
    targets: &Targets,
    want_grad: bool,
    chunk: usize,
) -> HeadResult<K> {
    let (flat, weight) = match on_flex(flat, weight, targets, want_grad) {
        Ok(result) => return result,
        Err(inputs) => inputs,
    };
    let device = flat.device();
    let [positions, width] = flat.dims();
    let dtype = flat.dtype();
    let mut total = Tensor::<K, 1>::zeros([1], (&device, DType::F32));
    let mut grad = want_grad.then(|| Tensor::<K, 2>::zeros([positions, width], (&device, dtype)));
    for start in (0..targets.count()).step_by(chunk) {
        let end = (start + chunk).min(targets.count());
        let n = end - start;
        let rows = Tensor::<K, 1, Int>::from_data(
            TensorData::new(targets.rows[start..end].to_vec(), [n]),
            &device,
        );
        let labels = Tensor::<K, 1, Int>::from_data(
            TensorData::new(targets.labels[start..end].to_vec(), [n]),
            &device,
        );
        let hidden = flat.clone().select(0, rows.clone());
        let logits = hidden.matmul(weight.clone()).cast(DType::F32);
        let (max_logit, argmax) = logits.clone().max_dim_with_indices(1);
        let probs = softmax(logits.clone(), 1);
        // -log p(label) = max - log p(argmax) - logit(label), since p(argmax) = 1/sum(exp(l - max)):
        // exact like log-softmax and, unlike log p(label), it cannot underflow (p(argmax) >=
        // 1/vocab). One reduction over the logits; the rest reads n values.
        let label_logit = logits.gather(1, labels.clone().reshape([n, 1]));
        let log_max_prob = probs.clone().gather(1, argmax).log();
        total = total + (max_logit - log_max_prob - label_logit).sum();
        if let Some(g) = grad.take() {
            let onehot_rows = weight.clone().select(1, labels).transpose();
            let chunk_grad = probs.cast(dtype).matmul(weight.clone().transpose()) - onehot_rows;
            // Target rows are distinct, so adding into the zeros places each row once.
            grad = Some(g.select_assign(0, rows, chunk_grad, IndexingUpdateOp::Add));
        }
    }
    (total, grad)
}

type HeadResult<K> = (Tensor<K, 1>, Option<Tensor<K, 2>>);

/// [`head_nll`] by the host kernel if `K` is Flex and the model is in f32; otherwise hands the
/// inputs back.
fn on_flex<K: Backend>(
    flat: Tensor<K, 2>,
    weight: Tensor<K, 2>,
    targets: &Targets,
    want_grad: bool,
) -> Result<HeadResult<K>, (Tensor<K, 2>, Tensor<K, 2>)> {
    if flat.dtype() != DType::F32 || weight.dtype() != DType::F32 {
        return Err((flat, weight));
    }
    let (flat, weight) = same_type::<_, (Tensor<Flex, 2>, Tensor<Flex, 2>)>((flat, weight))?;
    let device = flat.device();
    let (sum, grad) = kernels::head::head_nll(
        &flat.into_primitive().tensor(),
        &weight.into_primitive().tensor(),
        targets,
        want_grad,
    );
    let result: HeadResult<Flex> = (
        Tensor::from_data(TensorData::new(vec![sum], [1]), &device),
        grad.map(|g| Tensor::from_primitive(TensorPrimitive::Float(g))),
    );
    Ok(same_type(result).unwrap_or_else(|_| unreachable!("K is Flex")))
}

#[cfg(test)]
mod tests {
    use burn::backend::{Autodiff, Flex};
    use burn::tensor::{Distribution, ElementConversion};

    use super::*;
    use crate::testing::max_abs_diff;

    type AD = Autodiff<Flex>;

    #[test]
    fn fused_loss_equals_the_autodiff_one_in_value_and_gradient() {
        let device = Default::default();
        let (batch, seq, width, vocab) = (2, 6, 8, 40);
        let hidden =
            Tensor::<AD, 2>::random([batch * seq, width], Distribution::Normal(0.0, 1.0), &device)
                .require_grad();
        let weight =
            Tensor::<AD, 2>::random([width, vocab], Distribution::Normal(0.0, 1.0), &device);
        let labels = vec![vec![1, 5, IGNORE_INDEX, 7, 39, 0], vec![3, IGNORE_INDEX, 2, 2, 11, 4]];
        let targets = Targets::new(&labels, batch, seq);
        assert_eq!(targets.count(), 8);
        // Chunks of 3 rows: three chunks, the last one short.
        let (plain, _) = head_nll(hidden.clone(), weight.clone(), &targets, false, 3);
        let fused = fused_head_nll(hidden.clone(), weight, &targets, 3);
        let value = |t: &Tensor<AD, 1>| t.clone().into_scalar().elem::<f32>();
        assert!(
            (value(&plain) - value(&fused)).abs() < 1e-5 * value(&plain).abs(),
            "{} vs {}",
            value(&plain),
            value(&fused)
        );
        let grad = |loss: Tensor<AD, 1>| {
            hidden.grad(&loss.backward()).unwrap().into_data().to_vec::<f32>().unwrap()
        };
        let diff = max_abs_diff(&grad(plain), &grad(fused));
        assert!(diff < 1e-5, "gradients differ by {diff}");
    }
}
