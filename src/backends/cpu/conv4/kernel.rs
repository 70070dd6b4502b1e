//! The data movement of [`super`]'s convolutions on plain slices, in parallel: im2col, its
//! adjoint col2im, and the batch/channel transpositions around the one matrix product.
//!
//! A 4x4, stride-2, padding-1 convolution maps a "big" image [n, c_big, h, w] (h, w even) to a
//! "small" one [n, c_small, h/2, w/2]; its transposed convolution maps small to big. Both use
//! the columns of the big image: row `c * 16 + kh * 4 + kw`, column `image * P + oy * (w/2) + ox`
//! (P = h/2 * w/2 small pixels) holds `big[image, c, 2 oy + kh - 1, 2 ox + kw - 1]` (0 outside).

use rayon::prelude::*;

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

/// Columns [c * 16, n * P] of `big` [n, c, h, w].
pub fn im2col(big: &[f32], c: usize, g: Geometry) -> Vec<f32> {
    let (oh, ow, p) = (g.h / 2, g.w / 2, g.p());
    let mut cols = vec![0.0; c * 16 * g.columns()];
    cols.par_chunks_mut(g.columns())
        .enumerate()
        .for_each(|(row, out)| {
            let (ch, kh, kw) = (row / 16, (row / 4) % 4, row % 4);
            for image in 0..g.n {
                let plane = &big[(image * c + ch) * g.h * g.w..][..g.h * g.w];
                for oy in 0..oh {
                    let Some(iy) = source(oy, kh, g.h) else {
                        continue; // the row stays 0 (padding)
                    };
                    let src = &plane[iy * g.w..][..g.w];
                    let dst = &mut out[image * p + oy * ow..][..ow];
                    for (ox, d) in dst.iter_mut().enumerate() {
                        if let Some(ix) = source(ox, kw, g.w) {
                            *d = src[ix];
                        }
                    }
                }
            }
        });
    cols
}

/// The adjoint of [`im2col`]: big [n, c, h, w] with every column value added back to the pixel it
/// was read from. Each pixel gathers its (at most) four taps in a fixed order.
pub fn col2im(cols: &[f32], c: usize, g: Geometry) -> Vec<f32> {
    let (oh, ow, p, columns) = (g.h / 2, g.w / 2, g.p(), g.columns());
    let mut big = vec![0.0; g.n * c * g.h * g.w];
    big.par_chunks_mut(g.h * g.w)
        .enumerate()
        .for_each(|(plane_index, plane)| {
            let (image, ch) = (plane_index / c, plane_index % c);
            for (iy, row) in plane.chunks_mut(g.w).enumerate() {
                // Taps kh with 2 oy + kh - 1 = iy: kh of iy + 1's parity, oy = (iy + 1 - kh) / 2.
                for kh in ((iy + 1) % 2..4).step_by(2) {
                    let Some(oy) = (iy + 1).checked_sub(kh).map(|v| v / 2).filter(|&o| o < oh)
                    else {
                        continue;
                    };
                    for (ix, v) in row.iter_mut().enumerate() {
                        for kw in ((ix + 1) % 2..4).step_by(2) {
                            let Some(ox) =
                                (ix + 1).checked_sub(kw).map(|v| v / 2).filter(|&o| o < ow)
                            else {
                                continue;
                            };
                            let r = ch * 16 + kh * 4 + kw;
                            *v += cols[r * columns + image * p + oy * ow + ox];
                        }
                    }
                }
            }
        });
    big
}

/// [n, c, p] -> [c, n * p]: each channel's pixels of all images in one row.
pub fn to_channel_major(x: &[f32], n: usize, c: usize, p: usize) -> Vec<f32> {
    let mut out = vec![0.0; x.len()];
    out.par_chunks_mut(n * p).enumerate().for_each(|(ch, row)| {
        for (image, dst) in row.chunks_mut(p).enumerate() {
            dst.copy_from_slice(&x[(image * c + ch) * p..][..p]);
        }
    });
    out
}

/// [c, n * p] -> [n, c, p], adding `bias[ch]` to channel `ch` when given.
pub fn from_channel_major(
    x: &[f32],
    n: usize,
    c: usize,
    p: usize,
    bias: Option<&[f32]>,
) -> Vec<f32> {
    let mut out = vec![0.0; x.len()];
    from_channel_major_into(x, n, c, p, bias, &mut out);
    out
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
    out.par_chunks_mut(p).enumerate().for_each(|(plane, dst)| {
        let (image, ch) = (plane / c, plane % c);
        let src = &x[ch * n * p + image * p..][..p];
        match bias {
            Some(b) => dst.iter_mut().zip(src).for_each(|(d, s)| *d = s + b[ch]),
            None => dst.copy_from_slice(src),
        }
    });
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
        let (lhs, rhs) = (dot(&im2col(&x, c, g), &y), dot(&x, &col2im(&y, c, g)));
        assert!((lhs - rhs).abs() < 1e-3, "{lhs} vs {rhs}");
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
