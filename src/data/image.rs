//! Reading one image and turning it into network input.

use std::path::Path;

use image::{DynamicImage, GenericImageView, RgbaImage, imageops::FilterType};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::rng::SplitMix64;

/// The file extensions read as images.
pub const IMAGE_EXTENSIONS: [&str; 6] = ["png", "jpg", "jpeg", "webp", "bmp", "jfif"];

/// What to do with an alpha channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum AlphaMode {
    /// Composite over a white background (emoji and icons look as they are displayed).
    #[default]
    White,
    /// Composite over black.
    Black,
}

/// How images become tensors: resize, crop, flip, channels, range.
#[derive(Clone, Debug, PartialEq)]
pub struct Preprocess {
    /// 1 (grey), 3 (RGB) or 4 (RGBA: alpha kept as the 4th channel).
    pub channels: usize,
    /// Side of the network input.
    pub image_size: usize,
    /// Side the image is resized to before cropping (≥ `image_size`).
    pub load_size: usize,
    /// Random crops (else centred).
    pub random_crop: bool,
    /// Random horizontal flips.
    pub flip: bool,
    /// Background for transparent pixels when the alpha channel is not kept.
    pub alpha: AlphaMode,
    /// The pixel range of the networks, e.g. (-1, 1).
    pub range: (f32, f32),
}

fn bad(path: &Path, reason: String) -> Error {
    Error::Data {
        path: path.to_path_buf(),
        reason,
    }
}

/// A reader of `path` whose format is known (from the contents, not the extension).
fn reader(path: &Path) -> Result<image::ImageReader<std::io::BufReader<std::fs::File>>> {
    let reader = image::ImageReader::open(path)
        .map_err(|e| bad(path, format!("cannot open: {e}")))?
        .with_guessed_format()
        .map_err(|e| bad(path, format!("cannot read: {e}")))?;
    if reader.format().is_none() {
        return Err(bad(path, "not an image (unknown format)".into()));
    }
    Ok(reader)
}

fn check_size(path: &Path, (w, h): (u32, u32)) -> Result<()> {
    if w == 0 || h == 0 {
        return Err(bad(path, "zero-size image".into()));
    }
    Ok(())
}

/// Checks the header only (format and size): cheap enough to run over a whole dataset first.
pub fn check_header(path: &Path) -> Result<()> {
    let size = reader(path)?
        .into_dimensions()
        .map_err(|e| bad(path, format!("corrupt image header: {e}")))?;
    check_size(path, size)
}

/// Reads and decodes an image, with errors that name the file.
pub fn open(path: &Path) -> Result<DynamicImage> {
    let img = reader(path)?
        .decode()
        .map_err(|e| bad(path, format!("corrupt or truncated image: {e}")))?;
    check_size(path, img.dimensions())?;
    Ok(img)
}

/// The left or right half of a side-by-side A|B image.
pub fn half(img: &DynamicImage, right: bool, path: &Path) -> Result<DynamicImage> {
    let (w, h) = img.dimensions();
    if w < 2 {
        return Err(Error::Data {
            path: path.to_path_buf(),
            reason: format!("an aligned A|B image needs a width of at least 2, got {w}"),
        });
    }
    let half = w / 2;
    Ok(img.crop_imm(if right { half } else { 0 }, 0, half, h))
}

impl Preprocess {
    /// Resizes, crops, flips and normalises `img` into `[channels, size, size]` values, using
    /// `rng` for the random choices (`None`: centred crop, no flip).
    pub fn apply(&self, img: &DynamicImage, rng: Option<&mut SplitMix64>) -> Vec<f32> {
        let rgba = self.resized(img);
        let (w, h) = rgba.dimensions();
        let size = self.image_size as u32;
        let (mut x0, mut y0) = ((w - size) / 2, (h - size) / 2);
        let mut flip = false;
        if let Some(rng) = rng {
            if self.random_crop {
                x0 = rng.below((w - size + 1) as usize) as u32;
                y0 = rng.below((h - size + 1) as usize) as u32;
            }
            flip = self.flip && rng.coin();
        }
        let (lo, hi) = self.range;
        let plane = (size * size) as usize;
        let mut out = vec![0.0f32; self.channels * plane];
        let background = match self.alpha {
            AlphaMode::White => 1.0,
            AlphaMode::Black => 0.0,
        };
        for y in 0..size {
            for x in 0..size {
                let sx = if flip { size - 1 - x } else { x };
                let p = rgba.get_pixel(x0 + sx, y0 + y).0;
                let unit = |v: u8| f32::from(v) / 255.0;
                let alpha = unit(p[3]);
                let over = |v: u8| unit(v) * alpha + background * (1.0 - alpha);
                let pixel: [f32; 4] = match self.channels {
                    // Straight (unassociated) colour plus alpha, as stored.
                    4 => [unit(p[0]), unit(p[1]), unit(p[2]), alpha],
                    3 => [over(p[0]), over(p[1]), over(p[2]), 0.0],
                    // ITU-R BT.601 luma, as `image`'s grey conversion.
                    _ => [
                        0.299 * over(p[0]) + 0.587 * over(p[1]) + 0.114 * over(p[2]),
                        0.0,
                        0.0,
                        0.0,
                    ],
                };
                let i = (y * size + x) as usize;
                for c in 0..self.channels {
                    out[c * plane + i] = lo + pixel[c] * (hi - lo);
                }
            }
        }
        out
    }

    fn resized(&self, img: &DynamicImage) -> RgbaImage {
        let rgba = img.to_rgba8();
        let target = self.load_size.max(self.image_size) as u32;
        if rgba.width() == target && rgba.height() == target {
            rgba
        } else {
            image::imageops::resize(&rgba, target, target, FilterType::CatmullRom)
        }
    }
}

/// Turns `[channels, h, w]` values in `range` back into an 8-bit image (RGBA for 4 channels).
pub fn to_image(
    values: &[f32],
    channels: usize,
    size: (u32, u32),
    range: (f32, f32),
) -> DynamicImage {
    let (w, h) = size;
    let plane = (w * h) as usize;
    let (lo, hi) = range;
    let byte = |c: usize, i: usize| -> u8 {
        let unit = ((values[c * plane + i] - lo) / (hi - lo)).clamp(0.0, 1.0);
        (unit * 255.0).round() as u8
    };
    match channels {
        1 => DynamicImage::ImageLuma8(image::GrayImage::from_fn(w, h, |x, y| {
            image::Luma([byte(0, (y * w + x) as usize)])
        })),
        3 => DynamicImage::ImageRgb8(image::RgbImage::from_fn(w, h, |x, y| {
            let i = (y * w + x) as usize;
            image::Rgb([byte(0, i), byte(1, i), byte(2, i)])
        })),
        _ => DynamicImage::ImageRgba8(RgbaImage::from_fn(w, h, |x, y| {
            let i = (y * w + x) as usize;
            image::Rgba([byte(0, i), byte(1, i), byte(2, i), byte(3, i)])
        })),
    }
}
