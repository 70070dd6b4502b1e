//! `discogan bench`.

use anyhow::Result;
use clap::Args;
use discogan::bench::{BenchOptions, bench};

use super::{DeviceArg, PresetArg};

#[derive(Args)]
pub(crate) struct BenchArgs {
    /// Networks and objective.
    #[arg(long, value_enum, default_value = "unet")]
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
    #[command(flatten)]
    device: DeviceArg,
}

pub(crate) fn bench_command(args: BenchArgs) -> Result<()> {
    let options = BenchOptions {
        preset: args.preset.into(),
        batch: args.batch,
        size: args.size,
        width: args.width,
        iters: args.iters,
        warmup: args.warmup,
        overrides: args.overrides,
        device: args.device.device()?.autodiff(),
        device_name: args.device.name.clone(),
    };
    let result = bench(&options)?;
    println!("{}", serde_json::to_string(&result)?);
    Ok(())
}
