//! Direct `gemm` calls. [`matmul`] runs on the calling thread, for kernels that run many small
//! matmuls in parallel tasks of their own (a few hundred rows against a short inner dimension
//! run near a core's peak alone but scale poorly when split across threads); [`product`] makes
//! a whole product into a new tensor, on every thread when it is large (the linear layers).

use burn::backend::flex::FlexTensor;

/// `out [m, n] (+)= lhs [m, k] x rhs [k, n]`, `out` by row stride (columns dense), operands by
/// row and column strides; with `accumulate` the product is added to `out`, otherwise `out` is
/// overwritten without being read (it may be uninitialised memory).
///
/// # Safety
/// The pointers must cover the shapes under the given strides.
#[allow(clippy::too_many_arguments)]
pub(super) unsafe fn matmul(
    m: usize,
    n: usize,
    k: usize,
    out: *mut f32,
    out_row_stride: isize,
    lhs: *const f32,
    lhs_row_stride: isize,
    lhs_col_stride: isize,
    rhs: *const f32,
    rhs_row_stride: isize,
    rhs_col_stride: isize,
    accumulate: bool,
) {
    gemm_call(
        [m, n, k],
        out,
        out_row_stride,
        (lhs, lhs_row_stride, lhs_col_stride),
        (rhs, rhs_row_stride, rhs_col_stride),
        accumulate,
        gemm::Parallelism::None,
    );
}

/// The one `gemm` call of both [`matmul`] and [`product`]: operands as (pointer, row stride,
/// column stride); without `accumulate`, `out` is written without being read.
///
/// # Safety
/// As [`matmul`].
unsafe fn gemm_call(
    [m, n, k]: [usize; 3],
    out: *mut f32,
    out_row_stride: isize,
    (lhs, lhs_row_stride, lhs_col_stride): (*const f32, isize, isize),
    (rhs, rhs_row_stride, rhs_col_stride): (*const f32, isize, isize),
    accumulate: bool,
    parallelism: gemm::Parallelism,
) {
    gemm::gemm(
        m,
        n,
        k,
        out,
        1,
        out_row_stride,
        accumulate,
        lhs,
        lhs_col_stride,
        lhs_row_stride,
        rhs,
        rhs_col_stride,
        rhs_row_stride,
        1.0,
        1.0,
        false,
        false,
        false,
        parallelism,
    );
}

/// A 2-D f32 operand of [`product`]: a tensor's values, its first element and its strides (in
/// elements), so that a transposed view is a matrix too.
#[derive(Clone, Copy)]
pub(super) struct Matrix<'a> {
    values: &'a [f32],
    start: usize,
    rows: usize,
    cols: usize,
    row_stride: isize,
    col_stride: isize,
}

impl<'a> Matrix<'a> {
    /// A 2-D f32 tensor as it is laid out (contiguous or not).
    pub(super) fn of(t: &'a FlexTensor) -> Self {
        let layout = t.layout();
        let (shape, strides) = (layout.shape(), layout.strides());
        assert_eq!(shape.num_dims(), 2, "a matrix");
        Matrix {
            values: t.storage::<f32>(),
            start: layout.start_offset(),
            rows: shape[0],
            cols: shape[1],
            row_stride: strides[0],
            col_stride: strides[1],
        }
    }

    /// The transposed matrix: the same values, strides swapped.
    pub(super) fn t(self) -> Self {
        Matrix {
            rows: self.cols,
            cols: self.rows,
            row_stride: self.col_stride,
            col_stride: self.row_stride,
            ..self
        }
    }
}

/// Products smaller than this many multiply-adds run on the calling thread (Burn's threshold).
const PARALLEL_MACS: usize = 192 * 192 * 192;

/// `lhs x rhs` as a new row-major `[lhs.rows, rhs.cols]` tensor, written once by `gemm`: no
/// zero-filled buffer first, no copy after (Burn's CPU matmul does both). The `gemm` call
/// (strides, parallelism) is the one Burn makes, so the values are the same.
pub(super) fn product(lhs: Matrix, rhs: Matrix) -> FlexTensor {
    assert_eq!(lhs.cols, rhs.rows, "inner dimensions");
    let (m, n, k) = (lhs.rows, rhs.cols, lhs.cols);
    let parallelism = if m.saturating_mul(n).saturating_mul(k) >= PARALLEL_MACS {
        gemm::Parallelism::Rayon(0)
    } else {
        gemm::Parallelism::None
    };
    let mut out = Vec::<f32>::with_capacity(m * n);
    // Safety: the operands' values cover their shapes under their strides (they come from
    // Burn's layouts), `out` has room for m x n, and gemm without `read_dst` writes every
    // element before `set_len` exposes them.
    unsafe {
        if k == 0 {
            out.as_mut_ptr().write_bytes(0, m * n);
        } else {
            let (lhs, rhs) = (
                (lhs.values.as_ptr().add(lhs.start), lhs.row_stride, lhs.col_stride),
                (rhs.values.as_ptr().add(rhs.start), rhs.row_stride, rhs.col_stride),
            );
            gemm_call([m, n, k], out.as_mut_ptr(), n as isize, lhs, rhs, false, parallelism);
        }
        out.set_len(m * n);
    }
    super::tensor(out, [m, n].into())
}
