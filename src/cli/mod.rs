//! Command-line interface: flags are parsed here, resolved into one validated [`Config`] and
//! handed to the library.

mod bench;
mod eval;
mod export;
mod import;
mod report;
mod toy;
mod train;
mod translate;

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
    Translate(translate::TranslateArgs),
    /// Write a run's four networks as safetensors with the PyTorch reference's names.
    Export(export::ExportArgs),
    /// Start a run folder from PyTorch weights (.pth or .safetensors), to translate or train on.
    Import(import::ImportArgs),
    /// Measure translation quality on a held-out set (L1, PSNR, SSIM, retrieval, baselines).
    Eval(eval::EvalArgs),
    /// Rebuild a run's report page (RUN_DIR/index.html), and its TensorBoard events if it has
    /// none (runs made before runs wrote them).
    Report(report::ReportArgs),
    /// Time the training iteration and translation (JSON line, as bench_torch.py).
    Bench(bench::BenchArgs),
    /// The paper's toy experiment: 2-D Gaussian mixtures, gan vs recongan vs discogan.
    Toy(toy::ToyArgs),
    /// Print the resolved configuration (of a preset, a file and overrides) as TOML.
    Config(ConfigArgs),
}

#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum PresetArg {
    /// U-Net + PatchGAN, the weighted objective (called `seed` before 2026-12-03).
    #[value(alias = "seed")]
    Unet,
    Paper,
}

impl From<PresetArg> for Preset {
    fn from(p: PresetArg) -> Self {
        match p {
            PresetArg::Unet => Preset::Unet,
            PresetArg::Paper => Preset::Paper,
        }
    }
}

/// How the configuration is put together: preset, then file, then the command's own flags,
/// then each `--set`.
#[derive(Args)]
pub(crate) struct ConfigArgs {
    /// Starting point [default: unet].
    #[arg(long, value_enum)]
    pub(crate) preset: Option<PresetArg>,
    /// A TOML configuration file (its keys override the preset's).
    #[arg(long)]
    pub(crate) config: Option<PathBuf>,
    /// Override one key, e.g. `--set model.width=32` (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub(crate) overrides: Vec<String>,
}

impl ConfigArgs {
    /// The configuration without command-specific flags: preset, file, `--set`.
    pub(crate) fn resolve(&self) -> Result<Config> {
        self.resolve_with(|_| ())
    }

    /// Preset, then file, then `flags` (the command's typed flags), then each `--set`.
    pub(crate) fn resolve_with(&self, flags: impl FnOnce(&mut Config)) -> Result<Config> {
        let mut config = self.base()?;
        flags(&mut config);
        Ok(config.with_overrides(&self.overrides)?)
    }

    /// Whether `--preset` or `--config` was given (they make no sense with `--resume`).
    pub(crate) fn names_a_base(&self) -> bool {
        self.preset.is_some() || self.config.is_some()
    }

    fn base(&self) -> Result<Config> {
        let preset = Config::preset(self.preset.unwrap_or(PresetArg::Unet).into());
        let Some(path) = &self.config else {
            return Ok(preset);
        };
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        // The file's keys over the preset's.
        Ok(Config::from_file_over(&preset, path, &text)?)
    }
}

/// Parses the command line and runs the command.
pub fn run() -> Result<()> {
    let cli = Cli::parse();
    // Colour codes only on a terminal: logs and CI output stay plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_ansi(ansi)
        .with_writer(std::io::stderr)
        .init();
    match cli.command {
        Command::Train(args) => train::train_command(args),
        Command::Translate(args) => translate::translate_command(args),
        Command::Export(args) => export::export_command(args),
        Command::Import(args) => import::import_command(args),
        Command::Eval(args) => eval::eval_command(args),
        Command::Report(args) => report::report_command(args),
        Command::Bench(args) => bench::bench_command(args),
        Command::Toy(args) => toy::toy_command(args),
        Command::Config(args) => {
            let config = args.resolve()?.validated()?;
            print!("{}", config.to_toml()?);
            Ok(())
        }
    }
}

/// The weights `--raw` asks for.
pub(crate) fn weights(raw: bool) -> discogan::rundir::Weights {
    if raw {
        discogan::rundir::Weights::Trained
    } else {
        discogan::rundir::Weights::Inference
    }
}

/// The `--device` flag of every command.
#[derive(Args)]
pub(crate) struct DeviceArg {
    /// Compute device: flex (the CPU backend, default), wgpu or wgpu:N (burn's WebGPU backend:
    /// Vulkan, Metal or DX12; a CPU through Mesa's lavapipe), cuda or cuda:N. wgpu and cuda
    /// need a build with `--features wgpu` / `--features cuda`.
    #[arg(long = "device", default_value = "flex", env = "DISCOGAN_DEVICE")]
    pub(crate) name: String,
}

impl DeviceArg {
    /// The device named.
    pub(crate) fn device(&self) -> Result<Device> {
        parse_device(&self.name)
    }
}

/// `flex`, `cuda`, `cuda:N`, `wgpu` or `wgpu:N`.
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
        "wgpu" => Ok(Device::wgpu(match index {
            Some(n) => burn::tensor::DeviceKind::DiscreteGpu(n),
            None => Default::default(),
        })),
        #[cfg(not(feature = "cuda"))]
        "cuda" => bail!("this build has no `cuda` backend: rebuild with `--features cuda`"),
        #[cfg(not(feature = "wgpu"))]
        "wgpu" => bail!("this build has no `wgpu` backend: rebuild with `--features wgpu`"),
        other => {
            let _ = index;
            bail!("unknown device `{other}` (flex, wgpu[:N], cuda[:N])")
        }
    }
}
