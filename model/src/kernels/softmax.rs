//! `softmax(scores + bias)` over the last axis, the attention probabilities, as one operation.
//!
//! As tensor operations it is an add, a max, a subtraction, an `exp` (scalar on the CPU), a sum
//! and a division, and under autodiff five graph nodes whose backward takes as many full-size
//! passes again. The host kernel makes two passes over each row forward (max, then
//! exp-and-sum, then a scale in cache) and two backward, keeping only the probabilities.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::{Autodiff, Flex};
use burn::tensor::activation::softmax;
use burn::tensor::backend::Backend;
use burn::tensor::{DType, Tensor, TensorPrimitive};

use super::{contiguous, in_row_blocks, on_host, tensor, values, vector, HostOp};

/// `softmax(scores + bias)` over the last axis, in f32; `bias` (a mask: 0 or -inf) has the
/// shape of `scores` and no gradient. No row may be fully masked.
pub fn softmax_with_bias<B: Backend, const D: usize>(scores: Tensor<B, D>, bias: Tensor<B, D>) -> Tensor<B, D> {
    if scores.dtype() != DType::F32 || bias.dtype() != DType::F32 || scores.shape() != bias.shape() {
        return softmax((scores + bias).cast(DType::F32), D - 1);
    }
    let shape = scores.shape();
    let keys = shape[D - 1];
    let rows = |t: Tensor<B, D>| t.reshape([shape.num_elements() / keys.max(1), keys]);
    match on_host::<SoftmaxWithBias, B>((rows(scores), rows(bias))) {
        Ok(probs) => probs.reshape(shape),
        Err((scores, bias)) => softmax(scores + bias, 1).reshape(shape),
    }
}

#[derive(Debug)]
struct SoftmaxWithBias;

impl HostOp for SoftmaxWithBias {
    /// Scores and bias as `[rows, keys]`.
    type Input<B: Backend> = (Tensor<B, 2>, Tensor<B, 2>);
    type Output<B: Backend> = Tensor<B, 2>;

    fn inference((scores, bias): Self::Input<Flex>) -> Tensor<Flex, 2> {
        Tensor::from_primitive(TensorPrimitive::Float(forward(&scores.into_primitive().tensor(), &bias.into_primitive().tensor())))
    }

    fn training<C: CheckpointStrategy>((scores, bias): Self::Input<Autodiff<Flex, C>>) -> Tensor<Autodiff<Flex, C>, 2> {
        let scores = scores.into_primitive().tensor();
        let probs = forward(&scores.primitive, &bias.inner().into_primitive().tensor());
        let probs = match SoftmaxWithBias.prepare::<C>([scores.node.clone()]).compute_bound().stateful() {
            OpsKind::Tracked(prep) => prep.finish(probs.clone(), probs),
            OpsKind::UnTracked(prep) => prep.finish(probs),
        };
        Tensor::from_primitive(TensorPrimitive::Float(probs))
    }
}

impl Backward<Flex, 1> for SoftmaxWithBias {
    /// The probabilities.
    type State = FlexTensor;

    /// `dS = P ∘ (dP - rowsum(P ∘ dP))`.
    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _checkpointer: &mut Checkpointer) {
        let probs = ops.state;
        let d_probs = contiguous(grads.consume::<Flex>(&ops.node));
        let shape = probs.layout().shape().clone();
        let keys = shape[1];
        let mut d_scores = vec![0f32; shape.num_elements()];
        in_row_blocks(&mut d_scores, [values(&probs), values(&d_probs)], keys, |_, d_scores, [probs, d_probs]| {
            for ((d_s, p), d_p) in d_scores.chunks_exact_mut(keys).zip(probs.chunks_exact(keys)).zip(d_probs.chunks_exact(keys)) {
                vector::softmax_backward(p, d_p, vector::dot(p, d_p), d_s);
            }
        });
        if let Some(node) = &ops.parents[0] {
            grads.register::<Flex>(node.id, tensor(d_scores, shape));
        }
    }
}

fn forward(scores: &FlexTensor, bias: &FlexTensor) -> FlexTensor {
    let (scores, bias) = (contiguous(scores.clone()), contiguous(bias.clone()));
    let shape = scores.layout().shape().clone();
    let keys = shape[1];
    let mut probs = vec![0f32; shape.num_elements()];
    in_row_blocks(&mut probs, [values(&scores), values(&bias)], keys, |_, probs, [scores, bias]| {
        for ((p, s), b) in probs.chunks_exact_mut(keys).zip(scores.chunks_exact(keys)).zip(bias.chunks_exact(keys)) {
            vector::add(s, b, p);
            let sum = vector::exp_shifted_sum(p, vector::max(p));
            vector::scale(p, 1.0 / sum);
        }
    });
    tensor(probs, shape)
}
