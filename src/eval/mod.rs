//! `discogan eval`: how well a trained run translates a held-out set.
//!
//! For each direction (say A→B): the inputs are the images of the A folder; when files of the
//! two folders correspond by name, each translation is scored against its ground truth (L1,
//! PSNR, SSIM, top-1/top-5 retrieval among all B images), next to the trivial baselines (the
//! input itself, a random other B image); the reconstruction A→B→A is always scored.

mod metrics;

pub use metrics::{PairScores, Rgb, l1, pair_scores, psnr, random_other, retrieval, ssim};

use std::collections::BTreeMap;
use std::path::Path;

use burn::tensor::Device;
use image::DynamicImage;
use serde::Serialize;

use crate::data::{AlphaMode, Preprocess, list_images, open};
use crate::error::Result;
use crate::rundir::{RunDir, Weights};
use crate::translate::{Direction, Translator};

/// Evaluation of one direction.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DirectionReport {
    /// `a2b` or `b2a`.
    pub direction: String,
    /// Input images.
    pub count: usize,
    /// Inputs with a ground truth (same file name in the other folder).
    pub paired: usize,
    /// The model's translations against the ground truth.
    pub model: Option<PairScores>,
    /// The input itself as the translation.
    pub identity: Option<PairScores>,
    /// A random other target image as the translation.
    pub random: Option<PairScores>,
    /// Mean L1 of the reconstruction (A→B→A against A).
    pub reconstruction_l1: f64,
}

/// Images as RGB in [0, 1] over white, at `size`.
fn rgb(images: &[DynamicImage], size: usize) -> Vec<Rgb> {
    let prep = Preprocess {
        channels: 3,
        image_size: size,
        load_size: size,
        random_crop: false,
        flip: false,
        alpha: AlphaMode::White,
        range: (0.0, 1.0),
    };
    images.iter().map(|img| prep.apply(img, None)).collect()
}

/// Translates `images` in `direction` and back, in batches of 32: (translations,
/// reconstructions).
fn there_and_back(
    t: &Translator,
    direction: Direction,
    images: &[DynamicImage],
) -> Result<(Vec<DynamicImage>, Vec<DynamicImage>)> {
    let (mut translated, mut reconstructed) = (Vec::new(), Vec::new());
    for chunk in images.chunks(32) {
        let (there, back) = t.cycle_images(direction, chunk, true)?;
        translated.extend(there);
        reconstructed.extend(back);
    }
    Ok((translated, reconstructed))
}

/// The file name of `path` (what pairs an image with its ground truth).
pub(crate) fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// A held-out image and the name that pairs it with its ground truth in the other domain.
#[derive(Clone, Debug)]
pub struct Named {
    /// The file name (the same in both domains for a ground-truth pair).
    pub name: String,
    /// The image.
    pub image: DynamicImage,
}

/// The images of the folder `dir`, named by file name.
pub fn load_folder(dir: &Path) -> Result<Vec<Named>> {
    list_images(dir)?
        .into_iter()
        .map(|p| {
            Ok(Named {
                name: file_name(&p),
                image: open(&p)?,
            })
        })
        .collect()
}

/// Evaluates `run` (at `checkpoint`, or its latest, with the `weights` asked for) on the
/// folders `a` and `b` in each of `directions`.
pub fn evaluate(
    run: &RunDir,
    checkpoint: Option<&Path>,
    weights: Weights,
    a: &Path,
    b: &Path,
    directions: &[Direction],
    device: &Device,
) -> Result<Vec<DirectionReport>> {
    let translator = Translator::from_checkpoint(run, checkpoint, weights, device)?;
    let (images_a, images_b) = (load_folder(a)?, load_folder(b)?);
    evaluate_images(&translator, &images_a, &images_b, directions)
}

/// Evaluates `translator`'s generators on held-out images of each domain in each of
/// `directions`; images with the same name in both domains are ground-truth pairs.
pub fn evaluate_images(
    translator: &Translator,
    images_a: &[Named],
    images_b: &[Named],
    directions: &[Direction],
) -> Result<Vec<DirectionReport>> {
    Prepared::new(images_a, images_b, directions, translator.image_size()).score(translator)
}

/// Held-out images made ready for scoring generators again and again (during training): the
/// inputs, their ground truth and the baselines' scores, which do not depend on the generators,
/// are computed once.
pub struct Prepared {
    size: usize,
    directions: Vec<Reference>,
}

/// What one direction's scores compare against.
struct Reference {
    /// `a2b` or `b2a`.
    name: &'static str,
    direction: Direction,
    inputs: Vec<DynamicImage>,
    input_rgb: Vec<Rgb>,
    /// The inputs that have a ground truth, and the ground truth of each.
    paired: Vec<usize>,
    truths: Vec<Rgb>,
    identity: Option<PairScores>,
    random: Option<PairScores>,
}

impl Prepared {
    /// Pairs the images of A and B by name and scores the baselines, at the model's `size`.
    pub fn new(
        images_a: &[Named],
        images_b: &[Named],
        directions: &[Direction],
        size: usize,
    ) -> Self {
        let directions = directions
            .iter()
            .map(|&direction| {
                let (name, sources, targets) = match direction {
                    Direction::AToB => ("a2b", images_a, images_b),
                    Direction::BToA => ("b2a", images_b, images_a),
                };
                let inputs: Vec<DynamicImage> = sources.iter().map(|n| n.image.clone()).collect();
                let input_rgb = rgb(&inputs, size);
                // Ground truth: the target image of the same name.
                let by_name: BTreeMap<&str, &DynamicImage> = targets
                    .iter()
                    .map(|n| (n.name.as_str(), &n.image))
                    .collect();
                let paired: Vec<usize> = (0..sources.len())
                    .filter(|&i| by_name.contains_key(sources[i].name.as_str()))
                    .collect();
                let truth_images: Vec<DynamicImage> = paired
                    .iter()
                    .map(|&i| by_name[sources[i].name.as_str()].clone())
                    .collect();
                let truths = rgb(&truth_images, size);
                let (identity, random) = if paired.is_empty() {
                    (None, None)
                } else {
                    let identity: Vec<Rgb> = paired.iter().map(|&i| input_rgb[i].clone()).collect();
                    let random: Vec<Rgb> = random_other(truths.len(), 0)
                        .into_iter()
                        .map(|j| truths[j].clone())
                        .collect();
                    (
                        Some(pair_scores(&identity, &truths, size)),
                        Some(pair_scores(&random, &truths, size)),
                    )
                };
                Reference {
                    name,
                    direction,
                    inputs,
                    input_rgb,
                    paired,
                    truths,
                    identity,
                    random,
                }
            })
            .collect();
        Self { size, directions }
    }

    /// Scores `translator`'s generators.
    pub fn score(&self, translator: &Translator) -> Result<Vec<DirectionReport>> {
        let size = self.size;
        self.directions
            .iter()
            .map(|r| {
                let (translated, reconstructed) =
                    there_and_back(translator, r.direction, &r.inputs)?;
                let reconstruction_l1 = rgb(&reconstructed, size)
                    .iter()
                    .zip(&r.input_rgb)
                    .map(|(x, y)| l1(x, y))
                    .sum::<f64>()
                    / r.inputs.len().max(1) as f64;
                let model = (!r.paired.is_empty()).then(|| {
                    let all = rgb(&translated, size);
                    let outputs: Vec<Rgb> = r.paired.iter().map(|&i| all[i].clone()).collect();
                    pair_scores(&outputs, &r.truths, size)
                });
                Ok(DirectionReport {
                    direction: r.name.into(),
                    count: r.inputs.len(),
                    paired: r.paired.len(),
                    model,
                    identity: r.identity,
                    random: r.random,
                    reconstruction_l1,
                })
            })
            .collect()
    }
}

/// The reports as a plain-text table.
pub fn table(reports: &[DirectionReport]) -> String {
    let mut out = format!(
        "{:<5} {:<9} {:>6} {:>8} {:>7} {:>7} {:>7}\n",
        "dir", "what", "L1", "PSNR", "SSIM", "top1", "top5"
    );
    for r in reports {
        for (what, scores) in [
            ("model", r.model),
            ("identity", r.identity),
            ("random", r.random),
        ] {
            if let Some(s) = scores {
                out += &format!(
                    "{:<5} {:<9} {:>6.4} {:>8.2} {:>7.4} {:>6.1}% {:>6.1}%\n",
                    r.direction,
                    what,
                    s.l1,
                    s.psnr,
                    s.ssim,
                    100.0 * s.top1,
                    100.0 * s.top5
                );
            }
        }
        out += &format!(
            "{:<5} {:<9} {:>6.4}   ({} images, {} with ground truth)\n",
            r.direction, "recon", r.reconstruction_l1, r.count, r.paired
        );
    }
    out
}
