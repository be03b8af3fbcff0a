//! `x W`, the product of every linear layer (the frozen base projections and LoRA's two factors),
//! with its output written once.
//!
//! Burn's CPU matmul allocates each output as zero-filled bytes, copies them into an aligned
//! buffer, and only then lets `gemm` overwrite them: two passes over every output that do no
//! work, about 9% of a SmolLM2 LoRA step and of a guard's classification under `perf`
//! (docs/guard-speed.md). Here `gemm` writes straight into a new buffer, forward and backward;
//! the `gemm` calls themselves are the ones Burn makes, so every value is the same.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops};
use burn::backend::flex::FlexTensor;
use burn::backend::{Autodiff, Flex};
use burn::tensor::backend::Backend;
use burn::tensor::{DType, Tensor, TensorPrimitive};

use super::matmul::{product, Matrix};
use super::{on_host, HostOp, Recorded};

/// `x [m, in] W [in, out]`, as `burn::tensor::module::linear(x, weight, None)`.
pub fn linear<B: Backend>(x: Tensor<B, 2>, weight: Tensor<B, 2>) -> Tensor<B, 2> {
    let reference = |(x, weight)| burn::tensor::module::linear(x, weight, None);
    if x.dtype() != DType::F32 || weight.dtype() != DType::F32 {
        return reference((x, weight));
    }
    on_host::<Linear, B>((x, weight)).unwrap_or_else(reference)
}

#[derive(Debug)]
struct Linear;

impl HostOp for Linear {
    type Input<B: Backend> = (Tensor<B, 2>, Tensor<B, 2>);
    type Output<B: Backend> = Tensor<B, 2>;

    fn inference((x, weight): Self::Input<Flex>) -> Tensor<Flex, 2> {
        let (x, weight) = (x.into_primitive().tensor(), weight.into_primitive().tensor());
        let out = product(Matrix::of(&x), Matrix::of(&weight));
        Tensor::from_primitive(TensorPrimitive::Float(out))
    }

    fn training<C: CheckpointStrategy>(
        (x, weight): Self::Input<Autodiff<Flex, C>>,
    ) -> Tensor<Autodiff<Flex, C>, 2> {
        let (x, weight) = (x.into_primitive().tensor(), weight.into_primitive().tensor());
        let out = product(Matrix::of(&x.primitive), Matrix::of(&weight.primitive));
        // `x` is kept only for the weight's gradient: a frozen weight needs just itself.
        let kept_x = (!weight.node.requirement.is_none()).then(|| x.primitive.clone());
        let state = (kept_x, weight.primitive.clone());
        Tensor::from_primitive(TensorPrimitive::Float(Linear.recorded::<C>(
            [&x, &weight],
            state,
            out,
        )))
    }
}

impl Backward<Flex, 2> for Linear {
    /// `x` (when the weight is tracked) and the weight.
    type State = (Option<FlexTensor>, FlexTensor);

    fn backward(
        self,
        ops: Ops<Self::State, 2>,
        grads: &mut Gradients,
        _checkpointer: &mut Checkpointer,
    ) {
        let (x, weight) = ops.state;
        let d_out = grads.consume::<Flex>(&ops.node);
        let [x_node, weight_node] = ops.parents;
        if let Some(node) = x_node {
            // dx = dy Wᵀ
            let d_x = product(Matrix::of(&d_out), Matrix::of(&weight).t());
            grads.register::<Flex>(node.id, d_x);
        }
        if let (Some(node), Some(x)) = (weight_node, x) {
            // dW = xᵀ dy
            let d_weight = product(Matrix::of(&x).t(), Matrix::of(&d_out));
            grads.register::<Flex>(node.id, d_weight);
        }
    }
}
