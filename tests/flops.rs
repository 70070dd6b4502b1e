//! The operations `discogan bench` reports per iteration, counted from the networks' shapes,
//! against PyTorch's own counter (`torch.utils.flop_counter`) on the reference networks and
//! `bench_torch.py --step discogan`'s iteration (`reference/count_flops.py` wrote the fixture).

use std::path::PathBuf;

use burn::tensor::Device;
use discogan::config::{Config, Preset, Schedule};
use discogan::model::Architecture;
use discogan::train::Trainer;
use serde::Deserialize;

#[derive(Deserialize)]
struct Case {
    arch: String,
    size: usize,
    width: usize,
    batch: usize,
    generator_forward: u64,
    discriminator_forward: u64,
    iteration: u64,
}

#[derive(Deserialize)]
struct Fixture {
    cases: Vec<Case>,
}

fn trainer(case: &Case) -> Trainer {
    let (preset, architecture) = match case.arch.as_str() {
        "unet" => (Preset::Unet, Architecture::Unet),
        "resnet" => (Preset::Unet, Architecture::Resnet),
        "paper" => (Preset::Paper, Architecture::Paper),
        other => panic!("flops.json: unknown arch {other}"),
    };
    let mut config = Config::preset(preset);
    config.model.architecture = architecture;
    config.model.image_size = case.size;
    config.model.width = case.width;
    config.train.batch_size = case.batch;
    // As `discogan bench` and bench_torch.py: both sides every iteration.
    config.objective.schedule = Schedule::Every;
    Trainer::new(config.validated().unwrap(), &Device::default()).unwrap()
}

#[test]
fn operations_per_iteration_are_pytorchs_count() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/flops.json");
    let text = std::fs::read_to_string(&path).unwrap();
    let fixture: Fixture = serde_json::from_str(&text).unwrap();
    assert!(fixture.cases.len() >= 4);
    for case in &fixture.cases {
        let what = format!("{} {} px width {}", case.arch, case.size, case.width);
        let trainer = trainer(case);
        let g = trainer.generators.g_ab.convolutions(case.size);
        let d = trainer.discriminators.d_a.convolutions(case.size);
        assert_eq!(g.forward(), case.generator_forward, "{what}: generator");
        assert_eq!(
            d.forward(),
            case.discriminator_forward,
            "{what}: discriminator"
        );
        assert_eq!(
            trainer.iteration_flops(case.batch, 0),
            case.iteration,
            "{what}: iteration of batch {}",
            case.batch
        );
    }
}

#[test]
fn the_u_net_at_32_px_counts_its_five_levels() {
    // Width 1, 3 channels: downs 3->1->2->4->8->8 (out 16, 8, 4, 2, 1 px), ups 8->8, 16->4,
    // 8->2, 4->1 (in 1, 2, 4, 8 px), head 2->3 at 32 px; 4x4 kernels.
    let downs = 3 * 16 * 256 + 2 * 16 * 64 + 8 * 16 * 16 + 32 * 16 * 4 + 64 * 16;
    let ups = 64 * 16 + 64 * 16 * 4 + 16 * 16 * 16 + 4 * 16 * 64;
    let head = 6 * 16 * 32 * 32;
    let mut config = Config::preset(Preset::Unet);
    config.model.image_size = 32;
    config.model.width = 1;
    let trainer = Trainer::new(config.validated().unwrap(), &Device::default()).unwrap();
    let g = trainer.generators.g_ab.convolutions(32);
    assert_eq!(g.multiply_adds().len(), 5 + 4 + 1);
    assert_eq!(g.forward(), 2 * (downs + ups + head));
}

#[test]
fn a_generators_only_or_identity_iteration_counts_what_it_runs() {
    let case = Case {
        arch: "unet".into(),
        size: 64,
        width: 4,
        batch: 2,
        generator_forward: 0,
        discriminator_forward: 0,
        iteration: 0,
    };
    let every = trainer(&case);
    let g = every.generators.g_ab.convolutions(64);
    let d = every.discriminators.d_a.convolutions(64);
    let both = every.iteration_flops(1, 0);
    // The alternating schedule: iteration 0 updates the discriminators only (the fakes are
    // made, not trained, and not reconstructed), iteration 1 the generators only.
    let mut config = every.config().clone();
    config.objective.schedule = Schedule::Alternate;
    config.objective.update_interval = 2;
    let alternate = Trainer::new(config.clone().validated().unwrap(), &Device::default()).unwrap();
    let d_only = alternate.iteration_flops(1, 0);
    let g_only = alternate.iteration_flops(1, 1);
    assert_eq!(
        d_only,
        2 * g.forward() + 4 * (d.forward() + d.backward(train()))
    );
    assert_eq!(g_only + d_only - 2 * g.forward(), both);
    // The identity term adds one trained pass of each generator per image.
    config.objective.schedule = Schedule::Every;
    config.objective.lambda_identity = 5.0;
    let identity = Trainer::new(config.validated().unwrap(), &Device::default()).unwrap();
    assert_eq!(
        identity.iteration_flops(3, 0),
        3 * (both + 2 * (g.forward() + g.backward(train())))
    );
}

fn train() -> discogan::model::Gradients {
    discogan::model::Gradients {
        weights: true,
        input: false,
    }
}
