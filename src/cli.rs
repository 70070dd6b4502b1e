//! Command-line interface: flags are parsed here, resolved into one validated [`Config`] and
//! handed to the library.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context, Result, bail};
use burn::tensor::Device;
use clap::{Args, Parser, Subcommand, ValueEnum};
use discogan::config::{Config, Preset};
use discogan::data::Layout;
use discogan::model::{export_torch, import_torch};
use discogan::train::StepReport;
use discogan::train::Trainer;
use discogan::train::run::{Progress, RunDir, train};
use discogan::translate::{Direction, Translator};
use indicatif::{ProgressBar, ProgressStyle};

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
    Train(TrainArgs),
    /// Translate images with a trained run.
    Translate(TranslateArgs),
    /// Write a run's four networks as safetensors with the PyTorch reference's names.
    Export(ExportArgs),
    /// Start a run folder from PyTorch weights (.pth or .safetensors), to translate or train on.
    Import(ImportArgs),
    /// Print the resolved configuration (of a preset, a file and overrides) as TOML.
    Config(ConfigArgs),
}

#[derive(Clone, Copy, ValueEnum)]
enum PresetArg {
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
struct ConfigArgs {
    /// Starting point.
    #[arg(long, value_enum, default_value = "seed")]
    preset: PresetArg,
    /// A TOML configuration file (its keys override the preset's).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Override one key, e.g. `--set model.width=32` (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    overrides: Vec<String>,
}

impl ConfigArgs {
    fn resolve(&self) -> Result<Config> {
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

#[derive(Args)]
struct TrainArgs {
    #[command(flatten)]
    config: ConfigArgs,
    /// Dataset folder (CycleGAN trainA/trainB/testA/testB, or pix2pix train/test with
    /// --layout aligned). Default: the embedded emoji.
    #[arg(long)]
    data: Option<PathBuf>,
    /// How the dataset is stored.
    #[arg(long, value_enum)]
    layout: Option<LayoutArg>,
    /// Aligned data: train on the true pairs, with the pixelwise loss (weight: --set
    /// objective.lambda_pixelwise=..., default 10 when pairing).
    #[arg(long)]
    paired: bool,
    /// Skip unreadable images with a warning instead of stopping.
    #[arg(long)]
    skip_bad: bool,
    /// Iterations in total.
    #[arg(long)]
    iterations: Option<u64>,
    /// Run folder to create.
    #[arg(long, default_value = "runs/emoji", conflicts_with = "resume")]
    out: PathBuf,
    /// Continue the run in this folder from its last checkpoint (its config.toml is used;
    /// --iterations and --set still apply).
    #[arg(long, value_name = "RUN_DIR")]
    resume: Option<PathBuf>,
    /// Compute device: flex (CPU, default), cuda[:N], wgpu.
    #[arg(long, default_value = "flex")]
    device: String,
    /// No progress bar.
    #[arg(long, short)]
    quiet: bool,
}

#[derive(Clone, Copy, ValueEnum)]
enum LayoutArg {
    Unaligned,
    Aligned,
}

#[derive(Args)]
struct TranslateArgs {
    /// A run folder written by `discogan train` or `discogan import`.
    run: PathBuf,
    /// Translate A -> B.
    #[arg(long, conflicts_with = "b2a", required_unless_present = "b2a")]
    a2b: bool,
    /// Translate B -> A.
    #[arg(long)]
    b2a: bool,
    /// Image files or folders.
    #[arg(required = true)]
    inputs: Vec<PathBuf>,
    /// Output folder (PNG files named after the inputs).
    #[arg(long)]
    out: PathBuf,
    /// Resize results back to each input's size (false: keep the model's size).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    keep_size: bool,
    /// Images per forward pass.
    #[arg(long, default_value_t = 16)]
    batch: usize,
    /// Compute device: flex (CPU, default), cuda[:N], wgpu.
    #[arg(long, default_value = "flex")]
    device: String,
}

#[derive(Args)]
struct ExportArgs {
    /// A run folder.
    run: PathBuf,
    /// The safetensors file to write.
    #[arg(long)]
    out: PathBuf,
}

#[derive(Args)]
struct ImportArgs {
    #[command(flatten)]
    config: ConfigArgs,
    /// PyTorch weights: a state dict with keys G_AB.*, G_BA.* (and optionally D_A.*, D_B.*).
    #[arg(long)]
    weights: PathBuf,
    /// Run folder to create.
    #[arg(long)]
    out: PathBuf,
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
        Command::Train(args) => train_command(args),
        Command::Translate(args) => translate_command(args),
        Command::Export(args) => export_command(args),
        Command::Import(args) => import_command(args),
        Command::Config(args) => {
            let config = args.resolve()?;
            config.validate()?;
            print!("{}", config.to_toml());
            Ok(())
        }
    }
}

/// `flex`, `cuda`, `cuda:N` or `wgpu`.
fn parse_device(name: &str) -> Result<Device> {
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

fn train_command(args: TrainArgs) -> Result<()> {
    let (run, mut config) = match &args.resume {
        Some(dir) => {
            let run = RunDir::new(dir);
            let config = run
                .read_config()
                .with_context(|| format!("cannot resume {}", dir.display()))?;
            (run, config.with_overrides(&args.config.overrides)?)
        }
        None => (RunDir::new(&args.out), args.config.resolve()?),
    };
    if let Some(data) = &args.data {
        config.data.root = Some(data.clone());
    }
    if let Some(layout) = args.layout {
        config.data.layout = match layout {
            LayoutArg::Unaligned => Layout::Unaligned,
            LayoutArg::Aligned => Layout::Aligned,
        };
    }
    if args.paired {
        config.data.paired = true;
        if config.objective.lambda_pixelwise == 0.0 {
            config.objective.lambda_pixelwise = 10.0;
        }
    }
    config.data.skip_bad |= args.skip_bad;
    if let Some(n) = args.iterations {
        config.train.iterations = n;
    }
    config.validate()?;
    let device = parse_device(&args.device)?.autodiff();
    eprintln!(
        "# resolved configuration ({})\n{}",
        run.config().display(),
        config.to_toml()
    );

    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        ctrlc::set_handler(move || {
            if stop.swap(true, Ordering::SeqCst) {
                // Second Ctrl-C: the user insists.
                std::process::exit(130);
            }
            eprintln!("\nstopping: saving a checkpoint (Ctrl-C again to quit at once)");
        })
        .context("cannot install the Ctrl-C handler")?;
    }
    let mut progress = Bar::new(config.train.iterations, args.quiet);
    let summary = train(
        &config,
        &run,
        args.resume.is_some(),
        &device,
        &stop,
        &mut progress,
    )?;
    progress.bar.finish_and_clear();
    let state = if summary.interrupted {
        "stopped"
    } else {
        "finished"
    };
    println!(
        "{state} at iteration {}; checkpoint {}",
        summary.iteration,
        summary.checkpoint.display()
    );
    if let Some(last) = &summary.last {
        println!("last losses: {}", format_losses(last));
    }
    if !summary.skipped.is_empty() {
        println!("skipped {} unreadable image(s)", summary.skipped.len());
    }
    println!(
        "samples: {}  metrics: {}",
        run.samples().display(),
        run.metrics().display()
    );
    Ok(())
}

fn format_losses(report: &StepReport) -> String {
    report
        .losses
        .iter()
        .map(|(name, value)| format!("{name} {value:.4}"))
        .collect::<Vec<_>>()
        .join("  ")
}

/// The progress bar: iteration, rate, ETA and the latest losses.
struct Bar {
    bar: ProgressBar,
}

impl Bar {
    fn new(total: u64, quiet: bool) -> Self {
        let bar = if quiet {
            ProgressBar::hidden()
        } else {
            ProgressBar::new(total)
        };
        bar.set_style(
            ProgressStyle::with_template("{bar:30} {pos}/{len} it  {per_sec}  eta {eta}  {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        Self { bar }
    }
}

impl Progress for Bar {
    fn iteration(&mut self, report: &StepReport) {
        self.bar.set_position(report.iteration + 1);
        self.bar.set_message(format_losses(report));
    }

    fn message(&mut self, text: &str) {
        self.bar.println(text);
    }
}

fn translate_command(args: TranslateArgs) -> Result<()> {
    let direction = if args.b2a {
        Direction::BToA
    } else {
        Direction::AToB
    };
    let device = parse_device(&args.device)?;
    let translator = Translator::from_run(&RunDir::new(&args.run), direction, &device)?;
    let written =
        translator.translate_files(&args.inputs, &args.out, args.keep_size, args.batch)?;
    println!("wrote {} image(s) to {}", written.len(), args.out.display());
    Ok(())
}

fn export_command(args: ExportArgs) -> Result<()> {
    let run = RunDir::new(&args.run);
    let config = run.read_config()?;
    let path = discogan::train::checkpoint::latest(&run.checkpoints())?
        .with_context(|| format!("no checkpoint in {}", args.run.display()))?;
    let trainer = Trainer::load_checkpoint(config, &path, &Device::flex().autodiff())?;
    export_torch(&trainer.generators, &trainer.discriminators, &args.out)?;
    println!("wrote {} (from {})", args.out.display(), path.display());
    Ok(())
}

fn import_command(args: ImportArgs) -> Result<()> {
    let config = args.config.resolve()?;
    config.validate()?;
    let run = RunDir::new(&args.out);
    if discogan::train::checkpoint::latest(&run.checkpoints())?.is_some() {
        bail!("{} already has checkpoints", args.out.display());
    }
    let device = Device::flex().autodiff();
    let (generators, discriminators, with_d) = import_torch(&config.model, &args.weights, &device)?;
    if !with_d {
        eprintln!(
            "note: no discriminators in {}; fresh ones were initialised",
            args.weights.display()
        );
    }
    let trainer = Trainer::from_networks(config.clone(), generators, discriminators)?;
    std::fs::create_dir_all(&run.root)?;
    std::fs::write(run.config(), config.to_toml())?;
    let path = trainer.save_checkpoint(&run.checkpoints(), config.train.keep_checkpoints)?;
    println!(
        "imported {} into {}",
        args.weights.display(),
        path.display()
    );
    Ok(())
}
