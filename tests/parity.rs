//! Parity with the PyTorch reference (`tests/fixtures/parity`, see MANIFEST.md there): the
//! weights are imported through the same key remapping that imports PyTorch checkpoints.

mod common;

use burn::module::Module;
use burn::optim::GradientsParams;
use burn::tensor::{Device, activation};
use common::{
    Fixture, assert_grad_close, assert_loss_close, assert_output_close, named_values_flat,
    values_of,
};
use discogan::config::{Config, ObjectiveKind, Preset, Schedule};
use discogan::model::Architecture;
use discogan::model::{
    Discriminator, Discriminators, Generator, Generators, PaperDiscriminator, PaperGenerator,
    PaperNetConfig, PatchDiscriminator, PatchDiscriminatorConfig, ResNetGenerator,
    ResNetGeneratorConfig, UNetGenerator, UNetGeneratorConfig, discriminator_torch_names,
    generator_torch_names, load_torch_weights,
};
use discogan::train::{Side, StepObserver, Trainer, gradients_as_module};

const WIDTH: usize = 4;
const SIZE: usize = 64;

fn unet(fx: &Fixture, prefix: &str, dropout: f64, device: &Device) -> UNetGenerator {
    let mut net = UNetGeneratorConfig::new(3, SIZE)
        .with_width(WIDTH)
        .with_dropout(dropout)
        .init(device)
        .unwrap();
    load_torch_weights(&mut net, &fx.path, prefix).unwrap();
    net
}

/// The fixtures' ResNet generator: width 4, two residual blocks.
fn resnet(fx: &Fixture, prefix: &str, device: &Device) -> ResNetGenerator {
    let mut net = ResNetGeneratorConfig::new(3, SIZE)
        .with_width(WIDTH)
        .with_residual_blocks(2)
        .init(device)
        .unwrap();
    load_torch_weights(&mut net, &fx.path, prefix).unwrap();
    net
}

fn patch(fx: &Fixture, prefix: &str, device: &Device) -> PatchDiscriminator {
    let mut net = PatchDiscriminatorConfig::new(3, SIZE)
        .with_width(WIDTH)
        .init(device)
        .unwrap();
    load_torch_weights(&mut net, &fx.path, prefix).unwrap();
    net
}

fn paper_config() -> PaperNetConfig {
    PaperNetConfig::new(3, SIZE).with_width(WIDTH)
}

fn paper_g(fx: &Fixture, prefix: &str, device: &Device) -> PaperGenerator {
    let mut net = paper_config().init_generator(device).unwrap();
    load_torch_weights(&mut net, &fx.path, prefix).unwrap();
    net
}

fn paper_d(fx: &Fixture, prefix: &str, device: &Device) -> PaperDiscriminator {
    let mut net = paper_config().init_discriminator(device).unwrap();
    load_torch_weights(&mut net, &fx.path, prefix).unwrap();
    net
}

#[test]
fn unet_forward_matches_reference() {
    let device = Device::default();
    let fx = Fixture::open("seed_unet_forward");
    // Dropout layers are present (0.5) but, outside autodiff training, inactive: eval mode.
    let net = unet(&fx, "net.", 0.5, &device);
    let out = net.forward(fx.tensor4("input", &device));
    assert_eq!(out.dims(), [3, 3, 64, 64]);
    assert_output_close("output", &values_of(out), &fx.values("output").0);
}

#[test]
fn resnet_forward_matches_reference() {
    let device = Device::default();
    let fx = Fixture::open("resnet_forward");
    let net = resnet(&fx, "net.", &device);
    let out = net.forward(fx.tensor4("input", &device));
    assert_eq!(out.dims(), [3, 3, 64, 64]);
    assert_output_close("output", &values_of(out), &fx.values("output").0);
}

#[test]
fn patch_forward_matches_reference() {
    let device = Device::default();
    let fx = Fixture::open("seed_patch_forward");
    let out = patch(&fx, "net.", &device).forward(fx.tensor4("input", &device));
    assert_eq!(out.dims(), [3, 1, 8, 8]);
    assert_output_close("output", &values_of(out), &fx.values("output").0);
}

#[test]
fn paper_generator_forward_train_and_eval_match_reference() {
    let device = Device::default().autodiff();
    let fx = Fixture::open("paper_generator_forward");
    let net = paper_g(&fx, "net.", &device);
    // Train mode (autodiff device): batch statistics, running statistics updated once.
    let out = net.forward(fx.tensor4("input", &device));
    assert_output_close(
        "output_train",
        &values_of(out),
        &fx.values("output_train").0,
    );
    let after = named_values_flat(&net);
    let compared = fx.check_named("after.", &after, "", &net.torch_names(), &mut |k, a, e| {
        assert_output_close(k, a, e)
    });
    // 8 (transposed) conv weights + 6 BatchNorms x (2 parameters + 2 running statistics).
    assert_eq!(compared, 8 + 6 * 4);
    // Eval mode: the running statistics.
    let eval = net.valid();
    let plain = Device::default();
    let out = eval.forward(fx.tensor4("input", &plain));
    assert_output_close("output_eval", &values_of(out), &fx.values("output_eval").0);
}

#[test]
fn paper_discriminator_forward_matches_reference() {
    let device = Device::default().autodiff();
    let fx = Fixture::open("paper_discriminator_forward");
    let out = paper_d(&fx, "net.", &device).forward(fx.tensor4("input", &device));
    let prob = activation::sigmoid(out.logits);
    assert_eq!(prob.dims(), [3, 1, 1, 1]);
    assert_output_close("prob", &values_of(prob), &fx.values("prob").0);
    assert_eq!(out.features.len(), 3);
    for (i, feature) in out.features.into_iter().enumerate() {
        let name = format!("feature{}", i + 2);
        assert_output_close(&name, &values_of(feature), &fx.values(&name).0);
    }
}

/// Records each side's gradients as a module (parameter values replaced by gradients).
#[derive(Default)]
struct GradientRecorder {
    generators: Option<Generators>,
    discriminators: Option<Discriminators>,
    g_grads: Vec<Generators>,
    d_grads: Vec<Discriminators>,
}

impl StepObserver for GradientRecorder {
    fn gradients(&mut self, side: Side, grads: &GradientsParams) {
        match side {
            Side::Generators => {
                let g = self.generators.as_ref().expect("generators set");
                self.g_grads.push(gradients_as_module(g, grads));
            }
            Side::Discriminators => {
                let d = self.discriminators.as_ref().expect("discriminators set");
                self.d_grads.push(gradients_as_module(d, grads));
            }
        }
    }
}

/// (PyTorch name of a network in the fixture, its burn field, its name table).
type NetNames<'a> = (&'a str, &'a str, Vec<(String, String)>);

/// Checks recorded gradients of both networks of a side against `grad_{side}.{name}.*`.
fn check_gradients(
    fx: &Fixture,
    fixture_side: &str,
    actual: &std::collections::BTreeMap<String, Vec<f32>>,
    nets: [NetNames; 2],
    floor: f32,
) {
    for (torch_net, burn_net, names) in nets {
        let prefix = format!("{fixture_side}.{torch_net}.");
        let expected = fx.keys_with_prefix(&prefix).len();
        let compared = fx.check_named(
            &prefix,
            actual,
            &format!("{burn_net}."),
            &names,
            &mut |k, a, e| assert_grad_close(k, a, e, floor),
        );
        assert_eq!(compared, expected);
    }
}

#[test]
fn seed_two_iterations_match_reference() {
    let device = Device::default().autodiff();
    let fx = Fixture::open("seed_step");
    let generators = Generators {
        g_ab: Generator::UNet(unet(&fx, "init.G_AB.", 0.0, &device)),
        g_ba: Generator::UNet(unet(&fx, "init.G_BA.", 0.0, &device)),
    };
    let mut config = Config::preset(Preset::Unet);
    config.model.width = WIDTH;
    config.model.dropout = 0.0;
    two_iterations_match_reference(&fx, config, generators, 1e-4);
}

#[test]
fn resnet_two_iterations_match_reference() {
    let device = Device::default().autodiff();
    let fx = Fixture::open("resnet_step");
    let generators = Generators {
        g_ab: Generator::ResNet(resnet(&fx, "init.G_AB.", &device)),
        g_ba: Generator::ResNet(resnet(&fx, "init.G_BA.", &device)),
    };
    let mut config = Config::preset(Preset::Unet);
    config.model.architecture = Architecture::Resnet;
    config.model.width = WIDTH;
    config.model.residual_blocks = Some(2);
    // MANIFEST.md: the ResNet's zero gradients (the biases before its InstanceNorms) show as
    // noise up to 4e-7, so a floor of 1e-3 for the generators'.
    two_iterations_match_reference(&fx, config, generators, 1e-3);
}

/// Two iterations of the weighted objective (BCE GAN loss, MSE cycle loss x10) from the
/// fixture's initial weights, `generators` already loaded from it and PatchGAN
/// discriminators: the losses of both, the gradients of the first (within 1e-3 x
/// max(largest, floor): 1e-4 for the discriminators, `g_floor` for the generators) and the
/// weights after the second (MANIFEST.md).
fn two_iterations_match_reference(
    fx: &Fixture,
    config: Config,
    generators: Generators,
    g_floor: f32,
) {
    let device = Device::default().autodiff();
    let discriminators = Discriminators {
        d_a: Discriminator::Patch(patch(fx, "init.D_A.", &device)),
        d_b: Discriminator::Patch(patch(fx, "init.D_B.", &device)),
    };
    let mut recorder = GradientRecorder {
        generators: Some(generators.clone()),
        discriminators: Some(discriminators.clone()),
        ..Default::default()
    };
    let mut trainer =
        Trainer::from_networks(config.validated().unwrap(), generators, discriminators).unwrap();
    let real_a = fx.tensor4("real_A", &device);
    let real_b = fx.tensor4("real_B", &device);

    for step in 1..=2 {
        let report = trainer.step_observed(real_a.clone(), real_b.clone(), &mut recorder);
        assert_eq!(report.updated, vec![Side::Discriminators, Side::Generators]);
        let losses = report.read().unwrap();
        // (our name, the fixture's)
        for (name, reference) in [
            ("loss_d", "d_loss"),
            ("loss_g", "g_loss"),
            ("loss_gan", "loss_gan"),
            ("loss_cycle", "loss_cycle"),
            ("loss_pixelwise", "loss_pixelwise"),
        ] {
            let actual = losses
                .get(name)
                .unwrap_or_else(|| panic!("{name} not reported"));
            assert_loss_close(
                &format!("step{step}.{name}"),
                actual,
                fx.scalar(&format!("step{step}.{reference}")),
            );
        }
    }

    // Gradients of iteration 1 (the generator's taken after the discriminator step).
    let d_grads = named_values_flat(&recorder.d_grads[0]);
    let d = &trainer.discriminators;
    check_gradients(
        fx,
        "grad_d",
        &d_grads,
        [
            ("D_A", "d_a", discriminator_torch_names(&d.d_a)),
            ("D_B", "d_b", discriminator_torch_names(&d.d_b)),
        ],
        1e-4,
    );
    let g_grads = named_values_flat(&recorder.g_grads[0]);
    let g = &trainer.generators;
    check_gradients(
        fx,
        "grad_g",
        &g_grads,
        [
            ("G_AB", "g_ab", generator_torch_names(&g.g_ab)),
            ("G_BA", "g_ba", generator_torch_names(&g.g_ba)),
        ],
        g_floor,
    );

    // Weights after two Adam steps (MANIFEST.md: >= 97 % within 1e-5, all within 1e-3).
    let mut within = 0usize;
    let mut total = 0usize;
    let mut worst = 0.0f32;
    let mut count = |_: &str, a: &[f32], e: &[f32]| {
        for (x, y) in a.iter().zip(e) {
            let d = (x - y).abs();
            worst = worst.max(d);
            within += usize::from(d <= 1e-5);
            total += 1;
        }
    };
    let gens = named_values_flat(&trainer.generators);
    let discs = named_values_flat(&trainer.discriminators);
    fx.check_named(
        "step2.G_AB.",
        &gens,
        "g_ab.",
        &generator_torch_names(&g.g_ab),
        &mut count,
    );
    fx.check_named(
        "step2.G_BA.",
        &gens,
        "g_ba.",
        &generator_torch_names(&g.g_ba),
        &mut count,
    );
    fx.check_named(
        "step2.D_A.",
        &discs,
        "d_a.",
        &discriminator_torch_names(&d.d_a),
        &mut count,
    );
    fx.check_named(
        "step2.D_B.",
        &discs,
        "d_b.",
        &discriminator_torch_names(&d.d_b),
        &mut count,
    );
    let share = within as f64 / total as f64;
    assert!(
        share >= 0.97,
        "only {:.2} % of weights within 1e-5",
        share * 100.0
    );
    assert!(worst <= 1e-3, "a weight is off by {worst:e}");
}

fn paper_trainer(fx: &Fixture, device: &Device) -> (Trainer, GradientRecorder) {
    let generators = Generators {
        g_ab: Generator::Paper(paper_g(fx, "init.G_AB.", device)),
        g_ba: Generator::Paper(paper_g(fx, "init.G_BA.", device)),
    };
    let discriminators = Discriminators {
        d_a: Discriminator::Paper(paper_d(fx, "init.D_A.", device)),
        d_b: Discriminator::Paper(paper_d(fx, "init.D_B.", device)),
    };
    let mut config = Config::preset(Preset::Paper);
    config.model.width = WIDTH;
    // The fixture's rate is 0.5: past the curriculum.
    config.objective.gan_curriculum = 0;
    config.objective.default_rate = 0.5;
    // The fixture has no weight decay in its gradients (decay is applied by Adam, not in them).
    assert_eq!(config.objective.kind, ObjectiveKind::Paper);
    assert_eq!(config.objective.schedule, Schedule::Alternate);
    let recorder = GradientRecorder {
        generators: Some(generators.clone()),
        discriminators: Some(discriminators.clone()),
        ..Default::default()
    };
    (
        Trainer::from_networks(config.validated().unwrap(), generators, discriminators).unwrap(),
        recorder,
    )
}

#[test]
fn paper_step_matches_reference() {
    let device = Device::default().autodiff();
    let fx = Fixture::open("paper_step");
    let real_a = fx.tensor4("real_A", &device);
    let real_b = fx.tensor4("real_B", &device);

    // Iteration 0 of the alternating schedule updates the discriminators.
    let (mut trainer, mut recorder) = paper_trainer(&fx, &device);
    let report = trainer.step_observed(real_a.clone(), real_b.clone(), &mut recorder);
    assert_eq!(report.updated, vec![Side::Discriminators]);
    assert_loss_close(
        "loss_d",
        report.read().unwrap().get("loss_d").unwrap(),
        fx.scalar("d_loss"),
    );
    let d = &trainer.discriminators;
    check_gradients(
        &fx,
        "grad_d",
        &named_values_flat(&recorder.d_grads[0]),
        [
            ("D_A", "d_a", discriminator_torch_names(&d.d_a)),
            ("D_B", "d_b", discriminator_torch_names(&d.d_b)),
        ],
        1e-4,
    );

    // Iteration 1 updates the generators; start a fresh trainer there, from the same weights.
    let (mut trainer, mut recorder) = paper_trainer(&fx, &device);
    trainer.set_iteration(1);
    let report = trainer.step_observed(real_a, real_b, &mut recorder);
    assert_eq!(report.updated, vec![Side::Generators]);
    let losses = report.read().unwrap();
    // (our name, the fixture's)
    for (name, reference) in [
        ("loss_gan_a", "gen_gan_a"),
        ("loss_gan_b", "gen_gan_b"),
        ("loss_fm_a", "fm_a"),
        ("loss_fm_b", "fm_b"),
        ("loss_cycle_a", "recon_a"),
        ("loss_cycle_b", "recon_b"),
        ("loss_g", "g_loss"),
    ] {
        let actual = losses
            .get(name)
            .unwrap_or_else(|| panic!("{name} not reported"));
        assert_loss_close(name, actual, fx.scalar(reference));
    }
    let g = &trainer.generators;
    check_gradients(
        &fx,
        "grad_g",
        &named_values_flat(&recorder.g_grads[0]),
        [
            ("G_AB", "g_ab", generator_torch_names(&g.g_ab)),
            ("G_BA", "g_ba", generator_torch_names(&g.g_ba)),
        ],
        1e-4,
    );
}

#[test]
fn pytorch_pickle_import_matches_reference() {
    // The same PatchGAN weights as `seed_patch_forward`, in torch.save's zip/pickle format
    // (made by scripts/safetensors-to-pth.py), imported through the same key remapping.
    let device = Device::default();
    let fx = Fixture::open("seed_patch_forward");
    let pth = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/torch/patch_discriminator.pth");
    let mut net = PatchDiscriminatorConfig::new(3, SIZE)
        .with_width(WIDTH)
        .init(&device)
        .unwrap();
    load_torch_weights(&mut net, &pth, "net.").unwrap();
    let out = net.forward(fx.tensor4("input", &device));
    assert_output_close("output", &values_of(out), &fx.values("output").0);
    // A prefix with nothing under it is an error naming the file.
    let err = load_torch_weights(&mut net, &pth, "G_AB.")
        .unwrap_err()
        .to_string();
    assert!(err.contains("patch_discriminator.pth"), "{err}");
}
