//! Llama's RMS norm, `x / sqrt(mean(x²) + eps) * weight` over the last axis, as one operation.
//!
//! As tensor operations it is a square, a mean, an add, a square root, a reciprocal and two
//! broadcast products (strided loops on the CPU), each a graph node under autodiff. The host
//! kernel makes two passes over each row forward and two backward, keeping the input and one
//! factor per row.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops};
use burn::backend::flex::FlexTensor;
use burn::backend::{Autodiff, Flex};
use burn::tensor::backend::Backend;
use burn::tensor::{DType, Tensor, TensorPrimitive};
use rayon::prelude::*;

use super::{contiguous, in_row_blocks, on_host, tensor, values, vector, HostOp, Recorded};

/// `x / sqrt(mean(x²) + eps) * weight` over the last axis of `x` `[..., width]`, `weight`
/// `[width]`, computed in f32 whatever the dtype (transformers' `LlamaRMSNorm`: the normalised
/// value is rounded back to `x`'s dtype before the gain multiplies it).
pub fn rms_norm<B: Backend, const D: usize>(
    x: Tensor<B, D>,
    weight: Tensor<B, 1>,
    eps: f64,
) -> Tensor<B, D> {
    if x.dtype() == DType::F32 && weight.dtype() == DType::F32 {
        let shape = x.shape();
        let width = shape[D - 1];
        match on_host::<RmsNorm, B>((
            x.reshape([shape.num_elements() / width.max(1), width]),
            weight,
            eps,
        )) {
            Ok(y) => return y.reshape(shape),
            Err((x, weight, _)) => return in_tensor_ops(x, weight, eps).reshape(shape),
        }
    }
    in_tensor_ops(x, weight, eps)
}

fn in_tensor_ops<B: Backend, const D: usize>(
    x: Tensor<B, D>,
    weight: Tensor<B, 1>,
    eps: f64,
) -> Tensor<B, D> {
    let dtype = x.dtype();
    let x = x.cast(DType::F32);
    let variance = x.clone().square().mean_dim(D - 1);
    let normed = x * variance.add_scalar(eps).sqrt().recip();
    normed.cast(dtype) * weight.unsqueeze::<D>()
}

#[derive(Debug)]
struct RmsNorm;

impl HostOp for RmsNorm {
    /// `x` as `[rows, width]`, the weight, eps.
    type Input<B: Backend> = (Tensor<B, 2>, Tensor<B, 1>, f64);
    type Output<B: Backend> = Tensor<B, 2>;

    fn inference((x, weight, eps): Self::Input<Flex>) -> Tensor<Flex, 2> {
        let (x, weight) =
            (contiguous(x.into_primitive().tensor()), contiguous(weight.into_primitive().tensor()));
        Tensor::from_primitive(TensorPrimitive::Float(forward(&x, &weight, eps).0))
    }

    fn training<C: CheckpointStrategy>(
        (x, weight, eps): Self::Input<Autodiff<Flex, C>>,
    ) -> Tensor<Autodiff<Flex, C>, 2> {
        let (x, weight) = (x.into_primitive().tensor(), weight.into_primitive().tensor());
        let (x_values, weight_values) =
            (contiguous(x.primitive.clone()), contiguous(weight.primitive.clone()));
        let (y, factors) = forward(&x_values, &weight_values, eps);
        let state = RmsNormState { x: x_values, weight: weight_values, factors };
        Tensor::from_primitive(TensorPrimitive::Float(RmsNorm.recorded::<C>(
            [&x, &weight],
            state,
            y,
        )))
    }
}

#[derive(Clone, Debug)]
struct RmsNormState {
    x: FlexTensor,
    weight: FlexTensor,
    /// `1 / sqrt(mean(x²) + eps)` per row.
    factors: Vec<f32>,
}

impl Backward<Flex, 2> for RmsNorm {
    type State = RmsNormState;

    fn backward(
        self,
        ops: Ops<Self::State, 2>,
        grads: &mut Gradients,
        _checkpointer: &mut Checkpointer,
    ) {
        let RmsNormState { x, weight, factors } = ops.state;
        let d_y = contiguous(grads.consume::<Flex>(&ops.node));
        let shape = x.layout().shape().clone();
        let width = shape[1];
        let (x, weight, d_y) = (values(&x), values(&weight), values(&d_y));
        let [x_parent, weight_parent] = &ops.parents;
        if let Some(node) = x_parent {
            let mut d_x = vec![0f32; x.len()];
            in_row_blocks(&mut d_x, [x, d_y], width, |first, d_x, [x, d_y]| {
                let factors = &factors[first / width..];
                for (((d_x, x), d_y), &r) in d_x
                    .chunks_exact_mut(width)
                    .zip(x.chunks_exact(width))
                    .zip(d_y.chunks_exact(width))
                    .zip(factors)
                {
                    vector::rms_norm_backward(x, weight, d_y, r, d_x);
                }
            });
            grads.register::<Flex>(node.id, tensor(d_x, shape));
        }
        if let Some(node) = weight_parent {
            // A trainable gain (the base's norms are frozen, so only in tests): Σ_rows dy x r.
            let mut d_weight = vec![0f32; width];
            for ((x, d_y), &r) in x.chunks_exact(width).zip(d_y.chunks_exact(width)).zip(&factors) {
                for ((d_w, x), d_y) in d_weight.iter_mut().zip(x).zip(d_y) {
                    *d_w += d_y * x * r;
                }
            }
            grads.register::<Flex>(node.id, tensor(d_weight, [width].into()));
        }
    }
}

/// The normalised rows and each row's factor `1 / sqrt(mean(x²) + eps)`.
fn forward(x: &FlexTensor, weight: &FlexTensor, eps: f64) -> (FlexTensor, Vec<f32>) {
    let shape = x.layout().shape().clone();
    let width = shape[1];
    let (x, weight) = (values(x), values(weight));
    let factors: Vec<f32> = x
        .par_chunks(width.max(1))
        // In f32 throughout, as transformers computes it (`rsqrt(mean(x²) + eps)`).
        .map(|row| 1.0 / (vector::dot(row, row) / width as f32 + eps as f32).sqrt())
        .collect();
    let mut y = vec![0f32; x.len()];
    in_row_blocks(&mut y, [x], width, |first, y, [x]| {
        let factors = &factors[first / width..];
        for ((y, x), &r) in y.chunks_exact_mut(width).zip(x.chunks_exact(width)).zip(factors) {
            vector::scaled_product(x, r, weight, y);
        }
    });
    (tensor(y, shape), factors)
}
