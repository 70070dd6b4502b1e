//! Watching a run the way ML people do: TensorBoard event files ([`tensorboard`]) and a report
//! page ([`report`]), both written by the run itself from what it already logs: the metrics
//! lines, the sample grids and the resolved configuration. Nothing here computes a number of
//! its own, so TensorBoard, the page and `metrics.jsonl` cannot disagree.

mod plot;
pub mod report;
pub mod tensorboard;

/// The metrics-line keys that are not scalars of their own: the line's iteration (the x axis)
/// and the wall time since the process started (TensorBoard has its own).
const NOT_SCALARS: [&str; 2] = ["iteration", "elapsed_s"];

/// The TensorBoard tag of a metrics-line key, grouped as TensorBoard shows them: `loss_d` →
/// `loss/d`, `heldout_a2b_l1` → `heldout/a2b_l1`, `heldout_raw_a2b_l1` → `heldout_raw/a2b_l1`,
/// anything else (`lr`, `iterations_per_s`) → `train/...`. `None` for the line's iteration and
/// elapsed time.
pub fn scalar_tag(key: &str) -> Option<String> {
    if NOT_SCALARS.contains(&key) {
        return None;
    }
    for group in ["heldout_raw", "heldout", "loss"] {
        if let Some(rest) = key.strip_prefix(group).and_then(|r| r.strip_prefix('_')) {
            return Some(format!("{group}/{rest}"));
        }
    }
    Some(format!("train/{key}"))
}

/// Iterations per second between two points `(iterations done, seconds elapsed)` of one
/// process, if time passed.
pub fn iterations_per_second(from: (u64, f64), to: (u64, f64)) -> Option<f64> {
    let seconds = to.1 - from.1;
    (seconds > 0.0 && to.0 >= from.0).then(|| (to.0 - from.0) as f64 / seconds)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_keys_map_to_grouped_tags() {
        assert_eq!(scalar_tag("loss_d").as_deref(), Some("loss/d"));
        assert_eq!(scalar_tag("loss_cycle").as_deref(), Some("loss/cycle"));
        assert_eq!(
            scalar_tag("heldout_a2b_l1").as_deref(),
            Some("heldout/a2b_l1")
        );
        assert_eq!(
            scalar_tag("heldout_raw_b2a_top1").as_deref(),
            Some("heldout_raw/b2a_top1")
        );
        assert_eq!(scalar_tag("lr").as_deref(), Some("train/lr"));
        assert_eq!(scalar_tag("lossy").as_deref(), Some("train/lossy"));
        assert_eq!(scalar_tag("iteration"), None);
        assert_eq!(scalar_tag("elapsed_s"), None);
    }

    #[test]
    fn speed_needs_time_to_pass() {
        assert_eq!(iterations_per_second((10, 2.0), (30, 12.0)), Some(2.0));
        assert_eq!(iterations_per_second((10, 2.0), (30, 2.0)), None);
        assert_eq!(iterations_per_second((30, 2.0), (10, 12.0)), None);
    }
}
