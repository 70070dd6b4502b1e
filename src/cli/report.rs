//! `discogan report`.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use discogan::rundir::RunDir;
use discogan::watch::{report, tensorboard};

#[derive(Args)]
pub(crate) struct ReportArgs {
    /// The run folder.
    run: PathBuf,
}

pub(crate) fn report_command(args: ReportArgs) -> Result<()> {
    let run = RunDir::new(&args.run);
    // Not a run folder: said before anything is written (the lock would create the folder).
    run.read_config()?;
    // One writer per run folder: a training run rewrites the page itself at every sample.
    let _lock = run.lock()?;
    if let Some((path, unreadable)) = tensorboard::rebuild(&run)
        .with_context(|| format!("the TensorBoard events of {}", run.root.display()))?
    {
        if unreadable > 0 {
            eprintln!(
                "{unreadable} line(s) of {} could not be read and are not in the events",
                run.metrics().display()
            );
        }
        println!("{}", path.display());
    }
    let page = report::write(&run, false)
        .with_context(|| format!("the report page of {}", run.root.display()))?;
    println!("{}", page.display());
    Ok(())
}
