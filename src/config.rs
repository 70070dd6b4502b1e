//! The training configuration: what the networks are, what they optimise, and how.
//!
//! Every struct rejects unknown keys and is validated once, naming the offending key.

use serde::{Deserialize, Serialize};

use crate::data::{DataConfig, Preprocess};
use crate::error::{Error, Result};
use crate::loss::{Distance, GanLoss};
pub use crate::loss::{ObjectiveKind, Variant};
use crate::model::{Architecture, ModelConfig};

/// When each side is updated.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Schedule {
    /// Every iteration: a discriminator step, then a generator step (the loop of `reference/discogan_torch.py`).
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
    /// Weighted or paper objective.
    pub kind: ObjectiveKind,
    /// gan, recongan or discogan.
    pub variant: Variant,
    /// BCE (on logits) or LSGAN.
    pub gan_loss: GanLoss,
    /// The reconstruction distance (also used for the pixelwise term).
    pub distance: Distance,
    /// Margin of the hinge distance.
    pub hinge_margin: f32,
    /// λ_cyc, the weight of the reconstruction term (weighted objective).
    pub lambda_cycle: f64,
    /// λ_pw, the weight of the pixelwise term (weighted objective; paired data only). Unset: 10
    /// when the data are paired (`data.paired`), else 0 — see [`Config::pixelwise_weight`].
    pub lambda_pixelwise: Option<f64>,
    /// λ_id, the weight of the identity-mapping term `½ [d(G_AB(b), b) + d(G_BA(a), a)]`
    /// (CycleGAN's; either objective, 0 = off): it keeps colours and layout that both domains
    /// share, which the cycle alone lets the generators permute.
    pub lambda_identity: f64,
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
    /// Differentiable augmentation of every image the discriminators see
    /// ([`crate::augment`]): a comma-separated list of `color`, `translation`, `cutout`;
    /// empty: off.
    pub diff_augment: String,
}

impl Default for ObjectiveConfig {
    fn default() -> Self {
        Self {
            kind: ObjectiveKind::Weighted,
            variant: Variant::Discogan,
            gan_loss: GanLoss::Bce,
            distance: Distance::Mse,
            hinge_margin: 0.05,
            lambda_cycle: 10.0,
            lambda_pixelwise: None,
            lambda_identity: 0.0,
            starting_rate: 0.01,
            default_rate: 0.5,
            gan_curriculum: 10_000,
            schedule: Schedule::Every,
            update_interval: 3,
            diff_augment: String::new(),
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
    /// Decay both learning rates linearly to zero over the last this many of
    /// `train.iterations` (CycleGAN's `n_epochs_decay`; 0: constant).
    pub decay_iterations: u64,
}

impl Default for OptimizerConfig {
    fn default() -> Self {
        Self {
            lr: 2e-4,
            beta1: 0.5,
            beta2: 0.999,
            epsilon: 1e-8,
            weight_decay: 0.0,
            decay_iterations: 0,
        }
    }
}

/// The length of a run and what it writes along the way.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainConfig {
    /// Iterations to train for (in total, counting those before a resume).
    pub iterations: u64,
    /// Images of each domain per iteration.
    pub batch_size: usize,
    /// Seed of everything random: initial weights, data order, augmentation, dropout.
    pub seed: u64,
    /// Write every loss to `metrics.jsonl` every this many iterations.
    pub log_every: u64,
    /// Write a sample grid every this many iterations (0: only at the end).
    pub sample_every: u64,
    /// Rows (test images of each domain) in a sample grid.
    pub sample_count: usize,
    /// Write a checkpoint every this many iterations (0: only at the end).
    pub checkpoint_every: u64,
    /// Checkpoints kept (the oldest are deleted).
    pub keep_checkpoints: usize,
    /// Score the generators on the test images every this many iterations and at the end
    /// (0: never), writing `heldout_*` entries to `metrics.jsonl` (see `discogan eval`).
    pub eval_every: u64,
    /// Stop after this many minutes of training in this process (0: no limit), writing a
    /// checkpoint and a sample grid as at the end; a time-boxed run can be resumed like any.
    pub max_minutes: f64,
    /// Keep an exponential moving average of the generators' weights, updated after every
    /// generator step with this decay (0: off; e.g. 0.999). Checkpoints store it, and sample
    /// grids, held-out scores, `translate`, `eval` and `export` use it instead of the trained
    /// weights (`--raw` for those).
    pub ema_decay: f64,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            iterations: 2000,
            batch_size: 8,
            seed: 0,
            log_every: 10,
            sample_every: 100,
            sample_count: 8,
            checkpoint_every: 500,
            keep_checkpoints: 3,
            eval_every: 0,
            max_minutes: 0.0,
            ema_decay: 0.0,
        }
    }
}

/// Everything a run needs: networks, objective, optimiser, data and schedule.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// The networks.
    pub model: ModelConfig,
    /// The objective.
    pub objective: ObjectiveConfig,
    /// The optimisers.
    pub optimizer: OptimizerConfig,
    /// The data.
    pub data: DataConfig,
    /// The run.
    pub train: TrainConfig,
}

/// A [`Config`] that has passed [`Config::validate`] ([`Config::validated`] is the only way to
/// make one): what the trainer and a run take, so that nothing downstream checks it again.
#[derive(Clone, Debug, PartialEq)]
pub struct ValidConfig(Config);

impl std::ops::Deref for ValidConfig {
    type Target = Config;

    fn deref(&self) -> &Config {
        &self.0
    }
}

impl ValidConfig {
    /// The configuration itself.
    pub fn into_inner(self) -> Config {
        self.0
    }

    /// [`Config::with_absolute_paths`]: the paths change, the values checked do not.
    pub fn with_absolute_paths(self) -> Result<Self> {
        Ok(Self(self.0.with_absolute_paths()?))
    }
}

/// `from`'s keys into `into`, tables merged key by key.
fn merge(into: &mut toml::Table, from: toml::Table) {
    for (key, value) in from {
        match (into.get_mut(&key), value) {
            (Some(toml::Value::Table(a)), toml::Value::Table(b)) => merge(a, b),
            (_, value) => {
                into.insert(key, value);
            }
        }
    }
}

/// Named starting points.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Preset {
    /// U-Net + PatchGAN, BCE + 10 · MSE cycle, D then G every iteration (called `seed`
    /// before 2026-12-03).
    #[serde(alias = "seed")]
    Unet,
    /// The paper's official code: its networks, feature matching, the rate curriculum, the
    /// alternating schedule and Adam's weight decay 1e-5.
    Paper,
}

impl Config {
    /// The configuration of a preset.
    pub fn preset(preset: Preset) -> Self {
        match preset {
            Preset::Unet => Self::default(),
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
                // The official code's batch size.
                train: TrainConfig {
                    batch_size: 64,
                    ..TrainConfig::default()
                },
                ..Self::default()
            },
        }
    }

    /// The configuration, checked once: what training takes ([`ValidConfig`]).
    pub fn validated(self) -> Result<ValidConfig> {
        self.validate()?;
        Ok(ValidConfig(self))
    }

    /// Checks every value, naming the first bad key.
    pub fn validate(&self) -> Result<()> {
        self.model.validate()?;
        let o = &self.objective;
        non_negative("objective.lambda_cycle", o.lambda_cycle)?;
        if let Some(weight) = o.lambda_pixelwise {
            non_negative("objective.lambda_pixelwise", weight)?;
        }
        non_negative("objective.lambda_identity", o.lambda_identity)?;
        crate::augment::Policy::parse(&o.diff_augment)?;
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
        if !(p.epsilon.is_finite() && p.epsilon > 0.0) {
            // Adam divides by √v + ε: at 0 the first step of a parameter with no gradient is 0/0.
            return Err(Error::config(
                "optimizer.epsilon",
                format!("must be positive, got {}", p.epsilon),
            ));
        }
        non_negative("optimizer.weight_decay", f64::from(p.weight_decay))?;
        if p.decay_iterations > self.train.iterations {
            return Err(Error::config(
                "optimizer.decay_iterations",
                format!(
                    "must be at most train.iterations ({}), got {}",
                    self.train.iterations, p.decay_iterations
                ),
            ));
        }
        let d = &self.data;
        if d.load_size != 0 && d.load_size < self.model.image_size {
            return Err(Error::config(
                "data.load_size",
                format!(
                    "must be 0 or at least model.image_size ({}), got {}",
                    self.model.image_size, d.load_size
                ),
            ));
        }
        let t = &self.train;
        if t.batch_size == 0 {
            return Err(Error::config("train.batch_size", "must be at least 1"));
        }
        non_negative("train.max_minutes", t.max_minutes)?;
        if !(t.ema_decay.is_finite() && (0.0..1.0).contains(&t.ema_decay)) {
            return Err(Error::config(
                "train.ema_decay",
                format!("must be in [0, 1) (0: off), got {}", t.ema_decay),
            ));
        }
        if t.log_every == 0 {
            return Err(Error::config("train.log_every", "must be at least 1"));
        }
        if t.keep_checkpoints == 0 {
            return Err(Error::config(
                "train.keep_checkpoints",
                "must be at least 1",
            ));
        }
        Ok(())
    }

    /// The preprocessing of training images this configuration asks for.
    pub fn preprocess(&self) -> Preprocess {
        let m = &self.model;
        let d = &self.data;
        Preprocess {
            channels: m.channels,
            image_size: m.image_size,
            load_size: if d.load_size == 0 {
                m.image_size
            } else {
                d.load_size
            },
            random_crop: d.random_crop,
            flip: d.flip,
            alpha: d.alpha,
            range: m.architecture.pixel_range(),
        }
    }

    /// The preprocessing of images to translate: the whole image resized to the model's size,
    /// no crop, no flip.
    pub fn inference_preprocess(&self) -> Preprocess {
        Preprocess {
            load_size: self.model.image_size,
            random_crop: false,
            flip: false,
            ..self.preprocess()
        }
    }

    /// λ_pw as trained: `objective.lambda_pixelwise` where set, else 10 on paired data (the
    /// pixelwise loss is what pairing is for) and 0 otherwise.
    pub fn pixelwise_weight(&self) -> f64 {
        self.objective
            .lambda_pixelwise
            .unwrap_or(if self.data.paired { 10.0 } else { 0.0 })
    }

    /// The configuration with every data path absolute (against the current folder), so that
    /// a run folder's `config.toml` means the same wherever it is resumed from.
    pub fn with_absolute_paths(mut self) -> Result<Self> {
        let d = &mut self.data;
        for path in [
            &mut d.root,
            &mut d.train_a,
            &mut d.train_b,
            &mut d.test_a,
            &mut d.test_b,
        ]
        .into_iter()
        .flatten()
        {
            *path = std::path::absolute(&*path).map_err(|e| Error::io(&*path, e))?;
        }
        Ok(self)
    }

    /// Reads the configuration file `path` whose contents are `text` (keys left out keep their
    /// defaults). An empty file is an error, not the defaults: every file this program writes
    /// has every key.
    pub fn from_file_text(path: &std::path::Path, text: &str) -> Result<Self> {
        Self::from_file_over(&Self::default(), path, text)
    }

    /// The configuration file `path` (contents `text`) over `base`: the file's keys replace
    /// `base`'s, the others stay. Errors name the file, and unknown keys or wrong types the
    /// line of the file they are on; an empty file is an error.
    pub fn from_file_over(base: &Config, path: &std::path::Path, text: &str) -> Result<Self> {
        let in_file = |reason: String| Error::Data {
            path: path.to_path_buf(),
            reason,
        };
        if text.trim().is_empty() {
            return Err(in_file("the configuration file is empty".into()));
        }
        // Checked alone first, so that an error points into the file, not the merged document.
        Self::from_toml(text).map_err(|e| in_file(e.to_string()))?;
        let file: toml::Table = toml::from_str(text).map_err(|e| in_file(e.to_string()))?;
        let mut doc: toml::Table =
            toml::from_str(&base.to_toml()?).map_err(|e| in_file(e.to_string()))?;
        merge(&mut doc, file);
        let merged = toml::to_string(&doc).map_err(|e| in_file(e.to_string()))?;
        Self::from_toml(&merged).map_err(|e| in_file(e.to_string()))
    }

    /// The learning rate of iteration `iteration` (counting from 0): `optimizer.lr`, falling
    /// linearly over the last `optimizer.decay_iterations` so that the step after the last
    /// iteration would be zero.
    pub fn learning_rate(&self, iteration: u64) -> f64 {
        let p = &self.optimizer;
        let left = self.train.iterations.saturating_sub(iteration);
        if p.decay_iterations == 0 || left >= p.decay_iterations {
            return p.lr;
        }
        p.lr * left as f64 / p.decay_iterations as f64
    }

    /// Reads a TOML configuration file (keys left out keep their defaults).
    pub fn from_toml(text: &str) -> Result<Self> {
        toml::from_str(text).map_err(|e| toml_error("config", text, &e))
    }

    /// The configuration as TOML.
    pub fn to_toml(&self) -> Result<String> {
        toml::to_string_pretty(self).map_err(|e| Error::config("config", e.to_string()))
    }

    /// Applies `key=value` overrides (dotted keys, TOML values; bare words are strings),
    /// rejecting unknown keys.
    pub fn with_overrides(&self, overrides: &[String]) -> Result<Self> {
        let mut doc: toml::Table = toml::from_str(&self.to_toml()?)
            .map_err(|e| Error::config("config", e.message().to_string()))?;
        for item in overrides {
            let (key, raw) = item.split_once('=').ok_or_else(|| {
                Error::config(
                    item.as_str(),
                    "an override is written key=value, e.g. model.width=32",
                )
            })?;
            let key = key.trim();
            let value = parse_value(raw.trim());
            let mut table = &mut doc;
            let parts: Vec<&str> = key.split('.').collect();
            for part in &parts[..parts.len() - 1] {
                table = table
                    .entry(part.to_string())
                    .or_insert_with(|| toml::Value::Table(toml::Table::new()))
                    .as_table_mut()
                    .ok_or_else(|| Error::config(key, format!("`{part}` is not a section")))?;
            }
            table.insert(parts[parts.len() - 1].to_string(), value);
        }
        let text = toml::to_string(&doc).map_err(|e| Error::config("config", e.to_string()))?;
        toml::from_str(&text).map_err(|e| toml_error("--set", &text, &e))
    }
}

/// A TOML error with the line it is about, so that the message names the key.
fn toml_error(what: &str, text: &str, error: &toml::de::Error) -> Error {
    let line = error.span().and_then(|span| {
        let start = text[..span.start.min(text.len())]
            .rfind('\n')
            .map_or(0, |i| i + 1);
        text[start..].lines().next().map(str::trim)
    });
    match line {
        Some(line) if !line.is_empty() => {
            Error::config(what, format!("{} (at `{line}`)", error.message()))
        }
        _ => Error::config(what, error.message().to_string()),
    }
}

/// A TOML value, or the text itself as a string when it is not one.
fn parse_value(raw: &str) -> toml::Value {
    let wrapped = format!("v = {raw}");
    toml::from_str::<toml::Table>(&wrapped)
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(raw.to_string()))
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
        Config::preset(Preset::Unet).validate().unwrap();
        Config::preset(Preset::Paper).validate().unwrap();
    }

    #[test]
    fn the_names_before_2026_12_03_still_read() {
        // Run folders written before the rename say "seed" for the architecture and objective.
        let old = "[model]\narchitecture = \"seed\"\n[objective]\nkind = \"seed\"\n";
        let config = Config::from_toml(old).unwrap();
        assert_eq!(config.model.architecture, Architecture::Unet);
        assert_eq!(config.objective.kind, ObjectiveKind::Weighted);
        // ... and are written with the new names.
        let text = config.to_toml().unwrap();
        assert!(text.contains("architecture = \"unet\""), "{text}");
        assert!(text.contains("kind = \"weighted\""), "{text}");
        let preset: Preset = toml::Value::String("seed".into()).try_into().unwrap();
        assert_eq!(preset, Preset::Unet);
    }

    #[test]
    fn a_file_over_a_preset_keeps_the_preset_where_it_is_silent() {
        let path = std::path::Path::new("run.toml");
        let paper = Config::preset(Preset::Paper);
        let config = Config::from_file_over(&paper, path, "[model]\nwidth = 8\n").unwrap();
        assert_eq!(config.model.width, 8);
        assert_eq!(config.objective.kind, ObjectiveKind::Paper);
        // Errors name the file and point into it, not into the merged document.
        let err = Config::from_file_over(&paper, path, "\n[model]\nwidht = 8\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("run.toml") && err.contains("widht"), "{err}");
        assert!(err.contains("(at `widht = 8`)"), "{err}");
        let err = Config::from_file_over(&paper, path, " \n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("run.toml") && err.contains("empty"), "{err}");
    }

    #[test]
    fn overrides_and_toml_round_trip() {
        let config = Config::default()
            .with_overrides(&[
                "model.width=32".into(),
                "objective.distance=l1".into(),
                "train.iterations = 7".into(),
                "data.root=some/folder".into(),
            ])
            .unwrap();
        assert_eq!(config.model.width, 32);
        assert_eq!(config.objective.distance, crate::loss::Distance::L1);
        assert_eq!(config.train.iterations, 7);
        assert_eq!(
            Config::from_toml(&config.to_toml().unwrap()).unwrap(),
            config
        );
        let err = Config::default()
            .with_overrides(&["model.wdth=3".into()])
            .unwrap_err();
        assert!(err.to_string().contains("wdth"), "{err}");
        let err = Config::from_toml("[model]\nimage_size = \"big\"").unwrap_err();
        assert!(
            err.to_string().contains("image_size") || err.to_string().contains("integer"),
            "{err}"
        );
    }

    #[test]
    fn learning_rate_decays_linearly_over_the_last_iterations() {
        let mut config = Config::default();
        config.train.iterations = 10;
        config.optimizer.lr = 1.0;
        assert!((0..10).all(|i| config.learning_rate(i) == 1.0));
        config.optimizer.decay_iterations = 4;
        let rates: Vec<f64> = (0..10).map(|i| config.learning_rate(i)).collect();
        assert_eq!(
            rates,
            [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.75, 0.5, 0.25],
            "a quarter less each iteration, zero right after the last"
        );
        // Past the end (a run extended without changing the decay): no negative rates.
        assert_eq!(config.learning_rate(12), 0.0);
        config.optimizer.decay_iterations = 10;
        assert_eq!(config.learning_rate(0), 1.0);
        assert_eq!(config.learning_rate(9), 0.1);
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
                |c| c.objective.lambda_pixelwise = Some(f64::NAN),
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
            (|c| c.optimizer.epsilon = 0.0, "optimizer.epsilon"),
            (|c| c.optimizer.beta1 = 1.5, "optimizer.beta1"),
            (|c| c.data.load_size = 32, "data.load_size"),
            (|c| c.train.batch_size = 0, "train.batch_size"),
            (|c| c.train.ema_decay = 1.0, "train.ema_decay"),
            (
                |c| c.optimizer.decay_iterations = c.train.iterations + 1,
                "optimizer.decay_iterations",
            ),
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
