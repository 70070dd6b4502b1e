//! The training step updates only the side it steps, and each variant only its networks.

mod common;

use std::collections::BTreeMap;

use burn::module::Module;
use burn::optim::GradientsParams;
use burn::store::ModuleSnapshot;
use burn::tensor::{Device, Distribution, Tensor};
use common::named_values_flat;
use discogan::config::{Config, Preset, Schedule, Variant};
use discogan::model::{Discriminators, Generators};
use discogan::train::{Devices, LossValues, Side, StepObserver, Trainer, gradients_as_module};

/// Trainable parameters (running statistics left out) by path.
fn params<M: ModuleSnapshot>(module: &M) -> BTreeMap<String, Vec<u8>> {
    module
        .collect(None, None, false)
        .into_iter()
        .filter(|t| !t.name.contains("running_"))
        .map(|t| (t.name.clone(), t.to_bytes().unwrap().to_vec()))
        .collect()
}

fn small(preset: Preset) -> Config {
    let mut config = Config::preset(preset);
    config.model.width = 2;
    config.model.image_size = 32;
    config
}

fn batch(config: &Config, device: &Device) -> Tensor<4> {
    let (lo, hi) = config.model.architecture.pixel_range();
    let shape = [
        2,
        config.model.channels,
        config.model.image_size,
        config.model.image_size,
    ];
    Tensor::random(shape, Distribution::Uniform(lo as f64, hi as f64), device)
}

/// Which of (G_AB, G_BA, D_A, D_B) changed in one iteration.
fn changed_by_one_iteration(config: Config, iteration: u64) -> (Vec<Side>, [bool; 4]) {
    let device = Device::default().autodiff();
    device.seed(7);
    let mut trainer = Trainer::new(config.clone().validated().unwrap(), &device).unwrap();
    trainer.set_iteration(iteration);
    let before_g = (
        params(&trainer.generators.g_ab),
        params(&trainer.generators.g_ba),
    );
    let before_d = (
        params(&trainer.discriminators.d_a),
        params(&trainer.discriminators.d_b),
    );
    let report = trainer.step(batch(&config, &device), batch(&config, &device));
    for (name, value) in &report.read().unwrap().values {
        assert!(value.is_finite(), "{name} = {value}");
    }
    let changed = [
        params(&trainer.generators.g_ab) != before_g.0,
        params(&trainer.generators.g_ba) != before_g.1,
        params(&trainer.discriminators.d_a) != before_d.0,
        params(&trainer.discriminators.d_b) != before_d.1,
    ];
    (report.updated, changed)
}

#[test]
fn a_discriminator_step_leaves_the_generators_untouched_and_vice_versa() {
    for preset in [Preset::Unet, Preset::Paper] {
        let mut config = small(preset);
        config.objective.schedule = Schedule::Alternate;
        config.objective.update_interval = 2;
        let (sides, changed) = changed_by_one_iteration(config.clone(), 0);
        assert_eq!(sides, vec![Side::Discriminators]);
        assert_eq!(changed, [false, false, true, true], "{preset:?} D step");
        let (sides, changed) = changed_by_one_iteration(config, 1);
        assert_eq!(sides, vec![Side::Generators]);
        assert_eq!(changed, [true, true, false, false], "{preset:?} G step");
    }
}

#[test]
fn variants_train_only_their_networks() {
    for preset in [Preset::Unet, Preset::Paper] {
        let mut config = small(preset);
        config.objective.schedule = Schedule::Every;
        // gan: A->B judged by D_B; nothing else moves.
        config.objective.variant = Variant::Gan;
        let (_, changed) = changed_by_one_iteration(config.clone(), 0);
        assert_eq!(changed, [true, false, false, true], "{preset:?} gan");
        // recongan: G_BA reconstructs, so it trains too; D_A still idle.
        config.objective.variant = Variant::Recongan;
        let (_, changed) = changed_by_one_iteration(config.clone(), 0);
        assert_eq!(changed, [true, true, false, true], "{preset:?} recongan");
        config.objective.variant = Variant::Discogan;
        let (_, changed) = changed_by_one_iteration(config, 0);
        assert_eq!(changed, [true, true, true, true], "{preset:?} discogan");
    }
}

#[test]
fn every_gan_loss_and_distance_trains() {
    use discogan::loss::{Distance, GanLoss};
    for gan_loss in [GanLoss::Bce, GanLoss::Lsgan] {
        for distance in [
            Distance::Mse,
            Distance::L1,
            Distance::Cosine,
            Distance::Hinge,
        ] {
            let mut config = small(Preset::Unet);
            config.objective.gan_loss = gan_loss;
            config.objective.distance = distance;
            config.objective.lambda_pixelwise = Some(1.0);
            let (_, changed) = changed_by_one_iteration(config, 0);
            assert_eq!(changed, [true; 4], "{gan_loss:?} + {distance:?}");
        }
    }
}

#[test]
fn the_identity_term_is_each_generator_applied_to_its_own_domain() {
    let device = Device::default().autodiff();
    let mut config = small(Preset::Unet);
    // No dropout, so that a forward pass outside the step sees the same networks.
    config.model.dropout = 0.0;
    config.objective.distance = discogan::loss::Distance::L1;
    config.objective.lambda_identity = 2.5;
    device.seed(3);
    let mut trainer = Trainer::new(config.clone().validated().unwrap(), &device).unwrap();
    let (a, b) = (batch(&config, &device), batch(&config, &device));
    // The D step comes first and leaves the generators as they are.
    let g = trainer.generators.clone();
    let l1 = |x: Tensor<4>, y: &Tensor<4>| (x - y.clone()).abs().mean().into_scalar::<f32>();
    let expected = 0.5 * (l1(g.g_ab.forward(b.clone()), &b) + l1(g.g_ba.forward(a.clone()), &a));

    let report = trainer.step(a, b);
    let identity = report.read().unwrap().get("loss_identity").unwrap();
    assert!(
        (identity - expected).abs() < 1e-5,
        "{identity} vs {expected}"
    );
    let rest = report.read().unwrap().get("loss_gan").unwrap()
        + 10.0 * report.read().unwrap().get("loss_cycle").unwrap();
    let g_loss = report.read().unwrap().get("loss_g").unwrap();
    assert!((g_loss - rest - 2.5 * identity).abs() < 1e-4, "{g_loss}");

    // Off by default: not computed, not reported.
    config.objective.lambda_identity = 0.0;
    let mut trainer = Trainer::new(config.clone().validated().unwrap(), &device).unwrap();
    let report = trainer.step(batch(&config, &device), batch(&config, &device));
    assert_eq!(report.read().unwrap().get("loss_identity"), None);
}

/// G_AB's trainable weights ([`params`]), flattened in path order.
fn g_ab_weights(trainer: &Trainer) -> Vec<f32> {
    params(&trainer.generators.g_ab)
        .into_values()
        .flat_map(|bytes| {
            bytes
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect::<Vec<_>>()
        })
        .collect()
}

/// How much one step at `iteration` moves each of G_AB's weights.
fn first_step(config: &Config, iteration: u64) -> Vec<f32> {
    let device = Device::default().autodiff();
    device.seed(11);
    let mut trainer = Trainer::new(config.clone().validated().unwrap(), &device).unwrap();
    let (a, b) = (batch(config, &device), batch(config, &device));
    trainer.set_iteration(iteration);
    let before = g_ab_weights(&trainer);
    device.seed(12);
    trainer.step(a, b);
    let after = g_ab_weights(&trainer);
    before.iter().zip(&after).map(|(x, y)| y - x).collect()
}

#[test]
fn the_learning_rate_decay_scales_the_step() {
    let mut config = small(Preset::Unet);
    config.train.iterations = 10;
    let constant = first_step(&config, 8);
    // Iteration 8 of 10 with the last 4 decaying: half the rate.
    config.optimizer.decay_iterations = 4;
    assert_eq!(config.learning_rate(8), 0.5 * config.optimizer.lr);
    let decayed = first_step(&config, 8);
    // Adam's first step moves no weight by more than lr, and those with a gradient far above
    // epsilon by lr itself; the generators' gradients differ between the two runs (the
    // discriminators' step before is halved too), so the largest moves are compared.
    let largest = |step: &[f32]| step.iter().fold(0f32, |m, x| m.max(x.abs())) as f64;
    let lr = config.optimizer.lr;
    assert!(
        (largest(&constant) / lr - 1.0).abs() < 1e-2,
        "{}",
        largest(&constant)
    );
    assert!(
        (largest(&decayed) / lr - 0.5).abs() < 1e-2,
        "{}",
        largest(&decayed)
    );
}

/// Every tensor of `module`, running statistics included, by path.
fn all_tensors<M: ModuleSnapshot>(module: &M) -> BTreeMap<String, Vec<u8>> {
    module
        .collect(None, None, false)
        .into_iter()
        .map(|t| (t.name.clone(), t.to_bytes().unwrap().to_vec()))
        .collect()
}

#[test]
fn a_discriminator_only_iteration_translates_once_and_reconstructs_nothing() {
    // The paper generator's BatchNorm records every batch it sees in training mode, so its
    // running statistics count the generators' forward passes: G_BA sees one batch (b → fake
    // A), not two (+ the reconstruction of fake B, which the discriminators never see).
    let mut config = small(Preset::Paper);
    config.objective.schedule = Schedule::Alternate;
    let device = Device::default().autodiff();
    let (a, b) = (batch(&config, &device), batch(&config, &device));
    device.seed(5);
    let mut trainer = Trainer::new(config.clone().validated().unwrap(), &device).unwrap();
    // A copy of the generators with their own running statistics (a clone would share them).
    let copy = config
        .model
        .init_generators(&device)
        .unwrap()
        .load_record(trainer.generators.clone().into_record());
    let report = trainer.step(a.clone(), b.clone());
    assert_eq!(report.updated, vec![Side::Discriminators]);
    assert_eq!(report.names(), vec!["loss_d"]);

    let _ = copy.g_ab.forward(a.clone());
    let _ = copy.g_ba.forward(b.clone());
    assert_eq!(
        all_tensors(&trainer.generators.g_ab),
        all_tensors(&copy.g_ab),
        "G_AB saw exactly one batch, a"
    );
    assert_eq!(
        all_tensors(&trainer.generators.g_ba),
        all_tensors(&copy.g_ba),
        "G_BA saw exactly one batch, b"
    );
    // The check can tell: a second batch through G_BA (the reconstruction of G_AB(a)) shows.
    let _ = copy.g_ba.forward(copy.g_ab.forward(a));
    assert_ne!(
        all_tensors(&trainer.generators.g_ba),
        all_tensors(&copy.g_ba)
    );
}

#[test]
fn losses_are_read_back_once_under_their_names() {
    let config = small(Preset::Unet);
    let device = Device::default().autodiff();
    device.seed(9);
    let mut trainer = Trainer::new(config.clone().validated().unwrap(), &device).unwrap();
    let report = trainer.step(batch(&config, &device), batch(&config, &device));
    assert_eq!(
        report.names(),
        vec![
            "loss_d",
            "loss_gan",
            "loss_pixelwise",
            "loss_cycle",
            "loss_g"
        ]
    );
    let losses = report.read().unwrap();
    assert_eq!(losses.iteration, 0);
    let g = losses.get("loss_g").unwrap();
    let parts = losses.get("loss_gan").unwrap() + 10.0 * losses.get("loss_cycle").unwrap();
    assert!((g - parts).abs() < 1e-4, "{g} vs {parts}");
    assert_eq!(losses.non_finite(), None);
}

/// Deterministic images in the networks' pixel range, without the process-wide random
/// generator (the tests of this file run in parallel).
fn images(config: &Config, batch: usize, salt: usize) -> Tensor<4> {
    let (lo, hi) = config.model.architecture.pixel_range();
    let (c, s) = (config.model.channels, config.model.image_size);
    let values: Vec<f32> = (0..batch * c * s * s)
        .map(|i| {
            let t = ((i * 7919 + salt * 104_729) % 1000) as f32 / 999.0;
            lo + (hi - lo) * t
        })
        .collect();
    Tensor::from_data(
        burn::tensor::TensorData::new(values, [batch, c, s, s]),
        &Device::default().autodiff(),
    )
}

/// The gradients of each step, by side and parameter path.
struct Gradients {
    /// Networks with the trained ones' parameter ids, to name the gradients by.
    names: (Generators, Discriminators),
    seen: Vec<(Side, BTreeMap<String, Vec<f32>>)>,
}

impl StepObserver for Gradients {
    fn gradients(&mut self, side: Side, grads: &GradientsParams) {
        let values = match side {
            Side::Discriminators => floats(&gradients_as_module(&self.names.1, grads)),
            Side::Generators => floats(&gradients_as_module(&self.names.0, grads)),
        };
        self.seen.push((side, values));
    }
}

/// Every trainable tensor's values by path (running statistics left out).
fn floats<M: ModuleSnapshot>(module: &M) -> BTreeMap<String, Vec<f32>> {
    let mut values = named_values_flat(module);
    values.retain(|name, _| !name.contains("running_"));
    values
}

/// A copy of `state` (its weights, both optimisers' state and its iteration; running
/// statistics of its own) training on `devices` copies of the default device.
fn copy_on(state: &Trainer, devices: usize) -> Trainer {
    let config = state.config().clone().validated().unwrap();
    let device = Device::default().autodiff();
    let mut trainer = Trainer::from_networks(
        config,
        state.generators.valid().train(),
        state.discriminators.valid().train(),
    )
    .unwrap();
    let (optim_g, optim_d) = state.optimizers();
    trainer.set_optimizers(optim_g.clone(), optim_d.clone());
    trainer.set_iteration(state.iteration());
    trainer
        .set_devices(Devices::new(vec![device; devices], 8).unwrap())
        .unwrap();
    trainer
}

/// One iteration of `trainer` on the batches of step `step` (8 images a domain): its losses
/// and gradients.
fn step_on(trainer: &mut Trainer, step: usize) -> (LossValues, Gradients) {
    let config = trainer.config().clone();
    let mut observed = Gradients {
        names: (trainer.generators.clone(), trainer.discriminators.clone()),
        seen: Vec::new(),
    };
    let (a, b) = (
        images(&config, 8, 2 * step),
        images(&config, 8, 2 * step + 1),
    );
    let report = trainer.step_observed(a, b, &mut observed);
    (report.read().unwrap(), observed)
}

/// The largest difference between two sets of named values, relative to the largest value of
/// all (a per-tensor scale would judge noise: the biases of convolutions followed by
/// InstanceNorm have a gradient of zero, computed as rounding noise of 1e-9).
fn largest_difference(a: &BTreeMap<String, Vec<f32>>, b: &BTreeMap<String, Vec<f32>>) -> f32 {
    assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>());
    let scale = a.values().flatten().fold(0.0f32, |m, v| m.max(v.abs()));
    assert!(scale > 0.0);
    let mut worst = 0.0f32;
    for (name, x) in a {
        for (x, y) in x.iter().zip(&b[name]) {
            worst = worst.max((x - y).abs() / scale);
        }
    }
    worst
}

#[test]
fn two_devices_with_half_batches_train_as_one_device_with_the_whole_batch() {
    two_devices_train_as_one("");
}

#[test]
fn two_devices_augment_as_one_device() {
    // DiffAugment draws each image's parameters by its index in the whole batch.
    two_devices_train_as_one("color,translation,cutout");
}

fn two_devices_train_as_one(diff_augment: &str) {
    // The U-Net and PatchGAN normalise per image (InstanceNorm), so the two halves of a batch
    // on two replicas give the whole batch's losses and gradients. No dropout: its masks are
    // drawn per slice.
    //
    // Each iteration starts both sides from the same state (weights, Adam's moments, the
    // iteration): what one iteration computes is compared, three times over, with Adam's
    // state carried. Two trajectories left to run apart would not measure this: Adam's first
    // steps are close to lr * sign(grad), so rounding differences of 1e-7 flip near-zero
    // gradients into weight differences of 2 lr, which the small networks' InstanceNorm over
    // 2x2 maps amplifies from then on (measured over 40 seeds: step-2 gradients apart by up to
    // 2.5e-3 of the largest; the test failed on an Intel Xeon with AVX-512 at 4e-5).
    let mut config = small(Preset::Unet);
    config.model.dropout = 0.0;
    config.train.batch_size = 8;
    config.objective.diff_augment = diff_augment.into();
    let device = Device::default().autodiff();
    device.seed(11);
    let mut state = Trainer::new(config.clone().validated().unwrap(), &device).unwrap();
    let start = floats(&state.generators);
    for step in 0..3 {
        let (mut one, mut two) = (copy_on(&state, 1), copy_on(&state, 2));
        assert!(one.devices().is_none());
        assert_eq!(two.devices().map(|d| d.len()), Some(2));
        let (losses_one, grads_one) = step_on(&mut one, step);
        let (losses_two, grads_two) = step_on(&mut two, step);

        assert_eq!(losses_one.values.len(), losses_two.values.len());
        for ((name, x), (_, y)) in losses_one.values.iter().zip(&losses_two.values) {
            assert!(
                (x - y).abs() <= 1e-5 * x.abs().max(1.0),
                "step {step}, {name}: {x} vs {y}"
            );
        }
        assert_eq!(grads_one.seen.len(), 2);
        for ((side, x), (_, y)) in grads_one.seen.iter().zip(&grads_two.seen) {
            let worst = largest_difference(x, y);
            assert!(
                worst < 1e-5,
                "step {step}: {side:?} gradients differ by {worst}"
            );
        }
        // Parameters whose gradient is zero (biases of convolutions followed by InstanceNorm,
        // which subtracts them again) get rounding noise as gradient, which Adam's normalised
        // step turns into steps of up to the learning rate: they are left out of the weights
        // compared, and the translations, which they cannot change, are compared instead.
        let noise_only = noise_only(&grads_one);
        let weights = |t: &Trainer| {
            let mut all = floats(&t.generators);
            all.extend(
                floats(&t.discriminators)
                    .into_iter()
                    .map(|(k, v)| (format!("d.{k}"), v)),
            );
            all.retain(|name, _| !noise_only.contains(name));
            all
        };
        // Adam's step is lr * m / (sqrt(v) + eps): where a gradient is as small as eps, its
        // rounding moves the step (measured over 60 seeds: one weight of 34,864 in three
        // seeds, by up to 0.05 lr). So: all but 0.1 % of the weights within 1e-5 of the
        // largest, and every one within 2 lr, the most two Adam steps can differ by.
        let (w1, w2) = (weights(&one), weights(&two));
        let scale = w1.values().flatten().fold(0.0f32, |m, v| m.max(v.abs()));
        let (mut apart, mut total, mut worst) = (0usize, 0usize, 0.0f32);
        for (name, x) in &w1 {
            for (x, y) in x.iter().zip(&w2[name]) {
                let d = (x - y).abs();
                apart += usize::from(d > 1e-5 * scale);
                total += 1;
                worst = worst.max(d);
            }
        }
        assert!(
            apart * 1000 <= total,
            "step {step}: {apart} of {total} weights differ by more than 1e-5 of the largest"
        );
        let lr = config.optimizer.lr as f32;
        assert!(
            worst <= 2.0 * lr,
            "step {step}: a weight is off by {worst:e}"
        );
        let worst = largest_difference(&translation(&one), &translation(&two));
        assert!(worst < 1e-5, "step {step}: translations differ by {worst}");
        state = one;
    }
    assert_eq!(state.iteration(), 3);
    assert_ne!(floats(&state.generators), start, "the weights did not move");
}

/// The parameters whose gradients, in every step seen, are rounding noise (below 1e-6 of the
/// side's largest), named as the test's `weights` name them (`d.` before a discriminator's).
fn noise_only(grads: &Gradients) -> Vec<String> {
    let mut names = Vec::new();
    for (side, grads) in &grads.seen {
        let prefix = if *side == Side::Discriminators {
            "d."
        } else {
            ""
        };
        let scale = grads.values().flatten().fold(0.0f32, |m, v| m.max(v.abs()));
        for (name, g) in grads {
            if g.iter().all(|g| g.abs() < 1e-6 * scale) {
                names.push(format!("{prefix}{name}"));
            }
        }
    }
    assert!(
        names.iter().all(|name| name.ends_with("conv.bias")),
        "{names:?}"
    );
    names
}

/// G_AB's translation of two fixed images, in inference mode.
fn translation(t: &Trainer) -> BTreeMap<String, Vec<f32>> {
    let fake = t
        .generators
        .valid()
        .g_ab
        .forward(images(t.config(), 2, 99).inner());
    BTreeMap::from([(
        "fake_b".to_string(),
        fake.into_data().try_to_vec::<f32>().unwrap(),
    )])
}

#[test]
fn augmentation_changes_what_the_discriminators_see_and_the_gradient_reaches_the_generators() {
    // One iteration from the same state, with and without DiffAugment: the discriminators'
    // losses and gradients differ, and the generators' gradient is there and differs too (it
    // flows back through the augmented fakes).
    let mut config = small(Preset::Unet);
    config.model.dropout = 0.0;
    config.train.batch_size = 8;
    let device = Device::default().autodiff();
    device.seed(13);
    let start = Trainer::new(config.clone().validated().unwrap(), &device).unwrap();
    let (plain_losses, plain) = step_on(&mut copy_on(&start, 1), 0);
    let mut augmented_config = config.clone();
    augmented_config.objective.diff_augment = "color,translation,cutout".into();
    let augmented_start = Trainer::from_networks(
        augmented_config.validated().unwrap(),
        start.generators.valid().train(),
        start.discriminators.valid().train(),
    )
    .unwrap();
    let (augmented_losses, augmented) = step_on(&mut copy_on(&augmented_start, 1), 0);
    let (x, y) = (
        plain_losses.get("loss_d").unwrap(),
        augmented_losses.get("loss_d").unwrap(),
    );
    assert!((x - y).abs() > 1e-4, "loss_d: {x} plain, {y} augmented");
    for ((side, p), (_, a)) in plain.seen.iter().zip(&augmented.seen) {
        let scale = a.values().flatten().fold(0.0f32, |m, v| m.max(v.abs()));
        assert!(scale > 0.0, "{side:?}: no gradient");
        assert!(
            largest_difference(p, a) > 1e-3,
            "{side:?}: the augmentation did not change the gradient"
        );
    }
    // A policy that does not exist is a configuration error naming the key.
    let mut bad = config;
    bad.objective.diff_augment = "color,zoom".into();
    let err = bad.validated().unwrap_err().to_string();
    assert!(err.contains("objective.diff_augment"), "{err}");
}

#[test]
fn batch_norm_sees_each_slice_on_its_own() {
    // The documented difference: the paper's BatchNorm networks normalise each device's slice
    // with that slice's statistics, so two devices do not compute what one does.
    let mut config = small(Preset::Paper);
    config.train.batch_size = 8;
    let device = Device::default().autodiff();
    device.seed(12);
    let start = Trainer::new(config.validated().unwrap(), &device).unwrap();
    let (one, _) = step_on(&mut copy_on(&start, 1), 0);
    let (two, _) = step_on(&mut copy_on(&start, 2), 0);
    let (x, y) = (one.get("loss_d").unwrap(), two.get("loss_d").unwrap());
    assert!(
        (x - y).abs() > 1e-4,
        "loss_d: {x} on one device, {y} on two"
    );
}
