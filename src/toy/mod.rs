//! The paper's toy experiment (section 4.1): translation between 2-D Gaussian mixtures with
//! small MLPs, for the variants `gan`, `recongan` and `discogan` over several seeds, measured by
//! how the translated samples cover the target modes.

mod mixture;
mod plot;
mod train;

pub use mixture::{Mixture, ModeReport, mode_report};
pub use train::{Mlp, ToyNets, ToyTraining, apply, train_toy};

use std::path::{Path, PathBuf};

use burn::tensor::Device;
use serde::Serialize;

use crate::config::Variant;
use crate::error::{Error, Result};
use crate::rng::SplitMix64;

/// The experiment's settings.
#[derive(Clone, Debug)]
pub struct ToyConfig {
    /// Modes of domain A (on a ring).
    pub modes_a: usize,
    /// Modes of domain B (on a two-row grid).
    pub modes_b: usize,
    /// Standard deviation of every mode.
    pub sigma: f32,
    /// Radius of A's ring.
    pub radius: f32,
    /// Spacing of B's grid.
    pub spacing: f32,
    /// Training of each run (variant and seed are set per run).
    pub training: ToyTraining,
    /// Seeds per variant.
    pub seeds: u64,
    /// Translated samples scored per run.
    pub samples: usize,
}

/// The most modes a domain may have: the mode map and the plots are meant for a handful.
pub const MAX_MODES: usize = 1000;

impl ToyConfig {
    /// Checks every value, naming the option.
    pub fn validate(&self) -> Result<()> {
        let bad = |key: &str, reason: String| Err(Error::config(key, reason));
        for (key, modes) in [("toy.modes_a", self.modes_a), ("toy.modes_b", self.modes_b)] {
            if !(2..=MAX_MODES).contains(&modes) {
                return bad(key, format!("must be from 2 to {MAX_MODES}, got {modes}"));
            }
        }
        for (key, value) in [
            ("toy.sigma", f64::from(self.sigma)),
            ("toy.radius", f64::from(self.radius)),
            ("toy.spacing", f64::from(self.spacing)),
            ("toy.lr", self.training.lr),
        ] {
            if !(value.is_finite() && value > 0.0) {
                return bad(key, format!("must be a positive number, got {value}"));
            }
        }
        let lambda = self.training.lambda_cycle;
        if !(lambda.is_finite() && lambda >= 0.0) {
            return bad("toy.lambda_cycle", format!("must be ≥ 0, got {lambda}"));
        }
        for (key, value) in [
            ("toy.iterations", self.training.iterations as usize),
            ("toy.batch", self.training.batch),
            ("toy.hidden", self.training.hidden),
            ("toy.seeds", self.seeds as usize),
            ("toy.samples", self.samples),
        ] {
            if value == 0 {
                return bad(key, "must be at least 1".into());
            }
        }
        Ok(())
    }
}

impl Default for ToyConfig {
    fn default() -> Self {
        Self {
            modes_a: 10,
            modes_b: 10,
            sigma: 0.1,
            radius: 2.0,
            spacing: 1.0,
            training: ToyTraining {
                variant: Variant::Discogan,
                iterations: 3000,
                batch: 256,
                hidden: 128,
                lr: 1e-3,
                lambda_cycle: 1.0,
                seed: 0,
            },
            seeds: 5,
            samples: 2000,
        }
    }
}

impl ToyConfig {
    /// The two domains.
    pub fn mixtures(&self) -> (Mixture, Mixture) {
        (
            Mixture::ring(self.modes_a, self.radius, self.sigma),
            Mixture::grid(self.modes_b, self.spacing, self.sigma),
        )
    }
}

/// One trained run, scored.
#[derive(Clone, Debug, Serialize)]
pub struct ToyRun {
    /// gan, recongan or discogan.
    pub variant: String,
    /// The seed.
    pub seed: u64,
    /// How the translations cover B's modes.
    pub report: ModeReport,
    /// The picture of the run.
    pub plot: PathBuf,
}

fn variant_name(v: Variant) -> &'static str {
    match v {
        Variant::Gan => "gan",
        Variant::Recongan => "recongan",
        Variant::Discogan => "discogan",
    }
}

/// Trains and scores every (variant, seed), writing one PNG per run into `out`.
pub fn run_experiment(
    config: &ToyConfig,
    variants: &[Variant],
    out: &Path,
    device: &Device,
    mut each: impl FnMut(&ToyRun),
) -> Result<Vec<ToyRun>> {
    config.validate()?;
    std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
    let (a, b) = config.mixtures();
    let mut runs = Vec::new();
    for &variant in variants {
        for seed in 0..config.seeds {
            let training = ToyTraining {
                variant,
                seed,
                ..config.training.clone()
            };
            let nets = train_toy(&a, &b, &training, device);
            let (points, sources) = a.sample(config.samples, &mut SplitMix64::new(&[seed, 0x5c0]));
            let translated: Vec<[f32; 2]> = apply(&nets.g_ab, &points, device)?
                .into_iter()
                .map(|v| [v[0], v[1]])
                .collect();
            let report = mode_report(&translated, &sources, config.modes_a, &b);
            let realness: Vec<f32> = apply(&nets.d_b, &plot::grid_points(&b), device)?
                .into_iter()
                .map(|v| 1.0 / (1.0 + (-v[0]).exp()))
                .collect();
            let path = out.join(format!("{}-seed{seed}.png", variant_name(variant)));
            plot::plot(&b, &realness, &translated, &sources)
                .save(&path)
                .map_err(|e| Error::Data {
                    path: path.clone(),
                    reason: format!("cannot write: {e}"),
                })?;
            let run = ToyRun {
                variant: variant_name(variant).into(),
                seed,
                report,
                plot: path,
            };
            each(&run);
            runs.push(run);
        }
    }
    Ok(runs)
}

/// One line per run, then the mean per variant.
pub fn table(runs: &[ToyRun]) -> String {
    let mut out = format!(
        "{:<9} {:>4} {:>7} {:>10} {:>7} {:>7}\n",
        "variant", "seed", "modes", "one-to-one", "purity", "quality"
    );
    for r in runs {
        out += &format!(
            "{:<9} {:>4} {:>4}/{:<2} {:>10} {:>7.3} {:>7.3}\n",
            r.variant,
            r.seed,
            r.report.modes_covered,
            r.report.modes,
            r.report.one_to_one,
            r.report.purity,
            r.report.quality
        );
    }
    let mut variants: Vec<&str> = runs.iter().map(|r| r.variant.as_str()).collect();
    variants.dedup();
    for v in variants {
        let rs: Vec<&ToyRun> = runs.iter().filter(|r| r.variant == v).collect();
        let n = rs.len() as f64;
        let mean = |f: &dyn Fn(&ToyRun) -> f64| rs.iter().map(|r| f(r)).sum::<f64>() / n;
        out += &format!(
            "{:<9} mean {:>7.1} {:>7}/{:<2} {:>7.3} {:>7.3}\n",
            v,
            mean(&|r| r.report.modes_covered as f64),
            rs.iter().filter(|r| r.report.one_to_one).count(),
            rs.len(),
            mean(&|r| r.report.purity),
            mean(&|r| r.report.quality)
        );
    }
    out
}
