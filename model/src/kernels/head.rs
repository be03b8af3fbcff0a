//! The output head's loss on Burn's CPU backend (Flex), written against the host buffers.
//!
//! On the CPU the head dominates a small model's training step (a 32k vocabulary against a
//! hidden size of a few hundred), and as tensor operations it is a dozen passes over every
//! chunk of logits: matmul, max, subtract, exp, sum, divide, two gathers, a column select of
//! the head weight, a second matmul and a scatter. Here each chunk takes the two matmuls (the
//! `gemm` crate, which Flex itself calls) and a softmax pass per row in between, with a
//! vectorised `exp`, chunks in parallel.

use burn::backend::flex::FlexTensor;
use burn::tensor::Shape;
use rayon::prelude::*;

use super::matmul::matmul;
use super::vector;
use crate::loss::Targets;

/// Logits per chunk (rows x vocabulary): 30 MiB of f32. Each chunk's matmuls pack the whole
/// head weight again, so chunks should be large; but under glibc's largest mmap threshold
/// (32 MiB, train/src/allocator.rs), so a chunk's buffer comes from the heap instead of being
/// faulted in anew each time. (Small shape, 2 cores: 16 MiB 2,355 tokens/s, 30 MiB 2,391,
/// 64 MiB 2,368, 132 MiB 1,749.)
const CHUNK_LOGITS: usize = (30 << 20) / 4;

/// A dense 2-D f32 operand as `gemm` takes it: base pointer and strides in elements.
struct Matrix<'a> {
    data: &'a [f32],
    rows: usize,
    cols: usize,
    offset: usize,
    row_stride: isize,
    col_stride: isize,
}

impl<'a> Matrix<'a> {
    fn of(t: &'a FlexTensor) -> Self {
        let layout = t.layout();
        let strides = layout.strides();
        let shape = layout.shape();
        Matrix {
            data: t.storage::<f32>(),
            rows: shape[0],
            cols: shape[1],
            offset: layout.start_offset(),
            row_stride: strides[0],
            col_stride: strides[1],
        }
    }

    fn row(&self, r: usize) -> impl Iterator<Item = f32> + '_ {
        let base = self.offset as isize + r as isize * self.row_stride;
        (0..self.cols).map(move |c| self.data[(base + c as isize * self.col_stride) as usize])
    }

    fn ptr(&self) -> *const f32 {
        self.data[self.offset..].as_ptr()
    }
}

/// The summed NLL of the target rows of `flat` `[positions, hidden]` under the head `weight`
/// `[hidden, vocab]` (both f32, any strides), and with `want_grad` its gradient with respect to
/// `flat` (zero on rows without a target). Same value and gradient as the tensor version in
/// the parent module.
///
/// Chunks of rows run in parallel, each on one thread: a matmul of a few hundred rows against a
/// short inner dimension runs near the core's peak alone but scales poorly when split across
/// threads (measured at 131 rows: 90 GFLOP/s on one core, 163 on two).
pub(crate) fn head_nll(
    flat: &FlexTensor,
    weight: &FlexTensor,
    targets: &Targets,
    want_grad: bool,
) -> (f32, Option<FlexTensor>) {
    let (hidden, weight) = (Matrix::of(flat), Matrix::of(weight));
    let (positions, width, vocab) = (hidden.rows, weight.rows, weight.cols);
    let chunk = (CHUNK_LOGITS / vocab.max(1)).max(1);
    let chunks: Vec<(f64, Vec<f32>)> = targets
        .rows
        .par_chunks(chunk)
        .zip(targets.labels.par_chunks(chunk))
        .map(|(rows, labels)| head_chunk(&hidden, &weight, rows, labels, want_grad))
        .collect();
    let total: f64 = chunks.iter().map(|(loss, _)| loss).sum();
    let grad = want_grad.then(|| {
        let mut grad = vec![0f32; positions * width];
        for ((_, rows_grad), rows) in chunks.iter().zip(targets.rows.chunks(chunk)) {
            for (src, &r) in rows_grad.chunks_exact(width).zip(rows) {
                let r = r as usize;
                grad[r * width..(r + 1) * width].copy_from_slice(src);
            }
        }
        FlexTensor::from_data(burn::tensor::TensorData::new(grad, Shape::new([positions, width])))
    });
    (total as f32, grad)
}

/// The summed NLL of `rows` of `hidden` against `labels`, and with `want_grad` its gradient
/// with respect to those rows (`[rows, width]`, empty otherwise).
fn head_chunk(
    hidden: &Matrix,
    weight: &Matrix,
    rows: &[i64],
    labels: &[i64],
    want_grad: bool,
) -> (f64, Vec<f32>) {
    let (n, width, vocab) = (rows.len(), weight.rows, weight.cols);
    let mut rows_in = Vec::with_capacity(n * width);
    for &r in rows {
        rows_in.extend(hidden.row(r as usize));
    }
    // logits = rows_in [n, width] x weight [width, vocab], into a buffer left unzeroed: the
    // matmul writes every element without reading any.
    let mut logits = Vec::with_capacity(n * vocab);
    // SAFETY: every operand is in bounds for the shapes and strides passed, and the output
    // covers exactly the `n * vocab` elements of the buffer's capacity, all written before
    // the length is set.
    unsafe {
        matmul(
            n,
            vocab,
            width,
            logits.as_mut_ptr(),
            vocab as isize,
            rows_in.as_ptr(),
            width as isize,
            1,
            weight.ptr(),
            weight.row_stride,
            weight.col_stride,
            false,
        );
        logits.set_len(n * vocab);
    }
    let loss = logits
        .chunks_exact_mut(vocab)
        .zip(labels)
        .map(|(row, &label)| f64::from(softmax_nll(row, label as usize, want_grad)))
        .sum();
    if !want_grad {
        return (loss, Vec::new());
    }
    // rows_in becomes the rows' gradient: (softmax - onehot) [n, vocab] x weightᵀ [vocab, width]
    // SAFETY: as above; weightᵀ swaps the weight's strides.
    unsafe {
        matmul(
            n,
            width,
            vocab,
            rows_in.as_mut_ptr(),
            width as isize,
            logits.as_ptr(),
            vocab as isize,
            1,
            weight.ptr(),
            weight.col_stride,
            weight.row_stride,
            false,
        )
    };
    (loss, rows_in)
}

/// `-log softmax(row)[label]`, computed as `max + ln Σ exp(row - max) - row[label]`. With
/// `want_grad` the row is left holding the loss's gradient with respect to it,
/// `softmax(row) - onehot(label)`; otherwise its contents are unspecified.
fn softmax_nll(row: &mut [f32], label: usize, want_grad: bool) -> f32 {
    let label_logit = row[label];
    let max = vector::max(row);
    let sum = vector::exp_shifted_sum(row, max);
    if want_grad {
        vector::scale(row, 1.0 / sum);
        row[label] -= 1.0;
    }
    max + sum.ln() - label_logit
}
