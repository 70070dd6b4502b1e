//! 2-D Gaussian mixtures, and how translated samples fall on the target modes.

use serde::Serialize;

use crate::rng::SplitMix64;

/// Equal-weight isotropic Gaussians around `centres`.
#[derive(Clone, Debug, PartialEq)]
pub struct Mixture {
    /// Mode centres.
    pub centres: Vec<[f32; 2]>,
    /// Standard deviation of every mode.
    pub sigma: f32,
}

impl Mixture {
    /// `modes` centres on a circle of `radius`.
    pub fn ring(modes: usize, radius: f32, sigma: f32) -> Self {
        let centres = (0..modes)
            .map(|k| {
                let t = std::f32::consts::TAU * k as f32 / modes as f32;
                [radius * t.cos(), radius * t.sin()]
            })
            .collect();
        Self { centres, sigma }
    }

    /// `modes` centres on a grid two rows high, `spacing` apart, centred on the origin.
    pub fn grid(modes: usize, spacing: f32, sigma: f32) -> Self {
        let cols = modes.div_ceil(2);
        let centres = (0..modes)
            .map(|k| {
                let (row, col) = (k / cols, k % cols);
                [
                    (col as f32 - (cols as f32 - 1.0) / 2.0) * spacing,
                    (row as f32 - 0.5) * spacing,
                ]
            })
            .collect();
        Self { centres, sigma }
    }

    /// `n` samples and the mode each came from (Box-Muller noise).
    pub fn sample(&self, n: usize, rng: &mut SplitMix64) -> (Vec<[f32; 2]>, Vec<usize>) {
        let mut points = Vec::with_capacity(n);
        let mut modes = Vec::with_capacity(n);
        for _ in 0..n {
            let m = rng.below(self.centres.len());
            let u1 = ((rng.next_u64() >> 11) as f64 + 1.0) / (1u64 << 53) as f64;
            let u2 = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
            let r = (-2.0 * u1.ln()).sqrt();
            let (s, c) = (std::f64::consts::TAU * u2).sin_cos();
            let c0 = self.centres[m];
            points.push([
                c0[0] + self.sigma * (r * c) as f32,
                c0[1] + self.sigma * (r * s) as f32,
            ]);
            modes.push(m);
        }
        (points, modes)
    }

    /// The mode whose centre is nearest `p`, if within 3σ of it.
    pub fn assign(&self, p: [f32; 2]) -> Option<usize> {
        let (best, dist) = self
            .centres
            .iter()
            .enumerate()
            .map(|(k, c)| (k, ((p[0] - c[0]).powi(2) + (p[1] - c[1]).powi(2)).sqrt()))
            .min_by(|a, b| a.1.total_cmp(&b.1))?;
        (dist <= 3.0 * self.sigma).then_some(best)
    }
}

/// How translated samples cover the target modes.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ModeReport {
    /// Target modes receiving at least 2 % of the samples.
    pub modes_covered: usize,
    /// Target modes in all.
    pub modes: usize,
    /// Whether the source mode → majority target mode map is injective: every source mode has a
    /// majority target mode (some of its samples land on a mode) and no two share one.
    pub one_to_one: bool,
    /// Share of samples landing in their source mode's majority target mode.
    pub purity: f64,
    /// Share of samples within 3σ of some target mode.
    pub quality: f64,
    /// Source mode → its majority target mode (None: all its samples off-mode).
    pub mapping: Vec<Option<usize>>,
}

/// Scores translated `points` (from source modes `sources`, of `source_modes` modes) against
/// the `target` mixture.
pub fn mode_report(
    points: &[[f32; 2]],
    sources: &[usize],
    source_modes: usize,
    target: &Mixture,
) -> ModeReport {
    let modes = target.centres.len();
    let mut hits = vec![vec![0usize; modes]; source_modes];
    let mut per_target = vec![0usize; modes];
    let mut on_mode = 0usize;
    for (p, &s) in points.iter().zip(sources) {
        if let Some(t) = target.assign(*p) {
            hits[s][t] += 1;
            per_target[t] += 1;
            on_mode += 1;
        }
    }
    let n = points.len().max(1) as f64;
    let mapping: Vec<Option<usize>> = hits
        .iter()
        .map(|row| {
            let (best, count) = row
                .iter()
                .enumerate()
                .max_by_key(|&(k, c)| (*c, std::cmp::Reverse(k)))?;
            (*count > 0).then_some(best)
        })
        .collect();
    let mut targets: Vec<usize> = mapping.iter().flatten().copied().collect();
    let mapped = targets.len();
    targets.sort_unstable();
    targets.dedup();
    let pure: usize = hits
        .iter()
        .zip(&mapping)
        .filter_map(|(row, m)| m.map(|t| row[t]))
        .sum();
    ModeReport {
        modes_covered: per_target.iter().filter(|&&c| c as f64 >= 0.02 * n).count(),
        modes,
        one_to_one: mapped == source_modes && targets.len() == mapped,
        purity: pure as f64 / n,
        quality: on_mode as f64 / n,
        mapping,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_perfect_bijection_scores_perfectly() {
        let a = Mixture::ring(4, 2.0, 0.1);
        let b = Mixture::grid(4, 1.0, 0.1);
        let mut rng = SplitMix64::new(&[1]);
        let (_, sources) = a.sample(400, &mut rng);
        // Send mode k to the centre of target mode 3 - k.
        let points: Vec<[f32; 2]> = sources.iter().map(|&s| b.centres[3 - s]).collect();
        let r = mode_report(&points, &sources, 4, &b);
        assert_eq!((r.modes_covered, r.one_to_one), (4, true));
        assert_eq!((r.purity, r.quality), (1.0, 1.0));
        assert_eq!(r.mapping, vec![Some(3), Some(2), Some(1), Some(0)]);
    }

    #[test]
    fn collapse_and_off_mode_samples_are_seen() {
        let b = Mixture::grid(4, 1.0, 0.1);
        let sources: Vec<usize> = (0..100).map(|i| i % 4).collect();
        // Everything on mode 0, except a quarter far away.
        let points: Vec<[f32; 2]> = sources
            .iter()
            .map(|&s| if s == 3 { [50.0, 50.0] } else { b.centres[0] })
            .collect();
        let r = mode_report(&points, &sources, 4, &b);
        assert_eq!(r.modes_covered, 1);
        assert!(!r.one_to_one);
        assert_eq!(r.quality, 0.75);
        assert_eq!(r.mapping[3], None);
        // Sampling: in 2-D, a share 1 - exp(-9/2) = 98.9 % of samples lie within 3σ.
        let (points, modes) = b.sample(4000, &mut SplitMix64::new(&[2]));
        let near = points
            .iter()
            .zip(&modes)
            .filter(|(p, m)| b.assign(**p) == Some(**m))
            .count();
        let share = near as f64 / 4000.0;
        assert!((share - 0.9889).abs() < 0.006, "{share}");
    }
}
