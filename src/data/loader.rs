//! Turning indices into batches of pixels, in parallel, ahead of the training step.

use std::collections::BTreeSet;
use std::ops::Range;
use std::path::PathBuf;
use std::sync::mpsc::{Receiver, sync_channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use rayon::prelude::*;

use super::{Dataset, Domain, Part, Preprocess, Source, half, open};
use crate::error::Result;
use crate::rng::SplitMix64;

/// The pixels of one iteration: `batch` images of each domain, [batch, channels, size, size].
#[derive(Clone, Debug, PartialEq)]
pub struct Batch {
    /// The iteration the batch is for.
    pub iteration: u64,
    /// Images of domain A, flattened.
    pub a: Vec<f32>,
    /// Images of domain B, flattened.
    pub b: Vec<f32>,
    /// [batch, channels, size, size].
    pub shape: [usize; 4],
}

/// Reads the batches of a dataset.
#[derive(Clone)]
pub struct BatchLoader {
    dataset: Arc<Dataset>,
    prep: Preprocess,
    seed: u64,
    batch: usize,
    skip_bad: bool,
    skipped: Arc<Mutex<BTreeSet<PathBuf>>>,
}

impl BatchLoader {
    /// A loader of `batch`-sized batches; with `skip_bad`, unreadable images are replaced by
    /// the next readable one of their domain (and counted) instead of stopping training.
    pub fn new(
        dataset: Arc<Dataset>,
        prep: Preprocess,
        seed: u64,
        batch: usize,
        skip_bad: bool,
    ) -> Self {
        Self {
            dataset,
            prep,
            seed,
            batch,
            skip_bad,
            skipped: Arc::default(),
        }
    }

    /// The dataset read.
    pub fn dataset(&self) -> &Dataset {
        &self.dataset
    }

    /// The preprocessing applied.
    pub fn preprocess(&self) -> &Preprocess {
        &self.prep
    }

    /// The batch of `iteration`; the same every time it is asked for.
    pub fn load(&self, iteration: u64) -> Result<Batch> {
        let (ia, ib) = self.dataset.batch_indices(self.seed, iteration, self.batch);
        let a = self.load_domain(&self.dataset.train_a, &ia, iteration, 0)?;
        let b = self.load_domain(&self.dataset.train_b, &ib, iteration, 1)?;
        let s = self.prep.image_size;
        Ok(Batch {
            iteration,
            a,
            b,
            shape: [self.batch, self.prep.channels, s, s],
        })
    }

    fn load_domain(
        &self,
        domain: &Domain,
        indices: &[usize],
        iteration: u64,
        which: u64,
    ) -> Result<Vec<f32>> {
        let images: Result<Vec<Vec<f32>>> = indices
            .par_iter()
            .enumerate()
            .map(|(slot, &index)| {
                // Each image's augmentation depends only on (seed, iteration, slot, domain).
                let mut rng = SplitMix64::new(&[self.seed, 0xa06, iteration, slot as u64, which]);
                self.load_with_fallback(domain, index, Some(&mut rng))
            })
            .collect();
        Ok(images?.concat())
    }

    fn load_with_fallback(
        &self,
        domain: &Domain,
        index: usize,
        mut rng: Option<&mut SplitMix64>,
    ) -> Result<Vec<f32>> {
        let mut first_error = None;
        for step in 0..domain.len() {
            let source = &domain[(index + step) % domain.len()];
            match read(source) {
                Ok(img) => return Ok(self.prep.apply(&img, rng.as_deref_mut())),
                Err(e) if self.skip_bad => {
                    let mut skipped = self.skipped.lock().unwrap_or_else(|p| p.into_inner());
                    if skipped.insert(source.path.clone()) {
                        tracing::warn!("skipping {e}");
                    }
                    first_error.get_or_insert(e);
                }
                Err(e) => return Err(e),
            }
        }
        // Only reached when every image of the domain is unreadable.
        Err(first_error.unwrap_or_else(|| crate::Error::config("data", "empty domain")))
    }

    /// `sources` without augmentation (centred, unflipped), concatenated.
    pub fn load_sources(&self, sources: &[Source]) -> Result<Vec<f32>> {
        let images: Result<Vec<Vec<f32>>> = sources
            .par_iter()
            .map(|source| read(source).map(|img| self.prep.apply(&img, None)))
            .collect();
        Ok(images?.concat())
    }

    /// The distinct files skipped so far.
    pub fn skipped(&self) -> Vec<PathBuf> {
        let skipped = self.skipped.lock().unwrap_or_else(|p| p.into_inner());
        skipped.iter().cloned().collect()
    }
}

/// Decodes a source (a whole file, or one half of an A|B file).
pub fn read(source: &Source) -> Result<image::DynamicImage> {
    let img = open(&source.path)?;
    match source.part {
        Part::Whole => Ok(img),
        Part::Left => half(&img, false, &source.path),
        Part::Right => half(&img, true, &source.path),
    }
}

/// Loads the batches of a range of iterations on a background thread, two ahead of training.
pub struct Prefetcher {
    receiver: Receiver<Result<Batch>>,
    worker: Option<JoinHandle<()>>,
}

impl Prefetcher {
    /// Starts loading the batches of `iterations`, in order.
    pub fn spawn(loader: BatchLoader, iterations: Range<u64>) -> Self {
        let (sender, receiver) = sync_channel(2);
        let worker = std::thread::spawn(move || {
            for iteration in iterations {
                let batch = loader.load(iteration);
                let failed = batch.is_err();
                // A closed channel means training stopped: nothing more to do.
                if sender.send(batch).is_err() || failed {
                    break;
                }
            }
        });
        Self {
            receiver,
            worker: Some(worker),
        }
    }

    /// The next batch; `None` once the range is done.
    pub fn next_batch(&self) -> Option<Result<Batch>> {
        self.receiver.recv().ok()
    }
}

impl Drop for Prefetcher {
    fn drop(&mut self) {
        // Unblock the worker (its sends now fail), then wait for it.
        let (_, dead) = sync_channel(0);
        let receiver = std::mem::replace(&mut self.receiver, dead);
        drop(receiver);
        if let Some(worker) = self.worker.take() {
            let _ = worker.join();
        }
    }
}
