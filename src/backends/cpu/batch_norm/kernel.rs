//! The arithmetic of [`super`]'s fused operation on plain slices laid out [n, c, plane].
//!
//! Forward, per channel `k` over its `N = n * plane` values: `mean`, biased `var` (the batch
//! statistics, as PyTorch's `BatchNorm2d` in training; in inference the running ones), `y = (x - mean) / sqrt(var + eps)`,
//! `z = weight[k] * y + bias[k]`, `out = z` if `z > 0` else `slope * z` (slope 1: no
//! activation). Backward from `g = dL/dout`: `gz = g * (z > 0 ? 1 : slope)`, `dbias[k] = sum gz`,
//! `dweight[k] = sum gz * y`, and the input gradient, through the statistics too,
//! `gx = weight[k] / sqrt(var + eps) * (gz - dbias[k] / N - y * dweight[k] / N)`.
//!
//! The statistics are sums over a channel's planes in every image: parallel over channels. The
//! element-wise passes run in parallel over (image, channel) planes.

use rayon::prelude::*;

use super::super::norm_act::kernel::activation_slope;

/// Values per parallel task of the element-wise passes (the paper's planes range from 16 to
/// 1,024 values).
const TASK: usize = 1 << 14;

/// The shape of an [n, c, h, w] tensor as the kernels see it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Layout {
    /// Images.
    pub images: usize,
    /// Channels.
    pub channels: usize,
    /// Values per (image, channel) plane: h * w.
    pub plane: usize,
}

impl Layout {
    /// Values per channel: the statistics' sample count.
    fn per_channel(&self) -> usize {
        self.images * self.plane
    }

    /// The planes of `channel` in `values`, one per image.
    fn planes_of<'a>(
        &self,
        values: &'a [f32],
        channel: usize,
    ) -> impl Iterator<Item = &'a [f32]> + 'a {
        let (plane, channels) = (self.plane, self.channels);
        (0..self.images).map(move |i| {
            let start = (i * channels + channel) * plane;
            &values[start..start + plane]
        })
    }

    fn planes_per_task(&self) -> usize {
        (TASK / self.plane.max(1)).max(1)
    }
}

/// The per-channel batch mean and biased variance of `x`: `[mean; c]` then `[var; c]`,
/// accumulated in `f64` (two passes, as PyTorch's CPU kernel).
pub fn moments(x: &[f32], layout: Layout) -> Vec<f32> {
    let n = layout.per_channel().max(1) as f64;
    let stats: Vec<(f32, f32)> = (0..layout.channels)
        .into_par_iter()
        .map(|k| {
            let sum: f64 = layout
                .planes_of(x, k)
                .map(|p| p.iter().map(|&v| v as f64).sum::<f64>())
                .sum();
            let mean = sum / n;
            let squares: f64 = layout
                .planes_of(x, k)
                .map(|p| p.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>())
                .sum();
            (mean as f32, (squares / n) as f32)
        })
        .collect();
    let (mean, var): (Vec<f32>, Vec<f32>) = stats.into_iter().unzip();
    [mean, var].concat()
}

/// The constants of one fused operation.
#[derive(Clone, Debug, PartialEq)]
pub struct Params {
    /// The activation's slope for negative values (0: ReLU, 1: none).
    pub slope: f32,
    /// Scale per channel (PyTorch `weight`).
    pub weight: Vec<f32>,
    /// Shift per channel (PyTorch `bias`).
    pub bias: Vec<f32>,
}

/// A forward pass's results.
pub struct Forward {
    /// The activations, laid out as the input.
    pub out: Vec<f32>,
    /// The normalised input `y` (empty unless asked for: the backward pass needs it).
    pub normalized: Vec<f32>,
    /// `1 / sqrt(var + eps)` per channel.
    pub inv_std: Vec<f32>,
}

/// Normalises `x` with `moments` (the batch statistics from [`moments`], or the running ones),
/// scales, shifts and activates it. With `keep_normalized` the result also holds `y` for [`backward`].
pub fn forward(
    x: &[f32],
    layout: Layout,
    moments: &[f32],
    epsilon: f32,
    params: &Params,
    keep_normalized: bool,
) -> Forward {
    let c = layout.channels;
    let (mean, var) = moments.split_at(c);
    let inv_std: Vec<f32> = var
        .iter()
        .map(|&v| (1.0 / (v as f64 + epsilon as f64).sqrt()) as f32)
        .collect();
    let plane = layout.plane.max(1);
    let task = layout.planes_per_task() * plane;
    let mut out = vec![0.0; x.len()];
    let mut normalized = vec![0.0; if keep_normalized { x.len() } else { 0 }];
    // One (image, channel) plane: `y` into `y` when kept, then `out`.
    let plane_at = |q: usize, x: &[f32], out: &mut [f32], y: Option<&mut [f32]>| {
        let k = q % c;
        let (m, s, w, b) = (mean[k], inv_std[k], params.weight[k], params.bias[k]);
        match y {
            Some(y) => {
                for ((o, y), &x) in out.iter_mut().zip(y).zip(x) {
                    *y = (x - m) * s;
                    let z = w * *y + b;
                    *o = z * activation_slope(z, params.slope);
                }
            }
            None => {
                for (o, &x) in out.iter_mut().zip(x) {
                    let z = w * ((x - m) * s) + b;
                    *o = z * activation_slope(z, params.slope);
                }
            }
        }
    };
    let run = |t: usize, out: &mut [f32], mut y: Option<&mut [f32]>| {
        let start = t * task;
        for (p, out) in out.chunks_mut(plane).enumerate() {
            let first = start + p * plane;
            let y = y.as_deref_mut().map(|y| &mut y[p * plane..(p + 1) * plane]);
            plane_at(first / plane, &x[first..first + plane], out, y);
        }
    };
    if keep_normalized {
        out.par_chunks_mut(task)
            .zip(normalized.par_chunks_mut(task))
            .enumerate()
            .for_each(|(t, (out, y))| run(t, out, Some(y)));
    } else {
        out.par_chunks_mut(task)
            .enumerate()
            .for_each(|(t, out)| run(t, out, None));
    }
    Forward {
        out,
        normalized,
        inv_std,
    }
}

/// The gradients of one backward pass.
pub struct Backward {
    /// dL/dx, laid out as the input.
    pub x: Vec<f32>,
    /// dL/dweight per channel.
    pub weight: Vec<f32>,
    /// dL/dbias per channel.
    pub bias: Vec<f32>,
}

/// The gradients from the output gradient `grad`, the forward pass's `normalized` and
/// `inv_std`, and the same `params`.
pub fn backward(
    grad: &[f32],
    normalized: &[f32],
    inv_std: &[f32],
    layout: Layout,
    params: &Params,
) -> Backward {
    let c = layout.channels;
    let gz = |k: usize, g: f32, y: f32| {
        g * activation_slope(params.weight[k] * y + params.bias[k], params.slope)
    };
    // Per channel: sum gz (dbias) and sum gz * y (dweight), in f64.
    let sums: Vec<(f32, f32)> = (0..c)
        .into_par_iter()
        .map(|k| {
            let (mut sum, mut sum_y) = (0.0f64, 0.0f64);
            for (g, y) in layout
                .planes_of(grad, k)
                .zip(layout.planes_of(normalized, k))
            {
                for (&g, &y) in g.iter().zip(y) {
                    let gz = gz(k, g, y) as f64;
                    sum += gz;
                    sum_y += gz * y as f64;
                }
            }
            (sum as f32, sum_y as f32)
        })
        .collect();
    let (bias, weight): (Vec<f32>, Vec<f32>) = sums.into_iter().unzip();
    let n = layout.per_channel().max(1) as f32;
    let plane = layout.plane.max(1);
    let task = layout.planes_per_task() * plane;
    let mut gx = vec![0.0; grad.len()];
    gx.par_chunks_mut(task).enumerate().for_each(|(t, gx)| {
        let start = t * task;
        for (p, gx) in gx.chunks_mut(plane).enumerate() {
            let first = start + p * plane;
            let k = (first / plane) % c;
            let scale = params.weight[k] * inv_std[k];
            let (mean_gz, mean_gzy) = (bias[k] / n, weight[k] / n);
            let range = first..first + plane;
            for (gx, (&g, &y)) in gx
                .iter_mut()
                .zip(grad[range.clone()].iter().zip(&normalized[range]))
            {
                *gx = scale * (gz(k, g, y) - mean_gz - y * mean_gzy);
            }
        }
    });
    Backward {
        x: gx,
        weight,
        bias,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Batch norm + activation of `x` computed the long way, in f64, per channel.
    fn naive(x: &[f32], layout: Layout, eps: f64, params: &Params) -> Vec<f32> {
        let mut out = vec![0.0; x.len()];
        for k in 0..layout.channels {
            let idx: Vec<usize> = (0..layout.images)
                .flat_map(|i| {
                    let s = (i * layout.channels + k) * layout.plane;
                    s..s + layout.plane
                })
                .collect();
            let n = idx.len() as f64;
            let mean = idx.iter().map(|&i| x[i] as f64).sum::<f64>() / n;
            let var = idx
                .iter()
                .map(|&i| (x[i] as f64 - mean).powi(2))
                .sum::<f64>()
                / n;
            for &i in &idx {
                let z = params.weight[k] as f64 * (x[i] as f64 - mean) / (var + eps).sqrt()
                    + params.bias[k] as f64;
                out[i] = (if z > 0.0 { z } else { params.slope as f64 * z }) as f32;
            }
        }
        out
    }

    #[test]
    fn forward_equals_the_definition() {
        let layout = Layout {
            images: 3,
            channels: 5,
            plane: 7,
        };
        let x: Vec<f32> = (0..105)
            .map(|i| ((i * 37) % 23) as f32 / 5.0 - 2.0 + (i % 5) as f32)
            .collect();
        let params = Params {
            slope: 0.2,
            weight: vec![1.0, 0.5, -1.5, 2.0, 0.1],
            bias: vec![0.0, 0.3, -0.2, 1.0, -1.0],
        };
        let m = moments(&x, layout);
        let fwd = forward(&x, layout, &m, 1e-5, &params, true);
        let reference = naive(&x, layout, 1e-5, &params);
        for (i, (a, b)) in fwd.out.iter().zip(&reference).enumerate() {
            assert!(
                (a - b).abs() <= 1e-5 * b.abs().max(1.0),
                "[{i}]: {a} vs {b}"
            );
        }
        assert_eq!(fwd.normalized.len(), x.len());
    }
}
