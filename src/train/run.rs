//! A whole run: data in, checkpoints, metrics and sample grids out, resumable at any checkpoint.
//!
//! Run folder layout: `config.toml` (the resolved configuration), `metrics.jsonl` (every loss
//! every `log_every` iterations), `samples/iter-NNNNNNNNN.png` (real | translated |
//! reconstructed, both directions, on fixed held-out images) and `checkpoints/iter-NNNNNNNNN/`.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use burn::tensor::{Device, Tensor, TensorData};

use super::heldout::HeldOut;
use super::{StepReport, Trainer, checkpoint};
use crate::config::Config;
use crate::data::{BatchLoader, Dataset, Prefetcher, Preprocess, Source, embedded_emoji, to_image};
use crate::error::{Error, Result};
use crate::grid::grid;
use crate::rng::SplitMix64;

/// Names of the files and folders of a run.
#[derive(Clone, Debug)]
pub struct RunDir {
    /// The run folder.
    pub root: PathBuf,
}

impl RunDir {
    /// The run folder at `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }
    /// `config.toml`.
    pub fn config(&self) -> PathBuf {
        self.root.join("config.toml")
    }
    /// `metrics.jsonl`.
    pub fn metrics(&self) -> PathBuf {
        self.root.join("metrics.jsonl")
    }
    /// `samples/`.
    pub fn samples(&self) -> PathBuf {
        self.root.join("samples")
    }
    /// `checkpoints/`.
    pub fn checkpoints(&self) -> PathBuf {
        self.root.join("checkpoints")
    }

    /// The configuration a run was started with.
    pub fn read_config(&self) -> Result<Config> {
        let path = self.config();
        let text = fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
        Config::from_toml(&text).map_err(|e| Error::Data {
            path,
            reason: e.to_string(),
        })
    }
}

/// How a run ended.
#[derive(Clone, Debug, PartialEq)]
pub struct RunSummary {
    /// The next iteration (the number of iterations done).
    pub iteration: u64,
    /// Whether the run was stopped early (Ctrl-C) rather than finishing.
    pub interrupted: bool,
    /// The last checkpoint written.
    pub checkpoint: PathBuf,
    /// The losses of the last iteration.
    pub last: Option<StepReport>,
    /// Images skipped as unreadable (with `data.skip_bad`).
    pub skipped: Vec<PathBuf>,
}

/// What the run reports as it goes (a progress bar, or nothing in tests).
pub trait Progress {
    /// Called after each iteration.
    fn iteration(&mut self, report: &StepReport);
    /// A line worth showing (a checkpoint, a sample grid).
    fn message(&mut self, text: &str);
}

impl Progress for () {
    fn iteration(&mut self, _: &StepReport) {}
    fn message(&mut self, _: &str) {}
}

/// The preprocessing the configuration asks for.
pub fn preprocess(config: &Config) -> Preprocess {
    let m = &config.model;
    let d = &config.data;
    Preprocess {
        channels: m.channels,
        image_size: m.image_size,
        load_size: if d.load_size == 0 {
            m.image_size
        } else {
            d.load_size
        },
        random_crop: d.random_crop,
        flip: d.flip,
        alpha: d.alpha,
        range: m.architecture.pixel_range(),
    }
}

/// Opens the dataset, checking every file up front.
pub fn open_dataset(config: &Config) -> Result<Dataset> {
    let root = config.data.root.clone().unwrap_or_else(embedded_emoji);
    let mut dataset = Dataset::open(&config.data, &root, config.train.seed)?;
    let bad = dataset.check_headers();
    if !bad.is_empty() {
        if !config.data.skip_bad {
            let list: Vec<String> = bad.iter().take(5).map(|e| format!("  {e}")).collect();
            return Err(Error::Data {
                path: root,
                reason: format!(
                    "{} unreadable image(s) (set data.skip_bad = true / --skip-bad to skip them):\n{}",
                    bad.len(),
                    list.join("\n")
                ),
            });
        }
        let paths: Vec<PathBuf> = bad
            .iter()
            .filter_map(|e| match e {
                Error::Data { path, .. } => Some(path.clone()),
                _ => None,
            })
            .collect();
        for e in &bad {
            tracing::warn!("skipping {e}");
        }
        dataset.without(&paths);
        for (name, domain) in [("A", &dataset.train_a), ("B", &dataset.train_b)] {
            if domain.is_empty() {
                return Err(Error::Data {
                    path: root.clone(),
                    reason: format!("no readable training image left in domain {name}"),
                });
            }
        }
    }
    Ok(dataset)
}

/// Trains `config` into `run`: from scratch, or from the run's last checkpoint when `resume`.
/// `stop` is polled after every iteration: when set, a checkpoint is written and the run ends.
pub fn train(
    config: &Config,
    run: &RunDir,
    resume: bool,
    device: &Device,
    stop: &AtomicBool,
    progress: &mut dyn Progress,
) -> Result<RunSummary> {
    config.validate()?;
    let t = &config.train;
    fs::create_dir_all(&run.root).map_err(|e| Error::io(&run.root, e))?;
    let existing = checkpoint::latest(&run.checkpoints())?;
    let mut trainer = match (resume, existing) {
        (true, Some(path)) => {
            progress.message(&format!("resuming from {}", path.display()));
            Trainer::load_checkpoint(config.clone(), &path, device)?
        }
        (true, None) => {
            return Err(Error::Checkpoint {
                path: run.checkpoints(),
                reason: "no checkpoint to resume from".into(),
            });
        }
        (false, Some(path)) => {
            return Err(Error::Checkpoint {
                path,
                reason: "the run folder already has checkpoints: resume it (--resume) or choose another folder".into(),
            });
        }
        (false, None) => {
            device.seed(t.seed);
            Trainer::new(config.clone(), device)?
        }
    };
    checkpoint::write_synced(&run.config(), config.to_toml().as_bytes())
        .map_err(|e| Error::io(run.config(), e))?;
    truncate_metrics(&run.metrics(), trainer.iteration())?;

    let dataset = Arc::new(open_dataset(config)?);
    let loader = BatchLoader::new(
        dataset.clone(),
        preprocess(config),
        t.seed,
        t.batch_size,
        config.data.skip_bad,
    );
    let samples = SampleSet::new(&loader, t.sample_count)?;
    let heldout = match t.eval_every {
        0 => None,
        _ => Some(HeldOut::load(&dataset, config.model.image_size)?),
    };
    let prefetch = Prefetcher::spawn(loader.clone(), trainer.iteration()..t.iterations);
    let mut metrics = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(run.metrics())
        .map_err(|e| Error::io(run.metrics(), e))?;
    let started = Instant::now();
    let mut last = None;
    let mut last_checkpoint = None;
    let mut interrupted = false;

    while trainer.iteration() < t.iterations {
        let batch = match prefetch.next_batch() {
            Some(batch) => batch?,
            None => break,
        };
        let iteration = trainer.iteration();
        // Dropout draws from the device's generator: reseed it per iteration, so that a resumed
        // run draws what an uninterrupted one would.
        device.seed(SplitMix64::new(&[t.seed, 0xd0, iteration]).next_u64());
        let a = Tensor::<4>::from_data(TensorData::new(batch.a, batch.shape), device);
        let b = Tensor::<4>::from_data(TensorData::new(batch.b, batch.shape), device);
        let report = trainer.step(a, b);
        if let Some((name, value)) = report.losses.iter().find(|(_, v)| !v.is_finite()) {
            return Err(Error::NonFinite {
                iteration,
                loss: name.to_string(),
                value: *value,
            });
        }
        progress.iteration(&report);
        let done = trainer.iteration();
        let interrupting = stop.load(Ordering::SeqCst);
        let time_up =
            t.max_minutes > 0.0 && started.elapsed().as_secs_f64() >= t.max_minutes * 60.0;
        // The last iteration of this process, whatever ends it.
        let finishing = done == t.iterations || time_up;
        let evaluating = t.eval_every > 0 && (done % t.eval_every == 0 || finishing);
        if iteration % t.log_every == 0 || finishing || evaluating {
            let mut line = metrics_line(&report, started.elapsed().as_secs_f64());
            // The held-out scores join the losses of the iteration they follow.
            if let Some(heldout) = heldout.as_ref().filter(|_| evaluating) {
                let (entries, summary) = heldout.evaluate(&trainer, device);
                line.extend(entries);
                progress.message(&format!("{summary} (after {done} iterations)"));
            }
            let line = serde_json::Value::Object(line).to_string();
            writeln!(metrics, "{line}").map_err(|e| Error::io(run.metrics(), e))?;
        }
        if (t.sample_every > 0 && done % t.sample_every == 0) || finishing {
            let path = samples.write(&trainer, &run.samples(), done, device)?;
            progress.message(&format!("samples: {}", path.display()));
        }
        if (t.checkpoint_every > 0 && done % t.checkpoint_every == 0) || finishing || interrupting {
            let path = trainer.save_checkpoint(&run.checkpoints(), t.keep_checkpoints)?;
            progress.message(&format!("checkpoint: {}", path.display()));
            last_checkpoint = Some(path);
        }
        last = Some(report);
        if interrupting {
            interrupted = true;
            break;
        }
        if time_up {
            progress.message(&format!(
                "time limit of {} minutes reached at iteration {done}",
                t.max_minutes
            ));
            break;
        }
    }
    let checkpoint = match last_checkpoint {
        Some(path) => path,
        None => trainer.save_checkpoint(&run.checkpoints(), t.keep_checkpoints)?,
    };
    Ok(RunSummary {
        iteration: trainer.iteration(),
        interrupted,
        checkpoint,
        last,
        skipped: loader.skipped(),
    })
}

fn metrics_line(report: &StepReport, elapsed: f64) -> serde_json::Map<String, serde_json::Value> {
    let mut map = serde_json::Map::new();
    map.insert("iteration".into(), report.iteration.into());
    map.insert(
        "elapsed_s".into(),
        serde_json::json!((elapsed * 1000.0).round() / 1000.0),
    );
    for (name, value) in &report.losses {
        map.insert((*name).into(), serde_json::json!(value));
    }
    map
}

/// Drops metric lines of iterations at or after `from` (written after the checkpoint a run
/// resumes from), so that the log reads as one uninterrupted run.
fn truncate_metrics(path: &Path, from: u64) -> Result<()> {
    let Ok(text) = fs::read_to_string(path) else {
        return Ok(());
    };
    let kept: Vec<&str> = text
        .lines()
        .filter(|line| {
            serde_json::from_str::<serde_json::Value>(line)
                .ok()
                .and_then(|v| v.get("iteration").and_then(|i| i.as_u64()))
                .is_some_and(|i| i < from)
        })
        .collect();
    let mut out = kept.join("\n");
    if !out.is_empty() {
        out.push('\n');
    }
    let tmp = path.with_extension("jsonl.tmp");
    checkpoint::write_synced(&tmp, out.as_bytes()).map_err(|e| Error::io(&tmp, e))?;
    fs::rename(&tmp, path).map_err(|e| Error::io(path, e))
}

/// The fixed held-out images shown in every sample grid.
struct SampleSet {
    a: Vec<f32>,
    b: Vec<f32>,
    shape: [usize; 4],
    prep: Preprocess,
}

impl SampleSet {
    fn new(loader: &BatchLoader, count: usize) -> Result<Self> {
        let pick = |domain: &[Source]| -> Vec<Source> {
            // Evenly spaced over the (sorted) held-out set: a stable, varied selection.
            let n = count.min(domain.len()).max(1);
            (0..n)
                .map(|i| domain[i * domain.len() / n].clone())
                .collect()
        };
        let dataset = loader.dataset();
        let (sa, sb) = (pick(&dataset.test_a), pick(&dataset.test_b));
        let n = sa.len().min(sb.len());
        let prep = loader.preprocess().clone();
        Ok(Self {
            a: loader.load_sources(&sa[..n])?,
            b: loader.load_sources(&sb[..n])?,
            shape: [n, prep.channels, prep.image_size, prep.image_size],
            prep,
        })
    }

    fn write(
        &self,
        trainer: &Trainer,
        dir: &Path,
        iteration: u64,
        device: &Device,
    ) -> Result<PathBuf> {
        // Inference mode: no dropout, BatchNorm with running statistics.
        let g = trainer.inference_generators();
        let plain = device.clone().without_autodiff();
        let a = Tensor::<4>::from_data(TensorData::new(self.a.clone(), self.shape), &plain);
        let b = Tensor::<4>::from_data(TensorData::new(self.b.clone(), self.shape), &plain);
        let fake_b = g.g_ab.forward(a.clone());
        let recov_a = g.g_ba.forward(fake_b.clone());
        let fake_a = g.g_ba.forward(b.clone());
        let recov_b = g.g_ab.forward(fake_a.clone());
        let columns: Vec<Vec<f32>> = [a, fake_b, recov_a, b, fake_a, recov_b]
            .into_iter()
            .map(|t| t.into_data().try_to_vec::<f32>().unwrap_or_default())
            .collect();
        let [n, c, s, _] = self.shape;
        let rows: Vec<Vec<image::DynamicImage>> = (0..n)
            .map(|i| {
                columns
                    .iter()
                    .map(|col| {
                        let tile = &col[i * c * s * s..(i + 1) * c * s * s];
                        to_image(tile, c, (s as u32, s as u32), self.prep.range)
                    })
                    .collect()
            })
            .collect();
        fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let path = dir.join(format!("iter-{iteration:09}.png"));
        grid(&rows).save(&path).map_err(|e| Error::Data {
            path: path.clone(),
            reason: format!("cannot write the sample grid: {e}"),
        })?;
        Ok(path)
    }
}
