//! `discogan translate`.

use std::path::PathBuf;

use anyhow::Result;
use clap::{ArgGroup, Args};
use discogan::rundir::RunDir;
use discogan::translate::{Direction, Translator};

use super::{DeviceArg, weights};

#[derive(Args)]
#[command(group(ArgGroup::new("direction").required(true).args(["a2b", "b2a"])))]
pub(crate) struct TranslateArgs {
    /// A run folder written by `discogan train` or `discogan import`.
    run: PathBuf,
    /// Translate A -> B (one of --a2b / --b2a).
    #[arg(long)]
    a2b: bool,
    /// Translate B -> A (one of --a2b / --b2a).
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
    /// Output folder (PNG files named after the inputs; never one of the inputs).
    #[arg(long)]
    out: PathBuf,
    /// Resize results back to each input's size (false: keep the model's size).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    keep_size: bool,
    /// Images per forward pass.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u64).range(1..=4096))]
    batch: u64,
    #[command(flatten)]
    device: DeviceArg,
}

pub(crate) fn translate_command(args: TranslateArgs) -> Result<()> {
    let direction = if args.b2a {
        Direction::BToA
    } else {
        Direction::AToB
    };
    let device = args.device.device()?;
    let run = RunDir::new(&args.run);
    let translator =
        Translator::from_checkpoint(&run, args.checkpoint.as_deref(), weights(args.raw), &device)?;
    let written = translator.translate_files(
        direction,
        &args.inputs,
        &args.out,
        args.keep_size,
        args.batch as usize,
    )?;
    println!("wrote {} image(s) to {}", written.len(), args.out.display());
    Ok(())
}
