//! One `gemm` call on the calling thread, for kernels that run many small matmuls in parallel
//! tasks of their own (a few hundred rows against a short inner dimension run near a core's
//! peak alone but scale poorly when split across threads).

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
        gemm::Parallelism::None,
    );
}
