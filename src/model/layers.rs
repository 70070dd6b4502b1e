//! Layers whose PyTorch semantics burn's built-ins do not reproduce exactly.

use burn::module::{Flag, Module, Param, RunningState};
use burn::nn::{
    Initializer,
    conv::{Conv2d, Conv2dConfig, ConvTranspose2d, ConvTranspose2dConfig},
};
use burn::tensor::{Device, Tensor};

use crate::backends::cpu::{batch_norm_act_eval, batch_norm_act_train};

/// PyTorch's `BatchNorm2d`: normalises with the batch statistics in training and the running
/// statistics otherwise, and, unlike burn's `BatchNorm`, updates `running_var` with the
/// *unbiased* batch variance (burn uses the biased one). Parameter names follow PyTorch
/// (`weight`, `bias`, `running_mean`, `running_var`) so state dicts load without renaming.
#[derive(Module, Debug)]
pub struct BatchNorm2d {
    /// Scale (PyTorch `weight`, burn `gamma`). [channels]
    pub weight: Param<Tensor<1>>,
    /// Shift (PyTorch `bias`, burn `beta`). [channels]
    pub bias: Param<Tensor<1>>,
    /// Running mean of the batch means. [channels]
    pub running_mean: RunningState<Tensor<1>>,
    /// Running mean of the unbiased batch variances. [channels]
    pub running_var: RunningState<Tensor<1>>,
    /// Whether this layer takes part in training (cleared by `freeze`/`valid`).
    pub training: Param<Flag>,
    /// Weight of the newest batch in the running statistics (PyTorch: 0.1).
    pub momentum: f64,
    /// Added to the variance before the square root (PyTorch: 1e-5).
    pub epsilon: f64,
}

impl BatchNorm2d {
    /// A batch norm over `channels` with PyTorch's defaults; the scale is drawn from `scale_init`.
    pub fn new(channels: usize, scale_init: Initializer, device: &Device) -> Self {
        Self {
            weight: scale_init.init([channels], device),
            bias: Initializer::Zeros.init([channels], device),
            running_mean: RunningState::new(Tensor::zeros([channels], device)),
            running_var: RunningState::new(Tensor::ones([channels], device)),
            training: Param::from_bool(true),
            momentum: 0.1,
            epsilon: 1e-5,
        }
    }

    /// Normalises `input` [batch, channels, h, w].
    pub fn forward(&self, input: Tensor<4>) -> Tensor<4> {
        self.forward_act(input, 1.0)
    }

    /// Normalises `input` [batch, channels, h, w], then LeakyReLU with `slope` in [0, 1] (0:
    /// ReLU, 1: no activation). One fused operation on the CPU backend
    /// ([`batch_norm_act_train`], [`batch_norm_act_eval`]).
    pub fn forward_act(&self, input: Tensor<4>, slope: f64) -> Tensor<4> {
        if input.device().is_autodiff() && self.training.is_enabled() {
            return self.forward_train(input, slope);
        }
        let device = input.device();
        batch_norm_act_eval(
            input,
            self.weight.val(),
            self.bias.val(),
            [
                self.running_mean.value().to_device(&device),
                self.running_var.value().to_device(&device),
            ],
            self.epsilon,
            slope,
        )
    }

    fn forward_train(&self, input: Tensor<4>, slope: f64) -> Tensor<4> {
        let [batch, _, h, w] = input.dims();
        let samples = (batch * h * w) as f64;
        let device = input.device();
        let out = batch_norm_act_train(
            input,
            self.weight.val(),
            self.bias.val(),
            self.epsilon,
            slope,
        );
        // PyTorch keeps the unbiased variance: n / (n - 1) times the biased one.
        let unbiased = if samples > 1.0 {
            samples / (samples - 1.0)
        } else {
            1.0
        };
        let m = self.momentum;
        let mean = self.running_mean.value_sync().to_device(&device);
        let var = self.running_var.value_sync().to_device(&device);
        self.running_mean
            .update((mean * (1.0 - m) + out.mean * m).detach());
        self.running_var
            .update((var * (1.0 - m) + out.variance * (m * unbiased)).detach());
        // `RunningState` parks an update per thread until the next read; module visitors
        // (saving, checkpoints) read the committed value only. Commit now so that a checkpoint
        // taken right after this forward holds the statistics PyTorch would have.
        self.running_mean.value_sync();
        self.running_var.value_sync();
        out.output
    }
}

/// How convolution weights are initialised.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum WeightInit {
    /// PyTorch's default for `Conv2d`/`ConvTranspose2d`: U(±1/sqrt(fan_in)) for weights and
    /// biases (burn's default Kaiming-uniform with gain 1/sqrt(3) is the same distribution).
    TorchDefault,
    /// DCGAN-style, as the paper's code: weights ~ N(0, std), biases 0, norm scales ~ N(1, std).
    Normal {
        /// Standard deviation (the paper: 0.02).
        std: f64,
    },
}

impl WeightInit {
    fn conv_initializer(self) -> Option<Initializer> {
        match self {
            WeightInit::TorchDefault => None,
            WeightInit::Normal { std } => Some(Initializer::Normal { mean: 0.0, std }),
        }
    }

    /// The initialiser of a norm layer's scale.
    pub fn norm_scale(self) -> Initializer {
        match self {
            WeightInit::TorchDefault => Initializer::Ones,
            WeightInit::Normal { std } => Initializer::Normal { mean: 1.0, std },
        }
    }

    /// A 4x4 convolution `cin -> cout` with the given stride and symmetric padding.
    pub fn conv4(
        self,
        cin: usize,
        cout: usize,
        stride: usize,
        padding: usize,
        bias: bool,
        device: &Device,
    ) -> Conv2d {
        self.conv(cin, cout, 4, stride, padding, bias, device)
    }

    /// A `kernel`x`kernel` convolution `cin -> cout` with the given stride and symmetric zero
    /// padding.
    #[allow(clippy::too_many_arguments)]
    pub fn conv(
        self,
        cin: usize,
        cout: usize,
        kernel: usize,
        stride: usize,
        padding: usize,
        bias: bool,
        device: &Device,
    ) -> Conv2d {
        let mut config = Conv2dConfig::new([cin, cout], [kernel, kernel])
            .with_stride([stride, stride])
            .with_padding(burn::nn::PaddingConfig2d::Explicit(
                padding, padding, padding, padding,
            ))
            .with_bias(bias);
        if let Some(init) = self.conv_initializer() {
            config = config.with_initializer(init);
        }
        let mut conv = config.init(device);
        if bias && matches!(self, WeightInit::Normal { .. }) {
            conv.bias = Some(Initializer::Zeros.init([cout], device));
        }
        conv
    }

    /// A 4x4, stride-2, padding-1 transposed convolution `cin -> cout` (doubles h and w).
    pub fn conv_transpose4(
        self,
        cin: usize,
        cout: usize,
        bias: bool,
        device: &Device,
    ) -> ConvTranspose2d {
        let mut config = ConvTranspose2dConfig::new([cin, cout], [4, 4])
            .with_stride([2, 2])
            .with_padding([1, 1])
            .with_bias(bias);
        if let Some(init) = self.conv_initializer() {
            config = config.with_initializer(init);
        }
        let mut conv = config.init(device);
        if bias && matches!(self, WeightInit::Normal { .. }) {
            conv.bias = Some(Initializer::Zeros.init([cout], device));
        }
        conv
    }
}
