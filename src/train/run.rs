//! A whole run: data in, checkpoints, metrics and sample grids out, resumable at any checkpoint.
//! The run folder itself (its layout, its lock, its atomic writes) is [`crate::rundir`].

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use burn::tensor::{Device, Tensor, TensorData};

use super::heldout::HeldOut;
use super::{Devices, LossValues, Trainer, memory};
use crate::config::ValidConfig;
use crate::data::{BatchLoader, Prefetcher, Preprocess, Source, open_dataset, to_image};
use crate::error::{Error, Result};
use crate::grid::grid;
use crate::rng::SplitMix64;
use crate::rundir::{RunDir, checkpoint_error, write_png};
use crate::watch::tensorboard::{CONFIG_TAG, EventLog, config_markdown};
use crate::watch::{iterations_per_second, report};

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
    pub last: Option<LossValues>,
    /// Images skipped as unreadable (with `data.skip_bad`).
    pub skipped: Vec<PathBuf>,
}

/// What the run reports as it goes (a progress bar, or nothing in tests).
pub trait Progress {
    /// Called after each iteration (counting from 0), with its losses when they were read
    /// (the logged iterations, `train.log_every`).
    fn iteration(&mut self, iteration: u64, losses: Option<&LossValues>);
    /// A line worth showing (a checkpoint, a sample grid).
    fn message(&mut self, text: &str);
}

impl Progress for () {
    fn iteration(&mut self, _: u64, _: Option<&LossValues>) {}
    fn message(&mut self, _: &str) {}
}

/// Trains `config` into `run`: from scratch, or from the run's last checkpoint when `resume`,
/// on `devices` (the networks on the first; with several, each trains on a slice of every batch:
/// [`Devices`]). `stop` is polled after every iteration: when set, a checkpoint is written and the run ends.
///
/// Before anything in the run folder is written, the configuration, the data and the memory it
/// needs are checked and the folder's lock is taken (one writer per run folder).
pub fn train(
    config: &ValidConfig,
    run: &RunDir,
    resume: bool,
    devices: &[Device],
    stop: &AtomicBool,
    progress: &mut dyn Progress,
) -> Result<RunSummary> {
    let config = config.clone().with_absolute_paths()?;
    let t = &config.train;
    let devices = Devices::new(devices.to_vec(), t.batch_size)?;
    let device = devices.main();
    let dataset = Arc::new(open_dataset(&config.data, t.seed)?);
    if t.eval_every > 0 && !dataset.held_out {
        return Err(Error::config(
            "train.eval_every",
            "the dataset has no held-out images (testA/ and testB/, or test/ for aligned \
             data), and scores on training images would not measure generalisation",
        ));
    }
    memory::check(&config, memory::available_bytes())?;

    let _lock = run.lock()?;
    let checkpoints = run.checkpoints();
    for stale in run.clean_stale()? {
        progress.message(&format!(
            "removed the leftover of an interrupted write: {}",
            stale.display()
        ));
    }
    let existing = checkpoints.latest()?;
    let mut trainer = match (resume, existing) {
        (true, Some(path)) => {
            progress.message(&format!("resuming from {}", path.display()));
            Trainer::load_checkpoint(config.clone(), &path, device)?
        }
        (true, None) => {
            return Err(checkpoint_error(
                checkpoints.dir(),
                "no checkpoint to resume from",
            ));
        }
        (false, Some(path)) => {
            return Err(checkpoint_error(
                &path,
                "the run folder already has checkpoints: resume it (--resume) or choose another folder",
            ));
        }
        (false, None) => {
            device.seed(t.seed);
            Trainer::new(config.clone(), device)?
        }
    };
    trainer.set_devices(devices.clone())?;
    run.write_config(&config)?;
    run.truncate_metrics(trainer.iteration())?;
    let start = trainer.iteration();
    if let Some(dir) = run.set_aside_grids_after(start)? {
        progress.message(&format!(
            "sample grids drawn after iteration {start} (past the checkpoint resumed from) \
             moved to {}",
            dir.display()
        ));
    }
    let (mut events, opened) = EventLog::open(&run.tensorboard(), start)?;
    if let Some(message) = opened.message(start) {
        progress.message(&message);
    }
    let config_path = run.config();
    let config_text = fs::read_to_string(&config_path).map_err(|e| Error::io(&config_path, e))?;
    events.text(start, CONFIG_TAG, &config_markdown(&config_text))?;
    events.flush()?;

    let loader = BatchLoader::new(
        dataset.clone(),
        config.preprocess(),
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
    // (iterations done, seconds) at the previous metrics line of this process: the speed.
    let mut previous_line = (start, 0.0);
    let mut last = None;
    // The newest checkpoint on disk: an iteration is never saved twice (a resume already at its
    // end, Ctrl-C right after a periodic save), since its state would be the same.
    let mut saved = checkpoints
        .latest()?
        .map(|path| (trainer.iteration(), path));
    let mut save = |trainer: &Trainer, progress: &mut dyn Progress| -> Result<PathBuf> {
        if let Some((iteration, path)) = &saved
            && *iteration == trainer.iteration()
        {
            return Ok(path.clone());
        }
        let path = trainer.save_checkpoint(&checkpoints, t.keep_checkpoints)?;
        progress.message(&format!("checkpoint: {}", path.display()));
        saved = Some((trainer.iteration(), path.clone()));
        Ok(path)
    };
    // The loop, as one fallible piece: a run that ends in an error (a diverged loss, a full
    // disk) still leaves a page that says it stopped, rather than the time it had left.
    let mut looped = || -> Result<bool> {
        while trainer.iteration() < t.iterations {
            let batch = match prefetch.next_batch() {
                Some(batch) => batch?,
                None => break,
            };
            let iteration = trainer.iteration();
            // Dropout draws from the devices' generators: reseed them per iteration, so that a
            // resumed run draws what an uninterrupted one would. The main device last: when others
            // are the same device (`flex,flex`), it draws what it would alone.
            for (k, device) in devices.all().iter().enumerate().rev() {
                let stream: &[u64] = match k {
                    0 => &[t.seed, 0xd0, iteration],
                    k => &[t.seed, 0xd0, iteration, k as u64],
                };
                device.seed(SplitMix64::new(stream).next_u64());
            }
            let a = Tensor::<4>::from_data(TensorData::new(batch.a, batch.shape), device);
            let b = Tensor::<4>::from_data(TensorData::new(batch.b, batch.shape), device);
            let report = trainer.step(a, b);
            let done = trainer.iteration();
            let interrupting = stop.load(Ordering::SeqCst);
            let time_up =
                t.max_minutes > 0.0 && started.elapsed().as_secs_f64() >= t.max_minutes * 60.0;
            // The last iteration of this process, whatever ends it.
            let finishing = done == t.iterations || time_up;
            let evaluating = t.eval_every > 0 && (done % t.eval_every == 0 || finishing);
            let logging = iteration % t.log_every == 0 || finishing || evaluating;
            let saving = (t.checkpoint_every > 0 && done % t.checkpoint_every == 0)
                || finishing
                || interrupting;
            // The losses are read back (a synchronisation on a GPU) only when logged, and before
            // every checkpoint: a diverged run (its losses not finite from then on) stops there,
            // before its weights are saved.
            let losses = if logging || saving {
                let losses = report.read()?;
                if let Some((name, value)) = losses.non_finite() {
                    return Err(Error::NonFinite {
                        iteration,
                        loss: name.to_string(),
                        value,
                    });
                }
                Some(losses)
            } else {
                None
            };
            progress.iteration(iteration, losses.as_ref());
            if let Some(losses) = losses.as_ref().filter(|_| logging) {
                let elapsed = started.elapsed().as_secs_f64();
                let mut line = metrics_line(losses, elapsed);
                line.insert(
                    "lr".into(),
                    serde_json::json!(config.learning_rate(iteration)),
                );
                if let Some(speed) = iterations_per_second(previous_line, (done, elapsed)) {
                    line.insert(
                        "iterations_per_s".into(),
                        serde_json::json!((speed * 1000.0).round() / 1000.0),
                    );
                }
                previous_line = (done, elapsed);
                // The held-out scores join the losses of the iteration they follow.
                if let Some(heldout) = heldout.as_ref().filter(|_| evaluating) {
                    let (entries, summary) = heldout.evaluate(&trainer, device)?;
                    line.extend(entries);
                    progress.message(&format!("{summary} (after {done} iterations)"));
                }
                events.metrics_line(&line)?;
                events.flush()?;
                let line = serde_json::Value::Object(line).to_string();
                writeln!(metrics, "{line}").map_err(|e| Error::io(run.metrics(), e))?;
            }
            if (t.sample_every > 0 && done % t.sample_every == 0) || finishing {
                let path = samples.write(&trainer, &run.samples(), done, device)?;
                progress.message(&format!("samples: {}", path.display()));
                events.sample(done, &path)?;
                events.flush()?;
                write_report(run, true, progress);
            }
            if saving {
                save(&trainer, progress)?;
            }
            last = losses.or(last.take());
            if interrupting {
                return Ok(true);
            }
            if time_up {
                progress.message(&format!(
                    "time limit of {} minutes reached at iteration {done}",
                    t.max_minutes
                ));
                break;
            }
        }
        Ok(false)
    };
    let interrupted = match looped() {
        Ok(interrupted) => interrupted,
        Err(e) => {
            write_report(run, false, progress);
            return Err(e);
        }
    };
    let checkpoint = save(&trainer, progress)?;
    write_report(run, false, progress);
    let mut skipped = dataset.skipped.clone();
    skipped.extend(loader.skipped());
    Ok(RunSummary {
        iteration: trainer.iteration(),
        interrupted,
        checkpoint,
        last,
        skipped,
    })
}

/// Rewrites the report page. A page that cannot be written is said, not fatal: it is a view of
/// the run, which `discogan report` rebuilds.
fn write_report(run: &RunDir, running: bool, progress: &mut dyn Progress) {
    if let Err(e) = report::write(run, running) {
        progress.message(&format!(
            "the report page was not written: {}",
            e.with_causes()
        ));
    }
}

fn metrics_line(losses: &LossValues, elapsed: f64) -> serde_json::Map<String, serde_json::Value> {
    let mut map = serde_json::Map::new();
    map.insert("iteration".into(), losses.iteration.into());
    map.insert(
        "elapsed_s".into(),
        serde_json::json!((elapsed * 1000.0).round() / 1000.0),
    );
    for (name, value) in &losses.values {
        map.insert((*name).into(), serde_json::json!(value));
    }
    map
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
        let cycle = g.cycle(&a, Some(&b), true);
        // The columns: a, G_AB(a), G_BA(G_AB(a)), b, G_BA(b), G_AB(G_BA(b)).
        let columns = [Some(a), Some(cycle.fake_b), cycle.recov_a]
            .into_iter()
            .chain([Some(b), cycle.fake_a, cycle.recov_b])
            .flatten()
            .map(|t| {
                t.into_data()
                    .try_to_vec::<f32>()
                    .map_err(|e| Error::Backend(format!("the sample grid: {e:?}")))
            })
            .collect::<Result<Vec<Vec<f32>>>>()?;
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
        write_png(&path, &grid(&rows).into())?;
        Ok(path)
    }
}
