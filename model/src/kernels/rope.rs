//! Rotary position embedding, `x cos + rotate_half(x) sin`, as one operation.
//!
//! As tensor operations it is a (signed-permutation) matmul, two products and a sum, and
//! under autodiff as many graph nodes and full-size passes backward. The host kernel reads
//! `x` and the tables once forward and the gradient once backward; the tables are constants.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops};
use burn::backend::flex::FlexTensor;
use burn::backend::{Autodiff, Flex};
use burn::tensor::backend::Backend;
use burn::tensor::{DType, Tensor, TensorPrimitive};

use super::{contiguous, in_row_blocks, on_host, tensor, values, vector, HostOp, Recorded};

/// `x cos + rotate_half(x) sin` for `x` `[tokens, heads * head_dim]` and tables of the same
/// shape, with `rotate_half(x) = (-x2, x1)` per head; `in_tensor_ops` computes the same for
/// other backends and dtypes.
pub fn rotate<B: Backend>(
    x: Tensor<B, 2>,
    cos: Tensor<B, 2>,
    sin: Tensor<B, 2>,
    head_dim: usize,
    in_tensor_ops: impl FnOnce(Tensor<B, 2>) -> Tensor<B, 2>,
) -> Tensor<B, 2> {
    let f32_and_same_shape =
        [&x, &cos, &sin].iter().all(|t| t.dtype() == DType::F32 && t.shape() == x.shape());
    if !f32_and_same_shape || head_dim % 2 != 0 {
        return in_tensor_ops(x);
    }
    match on_host::<Rope, B>((x, cos, sin, head_dim / 2)) {
        Ok(y) => y,
        Err((x, ..)) => in_tensor_ops(x),
    }
}

#[derive(Debug)]
struct Rope;

impl HostOp for Rope {
    /// `x`, cos, sin (`[tokens, heads * head_dim]`), half the head dimension.
    type Input<B: Backend> = (Tensor<B, 2>, Tensor<B, 2>, Tensor<B, 2>, usize);
    type Output<B: Backend> = Tensor<B, 2>;

    fn inference((x, cos, sin, half): Self::Input<Flex>) -> Tensor<Flex, 2> {
        let [x, cos, sin] = [x, cos, sin].map(|t| contiguous(t.into_primitive().tensor()));
        Tensor::from_primitive(TensorPrimitive::Float(apply(&x, &cos, &sin, half, false)))
    }

    fn training<C: CheckpointStrategy>(
        (x, cos, sin, half): Self::Input<Autodiff<Flex, C>>,
    ) -> Tensor<Autodiff<Flex, C>, 2> {
        let x = x.into_primitive().tensor();
        let [cos, sin] = [cos, sin].map(|t| contiguous(t.inner().into_primitive().tensor()));
        let y = apply(&contiguous(x.primitive.clone()), &cos, &sin, half, false);
        Tensor::from_primitive(TensorPrimitive::Float(Rope.recorded::<C>(
            [&x],
            (cos, sin, half),
            y,
        )))
    }
}

impl Backward<Flex, 1> for Rope {
    /// The tables and half the head dimension.
    type State = (FlexTensor, FlexTensor, usize);

    fn backward(
        self,
        ops: Ops<Self::State, 1>,
        grads: &mut Gradients,
        _checkpointer: &mut Checkpointer,
    ) {
        let (cos, sin, half) = ops.state;
        let d_y = contiguous(grads.consume::<Flex>(&ops.node));
        if let Some(node) = &ops.parents[0] {
            grads.register::<Flex>(node.id, apply(&d_y, &cos, &sin, half, true));
        }
    }
}

/// The rotation (or with `inverse` its transpose) of every head of `x`.
fn apply(
    x: &FlexTensor,
    cos: &FlexTensor,
    sin: &FlexTensor,
    half: usize,
    inverse: bool,
) -> FlexTensor {
    let shape = x.layout().shape().clone();
    let mut out = vec![0f32; shape.num_elements()];
    in_row_blocks(
        &mut out,
        [values(x), values(cos), values(sin)],
        2 * half,
        |_, out, [x, cos, sin]| vector::rotate(x, cos, sin, half, inverse, out),
    );
    tensor(out, shape)
}
