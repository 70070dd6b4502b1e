//! Shapes for every supported size and channel count, the size errors, and the operations
//! counted from the shapes (`operations`).

use burn::tensor::{Device, Distribution, Tensor};
use discogan::model::{Architecture, ModelConfig};

fn config(architecture: Architecture, channels: usize, image_size: usize) -> ModelConfig {
    ModelConfig {
        architecture,
        channels,
        image_size,
        width: 2,
        ..ModelConfig::default()
    }
}

#[test]
fn shapes_for_sizes_and_channels() {
    let device = Device::default();
    for architecture in [
        Architecture::Unet,
        Architecture::Resnet,
        Architecture::Paper,
    ] {
        let sizes: &[usize] = match architecture {
            // Any multiple of 8 from 32 (the PatchGAN's halvings; the ResNet's take 4).
            Architecture::Resnet => &[32, 40, 64, 96, 256],
            _ => &[32, 64, 128, 256],
        };
        for &size in sizes {
            for channels in [1, 3, 4] {
                let config = config(architecture, channels, size);
                let g = config.init_generator(&device).unwrap();
                let d = config.init_discriminator(&device).unwrap();
                let x =
                    Tensor::<4>::random([2, channels, size, size], Distribution::Default, &device);
                let y = g.forward(x.clone());
                assert_eq!(
                    y.dims(),
                    [2, channels, size, size],
                    "{architecture:?} G at {size} px, {channels} ch"
                );
                let out = d.forward(y);
                let (patches, features) = match architecture {
                    Architecture::Unet | Architecture::Resnet => (size / 8, 0),
                    // Encoder layers down to 4x4: log2(size) - 2, features from the second on.
                    Architecture::Paper => (1, size.trailing_zeros() as usize - 3),
                };
                assert_eq!(
                    out.logits.dims(),
                    [2, 1, patches, patches],
                    "{architecture:?} D at {size} px"
                );
                assert_eq!(out.features.len(), features);
                let range = architecture.pixel_range();
                let values = g.forward(x).into_data().try_to_vec::<f32>().unwrap();
                assert!(values.iter().all(|v| (range.0..=range.1).contains(v)));
            }
        }
    }
}

#[test]
fn sizes_the_networks_cannot_take_are_configuration_errors() {
    let device = Device::default();
    for architecture in [
        Architecture::Unet,
        Architecture::Resnet,
        Architecture::Paper,
    ] {
        // (generator, discriminator) sizes refused.
        let (g_sizes, d_sizes): (&[usize], &[usize]) = match architecture {
            Architecture::Resnet => (&[0, 4, 30, 66], &[0, 8, 16, 36, 100]),
            _ => (&[0, 8, 16, 48, 96, 100], &[0, 8, 16, 36, 100]),
        };
        for &size in g_sizes {
            let err = config(architecture, 3, size)
                .init_generator(&device)
                .unwrap_err();
            assert!(err.to_string().contains("model.image_size"), "{err}");
        }
        for &size in d_sizes {
            let err = config(architecture, 3, size)
                .init_discriminator(&device)
                .unwrap_err();
            assert!(err.to_string().contains("model.image_size"), "{err}");
        }
        // The configuration as a whole takes what both networks take.
        let err = config(architecture, 3, 36).validate().unwrap_err();
        assert!(err.to_string().contains("model.image_size"), "{err}");
        // A key of another architecture is not silently ignored.
        let blocks = ModelConfig {
            residual_blocks: Some(3),
            ..config(architecture, 3, 64)
        };
        match architecture {
            Architecture::Resnet => blocks.validate().unwrap(),
            _ => {
                let err = blocks.validate().unwrap_err().to_string();
                assert!(err.contains("model.residual_blocks"), "{err}");
            }
        }
        let err = config(architecture, 2, 64)
            .init_generator(&device)
            .unwrap_err();
        assert!(err.to_string().contains("model.channels"), "{err}");
    }
}

/// The operations `discogan bench` reports per iteration, counted from the networks' shapes,
/// against PyTorch's own counter (`torch.utils.flop_counter`) on the reference networks and
/// `bench_torch.py --step discogan`'s iteration (`reference/count_flops.py` wrote the fixture).
mod operations {
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
        let alternate =
            Trainer::new(config.clone().validated().unwrap(), &Device::default()).unwrap();
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
}
