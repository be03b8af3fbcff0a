//! Dropout's mask as part of one operation, from a hash of each element's index.
//!
//! Burn's CPU backend draws a Bernoulli mask one element at a time through a general
//! distribution sampler; with LoRA dropout on every projection that was about a quarter of a
//! small model's training step. Here each call draws one 64-bit key from Burn's generator (so
//! the masks follow its seed exactly as before: same seed, same masks) and the mask is a hash of
//! each element's index under that key, a few integer operations per element. The backward pass
//! rebuilds the mask from the key instead of keeping it.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops};
use burn::backend::flex::FlexTensor;
use burn::backend::{Autodiff, Flex};
use burn::tensor::backend::Backend;
use burn::tensor::{DType, Distribution, Int, Tensor, TensorPrimitive};

use super::{contiguous, in_row_blocks, on_host, tensor, values, vector, HostOp, Recorded};

/// `x` with each element kept with probability `keep` and zeroed otherwise (not rescaled: the
/// caller folds `1 / keep` into a smaller tensor).
pub fn dropout<B: Backend>(x: Tensor<B, 2>, keep: f64) -> Tensor<B, 2> {
    if x.dtype() != DType::F32 {
        return in_tensor_ops(x, keep);
    }
    match on_host::<Dropout, B>((x, keep)) {
        Ok(y) => y,
        Err((x, keep)) => in_tensor_ops(x, keep),
    }
}

fn in_tensor_ops<B: Backend>(x: Tensor<B, 2>, keep: f64) -> Tensor<B, 2> {
    x.clone() * x.random_like(Distribution::Bernoulli(keep))
}

#[derive(Debug)]
struct Dropout;

impl HostOp for Dropout {
    /// The input and the keep probability.
    type Input<B: Backend> = (Tensor<B, 2>, f64);
    type Output<B: Backend> = Tensor<B, 2>;

    fn inference((x, keep): Self::Input<Flex>) -> Tensor<Flex, 2> {
        let key = draw_key();
        Tensor::from_primitive(TensorPrimitive::Float(apply(
            &contiguous(x.into_primitive().tensor()),
            key,
            keep,
        )))
    }

    fn training<C: CheckpointStrategy>(
        (x, keep): Self::Input<Autodiff<Flex, C>>,
    ) -> Tensor<Autodiff<Flex, C>, 2> {
        let key = draw_key();
        let x = x.into_primitive().tensor();
        let y = apply(&contiguous(x.primitive.clone()), key, keep);
        Tensor::from_primitive(TensorPrimitive::Float(Dropout.recorded::<C>([&x], (key, keep), y)))
    }
}

impl Backward<Flex, 1> for Dropout {
    /// The mask's key and the keep probability.
    type State = (u64, f64);

    /// The same mask applied to the output's gradient.
    fn backward(
        self,
        ops: Ops<Self::State, 1>,
        grads: &mut Gradients,
        _checkpointer: &mut Checkpointer,
    ) {
        let (key, keep) = ops.state;
        let d_y = contiguous(grads.consume::<Flex>(&ops.node));
        if let Some(node) = &ops.parents[0] {
            grads.register::<Flex>(node.id, apply(&d_y, key, keep));
        }
    }
}

/// A 64-bit key from Burn's generator, as four draws of 16 bits (small enough that the
/// backend's float-to-int sampling cannot overflow any int type).
fn draw_key() -> u64 {
    let parts = Tensor::<Flex, 1, Int>::random(
        [4],
        Distribution::Uniform(0.0, 65_536.0),
        &Default::default(),
    );
    let parts = parts.into_data().convert::<i64>().to_vec::<i64>().expect("four integers");
    parts.iter().fold(0u64, |key, &part| (key << 16) | (part as u64 & 0xffff))
}

fn apply(x: &FlexTensor, key: u64, keep: f64) -> FlexTensor {
    let shape = x.layout().shape().clone();
    let mut out = vec![0f32; shape.num_elements()];
    in_row_blocks(&mut out, [values(x)], 1, |first, out, [x]| {
        vector::dropout(x, key, first, keep as f32, out)
    });
    tensor(out, shape)
}
