//! Differentiable augmentation (DiffAugment: Zhao, Liu, Lin, Zhu and Han, "Differentiable
//! Augmentation for Data-Efficient GAN Training", NeurIPS 2020), the standard remedy for
//! discriminators that overfit a small dataset: every image a discriminator sees, real or
//! fake, in its own step and in the generators', is augmented first, with operations through
//! which the gradient reaches the generators.
//!
//! The operations and their ranges are the official code's (`DiffAugment_pytorch.py`):
//! `color` is a random brightness (+ U(-0.5, 0.5)), saturation (x U(0, 2) around the pixel's
//! channel mean) and contrast (x U(0.5, 1.5) around the image's mean); `translation` shifts by
//! up to 1/8 of the side, filling with 0; `cutout` zeroes a square of half the side at a
//! random place (clipped at the borders). Each image draws its own parameters.
//!
//! The draws are a function of (seed, iteration, which images, the image's index in the batch)
//! only ([`crate::rng::SplitMix64`]): a resumed run augments as an uninterrupted one, and
//! a batch split over devices as the whole batch on one.

use burn::tensor::ops::PadMode;
use burn::tensor::{Tensor, TensorData};

use crate::error::{Error, Result};
use crate::rng::SplitMix64;

/// The configuration key, named in errors.
const KEY: &str = "objective.diff_augment";

/// Which operations run. Always in the order color, translation, cutout, whatever the order
/// of the list (the official code follows the list; its examples list them in this order).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Policy {
    /// Brightness, saturation and contrast.
    pub color: bool,
    /// A shift by up to 1/8 of the side.
    pub translation: bool,
    /// A square of half the side zeroed.
    pub cutout: bool,
}

impl Policy {
    /// Reads `objective.diff_augment`: a comma-separated list of `color`, `translation`,
    /// `cutout` (spaces allowed, each at most once); empty: off.
    pub fn parse(text: &str) -> Result<Self> {
        let mut policy = Self::default();
        for name in text.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            let flag = match name {
                "color" => &mut policy.color,
                "translation" => &mut policy.translation,
                "cutout" => &mut policy.cutout,
                other => {
                    return Err(Error::config(
                        KEY,
                        format!(
                            "unknown augmentation `{other}`: a comma-separated list of color, \
                             translation and cutout (empty: off)"
                        ),
                    ));
                }
            };
            if *flag {
                return Err(Error::config(KEY, format!("`{name}` is listed twice")));
            }
            *flag = true;
        }
        Ok(policy)
    }

    /// Whether nothing is augmented.
    pub fn is_off(&self) -> bool {
        *self == Self::default()
    }
}

/// The random parameters of one image's augmentation.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Draw {
    brightness: f32,
    saturation: f32,
    contrast: f32,
    /// Rows and columns to shift by: the output's pixel (i, j) is the input's (i + dy, j + dx).
    shift: (isize, isize),
    /// The cutout square's centre (row, column).
    centre: (usize, usize),
}

impl Draw {
    /// The parameters for an image of side `h` x `w` from the stream `keys`. Every value is
    /// drawn whatever the policy, so that each one depends on the keys alone.
    fn new(keys: &[u64], (h, w): (usize, usize)) -> Self {
        let mut rng = SplitMix64::new(keys);
        let mut unit = || (rng.next_u64() >> 40) as f32 / (1u64 << 24) as f32;
        let brightness = unit() - 0.5;
        let saturation = unit() * 2.0;
        let contrast = unit() + 0.5;
        let mut rng = SplitMix64::new(&followed(keys, 1));
        // torch.randint(-s, s + 1) with s = int(side * 0.125 + 0.5).
        let mut shift = |side: usize| {
            let s = (side as f64 * 0.125 + 0.5) as usize;
            rng.below(2 * s + 1) as isize - s as isize
        };
        let shift = (shift(h), shift(w));
        // torch.randint(0, side + (1 - cut % 2)), cut = int(side * 0.5 + 0.5).
        let mut centre = |side: usize| {
            let cut = cutout_side(side);
            rng.below(side + 1 - cut % 2)
        };
        let centre = (centre(h), centre(w));
        Self {
            brightness,
            saturation,
            contrast,
            shift,
            centre,
        }
    }
}

/// `keys` with `last` after them: the keys of a sub-stream.
fn followed(keys: &[u64], last: u64) -> Vec<u64> {
    let mut all = keys.to_vec();
    all.push(last);
    all
}

fn cutout_side(side: usize) -> usize {
    (side as f64 * 0.5 + 0.5) as usize
}

/// Augments `x` [batch, channels, h, w] by `policy`. Image `k` of the batch draws its
/// parameters from the stream `keys` + `first + k`: `keys` name the run, the iteration and the
/// call (which discriminator, real or fake, which step), `first` is the index of `x`'s first
/// image in the whole batch (a device's slice starts there).
pub fn augment(x: Tensor<4>, policy: &Policy, keys: &[u64], first: usize) -> Tensor<4> {
    if policy.is_off() {
        return x;
    }
    let [n, c, h, w] = x.dims();
    let draws: Vec<Draw> = (0..n)
        .map(|k| Draw::new(&followed(keys, (first + k) as u64), (h, w)))
        .collect();
    let device = x.device();
    // [n, 1, 1, 1]: one value per image.
    let per_image = |f: fn(&Draw) -> f32| {
        let values: Vec<f32> = draws.iter().map(f).collect();
        Tensor::<4>::from_data(TensorData::new(values, [n, 1, 1, 1]), &device)
    };
    let mut x = x;
    if policy.color {
        x = x + per_image(|d| d.brightness);
        // [n, 1, h, w]: each pixel's mean over the channels.
        let mean = x.clone().mean_dim(1);
        x = (x - mean.clone()) * per_image(|d| d.saturation) + mean;
        // [n, 1, 1, 1]: each image's mean.
        let mean = x.clone().mean_dim(1).mean_dim(2).mean_dim(3);
        x = (x - mean.clone()) * per_image(|d| d.contrast) + mean;
    }
    if policy.translation {
        let shifted = draws
            .iter()
            .enumerate()
            .map(|(k, d)| {
                let image = x.clone().narrow(0, k, 1);
                shift(shift(image, 2, d.shift.0), 3, d.shift.1)
            })
            .collect();
        x = Tensor::cat(shifted, 0);
    }
    if policy.cutout {
        let mask: Vec<f32> = draws
            .iter()
            .flat_map(|d| cutout_mask(d.centre, (h, w)))
            .collect();
        // [n, 1, h, w], the same for every channel.
        let mask = Tensor::<4>::from_data(TensorData::new(mask, [n, 1, h, w]), &device);
        x = x * mask.expand([n, c, h, w]);
    }
    x
}

/// `x` shifted along `dim` (2: rows, 3: columns) so that the output's index `i` holds the
/// input's `i + by`, with zeros where that falls outside.
fn shift(x: Tensor<4>, dim: usize, by: isize) -> Tensor<4> {
    let side = x.dims()[dim];
    let by_abs = by.unsigned_abs().min(side);
    if by_abs == 0 {
        return x;
    }
    let kept = side - by_abs;
    let (start, before, after) = if by > 0 {
        (by_abs, 0, by_abs)
    } else {
        (0, by_abs, 0)
    };
    if kept == 0 {
        return x.zeros_like();
    }
    let part = x.narrow(dim, start, kept);
    // `pad`'s pairs are for the last dimensions: (rows), (columns).
    let pairs = if dim == 2 {
        [(before, after), (0, 0)]
    } else {
        [(0, 0), (before, after)]
    };
    part.pad(pairs, PadMode::Constant(0.0))
}

/// One image's cutout mask ([h, w], row-major): 0 on the square of [`cutout_side`] `cut`
/// from `centre - cut / 2` in each dimension, clipped to the image (the official code clamps
/// the indices, which comes to the same), 1 elsewhere.
fn cutout_mask(centre: (usize, usize), (h, w): (usize, usize)) -> Vec<f32> {
    let span = |centre: usize, side: usize| {
        let cut = cutout_side(side) as isize;
        let start = centre as isize - cut / 2;
        start.max(0) as usize..(start + cut).clamp(0, side as isize) as usize
    };
    let (rows, cols) = (span(centre.0, h), span(centre.1, w));
    let mut mask = vec![1.0f32; h * w];
    for i in rows {
        for j in cols.clone() {
            mask[i * w + j] = 0.0;
        }
    }
    mask
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Device;

    fn values(t: Tensor<4>) -> Vec<f32> {
        t.into_data().try_to_vec::<f32>().unwrap()
    }

    fn ramp(shape: [usize; 4], device: &Device) -> Tensor<4> {
        let len = shape.iter().product();
        let v: Vec<f32> = (0..len)
            .map(|i| ((i * 37) % 101) as f32 / 50.0 - 1.0)
            .collect();
        Tensor::from_data(TensorData::new(v, shape), device)
    }

    #[test]
    fn the_policy_is_read_with_errors_that_name_the_key() {
        assert!(Policy::parse("").unwrap().is_off());
        let all = Policy::parse("color, translation,cutout").unwrap();
        assert!(all.color && all.translation && all.cutout);
        assert_eq!(
            Policy::parse("cutout").unwrap(),
            Policy {
                cutout: true,
                ..Policy::default()
            }
        );
        for bad in ["colour", "color,color", "translation,zoom"] {
            let err = Policy::parse(bad).unwrap_err().to_string();
            assert!(err.contains(KEY), "{err}");
        }
    }

    #[test]
    fn off_leaves_the_images_as_they_are() {
        let device = Device::flex();
        let x = ramp([2, 3, 8, 8], &device);
        let y = augment(x.clone(), &Policy::default(), &[1, 2], 0);
        assert_eq!(values(x), values(y));
    }

    #[test]
    fn a_shift_moves_the_image_and_fills_with_zeros() {
        let device = Device::flex();
        // One 1x4x4 image: 1..=16, row-major.
        let x = Tensor::<4>::from_data(
            TensorData::new((1..=16).map(|v| v as f32).collect(), [1, 1, 4, 4]),
            &device,
        );
        // Output row i holds input row i + 1; output column j holds input column j - 2.
        let y = values(shift(shift(x, 2, 1), 3, -2));
        #[rustfmt::skip]
        let expected = [
            0.0, 0.0, 5.0, 6.0,
            0.0, 0.0, 9.0, 10.0,
            0.0, 0.0, 13.0, 14.0,
            0.0, 0.0, 0.0, 0.0,
        ];
        assert_eq!(y, expected);
    }

    #[test]
    fn cutout_zeroes_a_square_of_half_the_side_clipped_at_the_border() {
        // Side 8: a 4x4 square, rows and columns centre - 2 .. centre + 2.
        let mask = cutout_mask((4, 4), (8, 8));
        assert_eq!(mask.iter().filter(|&&m| m == 0.0).count(), 16);
        assert_eq!(mask[2 * 8 + 2], 0.0);
        assert_eq!(mask[5 * 8 + 5], 0.0);
        assert_eq!(mask[6 * 8 + 6], 1.0);
        // At the corner only the part inside remains: rows and columns 0..2.
        let corner = cutout_mask((0, 0), (8, 8));
        assert_eq!(corner.iter().filter(|&&m| m == 0.0).count(), 4);
    }

    #[test]
    fn draws_depend_on_the_keys_and_the_image_index_only() {
        let device = Device::flex();
        let policy = Policy::parse("color,translation,cutout").unwrap();
        let x = ramp([4, 3, 16, 16], &device);
        let whole = values(augment(x.clone(), &policy, &[7, 3], 0));
        assert_eq!(whole, values(augment(x.clone(), &policy, &[7, 3], 0)));
        // The second half of the batch, augmented alone from index 2, as within the whole.
        let half = values(augment(x.clone().narrow(0, 2, 2), &policy, &[7, 3], 2));
        assert_eq!(half, whole[whole.len() / 2..]);
        // Another iteration (or call) draws otherwise.
        assert_ne!(whole, values(augment(x, &policy, &[7, 4], 0)));
    }

    #[test]
    fn the_gradient_is_the_adjoint_of_each_operation() {
        // Every operation is affine in x for fixed draws: aug(x) = L x + c. So with the
        // gradient g of <aug(x), w>, <aug(x) - aug(0), w> must equal <x, g> (g = L^T w).
        let device = Device::flex().autodiff();
        for policy in ["color", "translation", "cutout", "color,translation,cutout"] {
            let policy = Policy::parse(policy).unwrap();
            let x = ramp([3, 3, 16, 16], &device).require_grad();
            let w = ramp([3, 3, 16, 16], &device).flip([3]) * 0.5;
            let y = augment(x.clone(), &policy, &[5, 1], 0);
            let grads = (y.clone() * w.clone()).sum().backward();
            let g: Vec<f32> = x.grad(&grads).unwrap().into_data().try_to_vec().unwrap();
            let zero = augment(x.zeros_like(), &policy, &[5, 1], 0);
            let lhs: f32 = values((y - zero) * w).iter().sum();
            let rhs: f32 = values(x).iter().zip(&g).map(|(a, b)| a * b).sum();
            assert!(
                (lhs - rhs).abs() < 1e-3 * lhs.abs().max(1.0),
                "{policy:?}: {lhs} vs {rhs}"
            );
            assert!(g.iter().any(|v| *v != 0.0), "{policy:?}: no gradient");
        }
    }
}
