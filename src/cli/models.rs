//! Commands that use a trained run: translate, export, import, eval; and bench.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use burn::tensor::Device;
use clap::{Args, ValueEnum};
use discogan::bench::{BenchOptions, bench};
use discogan::eval::{evaluate, table};
use discogan::model::{export_torch, import_torch};
use discogan::train::Trainer;
use discogan::train::checkpoint::Weights;
use discogan::train::run::RunDir;
use discogan::translate::{Direction, Translator};

use super::{ConfigArgs, PresetArg, parse_device};

#[derive(Args)]
pub(crate) struct TranslateArgs {
    /// A run folder written by `discogan train` or `discogan import`.
    run: PathBuf,
    /// Translate A -> B.
    #[arg(long, conflicts_with = "b2a", required_unless_present = "b2a")]
    a2b: bool,
    /// Translate B -> A.
    #[arg(long)]
    b2a: bool,
    /// A checkpoint folder of the run (default: the latest).
    #[arg(long)]
    checkpoint: Option<PathBuf>,
    /// Use the trained weights even where the run kept a moving average (`train.ema_decay`).
    #[arg(long)]
    raw: bool,
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
pub(crate) struct ExportArgs {
    /// A run folder.
    run: PathBuf,
    /// The safetensors file to write.
    #[arg(long)]
    out: PathBuf,
    /// Export the trained generators even where the run kept a moving average
    /// (`train.ema_decay`).
    #[arg(long)]
    raw: bool,
}

#[derive(Args)]
pub(crate) struct ImportArgs {
    #[command(flatten)]
    config: ConfigArgs,
    /// PyTorch weights: a state dict with keys G_AB.*, G_BA.* (and optionally D_A.*, D_B.*).
    #[arg(long)]
    weights: PathBuf,
    /// Run folder to create.
    #[arg(long)]
    out: PathBuf,
}

/// The weights `--raw` asks for.
fn weights(raw: bool) -> Weights {
    if raw {
        Weights::Trained
    } else {
        Weights::Inference
    }
}

pub(crate) fn translate_command(args: TranslateArgs) -> Result<()> {
    let direction = if args.b2a {
        Direction::BToA
    } else {
        Direction::AToB
    };
    let device = parse_device(&args.device)?;
    let run = RunDir::new(&args.run);
    let translator = Translator::from_checkpoint(
        &run,
        args.checkpoint.as_deref(),
        weights(args.raw),
        direction,
        &device,
    )?;
    let written =
        translator.translate_files(&args.inputs, &args.out, args.keep_size, args.batch)?;
    println!("wrote {} image(s) to {}", written.len(), args.out.display());
    Ok(())
}

pub(crate) fn export_command(args: ExportArgs) -> Result<()> {
    let run = RunDir::new(&args.run);
    let config = run.read_config()?;
    let path = discogan::train::checkpoint::latest(&run.checkpoints())?
        .with_context(|| format!("no checkpoint in {}", args.run.display()))?;
    let trainer = Trainer::load_checkpoint(config, &path, &Device::flex().autodiff())?;
    let generators = if args.raw {
        trainer.generators.clone()
    } else {
        trainer.inference_generators()
    };
    export_torch(&generators, &trainer.discriminators, &args.out)?;
    println!("wrote {} (from {})", args.out.display(), path.display());
    Ok(())
}

pub(crate) fn import_command(args: ImportArgs) -> Result<()> {
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

#[derive(Clone, Copy, ValueEnum)]
enum DirectionArg {
    A2b,
    B2a,
    Both,
}

#[derive(Args)]
pub(crate) struct EvalArgs {
    /// A run folder.
    run: PathBuf,
    /// Held-out images of domain A.
    #[arg(long)]
    a: PathBuf,
    /// Held-out images of domain B (same file names as in --a give ground-truth pairs).
    #[arg(long)]
    b: PathBuf,
    /// Which direction(s).
    #[arg(long, value_enum, default_value = "both")]
    direction: DirectionArg,
    /// A checkpoint folder of the run (default: the latest).
    #[arg(long)]
    checkpoint: Option<PathBuf>,
    /// Score the trained weights even where the run kept a moving average (`train.ema_decay`).
    #[arg(long)]
    raw: bool,
    /// Where to write the JSON report (default: RUN_DIR/eval.json).
    #[arg(long)]
    json: Option<PathBuf>,
    /// Compute device: flex (CPU, default), cuda[:N], wgpu.
    #[arg(long, default_value = "flex")]
    device: String,
}

pub(crate) fn eval_command(args: EvalArgs) -> Result<()> {
    let directions = match args.direction {
        DirectionArg::A2b => vec![Direction::AToB],
        DirectionArg::B2a => vec![Direction::BToA],
        DirectionArg::Both => vec![Direction::AToB, Direction::BToA],
    };
    let run = RunDir::new(&args.run);
    let device = parse_device(&args.device)?;
    let checkpoint = args.checkpoint.as_deref();
    let weights = weights(args.raw);
    let reports = evaluate(
        &run,
        checkpoint,
        weights,
        &args.a,
        &args.b,
        &directions,
        &device,
    )?;
    print!("{}", table(&reports));
    let json = serde_json::to_string_pretty(&reports)?;
    let path = args.json.unwrap_or_else(|| run.root.join("eval.json"));
    std::fs::write(&path, json + "\n")
        .with_context(|| format!("cannot write {}", path.display()))?;
    println!("report: {}", path.display());
    Ok(())
}

#[derive(Args)]
pub(crate) struct BenchArgs {
    /// Networks and objective.
    #[arg(long, value_enum, default_value = "seed")]
    preset: PresetArg,
    /// Images of each domain per iteration.
    #[arg(long, default_value_t = 8)]
    batch: usize,
    /// Image side.
    #[arg(long, default_value_t = 64)]
    size: usize,
    /// Base channel width.
    #[arg(long, default_value_t = 64)]
    width: usize,
    /// Timed iterations.
    #[arg(long, default_value_t = 10)]
    iters: usize,
    /// Untimed iterations first.
    #[arg(long, default_value_t = 3)]
    warmup: usize,
    /// Override a configuration key after the preset and the flags above, as in `train`
    /// (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    overrides: Vec<String>,
    /// Compute device: flex (CPU, default), cuda[:N], wgpu.
    #[arg(long, default_value = "flex")]
    device: String,
}

pub(crate) fn bench_command(args: BenchArgs) -> Result<()> {
    let options = BenchOptions {
        preset: args.preset.into(),
        batch: args.batch,
        size: args.size,
        width: args.width,
        iters: args.iters.max(1),
        warmup: args.warmup,
        overrides: args.overrides,
        device: parse_device(&args.device)?.autodiff(),
        device_name: args.device.clone(),
    };
    let result = bench(&options)?;
    println!("{}", serde_json::to_string(&result)?);
    Ok(())
}
