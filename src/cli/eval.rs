//! `discogan eval`.

use std::path::PathBuf;

use anyhow::Result;
use clap::{Args, ValueEnum};
use discogan::eval::{evaluate, table};
use discogan::rundir::{RunDir, write_atomic};
use discogan::translate::Direction;

use super::{DeviceArg, weights};

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
    #[command(flatten)]
    device: DeviceArg,
}

pub(crate) fn eval_command(args: EvalArgs) -> Result<()> {
    let directions = match args.direction {
        DirectionArg::A2b => vec![Direction::AToB],
        DirectionArg::B2a => vec![Direction::BToA],
        DirectionArg::Both => vec![Direction::AToB, Direction::BToA],
    };
    let run = RunDir::new(&args.run);
    let device = args.device.device()?;
    let reports = evaluate(
        &run,
        args.checkpoint.as_deref(),
        weights(args.raw),
        &args.a,
        &args.b,
        &directions,
        &device,
    )?;
    print!("{}", table(&reports));
    let json = serde_json::to_string_pretty(&reports)? + "\n";
    let path = args.json.unwrap_or_else(|| run.eval_report());
    write_atomic(&path, json.as_bytes())?;
    println!("report: {}", path.display());
    Ok(())
}
