//! Sample grids: rows of images side by side, with a thin white gap.

use image::{DynamicImage, Rgb, RgbImage, imageops};

/// White space between tiles, in pixels.
const GAP: u32 = 2;

/// Lays out `rows` (each a list of equally sized tiles) on a white canvas. Transparent pixels
/// show the white background.
pub fn grid(rows: &[Vec<DynamicImage>]) -> RgbImage {
    let tile = rows
        .iter()
        .flatten()
        .next()
        .map_or((1, 1), |t| (t.width(), t.height()));
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0) as u32;
    let width = cols * (tile.0 + GAP) + GAP;
    let height = rows.len() as u32 * (tile.1 + GAP) + GAP;
    let mut canvas = image::RgbaImage::from_pixel(width, height, image::Rgba([255, 255, 255, 255]));
    for (r, row) in rows.iter().enumerate() {
        for (c, img) in row.iter().enumerate() {
            let x = GAP + c as u32 * (tile.0 + GAP);
            let y = GAP + r as u32 * (tile.1 + GAP);
            imageops::overlay(&mut canvas, &img.to_rgba8(), i64::from(x), i64::from(y));
        }
    }
    RgbImage::from_fn(width, height, |x, y| {
        let p = canvas.get_pixel(x, y).0;
        Rgb([p[0], p[1], p[2]])
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiles_land_where_expected() {
        let red = DynamicImage::ImageRgb8(RgbImage::from_pixel(4, 4, Rgb([255, 0, 0])));
        let blue = DynamicImage::ImageRgb8(RgbImage::from_pixel(4, 4, Rgb([0, 0, 255])));
        let g = grid(&[vec![red.clone(), blue.clone()], vec![blue, red]]);
        assert_eq!(g.dimensions(), (2 * 6 + 2, 2 * 6 + 2));
        assert_eq!(g.get_pixel(0, 0).0, [255, 255, 255]);
        assert_eq!(g.get_pixel(2, 2).0, [255, 0, 0]);
        assert_eq!(g.get_pixel(8, 2).0, [0, 0, 255]);
        assert_eq!(g.get_pixel(2, 8).0, [0, 0, 255]);
    }
}
