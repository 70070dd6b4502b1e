//! The ResNet generator of `reference/discogan_torch.py` (`GeneratorResNet`: CycleGAN's
//! generator, which the description's training code names).
//!
//! Reflection pad 3 + 7x7 conv to `w` channels; two 3x3 stride-2 convs (`2w`, `4w`); residual
//! blocks at `4w` (reflection pad 1, 3x3 conv, norm, ReLU, reflection pad 1, 3x3 conv, norm,
//! plus the block's input); two nearest x2 upsamplings, each followed by a 3x3 conv (`2w`,
//! `w`); reflection pad 3 + 7x7 conv to the image channels and tanh, in [-1, 1]. Every conv
//! but the last is followed by InstanceNorm without affine parameters and (but the second of
//! each residual block) ReLU. Unlike the U-Net, no skip lets the input through unchanged
//! around the bottleneck: a translation has to be drawn from the residual features.

use burn::config::Config;
use burn::module::Module;
use burn::nn::{InstanceNorm, InstanceNormConfig, conv::Conv2d};
use burn::tensor::{Device, Tensor};

use super::flops::Convolutions;
use super::layers::WeightInit;
use crate::backends::cpu::padded_conv::{self, ConvSpec, Padding};
use crate::backends::cpu::{Squash, instance_norm_act, squash};
use crate::error::Error;

/// Configuration of [`ResNetGenerator`].
#[derive(Config, Debug)]
pub struct ResNetGeneratorConfig {
    /// Image channels in and out (1, 3 or 4).
    pub channels: usize,
    /// Image side in pixels: a multiple of 4 (the two downsamplings), at least 8.
    pub image_size: usize,
    /// Base channel width (CycleGAN's: 64).
    #[config(default = 64)]
    pub width: usize,
    /// Residual blocks at the bottleneck (CycleGAN: 6 up to 128 px, 9 above).
    #[config(default = 6)]
    pub residual_blocks: usize,
}

/// The most residual blocks accepted (CycleGAN uses 6 or 9).
const MAX_RESIDUAL_BLOCKS: usize = 64;

impl ResNetGeneratorConfig {
    /// CycleGAN's number of residual blocks for a side of `image_size` pixels: 6 up to 128 px
    /// (`resnet_6blocks`), 9 above (`resnet_9blocks`).
    pub fn default_blocks(image_size: usize) -> usize {
        if image_size <= 128 { 6 } else { 9 }
    }

    /// Checks the configuration without building anything.
    pub fn validate(&self) -> crate::Result<()> {
        super::check_channels(self.channels)?;
        // Two stride-2 convs and two x2 upsamplings give back the input size for multiples of
        // 4; the residual blocks' reflection padding needs a bottleneck of at least 2 px.
        if !self.image_size.is_multiple_of(4) || !(8..=4096).contains(&self.image_size) {
            return Err(Error::config(
                "model.image_size",
                format!(
                    "the ResNet generator needs a multiple of 4 from 8 to 4096 (two stride-2 \
                     downsamplings), got {}",
                    self.image_size
                ),
            ));
        }
        super::check_width(self.width)?;
        if self.residual_blocks > MAX_RESIDUAL_BLOCKS {
            return Err(Error::config(
                "model.residual_blocks",
                format!(
                    "must be from 0 to {MAX_RESIDUAL_BLOCKS}, got {}",
                    self.residual_blocks
                ),
            ));
        }
        Ok(())
    }

    /// Builds the generator, or says why the configuration cannot be built.
    pub fn init(&self, device: &Device) -> crate::Result<ResNetGenerator> {
        self.validate()?;
        let init = WeightInit::TorchDefault;
        let w = self.width;
        // Each layer's padding, stride and upsampling are the forward pass's (`ConvSpec`):
        // the convolutions themselves are built plain.
        let conv_norm = |cin, cout, kernel| ConvNorm {
            conv: init.conv(cin, cout, kernel, 1, 0, true, device),
            norm: instance_norm(cout, device),
        };
        Ok(ResNetGenerator {
            stem: conv_norm(self.channels, w, 7),
            downs: vec![conv_norm(w, 2 * w, 3), conv_norm(2 * w, 4 * w, 3)],
            blocks: (0..self.residual_blocks)
                .map(|_| ResidualBlock {
                    first: conv_norm(4 * w, 4 * w, 3),
                    second: conv_norm(4 * w, 4 * w, 3),
                })
                .collect(),
            ups: vec![conv_norm(4 * w, 2 * w, 3), conv_norm(2 * w, w, 3)],
            head: init.conv(w, self.channels, 7, 1, 0, true, device),
        })
    }
}

fn instance_norm(channels: usize, device: &Device) -> InstanceNorm {
    // PyTorch's InstanceNorm2d has no affine parameters (burn's default has).
    InstanceNormConfig::new(channels)
        .with_affine(false)
        .init(device)
}

/// PyTorch's `ReflectionPad2d(pad)` then the convolution.
const fn reflected(pad: usize) -> ConvSpec {
    ConvSpec {
        upsample: false,
        pad,
        padding: Padding::Reflect,
        stride: 1,
    }
}

/// The downsamplings: stride 2, zero padding 1.
const DOWN: ConvSpec = ConvSpec {
    upsample: false,
    pad: 1,
    padding: Padding::Zero,
    stride: 2,
};

/// The upsamplings: nearest x2, then zero padding 1.
const UP: ConvSpec = ConvSpec {
    upsample: true,
    pad: 1,
    padding: Padding::Zero,
    stride: 1,
};

/// A convolution followed by InstanceNorm.
#[derive(Module, Debug)]
pub struct ConvNorm {
    conv: Conv2d,
    norm: InstanceNorm,
}

impl ConvNorm {
    /// Conv (with what `spec` says surrounds it), InstanceNorm, then ReLU when `relu` (else the
    /// normalised values as they are).
    fn forward(&self, x: Tensor<4>, spec: ConvSpec, relu: bool) -> Tensor<4> {
        // A LeakyReLU of slope 0 is ReLU; of slope 1, the identity.
        let slope = if relu { 0.0 } else { 1.0 };
        instance_norm_act(
            padded_conv::forward(&self.conv, x, spec),
            &self.norm,
            slope,
            None,
        )
    }
}

/// `x + second(pad(relu(first(pad(x)))))`, at the bottleneck's width.
#[derive(Module, Debug)]
pub struct ResidualBlock {
    first: ConvNorm,
    second: ConvNorm,
}

impl ResidualBlock {
    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let y = self.first.forward(x.clone(), reflected(1), true);
        x + self.second.forward(y, reflected(1), false)
    }
}

/// The ResNet generator. Input and output [batch, channels, size, size] in [-1, 1].
#[derive(Module, Debug)]
pub struct ResNetGenerator {
    stem: ConvNorm,
    downs: Vec<ConvNorm>,
    blocks: Vec<ResidualBlock>,
    ups: Vec<ConvNorm>,
    head: Conv2d,
}

impl ResNetGenerator {
    /// Translates a batch of images.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        // [b, c, s, s] -> [b, w, s, s]
        let x = self.stem.forward(x, reflected(3), true);
        // -> [b, 4w, s/4, s/4]
        let x = self
            .downs
            .iter()
            .fold(x, |x, down| down.forward(x, DOWN, true));
        let x = self.blocks.iter().fold(x, |x, block| block.forward(x));
        // -> [b, w, s, s]
        let x = self.ups.iter().fold(x, |x, up| up.forward(x, UP, true));
        // -> [b, c, s, s]
        squash(
            padded_conv::forward(&self.head, x, reflected(3)),
            Squash::Tanh,
        )
    }

    /// The convolutions of a forward pass over one `size` x `size` image ([`Convolutions`]).
    pub fn convolutions(&self, size: usize) -> Convolutions {
        let mut c = Convolutions::new();
        // Size-keeping 7x7 stem; 3x3 stride-2 pad-1 downsamplings: ceil(side / 2) each.
        c.conv(&self.stem.conv.weight, size, size);
        let mut side = size;
        for down in &self.downs {
            side = side.div_ceil(2);
            c.conv(&down.conv.weight, side, side);
        }
        for block in &self.blocks {
            c.conv(&block.first.conv.weight, side, side);
            c.conv(&block.second.conv.weight, side, side);
        }
        // Each 3x3 conv runs on the x2 upsampled image, size-keeping.
        for up in &self.ups {
            side *= 2;
            c.conv(&up.conv.weight, side, side);
        }
        c.conv(&self.head.weight, side, side);
        c
    }

    /// PyTorch state-dict prefixes (of the reference `GeneratorResNet`, whose layers are one
    /// `Sequential` named `model`) and the matching burn module paths.
    pub fn torch_names(&self) -> Vec<(String, String)> {
        // model.0 pad, 1 conv, 2 norm, 3 ReLU; 4-6 and 7-9 the downsamplings; then one index
        // per residual block (its own Sequential `block`: pad 0, conv 1, norm 2, ReLU 3, pad 4,
        // conv 5, norm 6); then upsample, conv, norm, ReLU twice; then pad, conv, tanh.
        let n = self.blocks.len();
        let mut names = vec![
            ("model.1.".to_string(), "stem.conv.".to_string()),
            ("model.4.".into(), "downs.0.conv.".into()),
            ("model.7.".into(), "downs.1.conv.".into()),
        ];
        for k in 0..n {
            names.push((
                format!("model.{}.block.1.", 10 + k),
                format!("blocks.{k}.first.conv."),
            ));
            names.push((
                format!("model.{}.block.5.", 10 + k),
                format!("blocks.{k}.second.conv."),
            ));
        }
        names.push((format!("model.{}.", 11 + n), "ups.0.conv.".into()));
        names.push((format!("model.{}.", 15 + n), "ups.1.conv.".into()));
        names.push((format!("model.{}.", 19 + n), "head.".into()));
        names
    }

    /// The number of residual blocks.
    pub fn residual_blocks(&self) -> usize {
        self.blocks.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_size_of_any_multiple_of_four() {
        let device = Device::flex();
        for size in [8, 12, 36, 64] {
            let g = ResNetGeneratorConfig::new(3, size)
                .with_width(2)
                .with_residual_blocks(1)
                .init(&device)
                .unwrap();
            let y = g.forward(Tensor::zeros([2, 3, size, size], &device));
            assert_eq!(y.dims(), [2, 3, size, size]);
        }
    }

    #[test]
    fn rejects_sizes_and_block_counts_it_cannot_take() {
        for size in [0, 4, 30, 66] {
            let err = ResNetGeneratorConfig::new(3, size).validate().unwrap_err();
            assert!(err.to_string().contains("model.image_size"), "{err}");
        }
        let err = ResNetGeneratorConfig::new(3, 64)
            .with_residual_blocks(65)
            .validate()
            .unwrap_err();
        assert!(err.to_string().contains("model.residual_blocks"), "{err}");
    }

    #[test]
    fn names_every_parameterised_layer_once() {
        let g = ResNetGeneratorConfig::new(3, 32)
            .with_width(2)
            .with_residual_blocks(3)
            .init(&Device::flex())
            .unwrap();
        let names = g.torch_names();
        // stem, 2 downs, 2 convs per block, 2 ups, head.
        assert_eq!(names.len(), 1 + 2 + 2 * 3 + 2 + 1);
        assert_eq!(names.last().unwrap().0, "model.22.");
        assert_eq!(g.residual_blocks(), 3);
    }
}
