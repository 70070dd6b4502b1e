//! The arithmetic of [`super`]'s fused operation on plain slices, one (image, channel) plane at a
//! time, planes in parallel.
//!
//! Forward, per plane of `n` values: `y = (x - mean) / sqrt(var + eps)` (biased variance, as
//! PyTorch's `InstanceNorm2d`), `a = y` if `y > 0` else `slope * y`, `out = a * d` where `d` is
//! dropout's factor (`1 / keep` for a kept value, 0 for a dropped one; 1 without dropout).
//! Backward from `g = dL/dout`: `gy = g * d * (y > 0 ? 1 : slope)`, then the normalisation's
//! input gradient `gx = (gy - mean(gy) - y * mean(gy * y)) / sqrt(var + eps)`.
//!
//! The dropout mask is never stored: value `i` is kept when the `i`-th value of a SplitMix64
//! stream ([`crate::rng::stream_value`]) falls below the keep probability, so the forward pass
//! draws it in parallel and the backward pass draws the same mask again.

use rayon::prelude::*;

use super::super::buffers::{par_map, par_map2};
use crate::rng::stream_value;

/// Values per parallel task: planes are grouped so that each task has about this many (the
/// U-Net's planes range from 4 to 1,024 values).
const TASK: usize = 1 << 14;

/// Dropout with a mask drawn from a counter-based random stream.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DropoutMask {
    seed: u64,
    /// Keep probability times 2^32: value `i` is kept when the stream's top 32 bits are below.
    threshold: u64,
    /// `1 / keep`, the factor of kept values.
    scale: f32,
}

impl DropoutMask {
    /// Keeps each value with probability `keep` (in (0, 1]), by the stream of `seed`.
    pub fn new(seed: u64, keep: f64) -> Self {
        Self {
            seed,
            threshold: (keep * 4_294_967_296.0) as u64,
            scale: (1.0 / keep) as f32,
        }
    }

    /// Dropout's factor for the value at flat index `i`: `1 / keep` or 0.
    pub(super) fn factor(&self, i: usize) -> f32 {
        if stream_value(self.seed, i as u64) >> 32 < self.threshold {
            self.scale
        } else {
            0.0
        }
    }
}

/// The constants of one fused operation.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Params {
    /// LeakyReLU's slope for negative inputs (0: ReLU).
    pub slope: f32,
    /// Added to the variance before the square root.
    pub epsilon: f32,
    /// Dropout after the activation, if any.
    pub dropout: Option<DropoutMask>,
}

/// A forward pass's results.
pub struct Forward {
    /// The activations, laid out as the input.
    pub out: Vec<f32>,
    /// The normalised input `y` (empty unless asked for: the backward pass needs it).
    pub normalized: Vec<f32>,
    /// `1 / sqrt(var + eps)` per plane.
    pub inv_std: Vec<f32>,
}

fn planes_per_task(plane: usize) -> usize {
    (TASK / plane.max(1)).max(1)
}

/// The activation's derivative at `y` (and its factor: `act(y) = y * activation_slope(y)`);
/// also the fused BatchNorm's (`batch_norm/`).
pub(in crate::backends::cpu) fn activation_slope(y: f32, slope: f32) -> f32 {
    if y > 0.0 { 1.0 } else { slope }
}

/// Normalises and activates `x`, whose length is a multiple of `plane`. With `keep_normalized`
/// the result also holds `y` for [`backward`].
pub fn forward(x: &[f32], plane: usize, params: Params, keep_normalized: bool) -> Forward {
    let plane = plane.max(1);
    let mut out = vec![0.0; x.len()];
    let mut normalized = vec![0.0; if keep_normalized { x.len() } else { 0 }];
    let mut inv_std = vec![0.0; x.len() / plane];
    let per_task = planes_per_task(plane);
    let task = per_task * plane;
    let run = |t: usize, out: &mut [f32], y: Option<&mut [f32]>, inv_std: &mut [f32]| {
        let start = t * task;
        forward_task(
            &x[start..start + out.len()],
            start,
            out,
            y,
            inv_std,
            plane,
            params,
        );
    };
    let outs = out
        .par_chunks_mut(task)
        .zip(inv_std.par_chunks_mut(per_task));
    if keep_normalized {
        outs.zip(normalized.par_chunks_mut(task))
            .enumerate()
            .for_each(|(t, ((out, inv), y))| run(t, out, Some(y), inv));
    } else {
        outs.enumerate()
            .for_each(|(t, (out, inv))| run(t, out, None, inv));
    }
    Forward {
        out,
        normalized,
        inv_std,
    }
}

/// [`forward`] over consecutive whole planes starting at flat index `start`; `y`, when given,
/// receives the normalised input.
fn forward_task(
    x: &[f32],
    start: usize,
    out: &mut [f32],
    mut y: Option<&mut [f32]>,
    inv_std: &mut [f32],
    plane: usize,
    params: Params,
) {
    for (p, inv) in inv_std.iter_mut().enumerate() {
        let range = p * plane..(p + 1) * plane;
        let out = &mut out[range.clone()];
        // Normalise into `y` when it is kept, else straight into `out`; activate in place.
        match y.as_deref_mut() {
            Some(y) => {
                let y = &mut y[range.clone()];
                *inv = normalize_plane(&x[range.clone()], y, params.epsilon);
                out.copy_from_slice(y);
            }
            None => *inv = normalize_plane(&x[range.clone()], out, params.epsilon),
        }
        match params.dropout {
            Some(mask) => {
                for (i, a) in out.iter_mut().enumerate() {
                    let factor = mask.factor(start + range.start + i);
                    *a = *a * activation_slope(*a, params.slope) * factor;
                }
            }
            None => {
                for a in out.iter_mut() {
                    *a *= activation_slope(*a, params.slope);
                }
            }
        }
    }
}

/// Writes `(x - mean) * inv_std` of one plane into `y`; returns `inv_std`.
fn normalize_plane(x: &[f32], y: &mut [f32], epsilon: f32) -> f32 {
    let n = x.len() as f64;
    let mean = x.iter().map(|&v| v as f64).sum::<f64>() / n;
    let var = x.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / n;
    let inv_std = (1.0 / (var + epsilon as f64).sqrt()) as f32;
    let mean = mean as f32;
    for (y, &x) in y.iter_mut().zip(x) {
        *y = (x - mean) * inv_std;
    }
    inv_std
}

/// The input gradient from the output gradient `grad`, the forward pass's `normalized` and
/// `inv_std`, and the same `params` (hence the same dropout mask).
pub fn backward(
    grad: &[f32],
    normalized: &[f32],
    inv_std: &[f32],
    plane: usize,
    params: Params,
) -> Vec<f32> {
    let plane = plane.max(1);
    let mut gx = vec![0.0; grad.len()];
    let per_task = planes_per_task(plane);
    let task = per_task * plane;
    gx.par_chunks_mut(task).enumerate().for_each(|(t, gx)| {
        let start = t * task;
        for (p, gx) in gx.chunks_mut(plane).enumerate() {
            let first = start + p * plane;
            let range = first..first + plane;
            let (g, y) = (&grad[range.clone()], &normalized[range]);
            // gy, the gradient at the normalisation's output, lands in `gx` first.
            match params.dropout {
                Some(mask) => {
                    for (i, (gy, (&g, &y))) in gx.iter_mut().zip(g.iter().zip(y)).enumerate() {
                        *gy = g * mask.factor(first + i) * activation_slope(y, params.slope);
                    }
                }
                None => {
                    for (gy, (&g, &y)) in gx.iter_mut().zip(g.iter().zip(y)) {
                        *gy = g * activation_slope(y, params.slope);
                    }
                }
            }
            let n = plane as f64;
            let (sum, dot) = gx
                .iter()
                .zip(y)
                .fold((0.0f64, 0.0f64), |(s, d), (&gy, &y)| {
                    (s + gy as f64, d + gy as f64 * y as f64)
                });
            let (mean_gy, mean_gy_y) = ((sum / n) as f32, (dot / n) as f32);
            let inv = inv_std[first / plane];
            for (gx, &y) in gx.iter_mut().zip(y) {
                *gx = (*gx - mean_gy - y * mean_gy_y) * inv;
            }
        }
    });
    gx
}

/// LeakyReLU alone (the blocks without a norm): `x * (x > 0 ? 1 : slope)`, in parallel.
pub fn activate(x: &[f32], slope: f32) -> Vec<f32> {
    par_map(x, |x| x * activation_slope(x, slope))
}

/// [`activate`]'s input gradient from its output: for `slope >= 0` the output is positive
/// exactly where the input is, so the output (which the next layer keeps anyway) is all the
/// backward pass needs.
pub fn activate_backward(grad: &[f32], out: &[f32], slope: f32) -> Vec<f32> {
    par_map2(grad, out, |g, o| g * activation_slope(o, slope))
}

#[cfg(test)]
mod tests {
    use super::*;

    const PLAIN: Params = Params {
        slope: 0.2,
        epsilon: 0.0,
        dropout: None,
    };

    #[test]
    fn normalises_each_plane_by_hand() {
        // Plane 1: mean 2.5, biased variance 1.25. Plane 2: constant -> all zeros.
        let x = [1.0, 2.0, 3.0, 4.0, 7.0, 7.0, 7.0, 7.0];
        let params = Params {
            epsilon: 1e-5,
            ..PLAIN
        };
        let f = forward(&x, 4, params, true);
        let s = 1.0 / (1.25f32 + 1e-5).sqrt();
        let y = [-1.5 * s, -0.5 * s, 0.5 * s, 1.5 * s, 0.0, 0.0, 0.0, 0.0];
        for (got, want) in f.normalized.iter().zip(y) {
            assert!((got - want).abs() < 1e-6, "{got} vs {want}");
        }
        let a = [0.2 * y[0], 0.2 * y[1], y[2], y[3], 0.0, 0.0, 0.0, 0.0];
        for (got, want) in f.out.iter().zip(a) {
            assert!((got - want).abs() < 1e-6, "{got} vs {want}");
        }
    }

    #[test]
    fn dropout_zeroes_about_its_share_and_scales_the_rest() {
        let x: Vec<f32> = (0..40_000).map(|i| (i % 17) as f32 + 1.0).collect();
        let plain = forward(&x, 100, PLAIN, false).out;
        let params = |seed| Params {
            dropout: Some(DropoutMask::new(seed, 0.75)),
            ..PLAIN
        };
        let dropped = forward(&x, 100, params(7), false).out;
        let mut zeroed = 0;
        for (d, p) in dropped.iter().zip(&plain) {
            if *d == 0.0 && *p != 0.0 {
                zeroed += 1;
            } else {
                assert_eq!(*d, p * (1.0 / 0.75f32));
            }
        }
        // 10,000 expected; the binomial's standard deviation is about 87.
        assert!((9_500..10_500).contains(&zeroed), "{zeroed} of 40000");
        // The mask is a function of the seed: the same again, another for another seed.
        assert_eq!(forward(&x, 100, params(7), false).out, dropped);
        assert_ne!(forward(&x, 100, params(8), false).out, dropped);
    }

    #[test]
    fn activation_alone_and_its_gradient_by_hand() {
        let x = [-2.0, -0.5, 0.0, 0.5, 3.0];
        assert_eq!(activate(&x, 0.2), vec![-0.4, -0.1, 0.0, 0.5, 3.0]);
        assert_eq!(activate(&x, 0.0), vec![-0.0, -0.0, 0.0, 0.5, 3.0]);
        let g = [1.0, 2.0, 3.0, 4.0, 5.0];
        // At 0 the slope's share, as PyTorch's `leaky_relu` (ReLU: none, as PyTorch's `relu`).
        let out = activate(&x, 0.2);
        assert_eq!(
            activate_backward(&g, &out, 0.2),
            vec![0.2, 0.4, 0.6, 4.0, 5.0]
        );
        let out = activate(&x, 0.0);
        assert_eq!(
            activate_backward(&g, &out, 0.0),
            vec![0.0, 0.0, 0.0, 4.0, 5.0]
        );
    }

    #[test]
    fn backward_matches_finite_differences() {
        // L = sum(out * w) for fixed weights w; compare dL/dx with central differences in f64.
        let x: Vec<f32> = (0..12).map(|i| ((i * 7 % 11) as f32 - 5.0) * 0.3).collect();
        let w: Vec<f32> = (0..12).map(|i| ((i * 5 % 7) as f32 - 3.0) * 0.5).collect();
        for dropout in [None, Some(DropoutMask::new(3, 0.5))] {
            let params = Params {
                slope: 0.2,
                epsilon: 1e-3,
                dropout,
            };
            let loss = |x: &[f32]| -> f64 {
                let out = forward(x, 6, params, false).out;
                out.iter().zip(&w).map(|(&o, &w)| o as f64 * w as f64).sum()
            };
            let f = forward(&x, 6, params, true);
            let gx = backward(&w, &f.normalized, &f.inv_std, 6, params);
            for i in 0..x.len() {
                let h = 1e-2;
                let (mut up, mut down) = (x.clone(), x.clone());
                up[i] += h;
                down[i] -= h;
                let numeric = (loss(&up) - loss(&down)) / (2.0 * h as f64);
                assert!(
                    (gx[i] as f64 - numeric).abs() < 2e-3,
                    "x[{i}] ({dropout:?}): analytic {} vs numeric {numeric}",
                    gx[i]
                );
            }
        }
    }
}
