//! Every equation of the DiscoGAN objective, in one place.
//!
//! Notation: `D(x)` is a discriminator's logit, `σ` the sigmoid, `a`/`b` real images of domains
//! A/B, `G_AB(a)` the translation of `a` into B and `G_BA(G_AB(a))` its reconstruction.
//!
//! Seed objective (the design document, per iteration):
//! - discriminator: `L_D = ½ Σ_{X∈{A,B}} ½ [gan(D_X(x), 1) + gan(D_X(G(·)).detach, 0)]`
//! - generators: `L_G = gan_mean + λ_cyc · recon_mean + λ_pw · pixelwise_mean`, where
//!   `gan_mean = ½ [gan(D_B(G_AB(a)), 1) + gan(D_A(G_BA(b)), 1)]`,
//!   `recon_mean = ½ [d(G_BA(G_AB(a)), a) + d(G_AB(G_BA(b)), b)]`,
//!   `pixelwise_mean = ½ [d(G_BA(b), a) + d(G_AB(a), b)]` (only for paired data).
//!
//! Paper objective (the official code): per direction
//! `L_G_AB = (0.1 · gan(D_B(G_AB(a)), 1) + 0.9 · fm_B) · (1 − rate) + rate · d(G_BA(G_AB(a)), a)`
//! and symmetrically for `G_BA`; `L_D = Σ_X ½ gan(D_X(x), 1) + ½ gan(D_X(fake), 0)`; `fm` is
//! [`feature_matching`] and `rate` follows [`reconstruction_rate`].

use burn::tensor::{Tensor, activation};
use serde::{Deserialize, Serialize};

/// The adversarial term.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum GanLoss {
    /// Binary cross-entropy on the logits: `mean(softplus(x) − t·x)`.
    #[default]
    Bce,
    /// Least squares (LSGAN) on the logits: `mean((x − t)²)`.
    Lsgan,
}

/// The distance `d` between an image and its reconstruction (the paper lists these four).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Distance {
    /// Mean squared error (the seed's L2 and the official code's `MSELoss`).
    #[default]
    Mse,
    /// Mean absolute error.
    L1,
    /// One minus the cosine similarity of the flattened images, averaged over the batch.
    Cosine,
    /// Hinge on the absolute error: `mean(max(0, |x − y| − margin))`; errors within the
    /// margin cost nothing.
    Hinge,
}

/// `gan(logits, target)`: the adversarial loss of `logits` [batch, 1, h, w] against a constant
/// target (1 = real, 0 = fake), averaged over every element.
pub fn gan(kind: GanLoss, logits: Tensor<4>, target: f32) -> Tensor<1> {
    match kind {
        GanLoss::Bce => bce_with_logits(logits, target),
        GanLoss::Lsgan => (logits - target).powi_scalar(2).mean(),
    }
}

/// Numerically stable binary cross-entropy with logits, as PyTorch's `BCEWithLogitsLoss`:
/// `mean(max(x, 0) − t·x + log(1 + exp(−|x|)))`. burn's own wants integer targets.
pub fn bce_with_logits<const D: usize>(logits: Tensor<D>, target: f32) -> Tensor<1> {
    let softplus = activation::relu(logits.clone()) + logits.clone().abs().neg().exp().log1p();
    (softplus - logits * target).mean()
}

/// `d(x, y)` for images [batch, c, h, w]; `margin` is used by [`Distance::Hinge`] only.
pub fn distance(kind: Distance, x: Tensor<4>, y: Tensor<4>, margin: f32) -> Tensor<1> {
    match kind {
        Distance::Mse => (x - y).powi_scalar(2).mean(),
        Distance::L1 => (x - y).abs().mean(),
        Distance::Hinge => activation::relu((x - y).abs() - margin).mean(),
        Distance::Cosine => {
            let [n, c, h, w] = x.dims();
            let x: Tensor<2> = x.reshape([n, c * h * w]);
            let y: Tensor<2> = y.reshape([n, c * h * w]);
            let dot = (x.clone() * y.clone()).sum_dim(1);
            let norms = x.powi_scalar(2).sum_dim(1).sqrt() * y.powi_scalar(2).sum_dim(1).sqrt();
            let cosine = dot / norms.clamp_min(1e-8);
            (cosine.neg() + 1.0).mean()
        }
    }
}

/// Feature matching, as the official code: for each layer, the squared difference of the
/// batch-mean activations, averaged over the remaining elements; summed over the layers.
/// `Σ_l mean((mean_batch(f_l(real)) − mean_batch(f_l(fake)))²)`.
pub fn feature_matching(real: &[Tensor<4>], fake: &[Tensor<4>]) -> Option<Tensor<1>> {
    real.iter()
        .zip(fake)
        .map(|(r, f)| {
            (r.clone().mean_dim(0) - f.clone().mean_dim(0))
                .powi_scalar(2)
                .mean()
        })
        .reduce(|a, b| a + b)
}

/// The paper's per-direction generator loss:
/// `(0.1 · gan + 0.9 · fm) · (1 − rate) + rate · recon`.
pub fn paper_generator_loss(
    gan: Tensor<1>,
    fm: Tensor<1>,
    recon: Tensor<1>,
    rate: f64,
) -> Tensor<1> {
    (gan * 0.1 + fm * 0.9) * (1.0 - rate) + recon * rate
}

/// The paper's weight of the reconstruction term at `iteration`: `starting_rate` during the
/// first `curriculum` iterations (the GAN curriculum), `default_rate` afterwards.
pub fn reconstruction_rate(
    iteration: u64,
    curriculum: u64,
    starting_rate: f64,
    default_rate: f64,
) -> f64 {
    if iteration < curriculum {
        starting_rate
    } else {
        default_rate
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Device, TensorData};

    fn scalar(t: Tensor<1>) -> f32 {
        t.into_scalar::<f32>()
    }

    fn image(values: [f32; 4]) -> Tensor<4> {
        Tensor::from_data(
            TensorData::new(values.to_vec(), [1, 1, 2, 2]),
            &Device::default(),
        )
    }

    #[test]
    fn bce_with_logits_matches_the_closed_form() {
        // -log σ(0) = ln 2; large logits stay finite.
        let zero = image([0.0; 4]);
        assert!((scalar(bce_with_logits(zero, 1.0)) - std::f32::consts::LN_2).abs() < 1e-6);
        let big = image([100.0; 4]);
        assert!((scalar(bce_with_logits(big.clone(), 0.0)) - 100.0).abs() < 1e-4);
        assert!(scalar(bce_with_logits(big, 1.0)).abs() < 1e-6);
    }

    #[test]
    fn distances_on_known_images() {
        let x = image([1.0, 0.0, 0.0, 0.0]);
        let y = image([0.0, 0.0, 0.0, 0.5]);
        let d = |k, m| scalar(distance(k, x.clone(), y.clone(), m));
        assert!((d(Distance::Mse, 0.0) - 1.25 / 4.0).abs() < 1e-6);
        assert!((d(Distance::L1, 0.0) - 1.5 / 4.0).abs() < 1e-6);
        assert!((d(Distance::Hinge, 0.6) - 0.4 / 4.0).abs() < 1e-6);
        // Orthogonal images: cosine similarity 0, distance 1; identical: 0.
        assert!((d(Distance::Cosine, 0.0) - 1.0).abs() < 1e-6);
        let same = scalar(distance(Distance::Cosine, x.clone(), x, 0.0));
        assert!(same.abs() < 1e-6);
    }

    #[test]
    fn rate_follows_the_curriculum() {
        assert_eq!(reconstruction_rate(9_999, 10_000, 0.01, 0.5), 0.01);
        assert_eq!(reconstruction_rate(10_000, 10_000, 0.01, 0.5), 0.5);
    }
}
