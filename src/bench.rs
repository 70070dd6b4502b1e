//! `discogan bench`: the speed of the training iteration and of translation, printed in the
//! shape of the PyTorch reference's `bench_torch.py` so that the two can be compared line by line.

use std::time::Instant;

use burn::module::Module;
use burn::tensor::{Device, Distribution, Tensor};
use serde::Serialize;

use crate::config::{Config, Preset, Schedule};
use crate::cpu::Cpu;
use crate::error::Result;
use crate::train::Trainer;

/// What to time.
#[derive(Clone, Debug)]
pub struct BenchOptions {
    /// `unet` or `paper` networks and objective.
    pub preset: Preset,
    /// Images of each domain per iteration.
    pub batch: usize,
    /// Image side.
    pub size: usize,
    /// Base channel width.
    pub width: usize,
    /// Timed iterations.
    pub iters: usize,
    /// Untimed iterations first.
    pub warmup: usize,
    /// `key=value` configuration overrides applied after the preset and the options above
    /// (e.g. `objective.lambda_identity=5`), as `train --set`.
    pub overrides: Vec<String>,
    /// The device (an autodiff device for training).
    pub device: Device,
    /// The device's name, as given on the command line.
    pub device_name: String,
}

/// One benchmark, in `bench_torch.py`'s fields (plus the translation throughput).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BenchResult {
    /// The implementation.
    #[serde(rename = "impl")]
    pub implementation: String,
    /// The networks timed (`model.architecture`): `unet`, `resnet` or `paper`.
    pub arch: String,
    /// Images per domain per iteration.
    pub batch: usize,
    /// Image side.
    pub size: usize,
    /// Base width.
    pub width: usize,
    /// Worker threads of the CPU backend.
    pub threads: usize,
    /// The device.
    pub device: String,
    /// Median milliseconds per iteration (one D step and one G step).
    pub ms_per_iter_median: f64,
    /// Fastest iteration.
    pub ms_min: f64,
    /// Slowest iteration.
    pub ms_max: f64,
    /// batch / median seconds.
    pub images_per_s: f64,
    /// Peak resident memory of the process.
    pub peak_rss_mb: f64,
    /// Translation (one generator, inference mode) throughput.
    pub translate_images_per_s: f64,
    /// The CPU it ran on: its model name and vector extensions ([`Cpu::summary`]), so that
    /// every figure names the machine it was measured on.
    pub cpu: String,
    /// Floating-point operations of one iteration (the mean over the timed ones), counted
    /// from the networks' shapes ([`Trainer::iteration_flops`]; PyTorch's `flop_counter`
    /// counts the same for `bench_torch.py`'s step on the reference networks, at 64 px), in
    /// GFLOP.
    pub gflop_per_iter: f64,
    /// Those operations per median iteration time: the achieved GFLOP/s.
    pub gflops: f64,
    /// The CPU's single-precision peak for the threads used ([`Cpu::peak_gflops`]); absent
    /// where unknown, and for devices other than the CPU.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peak_gflops: Option<f64>,
    /// `gflops` / `peak_gflops`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peak_fraction: Option<f64>,
}

fn round(x: f64, digits: i32) -> f64 {
    let scale = 10f64.powi(digits);
    (x * scale).round() / scale
}

/// Peak resident set size in MB (Linux), 0 where unknown.
pub fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

fn median(times: &mut [f64]) -> f64 {
    times.sort_by(f64::total_cmp);
    let n = times.len();
    if n == 0 {
        0.0
    } else if n % 2 == 1 {
        times[n / 2]
    } else {
        (times[n / 2 - 1] + times[n / 2]) / 2.0
    }
}

/// Times the training iteration and translation.
pub fn bench(options: &BenchOptions) -> Result<BenchResult> {
    let mut config = Config::preset(options.preset);
    config.model.image_size = options.size;
    config.model.width = options.width;
    // As bench_torch.py: one discriminator and one generator update per iteration, both arches.
    config.objective.schedule = Schedule::Every;
    config.train.batch_size = options.batch;
    let config = config.with_overrides(&options.overrides)?;
    let config = config.validated()?;
    if options.iters == 0 {
        return Err(crate::error::Error::config(
            "bench --iters",
            "must be at least 1",
        ));
    }
    crate::train::memory::check(&config, crate::train::memory::available_bytes())?;
    let device = &options.device;
    device.seed(0);
    let mut trainer = Trainer::new(config.clone(), device)?;
    let (lo, hi) = config.model.architecture.pixel_range();
    let size = config.model.image_size;
    let shape = [config.train.batch_size, config.model.channels, size, size];
    let batch = || {
        Tensor::<4>::random(
            shape,
            Distribution::Uniform(f64::from(lo), f64::from(hi)),
            device,
        )
    };
    let (a, b) = (batch(), batch());
    let mut times = Vec::with_capacity(options.iters);
    // Summed over the timed iterations: with `--set objective.schedule=alternate` they differ.
    let mut flops = 0u64;
    for i in 0..options.warmup + options.iters {
        if i >= options.warmup {
            let iteration = trainer.iteration();
            flops =
                flops.saturating_add(trainer.iteration_flops(config.train.batch_size, iteration));
        }
        let start = Instant::now();
        // Reading a loss back forces the whole iteration to finish.
        let report = trainer.step(a.clone(), b.clone());
        std::hint::black_box(report.read()?);
        if i >= options.warmup {
            times.push(start.elapsed().as_secs_f64() * 1000.0);
        }
    }
    let min = times.iter().copied().fold(f64::INFINITY, f64::min);
    let max = times.iter().copied().fold(0.0, f64::max);
    let med = median(&mut times);
    let gflop = flops as f64 / options.iters as f64 / 1e9;

    let generator = trainer.generators.valid().g_ab;
    let plain = device.clone().without_autodiff();
    let x = Tensor::<4>::random(
        shape,
        Distribution::Uniform(f64::from(lo), f64::from(hi)),
        &plain,
    );
    let mut translate_times = Vec::new();
    for i in 0..options.warmup + options.iters {
        let start = Instant::now();
        let y = generator.forward(x.clone());
        std::hint::black_box(y.into_data());
        if i >= options.warmup {
            translate_times.push(start.elapsed().as_secs_f64());
        }
    }
    let translate_med = median(&mut translate_times);
    let cpu = Cpu::this_machine();
    let threads = rayon::current_num_threads();
    let gflops = gflop / (med / 1000.0).max(1e-12);
    let peak = matches!(options.device_name.as_str(), "flex" | "cpu")
        .then(|| cpu.peak_gflops(threads))
        .flatten();
    Ok(BenchResult {
        implementation: format!("discogan-{} (burn 0.22)", env!("CARGO_PKG_VERSION")),
        arch: config.model.architecture.name().into(),
        batch: config.train.batch_size,
        size,
        width: config.model.width,
        threads,
        device: options.device_name.clone(),
        ms_per_iter_median: round(med, 1),
        ms_min: round(min, 1),
        ms_max: round(max, 1),
        images_per_s: round(config.train.batch_size as f64 / (med / 1000.0), 2),
        peak_rss_mb: round(peak_rss_mb(), 0),
        translate_images_per_s: round(config.train.batch_size as f64 / translate_med.max(1e-9), 2),
        cpu: cpu.summary(),
        gflop_per_iter: round(gflop, 3),
        gflops: round(gflops, 2),
        peak_gflops: peak.map(|p| round(p, 1)),
        peak_fraction: peak.map(|p| round(gflops / p, 3)),
    })
}
