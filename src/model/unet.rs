//! The U-Net generator of `reference/discogan_torch.py`.
//!
//! At 64 px: six stride-2 down blocks (64 -> 1 px), five up blocks that concatenate the mirrored
//! skip, then nearest x2 upsampling, a left/top zero pad and a 4x4 convolution to the image
//! channels, with a tanh output in [-1, 1]. Other sizes change the depth so that the bottleneck
//! stays 1x1 (see [`UNetGeneratorConfig::down_channels`]).

use burn::config::Config;
use burn::module::Module;
use burn::nn::{
    Dropout, DropoutConfig, InstanceNorm, InstanceNormConfig, LeakyRelu, LeakyReluConfig,
    conv::{Conv2d, ConvTranspose2d},
};
use burn::tensor::{Device, Tensor};

use super::flops::Convolutions;
use super::layers::WeightInit;
use crate::backends::cpu::conv4;
use crate::backends::cpu::upsample2x_conv4;
use crate::backends::cpu::{Squash, instance_norm_act, leaky_relu, squash};

/// Configuration of [`UNetGenerator`].
#[derive(Config, Debug)]
pub struct UNetGeneratorConfig {
    /// Image channels in and out (1, 3 or 4).
    pub channels: usize,
    /// Image side in pixels (a power of two, at least 32).
    pub image_size: usize,
    /// Base channel width (the reference's: 64).
    #[config(default = 64)]
    pub width: usize,
    /// Dropout probability of the inner blocks (the reference's: 0.5).
    #[config(default = 0.5)]
    pub dropout: f64,
}

impl UNetGeneratorConfig {
    /// Number of down blocks: one per halving, down to a 1x1 bottleneck.
    pub fn depth(&self) -> usize {
        self.image_size.trailing_zeros() as usize
    }

    /// Output channels of each down block: w, 2w, 4w, then 8w for the rest.
    pub fn down_channels(&self) -> Vec<usize> {
        (0..self.depth())
            .map(|i| self.width * (1 << i.min(3)))
            .collect()
    }

    /// Checks the configuration without building anything.
    pub fn validate(&self) -> crate::Result<()> {
        super::check_channels(self.channels)?;
        super::check_size(self.image_size, 32, "the U-Net needs at least 32 px")?;
        super::check_width(self.width)?;
        super::check_dropout(self.dropout)
    }

    /// Builds the generator, or says why the configuration cannot be built.
    pub fn init(&self, device: &Device) -> crate::Result<UNetGenerator> {
        self.validate()?;
        let init = WeightInit::TorchDefault;
        let depth = self.depth();
        let chans = self.down_channels();
        let last = depth - 1;
        let downs = (0..depth)
            .map(|i| {
                let cin = if i == 0 { self.channels } else { chans[i - 1] };
                // No norm on the first block, nor on the last, whose output is 1x1.
                let normalize = i != 0 && i != last;
                let dropout = if i >= 2 { self.dropout } else { 0.0 };
                UNetDown {
                    conv: init.conv4(cin, chans[i], 2, 1, true, device),
                    norm: normalize.then(|| instance_norm(chans[i], device)),
                    dropout: dropout_layer(dropout),
                    activation: LeakyReluConfig::new().with_negative_slope(0.2).init(),
                }
            })
            .collect();
        // Up block j mirrors down block `last - 1 - j`, whose output it is concatenated with.
        let ups = (0..last)
            .map(|j| {
                let cin = if j == 0 {
                    chans[last]
                } else {
                    2 * chans[last - j]
                };
                let cout = chans[last - 1 - j];
                let dropout = if j + 3 < depth { self.dropout } else { 0.0 };
                UNetUp {
                    conv: init.conv_transpose4(cin, cout, true, device),
                    norm: instance_norm(cout, device),
                    dropout: dropout_layer(dropout),
                }
            })
            .collect();
        Ok(UNetGenerator {
            downs,
            ups,
            // Padding (top, left, bottom, right) = ZeroPad2d((1, 0, 1, 0)) + Conv2d(padding=1).
            head: {
                let mut conv = init.conv4(2 * chans[0], self.channels, 1, 0, true, device);
                conv.padding = burn::nn::PaddingConfig2d::Explicit(2, 2, 1, 1);
                conv
            },
        })
    }
}

fn instance_norm(channels: usize, device: &Device) -> InstanceNorm {
    // PyTorch's InstanceNorm2d has no affine parameters (burn's default has).
    InstanceNormConfig::new(channels)
        .with_affine(false)
        .init(device)
}

fn dropout_layer(prob: f64) -> Option<Dropout> {
    (prob > 0.0).then(|| DropoutConfig::new(prob).init())
}

/// Conv 4x4 stride 2 (+ InstanceNorm) + LeakyReLU(0.2) (+ Dropout).
#[derive(Module, Debug)]
pub struct UNetDown {
    conv: Conv2d,
    norm: Option<InstanceNorm>,
    dropout: Option<Dropout>,
    activation: LeakyRelu,
}

impl UNetDown {
    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let x = conv4::forward(&self.conv, x);
        match &self.norm {
            Some(norm) => instance_norm_act(
                x,
                norm,
                self.activation.negative_slope,
                self.dropout.as_ref(),
            ),
            None => {
                let x = leaky_relu(x, self.activation.negative_slope);
                match &self.dropout {
                    Some(dropout) => dropout.forward(x),
                    None => x,
                }
            }
        }
    }
}

/// ConvTranspose 4x4 stride 2 + InstanceNorm + ReLU (+ Dropout), then concatenation of the skip.
#[derive(Module, Debug)]
pub struct UNetUp {
    conv: ConvTranspose2d,
    norm: InstanceNorm,
    dropout: Option<Dropout>,
}

impl UNetUp {
    fn forward(&self, x: Tensor<4>, skip: Tensor<4>) -> Tensor<4> {
        let x = conv4::forward_transposed(&self.conv, x);
        // InstanceNorm + ReLU (a LeakyReLU of slope 0) + dropout.
        let x = instance_norm_act(x, &self.norm, 0.0, self.dropout.as_ref());
        Tensor::cat(vec![x, skip], 1)
    }
}

/// The U-Net generator. Input and output [batch, channels, size, size] in [-1, 1].
#[derive(Module, Debug)]
pub struct UNetGenerator {
    downs: Vec<UNetDown>,
    ups: Vec<UNetUp>,
    head: Conv2d,
}

impl UNetGenerator {
    /// Translates a batch of images.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let mut skips = Vec::with_capacity(self.downs.len());
        let mut x = x;
        for down in &self.downs {
            x = down.forward(x);
            skips.push(x.clone());
        }
        // The deepest activation is the bottleneck, not a skip: up block j takes skip `last-1-j`.
        for (up, skip) in self.ups.iter().zip(skips.into_iter().rev().skip(1)) {
            x = up.forward(x, skip);
        }
        // = self.head.forward(upsample_nearest2x(x)), without building the upsampled image.
        let bias = self.head.bias.as_ref().map(|b| b.val());
        squash(
            upsample2x_conv4(x, self.head.weight.val(), bias),
            Squash::Tanh,
        )
    }

    /// The convolutions of a forward pass over one `size` x `size` image ([`Convolutions`]).
    pub fn convolutions(&self, size: usize) -> Convolutions {
        let mut c = Convolutions::new();
        let depth = self.downs.len();
        // Down block i: [c_i, size / 2^(i+1)] out.
        for (i, down) in self.downs.iter().enumerate() {
            let side = size >> (i + 1);
            c.conv(&down.conv.weight, side, side);
        }
        // Up block j: from the bottleneck (size / 2^depth) up, doubling.
        for (j, up) in self.ups.iter().enumerate() {
            let side = size >> (depth - j);
            c.conv_transposed(&up.conv.weight, side, side);
        }
        // The head: a 4x4 conv of the upsampled image, size-keeping.
        c.conv(&self.head.weight, size, size);
        c
    }

    /// PyTorch state-dict prefixes (of the reference `GeneratorUNet`) and the matching burn
    /// module paths, for importing and exporting weights.
    pub fn torch_names(&self) -> Vec<(String, String)> {
        let mut names: Vec<(String, String)> = (0..self.downs.len())
            .map(|i| {
                (
                    format!("down{}.model.0.", i + 1),
                    format!("downs.{i}.conv."),
                )
            })
            .collect();
        names.extend(
            (0..self.ups.len())
                .map(|j| (format!("up{}.model.0.", j + 1), format!("ups.{j}.conv."))),
        );
        names.push(("final.2.".into(), "head.".into()));
        names
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_plan_at_64px_is_the_design_document() {
        let config = UNetGeneratorConfig::new(3, 64);
        assert_eq!(config.depth(), 6);
        assert_eq!(config.down_channels(), vec![64, 128, 256, 512, 512, 512]);
    }

    #[test]
    fn rejects_sizes_it_cannot_take() {
        for size in [0, 16, 48, 100] {
            let err = UNetGeneratorConfig::new(3, size).validate().unwrap_err();
            assert!(err.to_string().contains("image_size"), "{err}");
        }
    }
}
