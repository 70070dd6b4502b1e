//! `discogan import`.

use std::path::PathBuf;

use anyhow::{Result, bail};
use clap::Args;
use discogan::model::import_torch;
use discogan::rundir::RunDir;
use discogan::train::Trainer;

use super::{ConfigArgs, DeviceArg};

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
    #[command(flatten)]
    device: DeviceArg,
}

pub(crate) fn import_command(args: ImportArgs) -> Result<()> {
    let config = args.config.resolve()?.with_absolute_paths()?.validated()?;
    let device = args.device.device()?.autodiff();
    // Read and check the weights before the run folder is touched.
    let imported = import_torch(&config.model, &args.weights, &device)?;
    let run = RunDir::new(&args.out);
    let _lock = run.lock()?;
    if run.checkpoints().latest()?.is_some() {
        bail!("{} already has checkpoints", args.out.display());
    }
    run.clean_stale()?;
    if !imported.with_discriminators {
        eprintln!(
            "note: no discriminators in {}; fresh ones were initialised",
            args.weights.display()
        );
    }
    if imported.converted.tensors > 0 {
        eprintln!(
            "note: {} tensor(s) stored as {} were converted to f32",
            imported.converted.tensors,
            imported.converted.from.join(", ")
        );
    }
    let trainer =
        Trainer::from_networks(config.clone(), imported.generators, imported.discriminators)?;
    run.write_config(&config)?;
    let path = trainer.save_checkpoint(&run.checkpoints(), config.train.keep_checkpoints)?;
    println!(
        "imported {} into {}",
        args.weights.display(),
        path.display()
    );
    Ok(())
}
