//! One training iteration: the discriminator step and/or the generator step, each updating only
//! its own side with its own Adam.

use burn::module::{Module, ModuleMapper, Param};
use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::tensor::{Device, Tensor};

use super::adam::FusedAdam;
use super::ema;
use crate::config::{Config, ObjectiveKind, Schedule, Variant};
use crate::error::Result;
use crate::loss::{self, GanLoss};
use crate::model::{Discriminator, Discriminators, Generators};

/// Which side a step updates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// The two discriminators.
    Discriminators,
    /// The two generators.
    Generators,
}

/// Sees each step's gradients before the optimiser applies them (for tests and diagnostics).
pub trait StepObserver {
    /// Called with the gradients of `side`'s loss w.r.t. `side`'s parameters.
    fn gradients(&mut self, side: Side, grads: &GradientsParams);
}

impl StepObserver for () {
    fn gradients(&mut self, _: Side, _: &GradientsParams) {}
}

/// What one iteration did.
#[derive(Clone, Debug, PartialEq)]
pub struct StepReport {
    /// The iteration that was run (counting from 0).
    pub iteration: u64,
    /// The sides updated, in order.
    pub updated: Vec<Side>,
    /// Every loss term computed, by name (`d_loss`, `g_loss`, and the parts of each).
    pub losses: Vec<(&'static str, f32)>,
}

impl StepReport {
    /// The value of the loss called `name`, if it was computed this iteration.
    pub fn loss(&self, name: &str) -> Option<f32> {
        self.losses
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| *v)
    }

    fn push(&mut self, name: &'static str, value: &Tensor<1>) {
        self.losses.push((name, value.clone().into_scalar::<f32>()));
    }
}

/// The translations of one iteration; `None` where the variant does not need them.
struct Translations {
    fake_b: Tensor<4>,
    fake_a: Option<Tensor<4>>,
    recov_a: Option<Tensor<4>>,
    recov_b: Option<Tensor<4>>,
}

/// The four networks, their two optimisers and the iteration counter.
#[derive(Clone)]
pub struct Trainer {
    /// G_AB and G_BA.
    pub generators: Generators,
    /// D_A and D_B.
    pub discriminators: Discriminators,
    optim_g: ModuleOptimizer,
    optim_d: ModuleOptimizer,
    /// The moving average of the generators (`train.ema_decay`), on the inference device.
    averaged: Option<Generators>,
    config: Config,
    iteration: u64,
}

impl Trainer {
    /// Freshly initialised networks on `device` (which must be an autodiff device).
    pub fn new(config: Config, device: &Device) -> Result<Self> {
        config.validate()?;
        let generators = config.model.init_generators(device)?;
        let discriminators = config.model.init_discriminators(device)?;
        Self::from_networks(config, generators, discriminators)
    }

    /// Trains the given networks (e.g. imported weights).
    pub fn from_networks(
        config: Config,
        generators: Generators,
        discriminators: Discriminators,
    ) -> Result<Self> {
        config.validate()?;
        let adam = FusedAdam::new(&config.optimizer);
        let averaged = (config.train.ema_decay > 0.0).then(|| generators.valid());
        Ok(Self {
            generators,
            discriminators,
            optim_g: ModuleOptimizer::from(adam.clone()),
            optim_d: ModuleOptimizer::from(adam),
            averaged,
            config,
            iteration: 0,
        })
    }

    /// The configuration being trained.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The next iteration to run.
    pub fn iteration(&self) -> u64 {
        self.iteration
    }

    /// Sets the next iteration to run (the schedule and the curriculum follow it).
    pub fn set_iteration(&mut self, iteration: u64) {
        self.iteration = iteration;
    }

    /// The two optimisers (generators', discriminators').
    pub fn optimizers(&self) -> (&ModuleOptimizer, &ModuleOptimizer) {
        (&self.optim_g, &self.optim_d)
    }

    /// Replaces the two optimisers (e.g. with restored state).
    pub fn set_optimizers(&mut self, optim_g: ModuleOptimizer, optim_d: ModuleOptimizer) {
        self.optim_g = optim_g;
        self.optim_d = optim_d;
    }

    /// The moving average of the generators, when the run keeps one (`train.ema_decay`).
    pub fn averaged_generators(&self) -> Option<&Generators> {
        self.averaged.as_ref()
    }

    /// Replaces the moving average (e.g. with one restored from a checkpoint). Ignored when the
    /// run keeps none.
    pub fn set_averaged_generators(&mut self, averaged: Generators) {
        if self.averaged.is_some() {
            self.averaged = Some(averaged);
        }
    }

    /// The generators that translate, in inference mode: the moving average when the run keeps
    /// one, else the trained weights.
    pub fn inference_generators(&self) -> Generators {
        match &self.averaged {
            Some(averaged) => averaged.clone(),
            None => self.generators.valid(),
        }
    }

    /// The sides that iteration `iteration` updates, in order.
    pub fn sides(&self, iteration: u64) -> Vec<Side> {
        let o = &self.config.objective;
        match o.schedule {
            Schedule::Every => vec![Side::Discriminators, Side::Generators],
            Schedule::Alternate if iteration.is_multiple_of(o.update_interval) => {
                vec![Side::Discriminators]
            }
            Schedule::Alternate => vec![Side::Generators],
        }
    }

    /// Runs one iteration on a batch of each domain ([batch, channels, size, size], in the
    /// generators' pixel range).
    pub fn step(&mut self, real_a: Tensor<4>, real_b: Tensor<4>) -> StepReport {
        self.step_observed(real_a, real_b, &mut ())
    }

    /// [`step`](Self::step), showing the gradients to `observer` before each update.
    pub fn step_observed(
        &mut self,
        real_a: Tensor<4>,
        real_b: Tensor<4>,
        observer: &mut dyn StepObserver,
    ) -> StepReport {
        let mut report = StepReport {
            iteration: self.iteration,
            updated: self.sides(self.iteration),
            losses: Vec::new(),
        };
        let images = self.translate(&real_a);
        let images = self.translate_back(images, &real_b);
        for side in report.updated.clone() {
            let loss = match side {
                Side::Discriminators => {
                    self.discriminator_loss(&real_a, &real_b, &images, &mut report)
                }
                Side::Generators => self.generator_loss(&real_a, &real_b, &images, &mut report),
            };
            let grads = loss.backward();
            let lr = self.config.learning_rate(self.iteration);
            match side {
                Side::Discriminators => {
                    let grads = GradientsParams::from_grads(grads, &self.discriminators);
                    observer.gradients(side, &grads);
                    let discriminators = take_module(&mut self.discriminators);
                    self.discriminators = self.optim_d.step(lr, discriminators, grads);
                }
                Side::Generators => {
                    let grads = GradientsParams::from_grads(grads, &self.generators);
                    observer.gradients(side, &grads);
                    let generators = take_module(&mut self.generators);
                    self.generators = self.optim_g.step(lr, generators, grads);
                    if let Some(averaged) = self.averaged.take() {
                        let decay = self.config.train.ema_decay;
                        let generators = &self.generators;
                        self.averaged =
                            Some(ema::update(averaged, generators, decay, self.iteration));
                    }
                }
            }
        }
        self.iteration += 1;
        report
    }

    /// `G_AB(a)`, in the reference's order of generator calls.
    fn translate(&self, real_a: &Tensor<4>) -> Tensor<4> {
        self.generators.g_ab.forward(real_a.clone())
    }

    fn translate_back(&self, fake_b: Tensor<4>, real_b: &Tensor<4>) -> Translations {
        let g = &self.generators;
        match self.config.objective.variant {
            Variant::Gan => Translations {
                fake_b,
                fake_a: None,
                recov_a: None,
                recov_b: None,
            },
            Variant::Recongan => Translations {
                recov_a: Some(g.g_ba.forward(fake_b.clone())),
                fake_b,
                fake_a: None,
                recov_b: None,
            },
            Variant::Discogan => {
                let fake_a = g.g_ba.forward(real_b.clone());
                let recov_a = g.g_ba.forward(fake_b.clone());
                let recov_b = g.g_ab.forward(fake_a.clone());
                Translations {
                    fake_b,
                    fake_a: Some(fake_a),
                    recov_a: Some(recov_a),
                    recov_b: Some(recov_b),
                }
            }
        }
    }

    /// The (real, fake) pairs each discriminator judges: D_A only where there is a fake A.
    fn judged<'a>(
        &'a self,
        real_a: &'a Tensor<4>,
        real_b: &'a Tensor<4>,
        images: &'a Translations,
    ) -> Vec<(&'a Discriminator, &'a Tensor<4>, &'a Tensor<4>)> {
        let d = &self.discriminators;
        let mut pairs = Vec::with_capacity(2);
        if let Some(fake_a) = &images.fake_a {
            pairs.push((&d.d_a, real_a, fake_a));
        }
        pairs.push((&d.d_b, real_b, &images.fake_b));
        pairs
    }

    fn discriminator_loss(
        &self,
        real_a: &Tensor<4>,
        real_b: &Tensor<4>,
        images: &Translations,
        report: &mut StepReport,
    ) -> Tensor<1> {
        let kind = self.config.objective.gan_loss;
        let halves: Vec<Tensor<1>> = self
            .judged(real_a, real_b, images)
            .into_iter()
            .map(|(d, real, fake)| {
                // Fakes are detached: this loss trains the discriminators only.
                let on_real = loss::gan(kind, d.forward(real.clone()).logits, 1.0);
                let on_fake = loss::gan(kind, d.forward(fake.clone().detach()).logits, 0.0);
                (on_real + on_fake) * 0.5
            })
            .collect();
        let count = halves.len() as f64;
        let total = sum(halves);
        let d_loss = match self.config.objective.kind {
            // The seed averages the two discriminators, the official code sums them.
            ObjectiveKind::Seed => total / count,
            ObjectiveKind::Paper => total,
        };
        report.push("d_loss", &d_loss);
        d_loss
    }

    fn generator_loss(
        &self,
        real_a: &Tensor<4>,
        real_b: &Tensor<4>,
        images: &Translations,
        report: &mut StepReport,
    ) -> Tensor<1> {
        // The discriminators judge the fakes, but this loss trains the generators only: a copy
        // of them without parameter gradients lets the gradient reach the fakes while skipping
        // the discriminators' weight gradients, which the generator step would throw away.
        // (BatchNorm still runs in training mode and updates the shared running statistics.)
        let judges = self.discriminators.clone().no_grad();
        let mut g_loss = match self.config.objective.kind {
            ObjectiveKind::Seed => {
                self.seed_generator_loss(&judges, real_a, real_b, images, report)
            }
            ObjectiveKind::Paper => {
                self.paper_generator_loss(&judges, real_a, real_b, images, report)
            }
        };
        let lambda_identity = self.config.objective.lambda_identity;
        if lambda_identity > 0.0 {
            let loss_identity = self.identity_loss(real_a, real_b);
            report.push("loss_identity", &loss_identity);
            g_loss = g_loss + loss_identity * lambda_identity;
        }
        report.push("g_loss", &g_loss);
        g_loss
    }

    /// `½ [d(G_AB(b), b) + d(G_BA(a), a)]`: each generator fed an image already of its target
    /// domain should leave it as it is (only `G_AB`'s term in the `gan` variant, which does not
    /// train `G_BA`).
    fn identity_loss(&self, real_a: &Tensor<4>, real_b: &Tensor<4>) -> Tensor<1> {
        let o = &self.config.objective;
        let g = &self.generators;
        let dist =
            |x: Tensor<4>, y: &Tensor<4>| loss::distance(o.distance, x, y.clone(), o.hinge_margin);
        let mut terms = vec![dist(g.g_ab.forward(real_b.clone()), real_b)];
        if o.variant != Variant::Gan {
            terms.push(dist(g.g_ba.forward(real_a.clone()), real_a));
        }
        mean(terms)
    }

    fn seed_generator_loss(
        &self,
        d: &Discriminators,
        real_a: &Tensor<4>,
        real_b: &Tensor<4>,
        images: &Translations,
        report: &mut StepReport,
    ) -> Tensor<1> {
        let o = &self.config.objective;
        let dist = |x: &Tensor<4>, y: &Tensor<4>| {
            loss::distance(o.distance, x.clone(), y.clone(), o.hinge_margin)
        };
        let fool = |disc: &Discriminator, fake: &Tensor<4>| gan_real(o.gan_loss, disc, fake);

        let mut gan_terms = vec![fool(&d.d_b, &images.fake_b)];
        let mut pixel_terms = vec![dist(&images.fake_b, real_b)];
        if let Some(fake_a) = &images.fake_a {
            // The reference's order: D_B's term, then D_A's.
            gan_terms.push(fool(&d.d_a, fake_a));
            pixel_terms.insert(0, dist(fake_a, real_a));
        }
        let cycle_terms: Vec<Tensor<1>> = [(&images.recov_a, real_a), (&images.recov_b, real_b)]
            .into_iter()
            .filter_map(|(recov, real)| recov.as_ref().map(|r| dist(r, real)))
            .collect();

        let loss_gan = mean(gan_terms);
        let loss_pixelwise = mean(pixel_terms);
        report.push("loss_gan", &loss_gan);
        report.push("loss_pixelwise", &loss_pixelwise);
        let mut g_loss = loss_gan;
        if !cycle_terms.is_empty() {
            let loss_cycle = mean(cycle_terms);
            report.push("loss_cycle", &loss_cycle);
            g_loss = g_loss + loss_cycle * o.lambda_cycle;
        }
        let lambda_pixelwise = self.config.pixelwise_weight();
        if lambda_pixelwise > 0.0 {
            g_loss = g_loss + loss_pixelwise * lambda_pixelwise;
        }
        g_loss
    }

    fn paper_generator_loss(
        &self,
        d: &Discriminators,
        real_a: &Tensor<4>,
        real_b: &Tensor<4>,
        images: &Translations,
        report: &mut StepReport,
    ) -> Tensor<1> {
        let o = &self.config.objective;
        let rate = loss::reconstruction_rate(
            self.iteration,
            o.gan_curriculum,
            o.starting_rate,
            o.default_rate,
        );
        let dist = |x: &Tensor<4>, y: &Tensor<4>| {
            loss::distance(o.distance, x.clone(), y.clone(), o.hinge_margin)
        };
        // (gan, fm) of a fake judged by the discriminator of its domain.
        let adversarial = |disc: &Discriminator, real: &Tensor<4>, fake: &Tensor<4>| {
            let on_real = disc.forward(real.clone());
            let on_fake = disc.forward(fake.clone());
            let gan = loss::gan(o.gan_loss, on_fake.logits, 1.0);
            let fm = loss::feature_matching(&on_real.features, &on_fake.features)
                .unwrap_or_else(|| gan.zeros_like());
            (gan, fm)
        };

        let mut total = None;
        if let Some(fake_a) = &images.fake_a {
            let (gen_gan_a, fm_a) = adversarial(&d.d_a, real_a, fake_a);
            report.push("gen_gan_a", &gen_gan_a);
            report.push("fm_a", &fm_a);
            if let Some(recov_b) = &images.recov_b {
                let recon_b = dist(recov_b, real_b);
                report.push("recon_b", &recon_b);
                total = Some(loss::paper_generator_loss(gen_gan_a, fm_a, recon_b, rate));
            }
        }
        let (gen_gan_b, fm_b) = adversarial(&d.d_b, real_b, &images.fake_b);
        report.push("gen_gan_b", &gen_gan_b);
        report.push("fm_b", &fm_b);
        let g_ab = match &images.recov_a {
            Some(recov_a) => {
                let recon_a = dist(recov_a, real_a);
                report.push("recon_a", &recon_a);
                loss::paper_generator_loss(gen_gan_b, fm_b, recon_a, rate)
            }
            // The `gan` variant: no reconstruction, and no rate weighting either.
            None => gen_gan_b * 0.1 + fm_b * 0.9,
        };
        match total {
            Some(g_ba) => g_ab + g_ba,
            None => g_ab,
        }
    }
}

/// `gan(D(fake), 1)`: how well `fake` fools `disc`.
fn gan_real(kind: GanLoss, disc: &Discriminator, fake: &Tensor<4>) -> Tensor<1> {
    loss::gan(kind, disc.forward(fake.clone()).logits, 1.0)
}

fn sum(terms: Vec<Tensor<1>>) -> Tensor<1> {
    let mut iter = terms.into_iter();
    let first = iter.next();
    match first {
        Some(first) => iter.fold(first, |a, b| a + b),
        None => Tensor::zeros([1], &Device::default()),
    }
}

fn mean(terms: Vec<Tensor<1>>) -> Tensor<1> {
    let count = terms.len().max(1) as f64;
    sum(terms) / count
}

/// Moves the module out of `slot` and leaves a hollow copy in its place (the same structure with
/// one-element parameters), so that the optimiser holds the only handle on every parameter and
/// updates it in place (see `FusedAdam`) instead of copying each one first.
fn take_module<M: Module>(slot: &mut M) -> M {
    let hollow = slot.clone().map(&mut Hollow);
    std::mem::replace(slot, hollow)
}

/// Replaces every trainable float parameter with a one-element zero tensor (see
/// [`take_module`]). Tensors that do not require gradients stay: the optimiser leaves them alone,
/// and they include running statistics (`RunningState`), which a mapper rewrites in the storage
/// that the clone shares with the original.
struct Hollow;

impl ModuleMapper for Hollow {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        if !param.val().is_require_grad() {
            return param;
        }
        let (id, tensor, mapper) = param.consume();
        Param::from_mapped_value(id, Tensor::zeros([1; D], &tensor.device()), mapper)
    }
}
