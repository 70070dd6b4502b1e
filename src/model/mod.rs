//! The networks: a U-Net generator and PatchGAN discriminator ("unet", pix2pix's and
//! CycleGAN's), CycleGAN's ResNet generator with the same PatchGAN ("resnet"), and the paper's
//! encoder-decoder generator and feature-returning discriminator ("paper"); all as
//! `reference/discogan_torch.py` writes them.

mod cycle;
mod export;
mod flops;
mod import;
mod layers;
mod paper;
mod patchgan;
mod resnet;
mod unet;
mod weights;

pub use cycle::{Cycle, Direction};
pub use export::{discriminator_torch_names, export_torch, generator_torch_names};
pub use flops::{Convolutions, Gradients};
pub use import::{Imported, TorchImport, import_torch, load_torch_weights};
pub use layers::{BatchNorm2d, WeightInit};
pub use paper::{PaperDiscriminator, PaperDiscriminatorOutput, PaperGenerator, PaperNetConfig};
pub use patchgan::{PatchDiscriminator, PatchDiscriminatorConfig};
pub use resnet::{ResNetGenerator, ResNetGeneratorConfig};
pub use unet::{UNetGenerator, UNetGeneratorConfig};
pub use weights::{Converted, TensorProblem, check_finite, to_networks_type};

use burn::module::Module;
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Which pair of networks to train.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Architecture {
    /// The U-Net generator and PatchGAN discriminator; images in [-1, 1]. Written `"seed"`
    /// before 2026-12-03.
    #[default]
    #[serde(alias = "seed")]
    Unet,
    /// CycleGAN's ResNet generator (residual blocks between two downsamplings and two
    /// upsamplings, no skip around them) and the PatchGAN discriminator; images in [-1, 1].
    Resnet,
    /// The paper's conv encoder-decoder generator and BatchNorm discriminator; images in [0, 1].
    Paper,
}

impl Architecture {
    /// The name `model.architecture` takes.
    pub fn name(self) -> &'static str {
        match self {
            Architecture::Unet => "unet",
            Architecture::Resnet => "resnet",
            Architecture::Paper => "paper",
        }
    }

    /// The pixel range the generator's output lives in (and its input is expected in).
    pub fn pixel_range(self) -> (f32, f32) {
        match self {
            Architecture::Unet | Architecture::Resnet => (-1.0, 1.0),
            Architecture::Paper => (0.0, 1.0),
        }
    }
}

/// The shape and width of the networks.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ModelConfig {
    /// Which networks.
    pub architecture: Architecture,
    /// Image channels: 1 (grey), 3 (RGB) or 4 (RGBA).
    pub channels: usize,
    /// Image side in pixels: a power of two, at least 32.
    pub image_size: usize,
    /// Base channel width (64 in the paper and in `reference/discogan_torch.py`).
    pub width: usize,
    /// Dropout of the U-Net's inner blocks (unet only).
    pub dropout: f64,
    /// Residual blocks of the ResNet generator (resnet only); unset: CycleGAN's choice, 6 up
    /// to 128 px and 9 above.
    pub residual_blocks: Option<usize>,
    /// Standard deviation of the paper nets' N(0, std) initialisation.
    pub init_std: f64,
}

impl Default for ModelConfig {
    /// RGB, 64 px, and each network's own defaults (kept once, in the networks' configurations).
    fn default() -> Self {
        let unet = UNetGeneratorConfig::new(3, 64);
        Self {
            architecture: Architecture::Unet,
            channels: unet.channels,
            image_size: unet.image_size,
            width: unet.width,
            dropout: unet.dropout,
            residual_blocks: None,
            init_std: PaperNetConfig::new(3, 64).init_std,
        }
    }
}

impl ModelConfig {
    fn unet(&self) -> UNetGeneratorConfig {
        UNetGeneratorConfig::new(self.channels, self.image_size)
            .with_width(self.width)
            .with_dropout(self.dropout)
    }

    fn resnet(&self) -> ResNetGeneratorConfig {
        ResNetGeneratorConfig::new(self.channels, self.image_size)
            .with_width(self.width)
            .with_residual_blocks(
                self.residual_blocks
                    .unwrap_or_else(|| ResNetGeneratorConfig::default_blocks(self.image_size)),
            )
    }

    fn patch(&self) -> PatchDiscriminatorConfig {
        PatchDiscriminatorConfig::new(self.channels, self.image_size).with_width(self.width)
    }

    fn paper(&self) -> PaperNetConfig {
        PaperNetConfig::new(self.channels, self.image_size)
            .with_width(self.width)
            .with_init_std(self.init_std)
    }

    /// Checks every value, naming the first bad key.
    pub fn validate(&self) -> Result<()> {
        if self.residual_blocks.is_some() && self.architecture != Architecture::Resnet {
            return Err(Error::config(
                "model.residual_blocks",
                format!(
                    "applies to the resnet architecture only (model.architecture is \"{}\")",
                    self.architecture.name()
                ),
            ));
        }
        match self.architecture {
            Architecture::Unet => {
                self.unet().validate()?;
                self.patch().validate()
            }
            Architecture::Resnet => {
                self.resnet().validate()?;
                self.patch().validate()
            }
            Architecture::Paper => self.paper().validate(),
        }
    }

    /// Builds one generator.
    pub fn init_generator(&self, device: &Device) -> Result<Generator> {
        Ok(match self.architecture {
            Architecture::Unet => Generator::UNet(self.unet().init(device)?),
            Architecture::Resnet => Generator::ResNet(self.resnet().init(device)?),
            Architecture::Paper => Generator::Paper(self.paper().init_generator(device)?),
        })
    }

    /// Builds one discriminator.
    pub fn init_discriminator(&self, device: &Device) -> Result<Discriminator> {
        Ok(match self.architecture {
            Architecture::Unet | Architecture::Resnet => {
                Discriminator::Patch(self.patch().init(device)?)
            }
            Architecture::Paper => Discriminator::Paper(self.paper().init_discriminator(device)?),
        })
    }
}

pub(crate) fn check_channels(channels: usize) -> Result<()> {
    if matches!(channels, 1 | 3 | 4) {
        Ok(())
    } else {
        Err(Error::config(
            "model.channels",
            format!("must be 1 (grey), 3 (RGB) or 4 (RGBA), got {channels}"),
        ))
    }
}

pub(crate) fn check_size(size: usize, min: usize, why: &str) -> Result<()> {
    if size.is_power_of_two() && (min..=4096).contains(&size) {
        Ok(())
    } else {
        Err(Error::config(
            "model.image_size",
            format!("must be a power of two from {min} to 4096 ({why}), got {size}"),
        ))
    }
}

pub(crate) fn check_width(width: usize) -> Result<()> {
    if (1..=4096).contains(&width) {
        Ok(())
    } else {
        Err(Error::config(
            "model.width",
            format!("must be from 1 to 4096, got {width}"),
        ))
    }
}

pub(crate) fn check_dropout(p: f64) -> Result<()> {
    if p.is_finite() && (0.0..1.0).contains(&p) {
        Ok(())
    } else {
        Err(Error::config(
            "model.dropout",
            format!("must be in [0, 1), got {p}"),
        ))
    }
}

/// A generator of either architecture.
// Built once per run; a few hundred bytes of tensor handles are not worth a Box.
#[allow(clippy::large_enum_variant)]
#[derive(Module, Debug)]
pub enum Generator {
    /// The U-Net (`UNetGenerator` of `reference/discogan_torch.py`).
    UNet(UNetGenerator),
    /// The ResNet generator (`GeneratorResNet` of `reference/discogan_torch.py`).
    ResNet(ResNetGenerator),
    /// The paper's encoder-decoder.
    Paper(PaperGenerator),
}

impl Generator {
    /// Translates [batch, channels, size, size] to the other domain (same shape).
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        match self {
            Generator::UNet(g) => g.forward(x),
            Generator::ResNet(g) => g.forward(x),
            Generator::Paper(g) => g.forward(x),
        }
    }

    /// The convolutions of a forward pass over one `size` x `size` image ([`Convolutions`]).
    pub fn convolutions(&self, size: usize) -> Convolutions {
        match self {
            Generator::UNet(g) => g.convolutions(size),
            Generator::ResNet(g) => g.convolutions(size),
            Generator::Paper(g) => g.convolutions(size),
        }
    }
}

/// What a discriminator says about a batch.
#[derive(Debug, Clone)]
pub struct DiscriminatorOutput {
    /// Logits of "real": [batch, 1, size/8, size/8] (PatchGAN) or [batch, 1, 1, 1] (paper).
    pub logits: Tensor<4>,
    /// Intermediate activations for feature matching (empty for the PatchGAN).
    pub features: Vec<Tensor<4>>,
}

/// A discriminator of either architecture.
// Built once per run; a few hundred bytes of tensor handles are not worth a Box.
#[allow(clippy::large_enum_variant)]
#[derive(Module, Debug)]
pub enum Discriminator {
    /// The PatchGAN (`PatchDiscriminator` of `reference/discogan_torch.py`).
    Patch(PatchDiscriminator),
    /// The paper's discriminator.
    Paper(PaperDiscriminator),
}

impl Discriminator {
    /// Scores a batch of images.
    pub fn forward(&self, x: Tensor<4>) -> DiscriminatorOutput {
        match self {
            Discriminator::Patch(d) => DiscriminatorOutput {
                logits: d.forward(x),
                features: Vec::new(),
            },
            Discriminator::Paper(d) => {
                let out = d.forward(x);
                DiscriminatorOutput {
                    logits: out.logits,
                    features: out.features,
                }
            }
        }
    }

    /// The convolutions of a forward pass over one `size` x `size` image ([`Convolutions`]).
    pub fn convolutions(&self, size: usize) -> Convolutions {
        match self {
            Discriminator::Patch(d) => d.convolutions(size),
            Discriminator::Paper(d) => d.convolutions(size),
        }
    }
}

/// The two generators of DiscoGAN.
#[derive(Module, Debug)]
pub struct Generators {
    /// Maps domain A to domain B.
    pub g_ab: Generator,
    /// Maps domain B to domain A.
    pub g_ba: Generator,
}

/// The two discriminators of DiscoGAN.
#[derive(Module, Debug)]
pub struct Discriminators {
    /// Tells real A images from translated ones.
    pub d_a: Discriminator,
    /// Tells real B images from translated ones.
    pub d_b: Discriminator,
}

impl ModelConfig {
    /// Builds both generators.
    pub fn init_generators(&self, device: &Device) -> Result<Generators> {
        Ok(Generators {
            g_ab: self.init_generator(device)?,
            g_ba: self.init_generator(device)?,
        })
    }

    /// Builds both discriminators.
    pub fn init_discriminators(&self, device: &Device) -> Result<Discriminators> {
        Ok(Discriminators {
            d_a: self.init_discriminator(device)?,
            d_b: self.init_discriminator(device)?,
        })
    }
}
