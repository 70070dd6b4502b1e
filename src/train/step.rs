//! One training iteration, laid out as CycleGAN's `cycle_gan_model.py`: the translations
//! computed once ([`Generators::cycle`], its `forward`), the discriminators' loss
//! (`backward_D_basic`), the generators' loss (`backward_G`), each side updated by its own Adam.
//! Every equation is in [`crate::loss`].

use burn::module::{Module, ModuleMapper, Param};
use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::tensor::{Device, Tensor};

use super::ema;
use super::replicas::{Devices, Shard};
use crate::augment::{self, Policy};
use crate::backends::cpu::FusedAdam;
use crate::config::{Config, ObjectiveKind, Schedule, ValidConfig};
use crate::error::{Error, Result};
use crate::loss::{self, PerDirection, WeightedTerms, names};
use crate::model::{Cycle, Direction, Discriminators, Generators};

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

/// What one iteration did. The losses stay on the device: reading a value back is a
/// synchronisation on a GPU, so they are read ([`StepReport::read`]) only when logged.
#[derive(Clone, Debug)]
pub struct StepReport {
    /// The iteration that was run (counting from 0).
    pub iteration: u64,
    /// The sides updated, in order.
    pub updated: Vec<Side>,
    /// Every loss term computed, by name ([`crate::loss::names`]), detached from the graph.
    losses: Vec<(&'static str, Tensor<1>)>,
}

/// The loss terms of one slice of the batch (one device), by name, detached.
#[derive(Default)]
struct Losses(Vec<(&'static str, Tensor<1>)>);

impl Losses {
    fn push(&mut self, name: &'static str, value: &Tensor<1>) {
        self.0.push((name, value.clone().detach()));
    }

    /// The batch's losses from its slices': each slice's weighted by its share of the batch and
    /// summed on the main device (every slice computes the same terms in the same order).
    fn combine(
        mut slices: Vec<Losses>,
        shards: &[Shard],
        main: &Device,
    ) -> Vec<(&'static str, Tensor<1>)> {
        if slices.len() == 1 {
            return std::mem::take(&mut slices[0].0);
        }
        let mut combined: Vec<(&'static str, Tensor<1>)> = Vec::new();
        for (slice, shard) in slices.into_iter().zip(shards) {
            for (k, (name, value)) in slice.0.into_iter().enumerate() {
                let value = shard.weigh(value).to_device(main);
                match combined.get_mut(k) {
                    Some((_, sum)) => *sum = sum.clone() + value,
                    None => combined.push((name, value)),
                }
            }
        }
        combined
    }
}

impl StepReport {
    /// The names of the losses computed, in order.
    pub fn names(&self) -> Vec<&'static str> {
        self.losses.iter().map(|(name, _)| *name).collect()
    }

    /// Reads every loss back to the host, in one transfer.
    pub fn read(&self) -> Result<LossValues> {
        let tensors: Vec<Tensor<1>> = self.losses.iter().map(|(_, t)| t.clone()).collect();
        let values = if tensors.is_empty() {
            Vec::new()
        } else {
            Tensor::cat(tensors, 0)
                .into_data()
                .try_to_vec::<f32>()
                .map_err(|e| Error::Backend(format!("the losses: {e:?}")))?
        };
        Ok(LossValues {
            iteration: self.iteration,
            values: self.names().into_iter().zip(values).collect(),
        })
    }
}

/// The losses of one iteration, read back to the host.
#[derive(Clone, Debug, PartialEq)]
pub struct LossValues {
    /// The iteration they were computed in (counting from 0).
    pub iteration: u64,
    /// Every loss term, by name ([`crate::loss::names`]).
    pub values: Vec<(&'static str, f32)>,
}

impl LossValues {
    /// The value of the loss called `name`, if it was computed.
    pub fn get(&self, name: &str) -> Option<f32> {
        self.values
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| *v)
    }

    /// The first loss that is not a finite number, if any.
    pub fn non_finite(&self) -> Option<(&'static str, f32)> {
        self.values.iter().find(|(_, v)| !v.is_finite()).copied()
    }
}

/// The images of one iteration: the real batches and their translations.
struct Images {
    /// [batch, channels, size, size]
    real_a: Tensor<4>,
    /// [batch, channels, size, size]
    real_b: Tensor<4>,
    /// The index of the first image in the whole batch (see [`Shard::first`]).
    first: usize,
    cycle: Cycle,
}

/// Which images a discriminator is shown, and in which step: each such call of an iteration
/// draws its own augmentation ([`crate::augment`]).
#[derive(Clone, Copy)]
enum Shown {
    /// The real images of its domain, in the discriminators' step.
    RealToTrain,
    /// The (detached) fakes, in the discriminators' step.
    FakeToTrain,
    /// The real images, in the generators' step (the paper objective's feature matching).
    RealToFool,
    /// The fakes, in the generators' step.
    FakeToFool,
}

/// One direction's images, e.g. A→B: `a` (source), `G_AB(a)` (fake, judged by D_B against `b`,
/// the target) and `G_BA(G_AB(a))` (recov, compared with the source).
#[derive(Clone)]
struct DirectionImages<'a> {
    direction: Direction,
    source: &'a Tensor<4>,
    target: &'a Tensor<4>,
    fake: &'a Tensor<4>,
    recov: Option<&'a Tensor<4>>,
}

impl Images {
    /// The directions translated this iteration: A→B always, B→A in the `discogan` variant.
    fn directions(&self) -> PerDirection<DirectionImages<'_>> {
        let c = &self.cycle;
        PerDirection {
            a_to_b: DirectionImages {
                direction: Direction::AToB,
                source: &self.real_a,
                target: &self.real_b,
                fake: &c.fake_b,
                recov: c.recov_a.as_ref(),
            },
            b_to_a: c.fake_a.as_ref().map(|fake| DirectionImages {
                direction: Direction::BToA,
                source: &self.real_b,
                target: &self.real_a,
                fake,
                recov: c.recov_b.as_ref(),
            }),
        }
    }
}

/// The paper objective's names of a direction's (adversarial, feature-matching,
/// reconstruction) terms: A→B's fakes are B images, its reconstructions A images.
fn paper_names(direction: Direction) -> [&'static str; 3] {
    match direction {
        Direction::AToB => [names::GAN_B, names::FM_B, names::CYCLE_A],
        Direction::BToA => [names::GAN_A, names::FM_A, names::CYCLE_B],
    }
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
    /// The devices that share each batch (`--devices`); `None`: the networks' own device alone.
    devices: Option<Devices>,
    /// `objective.diff_augment`, read.
    augment: Policy,
    config: ValidConfig,
    iteration: u64,
}

impl Trainer {
    /// Freshly initialised networks on `device` (which must be an autodiff device).
    pub fn new(config: ValidConfig, device: &Device) -> Result<Self> {
        let generators = config.model.init_generators(device)?;
        let discriminators = config.model.init_discriminators(device)?;
        Self::from_networks(config, generators, discriminators)
    }

    /// Trains the given networks (e.g. imported weights).
    pub fn from_networks(
        config: ValidConfig,
        generators: Generators,
        discriminators: Discriminators,
    ) -> Result<Self> {
        let o = &config.optimizer;
        let adam = FusedAdam::new(o.beta1, o.beta2, o.epsilon, o.weight_decay);
        let averaged = (config.train.ema_decay > 0.0).then(|| generators.valid());
        let augment = Policy::parse(&config.objective.diff_augment)?;
        Ok(Self {
            generators,
            discriminators,
            optim_g: ModuleOptimizer::from(adam.clone()),
            optim_d: ModuleOptimizer::from(adam),
            averaged,
            devices: None,
            augment,
            config,
            iteration: 0,
        })
    }

    /// Trains on several devices from now on, each on its slice of every batch
    /// ([`Devices`]). The first must be the device the networks are on.
    pub fn set_devices(&mut self, devices: Devices) -> Result<()> {
        let on = self.generators.devices();
        if !on.contains(devices.main()) {
            return Err(Error::config(
                "devices",
                format!(
                    "the first device ({:?}) must hold the networks, which are on {on:?}",
                    devices.main()
                ),
            ));
        }
        self.devices = (devices.len() > 1).then_some(devices);
        Ok(())
    }

    /// The devices that share each batch, the first holding the networks; `None` when the
    /// networks' own device trains alone.
    pub fn devices(&self) -> Option<&Devices> {
        self.devices.as_ref()
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
        let iteration = self.iteration;
        let updated = self.sides(iteration);
        let devices = match &self.devices {
            Some(devices) => devices.clone(),
            None => Devices::one(&real_a.device()),
        };
        let shards = devices.shard(real_a, real_b);
        // Each slice's networks: the trained ones for the first, replicas on the other devices.
        let mut generator_replicas = devices.replicate(&self.generators, shards.len());
        let images: Vec<Images> = shards
            .iter()
            .enumerate()
            .map(|(i, shard)| {
                let generators = pick(&self.generators, &generator_replicas, i);
                self.forward(generators, shard, &updated)
            })
            .collect();
        let mut losses: Vec<Losses> = shards.iter().map(|_| Losses::default()).collect();
        for &side in &updated {
            // Replicated for each side: the generators' step is judged by the updated ones.
            let judge_replicas = devices.replicate(&self.discriminators, shards.len());
            let grads = match side {
                Side::Discriminators => {
                    let mut per_slice = Vec::with_capacity(shards.len());
                    for (i, shard) in shards.iter().enumerate() {
                        let judges = pick(&self.discriminators, &judge_replicas, i);
                        let loss = self.backward_d(judges, &images[i], &mut losses[i]);
                        per_slice.push((shard.weigh(loss), judges));
                    }
                    devices.gradients(&self.discriminators, per_slice)
                }
                Side::Generators => {
                    let mut per_slice = Vec::with_capacity(shards.len());
                    for (i, shard) in shards.iter().enumerate() {
                        let generators = pick(&self.generators, &generator_replicas, i);
                        let judges = pick(&self.discriminators, &judge_replicas, i);
                        let loss = self.backward_g(generators, judges, &images[i], &mut losses[i]);
                        per_slice.push((shard.weigh(loss), generators));
                    }
                    devices.gradients(&self.generators, per_slice)
                }
            };
            // The replicas go before the step, which then holds the only handle on each
            // parameter and updates it in place.
            drop(judge_replicas);
            if side == Side::Generators {
                generator_replicas.clear();
            }
            observer.gradients(side, &grads);
            self.apply(side, grads);
        }
        self.iteration += 1;
        StepReport {
            iteration,
            updated,
            losses: Losses::combine(losses, &shards, devices.main()),
        }
    }

    /// The translations this iteration needs of a slice, each computed once: G_BA's only in
    /// the `discogan` variant, the reconstructions only when the generators are updated (the
    /// discriminators never see them).
    fn forward(&self, generators: &Generators, shard: &Shard, sides: &[Side]) -> Images {
        let variant = self.config.objective.variant;
        let reconstruct = variant.reconstructs() && sides.contains(&Side::Generators);
        let (real_a, real_b) = (shard.real_a.clone(), shard.real_b.clone());
        let cycle = generators.cycle(
            &real_a,
            variant.both_directions().then_some(&real_b),
            reconstruct,
        );
        Images {
            real_a,
            real_b,
            first: shard.first,
            cycle,
        }
    }

    /// `x` as the discriminator of `direction`'s target domain is shown it (`shown`):
    /// augmented by `objective.diff_augment`, with draws of this run, iteration and call.
    fn shown(&self, x: Tensor<4>, direction: Direction, shown: Shown, first: usize) -> Tensor<4> {
        if self.augment.is_off() {
            return x;
        }
        let call = 2 * shown as u64 + u64::from(direction == Direction::BToA);
        let keys = [self.config.train.seed, 0xda, self.iteration, call];
        augment::augment(x, &self.augment, &keys, first)
    }

    /// The discriminators' loss: each judges the real images of its domain and the (detached)
    /// fakes, [`loss::discriminator_half`], combined by [`loss::discriminator_loss`].
    fn backward_d(
        &self,
        discriminators: &Discriminators,
        images: &Images,
        losses: &mut Losses,
    ) -> Tensor<1> {
        let o = &self.config.objective;
        let halves = images.directions().map(|x| {
            let judge = discriminators.judge_of(x.direction);
            let (dir, first) = (x.direction, images.first);
            let real = self.shown(x.target.clone(), dir, Shown::RealToTrain, first);
            let on_real = judge.forward(real).logits;
            // Detached: this loss trains the discriminators only.
            let fake = self.shown(x.fake.clone().detach(), dir, Shown::FakeToTrain, first);
            let on_fake = judge.forward(fake).logits;
            loss::discriminator_half(o.gan_loss, on_real, on_fake)
        });
        let loss_d = loss::discriminator_loss(o.kind, halves);
        losses.push(names::D, &loss_d);
        loss_d
    }

    /// The generators' loss: the objective's adversarial and reconstruction terms, and the
    /// identity term when it is weighted.
    fn backward_g(
        &self,
        generators: &Generators,
        discriminators: &Discriminators,
        images: &Images,
        losses: &mut Losses,
    ) -> Tensor<1> {
        // The discriminators judge the fakes, but this loss trains the generators only: a copy
        // of them without parameter gradients lets the gradient reach the fakes while skipping
        // the discriminators' weight gradients, which the generator step would throw away.
        // (BatchNorm still runs in training mode and updates the shared running statistics.)
        let judges = discriminators.clone().no_grad();
        let mut loss_g = match self.config.objective.kind {
            ObjectiveKind::Weighted => self.weighted_generator_loss(&judges, images, losses),
            ObjectiveKind::Paper => self.paper_generator_loss(&judges, images, losses),
        };
        let o = &self.config.objective;
        if o.lambda_identity > 0.0 {
            // G_AB fed a B image should leave it as it is, and G_BA an A image (when trained),
            // in this order of generator calls.
            let distances = images.directions().map(|x| {
                let unchanged = generators.of(x.direction).forward(x.target.clone());
                loss::distance(o.distance, unchanged, x.target.clone(), o.hinge_margin)
            });
            let loss_identity = loss::identity_loss(distances);
            losses.push(names::IDENTITY, &loss_identity);
            loss_g = loss_g + loss_identity * o.lambda_identity;
        }
        losses.push(names::G, &loss_g);
        loss_g
    }

    fn weighted_generator_loss(
        &self,
        judges: &Discriminators,
        images: &Images,
        losses: &mut Losses,
    ) -> Tensor<1> {
        let o = &self.config.objective;
        let dist = |x: &Tensor<4>, y: &Tensor<4>| {
            loss::distance(o.distance, x.clone(), y.clone(), o.hinge_margin)
        };
        let directions = images.directions();
        let fool = |x: &DirectionImages| {
            let fake = self.shown(x.fake.clone(), x.direction, Shown::FakeToFool, images.first);
            let on_fake = judges.judge_of(x.direction).forward(fake).logits;
            loss::gan(o.gan_loss, on_fake, 1.0)
        };
        let terms = WeightedTerms {
            gan: directions.clone().map(|x| fool(&x)),
            pixelwise: directions.clone().map(|x| dist(x.fake, x.target)),
            cycle: directions
                .map(|x| x.recov.map(|recov| dist(recov, x.source)))
                .transpose(),
        };
        let (loss_g, parts) =
            loss::weighted_generator_loss(terms, o.lambda_cycle, self.config.pixelwise_weight());
        for (name, value) in &parts {
            losses.push(name, value);
        }
        loss_g
    }

    fn paper_generator_loss(
        &self,
        judges: &Discriminators,
        images: &Images,
        losses: &mut Losses,
    ) -> Tensor<1> {
        let o = &self.config.objective;
        let rate = loss::reconstruction_rate(
            self.iteration,
            o.gan_curriculum,
            o.starting_rate,
            o.default_rate,
        );
        let per_direction = images.directions().map(|x| {
            let [gan_name, fm_name, cycle_name] = paper_names(x.direction);
            let judge = judges.judge_of(x.direction);
            let (dir, first) = (x.direction, images.first);
            let on_real =
                judge.forward(self.shown(x.target.clone(), dir, Shown::RealToFool, first));
            let on_fake = judge.forward(self.shown(x.fake.clone(), dir, Shown::FakeToFool, first));
            let gan = loss::gan(o.gan_loss, on_fake.logits, 1.0);
            let fm = loss::feature_matching(&on_real.features, &on_fake.features)
                .unwrap_or_else(|| gan.zeros_like());
            losses.push(gan_name, &gan);
            losses.push(fm_name, &fm);
            let recon = x.recov.map(|recov| {
                loss::distance(o.distance, recov.clone(), x.source.clone(), o.hinge_margin)
            });
            if let Some(recon) = &recon {
                losses.push(cycle_name, recon);
            }
            loss::paper_generator_loss(gan, fm, recon, rate)
        });
        per_direction.sum()
    }

    /// Applies one step of `side`'s optimiser with `grads` (and, after a generator step, the
    /// moving average).
    fn apply(&mut self, side: Side, grads: GradientsParams) {
        let lr = self.config.learning_rate(self.iteration);
        match side {
            Side::Discriminators => {
                let discriminators = take_module(&mut self.discriminators);
                self.discriminators = self.optim_d.step(lr, discriminators, grads);
            }
            Side::Generators => {
                let generators = take_module(&mut self.generators);
                self.generators = self.optim_g.step(lr, generators, grads);
                if let Some(averaged) = self.averaged.take() {
                    let decay = self.config.train.ema_decay;
                    let generators = &self.generators;
                    self.averaged = Some(ema::update(averaged, generators, decay, self.iteration));
                }
            }
        }
    }
}

/// The networks of slice `i`: the trained ones for the first, else the replica of its device.
fn pick<'a, M>(main: &'a M, replicas: &'a [M], i: usize) -> &'a M {
    match i {
        0 => main,
        i => &replicas[i - 1],
    }
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
