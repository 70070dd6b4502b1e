//! Translating new images with a trained run.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::tensor::{Device, Tensor, TensorData};
use image::{DynamicImage, imageops::FilterType};

use crate::config::Config;
use crate::data::{Preprocess, list_images, open, to_image};
use crate::error::{Error, Result};
pub use crate::model::Direction;
use crate::model::Generators;
use crate::rundir::{RunDir, Weights, load_generators, write_png};

/// The two generators of a trained run, in inference mode, with the preprocessing they were
/// trained with.
pub struct Translator {
    generators: Generators,
    /// The same generators, B→A as A→B ([`Generators::mirrored`]).
    mirrored: Generators,
    prep: Preprocess,
    device: Device,
}

impl Translator {
    /// The generators of the latest checkpoint of `run` (their moving average when the run kept
    /// one), on `device`.
    pub fn from_run(run: &RunDir, device: &Device) -> Result<Self> {
        Self::from_checkpoint(run, None, Weights::Inference, device)
    }

    /// The generators of `checkpoint` (a folder of `run`'s checkpoints; `None`: the latest)
    /// with the `weights` asked for, on `device`.
    pub fn from_checkpoint(
        run: &RunDir,
        checkpoint: Option<&Path>,
        weights: Weights,
        device: &Device,
    ) -> Result<Self> {
        let config = run.read_config()?;
        let path = match checkpoint {
            Some(path) => path.to_path_buf(),
            None => run.checkpoints().require_latest()?,
        };
        let plain = device.clone().without_autodiff();
        let generators = load_generators(&config.model, &path, weights, &plain)?;
        Ok(Self::new(&generators, &config, device))
    }

    /// `generators` (of a run configured by `config`) in inference mode on `device`.
    pub fn new(generators: &Generators, config: &Config, device: &Device) -> Self {
        let generators = generators.valid();
        Self {
            mirrored: generators.mirrored(),
            generators,
            prep: config.inference_preprocess(),
            device: device.clone().without_autodiff(),
        }
    }

    /// The side of the (square) images the generators make.
    pub fn image_size(&self) -> usize {
        self.prep.image_size
    }

    /// Translates images of any size in `direction`; the results are at the model's size.
    pub fn translate_images(
        &self,
        direction: Direction,
        images: &[DynamicImage],
    ) -> Result<Vec<DynamicImage>> {
        Ok(self.cycle_images(direction, images, false)?.0)
    }

    /// Translates images of any size in `direction` and, with `reconstruct`, each translation
    /// back ([`Generators::cycle`]): (translations, reconstructions), at the model's size.
    pub fn cycle_images(
        &self,
        direction: Direction,
        images: &[DynamicImage],
        reconstruct: bool,
    ) -> Result<(Vec<DynamicImage>, Vec<DynamicImage>)> {
        if images.is_empty() {
            return Ok((Vec::new(), Vec::new()));
        }
        let s = self.prep.image_size;
        let c = self.prep.channels;
        let values: Vec<f32> = images
            .iter()
            .flat_map(|img| self.prep.apply(img, None))
            .collect();
        // [images, channels, size, size]
        let x = Tensor::<4>::from_data(
            TensorData::new(values, [images.len(), c, s, s]),
            &self.device,
        );
        let pair = match direction {
            Direction::AToB => &self.generators,
            Direction::BToA => &self.mirrored,
        };
        let cycle = pair.cycle(&x, None, reconstruct);
        let to_images = |t: Tensor<4>| -> Result<Vec<DynamicImage>> {
            let y = t
                .into_data()
                .try_to_vec::<f32>()
                .map_err(|e| Error::Backend(format!("the translations: {e:?}")))?;
            Ok(y.chunks_exact(c * s * s)
                .map(|tile| to_image(tile, c, (s as u32, s as u32), self.prep.range))
                .collect())
        };
        let reconstructed = match cycle.recov_a {
            Some(recov) => to_images(recov)?,
            None => Vec::new(),
        };
        Ok((to_images(cycle.fake_b)?, reconstructed))
    }

    /// Translates `inputs` (files, or folders of images) in `direction` into PNG files in `out`, named after
    /// the inputs, `batch` images at a time. With `keep_size`, each result is resized back to
    /// its input's size; otherwise it stays at the model's size. An output that would replace
    /// one of the inputs is refused before anything is written. Returns the files written.
    pub fn translate_files(
        &self,
        direction: Direction,
        inputs: &[PathBuf],
        out: &Path,
        keep_size: bool,
        batch: usize,
    ) -> Result<Vec<PathBuf>> {
        let files = expand_inputs(inputs)?;
        let targets = output_names(&files, out)?;
        std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
        let mut written = Vec::with_capacity(files.len());
        for chunk in files
            .iter()
            .zip(&targets)
            .collect::<Vec<_>>()
            .chunks(batch.max(1))
        {
            let images = chunk
                .iter()
                .map(|(path, _)| open(path))
                .collect::<Result<Vec<_>>>()?;
            for ((img, result), (_, target)) in images
                .iter()
                .zip(self.translate_images(direction, &images)?)
                .zip(chunk)
            {
                let result = if keep_size
                    && (img.width(), img.height()) != (result.width(), result.height())
                {
                    result.resize_exact(img.width(), img.height(), FilterType::CatmullRom)
                } else {
                    result
                };
                write_png(target, &result)?;
                written.push(target.to_path_buf());
            }
        }
        Ok(written)
    }
}

/// Files as given, and the images directly inside folders.
fn expand_inputs(inputs: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for input in inputs {
        if input.is_dir() {
            files.extend(list_images(input)?);
        } else if input.is_file() {
            files.push(input.clone());
        } else {
            return Err(Error::Data {
                path: input.clone(),
                reason: "no such file or folder".into(),
            });
        }
    }
    Ok(files)
}

/// `out/<input stem>.png` for each input; two inputs with the same stem, or an output that is
/// one of the inputs, are errors.
fn output_names(files: &[PathBuf], out: &Path) -> Result<Vec<PathBuf>> {
    let mut seen: BTreeMap<PathBuf, &PathBuf> = BTreeMap::new();
    // The inputs as the file system names them, to compare through links and `..`.
    let inputs: Vec<PathBuf> = files
        .iter()
        .filter_map(|f| std::fs::canonicalize(f).ok())
        .collect();
    files
        .iter()
        .map(|file| {
            let stem = file.file_stem().unwrap_or(file.as_os_str());
            let target = out.join(stem).with_extension("png");
            if let Ok(existing) = std::fs::canonicalize(&target)
                && inputs.contains(&existing)
            {
                return Err(Error::Data {
                    path: target,
                    reason: "is one of the inputs; translating would overwrite it (choose \
                             another --out)"
                        .into(),
                });
            }
            if let Some(other) = seen.insert(target.clone(), file) {
                return Err(Error::Data {
                    path: file.clone(),
                    reason: format!(
                        "would overwrite the result of {} ({})",
                        other.display(),
                        target.display()
                    ),
                });
            }
            Ok(target)
        })
        .collect()
}
