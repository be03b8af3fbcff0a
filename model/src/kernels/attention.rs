//! Attention, `softmax(q kᵀ + bias) v` per head, as one operation on Burn's CPU backend (Flex),
//! forward and backward.
//!
//! As tensor operations (`crate::attention::plain`) it materialises every head's `T x T` scores,
//! then as many probabilities, and under autodiff keeps them for the backward pass: at 4k tokens
//! that is 560 MiB per layer for SmolLM2's 9 heads, written and read several times, and half of
//! it is masked by the causal mask. Here the work runs in blocks of query rows, in parallel, one
//! block on one core: the block's scores against only the keys that some row of the block may
//! see (the causal mask halves the work), the softmax in cache, and the product with the values.
//! The query heads that share a key/value head (grouped-query attention) are stacked into one
//! matmul against their keys, read in place.
//!
//! The backward pass keeps only the inputs, the output and each row's log-sum-exp, and rebuilds
//! each block's probabilities (flash-attention-2's backward): `dV = Σ Pᵀ dO`,
//! `dS = P ∘ (dO Vᵀ - rowsum(dO ∘ O))`, `dQ = dS K`, `dK = Σ dSᵀ Q`.
//!
//! Shapes as `crate::attention` takes them: queries `[batch, kv_heads, group, queries, d]`
//! (scaled already), keys and values `[batch, kv_heads, 1, keys, d]`, bias
//! `[batch, 1, 1, queries, keys]` (one row for all heads) or `[batch, kv_heads, group, queries,
//! keys]`; any strides. The output is `[batch, kv_heads, group, queries, d]`, stored token-major
//! (`[batch, queries, kv_heads, group, d]`), so that the caller's move back to token-major
//! rows is free.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops};
use burn::backend::flex::FlexTensor;
use burn::backend::{Autodiff, Flex};
use burn::tensor::backend::Backend;
use burn::tensor::{DType, Shape, Tensor, TensorPrimitive};
use rayon::prelude::*;

use super::matmul::matmul;
use super::{contiguous, on_host, tensor, values, vector, HostOp, Recorded};

/// Query rows per block and head: with a group of 3 heads, a block is a 192-row matmul.
const QUERY_BLOCK: usize = 64;

/// Keys per step of the forward pass over a query block's keys: its scores against them
/// (`[192, 512]`, 384 KiB for SmolLM2) stay in the core's L2 cache.
const KEY_BLOCK: usize = 512;

/// Queries, keys, values and bias.
pub(crate) type Inputs<B> = (Tensor<B, 5>, Tensor<B, 5>, Tensor<B, 5>, Tensor<B, 5>);

/// The attention by the host kernels if `B` is Flex (under autodiff or not), everything is f32
/// and the shapes are the ones above; otherwise hands the inputs back.
pub(crate) fn fused_attention<B: Backend>(inputs: Inputs<B>) -> Result<Tensor<B, 5>, Inputs<B>> {
    if Geometry::of(&inputs).is_none() {
        return Err(inputs);
    }
    on_host::<FusedAttention, B>(inputs)
}

/// The sizes of one attention call.
#[derive(Clone, Copy, Debug)]
struct Geometry {
    batch: usize,
    kv_heads: usize,
    group: usize,
    queries: usize,
    keys: usize,
    head_dim: usize,
    /// The bias has one row per head rather than one for all heads.
    bias_per_head: bool,
}

impl Geometry {
    fn of<B: Backend>((q, k, v, bias): &Inputs<B>) -> Option<Self> {
        if [q, k, v, bias].iter().any(|t| t.dtype() != DType::F32) {
            return None;
        }
        let [batch, kv_heads, group, queries, head_dim] = q.dims();
        let keys = k.dims()[3];
        let kv_shape = [batch, kv_heads, 1, keys, head_dim];
        let bias_per_head = if bias.dims() == [batch, 1, 1, queries, keys] {
            false
        } else if bias.dims() == [batch, kv_heads, group, queries, keys] {
            true
        } else {
            return None;
        };
        (k.dims() == kv_shape && v.dims() == kv_shape).then_some(Geometry {
            batch,
            kv_heads,
            group,
            queries,
            keys,
            head_dim,
            bias_per_head,
        })
    }

    fn heads(&self) -> usize {
        self.kv_heads * self.group
    }

    /// The bias row of head `(kv, g)` at query `t` of batch row `b`.
    fn bias_row(&self, b: usize, kv: usize, g: usize, t: usize) -> usize {
        let head = if self.bias_per_head { kv * self.group + g } else { 0 };
        let heads = if self.bias_per_head { self.heads() } else { 1 };
        (b * heads + head) * self.queries + t
    }

    /// The keys `[lo, hi)` that some row of the query block `rows` of head group `kv` may see.
    fn block_keys(
        &self,
        ranges: &[(usize, usize)],
        b: usize,
        kv: usize,
        rows: &std::ops::Range<usize>,
    ) -> (usize, usize) {
        let heads = if self.bias_per_head { self.group } else { 1 };
        let mut range = (usize::MAX, 0);
        for g in 0..heads {
            for t in rows.clone() {
                let (lo, hi) = ranges[self.bias_row(b, kv, g, t)];
                range = (range.0.min(lo), range.1.max(hi));
            }
        }
        range
    }
}

/// A strided f32 tensor of rank 5, read in place.
struct View<'a> {
    data: &'a [f32],
    offset: usize,
    strides: [isize; 5],
}

impl<'a> View<'a> {
    fn of(t: &'a FlexTensor) -> Self {
        let layout = t.layout();
        View {
            data: t.storage::<f32>(),
            offset: layout.start_offset(),
            strides: layout.strides().try_into().expect("rank 5"),
        }
    }

    fn index(&self, at: [usize; 5]) -> usize {
        let offset: isize = at.iter().zip(&self.strides).map(|(&i, &s)| i as isize * s).sum();
        (self.offset as isize + offset) as usize
    }

    /// A pointer to element `at`, for `gemm`, which reads the rest by the strides.
    fn ptr(&self, at: [usize; 5]) -> *const f32 {
        self.data[self.index(at)..].as_ptr()
    }

    /// `out = lhs M`, where `M` is the `[n, d]` matrix of the `n` rows (along axis 3) from `at`
    /// on, read in place under the strides: transposed with `transpose` (`lhs [m, d]`,
    /// `out [m, n]`), as it is otherwise (`lhs [m, n]`, `out [m, d]`). With `accumulate` the
    /// product is added to `out`; otherwise `out` is overwritten.
    #[allow(clippy::too_many_arguments)]
    fn left_product(
        &self,
        lhs: &[f32],
        at: [usize; 5],
        (n, d): (usize, usize),
        transpose: bool,
        accumulate: bool,
        out: &mut [f32],
    ) {
        let (cols, inner) = if transpose { (n, d) } else { (d, n) };
        let (rows_stride, cols_stride) = (self.strides[3], self.strides[4]);
        let (rhs_row_stride, rhs_col_stride) =
            if transpose { (cols_stride, rows_stride) } else { (rows_stride, cols_stride) };
        let m = lhs.len() / inner.max(1);
        assert!(
            lhs.len() == m * inner && out.len() == m * cols,
            "operands sized [m, inner], [m, cols]"
        );
        // SAFETY: `lhs` is [m, inner] and `out` [m, cols], both dense; the rows of `M` are in
        // this view under its strides.
        unsafe {
            matmul(
                m,
                cols,
                inner,
                out.as_mut_ptr(),
                cols as isize,
                lhs.as_ptr(),
                inner as isize,
                1,
                self.ptr(at),
                rhs_row_stride,
                rhs_col_stride,
                accumulate,
            );
        }
    }

    /// Copies the vector along the last axis that starts at `at` into `out`.
    fn copy_row(&self, at: [usize; 5], out: &mut [f32]) {
        let (start, step) = (self.index(at), self.strides[4]);
        if step == 1 {
            out.copy_from_slice(&self.data[start..start + out.len()]);
        } else {
            for (i, o) in out.iter_mut().enumerate() {
                *o = self.data[(start as isize + i as isize * step) as usize];
            }
        }
    }
}

/// The tensor with strides that `View` can read (none negative).
fn readable(t: FlexTensor) -> FlexTensor {
    if t.layout().has_positive_strides() {
        t
    } else {
        t.to_contiguous()
    }
}

/// For every bias row, the keys `[first, last + 1)` it does not mask (`-inf` elsewhere): no key
/// outside needs computing.
fn key_ranges(bias: &[f32], keys: usize) -> Vec<(usize, usize)> {
    bias.par_chunks(keys.max(1))
        .map(|row| {
            let lo = row.iter().position(|&x| x != f32::NEG_INFINITY).unwrap_or(keys);
            let hi = row.iter().rposition(|&x| x != f32::NEG_INFINITY).map_or(lo, |i| i + 1);
            (lo, hi.max(lo))
        })
        .collect()
}

/// The inputs as the kernels read them.
struct Operands<'a> {
    geo: Geometry,
    q: View<'a>,
    k: View<'a>,
    v: View<'a>,
    /// Contiguous, `[rows, keys]`.
    bias: &'a [f32],
    ranges: Vec<(usize, usize)>,
}

impl<'a> Operands<'a> {
    fn new(geo: Geometry, [q, k, v, bias]: [&'a FlexTensor; 4]) -> Self {
        let bias = values(bias);
        Operands {
            geo,
            q: View::of(q),
            k: View::of(k),
            v: View::of(v),
            bias,
            ranges: key_ranges(bias, geo.keys),
        }
    }

    /// Bias row `(b, kv, g, t)`, keys `lo..hi`.
    fn bias(&self, b: usize, kv: usize, g: usize, t: usize, (lo, hi): (usize, usize)) -> &[f32] {
        let row = self.geo.bias_row(b, kv, g, t) * self.geo.keys;
        &self.bias[row + lo..row + hi]
    }

    /// The query block `rows` of the heads of group `kv` as `[group * rows, d]`, head-major.
    fn gather(
        &self,
        t: &View,
        b: usize,
        kv: usize,
        rows: &std::ops::Range<usize>,
        out: &mut [f32],
    ) {
        let d = self.geo.head_dim;
        let mut chunks = out.chunks_exact_mut(d);
        for g in 0..self.geo.group {
            for i in rows.clone() {
                t.copy_row([b, kv, g, i, 0], chunks.next().expect("sized"));
            }
        }
    }

    /// `scores [group * rows, hi - lo] = q_block kᵀ` for keys `lo..hi` of head group `kv`.
    fn scores(
        &self,
        q_block: &[f32],
        b: usize,
        kv: usize,
        (lo, hi): (usize, usize),
        out: &mut [f32],
    ) {
        self.k.left_product(
            q_block,
            [b, kv, 0, lo, 0],
            (hi - lo, self.geo.head_dim),
            true,
            false,
            out,
        );
    }
}

/// A query block of one batch row: its rows of the output (and of the log-sum-exps), all heads.
struct ForwardBlock<'a> {
    b: usize,
    rows: std::ops::Range<usize>,
    out: &'a mut [f32],
    lse: &'a mut [f32],
}

/// The attention output `[batch, queries, kv_heads, group, d]` and each row's log-sum-exp
/// `[batch, queries, kv_heads, group]`.
fn forward(ops: &Operands) -> (Vec<f32>, Vec<f32>) {
    let geo = ops.geo;
    let heads = geo.heads();
    let mut out = vec![0f32; geo.batch * geo.queries * heads * geo.head_dim];
    let mut lse = vec![0f32; geo.batch * geo.queries * heads];
    let mut blocks = Vec::new();
    let per_row = (geo.queries * heads * geo.head_dim, geo.queries * heads);
    for (b, (out, lse)) in
        out.chunks_mut(per_row.0.max(1)).zip(lse.chunks_mut(per_row.1.max(1))).enumerate()
    {
        let chunks = out
            .chunks_mut(QUERY_BLOCK * heads * geo.head_dim)
            .zip(lse.chunks_mut(QUERY_BLOCK * heads));
        for (j, (out, lse)) in chunks.enumerate() {
            let start = j * QUERY_BLOCK;
            blocks.push(ForwardBlock { b, rows: start..start + lse.len() / heads, out, lse });
        }
    }
    blocks.into_par_iter().for_each(|block| forward_block(ops, block));
    (out, lse)
}

/// One query block, key block by key block with a running softmax (flash attention's forward):
/// each row keeps its largest score so far and the sum of its exponentials, and the output
/// accumulates the unnormalised `exp(score - max) v`, rescaled when the max grows and divided by
/// the sum at the end. A key block's scores stay in the core's cache, where the whole row of a
/// long sequence did not (`[192, 4k]` scores are 3 MiB). When one key block holds all the keys
/// the probabilities are normalised before the product instead, as the unblocked softmax does
/// (and transformers): rows of up to `KEY_BLOCK` keys get the same bits as before the blocking.
fn forward_block(ops: &Operands, block: ForwardBlock) {
    let geo = ops.geo;
    let (d, heads, n_rows) = (geo.head_dim, geo.heads(), block.rows.len());
    let rows = geo.group * n_rows;
    let mut q_block = vec![0f32; rows * d];
    let mut out_block = vec![0f32; rows * d];
    let (mut max, mut sum) = (vec![0f32; rows], vec![0f32; rows]);
    let mut scores = Vec::new();
    for kv in 0..geo.kv_heads {
        let (lo, hi) = geo.block_keys(&ops.ranges, block.b, kv, &block.rows);
        if hi <= lo {
            continue;
        }
        ops.gather(&ops.q, block.b, kv, &block.rows, &mut q_block);
        let one_block = hi - lo <= KEY_BLOCK;
        max.fill(f32::NEG_INFINITY);
        sum.fill(0.0);
        for start in (lo..hi).step_by(KEY_BLOCK) {
            let keys = (start, (start + KEY_BLOCK).min(hi));
            let n = keys.1 - keys.0;
            scores.resize(rows * n, 0.0);
            ops.scores(&q_block, block.b, kv, keys, &mut scores);
            for (r, row) in scores.chunks_exact_mut(n).enumerate() {
                let (g, i) = (r / n_rows, r % n_rows);
                let bias = ops.bias(block.b, kv, g, block.rows.start + i, keys);
                let new_max = vector::add_max(row, bias).max(max[r]);
                if new_max == f32::NEG_INFINITY {
                    // No key visible to this row yet: it adds nothing.
                    row.fill(0.0);
                    continue;
                }
                if max[r] != new_max && max[r] != f32::NEG_INFINITY {
                    let rescale = vector::exp(max[r] - new_max);
                    sum[r] *= rescale;
                    vector::scale(&mut out_block[r * d..(r + 1) * d], rescale);
                }
                sum[r] += vector::exp_shifted_sum(row, new_max);
                max[r] = new_max;
                if one_block {
                    vector::scale(row, 1.0 / sum[r]);
                }
            }
            // out (+)= exp(scores - max) v
            let accumulate = start > lo;
            let at = [block.b, kv, 0, keys.0, 0];
            ops.v.left_product(&scores, at, (n, d), false, accumulate, &mut out_block);
        }
        for (r, src) in out_block.chunks_exact(d).enumerate() {
            let (g, i) = (r / n_rows, r % n_rows);
            let head = i * heads + kv * geo.group + g;
            let out = &mut block.out[head * d..(head + 1) * d];
            out.copy_from_slice(src);
            // A row that saw no key has a zero sum and a zero output.
            if !one_block && sum[r] > 0.0 {
                vector::scale(out, 1.0 / sum[r]);
            }
            block.lse[head] = max[r] + sum[r].ln();
        }
    }
}

/// A `[batch, tokens, kv_heads, group, d]` buffer as the tensor `[batch, kv_heads, group, tokens,
/// d]` that it stores.
fn heads_major(values: Vec<f32>, [batch, tokens, kv_heads, group, d]: [usize; 5]) -> FlexTensor {
    tensor(values, Shape::new([batch, tokens, kv_heads, group, d])).permute(&[0, 2, 3, 1, 4])
}

#[derive(Debug)]
struct FusedAttention;

impl HostOp for FusedAttention {
    type Input<B: Backend> = Inputs<B>;
    type Output<B: Backend> = Tensor<B, 5>;

    fn inference(inputs: Inputs<Flex>) -> Tensor<Flex, 5> {
        let geo = Geometry::of(&inputs).expect("checked by fused_attention");
        let (q, k, v, bias) = inputs;
        let [q, k, v] = [q, k, v].map(|t| readable(t.into_primitive().tensor()));
        let bias = contiguous(bias.into_primitive().tensor());
        let (out, _) = forward(&Operands::new(geo, [&q, &k, &v, &bias]));
        Tensor::from_primitive(TensorPrimitive::Float(heads_major(out, geo.out_shape())))
    }

    fn training<C: CheckpointStrategy>(
        inputs: Inputs<Autodiff<Flex, C>>,
    ) -> Tensor<Autodiff<Flex, C>, 5> {
        let geo = Geometry::of(&inputs).expect("checked by fused_attention");
        let (q, k, v, bias) = inputs;
        let [q, k, v] = [q, k, v].map(|t| t.into_primitive().tensor());
        let [q_in, k_in, v_in] = [&q, &k, &v].map(|t| readable(t.primitive.clone()));
        let bias = contiguous(bias.inner().into_primitive().tensor());
        let (out, lse) = forward(&Operands::new(geo, [&q_in, &k_in, &v_in, &bias]));
        let out = tensor(out, Shape::new(geo.out_shape()));
        let lse = tensor(lse, Shape::new([lse_len(&geo)]));
        let result = out.permute(&[0, 2, 3, 1, 4]);
        let state = AttentionState { geo, q: q_in, k: k_in, v: v_in, bias, out, lse };
        Tensor::from_primitive(TensorPrimitive::Float(FusedAttention.recorded::<C>(
            [&q, &k, &v],
            state,
            result,
        )))
    }
}

impl Geometry {
    /// The token-major layout of the output and of the queries' gradient.
    fn out_shape(&self) -> [usize; 5] {
        [self.batch, self.queries, self.kv_heads, self.group, self.head_dim]
    }
}

fn lse_len(geo: &Geometry) -> usize {
    geo.batch * geo.queries * geo.heads()
}

/// What the backward pass needs: the inputs, the output (token-major) and the log-sum-exps.
#[derive(Clone, Debug)]
struct AttentionState {
    geo: Geometry,
    q: FlexTensor,
    k: FlexTensor,
    v: FlexTensor,
    bias: FlexTensor,
    out: FlexTensor,
    lse: FlexTensor,
}

impl Backward<Flex, 3> for FusedAttention {
    type State = AttentionState;

    fn backward(
        self,
        ops: Ops<Self::State, 3>,
        grads: &mut Gradients,
        _checkpointer: &mut Checkpointer,
    ) {
        let s = ops.state;
        let d_out = readable(grads.consume::<Flex>(&ops.node));
        let operands = Operands::new(s.geo, [&s.q, &s.k, &s.v, &s.bias]);
        let (dq, dk, dv) = backward(&operands, values(&s.out), values(&s.lse), &View::of(&d_out));
        let geo = s.geo;
        let kv_shape = [geo.batch, geo.keys, geo.kv_heads, 1, geo.head_dim];
        let grads_out = [
            heads_major(dq, geo.out_shape()),
            heads_major(dk, kv_shape),
            heads_major(dv, kv_shape),
        ];
        for (parent, grad) in ops.parents.iter().zip(grads_out) {
            if let Some(node) = parent {
                grads.register::<Flex>(node.id, grad);
            }
        }
    }
}

/// The blocks of one backward task: some query blocks of one batch row, with their rows of the
/// queries' gradient.
struct BackwardTask<'a> {
    b: usize,
    blocks: Vec<(std::ops::Range<usize>, &'a mut [f32])>,
}

/// The gradients with respect to q (`[batch, queries, kv_heads, group, d]`), k and v (each
/// `[batch, keys, kv_heads, d]`), given the output `out` and log-sum-exps `lse` (token-major).
///
/// Tasks take interleaved query blocks of one batch row (the causal mask makes later blocks
/// dearer) and add into key/value gradients of their own, summed at the end: enough tasks to
/// keep every core busy even for one long row.
fn backward(
    ops: &Operands,
    out: &[f32],
    lse: &[f32],
    d_out: &View,
) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let geo = ops.geo;
    let (heads, d) = (geo.heads(), geo.head_dim);
    let blocks_per_row = geo.queries.div_ceil(QUERY_BLOCK).max(1);
    let parts =
        (2 * rayon::current_num_threads()).div_ceil(geo.batch.max(1)).clamp(1, blocks_per_row);
    let mut dq = vec![0f32; geo.batch * geo.queries * heads * d];
    let mut tasks: Vec<BackwardTask> =
        (0..geo.batch * parts).map(|i| BackwardTask { b: i / parts, blocks: Vec::new() }).collect();
    for (b, row) in dq.chunks_mut((geo.queries * heads * d).max(1)).enumerate() {
        for (j, block) in row.chunks_mut(QUERY_BLOCK * heads * d).enumerate() {
            let start = j * QUERY_BLOCK;
            let rows = start..start + block.len() / (heads * d);
            tasks[b * parts + j % parts].blocks.push((rows, block));
        }
    }
    let kv_len = geo.keys * geo.kv_heads * d;
    let partials: Vec<(usize, Vec<f32>, Vec<f32>)> = tasks
        .into_par_iter()
        .map(|task| {
            let (mut dk, mut dv) = (vec![0f32; kv_len], vec![0f32; kv_len]);
            for (rows, dq) in task.blocks {
                backward_block(ops, out, lse, d_out, task.b, rows, dq, (&mut dk, &mut dv));
            }
            (task.b, dk, dv)
        })
        .collect();
    let (mut dk, mut dv) = (vec![0f32; geo.batch * kv_len], vec![0f32; geo.batch * kv_len]);
    for (b, part_dk, part_dv) in partials {
        let range = b * kv_len..(b + 1) * kv_len;
        for (total, part) in [(&mut dk[range.clone()], part_dk), (&mut dv[range], part_dv)] {
            total.iter_mut().zip(part).for_each(|(t, p)| *t += p);
        }
    }
    (dq, dk, dv)
}

/// One query block's share of the gradients: its rows of dq (written), and its terms of dk
/// and dv (added; `[keys, kv_heads, d]` for this batch row).
#[allow(clippy::too_many_arguments)]
fn backward_block(
    ops: &Operands,
    out: &[f32],
    lse: &[f32],
    d_out: &View,
    b: usize,
    rows: std::ops::Range<usize>,
    dq: &mut [f32],
    (dk, dv): (&mut [f32], &mut [f32]),
) {
    let geo = ops.geo;
    let (d, heads, n_rows) = (geo.head_dim, geo.heads(), rows.len());
    let n_block = geo.group * n_rows;
    let kv_stride = (geo.kv_heads * d) as isize;
    let mut q_block = vec![0f32; n_block * d];
    let mut d_out_block = vec![0f32; n_block * d];
    let mut dq_block = vec![0f32; n_block * d];
    let (mut probs, mut d_scores) = (Vec::new(), Vec::new());
    for kv in 0..geo.kv_heads {
        let (lo, hi) = geo.block_keys(&ops.ranges, b, kv, &rows);
        if hi <= lo {
            continue;
        }
        let n = hi - lo;
        ops.gather(&ops.q, b, kv, &rows, &mut q_block);
        ops.gather(d_out, b, kv, &rows, &mut d_out_block);
        probs.resize(n_block * n, 0.0);
        d_scores.resize(n_block * n, 0.0);
        ops.scores(&q_block, b, kv, (lo, hi), &mut probs);
        // The row's global index in the token-major output and log-sum-exps.
        let at = |r: usize| {
            ((b * geo.queries + rows.start + r % n_rows) * heads) + kv * geo.group + r / n_rows
        };
        for (r, row) in probs.chunks_exact_mut(n).enumerate() {
            let t = rows.start + r % n_rows;
            vector::exp_biased(row, ops.bias(b, kv, r / n_rows, t, (lo, hi)), lse[at(r)]);
        }
        let (dk, dv) =
            (&mut dk[(lo * geo.kv_heads + kv) * d..], &mut dv[(lo * geo.kv_heads + kv) * d..]);
        // `out += lhsᵀ rhs` for `lhs [n_block, n]` and `rhs [n_block, d]`, into keys lo..hi of
        // head `kv` of a key/value gradient (`dk` or `dv`).
        let add_transposed_product = |out: &mut [f32], lhs: &[f32], rhs: &[f32]| {
            assert!(lhs.len() == n_block * n && rhs.len() == n_block * d);
            // SAFETY: `lhs` and `rhs` are dense and sized as above; `out` holds keys lo..hi of
            // head `kv` at row stride `kv_stride`.
            unsafe {
                matmul(
                    n,
                    d,
                    n_block,
                    out.as_mut_ptr(),
                    kv_stride,
                    lhs.as_ptr(),
                    1,
                    n as isize,
                    rhs.as_ptr(),
                    d as isize,
                    1,
                    true,
                );
            }
        };
        // dV += Pᵀ dO
        add_transposed_product(dv, &probs, &d_out_block);
        // dP = dO Vᵀ
        ops.v.left_product(&d_out_block, [b, kv, 0, lo, 0], (n, d), true, false, &mut d_scores);
        for (r, (p, ds)) in probs.chunks_exact(n).zip(d_scores.chunks_exact_mut(n)).enumerate() {
            let o = &out[at(r) * d..(at(r) + 1) * d];
            let row_dot = vector::dot(&d_out_block[r * d..(r + 1) * d], o);
            vector::softmax_backward_in_place(p, ds, row_dot);
        }
        // dQ = dS K
        ops.k.left_product(&d_scores, [b, kv, 0, lo, 0], (n, d), false, false, &mut dq_block);
        // dK += dSᵀ Q
        add_transposed_product(dk, &d_scores, &q_block);
        for (r, src) in dq_block.chunks_exact(d).enumerate() {
            let (g, i) = (r / n_rows, r % n_rows);
            let at = (i * heads + kv * geo.group + g) * d;
            dq[at..at + d].copy_from_slice(src);
        }
    }
}
