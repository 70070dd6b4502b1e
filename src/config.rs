//! The training configuration: what the networks are, what they optimise, and how.
//!
//! Every struct rejects unknown keys and is validated once, naming the offending key.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::loss::{Distance, GanLoss};
use crate::model::{Architecture, ModelConfig};

/// Which objective to optimise.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum ObjectiveKind {
    /// The design document's: GAN + λ_cyc · reconstruction (+ λ_pw · pixelwise).
    #[default]
    Seed,
    /// The official code's: (0.1 · GAN + 0.9 · feature matching) · (1 − rate) + rate · recon.
    Paper,
}

/// The paper's ablation variants.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Variant {
    /// One direction (A→B, judged by D_B), no reconstruction.
    Gan,
    /// One direction with the A→B→A reconstruction.
    Recongan,
    /// Both directions, both reconstructions.
    #[default]
    Discogan,
}

/// When each side is updated.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Schedule {
    /// Every iteration: a discriminator step, then a generator step (the seed's loop).
    #[default]
    Every,
    /// The official code's: the discriminators on every `update_interval`-th iteration
    /// (iterations 0, k, 2k, ...), the generators on all others.
    Alternate,
}

/// The objective and its weights.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ObjectiveConfig {
    /// Seed or paper objective.
    pub kind: ObjectiveKind,
    /// gan, recongan or discogan.
    pub variant: Variant,
    /// BCE (on logits) or LSGAN.
    pub gan_loss: GanLoss,
    /// The reconstruction distance (also used for the pixelwise term).
    pub distance: Distance,
    /// Margin of the hinge distance.
    pub hinge_margin: f32,
    /// λ_cyc, the weight of the reconstruction term (seed objective).
    pub lambda_cycle: f64,
    /// λ_pw, the weight of the pixelwise term (seed objective; paired data only).
    pub lambda_pixelwise: f64,
    /// Reconstruction rate during the GAN curriculum (paper objective).
    pub starting_rate: f64,
    /// Reconstruction rate after the curriculum (paper objective).
    pub default_rate: f64,
    /// Length of the GAN curriculum in iterations (paper objective).
    pub gan_curriculum: u64,
    /// When each side is updated.
    pub schedule: Schedule,
    /// The k of [`Schedule::Alternate`].
    pub update_interval: u64,
}

impl Default for ObjectiveConfig {
    fn default() -> Self {
        Self {
            kind: ObjectiveKind::Seed,
            variant: Variant::Discogan,
            gan_loss: GanLoss::Bce,
            distance: Distance::Mse,
            hinge_margin: 0.05,
            lambda_cycle: 10.0,
            lambda_pixelwise: 0.0,
            starting_rate: 0.01,
            default_rate: 0.5,
            gan_curriculum: 10_000,
            schedule: Schedule::Every,
            update_interval: 3,
        }
    }
}

/// Adam, one for the generators and one for the discriminators.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OptimizerConfig {
    /// Learning rate.
    pub lr: f64,
    /// Adam's β1.
    pub beta1: f32,
    /// Adam's β2.
    pub beta2: f32,
    /// Adam's ε (PyTorch's default 1e-8; burn's would be 1e-5).
    pub epsilon: f32,
    /// L2 weight decay added to the gradient, as PyTorch's Adam (the official code: 1e-5).
    pub weight_decay: f32,
}

impl Default for OptimizerConfig {
    fn default() -> Self {
        Self {
            lr: 2e-4,
            beta1: 0.5,
            beta2: 0.999,
            epsilon: 1e-8,
            weight_decay: 0.0,
        }
    }
}

/// Networks, objective and optimiser together.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// The networks.
    pub model: ModelConfig,
    /// The objective.
    pub objective: ObjectiveConfig,
    /// The optimisers.
    pub optimizer: OptimizerConfig,
}

/// Named starting points.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Preset {
    /// The design document: U-Net + PatchGAN, BCE + 10 · MSE cycle, D then G every iteration.
    Seed,
    /// The paper's official code: its networks, feature matching, the rate curriculum, the
    /// alternating schedule and Adam's weight decay 1e-5.
    Paper,
}

impl Config {
    /// The configuration of a preset.
    pub fn preset(preset: Preset) -> Self {
        match preset {
            Preset::Seed => Self::default(),
            Preset::Paper => Self {
                model: ModelConfig {
                    architecture: Architecture::Paper,
                    dropout: 0.0,
                    ..ModelConfig::default()
                },
                objective: ObjectiveConfig {
                    kind: ObjectiveKind::Paper,
                    schedule: Schedule::Alternate,
                    ..ObjectiveConfig::default()
                },
                optimizer: OptimizerConfig {
                    weight_decay: 1e-5,
                    ..OptimizerConfig::default()
                },
            },
        }
    }

    /// Checks every value, naming the first bad key.
    pub fn validate(&self) -> Result<()> {
        self.model.validate()?;
        let o = &self.objective;
        non_negative("objective.lambda_cycle", o.lambda_cycle)?;
        non_negative("objective.lambda_pixelwise", o.lambda_pixelwise)?;
        non_negative("objective.hinge_margin", f64::from(o.hinge_margin))?;
        unit_interval("objective.starting_rate", o.starting_rate)?;
        unit_interval("objective.default_rate", o.default_rate)?;
        if o.schedule == Schedule::Alternate && o.update_interval < 2 {
            return Err(Error::config(
                "objective.update_interval",
                format!(
                    "the alternating schedule needs at least 2 (1 would never update the \
                     generators), got {}",
                    o.update_interval
                ),
            ));
        }
        if o.kind == ObjectiveKind::Paper && self.model.architecture != Architecture::Paper {
            return Err(Error::config(
                "objective.kind",
                "the paper objective's feature matching needs the paper discriminator \
                 (model.architecture = \"paper\")",
            ));
        }
        let p = &self.optimizer;
        if !(p.lr.is_finite() && p.lr > 0.0) {
            return Err(Error::config(
                "optimizer.lr",
                format!("must be positive, got {}", p.lr),
            ));
        }
        unit_interval("optimizer.beta1", f64::from(p.beta1))?;
        unit_interval("optimizer.beta2", f64::from(p.beta2))?;
        non_negative("optimizer.epsilon", f64::from(p.epsilon))?;
        non_negative("optimizer.weight_decay", f64::from(p.weight_decay))
    }
}

fn non_negative(key: &str, value: f64) -> Result<()> {
    if value.is_finite() && value >= 0.0 {
        Ok(())
    } else {
        Err(Error::config(key, format!("must be ≥ 0, got {value}")))
    }
}

fn unit_interval(key: &str, value: f64) -> Result<()> {
    if value.is_finite() && (0.0..=1.0).contains(&value) {
        Ok(())
    } else {
        Err(Error::config(
            key,
            format!("must be in [0, 1], got {value}"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_are_valid() {
        Config::preset(Preset::Seed).validate().unwrap();
        Config::preset(Preset::Paper).validate().unwrap();
    }

    #[test]
    fn bad_values_name_their_key() {
        type Mutation = fn(&mut Config);
        let cases: Vec<(Mutation, &str)> = vec![
            (
                |c| c.objective.lambda_cycle = -1.0,
                "objective.lambda_cycle",
            ),
            (
                |c| c.objective.lambda_pixelwise = f64::NAN,
                "objective.lambda_pixelwise",
            ),
            (|c| c.model.image_size = 48, "model.image_size"),
            (|c| c.model.image_size = 16, "model.image_size"),
            (|c| c.model.channels = 2, "model.channels"),
            (|c| c.model.width = 0, "model.width"),
            (|c| c.model.dropout = 1.0, "model.dropout"),
            (
                |c| c.objective.kind = ObjectiveKind::Paper,
                "objective.kind",
            ),
            (|c| c.optimizer.lr = 0.0, "optimizer.lr"),
            (|c| c.optimizer.beta1 = 1.5, "optimizer.beta1"),
            (
                |c| {
                    c.objective.schedule = Schedule::Alternate;
                    c.objective.update_interval = 1;
                },
                "objective.update_interval",
            ),
        ];
        for (mutate, key) in cases {
            let mut config = Config::default();
            mutate(&mut config);
            let err = config.validate().unwrap_err().to_string();
            assert!(err.contains(key), "expected `{key}` in `{err}`");
        }
    }
}
