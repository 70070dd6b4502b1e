//! `discogan toy`: the paper's 2-D experiment.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, ValueEnum};
use discogan::config::Variant;
use discogan::toy::{ToyConfig, run_experiment, table};

use super::DeviceArg;

#[derive(Clone, Copy, ValueEnum)]
enum VariantArg {
    Gan,
    Recongan,
    Discogan,
}

#[derive(Args)]
pub(crate) struct ToyArgs {
    /// Variants to train.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "gan,recongan,discogan"
    )]
    variants: Vec<VariantArg>,
    /// Seeds per variant.
    #[arg(long, default_value_t = 5)]
    seeds: u64,
    /// Training iterations per run.
    #[arg(long, default_value_t = 3000)]
    iterations: u64,
    /// Modes of each domain.
    #[arg(long, default_value_t = 10)]
    modes: usize,
    /// Standard deviation of each mode.
    #[arg(long, default_value_t = 0.1)]
    sigma: f32,
    /// Weight of the reconstruction term.
    #[arg(long, default_value_t = 1.0)]
    lambda_cycle: f64,
    /// Output folder (one PNG per run, toy.json).
    #[arg(long, default_value = "runs/toy")]
    out: PathBuf,
    #[command(flatten)]
    device: DeviceArg,
}

pub(crate) fn toy_command(args: ToyArgs) -> Result<()> {
    let mut config = ToyConfig {
        modes_a: args.modes,
        modes_b: args.modes,
        sigma: args.sigma,
        seeds: args.seeds,
        ..ToyConfig::default()
    };
    config.training.iterations = args.iterations;
    config.training.lambda_cycle = args.lambda_cycle;
    let variants: Vec<Variant> = args
        .variants
        .iter()
        .map(|v| match v {
            VariantArg::Gan => Variant::Gan,
            VariantArg::Recongan => Variant::Recongan,
            VariantArg::Discogan => Variant::Discogan,
        })
        .collect();
    let device = args.device.device()?.autodiff();
    let runs = run_experiment(&config, &variants, &args.out, &device, |run| {
        eprintln!(
            "{} seed {}: {}/{} modes, one-to-one {}, purity {:.3}, quality {:.3}",
            run.variant,
            run.seed,
            run.report.modes_covered,
            run.report.modes,
            run.report.one_to_one,
            run.report.purity,
            run.report.quality
        );
    })?;
    print!("{}", table(&runs));
    let path = args.out.join("toy.json");
    std::fs::write(&path, serde_json::to_string_pretty(&runs)? + "\n")
        .with_context(|| format!("cannot write {}", path.display()))?;
    println!("runs: {}  report: {}", args.out.display(), path.display());
    Ok(())
}
