//! Which files make up each domain, and which ones each iteration reads.

use std::path::{Path, PathBuf};

use rayon::prelude::*;

use super::image::check_header;
use super::{DataConfig, IMAGE_EXTENSIONS, Layout};
use crate::error::{Error, Result};
use crate::rng::SplitMix64;

/// Which part of a file is the image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Part {
    /// The whole file.
    Whole,
    /// The left half of an A|B image.
    Left,
    /// The right half of an A|B image.
    Right,
}

/// One image: a file, or half of one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Source {
    /// The file.
    pub path: PathBuf,
    /// The part of it.
    pub part: Part,
}

/// The images of one domain.
pub type Domain = Vec<Source>;

/// The image files directly in `dir`, sorted by name. An error if there are none, and an error
/// naming the entry if a name with an image extension is not a readable regular file (a
/// folder, a FIFO, a dangling link or a link loop): such entries are never skipped silently.
pub fn list_images(dir: &Path) -> Result<Vec<PathBuf>> {
    let (files, unusable) = scan_images(dir)?;
    match unusable.into_iter().next() {
        Some(error) => Err(error),
        None => Ok(files),
    }
}

/// The image files directly in `dir`, sorted by name, and the entries named as images that
/// cannot be read as files (each an error naming it). An error if `dir` cannot be listed or
/// holds no image.
pub fn scan_images(dir: &Path) -> Result<(Vec<PathBuf>, Vec<Error>)> {
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
    let mut files = Vec::new();
    let mut unusable = Vec::new();
    for entry in entries {
        let path = entry.map_err(|e| Error::io(dir, e))?.path();
        let is_image = path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| IMAGE_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()));
        if !is_image {
            continue;
        }
        // `metadata` follows links: a dangling link or a loop is an error here.
        match std::fs::metadata(&path) {
            Ok(meta) if meta.is_file() => files.push(path),
            Ok(meta) => {
                let what = if meta.is_dir() {
                    "a folder"
                } else {
                    "not a regular file (a FIFO, socket or device)"
                };
                unusable.push(Error::Data {
                    path,
                    reason: format!("named as an image but is {what}"),
                });
            }
            Err(e) => unusable.push(Error::Data {
                reason: format!("cannot be read: {e}"),
                path,
            }),
        }
    }
    if files.is_empty() && unusable.is_empty() {
        return Err(Error::Data {
            path: dir.to_path_buf(),
            reason: format!(
                "no images here (looked for {})",
                IMAGE_EXTENSIONS.join(", ")
            ),
        });
    }
    files.sort();
    Ok((files, unusable))
}

fn whole(files: Vec<PathBuf>) -> Domain {
    files
        .into_iter()
        .map(|path| Source {
            path,
            part: Part::Whole,
        })
        .collect()
}

/// The files of `a` and `b` whose file names occur in both, as pairs in name order: folders of
/// paired data name each pair's two images alike (`trainA/x.png`, `trainB/x.png`), as
/// `discogan eval` pairs test images. An error naming both folders if no name is shared.
fn same_names(
    a: Vec<PathBuf>,
    b: Vec<PathBuf>,
    dir_a: &Path,
    dir_b: &Path,
) -> Result<(Vec<PathBuf>, Vec<PathBuf>)> {
    let name = |p: &PathBuf| p.file_name().map(|s| s.to_os_string());
    let by_name: std::collections::BTreeMap<_, _> =
        b.into_iter().filter_map(|p| Some((name(&p)?, p))).collect();
    let pairs: Vec<(PathBuf, PathBuf)> = a
        .into_iter()
        .filter_map(|p| {
            let partner = by_name.get(&name(&p)?)?.clone();
            Some((p, partner))
        })
        .collect();
    if pairs.is_empty() {
        return Err(Error::Data {
            path: dir_a.to_path_buf(),
            reason: format!(
                "data.paired: no image here has a namesake in {}, so there are no pairs",
                dir_b.display()
            ),
        });
    }
    Ok(pairs.into_iter().unzip())
}

fn halves(files: &[PathBuf], part: Part) -> Domain {
    files
        .iter()
        .map(|path| Source {
            path: path.clone(),
            part,
        })
        .collect()
}

/// Training and held-out images of both domains.
#[derive(Debug)]
pub struct Dataset {
    /// Training images of A.
    pub train_a: Domain,
    /// Training images of B.
    pub train_b: Domain,
    /// Held-out images of A (same names as `test_b` where the data are paired).
    pub test_a: Domain,
    /// Held-out images of B.
    pub test_b: Domain,
    /// Whether `train_a[i]` and `train_b[i]` are a true pair.
    pub paired: bool,
    /// Whether the held-out sets are images of their own (else they are the training images,
    /// for sample grids only).
    pub held_out: bool,
    /// Entries named as images that are not readable files (links to nothing, folders,
    /// FIFOs), left out of the domains; [`open_dataset`] reports or skips them.
    pub unusable: Vec<Error>,
    /// Files left out as unreadable when opened with `skip_bad` (see [`open_dataset`]).
    pub skipped: Vec<PathBuf>,
}

impl Dataset {
    /// Finds the files that `config` names; `root` is the dataset folder.
    pub fn open(config: &DataConfig, root: &Path, seed: u64) -> Result<Self> {
        match config.layout {
            Layout::Unaligned => {
                let dir = |given: &Option<PathBuf>, name: &str| {
                    given.clone().unwrap_or_else(|| root.join(name))
                };
                let (dir_a, dir_b) = (
                    dir(&config.train_a, "trainA"),
                    dir(&config.train_b, "trainB"),
                );
                let mut unusable = Vec::new();
                let mut scan = |dir: &Path| -> Result<Vec<PathBuf>> {
                    let (files, bad) = scan_images(dir)?;
                    unusable.extend(bad);
                    Ok(files)
                };
                let (mut files_a, mut files_b) = (scan(&dir_a)?, scan(&dir_b)?);
                if config.paired {
                    (files_a, files_b) = same_names(files_a, files_b, &dir_a, &dir_b)?;
                }
                let (train_a, train_b) = (whole(files_a), whole(files_b));
                // Held-out images are optional; without them the grids show training images.
                let mut held_out = true;
                let mut test = |given: &Option<PathBuf>, name: &str, fallback: &Domain| {
                    let path = dir(given, name);
                    if given.is_none() && !path.exists() {
                        held_out = false;
                        Ok(fallback.clone())
                    } else {
                        scan(&path).map(whole)
                    }
                };
                let (test_a, test_b) = (
                    test(&config.test_a, "testA", &train_a)?,
                    test(&config.test_b, "testB", &train_b)?,
                );
                Ok(Self {
                    test_a,
                    test_b,
                    train_a,
                    train_b,
                    paired: config.paired,
                    held_out,
                    unusable,
                    skipped: Vec::new(),
                })
            }
            Layout::Aligned => {
                let (train, mut unusable) = scan_images(&root.join("train"))?;
                let test_dir = ["test", "val"]
                    .iter()
                    .map(|d| root.join(d))
                    .find(|d| d.is_dir());
                let held_out = test_dir.is_some();
                let test = match test_dir {
                    Some(dir) => {
                        let (files, bad) = scan_images(&dir)?;
                        unusable.extend(bad);
                        files
                    }
                    None => train.clone(),
                };
                let (train_a, train_b) = if config.paired {
                    (halves(&train, Part::Left), halves(&train, Part::Right))
                } else {
                    // As the official code: A from one half of the files, B from the other, so
                    // that no training pair is ever seen.
                    let order = SplitMix64::new(&[seed, 0xa119]).permutation(train.len());
                    let (first, second) = order.split_at(train.len() / 2);
                    let pick =
                        |idx: &[usize]| idx.iter().map(|&i| train[i].clone()).collect::<Vec<_>>();
                    (
                        halves(&pick(first), Part::Left),
                        halves(&pick(second), Part::Right),
                    )
                };
                if train_a.is_empty() || train_b.is_empty() {
                    return Err(Error::Data {
                        path: root.join("train"),
                        reason: "unpaired training needs at least two aligned images".into(),
                    });
                }
                Ok(Self {
                    train_a,
                    train_b,
                    test_a: halves(&test, Part::Left),
                    test_b: halves(&test, Part::Right),
                    paired: config.paired,
                    held_out,
                    unusable,
                    skipped: Vec::new(),
                })
            }
        }
    }

    /// Checks every file's header (format and size) up front, so that a bad file is reported
    /// before training rather than hours into it. Returns the bad files with the reason.
    pub fn check_headers(&self) -> Vec<Error> {
        let mut paths: Vec<&Path> = [&self.train_a, &self.train_b, &self.test_a, &self.test_b]
            .iter()
            .flat_map(|d| d.iter().map(|s| s.path.as_path()))
            .collect();
        paths.sort();
        paths.dedup();
        paths
            .par_iter()
            .filter_map(|path| check_header(path).err())
            .collect()
    }

    /// Removes the files in `bad` from every domain.
    pub fn without(&mut self, bad: &[PathBuf]) {
        for domain in [
            &mut self.train_a,
            &mut self.train_b,
            &mut self.test_a,
            &mut self.test_b,
        ] {
            domain.retain(|s| !bad.contains(&s.path));
        }
    }

    /// Batches per epoch.
    pub fn batches_per_epoch(&self, batch: usize) -> u64 {
        let n = self.train_a.len().min(self.train_b.len());
        (n / batch).max(1) as u64
    }

    /// The (A, B) training indices of `iteration`: each epoch walks a fresh permutation of
    /// each domain (one shared permutation when paired).
    pub fn batch_indices(
        &self,
        seed: u64,
        iteration: u64,
        batch: usize,
    ) -> (Vec<usize>, Vec<usize>) {
        let per_epoch = self.batches_per_epoch(batch);
        let (epoch, k) = (iteration / per_epoch, (iteration % per_epoch) as usize);
        let take = |len: usize, domain: u64| -> Vec<usize> {
            let order = SplitMix64::new(&[seed, 0x0d3d, epoch, domain]).permutation(len);
            (0..batch).map(|j| order[(k * batch + j) % len]).collect()
        };
        let a = take(self.train_a.len(), 0);
        let b = if self.paired {
            a.clone()
        } else {
            take(self.train_b.len(), 1)
        };
        (a, b)
    }
}

/// Opens the dataset `config` names (the embedded emoji when it names none), checking every
/// file's header up front so that a bad file is reported before training. A bad file is an
/// error listing the first few, unless `config.skip_bad`: then each is left out with a warning
/// and listed in [`Dataset::skipped`].
pub fn open_dataset(config: &DataConfig, seed: u64) -> Result<Dataset> {
    let root = config.root.clone().unwrap_or_else(super::embedded_emoji);
    let mut dataset = Dataset::open(config, &root, seed)?;
    let mut bad = std::mem::take(&mut dataset.unusable);
    bad.extend(dataset.check_headers());
    if bad.is_empty() {
        return Ok(dataset);
    }
    if !config.skip_bad {
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
    dataset.skipped = paths;
    for (name, domain) in [("A", &dataset.train_a), ("B", &dataset.train_b)] {
        if domain.is_empty() {
            return Err(Error::Data {
                path: root.clone(),
                reason: format!("no readable training image left in domain {name}"),
            });
        }
    }
    Ok(dataset)
}
