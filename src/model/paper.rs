//! The paper's networks, as in the official code.
//!
//! Generator: stride-2 4x4 convolutions down to a 4x4 bottleneck, as many transposed
//! convolutions back; BatchNorm on all but the first and last layer; no biases; sigmoid output
//! in [0, 1]. Discriminator: the same encoder plus a 4x4 valid convolution to one logit; it also
//! returns the LeakyReLU activations of layers 2.. for feature matching.
//! At 64 px there are four down layers with widths w, 2w, 4w, 8w; each doubling of the image
//! size adds one layer (widths capped at 8w).

use burn::config::Config;
use burn::module::Module;
use burn::nn::conv::{Conv2d, ConvTranspose2d};
use burn::tensor::{Device, Tensor};

use super::flops::Convolutions;
use super::layers::{BatchNorm2d, WeightInit};
use crate::backends::cpu::conv4;
use crate::backends::cpu::{Squash, leaky_relu, squash};

/// Configuration shared by [`PaperGenerator`] and [`PaperDiscriminator`].
#[derive(Config, Debug)]
pub struct PaperNetConfig {
    /// Image channels (1, 3 or 4).
    pub channels: usize,
    /// Image side in pixels (a power of two, at least 32).
    pub image_size: usize,
    /// Base channel width (the paper: 64).
    #[config(default = 64)]
    pub width: usize,
    /// Standard deviation of the N(0, std) weight initialisation (the paper: 0.02).
    #[config(default = 0.02)]
    pub init_std: f64,
}

impl PaperNetConfig {
    /// Channel widths of the encoder layers: down to a 4x4 map.
    pub fn encoder_channels(&self) -> Vec<usize> {
        let layers = self.image_size.trailing_zeros() as usize - 2;
        (0..layers).map(|i| self.width * (1 << i.min(3))).collect()
    }

    /// Checks the configuration without building anything.
    pub fn validate(&self) -> crate::Result<()> {
        super::check_channels(self.channels)?;
        super::check_size(
            self.image_size,
            32,
            "the paper's networks need at least 32 px",
        )?;
        super::check_width(self.width)?;
        if !(self.init_std.is_finite() && self.init_std > 0.0) {
            return Err(crate::error::Error::config(
                "model.init_std",
                format!("must be a positive number, got {}", self.init_std),
            ));
        }
        Ok(())
    }

    fn weight_init(&self) -> WeightInit {
        WeightInit::Normal { std: self.init_std }
    }

    /// The encoder shared by both networks: conv (no norm) then conv + BatchNorm layers.
    fn encoder(&self, device: &Device) -> (Conv2d, Vec<ConvBn>) {
        let init = self.weight_init();
        let chans = self.encoder_channels();
        let first = init.conv4(self.channels, chans[0], 2, 1, false, device);
        let blocks = chans
            .windows(2)
            .map(|pair| ConvBn {
                conv: init.conv4(pair[0], pair[1], 2, 1, false, device),
                bn: BatchNorm2d::new(pair[1], init.norm_scale(), device),
            })
            .collect();
        (first, blocks)
    }

    /// Builds the generator.
    pub fn init_generator(&self, device: &Device) -> crate::Result<PaperGenerator> {
        self.validate()?;
        let init = self.weight_init();
        let (first, encoder) = self.encoder(device);
        let chans = self.encoder_channels();
        let decoder = chans
            .windows(2)
            .rev()
            .map(|pair| ConvTBn {
                conv: init.conv_transpose4(pair[1], pair[0], false, device),
                bn: BatchNorm2d::new(pair[0], init.norm_scale(), device),
            })
            .collect();
        let last = init.conv_transpose4(chans[0], self.channels, false, device);
        Ok(PaperGenerator {
            first,
            encoder,
            decoder,
            last,
        })
    }

    /// Builds the discriminator.
    pub fn init_discriminator(&self, device: &Device) -> crate::Result<PaperDiscriminator> {
        self.validate()?;
        let (first, blocks) = self.encoder(device);
        let top = *self.encoder_channels().last().unwrap_or(&self.width);
        let head = self.weight_init().conv4(top, 1, 1, 0, false, device);
        Ok(PaperDiscriminator {
            first,
            blocks,
            head,
        })
    }
}

/// Conv 4x4 stride 2 (no bias) + BatchNorm.
#[derive(Module, Debug)]
pub struct ConvBn {
    conv: Conv2d,
    bn: BatchNorm2d,
}

/// ConvTranspose 4x4 stride 2 (no bias) + BatchNorm.
#[derive(Module, Debug)]
pub struct ConvTBn {
    conv: ConvTranspose2d,
    bn: BatchNorm2d,
}

fn leaky(x: Tensor<4>) -> Tensor<4> {
    leaky_relu(x, 0.2)
}

/// The paper's generator. [batch, channels, size, size] in [0, 1] -> the same shape in [0, 1].
#[derive(Module, Debug)]
pub struct PaperGenerator {
    first: Conv2d,
    encoder: Vec<ConvBn>,
    decoder: Vec<ConvTBn>,
    last: ConvTranspose2d,
}

impl PaperGenerator {
    /// Translates a batch of images.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let x = leaky(conv4::forward(&self.first, x));
        let x = self
            .encoder
            .iter()
            .fold(x, |x, l| l.bn.forward_act(conv4::forward(&l.conv, x), 0.2));
        let x = self.decoder.iter().fold(x, |x, l| {
            l.bn.forward_act(conv4::forward_transposed(&l.conv, x), 0.0)
        });
        squash(conv4::forward_transposed(&self.last, x), Squash::Sigmoid)
    }

    /// The convolutions of a forward pass over one `size` x `size` image ([`Convolutions`]).
    pub fn convolutions(&self, size: usize) -> Convolutions {
        let mut c = Convolutions::new();
        // Stride-2 4x4 convs halve the side down to the bottleneck...
        let mut side = size / 2;
        c.conv(&self.first.weight, side, side);
        for layer in &self.encoder {
            side /= 2;
            c.conv(&layer.conv.weight, side, side);
        }
        // ... and as many transposed ones double it back, each counted at its input's side.
        for layer in &self.decoder {
            c.conv_transposed(&layer.conv.weight, side, side);
            side *= 2;
        }
        c.conv_transposed(&self.last.weight, side, side);
        c
    }

    /// PyTorch state-dict prefixes (of the reference `PaperGenerator.main` Sequential, extended
    /// with the same pattern at other depths) and burn paths.
    pub fn torch_names(&self) -> Vec<(String, String)> {
        // Sequential layout: conv, lrelu | (conv, bn, lrelu)* | (convT, bn, relu)* | convT, sigmoid.
        let mut names = vec![("main.0.".to_string(), "first.".to_string())];
        let mut index = 2;
        for i in 0..self.encoder.len() {
            names.push((format!("main.{index}."), format!("encoder.{i}.conv.")));
            names.push((format!("main.{}.", index + 1), format!("encoder.{i}.bn.")));
            index += 3;
        }
        for i in 0..self.decoder.len() {
            names.push((format!("main.{index}."), format!("decoder.{i}.conv.")));
            names.push((format!("main.{}.", index + 1), format!("decoder.{i}.bn.")));
            index += 3;
        }
        names.push((format!("main.{index}."), "last.".to_string()));
        names
    }
}

/// What the paper's discriminator returns.
#[derive(Debug, Clone)]
pub struct PaperDiscriminatorOutput {
    /// Logit of "real" (the official code applies a sigmoid to it). [batch, 1, 1, 1]
    pub logits: Tensor<4>,
    /// LeakyReLU activations of layers 2.. (at 64 px: layers 2, 3, 4), for feature matching.
    pub features: Vec<Tensor<4>>,
}

/// The paper's discriminator.
#[derive(Module, Debug)]
pub struct PaperDiscriminator {
    first: Conv2d,
    blocks: Vec<ConvBn>,
    head: Conv2d,
}

impl PaperDiscriminator {
    /// Scores a batch [batch, channels, size, size] and returns the intermediate features.
    pub fn forward(&self, x: Tensor<4>) -> PaperDiscriminatorOutput {
        let mut x = leaky(conv4::forward(&self.first, x));
        let mut features = Vec::with_capacity(self.blocks.len());
        for block in &self.blocks {
            x = block.bn.forward_act(conv4::forward(&block.conv, x), 0.2);
            features.push(x.clone());
        }
        PaperDiscriminatorOutput {
            logits: self.head.forward(x),
            features,
        }
    }

    /// The convolutions of a forward pass over one `size` x `size` image ([`Convolutions`]).
    pub fn convolutions(&self, size: usize) -> Convolutions {
        let mut c = Convolutions::new();
        let mut side = size / 2;
        c.conv(&self.first.weight, side, side);
        for block in &self.blocks {
            side /= 2;
            c.conv(&block.conv.weight, side, side);
        }
        // A valid 4x4 conv of the 4x4 bottleneck: one logit.
        let out = side.saturating_sub(3);
        c.conv(&self.head.weight, out, out);
        c
    }

    /// PyTorch state-dict prefixes (of the reference `PaperDiscriminator`) and burn paths.
    pub fn torch_names(&self) -> Vec<(String, String)> {
        let mut names = vec![("conv1.".to_string(), "first.".to_string())];
        for i in 0..self.blocks.len() {
            names.push((format!("conv{}.", i + 2), format!("blocks.{i}.conv.")));
            names.push((format!("bn{}.", i + 2), format!("blocks.{i}.bn.")));
        }
        names.push((
            format!("conv{}.", self.blocks.len() + 2),
            "head.".to_string(),
        ));
        names
    }
}
