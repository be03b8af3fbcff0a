//! `softmax(scores + bias)` over the last axis, the attention probabilities, as one operation.
//!
//! As tensor operations it is an add, a max, a subtraction, an `exp` (scalar on the CPU), a sum
//! and a division, and under autodiff five graph nodes whose backward takes as many full-size
//! passes again. The host kernel makes two passes over each row forward (max, then
//! exp-and-sum, then a scale in cache) and two backward, keeping only the probabilities.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops};
use burn::backend::flex::FlexTensor;
use burn::backend::{Autodiff, Flex};
use burn::tensor::activation::softmax;
use burn::tensor::backend::Backend;
use burn::tensor::{DType, Shape, Tensor, TensorPrimitive};

use super::{contiguous, in_row_blocks, on_host, tensor, values, vector, HostOp, Recorded};

/// `softmax(scores + bias)` over the last axis, in f32. `bias` (a mask: 0 or -inf, no gradient)
/// has the shape of `scores`, or 1 on the axes between the first and the last two: one mask
/// row for all the heads. No row may be fully masked.
pub fn softmax_with_bias<B: Backend, const D: usize>(
    scores: Tensor<B, D>,
    bias: Tensor<B, D>,
) -> Tensor<B, D> {
    let (shape, bias_shape) = (scores.shape(), bias.shape());
    let heads = heads_per_bias_row(&shape, &bias_shape);
    let fallback =
        |scores: Tensor<B, D>, bias: Tensor<B, D>| softmax((scores + bias).cast(DType::F32), D - 1);
    let Some(heads) = heads.filter(|_| scores.dtype() == DType::F32 && bias.dtype() == DType::F32)
    else {
        return fallback(scores, bias);
    };
    let [queries, keys] = [shape[D - 2], shape[D - 1]];
    let rows = |t: Tensor<B, D>| {
        let n = t.shape().num_elements();
        t.reshape([n / keys.max(1), keys])
    };
    match on_host::<SoftmaxWithBias, B>((rows(scores), rows(bias), BiasRows { heads, queries })) {
        Ok(probs) => probs.reshape(shape),
        Err((scores, bias, _)) => fallback(scores.reshape(shape), bias.reshape(bias_shape)),
    }
}

/// How many heads share each row of `bias`: 1 if it has the shape of `scores`, the product of
/// the head axes (those between the first and the last two) if it is 1 on all of them; `None`
/// for any other shape.
fn heads_per_bias_row(scores: &Shape, bias: &Shape) -> Option<usize> {
    let d = scores.num_dims();
    if scores == bias {
        return Some(1);
    }
    let outer_match =
        d >= 3 && bias.num_dims() == d && [0, d - 2, d - 1].iter().all(|&i| scores[i] == bias[i]);
    let shared = (1..d.saturating_sub(2)).all(|i| bias[i] == 1);
    (outer_match && shared).then(|| (1..d - 2).map(|i| scores[i]).product())
}

/// Which bias row each score row reads: score rows run over `[batch, heads, queries]`, bias rows
/// over `[batch, queries]`.
#[derive(Clone, Copy, Debug)]
struct BiasRows {
    heads: usize,
    queries: usize,
}

impl BiasRows {
    fn of(self, score_row: usize) -> usize {
        (score_row / (self.heads * self.queries)) * self.queries + score_row % self.queries
    }
}

#[derive(Debug)]
struct SoftmaxWithBias;

impl HostOp for SoftmaxWithBias {
    /// Scores and bias as `[rows, keys]`, and which bias row each score row reads.
    type Input<B: Backend> = (Tensor<B, 2>, Tensor<B, 2>, BiasRows);
    type Output<B: Backend> = Tensor<B, 2>;

    fn inference((scores, bias, bias_rows): Self::Input<Flex>) -> Tensor<Flex, 2> {
        Tensor::from_primitive(TensorPrimitive::Float(forward(
            &scores.into_primitive().tensor(),
            &bias.into_primitive().tensor(),
            bias_rows,
        )))
    }

    fn training<C: CheckpointStrategy>(
        (scores, bias, bias_rows): Self::Input<Autodiff<Flex, C>>,
    ) -> Tensor<Autodiff<Flex, C>, 2> {
        let scores = scores.into_primitive().tensor();
        let probs = forward(&scores.primitive, &bias.inner().into_primitive().tensor(), bias_rows);
        Tensor::from_primitive(TensorPrimitive::Float(SoftmaxWithBias.recorded::<C>(
            [&scores],
            probs.clone(),
            probs,
        )))
    }
}

impl Backward<Flex, 1> for SoftmaxWithBias {
    /// The probabilities.
    type State = FlexTensor;

    /// `dS = P ∘ (dP - rowsum(P ∘ dP))`.
    fn backward(
        self,
        ops: Ops<Self::State, 1>,
        grads: &mut Gradients,
        _checkpointer: &mut Checkpointer,
    ) {
        let probs = ops.state;
        let d_probs = contiguous(grads.consume::<Flex>(&ops.node));
        let shape = probs.layout().shape().clone();
        let keys = shape[1];
        let mut d_scores = vec![0f32; shape.num_elements()];
        in_row_blocks(
            &mut d_scores,
            [values(&probs), values(&d_probs)],
            keys,
            |_, d_scores, [probs, d_probs]| {
                for ((d_s, p), d_p) in d_scores
                    .chunks_exact_mut(keys)
                    .zip(probs.chunks_exact(keys))
                    .zip(d_probs.chunks_exact(keys))
                {
                    vector::softmax_backward(p, d_p, vector::dot(p, d_p), d_s);
                }
            },
        );
        if let Some(node) = &ops.parents[0] {
            grads.register::<Flex>(node.id, tensor(d_scores, shape));
        }
    }
}

fn forward(scores: &FlexTensor, bias: &FlexTensor, bias_rows: BiasRows) -> FlexTensor {
    let (scores, bias) = (contiguous(scores.clone()), contiguous(bias.clone()));
    let shape = scores.layout().shape().clone();
    let keys = shape[1];
    let bias = values(&bias);
    let mut probs = vec![0f32; shape.num_elements()];
    in_row_blocks(&mut probs, [values(&scores)], keys, |first, probs, [scores]| {
        for (i, (p, s)) in probs.chunks_exact_mut(keys).zip(scores.chunks_exact(keys)).enumerate() {
            let b = bias_rows.of(first / keys + i);
            vector::add(s, &bias[b * keys..(b + 1) * keys], p);
            let sum = vector::exp_shifted_sum(p, vector::max(p));
            vector::scale(p, 1.0 / sum);
        }
    });
    tensor(probs, shape)
}
