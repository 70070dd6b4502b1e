//! The PatchGAN discriminator of `reference/discogan_torch.py`: three stride-2 blocks, then a 4x4 convolution
//! to one logit per patch ([batch, 1, size/8, size/8]).

use burn::config::Config;
use burn::module::Module;
use burn::nn::{InstanceNorm, InstanceNormConfig, LeakyRelu, LeakyReluConfig, conv::Conv2d};
use burn::tensor::{Device, Tensor};

use super::flops::Convolutions;
use super::layers::WeightInit;
use crate::backends::cpu::conv4;
use crate::backends::cpu::{instance_norm_act, leaky_relu};

/// Configuration of [`PatchDiscriminator`].
#[derive(Config, Debug)]
pub struct PatchDiscriminatorConfig {
    /// Image channels (1, 3 or 4).
    pub channels: usize,
    /// Image side in pixels: a multiple of 8 (three stride-2 blocks), at least 32.
    pub image_size: usize,
    /// Base channel width (the reference's: 64).
    #[config(default = 64)]
    pub width: usize,
}

impl PatchDiscriminatorConfig {
    /// Checks the configuration without building anything.
    pub fn validate(&self) -> crate::Result<()> {
        super::check_channels(self.channels)?;
        // Three halvings and a size-keeping head: any multiple of 8 (the U-Net and the
        // paper's nets ask for powers of two themselves; the ResNet takes multiples of 4).
        if !self.image_size.is_multiple_of(8) || !(32..=4096).contains(&self.image_size) {
            return Err(crate::error::Error::config(
                "model.image_size",
                format!(
                    "the PatchGAN needs a multiple of 8 from 32 to 4096 (three stride-2 \
                     blocks), got {}",
                    self.image_size
                ),
            ));
        }
        super::check_width(self.width)
    }

    /// Builds the discriminator, or says why the configuration cannot be built.
    pub fn init(&self, device: &Device) -> crate::Result<PatchDiscriminator> {
        self.validate()?;
        let init = WeightInit::TorchDefault;
        let w = self.width;
        let plan = [
            (self.channels, w, false),
            (w, 2 * w, true),
            (2 * w, 4 * w, true),
        ];
        let blocks = plan
            .iter()
            .map(|&(cin, cout, normalize)| PatchBlock {
                conv: init.conv4(cin, cout, 2, 1, true, device),
                norm: normalize.then(|| {
                    InstanceNormConfig::new(cout)
                        .with_affine(false)
                        .init(device)
                }),
                activation: LeakyReluConfig::new().with_negative_slope(0.2).init(),
            })
            .collect();
        let mut head = init.conv4(4 * w, 1, 1, 0, true, device);
        // Padding (top, left, bottom, right) = ZeroPad2d((1, 0, 1, 0)) + Conv2d(padding=1).
        head.padding = burn::nn::PaddingConfig2d::Explicit(2, 2, 1, 1);
        Ok(PatchDiscriminator { blocks, head })
    }
}

/// Conv 4x4 stride 2 (+ InstanceNorm) + LeakyReLU(0.2).
#[derive(Module, Debug)]
pub struct PatchBlock {
    conv: Conv2d,
    norm: Option<InstanceNorm>,
    activation: LeakyRelu,
}

/// The PatchGAN discriminator; outputs logits, one per patch.
#[derive(Module, Debug)]
pub struct PatchDiscriminator {
    blocks: Vec<PatchBlock>,
    head: Conv2d,
}

impl PatchDiscriminator {
    /// [batch, channels, size, size] -> logits [batch, 1, size/8, size/8].
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let x = self.blocks.iter().fold(x, |x, block| {
            let x = conv4::forward(&block.conv, x);
            match &block.norm {
                Some(norm) => instance_norm_act(x, norm, block.activation.negative_slope, None),
                None => leaky_relu(x, block.activation.negative_slope),
            }
        });
        self.head.forward(x)
    }

    /// The convolutions of a forward pass over one `size` x `size` image ([`Convolutions`]).
    pub fn convolutions(&self, size: usize) -> Convolutions {
        let mut c = Convolutions::new();
        // Three stride-2 blocks, then the size-keeping head at size / 8.
        for (i, block) in self.blocks.iter().enumerate() {
            let side = size >> (i + 1);
            c.conv(&block.conv.weight, side, side);
        }
        let side = size >> self.blocks.len();
        c.conv(&self.head.weight, side, side);
        c
    }

    /// PyTorch state-dict prefixes (of the reference `PatchDiscriminator`) and burn paths.
    pub fn torch_names(&self) -> Vec<(String, String)> {
        // The reference's Sequential: conv at 0, 2, 5 (blocks), pad at 8, conv at 9.
        let torch_index = [0, 2, 5];
        let mut names: Vec<(String, String)> = torch_index
            .iter()
            .enumerate()
            .map(|(i, t)| (format!("model.{t}."), format!("blocks.{i}.conv.")))
            .collect();
        names.push(("model.9.".into(), "head.".into()));
        names
    }
}
