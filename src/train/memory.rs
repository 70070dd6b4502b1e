//! An upfront estimate of a training run's memory, checked against what the machine has free,
//! so that a configuration too large for it is an error that says so before anything is
//! allocated (not an abort in an allocation minutes later, or the kernel killing the process).
//!
//! Parameters: counted exactly. Every layer's channel count is a multiple of `model.width`
//! (capped multiples included), so the count is a quadratic in the width; it is measured on
//! the networks built at widths 1, 2 and 3 and extrapolated. Each parameter is held four times
//! in training (weights, gradients, Adam's two moments), plus the moving average of the
//! generators when kept.
//!
//! Activations: what one image costs per iteration (two generators run twice, the
//! discriminators on real and fake, all kept for the backward pass) grows with
//! width × image side²; the constant is calibrated on the measured peak memory of
//! `discogan bench` (see `ACTIVATION_BYTES_PER_UNIT`).

use burn::module::Module;
use burn::tensor::Device;

use crate::config::Config;
use crate::error::{Error, Result};
use crate::model::ModelConfig;

/// Bytes of activations per image per unit of `width × image_size²`: the largest of what
/// `discogan bench`'s peak RSS shows on the CPU backend (2026-12, AMD EPYC, 2 cores): unet nets
/// 46-51 between batch 4 and 8 at width 16 (64 and 128 px), about 74 at width 64 batch 8 after
/// the parameters; the paper's nets about 48 at width 64 batch 64. Rounded up, so the estimate
/// errs high (unet width 64 batch 8: 1,173 MiB estimated, 1,118 measured; paper width 64 batch
/// 64: 1,633 vs 1,051).
const ACTIVATION_BYTES_PER_UNIT: f64 = 80.0;
/// What the process needs besides: the program, the allocator's slack, the data loader.
const BASE_BYTES: f64 = 100.0 * 1024.0 * 1024.0;

/// The estimate of one configuration.
#[derive(Clone, Debug, PartialEq)]
pub struct MemoryEstimate {
    /// Parameters of the four networks.
    pub parameters: u64,
    /// Bytes: parameters with gradients and optimiser state.
    pub parameter_bytes: f64,
    /// Bytes: activations of one iteration.
    pub activation_bytes: f64,
}

impl MemoryEstimate {
    /// The whole estimate in bytes.
    pub fn total_bytes(&self) -> f64 {
        self.parameter_bytes + self.activation_bytes + BASE_BYTES
    }
}

fn parameters_at(model: &ModelConfig, width: usize) -> Result<u64> {
    let small = ModelConfig {
        width,
        ..model.clone()
    };
    let device = Device::flex();
    let g = small.init_generator(&device)?;
    let d = small.init_discriminator(&device)?;
    Ok(2 * (g.num_params() + d.num_params()) as u64)
}

/// The parameter count of the four networks of `model`, without building them at full width.
pub fn parameter_count(model: &ModelConfig) -> Result<u64> {
    let [p1, p2, p3] = [1, 2, 3].map(|w| parameters_at(model, w).map(|p| p as f64));
    let (p1, p2, p3) = (p1?, p2?, p3?);
    // p(w) = a w² + b w + c through the three points.
    let a = (p3 - 2.0 * p2 + p1) / 2.0;
    let b = p2 - p1 - 3.0 * a;
    let c = p1 - a - b;
    let w = model.width as f64;
    Ok((a * w * w + b * w + c).round().max(0.0) as u64)
}

/// The memory `config` needs to train.
pub fn estimate(config: &Config) -> Result<MemoryEstimate> {
    let parameters = parameter_count(&config.model)?;
    let copies = if config.train.ema_decay > 0.0 {
        5.0
    } else {
        4.0
    };
    let m = &config.model;
    let unit = m.width as f64 * (m.image_size * m.image_size) as f64;
    Ok(MemoryEstimate {
        parameters,
        parameter_bytes: parameters as f64 * 4.0 * copies,
        activation_bytes: ACTIVATION_BYTES_PER_UNIT * unit * config.train.batch_size as f64,
    })
}

/// Memory the system reports as available (Linux `MemAvailable`), in bytes; `None` where it
/// cannot be read (then nothing is checked).
pub fn available_bytes() -> Option<f64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024.0)
}

/// Refuses `config` when its estimate exceeds `available` bytes.
pub fn check(config: &Config, available: Option<f64>) -> Result<MemoryEstimate> {
    let estimate = estimate(config)?;
    if let Some(available) = available
        && estimate.total_bytes() > available
    {
        let mib = |b: f64| (b / (1024.0 * 1024.0)).ceil() as u64;
        return Err(Error::Memory {
            needed_mib: mib(estimate.total_bytes()),
            detail: format!(
                "{:.1} M parameters: {} MiB with gradients and Adam's state; activations at \
                 batch {}: {} MiB",
                estimate.parameters as f64 / 1e6,
                mib(estimate.parameter_bytes),
                config.train.batch_size,
                mib(estimate.activation_bytes)
            ),
            available_mib: mib(available),
        });
    }
    Ok(estimate)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Preset;

    #[test]
    fn the_parameter_count_is_exact_at_the_real_width() {
        let resnet = {
            let mut config = Config::preset(Preset::Unet);
            config.model.architecture = crate::model::Architecture::Resnet;
            config
        };
        for mut config in [
            Config::preset(Preset::Unet),
            resnet,
            Config::preset(Preset::Paper),
        ] {
            config.model.width = 16;
            config.model.image_size = 64;
            let built = parameters_at(&config.model, 16).unwrap();
            let architecture = config.model.architecture;
            assert_eq!(
                parameter_count(&config.model).unwrap(),
                built,
                "{architecture:?}"
            );
        }
    }

    #[test]
    fn a_configuration_too_large_is_refused_with_the_estimate() {
        let mut config = Config::default();
        config.model.width = 1024;
        let err = check(&config, Some(24.0 * 1024.0 * 1024.0 * 1024.0))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("not enough memory") && err.contains("parameters"),
            "{err}"
        );
        let small = Config::default();
        check(&small, Some(24.0 * 1024.0 * 1024.0 * 1024.0)).unwrap();
        check(&config, None).unwrap();
    }
}
