//! A picture of one toy run, like the paper's figure: the discriminator's output as the
//! background, the target modes, and the translated samples coloured by their source mode.

use image::{Rgb, RgbImage};

use super::mixture::Mixture;

const SIDE: u32 = 400;

/// Ten distinguishable colours (the source modes cycle through them).
const PALETTE: [[u8; 3]; 10] = [
    [230, 25, 75],
    [60, 180, 75],
    [0, 130, 200],
    [245, 130, 48],
    [145, 30, 180],
    [70, 240, 240],
    [240, 50, 230],
    [210, 245, 60],
    [128, 0, 0],
    [0, 0, 128],
];

/// The plotted square: the target modes with a margin.
pub fn bounds(target: &Mixture) -> ([f32; 2], f32) {
    let (mut lo, mut hi) = ([f32::MAX; 2], [f32::MIN; 2]);
    for c in &target.centres {
        for k in 0..2 {
            lo[k] = lo[k].min(c[k]);
            hi[k] = hi[k].max(c[k]);
        }
    }
    let span = (hi[0] - lo[0]).max(hi[1] - lo[1]) + 2.0;
    let centre = [(lo[0] + hi[0]) / 2.0, (lo[1] + hi[1]) / 2.0];
    ([centre[0] - span / 2.0, centre[1] - span / 2.0], span)
}

/// The points of the pixel grid (row-major, `SIDE` x `SIDE`) where the background is sampled.
pub fn grid_points(target: &Mixture) -> Vec<[f32; 2]> {
    let (origin, span) = bounds(target);
    (0..SIDE * SIDE)
        .map(|i| {
            let (x, y) = (i % SIDE, i / SIDE);
            [
                origin[0] + (x as f32 + 0.5) / SIDE as f32 * span,
                origin[1] + (1.0 - (y as f32 + 0.5) / SIDE as f32) * span,
            ]
        })
        .collect()
}

/// Draws the run: `realness[i]` is D's probability at `grid_points()[i]`.
pub fn plot(
    target: &Mixture,
    realness: &[f32],
    points: &[[f32; 2]],
    sources: &[usize],
) -> RgbImage {
    let (origin, span) = bounds(target);
    let mut img = RgbImage::from_fn(SIDE, SIDE, |x, y| {
        let p = realness
            .get((y * SIDE + x) as usize)
            .copied()
            .unwrap_or(0.5);
        let v = (140.0 + 115.0 * p.clamp(0.0, 1.0)) as u8;
        Rgb([v, v, v])
    });
    let to_pixel = |p: [f32; 2]| -> Option<(i64, i64)> {
        let x = ((p[0] - origin[0]) / span * SIDE as f32) as i64;
        let y = ((1.0 - (p[1] - origin[1]) / span) * SIDE as f32) as i64;
        (p[0].is_finite() && p[1].is_finite()).then_some((x, y))
    };
    let mut put = |x: i64, y: i64, c: [u8; 3]| {
        if (0..SIDE as i64).contains(&x) && (0..SIDE as i64).contains(&y) {
            img.put_pixel(x as u32, y as u32, Rgb(c));
        }
    };
    // Target modes: a black ring of radius 3σ.
    let radius = 3.0 * target.sigma / span * SIDE as f32;
    for c in &target.centres {
        if let Some((cx, cy)) = to_pixel(*c) {
            for k in 0..64 {
                let t = std::f32::consts::TAU * k as f32 / 64.0;
                put(
                    cx + (radius * t.cos()) as i64,
                    cy + (radius * t.sin()) as i64,
                    [0, 0, 0],
                );
            }
        }
    }
    for (p, &s) in points.iter().zip(sources) {
        if let Some((x, y)) = to_pixel(*p) {
            for (dx, dy) in [(0, 0), (1, 0), (0, 1), (1, 1)] {
                put(x + dx, y + dy, PALETTE[s % PALETTE.len()]);
            }
        }
    }
    img
}
