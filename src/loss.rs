//! Every equation of the DiscoGAN objective, each once: the training step and the toy experiment
//! assemble their losses from these functions and nothing else.
//!
//! Notation: `D(x)` is a discriminator's logit, `a`/`b` real images of domains A/B, `G_AB(a)` the
//! translation of `a` into B and `G_BA(G_AB(a))` its reconstruction; `gan(x, t)` is [`gan`] and
//! `d(x, y)` is [`distance`]. Both objectives are the ones of `reference/discogan_torch.py`
//! (`weighted_losses`/`weighted_generator_loss` and `paper_losses` there), which the parity tests
//! compare against.
//!
//! - Discriminators (either objective): each judges its real and its fake images,
//!   [`discriminator_half`]; the weighted objective averages the two halves, the paper's sums
//!   them ([`discriminator_loss`]).
//! - Generators, weighted objective: [`weighted_generator_loss`],
//!   `L_G = mean_X gan(D_X(fake_X), 1) + λ_cyc · mean_X d(recov_X, x) + λ_pw · mean_X d(fake_X, x)`.
//! - Generators, paper objective: per direction [`paper_generator_loss`],
//!   `(0.1 · gan(D_B(G_AB(a)), 1) + 0.9 · fm_B) · (1 − rate) + rate · d(G_BA(G_AB(a)), a)`, with
//!   [`feature_matching`] and [`reconstruction_rate`]; summed over the directions.
//! - Either objective may add CycleGAN's identity term, [`identity_loss`].

use burn::tensor::{Tensor, activation};
use serde::{Deserialize, Serialize};

/// Which objective to optimise.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum ObjectiveKind {
    /// GAN + λ_cyc · reconstruction (+ λ_pw · pixelwise), every term averaged over the two
    /// directions (`reference/discogan_torch.py`'s `weighted_losses`). Written `"seed"` before.
    #[default]
    #[serde(alias = "seed")]
    Weighted,
    /// The official code's: (0.1 · GAN + 0.9 · feature matching) · (1 − rate) + rate · recon.
    Paper,
}

/// The paper's ablation variants.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Variant {
    /// One direction (A→B, judged by D_B), no reconstruction.
    Gan,
    /// One direction with the A→B→A reconstruction.
    Recongan,
    /// Both directions, both reconstructions.
    #[default]
    Discogan,
}

impl Variant {
    /// Whether G_BA translates B into A (and D_A judges it).
    pub fn both_directions(self) -> bool {
        self == Variant::Discogan
    }

    /// Whether the generators are trained to reconstruct their inputs.
    pub fn reconstructs(self) -> bool {
        self != Variant::Gan
    }
}

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
    /// Mean squared error (the reference's L2 and the official code's `MSELoss`).
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

/// `gan(logits, target)`: the adversarial loss of `logits` ([batch, 1, h, w] for images, [n, 1]
/// for the toy's points) against a constant target (1 = real, 0 = fake), averaged over every
/// element.
pub fn gan<const D: usize>(kind: GanLoss, logits: Tensor<D>, target: f32) -> Tensor<1> {
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

/// `d(x, y)` for images [batch, c, h, w] (or points [n, 2]); `margin` is used by
/// [`Distance::Hinge`] only.
pub fn distance<const D: usize>(
    kind: Distance,
    x: Tensor<D>,
    y: Tensor<D>,
    margin: f32,
) -> Tensor<1> {
    match kind {
        Distance::Mse => (x - y).powi_scalar(2).mean(),
        Distance::L1 => (x - y).abs().mean(),
        Distance::Hinge => activation::relu((x - y).abs() - margin).mean(),
        Distance::Cosine => {
            // [batch, every other element]
            let x: Tensor<2> = x.flatten(1, D - 1);
            let y: Tensor<2> = y.flatten(1, D - 1);
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

/// One discriminator's loss (CycleGAN's `backward_D_basic`): `½ [gan(D(x), 1) + gan(D(fake), 0)]`,
/// from its logits on real and on (detached) fake images.
pub fn discriminator_half<const D: usize>(
    kind: GanLoss,
    on_real: Tensor<D>,
    on_fake: Tensor<D>,
) -> Tensor<1> {
    (gan(kind, on_real, 1.0) + gan(kind, on_fake, 0.0)) * 0.5
}

/// One value per direction trained: A→B always (every variant trains G_AB), B→A only in the
/// `discogan` variant.
#[derive(Clone, Debug)]
pub struct PerDirection<T> {
    /// A→B's (G_AB's translations, judged by D_B).
    pub a_to_b: T,
    /// B→A's (G_BA's translations, judged by D_A), when trained.
    pub b_to_a: Option<T>,
}

impl<T> PerDirection<T> {
    /// `f` applied to each direction's value, A→B first.
    pub fn map<U>(self, mut f: impl FnMut(T) -> U) -> PerDirection<U> {
        let a_to_b = f(self.a_to_b);
        PerDirection {
            a_to_b,
            b_to_a: self.b_to_a.map(f),
        }
    }
}

impl<T> PerDirection<Option<T>> {
    /// The values when A→B has one (a direction's optional term, e.g. its reconstruction).
    pub fn transpose(self) -> Option<PerDirection<T>> {
        Some(PerDirection {
            a_to_b: self.a_to_b?,
            b_to_a: self.b_to_a.flatten(),
        })
    }
}

impl PerDirection<Tensor<1>> {
    /// The sum over the directions (of two terms, in either order: floating-point addition of
    /// two numbers is commutative).
    pub fn sum(self) -> Tensor<1> {
        match self.b_to_a {
            Some(b_to_a) => self.a_to_b + b_to_a,
            None => self.a_to_b,
        }
    }

    /// The mean over the directions.
    pub fn mean(self) -> Tensor<1> {
        match self.b_to_a {
            Some(b_to_a) => (self.a_to_b + b_to_a) / 2.0,
            None => self.a_to_b,
        }
    }
}

/// `L_D` from each discriminator's [`discriminator_half`]: the weighted objective averages them,
/// the paper's (the official code) sums them.
pub fn discriminator_loss(objective: ObjectiveKind, halves: PerDirection<Tensor<1>>) -> Tensor<1> {
    match objective {
        ObjectiveKind::Weighted => halves.mean(),
        ObjectiveKind::Paper => halves.sum(),
    }
}

/// The terms of the weighted objective's generator loss, per direction trained.
pub struct WeightedTerms {
    /// `gan(D_Y(G(x)), 1)`: how well each direction's fakes fool the target domain's
    /// discriminator.
    pub gan: PerDirection<Tensor<1>>,
    /// `d(G(x), y)`: each fake's distance to the real image of the target domain, its ground
    /// truth on paired data.
    pub pixelwise: PerDirection<Tensor<1>>,
    /// `d(G'(G(x)), x)`: each reconstruction's distance to its input (none in the `gan`
    /// variant).
    pub cycle: Option<PerDirection<Tensor<1>>>,
}

/// The weighted objective's generator loss and its logged parts:
/// `L_G = loss_gan + λ_cyc · loss_cycle + λ_pw · loss_pixelwise`, each the mean over the
/// directions (`loss_pixelwise` is logged even at λ_pw = 0: how far the translations are from
/// the inputs' partners).
pub fn weighted_generator_loss(
    terms: WeightedTerms,
    lambda_cycle: f64,
    lambda_pixelwise: f64,
) -> (Tensor<1>, Vec<(&'static str, Tensor<1>)>) {
    let loss_gan = terms.gan.mean();
    let loss_pixelwise = terms.pixelwise.mean();
    let mut parts = vec![
        (names::GAN, loss_gan.clone()),
        (names::PIXELWISE, loss_pixelwise.clone()),
    ];
    // The reference's order of the sum: gan, cycle, pixelwise.
    let mut total = loss_gan;
    if let Some(loss_cycle) = terms.cycle.map(PerDirection::mean) {
        parts.push((names::CYCLE, loss_cycle.clone()));
        total = total + loss_cycle * lambda_cycle;
    }
    if lambda_pixelwise > 0.0 {
        total = total + loss_pixelwise * lambda_pixelwise;
    }
    (total, parts)
}

/// The paper's generator loss of one direction, say G_AB:
/// `(0.1 · gan + 0.9 · fm) · (1 − rate) + rate · recon`, where `gan` = gan(D_B(G_AB(a)), 1), `fm`
/// the feature matching of D_B and `recon` = d(G_BA(G_AB(a)), a). Without a reconstruction (the
/// `gan` variant) there is no rate weighting either: `0.1 · gan + 0.9 · fm`.
pub fn paper_generator_loss(
    gan: Tensor<1>,
    fm: Tensor<1>,
    recon: Option<Tensor<1>>,
    rate: f64,
) -> Tensor<1> {
    let adversarial = gan * 0.1 + fm * 0.9;
    match recon {
        Some(recon) => adversarial * (1.0 - rate) + recon * rate,
        None => adversarial,
    }
}

/// CycleGAN's identity term, `½ [d(G_AB(b), b) + d(G_BA(a), a)]`: the mean of the distances
/// of the generators trained (only G_AB's in the `gan` variant, which does not train G_BA).
pub fn identity_loss(distances: PerDirection<Tensor<1>>) -> Tensor<1> {
    distances.mean()
}

/// The names every loss is logged under (`metrics.jsonl`, the progress bar, the plots): `loss_`,
/// then the term, then `_a`/`_b` where a term has one value per domain (the domain of the images
/// it is about: `loss_gan_a` is how well the fake A images fool D_A).
pub mod names {
    /// The discriminators' total loss.
    pub const D: &str = "loss_d";
    /// The generators' total loss.
    pub const G: &str = "loss_g";
    /// The weighted objective's adversarial term (mean of the directions).
    pub const GAN: &str = "loss_gan";
    /// The weighted objective's reconstruction term (mean of the directions).
    pub const CYCLE: &str = "loss_cycle";
    /// The weighted objective's pixelwise term (mean of the directions).
    pub const PIXELWISE: &str = "loss_pixelwise";
    /// The identity term (either objective).
    pub const IDENTITY: &str = "loss_identity";
    /// The paper objective's adversarial term of domain A's fakes.
    pub const GAN_A: &str = "loss_gan_a";
    /// ... of domain B's fakes.
    pub const GAN_B: &str = "loss_gan_b";
    /// The paper objective's feature matching of D_A.
    pub const FM_A: &str = "loss_fm_a";
    /// ... of D_B.
    pub const FM_B: &str = "loss_fm_b";
    /// The paper objective's reconstruction of domain A (A→B→A).
    pub const CYCLE_A: &str = "loss_cycle_a";
    /// ... of domain B (B→A→B).
    pub const CYCLE_B: &str = "loss_cycle_b";
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
