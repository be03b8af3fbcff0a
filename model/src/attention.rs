//! Attention that need not keep its scores: under activation checkpointing it is computed over
//! chunks of query rows and differentiated by recomputing each chunk's scores in the backward pass
//! (the flash-attention-2 backward, written with tensor ops).
//!
//! Written the plain way, `softmax(q kᵀ + bias) v` keeps `heads x T x T` probabilities per layer
//! for the backward pass: at T = 4096 that is most of an 8B model's training memory. Here the
//! forward pass keeps only its inputs and output; the backward pass rebuilds the probabilities
//! one chunk of query rows at a time (every chunk spans all keys, so it is a plain softmax).
//! Burn 0.21's autodiff has no such operation (its `attention` falls back to the plain
//! computation), so this module adds one to `Autodiff<K, C>`.
//!
//! Shapes, as the model lays them out for grouped-query attention: queries
//! `[batch, kv_heads, group, queries, head_dim]` (already scaled by `1/sqrt(head_dim)`), keys and
//! values `[batch, kv_heads, 1, keys, head_dim]` (broadcast over the group), bias
//! `[batch, 1, 1, queries, keys]`, shared by all heads, or one per head (0 or -inf; no row is
//! fully masked). Scores and products are taken in the activations' dtype, the softmax in f32,
//! as in the plain version.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::{BalancedCheckpointing, CheckpointStrategy};
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops};
use burn::backend::Autodiff;
use burn::tensor::backend::Backend;
use burn::tensor::ops::FloatTensor;
use burn::tensor::{DType, Tensor, TensorPrimitive};

use crate::kernels::attention::fused_attention;
use crate::kernels::softmax::softmax_with_bias;
use crate::kernels::{same_type, Recorded};

/// Scores evaluated at once (batch x heads x query rows x keys): 64 Mi values, 256 MiB in f32.
const CHUNK_SCORES: usize = 64 << 20;

/// `softmax(q kᵀ + bias) v` per head (see the module docs for shapes).
///
/// On Burn's CPU backend in f32 (with or without autodiff) one host kernel computes it in blocks
/// of query rows, skipping masked keys, and keeps no scores ([`crate::kernels::attention`]).
/// Elsewhere, under activation checkpointing (`Autodiff<_, BalancedCheckpointing>`, the trainer's
/// `gradient_checkpointing` switch) the scores are recomputed in the backward pass instead of
/// kept. Everywhere else the plain computation runs: it is faster on the CPU backend, and without
/// autodiff its scores are freed layer by layer anyway.
pub fn attention<B: Backend>(
    q: Tensor<B, 5>,
    k: Tensor<B, 5>,
    v: Tensor<B, 5>,
    bias: Tensor<B, 5>,
) -> Tensor<B, 5> {
    let (q, k, v, bias) = match fused_attention((q, k, v, bias)) {
        Ok(out) => return out,
        Err(inputs) => inputs,
    };
    let chunk = chunk_rows(&q, &k);
    let inputs = match recomputed::<B, burn::backend::Flex>((q, k, v, bias), chunk) {
        Ok(out) => return out,
        Err(inputs) => inputs,
    };
    #[cfg(feature = "cuda")]
    let inputs = match recomputed::<B, burn::backend::Cuda>(inputs, chunk) {
        Ok(out) => return out,
        Err(inputs) => inputs,
    };
    let (q, k, v, bias) = inputs;
    plain(q, k, v, bias)
}

/// The textbook computation, which keeps the probabilities for the backward pass.
pub fn plain<B: Backend>(
    q: Tensor<B, 5>,
    k: Tensor<B, 5>,
    v: Tensor<B, 5>,
    bias: Tensor<B, 5>,
) -> Tensor<B, 5> {
    let scores = q.matmul(k.swap_dims(3, 4));
    let dtype = scores.dtype();
    softmax_with_bias(scores, bias).cast(dtype).matmul(v)
}

type Inputs<B> = (Tensor<B, 5>, Tensor<B, 5>, Tensor<B, 5>, Tensor<B, 5>);

/// Runs the chunked attention with recomputed scores if `B` is
/// `Autodiff<K, BalancedCheckpointing>` (Burn's backends are concrete types: it is or it is
/// not); otherwise hands the inputs back.
fn recomputed<B: Backend, K: Backend>(
    inputs: Inputs<B>,
    chunk: usize,
) -> Result<Tensor<B, 5>, Inputs<B>> {
    type Checkpointed<K> = Autodiff<K, BalancedCheckpointing>;
    let (q, k, v, bias) = same_type::<_, Inputs<Checkpointed<K>>>(inputs)?;
    let out = Tensor::<Checkpointed<K>, 5>::from_primitive(TensorPrimitive::Float(tracked(
        q, k, v, bias, chunk,
    )));
    Ok(same_type(out).unwrap_or_else(|_| unreachable!("B is Autodiff<K, BalancedCheckpointing>")))
}

/// The forward pass on the inner backend, `chunk` query rows at a time, registered with autodiff
/// as one operation whose backward recomputes the scores.
fn tracked<K: Backend, C: CheckpointStrategy>(
    q: Tensor<Autodiff<K, C>, 5>,
    k: Tensor<Autodiff<K, C>, 5>,
    v: Tensor<Autodiff<K, C>, 5>,
    bias: Tensor<Autodiff<K, C>, 5>,
    chunk: usize,
) -> FloatTensor<Autodiff<K, C>> {
    let [q, k, v] = [q, k, v].map(|t| t.into_primitive().tensor());
    let bias = bias.inner();
    let inner = |t: &FloatTensor<Autodiff<K, C>>| {
        Tensor::<K, 5>::from_primitive(TensorPrimitive::Float(t.primitive.clone()))
    };
    let out =
        forward(inner(&q), inner(&k), inner(&v), bias.clone(), chunk).into_primitive().tensor();
    let state = AttentionState {
        q: q.primitive.clone(),
        k: k.primitive.clone(),
        v: v.primitive.clone(),
        bias: bias.into_primitive().tensor(),
        out: out.clone(),
        chunk,
    };
    ChunkedAttention.recorded::<C>([&q, &k, &v], state, out)
}

/// Query rows per chunk: as many as keep one chunk's scores within [`CHUNK_SCORES`].
fn chunk_rows<B: Backend>(q: &Tensor<B, 5>, k: &Tensor<B, 5>) -> usize {
    let [batch, kv_heads, group, queries, _] = q.dims();
    let keys = k.dims()[3];
    (CHUNK_SCORES / (batch * kv_heads * group * keys).max(1)).clamp(1, queries.max(1))
}

/// One chunk's probabilities `softmax(q_c kᵀ + bias_c)`, in f32.
fn chunk_probabilities<K: Backend>(
    q_c: Tensor<K, 5>,
    k_t: Tensor<K, 5>,
    bias_c: Tensor<K, 5>,
) -> Tensor<K, 5> {
    softmax_with_bias(q_c.matmul(k_t), bias_c)
}

/// The query rows `rows` of a `[batch, kv_heads, group, queries, ..]` tensor.
fn rows_of<K: Backend>(t: &Tensor<K, 5>, rows: std::ops::Range<usize>) -> Tensor<K, 5> {
    let [batch, kv_heads, group, _, _] = t.dims();
    t.clone().slice([0..batch, 0..kv_heads, 0..group, rows])
}

/// The attention output, `chunk` query rows at a time.
fn forward<K: Backend>(
    q: Tensor<K, 5>,
    k: Tensor<K, 5>,
    v: Tensor<K, 5>,
    bias: Tensor<K, 5>,
    chunk: usize,
) -> Tensor<K, 5> {
    let queries = q.dims()[3];
    let dtype = q.dtype();
    let k_t = k.swap_dims(3, 4);
    let outs = (0..queries)
        .step_by(chunk)
        .map(|start| {
            let rows = start..(start + chunk).min(queries);
            chunk_probabilities(rows_of(&q, rows.clone()), k_t.clone(), rows_of(&bias, rows))
                .cast(dtype)
                .matmul(v.clone())
        })
        .collect();
    Tensor::cat(outs, 3)
}

#[derive(Debug)]
struct ChunkedAttention;

/// What the backward pass needs: the inputs and the output.
#[derive(Clone, Debug)]
struct AttentionState<K: Backend> {
    q: FloatTensor<K>,
    k: FloatTensor<K>,
    v: FloatTensor<K>,
    bias: FloatTensor<K>,
    out: FloatTensor<K>,
    chunk: usize,
}

impl<K: Backend> Backward<K, 3> for ChunkedAttention {
    type State = AttentionState<K>;

    fn backward(
        self,
        ops: Ops<Self::State, 3>,
        grads: &mut Gradients,
        _checkpointer: &mut Checkpointer,
    ) {
        let tensor = |t: FloatTensor<K>| Tensor::<K, 5>::from_primitive(TensorPrimitive::Float(t));
        let s = ops.state;
        let d_out = tensor(grads.consume::<K>(&ops.node));
        let inputs = [s.q, s.k, s.v, s.bias].map(tensor);
        let (dq, dk, dv) = backward(inputs, tensor(s.out), d_out, s.chunk);
        for (parent, grad) in ops.parents.iter().zip([dq, dk, dv]) {
            if let Some(node) = parent {
                grads.register::<K>(node.id, grad.into_primitive().tensor());
            }
        }
    }
}

/// Gradients with respect to q, k and v, one chunk of query rows at a time, with each chunk's
/// probabilities `P` recomputed: `dV = Σ_group Pᵀ dO`, `dS = P ∘ (dO Vᵀ - rowsum(dO ∘ O))`,
/// `dQ = dS K`, `dK = Σ_group dSᵀ Q`.
fn backward<K: Backend>(
    [q, k, v, bias]: [Tensor<K, 5>; 4],
    out: Tensor<K, 5>,
    d_out: Tensor<K, 5>,
    chunk: usize,
) -> (Tensor<K, 5>, Tensor<K, 5>, Tensor<K, 5>) {
    let queries = q.dims()[3];
    let keys = k.dims()[3];
    let dtype = q.dtype();
    let d_out = d_out.cast(dtype);
    let row_dot = (d_out.clone().cast(DType::F32) * out.cast(DType::F32)).sum_dim(4);
    let (k_t, v_t) = (k.clone().swap_dims(3, 4), v.swap_dims(3, 4));
    let mut dq = Vec::new();
    let mut dk = Tensor::<K, 5>::zeros(k.shape(), (&k.device(), DType::F32));
    let mut dv = dk.clone();
    for start in (0..queries).step_by(chunk) {
        let rows = start..(start + chunk).min(queries);
        let (q_c, d_out_c) = (rows_of(&q, rows.clone()), rows_of(&d_out, rows.clone()));
        let probs = chunk_probabilities(q_c.clone(), k_t.clone(), rows_of(&bias, rows.clone()));
        dv = dv
            + probs
                .clone()
                .cast(dtype)
                .swap_dims(3, 4)
                .matmul(d_out_c.clone())
                .sum_dim(2)
                .cast(DType::F32);
        let d_probs = d_out_c.matmul(v_t.clone()).cast(DType::F32);
        // The row sums copied across the keys: a same-shape subtraction is a vector loop on
        // CPU, a broadcast one a strided loop.
        let d_scores =
            (probs * (d_probs - rows_of(&row_dot, rows).repeat_dim(4, keys))).cast(dtype);
        dq.push(d_scores.clone().matmul(k.clone()));
        dk = dk + d_scores.swap_dims(3, 4).matmul(q_c).sum_dim(2).cast(DType::F32);
    }
    (Tensor::cat(dq, 3), dk.cast(dtype), dv.cast(dtype))
}

#[cfg(test)]
mod tests {
    use burn::backend::{Autodiff, Flex};
    use burn::tensor::Distribution;

    use super::*;
    use crate::testing::max_abs_diff;

    type AD = Autodiff<Flex, BalancedCheckpointing>;

    fn values(t: Tensor<Flex, 5>) -> Vec<f32> {
        t.into_data().to_vec().unwrap()
    }

    /// Grouped queries (2 kv heads x 3), a causal mask with padding, several chunks.
    fn inputs(queries: usize, keys: usize) -> [Tensor<AD, 5>; 4] {
        let device = Default::default();
        let random = |shape: [usize; 5]| {
            Tensor::<AD, 5>::random(shape, Distribution::Normal(0.0, 1.0), &device).require_grad()
        };
        let (q, k, v) =
            (random([2, 2, 3, queries, 8]), random([2, 2, 1, keys, 8]), random([2, 2, 1, keys, 8]));
        let offset = keys - queries;
        let mut mask = vec![0f32; 2 * 2 * 3 * queries * keys];
        for (i, m) in mask.iter_mut().enumerate() {
            let (row, key, batch) = ((i / keys) % queries, i % keys, i / (2 * 3 * queries * keys));
            // Causal, and the first key of batch 1 is padding.
            if key > row + offset || (batch == 1 && key == 0 && row + offset > 0) {
                *m = f32::NEG_INFINITY;
            }
        }
        let bias = Tensor::<AD, 5>::from_data(
            burn::tensor::TensorData::new(mask, [2, 2, 3, queries, keys]),
            &device,
        );
        [q, k, v, bias]
    }

    #[test]
    fn chunks_and_recomputed_gradients_equal_the_plain_computation() {
        for (queries, keys) in [(7, 7), (3, 9)] {
            let [q, k, v, bias] = inputs(queries, keys);
            let d_out = Tensor::<AD, 5>::random(
                [2, 2, 3, queries, 8],
                Distribution::Normal(0.0, 1.0),
                &Default::default(),
            );
            // An attention: (q, k, v, bias) -> output.
            type Attend =
                fn(Tensor<AD, 5>, Tensor<AD, 5>, Tensor<AD, 5>, Tensor<AD, 5>) -> Tensor<AD, 5>;
            let run = |f: Attend| {
                let out = f(q.clone(), k.clone(), v.clone(), bias.clone());
                let grads = (out.clone() * d_out.clone()).sum().backward();
                let grad = |t: &Tensor<AD, 5>| values(t.grad(&grads).unwrap());
                (values(out.inner()), grad(&q), grad(&k), grad(&v))
            };
            let (plain_out, plain_dq, plain_dk, plain_dv) = run(plain);
            // Two-row chunks: several chunks, the last one short.
            fn two_rows(
                q: Tensor<AD, 5>,
                k: Tensor<AD, 5>,
                v: Tensor<AD, 5>,
                bias: Tensor<AD, 5>,
            ) -> Tensor<AD, 5> {
                Tensor::from_primitive(TensorPrimitive::Float(
                    tracked::<Flex, BalancedCheckpointing>(q, k, v, bias, 2),
                ))
            }
            let (out, dq, dk, dv) = run(two_rows);
            for (name, a, b) in [
                ("out", &out, &plain_out),
                ("dq", &dq, &plain_dq),
                ("dk", &dk, &plain_dk),
                ("dv", &dv, &plain_dv),
            ] {
                let diff = max_abs_diff(a, b);
                assert!(diff < 1e-5, "{queries}x{keys} {name}: {diff}");
            }
            // The dispatching entry point takes the chunked path under checkpointing.
            let (out, dq, _, _) = run(attention);
            assert!(max_abs_diff(&out, &plain_out) < 1e-5 && max_abs_diff(&dq, &plain_dq) < 1e-5);
        }
    }
}
