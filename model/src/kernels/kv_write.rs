//! Writing new positions into a key/value cache's buffer in place.
//!
//! Burn's `slice_assign` on Flex copies the whole destination first (it keeps a second handle
//! on the buffer while it asks for a mutable one), so appending one decoding step's position to
//! a cache would cost the whole cache, as the concatenation it replaces did. Here, on Flex, only
//! the new positions are written when the buffer is not shared.

use burn::backend::flex::FlexTensor;
use burn::backend::Flex;
use burn::tensor::backend::Backend;
use burn::tensor::{DType, Tensor, TensorPrimitive};
use half::{bf16, f16};

use super::same_type;

/// `buffer[.., .., .., at..at + n, ..] = values` for `values` of `n` positions along axis 3.
/// In place on Flex when `buffer` is a contiguous buffer of its own; otherwise by Burn's
/// `slice_assign`.
pub(crate) fn write_positions<B: Backend>(
    buffer: Tensor<B, 5>,
    at: usize,
    values: Tensor<B, 5>,
) -> Tensor<B, 5> {
    let flex = same_type::<_, (Tensor<Flex, 5>, Tensor<Flex, 5>)>((buffer, values));
    let (buffer, values) = match flex {
        Ok((buffer, values)) => {
            let buffer = buffer.into_primitive().tensor();
            let values = values.into_primitive().tensor();
            let written = Tensor::<Flex, 5>::from_primitive(TensorPrimitive::Float(write_on_host(
                buffer, at, &values,
            )));
            return same_type(written).unwrap_or_else(|_| unreachable!("B is Flex"));
        }
        Err(pair) => pair,
    };
    let [batch, heads, group, _, d] = buffer.dims();
    let n = values.dims()[3];
    buffer.slice_assign([0..batch, 0..heads, 0..group, at..at + n, 0..d], values)
}

fn write_on_host(mut buffer: FlexTensor, at: usize, values: &FlexTensor) -> FlexTensor {
    assert_eq!(buffer.dtype(), values.dtype(), "a cache holds one dtype");
    // A buffer made by `zeros` is contiguous; anything else is made so (a copy) first.
    if !buffer.is_contiguous() || buffer.layout().start_offset() != 0 {
        buffer = buffer.to_contiguous();
    }
    match buffer.dtype() {
        DType::F32 => copy_rows::<f32>(&mut buffer, at, values),
        DType::BF16 => copy_rows::<bf16>(&mut buffer, at, values),
        DType::F16 => copy_rows::<f16>(&mut buffer, at, values),
        other => panic!("a key/value cache of {other:?}: only floats are cached"),
    }
    buffer
}

/// Copies each position's `d` values (one row per batch row, head and group) to position
/// `at + p` of the same block of `buffer`, reading `values` in place under its strides: a
/// prefix lent to every row (batch stride 0) and a layer's new keys (token-major) are both
/// copied a row at a time, where making them contiguous first walked them an element at a time
/// (Flex's `to_contiguous` of a broadcast was 6% of a classification).
fn copy_rows<E: burn::tensor::Element + bytemuck::Pod>(
    buffer: &mut FlexTensor,
    at: usize,
    values: &FlexTensor,
) {
    let contiguous;
    let values =
        if values.layout().strides().iter().all(|&s| s >= 0) && values.layout().strides()[4] == 1 {
            values
        } else {
            contiguous = values.to_contiguous();
            &contiguous
        };
    let layout = values.layout();
    let stride: Vec<usize> = layout.strides().iter().map(|&s| s as usize).collect();
    let [batch, heads, group, n, d]: [usize; 5] =
        layout.shape().to_vec().try_into().expect("rank 5");
    let capacity = buffer.layout().shape()[3];
    assert!(at + n <= capacity, "the buffer has room for the new positions");
    let src = values.storage::<E>();
    // Copies the buffer only if another handle shares it (never in decoding).
    let dst = buffer.storage_mut::<E>();
    for b in 0..batch {
        for h in 0..heads {
            for g in 0..group {
                let block = (b * heads + h) * group + g;
                let from = layout.start_offset() + b * stride[0] + h * stride[1] + g * stride[2];
                for p in 0..n {
                    let (from, to) = (from + p * stride[3], (block * capacity + at + p) * d);
                    dst[to..to + d].copy_from_slice(&src[from..from + d]);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use burn::tensor::Distribution;

    use super::*;

    fn values(t: Tensor<Flex, 5>) -> Vec<f32> {
        t.into_data().convert::<f32>().to_vec().unwrap()
    }

    #[test]
    fn writes_what_slice_assign_writes_and_never_into_a_shared_buffer() {
        let device = Default::default();
        for dtype in [DType::F32, DType::BF16] {
            let random = |shape: [usize; 5]| {
                Tensor::<Flex, 5>::random(shape, Distribution::Normal(0.0, 1.0), &device)
                    .cast(dtype)
            };
            let buffer = random([2, 3, 1, 7, 4]);
            // Strided new positions, as the decoder layers hand them over.
            let new = random([2, 2, 3, 1, 4]).permute([0, 2, 3, 1, 4]);
            let expected = buffer.clone().slice_assign([0..2, 0..3, 0..1, 4..6, 0..4], new.clone());
            let shared = buffer.clone();
            let before = values(shared.clone());
            let written = write_positions(buffer, 4, new);
            assert_eq!(values(written), values(expected), "{dtype:?}");
            assert_eq!(values(shared), before, "{dtype:?}: a shared buffer was written");

            // A prefix of one row lent to both rows (batch stride 0).
            let prefix = random([1, 3, 1, 3, 4]).expand([2, 3, 1, 3, 4]);
            let buffer = random([2, 3, 1, 7, 4]);
            let expected =
                buffer.clone().slice_assign([0..2, 0..3, 0..1, 0..3, 0..4], prefix.clone());
            assert_eq!(values(write_positions(buffer, 0, prefix)), values(expected), "{dtype:?}");
        }
    }
}
