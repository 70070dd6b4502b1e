//! The data movement of [`super`]'s convolutions on plain slices, in parallel: im2col with the
//! padding (zero or reflection) and the nearest x2 upsampling read in place, and its adjoint
//! col2im; and for the output-side form, the taps' gather and its adjoint scatter.
//!
//! The input [n, c, h, w] is seen as a virtual image: upsampled by `up` (1 or 2), then padded
//! by `pad` on every side (zeros, or the mirror image without the edge, as PyTorch's
//! `ReflectionPad2d`). Column row `c * k² + kh * k + kw`, column `image * P + oy * ow + ox`
//! (P = oh * ow output pixels) holds the virtual pixel (oy * stride + kh, ox * stride + kw).

use std::ops::Range;

use super::super::buffers::par_zeroed;

/// The padding's values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Padding {
    /// Zeros.
    Zero,
    /// The mirror image, without repeating the edge.
    Reflect,
}

/// A convolution's shape: the input batch and sides, and what is done to them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Geometry {
    /// Images.
    pub n: usize,
    /// Input channels.
    pub c: usize,
    /// Input height, as stored.
    pub h: usize,
    /// Input width, as stored.
    pub w: usize,
    /// Nearest-neighbour upsampling factor before the padding (1: none).
    pub up: usize,
    /// Padding on every side, of the upsampled image.
    pub pad: usize,
    /// What the padding holds.
    pub padding: Padding,
    /// Kernel side.
    pub k: usize,
    /// Stride.
    pub stride: usize,
}

impl Geometry {
    /// Output height.
    pub fn oh(&self) -> usize {
        (self.h * self.up + 2 * self.pad - self.k) / self.stride + 1
    }

    /// Output width.
    pub fn ow(&self) -> usize {
        (self.w * self.up + 2 * self.pad - self.k) / self.stride + 1
    }

    /// Output pixels per image.
    pub fn p(&self) -> usize {
        self.oh() * self.ow()
    }

    /// Rows of the column matrix.
    pub fn rows(&self) -> usize {
        self.c * self.k * self.k
    }

    /// Whether the sides fit: the kernel inside the padded image, and a reflection narrower
    /// than the image it mirrors.
    pub fn fits(&self) -> bool {
        let (vh, vw) = (self.h * self.up, self.w * self.up);
        self.k > 0
            && self.stride > 0
            && self.up > 0
            && vh + 2 * self.pad >= self.k
            && vw + 2 * self.pad >= self.k
            && (self.padding == Padding::Zero || (self.pad < vh && self.pad < vw))
    }

    /// For tap `t` along a side of `side` stored pixels with `outputs` output positions: the
    /// output positions whose virtual pixel is inside the image (not padding), where the
    /// stored pixel read is `(first + (o - start) * stride) / up` without any table, and that
    /// `first` virtual pixel; `None` when every position reads padding (a small image with a
    /// wide zero padding).
    fn interior(&self, side: usize, outputs: usize, t: usize) -> Option<(Range<usize>, usize)> {
        let virtual_side = side * self.up;
        // o * stride + t >= pad, and o * stride + t < pad + virtual_side.
        let lo = self.pad.saturating_sub(t).div_ceil(self.stride);
        let hi = (self.pad + virtual_side)
            .saturating_sub(t)
            .div_ceil(self.stride)
            .min(outputs);
        (lo < hi).then(|| (lo..hi, lo * self.stride + t - self.pad))
    }

    /// The output positions of [`Self::interior`] as (start, end), empty when there are none:
    /// the padding's positions are `0..start` and `end..outputs`.
    fn interior_bounds(inside: &Option<(Range<usize>, usize)>) -> (usize, usize) {
        inside.as_ref().map_or((0, 0), |(r, _)| (r.start, r.end))
    }

    /// For output position `o` (0..outputs) and tap `t` (0..k) along a side of `side` stored
    /// pixels: the stored pixel read, or `None` for a zero of the padding. Indexed `o * k + t`.
    fn sources(&self, side: usize, outputs: usize) -> Vec<Option<usize>> {
        let virtual_side = (side * self.up) as isize;
        let mut table = Vec::with_capacity(outputs * self.k);
        for o in 0..outputs {
            for t in 0..self.k {
                let mut i = (o * self.stride + t) as isize - self.pad as isize;
                if self.padding == Padding::Reflect {
                    if i < 0 {
                        i = -i;
                    } else if i >= virtual_side {
                        i = 2 * (virtual_side - 1) - i;
                    }
                }
                let inside = (0..virtual_side).contains(&i);
                table.push(inside.then_some(i as usize / self.up));
            }
        }
        table
    }
}

/// Columns [rows, images.len() * P] of the images `images` of `x` [n, c, h, w].
pub fn im2col(x: &[f32], g: Geometry, images: std::ops::Range<usize>) -> Vec<f32> {
    let (oh, ow, p, k) = (g.oh(), g.ow(), g.p(), g.k);
    let (rows_of, cols_of) = (g.sources(g.h, oh), g.sources(g.w, ow));
    let columns = images.len() * p;
    par_zeroed(g.rows() * columns, columns, |row, out| {
        let (ch, kh, kw) = (row / (k * k), (row / k) % k, row % k);
        for (local, image) in images.clone().enumerate() {
            let plane = &x[(image * g.c + ch) * g.h * g.w..][..g.h * g.w];
            for oy in 0..oh {
                let Some(iy) = rows_of[oy * k + kh] else {
                    continue; // zeros of the padding
                };
                let src = &plane[iy * g.w..][..g.w];
                let dst = &mut out[local * p + oy * ow..][..ow];
                let inside = g.interior(g.w, ow, kw);
                let (lo, hi) = Geometry::interior_bounds(&inside);
                // The padding's columns through the table, the image's by arithmetic.
                for ox in (0..lo).chain(hi..ow) {
                    if let Some(ix) = cols_of[ox * k + kw] {
                        dst[ox] = src[ix];
                    }
                }
                if let Some((range, first)) = inside {
                    copy_interior(&mut dst[range], src, g, first);
                }
            }
        }
    })
}

/// The adjoint of [`im2col`] for the same images: [images.len(), c, h, w] with every column
/// value added to the stored pixel it was read from (the reflection's and the upsampling's
/// several reads of a pixel included). Parallel over (image, channel) planes, each gathering
/// its taps in a fixed order.
pub fn col2im(cols: &[f32], g: Geometry, images: usize) -> Vec<f32> {
    let (oh, ow, p, k) = (g.oh(), g.ow(), g.p(), g.k);
    let (rows_of, cols_of) = (g.sources(g.h, oh), g.sources(g.w, ow));
    let columns = images * p;
    par_zeroed(images * g.c * g.h * g.w, g.h * g.w, |plane_index, plane| {
        let (image, ch) = (plane_index / g.c, plane_index % g.c);
        for kh in 0..k {
            for kw in 0..k {
                let row = &cols[((ch * k + kh) * k + kw) * columns + image * p..][..p];
                for oy in 0..oh {
                    let Some(iy) = rows_of[oy * k + kh] else {
                        continue;
                    };
                    let dst = &mut plane[iy * g.w..][..g.w];
                    let row = &row[oy * ow..][..ow];
                    let inside = g.interior(g.w, ow, kw);
                    let (lo, hi) = Geometry::interior_bounds(&inside);
                    for ox in (0..lo).chain(hi..ow) {
                        if let Some(ix) = cols_of[ox * k + kw] {
                            dst[ix] += row[ox];
                        }
                    }
                    if let Some((range, first)) = inside {
                        add_interior(dst, &row[range], g, first);
                    }
                }
            }
        }
    })
}

/// The output-side form, for layers with fewer output than input channels or with an
/// upsampling (whose input has a quarter of the output's pixels): with `z` = the product of
/// the weight as [c_out k², c_in] and the input as [c_in, images h w] (each input pixel's
/// contribution to every tap), the output [images, c_out, oh, ow] gathers, for each of its
/// pixels, the k² taps' contributions of the pixels they read:
/// `y[o, oy, ox] = sum over kh, kw of z[(o k + kh) k + kw][image, src(oy, kh), src(ox, kw)]`.
/// Parallel over (image, output channel) planes.
pub fn gather_taps(z: &[f32], g: Geometry, c_out: usize, images: usize) -> Vec<f32> {
    let (oh, ow, k, hw) = (g.oh(), g.ow(), g.k, g.h * g.w);
    let (rows_of, cols_of) = (g.sources(g.h, oh), g.sources(g.w, ow));
    let columns = images * hw;
    par_zeroed(images * c_out * oh * ow, oh * ow, |plane_index, plane| {
        let (image, o) = (plane_index / c_out, plane_index % c_out);
        for kh in 0..k {
            for kw in 0..k {
                let row = &z[((o * k + kh) * k + kw) * columns + image * hw..][..hw];
                let inside = g.interior(g.w, ow, kw);
                let (lo, hi) = Geometry::interior_bounds(&inside);
                for oy in 0..oh {
                    let Some(iy) = rows_of[oy * k + kh] else {
                        continue;
                    };
                    let src = &row[iy * g.w..][..g.w];
                    let dst = &mut plane[oy * ow..][..ow];
                    for ox in (0..lo).chain(hi..ow) {
                        if let Some(ix) = cols_of[ox * k + kw] {
                            dst[ox] += src[ix];
                        }
                    }
                    if let Some((range, first)) = &inside {
                        accumulate_interior(&mut dst[range.clone()], src, g, *first);
                    }
                }
            }
        }
    })
}

/// The adjoint of [`gather_taps`]: from the output's gradient [images, c_out, oh, ow], the
/// gradient of `z` [c_out k², images h w], each tap's row adding the output gradient back to
/// the pixels it read. Parallel over the rows of `z`.
pub fn scatter_taps(grad: &[f32], g: Geometry, c_out: usize, images: usize) -> Vec<f32> {
    let (oh, ow, k, hw) = (g.oh(), g.ow(), g.k, g.h * g.w);
    let (rows_of, cols_of) = (g.sources(g.h, oh), g.sources(g.w, ow));
    par_zeroed(c_out * k * k * images * hw, images * hw, |r, row| {
        let (o, kh, kw) = (r / (k * k), (r / k) % k, r % k);
        let inside = g.interior(g.w, ow, kw);
        let (lo, hi) = Geometry::interior_bounds(&inside);
        for image in 0..images {
            let plane = &grad[(image * c_out + o) * oh * ow..][..oh * ow];
            let dst_plane = &mut row[image * hw..][..hw];
            for oy in 0..oh {
                let Some(iy) = rows_of[oy * k + kh] else {
                    continue;
                };
                let src = &plane[oy * ow..][..ow];
                let dst = &mut dst_plane[iy * g.w..][..g.w];
                for ox in (0..lo).chain(hi..ow) {
                    if let Some(ix) = cols_of[ox * k + kw] {
                        dst[ix] += src[ox];
                    }
                }
                if let Some((range, first)) = &inside {
                    add_interior(dst, &src[range.clone()], g, *first);
                }
            }
        }
    })
}

/// `dst[i] += src[(first + i * stride) / up]`: [`copy_interior`], adding.
fn accumulate_interior(dst: &mut [f32], src: &[f32], g: Geometry, first: usize) {
    match (g.stride, g.up) {
        (1, 1) => {
            let src = &src[first..first + dst.len()];
            dst.iter_mut().zip(src).for_each(|(d, s)| *d += s)
        }
        (s, up) => dst
            .iter_mut()
            .enumerate()
            .for_each(|(i, d)| *d += src[(first + i * s) / up]),
    }
}

/// `dst[i] = src[(first + i * stride) / up]`: a row's pixels inside the image, `first` the
/// virtual pixel of `dst[0]`. Contiguous copies for stride 1 without upsampling (most layers).
fn copy_interior(dst: &mut [f32], src: &[f32], g: Geometry, first: usize) {
    match (g.stride, g.up) {
        (1, 1) => dst.copy_from_slice(&src[first..first + dst.len()]),
        (s, 1) => dst
            .iter_mut()
            .enumerate()
            .for_each(|(i, d)| *d = src[first + i * s]),
        (s, up) => dst
            .iter_mut()
            .enumerate()
            .for_each(|(i, d)| *d = src[(first + i * s) / up]),
    }
}

/// The adjoint of [`copy_interior`]: `dst[(first + i * stride) / up] += row[i]`.
fn add_interior(dst: &mut [f32], row: &[f32], g: Geometry, first: usize) {
    match (g.stride, g.up) {
        (1, 1) => dst[first..first + row.len()]
            .iter_mut()
            .zip(row)
            .for_each(|(d, r)| *d += r),
        (s, up) => row
            .iter()
            .enumerate()
            .for_each(|(i, r)| dst[(first + i * s) / up] += r),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn geometry(h: usize, w: usize, up: usize, pad: usize, padding: Padding) -> Geometry {
        Geometry {
            n: 2,
            c: 3,
            h,
            w,
            up,
            pad,
            padding,
            k: 3,
            stride: 1,
        }
    }

    #[test]
    fn reflection_reads_the_mirror_without_the_edge() {
        // One row of 4: reflection pad 2 reads 2 1 | 0 1 2 3 | 2 1 (PyTorch's ReflectionPad).
        let g = Geometry {
            k: 1,
            pad: 2,
            ..geometry(4, 4, 1, 2, Padding::Reflect)
        };
        let read: Vec<Option<usize>> = g.sources(4, 8);
        let expected = [2, 1, 0, 1, 2, 3, 2, 1].map(Some);
        assert_eq!(read, expected);
        // Zeros instead, and the upsampled image: 0 0 1 1 2 2 3 3 behind one zero.
        let g = Geometry {
            k: 1,
            pad: 1,
            up: 2,
            ..geometry(4, 4, 2, 1, Padding::Zero)
        };
        let read = g.sources(4, 10);
        let mut expected = vec![None];
        expected.extend([0, 0, 1, 1, 2, 2, 3, 3].map(Some));
        expected.push(None);
        assert_eq!(read, expected);
    }

    #[test]
    fn col2im_is_the_adjoint_of_im2col() {
        // <im2col(x), y> = <x, col2im(y)> for any x, y: with reflection, upsampling, strides.
        for g in [
            geometry(6, 5, 1, 1, Padding::Reflect),
            geometry(5, 4, 2, 1, Padding::Zero),
            Geometry {
                stride: 2,
                k: 4,
                ..geometry(6, 6, 1, 3, Padding::Reflect)
            },
            Geometry {
                k: 7,
                ..geometry(8, 8, 1, 3, Padding::Reflect)
            },
        ] {
            assert!(g.fits());
            let x: Vec<f32> = (0..g.n * g.c * g.h * g.w)
                .map(|i| ((i * 37 % 23) as f32 - 11.0) / 7.0)
                .collect();
            let y: Vec<f32> = (0..g.rows() * g.n * g.p())
                .map(|i| ((i * 53 % 29) as f32 - 14.0) / 9.0)
                .collect();
            let dot =
                |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(a, b)| (a * b) as f64).sum::<f64>();
            let lhs = dot(&im2col(&x, g, 0..g.n), &y);
            let rhs = dot(&x, &col2im(&y, g, g.n));
            assert!(
                (lhs - rhs).abs() < 1e-3 * lhs.abs().max(1.0),
                "{g:?}: {lhs} vs {rhs}"
            );
        }
    }

    #[test]
    fn scatter_taps_is_the_adjoint_of_gather_taps() {
        for g in [
            geometry(6, 5, 1, 1, Padding::Reflect),
            geometry(5, 4, 2, 1, Padding::Zero),
            Geometry {
                k: 7,
                ..geometry(8, 8, 1, 3, Padding::Reflect)
            },
            Geometry {
                stride: 2,
                ..geometry(6, 7, 1, 1, Padding::Zero)
            },
        ] {
            let c_out = 2;
            let z: Vec<f32> = (0..c_out * g.k * g.k * g.n * g.h * g.w)
                .map(|i| ((i * 37 % 23) as f32 - 11.0) / 7.0)
                .collect();
            let y: Vec<f32> = (0..g.n * c_out * g.p())
                .map(|i| ((i * 53 % 29) as f32 - 14.0) / 9.0)
                .collect();
            let dot =
                |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(a, b)| (a * b) as f64).sum::<f64>();
            let lhs = dot(&gather_taps(&z, g, c_out, g.n), &y);
            let rhs = dot(&z, &scatter_taps(&y, g, c_out, g.n));
            assert!(
                (lhs - rhs).abs() < 1e-3 * lhs.abs().max(1.0),
                "{g:?}: {lhs} vs {rhs}"
            );
        }
    }

    #[test]
    fn a_range_of_images_is_their_part_of_the_whole() {
        let g = geometry(4, 4, 1, 1, Padding::Reflect);
        let x: Vec<f32> = (0..g.n * g.c * 16).map(|v| v as f32).collect();
        let whole = im2col(&x, g, 0..2);
        let second = im2col(&x, g, 1..2);
        let p = g.p();
        for row in 0..g.rows() {
            assert_eq!(&whole[row * 2 * p + p..][..p], &second[row * p..][..p]);
        }
    }

    #[test]
    fn the_interior_is_where_the_table_reads_the_image_by_arithmetic() {
        for g in [
            // A padding wider than the image: some taps read zeros only.
            Geometry {
                k: 7,
                ..geometry(2, 2, 1, 3, Padding::Zero)
            },
            geometry(6, 5, 1, 1, Padding::Reflect),
            geometry(5, 4, 2, 1, Padding::Zero),
            Geometry {
                stride: 2,
                k: 4,
                ..geometry(6, 7, 1, 3, Padding::Reflect)
            },
            Geometry {
                k: 7,
                ..geometry(8, 8, 1, 3, Padding::Reflect)
            },
        ] {
            let (side, outputs) = (g.w, g.ow());
            let table = g.sources(side, outputs);
            for t in 0..g.k {
                let inside = g.interior(side, outputs, t);
                let (lo, hi) = Geometry::interior_bounds(&inside);
                if let Some((range, first)) = &inside {
                    assert_eq!(*first, range.start * g.stride + t - g.pad);
                }
                for o in 0..outputs {
                    let v = (o * g.stride + t) as isize - g.pad as isize;
                    let inside = v >= 0 && (v as usize) < side * g.up;
                    assert_eq!((lo..hi).contains(&o), inside, "{g:?} t {t} o {o}");
                    if inside {
                        assert_eq!(table[o * g.k + t], Some(v as usize / g.up));
                    }
                }
            }
        }
    }

    #[test]
    fn what_does_not_fit_is_said() {
        assert!(!geometry(2, 2, 1, 2, Padding::Reflect).fits());
        assert!(geometry(2, 2, 1, 2, Padding::Zero).fits());
        assert!(
            !Geometry {
                k: 7,
                ..geometry(2, 2, 1, 0, Padding::Zero)
            }
            .fits()
        );
    }
}
