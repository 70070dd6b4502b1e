//! `discogan export`.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use discogan::model::export_torch;
use discogan::rundir::RunDir;
use discogan::train::Trainer;

use super::DeviceArg;

#[derive(Args)]
pub(crate) struct ExportArgs {
    /// A run folder.
    run: PathBuf,
    /// The safetensors file to write (`*.safetensors`).
    #[arg(long)]
    out: PathBuf,
    /// Export the trained generators even where the run kept a moving average
    /// (`train.ema_decay`).
    #[arg(long)]
    raw: bool,
    #[command(flatten)]
    device: DeviceArg,
}

pub(crate) fn export_command(args: ExportArgs) -> Result<()> {
    let run = RunDir::new(&args.run);
    let config = run.read_config()?;
    let path = run.checkpoints().require_latest()?;
    let trainer = Trainer::load_checkpoint(
        config.validated()?,
        &path,
        &args.device.device()?.autodiff(),
    )?;
    let generators = if args.raw {
        trainer.generators.clone()
    } else {
        trainer.inference_generators()
    };
    export_torch(&generators, &trainer.discriminators, &args.out)?;
    println!("wrote {} (from {})", args.out.display(), path.display());
    Ok(())
}
