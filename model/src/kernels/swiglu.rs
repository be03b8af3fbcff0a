//! `silu(gate) * up`, the gated activation of Llama's MLP, as one operation.
//!
//! As tensor operations it is a sigmoid, two products and, under autodiff, three graph nodes
//! whose backward recomputes the sigmoid (a scalar `exp` per element) and takes five more
//! full-size products. The host kernel reads `gate` and `up` once forward and once backward.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops};
use burn::backend::flex::FlexTensor;
use burn::backend::{Autodiff, Flex};
use burn::tensor::activation::silu;
use burn::tensor::backend::Backend;
use burn::tensor::{DType, Tensor, TensorPrimitive};
use rayon::prelude::*;

use super::{contiguous, in_row_blocks, on_host, tensor, values, vector, HostOp, Recorded, BLOCK};

/// `silu(gate) * up`, elementwise.
pub fn swiglu<B: Backend, const D: usize>(gate: Tensor<B, D>, up: Tensor<B, D>) -> Tensor<B, D> {
    if gate.dtype() != DType::F32 || up.dtype() != DType::F32 || gate.shape() != up.shape() {
        return silu(gate) * up;
    }
    let shape = gate.shape();
    let flat = |t: Tensor<B, D>| t.reshape([shape.num_elements()]);
    match on_host::<SwiGlu, B>((flat(gate), flat(up))) {
        Ok(out) => out.reshape(shape),
        Err((gate, up)) => (silu(gate) * up).reshape(shape),
    }
}

#[derive(Debug)]
struct SwiGlu;

impl HostOp for SwiGlu {
    type Input<B: Backend> = (Tensor<B, 1>, Tensor<B, 1>);
    type Output<B: Backend> = Tensor<B, 1>;

    fn inference((gate, up): Self::Input<Flex>) -> Tensor<Flex, 1> {
        let out = forward(
            &contiguous(gate.into_primitive().tensor()),
            &contiguous(up.into_primitive().tensor()),
        );
        Tensor::from_primitive(TensorPrimitive::Float(out))
    }

    fn training<C: CheckpointStrategy>(
        (gate, up): Self::Input<Autodiff<Flex, C>>,
    ) -> Tensor<Autodiff<Flex, C>, 1> {
        let (gate, up) = (gate.into_primitive().tensor(), up.into_primitive().tensor());
        let (gate_values, up_values) =
            (contiguous(gate.primitive.clone()), contiguous(up.primitive.clone()));
        let out = forward(&gate_values, &up_values);
        Tensor::from_primitive(TensorPrimitive::Float(SwiGlu.recorded::<C>(
            [&gate, &up],
            (gate_values, up_values),
            out,
        )))
    }
}

impl Backward<Flex, 2> for SwiGlu {
    /// `gate` and `up`, contiguous.
    type State = (FlexTensor, FlexTensor);

    fn backward(
        self,
        ops: Ops<Self::State, 2>,
        grads: &mut Gradients,
        _checkpointer: &mut Checkpointer,
    ) {
        let (gate, up) = ops.state;
        let d_out = contiguous(grads.consume::<Flex>(&ops.node));
        let n = d_out.layout().num_elements();
        let (mut d_gate, mut d_up) = (vec![0f32; n], vec![0f32; n]);
        let (gate, up, d_out) = (values(&gate), values(&up), values(&d_out));
        d_gate
            .par_chunks_mut(BLOCK)
            .zip(d_up.par_chunks_mut(BLOCK))
            .zip(gate.par_chunks(BLOCK).zip(up.par_chunks(BLOCK)).zip(d_out.par_chunks(BLOCK)))
            .for_each(|((d_gate, d_up), ((gate, up), d_out))| {
                vector::swiglu_backward(gate, up, d_out, d_gate, d_up)
            });
        for (parent, grad) in ops.parents.iter().zip([d_gate, d_up]) {
            if let Some(node) = parent {
                grads.register::<Flex>(node.id, tensor(grad, [n].into()));
            }
        }
    }
}

fn forward(gate: &FlexTensor, up: &FlexTensor) -> FlexTensor {
    let (gate, up) = (values(gate), values(up));
    let mut out = vec![0f32; gate.len()];
    in_row_blocks(&mut out, [gate, up], 1, |_, out, [gate, up]| vector::swiglu(gate, up, out));
    let n = out.len();
    tensor(out, [n].into())
}
