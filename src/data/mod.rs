//! Training data: two domains of images, from two folders (unaligned) or from side-by-side A|B
//! images (aligned), with a deterministic order and augmentation.

mod dataset;
mod image;
mod loader;

pub use self::image::{
    AlphaMode, IMAGE_EXTENSIONS, Preprocess, check_header, half, open, to_image,
};
pub use dataset::{Dataset, Domain, Part, Source, list_images, open_dataset, scan_images};
pub use loader::{Batch, BatchLoader, Prefetcher, read};

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// How the two domains are stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Layout {
    /// Two folders of unrelated images (CycleGAN layout: trainA/, trainB/, testA/, testB/).
    #[default]
    Unaligned,
    /// Side-by-side A|B images (pix2pix layout: train/, test/ or val/).
    Aligned,
}

/// Where the data is and how it is read.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DataConfig {
    /// Unaligned or aligned.
    pub layout: Layout,
    /// The dataset folder; unset: the embedded emoji (Google → Twitter).
    pub root: Option<PathBuf>,
    /// Training images of domain A (unaligned; default `root/trainA`).
    pub train_a: Option<PathBuf>,
    /// Training images of domain B (unaligned; default `root/trainB`).
    pub train_b: Option<PathBuf>,
    /// Held-out images of domain A, for sample grids (default `root/testA`).
    pub test_a: Option<PathBuf>,
    /// Held-out images of domain B (default `root/testB`).
    pub test_b: Option<PathBuf>,
    /// Train on true pairs (with the pixelwise loss): the two halves of each aligned A|B file
    /// (instead of splitting the files into an A half and a B half as the official code does),
    /// or, for folders, the files of trainA and trainB with the same file name (others are left out).
    pub paired: bool,
    /// Side images are resized to before cropping; 0: the model's image size.
    pub load_size: usize,
    /// Random crops of `image_size` out of `load_size` (else centred).
    pub random_crop: bool,
    /// Random horizontal flips.
    pub flip: bool,
    /// Background for transparent pixels (RGBA kept only with `model.channels = 4`).
    pub alpha: AlphaMode,
    /// Warn about and skip unreadable images instead of stopping.
    pub skip_bad: bool,
}

impl Default for DataConfig {
    fn default() -> Self {
        Self {
            layout: Layout::Unaligned,
            root: None,
            train_a: None,
            train_b: None,
            test_a: None,
            test_b: None,
            paired: false,
            load_size: 0,
            random_crop: false,
            flip: false,
            alpha: AlphaMode::White,
            skip_bad: false,
        }
    }
}

/// The embedded dataset: emoji in Google (A) and Twitter (B) styles, split by name.
pub fn embedded_emoji() -> PathBuf {
    let relative = PathBuf::from("data/emoji");
    if relative.is_dir() {
        relative
    } else {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data/emoji")
    }
}
