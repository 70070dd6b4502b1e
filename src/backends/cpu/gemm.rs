//! Matrix products of the hand-written convolutions, by the `gemm` crate (the one burn-flex's
//! matmul calls), into buffers of our own.
//!
//! Why not `Flex::float_matmul`: its output is `FlexTensor::empty`, a zeroed byte vector that
//! cubecl then copies into a 16-byte-aligned allocation (`Bytes::from_bytes_vec` enforces the
//! alignment whatever the vector's). Both passes run on the calling thread with the other cores
//! idle: in the paper networks' iteration that was about 3.5 % of all CPU time, all of it serial
//! (perf, 2026-12-07). Here the output is zeroed by the tasks that will write it
//! ([`par_zeroed`]) and the product runs on rayon's threads from the start; strided operands
//! (a transposed weight or column matrix) are read in place, as burn does.

use burn::backend::flex::FlexTensor;

use super::buffers::{contiguous, par_zeroed, tensor, values};

/// Below this many multiply-adds a product runs on the calling thread: splitting it would cost
/// more than it saves (burn-flex's threshold for the same crate).
const PARALLEL_THRESHOLD: usize = 192 * 192 * 192;

/// A matrix read in place: element (i, j) of the `rows x cols` matrix is
/// `values[i * row_stride + j * col_stride]`.
#[derive(Clone, Copy, Debug)]
pub(super) struct MatRef<'a> {
    values: &'a [f32],
    rows: usize,
    cols: usize,
    row_stride: usize,
    col_stride: usize,
}

impl<'a> MatRef<'a> {
    /// The first `rows * cols` values of `values` as a row-major `rows x cols` matrix.
    ///
    /// # Panics
    /// If `values` holds fewer than `rows * cols` values.
    pub(super) fn row_major(values: &'a [f32], rows: usize, cols: usize) -> Self {
        assert!(
            rows.checked_mul(cols).is_some_and(|e| e <= values.len()),
            "a {rows} x {cols} matrix over {} values",
            values.len()
        );
        Self {
            values,
            rows,
            cols,
            row_stride: cols,
            col_stride: 1,
        }
    }

    /// The transposed matrix, read in place.
    pub(super) fn t(self) -> Self {
        Self {
            rows: self.cols,
            cols: self.rows,
            row_stride: self.col_stride,
            col_stride: self.row_stride,
            ..self
        }
    }
}

/// `lhs [m, k] x rhs [k, n]` as a row-major `[m, n]` vector.
///
/// # Panics
/// If the inner dimensions differ, or `m * n` overflows.
pub(super) fn matmul(lhs: MatRef, rhs: MatRef) -> Vec<f32> {
    assert_eq!(lhs.cols, rhs.rows, "matmul of {lhs:?} by {rhs:?}");
    let (m, k, n) = (lhs.rows, lhs.cols, rhs.cols);
    // The tasks zero their runs of the output; gemm then writes every value without reading
    // it (`read_dst` false), so no value is left as it was allocated.
    let Some(len) = m.checked_mul(n) else {
        panic!("a {m} x {n} product overflows");
    };
    let mut out = par_zeroed(len, 1 << 14, |_, _| {});
    if m == 0 || n == 0 {
        return out;
    }
    let parallelism = if m.saturating_mul(k).saturating_mul(n) >= PARALLEL_THRESHOLD {
        ::gemm::Parallelism::Rayon(0)
    } else {
        ::gemm::Parallelism::None
    };
    // SAFETY: `row_major` checked that each operand's values cover its last element
    // ((rows - 1) * row_stride + (cols - 1) * col_stride < rows * cols <= len, and `t` only
    // swaps the two), `out` holds the m x n row-major destination, and nothing else borrows it.
    unsafe {
        ::gemm::gemm(
            m,
            n,
            k,
            out.as_mut_ptr(),
            1,
            n as isize,
            false,
            lhs.values.as_ptr(),
            lhs.col_stride as isize,
            lhs.row_stride as isize,
            rhs.values.as_ptr(),
            rhs.col_stride as isize,
            rhs.row_stride as isize,
            0.0,
            1.0,
            false,
            false,
            false,
            parallelism,
        );
    }
    out
}

/// [`matmul`] of two 2-D `f32` tensors, [m, k] x [k, n] -> [m, n]: a transposed view of a
/// contiguous tensor is read in place, any other layout is copied into order first.
pub(super) fn matmul_tensors(lhs: &FlexTensor, rhs: &FlexTensor) -> FlexTensor {
    debug_assert_eq!(lhs.layout().shape().num_dims(), 2);
    debug_assert_eq!(rhs.layout().shape().num_dims(), 2);
    let (lhs, lhs_t) = in_order(lhs);
    let (rhs, rhs_t) = in_order(rhs);
    let (lhs_values, rhs_values) = (values(&lhs), values(&rhs));
    let operand = |x: &FlexTensor, values, transposed: bool| {
        let s = x.layout().shape();
        let m = MatRef::row_major(values, s[0], s[1]);
        if transposed { m.t() } else { m }
    };
    let a = operand(&lhs, &lhs_values, lhs_t);
    let b = operand(&rhs, &rhs_values, rhs_t);
    let (m, n) = (a.rows, b.cols);
    tensor(matmul(a, b), [m, n])
}

/// `x` [r, c] as a contiguous tensor and whether it stands for its transpose: `x` itself when
/// contiguous, `x^T` (contiguous, [c, r]) with `true` when that is how `x` is stored, else a
/// copy in order.
fn in_order(x: &FlexTensor) -> (FlexTensor, bool) {
    if x.is_contiguous() {
        return (x.clone(), false);
    }
    let t = x.clone().transpose(0, 1);
    if t.is_contiguous() {
        (t, true)
    } else {
        (contiguous(x.clone()), false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The product by its definition.
    fn naive(a: &[f32], b: &[f32], m: usize, k: usize, n: usize) -> Vec<f32> {
        (0..m * n)
            .map(|ij| (0..k).map(|l| a[ij / n * k + l] * b[l * n + ij % n]).sum())
            .collect()
    }

    #[test]
    fn products_of_matrices_and_their_transposes() {
        // Large enough for the parallel path (200^3 > 192^3) and small ones.
        for (m, k, n) in [(2, 3, 4), (1, 5, 1), (200, 200, 200), (7, 1, 3)] {
            let a: Vec<f32> = (0..m * k)
                .map(|i| ((i * 7 % 13) as f32 - 6.0) / 8.0)
                .collect();
            let b: Vec<f32> = (0..k * n)
                .map(|i| ((i * 5 % 11) as f32 - 5.0) / 4.0)
                .collect();
            let expected = naive(&a, &b, m, k, n);
            let close = |got: Vec<f32>| {
                assert_eq!(got.len(), m * n);
                for (g, e) in got.iter().zip(&expected) {
                    assert!((g - e).abs() <= 1e-4 * (1.0 + e.abs()), "{g} vs {e}");
                }
            };
            close(matmul(
                MatRef::row_major(&a, m, k),
                MatRef::row_major(&b, k, n),
            ));
            // The same operands stored transposed, read through `t`.
            let a_t: Vec<f32> = (0..k * m).map(|i| a[(i % m) * k + i / m]).collect();
            let b_t: Vec<f32> = (0..n * k).map(|i| b[(i % k) * n + i / k]).collect();
            close(matmul(
                MatRef::row_major(&a_t, k, m).t(),
                MatRef::row_major(&b_t, n, k).t(),
            ));
        }
    }

    #[test]
    fn products_of_tensors_and_their_views() {
        let a: Vec<f32> = (0..6).map(|v| v as f32).collect(); // [[0, 1, 2], [3, 4, 5]]
        let b: Vec<f32> = (0..6).map(|v| (v as f32) - 2.0).collect();
        let (a, b) = (tensor(a, [2, 3]), tensor(b, [3, 2])); // b = [[-2, -1], [0, 1], [2, 3]]
        let got = |x: FlexTensor| values(&x).into_owned();
        // a x b = [[4, 7], [4, 16]].
        assert_eq!(got(matmul_tensors(&a, &b)), [4.0, 7.0, 4.0, 16.0]);
        // Transposed views read in place: b^T x a^T = (a x b)^T.
        let (at, bt) = (a.clone().transpose(0, 1), b.clone().transpose(0, 1));
        assert_eq!(got(matmul_tensors(&bt, &at)), [4.0, 4.0, 7.0, 16.0]);
        // A strided view that is not a transpose is copied: columns 1 and 2 of a [2, 4].
        let narrow = tensor((0..8).map(|v| v as f32).collect(), [2, 4]).narrow(1, 1, 2);
        assert!(!narrow.is_contiguous());
        // [[1, 2], [5, 6]] x [[-2, -1], [0, 1]] = [[-2, 1], [-10, 1]].
        let b2 = b.narrow(0, 0, 2);
        assert_eq!(got(matmul_tensors(&narrow, &b2)), [-2.0, 1.0, -10.0, 1.0]);
    }

    #[test]
    fn empty_products() {
        assert!(
            matmul(
                MatRef::row_major(&[], 0, 3),
                MatRef::row_major(&[0.0; 6], 3, 2)
            )
            .is_empty()
        );
        // k = 0: every value is a sum of nothing.
        assert_eq!(
            matmul(MatRef::row_major(&[], 2, 0), MatRef::row_major(&[], 0, 2)),
            [0.0; 4]
        );
    }

    #[test]
    #[should_panic(expected = "matmul of")]
    fn inner_dimensions_must_agree() {
        matmul(
            MatRef::row_major(&[0.0; 6], 2, 3),
            MatRef::row_major(&[0.0; 6], 2, 3),
        );
    }
}
