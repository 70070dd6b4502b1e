//! `discogan train`.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};
use discogan::config::Config;
use discogan::data::Layout;
use discogan::rundir::RunDir;
use discogan::train::LossValues;
use discogan::train::run::{Progress, train};
use indicatif::{ProgressBar, ProgressStyle};

use super::{ConfigArgs, DeviceArg, parse_device};

#[derive(Args)]
pub(crate) struct TrainArgs {
    #[command(flatten)]
    config: ConfigArgs,
    /// Dataset folder (CycleGAN trainA/trainB/testA/testB, or pix2pix train/test with
    /// --layout aligned). Default: the embedded emoji.
    #[arg(long)]
    data: Option<PathBuf>,
    /// How the dataset is stored.
    #[arg(long, value_enum)]
    layout: Option<LayoutArg>,
    /// Train on true pairs (aligned A|B files, or trainA/trainB files of the same name), with
    /// the pixelwise loss (weight: --set objective.lambda_pixelwise=..., 10 on paired data unless set).
    #[arg(long)]
    paired: bool,
    /// Skip unreadable images with a warning instead of stopping.
    #[arg(long)]
    skip_bad: bool,
    /// Iterations in total.
    #[arg(long)]
    iterations: Option<u64>,
    /// Stop after this many minutes of training (checkpoint and samples written as at the end).
    #[arg(long, value_name = "MINUTES")]
    max_minutes: Option<f64>,
    /// Run folder to create.
    #[arg(long, default_value = "runs/emoji", conflicts_with = "resume")]
    out: PathBuf,
    /// Continue the run in this folder from its last checkpoint (its config.toml is used;
    /// the flags above and --set still apply; --preset and --config do not).
    #[arg(long, value_name = "RUN_DIR")]
    resume: Option<PathBuf>,
    #[command(flatten)]
    device: DeviceArg,
    /// Data-parallel training: several devices, comma-separated (`flex,flex`, `wgpu:0,wgpu:1`,
    /// `cuda:0,cuda:1`), each training a replica of the networks on its slice of every batch;
    /// the networks and the optimisers live on the first. Replaces --device.
    #[arg(long, value_name = "DEVICE,...", value_delimiter = ',')]
    devices: Vec<String>,
    /// No progress bar.
    #[arg(long, short)]
    quiet: bool,
}

#[derive(Clone, Copy, ValueEnum)]
enum LayoutArg {
    Unaligned,
    Aligned,
}

pub(crate) fn train_command(args: TrainArgs) -> Result<()> {
    // The typed flags, applied after the base (preset and file, or the run's own
    // configuration) and before each `--set`.
    let flags = |config: &mut Config| {
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
        }
        config.data.skip_bad |= args.skip_bad;
        if let Some(n) = args.iterations {
            config.train.iterations = n;
        }
        if let Some(minutes) = args.max_minutes {
            config.train.max_minutes = minutes;
        }
    };
    let (run, config) = match &args.resume {
        Some(dir) => {
            if args.config.names_a_base() {
                bail!(
                    "--preset and --config start a new run; a resumed run keeps its own \
                     configuration ({}): change keys with --set",
                    RunDir::new(dir).config().display()
                );
            }
            let run = RunDir::new(dir);
            let mut config = run
                .read_config()
                .with_context(|| format!("cannot resume {}", dir.display()))?;
            flags(&mut config);
            (run, config.with_overrides(&args.config.overrides)?)
        }
        None => (RunDir::new(&args.out), args.config.resolve_with(flags)?),
    };
    let config = config.validated()?;
    let devices = match args.devices.as_slice() {
        [] => vec![args.device.device()?.autodiff()],
        names => names
            .iter()
            .map(|name| Ok(parse_device(name)?.autodiff()))
            .collect::<Result<Vec<_>>>()?,
    };
    if devices.len() > 1 {
        eprintln!(
            "# data-parallel over {} devices: {}",
            devices.len(),
            args.devices.join(", ")
        );
    }
    eprintln!(
        "# resolved configuration ({})\n{}",
        run.config().display(),
        config.to_toml()?
    );

    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        // Ctrl-C, SIGTERM (kill, a scheduler) and SIGHUP (a closed terminal) alike.
        ctrlc::set_handler(move || {
            if stop.swap(true, Ordering::SeqCst) {
                // A second signal: the user insists.
                std::process::exit(130);
            }
            eprintln!("\nstopping: saving a checkpoint (signal again to quit at once)");
        })
        .context("cannot install the signal handler")?;
    }
    let mut progress = Bar::new(config.train.iterations, args.quiet);
    let summary = train(
        &config,
        &run,
        args.resume.is_some(),
        &devices,
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

fn format_losses(losses: &LossValues) -> String {
    losses
        .values
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
    fn iteration(&mut self, iteration: u64, losses: Option<&LossValues>) {
        self.bar.set_position(iteration + 1);
        if let Some(losses) = losses {
            self.bar.set_message(format_losses(losses));
        }
    }

    fn message(&mut self, text: &str) {
        self.bar.println(text);
    }
}
