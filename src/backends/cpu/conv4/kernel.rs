//! The data movement of [`super`]'s convolutions on plain slices, in parallel: im2col, its
//! adjoint col2im, and the batch/channel transpositions around the one matrix product.
//!
//! A 4x4, stride-2, padding-1 convolution maps a "big" image [n, c_big, h, w] (h, w even) to a
//! "small" one [n, c_small, h/2, w/2]; its transposed convolution maps small to big. Both use
//! the columns of the big image: row `c * 16 + kh * 4 + kw`, column `image * P + oy * (w/2) + ox`
//! (P = h/2 * w/2 small pixels) holds `big[image, c, 2 oy + kh - 1, 2 ox + kw - 1]` (0 outside).

use rayon::prelude::*;

use super::super::buffers::par_zeroed;

/// Values per parallel task of the element-wise passes.
const TASK: usize = 1 << 14;

/// The big image's batch size and sides (both even).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Geometry {
    /// Images.
    pub n: usize,
    /// Height of the big image.
    pub h: usize,
    /// Width of the big image.
    pub w: usize,
}

impl Geometry {
    /// Small pixels per image.
    pub fn p(&self) -> usize {
        (self.h / 2) * (self.w / 2)
    }

    /// Columns of the column matrix: small pixels of the whole batch.
    pub fn columns(&self) -> usize {
        self.n * self.p()
    }
}

/// The big image's pixel row (or column) seen by tap `k` of small pixel `o`, if inside.
fn source(o: usize, k: usize, side: usize) -> Option<usize> {
    (2 * o + k).checked_sub(1).filter(|&i| i < side)
}

/// The four rows `kw` = 0..4 of one kernel row over one row of small pixels:
/// `rows[kw][ox] = src[2 ox + kw - 1]` (`src` a row of the big image, `2 ow` pixels), 0 where
/// that reads the padding (`ox = 0` for `kw = 0`, the last one for `kw = 3`). One pass splits
/// `src` into its even and odd pixels (`kw` = 1 and 2); `kw` = 0 and 3 are those shifted by one.
fn tap_rows([d0, d1, d2, d3]: [&mut [f32]; 4], src: &[f32]) {
    let ow = d1.len();
    debug_assert_eq!(src.len(), 2 * ow);
    for ((even, odd), pair) in d1.iter_mut().zip(d2.iter_mut()).zip(src.chunks_exact(2)) {
        *even = pair[0];
        *odd = pair[1];
    }
    d0[0] = 0.0;
    d0[1..].copy_from_slice(&d2[..ow - 1]);
    d3[..ow - 1].copy_from_slice(&d1[1..]);
    d3[ow - 1] = 0.0;
}

/// Columns [c * 16, n * P] of `big` [n, c, h, w]. Parallel over (channel, kernel row) pairs,
/// each writing its four consecutive rows.
pub fn im2col(big: &[f32], c: usize, g: Geometry) -> Vec<f32> {
    let (oh, ow, p, columns) = (g.h / 2, g.w / 2, g.p(), g.columns());
    par_zeroed(c * 16 * columns, 4 * columns, |unit, out| {
        let (ch, kh) = (unit / 4, unit % 4);
        let (d0, rest) = out.split_at_mut(columns);
        let (d1, rest) = rest.split_at_mut(columns);
        let (d2, d3) = rest.split_at_mut(columns);
        for image in 0..g.n {
            let plane = &big[(image * c + ch) * g.h * g.w..][..g.h * g.w];
            for oy in 0..oh {
                // The padding rows (no source) stay as `par_zeroed` handed them: 0.
                if let Some(iy) = source(oy, kh, g.h) {
                    let at = image * p + oy * ow;
                    let rows = [
                        &mut d0[at..][..ow],
                        &mut d1[at..][..ow],
                        &mut d2[at..][..ow],
                        &mut d3[at..][..ow],
                    ];
                    tap_rows(rows, &plane[iy * g.w..][..g.w]);
                }
            }
        }
    })
}

/// Adds to `row` (a row of the big image, `2 ow` pixels) the four taps `kw` = 0..4 of one
/// kernel row: `taps[kw]` holds the `ow` column values of one row of small pixels. Pixel
/// `2 j` takes `kw = 1` of small pixel `j` and then `kw = 3` of `j - 1`; pixel `2 j + 1` takes
/// `kw = 0` of `j + 1` and then `kw = 2` of `j`. With `FIRST`, `row`'s previous values are not
/// read (the row's first kernel row), so it needs no zeroing.
fn add_kernel_row<const FIRST: bool>(row: &mut [f32], taps: [&[f32]; 4]) {
    let ow = taps[0].len();
    let [t0, t1, t2, t3] = taps;
    // Pixel pairs (2 j, 2 j + 1) for j in 1..ow - 1 have all four taps; the two ends lack one.
    let start = |v: f32, base: f32| if FIRST { v } else { base + v };
    row[0] = start(t1[0], row[0]);
    if ow > 1 {
        row[1] = start(t0[1], row[1]) + t2[0];
        for (j, pair) in row.chunks_exact_mut(2).enumerate().take(ow - 1).skip(1) {
            pair[0] = start(t1[j], pair[0]) + t3[j - 1];
            pair[1] = start(t0[j + 1], pair[1]) + t2[j];
        }
        let j = ow - 1;
        row[2 * j] = start(t1[j], row[2 * j]) + t3[j - 1];
        row[2 * j + 1] = start(t2[j], row[2 * j + 1]);
    } else {
        row[1] = start(t2[0], row[1]);
    }
}

/// The adjoint of [`im2col`]: big [n, c, h, w] with every column value added back to the pixel it
/// was read from (then `bias[ch]` added to channel `ch`, when given). Each pixel sums its (at
/// most) four taps in a fixed order: kernel rows `kh` of one parity in increasing order (row
/// `2 i` takes `kh = 1` of small row `i`, then `kh = 3` of `i - 1`; row `2 i + 1` takes `kh = 0`
/// of `i + 1`, then `kh = 2` of `i`), and within each the order of [`add_kernel_row`].
pub fn col2im(cols: &[f32], c: usize, g: Geometry, bias: Option<&[f32]>) -> Vec<f32> {
    let (oh, ow, p, columns) = (g.h / 2, g.w / 2, g.p(), g.columns());
    par_zeroed(g.n * c * g.h * g.w, g.h * g.w, |plane_index, plane| {
        let (image, ch) = (plane_index / c, plane_index % c);
        // The four taps kw of kernel row kh for small row oy.
        let taps = |kh: usize, oy: usize| {
            let at =
                |kw: usize| &cols[(ch * 16 + kh * 4 + kw) * columns + image * p + oy * ow..][..ow];
            [at(0), at(1), at(2), at(3)]
        };
        for (iy, row) in plane.chunks_exact_mut(g.w).enumerate() {
            let i = iy / 2;
            // (kh, oy) of the row's taps, in order; the second is absent at the edges.
            let (first, second) = if iy % 2 == 0 {
                ((1, i), i.checked_sub(1).map(|o| (3, o)))
            } else if i + 1 < oh {
                ((0, i + 1), Some((2, i)))
            } else {
                ((2, i), None)
            };
            add_kernel_row::<true>(row, taps(first.0, first.1));
            if let Some((kh, oy)) = second {
                add_kernel_row::<false>(row, taps(kh, oy));
            }
            if let Some(bias) = bias {
                row.iter_mut().for_each(|v| *v += bias[ch]);
            }
        }
    })
}

/// [n, c, p] -> [c, n * p]: each channel's pixels of all images in one row.
pub fn to_channel_major(x: &[f32], n: usize, c: usize, p: usize) -> Vec<f32> {
    par_zeroed(x.len(), n * p, |ch, row| {
        for (image, dst) in row.chunks_mut(p).enumerate() {
            dst.copy_from_slice(&x[(image * c + ch) * p..][..p]);
        }
    })
}

/// [c, n * p] -> [n, c, p], adding `bias[ch]` to channel `ch` when given.
pub fn from_channel_major(
    x: &[f32],
    n: usize,
    c: usize,
    p: usize,
    bias: Option<&[f32]>,
) -> Vec<f32> {
    par_zeroed(x.len(), p, |plane, dst| {
        channel_plane(x, n, c, p, bias, plane, dst)
    })
}

/// [`from_channel_major`] into `out` ([n, c, p] values).
pub fn from_channel_major_into(
    x: &[f32],
    n: usize,
    c: usize,
    p: usize,
    bias: Option<&[f32]>,
    out: &mut [f32],
) {
    out.par_chunks_mut(p)
        .enumerate()
        .for_each(|(plane, dst)| channel_plane(x, n, c, p, bias, plane, dst));
}

/// Plane `plane` (image `plane / c`, channel `plane % c`) of [`from_channel_major`] into `dst`.
fn channel_plane(
    x: &[f32],
    n: usize,
    c: usize,
    p: usize,
    bias: Option<&[f32]>,
    plane: usize,
    dst: &mut [f32],
) {
    let (image, ch) = (plane / c, plane % c);
    let src = &x[ch * n * p + image * p..][..p];
    match bias {
        Some(b) => dst.iter_mut().zip(src).for_each(|(d, s)| *d = s + b[ch]),
        None => dst.copy_from_slice(src),
    }
}

/// Adds `bias[ch]` to every pixel of channel `ch` of `x` [n, c, p], in place.
pub fn add_bias(x: &mut [f32], c: usize, p: usize, bias: &[f32]) {
    let planes_per_task = (TASK / p.max(1)).max(1);
    x.par_chunks_mut(planes_per_task * p)
        .enumerate()
        .for_each(|(t, chunk)| {
            for (i, plane) in chunk.chunks_mut(p).enumerate() {
                let b = bias[(t * planes_per_task + i) % c];
                plane.iter_mut().for_each(|v| *v += b);
            }
        });
}

/// The bias gradient: the sum of `grad` [n, c, p] over images and pixels, per channel. Summed in
/// `f64`: before an InstanceNorm this gradient is zero up to rounding, and an `f32` sum of
/// thousands of such values is mostly the rounding of the sum itself.
pub fn bias_grad(grad: &[f32], n: usize, c: usize, p: usize) -> Vec<f32> {
    (0..c)
        .into_par_iter()
        .map(|ch| {
            let plane = |image: usize| &grad[(image * c + ch) * p..][..p];
            let sum: f64 = (0..n)
                .flat_map(|image| plane(image).iter())
                .map(|&v| f64::from(v))
                .sum();
            sum as f32
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_by_hand() {
        // One 4x4 image, one channel, values 1..=16: small pixel (0, 0) sees rows -1..=2 and
        // columns -1..=2 of the image (row/column -1 is padding).
        let big: Vec<f32> = (1..=16).map(|v| v as f32).collect();
        let g = Geometry { n: 1, h: 4, w: 4 };
        let cols = im2col(&big, 1, g);
        let tap = |kh: usize, kw: usize, pixel: usize| cols[(kh * 4 + kw) * 4 + pixel];
        assert_eq!(tap(0, 0, 0), 0.0);
        assert_eq!(tap(1, 1, 0), 1.0);
        assert_eq!(tap(2, 3, 0), 7.0);
        // Small pixel (1, 1) = index 3: tap (1, 1) reads big (2, 2) = 11, tap (3, 3) is padding.
        assert_eq!(tap(1, 1, 3), 11.0);
        assert_eq!(tap(3, 3, 3), 0.0);
    }

    #[test]
    fn col2im_is_the_adjoint_of_im2col() {
        // <im2col(x), y> = <x, col2im(y)> for any x, y.
        let g = Geometry { n: 2, h: 6, w: 4 };
        let c = 3;
        let x: Vec<f32> = (0..g.n * c * g.h * g.w)
            .map(|i| ((i * 37 % 23) as f32 - 11.0) / 7.0)
            .collect();
        let y: Vec<f32> = (0..c * 16 * g.columns())
            .map(|i| ((i * 53 % 29) as f32 - 14.0) / 9.0)
            .collect();
        let dot = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(a, b)| (a * b) as f64).sum::<f64>();
        let (lhs, rhs) = (dot(&im2col(&x, c, g), &y), dot(&x, &col2im(&y, c, g, None)));
        assert!((lhs - rhs).abs() < 1e-3, "{lhs} vs {rhs}");
    }

    /// im2col by its definition, one value at a time.
    fn im2col_by_definition(big: &[f32], c: usize, g: Geometry) -> Vec<f32> {
        let (ow, p) = (g.w / 2, g.p());
        let mut cols = vec![0.0; c * 16 * g.columns()];
        for (row, out) in cols.chunks_mut(g.columns()).enumerate() {
            let (ch, kh, kw) = (row / 16, (row / 4) % 4, row % 4);
            for (column, v) in out.iter_mut().enumerate() {
                let (image, oy, ox) = (column / p, (column % p) / ow, column % ow);
                if let (Some(iy), Some(ix)) = (source(oy, kh, g.h), source(ox, kw, g.w)) {
                    *v = big[((image * c + ch) * g.h + iy) * g.w + ix];
                }
            }
        }
        cols
    }

    /// col2im by its definition: each pixel adds its taps, kernel rows then columns of its
    /// parity in increasing order (the order [`col2im`] promises).
    fn col2im_by_definition(cols: &[f32], c: usize, g: Geometry) -> Vec<f32> {
        let (oh, ow, p) = (g.h / 2, g.w / 2, g.p());
        let mut big = vec![0.0; g.n * c * g.h * g.w];
        for (index, v) in big.iter_mut().enumerate() {
            let (plane, iy, ix) = (index / (g.h * g.w), (index / g.w) % g.h, index % g.w);
            let (image, ch) = (plane / c, plane % c);
            for kh in ((iy + 1) % 2..4).step_by(2) {
                let Some(oy) = (iy + 1).checked_sub(kh).map(|v| v / 2).filter(|&o| o < oh) else {
                    continue;
                };
                for kw in ((ix + 1) % 2..4).step_by(2) {
                    let Some(ox) = (ix + 1).checked_sub(kw).map(|v| v / 2).filter(|&o| o < ow)
                    else {
                        continue;
                    };
                    *v += cols[(ch * 16 + kh * 4 + kw) * g.columns() + image * p + oy * ow + ox];
                }
            }
        }
        big
    }

    #[test]
    fn im2col_and_col2im_equal_their_definitions_bit_for_bit() {
        // Sides of 2 (one small pixel: both ends at once), 4 and 6, square or not.
        for (n, c, h, w) in [
            (1, 1, 2, 2),
            (2, 3, 6, 4),
            (1, 2, 4, 8),
            (3, 1, 2, 6),
            (2, 2, 8, 2),
        ] {
            let g = Geometry { n, h, w };
            let big: Vec<f32> = (0..n * c * h * w)
                .map(|i| ((i * 37 % 23) as f32 - 11.0) / 7.0)
                .collect();
            assert_eq!(
                im2col(&big, c, g),
                im2col_by_definition(&big, c, g),
                "{g:?}"
            );
            let cols: Vec<f32> = (0..c * 16 * g.columns())
                .map(|i| ((i * 53 % 29) as f32 - 14.0) / 9.0)
                .collect();
            let expected = col2im_by_definition(&cols, c, g);
            assert_eq!(col2im(&cols, c, g, None), expected, "{g:?}");
            // With a bias: added to each pixel's sum.
            let bias: Vec<f32> = (0..c).map(|ch| 0.25 + ch as f32).collect();
            let mut with_bias = expected;
            add_bias(&mut with_bias, c, h * w, &bias);
            assert_eq!(col2im(&cols, c, g, Some(&bias)), with_bias, "{g:?}");
        }
    }

    #[test]
    fn channel_major_round_trip_with_bias() {
        let (n, c, p) = (2, 3, 4);
        let x: Vec<f32> = (0..n * c * p).map(|v| v as f32).collect();
        let cm = to_channel_major(&x, n, c, p);
        // Channel 1's row: image 0's pixels 4..8, then image 1's 16..20.
        assert_eq!(&cm[8..16], &[4.0, 5.0, 6.0, 7.0, 16.0, 17.0, 18.0, 19.0]);
        assert_eq!(from_channel_major(&cm, n, c, p, None), x);
        let bias = [10.0, 20.0, 30.0];
        let mut with_bias = x.clone();
        add_bias(&mut with_bias, c, p, &bias);
        assert_eq!(from_channel_major(&cm, n, c, p, Some(&bias)), with_bias);
        assert_eq!(with_bias[5], 5.0 + 20.0);
        // Sum over images and pixels: channel 0 = 0+1+2+3 + 12+13+14+15.
        assert_eq!(bias_grad(&x, n, c, p)[0], 60.0);
    }
}
