//! Shapes for every supported size and channel count, and the size errors.

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
