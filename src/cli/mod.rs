//! Command-line interface: flags are parsed here, resolved into one validated [`Config`] and
//! handed to the library.

mod models;
mod toy;
mod train;

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use burn::tensor::Device;
use clap::{Args, Parser, Subcommand, ValueEnum};
use discogan::config::{Config, Preset};

/// DiscoGAN: learn to translate images between two domains from unpaired examples.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Train a model (by default on the embedded Google -> Twitter emoji).
    Train(train::TrainArgs),
    /// Translate images with a trained run.
    Translate(models::TranslateArgs),
    /// Write a run's four networks as safetensors with the PyTorch reference's names.
    Export(models::ExportArgs),
    /// Start a run folder from PyTorch weights (.pth or .safetensors), to translate or train on.
    Import(models::ImportArgs),
    /// Measure translation quality on a held-out set (L1, PSNR, SSIM, retrieval, baselines).
    Eval(models::EvalArgs),
    /// Time the training iteration and translation (JSON line, as bench_torch.py).
    Bench(models::BenchArgs),
    /// The paper's toy experiment: 2-D Gaussian mixtures, gan vs recongan vs discogan.
    Toy(toy::ToyArgs),
    /// Print the resolved configuration (of a preset, a file and overrides) as TOML.
    Config(ConfigArgs),
}

#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum PresetArg {
    Seed,
    Paper,
}

impl From<PresetArg> for Preset {
    fn from(p: PresetArg) -> Self {
        match p {
            PresetArg::Seed => Preset::Seed,
            PresetArg::Paper => Preset::Paper,
        }
    }
}

/// How the configuration is put together: preset, then file, then flags, then `--set`.
#[derive(Args)]
pub(crate) struct ConfigArgs {
    /// Starting point.
    #[arg(long, value_enum, default_value = "seed")]
    pub(crate) preset: PresetArg,
    /// A TOML configuration file (its keys override the preset's).
    #[arg(long)]
    pub(crate) config: Option<PathBuf>,
    /// Override one key, e.g. `--set model.width=32` (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub(crate) overrides: Vec<String>,
}

impl ConfigArgs {
    pub(crate) fn resolve(&self) -> Result<Config> {
        let base = match &self.config {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read {}", path.display()))?;
                let preset = toml::to_string(&Config::preset(self.preset.into()))?;
                // The file's keys over the preset's.
                let mut doc: toml::Table = toml::from_str(&preset)?;
                let file: toml::Table = toml::from_str(&text)
                    .with_context(|| format!("{} is not valid TOML", path.display()))?;
                merge(&mut doc, file);
                Config::from_toml(&toml::to_string(&doc)?)
                    .with_context(|| format!("in {}", path.display()))?
            }
            None => Config::preset(self.preset.into()),
        };
        Ok(base.with_overrides(&self.overrides)?)
    }
}

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

/// Parses the command line and runs the command.
pub fn run() -> Result<()> {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    match cli.command {
        Command::Train(args) => train::train_command(args),
        Command::Translate(args) => models::translate_command(args),
        Command::Export(args) => models::export_command(args),
        Command::Import(args) => models::import_command(args),
        Command::Eval(args) => models::eval_command(args),
        Command::Bench(args) => models::bench_command(args),
        Command::Toy(args) => toy::toy_command(args),
        Command::Config(args) => {
            let config = args.resolve()?;
            config.validate()?;
            print!("{}", config.to_toml());
            Ok(())
        }
    }
}

/// `flex`, `cuda`, `cuda:N` or `wgpu`.
pub(crate) fn parse_device(name: &str) -> Result<Device> {
    let (kind, index) = match name.split_once(':') {
        Some((kind, index)) => (
            kind,
            Some(
                index
                    .parse::<usize>()
                    .with_context(|| format!("bad device index in `{name}`"))?,
            ),
        ),
        None => (name, None),
    };
    match kind {
        "flex" | "cpu" => Ok(Device::flex()),
        #[cfg(feature = "cuda")]
        "cuda" => Ok(Device::cuda(index.unwrap_or(0))),
        #[cfg(feature = "wgpu")]
        "wgpu" => Ok(Device::wgpu(Default::default())),
        "cuda" | "wgpu" => {
            bail!("this build has no `{kind}` backend: rebuild with `--features {kind}`")
        }
        other => {
            let _ = index;
            bail!("unknown device `{other}` (flex, cuda[:N], wgpu)")
        }
    }
}
