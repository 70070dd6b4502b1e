//! Image metrics: L1, PSNR and SSIM against ground truth, retrieval accuracy, and the random
//! baseline's derangement.
//!
//! Images are compared as RGB in [0, 1] with alpha composited over white, at the model's size.

use serde::Serialize;

use crate::rng::SplitMix64;

/// One image: RGB planes in [0, 1], [3, size, size] flattened.
pub type Rgb = Vec<f32>;

/// Mean absolute error.
pub fn l1(a: &[f32], b: &[f32]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| f64::from((x - y).abs()))
        .sum::<f64>()
        / a.len().max(1) as f64
}

/// Peak signal-to-noise ratio in dB for a peak of 1; identical images score 100 (capped, so that
/// averages and JSON stay finite).
pub fn psnr(a: &[f32], b: &[f32]) -> f64 {
    let mse = a
        .iter()
        .zip(b)
        .map(|(x, y)| f64::from(x - y).powi(2))
        .sum::<f64>()
        / a.len().max(1) as f64;
    if mse <= 1e-10 {
        100.0
    } else {
        (10.0 * (1.0 / mse).log10()).min(100.0)
    }
}

/// Structural similarity (Wang et al. 2004): 11x11 Gaussian window (σ = 1.5), K1 = 0.01,
/// K2 = 0.03, data range 1, valid windows only, averaged over windows and the three channels.
pub fn ssim(a: &[f32], b: &[f32], size: usize) -> f64 {
    const RADIUS: usize = 5;
    let window: Vec<f64> = {
        let g: Vec<f64> = (0..=2 * RADIUS)
            .map(|i| (-((i as f64 - RADIUS as f64).powi(2)) / (2.0 * 1.5f64.powi(2))).exp())
            .collect();
        let total: f64 = g.iter().sum();
        g.iter().map(|v| v / total).collect()
    };
    let (c1, c2) = (0.01f64.powi(2), 0.03f64.powi(2));
    let win = 2 * RADIUS + 1;
    if size < win {
        // Too small for the window: one global window.
        return ssim_stats(a, b, None, c1, c2);
    }
    let plane = size * size;
    let channels = a.len() / plane;
    let mut total = 0.0;
    let mut count = 0usize;
    for c in 0..channels {
        let (pa, pb) = (
            &a[c * plane..(c + 1) * plane],
            &b[c * plane..(c + 1) * plane],
        );
        for y0 in 0..=size - win {
            for x0 in 0..=size - win {
                let mut s = [0.0f64; 5]; // E[a], E[b], E[a²], E[b²], E[ab]
                for dy in 0..win {
                    for dx in 0..win {
                        let w = window[dy] * window[dx];
                        let i = (y0 + dy) * size + x0 + dx;
                        let (x, y) = (f64::from(pa[i]), f64::from(pb[i]));
                        s[0] += w * x;
                        s[1] += w * y;
                        s[2] += w * x * x;
                        s[3] += w * y * y;
                        s[4] += w * x * y;
                    }
                }
                total += ssim_formula(s, c1, c2);
                count += 1;
            }
        }
    }
    total / count.max(1) as f64
}

fn ssim_stats(a: &[f32], b: &[f32], _: Option<()>, c1: f64, c2: f64) -> f64 {
    let n = a.len().max(1) as f64;
    let mut s = [0.0f64; 5];
    for (&x, &y) in a.iter().zip(b) {
        let (x, y) = (f64::from(x), f64::from(y));
        s[0] += x / n;
        s[1] += y / n;
        s[2] += x * x / n;
        s[3] += y * y / n;
        s[4] += x * y / n;
    }
    ssim_formula(s, c1, c2)
}

fn ssim_formula(s: [f64; 5], c1: f64, c2: f64) -> f64 {
    let (ma, mb) = (s[0], s[1]);
    let (va, vb, cov) = (s[2] - ma * ma, s[3] - mb * mb, s[4] - ma * mb);
    ((2.0 * ma * mb + c1) * (2.0 * cov + c2)) / ((ma * ma + mb * mb + c1) * (va + vb + c2))
}

/// Mean L1 / PSNR / SSIM of `outputs[i]` against `truths[i]`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct PairScores {
    /// Mean absolute error (lower is better).
    pub l1: f64,
    /// Mean PSNR in dB (higher is better).
    pub psnr: f64,
    /// Mean SSIM (higher is better, 1 for identical images).
    pub ssim: f64,
    /// Share of outputs whose ground truth is their nearest target by L1.
    pub top1: f64,
    /// Share of outputs whose ground truth is among their 5 nearest targets.
    pub top5: f64,
}

/// Scores `outputs` against their ground truths `targets` (same order), with retrieval among
/// all `targets`.
pub fn pair_scores(outputs: &[Rgb], targets: &[Rgb], size: usize) -> PairScores {
    let n = outputs.len().min(targets.len()).max(1) as f64;
    let mean = |f: &dyn Fn(&[f32], &[f32]) -> f64| {
        outputs
            .iter()
            .zip(targets)
            .map(|(o, t)| f(o, t))
            .sum::<f64>()
            / n
    };
    let (top1, top5) = retrieval(outputs, targets);
    PairScores {
        l1: mean(&|a, b| l1(a, b)),
        psnr: mean(&|a, b| psnr(a, b)),
        ssim: mean(&|a, b| ssim(a, b, size)),
        top1,
        top5,
    }
}

/// Top-1 and top-5 retrieval accuracy: for each output `i`, whether `targets[i]` is the nearest
/// (or among the 5 nearest) of all targets by L1. Ties count against the output.
pub fn retrieval(outputs: &[Rgb], targets: &[Rgb]) -> (f64, f64) {
    let n = outputs.len().min(targets.len());
    if n == 0 {
        return (0.0, 0.0);
    }
    let mut hits = (0usize, 0usize);
    for (i, output) in outputs.iter().take(n).enumerate() {
        let truth = l1(output, &targets[i]);
        let closer = targets
            .iter()
            .enumerate()
            .filter(|&(j, t)| j != i && l1(output, t) <= truth)
            .count();
        hits.0 += usize::from(closer == 0);
        hits.1 += usize::from(closer < 5);
    }
    (hits.0 as f64 / n as f64, hits.1 as f64 / n as f64)
}

/// A fixed derangement of `0..n` (no index maps to itself when n > 1): the "random target".
pub fn random_other(n: usize, seed: u64) -> Vec<usize> {
    if n < 2 {
        return (0..n).collect();
    }
    let order = SplitMix64::new(&[seed, 0xe7a1]).permutation(n);
    // Each element takes its successor in a random cycle: never itself.
    let mut map = vec![0; n];
    for k in 0..n {
        map[order[k]] = order[(k + 1) % n];
    }
    map
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(f: impl Fn(usize) -> f32, size: usize) -> Rgb {
        (0..3 * size * size).map(f).collect()
    }

    #[test]
    fn identical_images_score_perfectly() {
        let a = image(|i| (i % 7) as f32 / 7.0, 16);
        assert_eq!(l1(&a, &a), 0.0);
        assert_eq!(psnr(&a, &a), 100.0);
        assert!((ssim(&a, &a, 16) - 1.0).abs() < 1e-12);
    }

    #[test]
    fn known_differences() {
        let black = image(|_| 0.0, 16);
        let grey = image(|_| 0.5, 16);
        assert!((l1(&black, &grey) - 0.5).abs() < 1e-12);
        // MSE 0.25: PSNR = 10 log10(4) = 6.0206 dB.
        assert!((psnr(&black, &grey) - 6.020_599_913).abs() < 1e-6);
        // Constant images: SSIM = (2·0·0.5 + C1) / (0 + 0.25 + C1) = C1 / (0.25 + C1).
        let c1 = 1e-4;
        assert!((ssim(&black, &grey, 16) - c1 / (0.25 + c1)).abs() < 1e-9);
        // Noise lowers SSIM below 1.
        let noisy = image(|i| 0.5 + if i % 2 == 0 { 0.1 } else { -0.1 }, 16);
        assert!(ssim(&grey, &noisy, 16) < 0.5);
    }

    #[test]
    fn retrieval_of_a_known_permutation() {
        let targets: Vec<Rgb> = (0..6).map(|k| image(|_| k as f32 / 6.0, 4)).collect();
        assert_eq!(retrieval(&targets, &targets), (1.0, 1.0));
        // Each output is exactly another target: its own truth is never the nearest.
        let shifted: Vec<Rgb> = (0..6).map(|k| targets[(k + 3) % 6].clone()).collect();
        let (top1, top5) = retrieval(&shifted, &targets);
        assert_eq!(top1, 0.0);
        // With 6 targets the truth is always among the 5 nearest except when it is the farthest.
        assert!(top5 < 1.0 && top5 > 0.0);
    }

    #[test]
    fn random_other_never_maps_to_itself() {
        for n in [2, 3, 10, 101] {
            let map = random_other(n, 4);
            assert!(map.iter().enumerate().all(|(i, &j)| i != j));
            let mut sorted = map.clone();
            sorted.sort_unstable();
            assert_eq!(sorted, (0..n).collect::<Vec<_>>());
        }
    }
}
