//! Timing shared by the examples (a folder without `main.rs`: not an example itself).

use std::time::Instant;

/// The fastest of `runs` runs of `f` after one warm-up, in milliseconds.
pub fn best_ms(runs: usize, mut f: impl FnMut()) -> f64 {
    f();
    (0..runs)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed().as_secs_f64() * 1000.0
        })
        .fold(f64::INFINITY, f64::min)
}

/// Runs `run` as the binary runs its command: with its allocator settings and on one of
/// rayon's workers, so that what is timed is what `discogan` runs.
pub fn as_the_binary<R: Send>(run: impl FnOnce() -> R + Send) -> anyhow::Result<R> {
    discogan::malloc::tune();
    Ok(discogan::threads::on_worker(run)?)
}
