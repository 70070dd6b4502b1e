//! A short run of the toy experiment: every metric is computed and every picture written (how
//! good they are is for EXPERIMENTS.md, not for a test).

use burn::tensor::Device;
use discogan::config::Variant;
use discogan::toy::{ToyConfig, run_experiment, table};

#[test]
fn a_short_toy_run_is_scored_and_plotted() {
    let tmp = tempfile::tempdir().unwrap();
    let mut config = ToyConfig {
        seeds: 2,
        samples: 300,
        modes_a: 4,
        modes_b: 6,
        ..ToyConfig::default()
    };
    config.training.iterations = 20;
    config.training.hidden = 16;
    config.training.batch = 32;
    let device = Device::default().autodiff();
    let mut seen = 0;
    let runs = run_experiment(
        &config,
        &[Variant::Gan, Variant::Discogan],
        tmp.path(),
        &device,
        |_| seen += 1,
    )
    .unwrap();
    assert_eq!((runs.len(), seen), (4, 4));
    for run in &runs {
        let r = &run.report;
        assert_eq!(r.modes, 6);
        assert!(r.modes_covered <= 6);
        assert_eq!(r.mapping.len(), 4);
        assert!((0.0..=1.0).contains(&r.purity) && (0.0..=1.0).contains(&r.quality));
        assert!(r.purity <= r.quality, "pure samples are on-mode samples");
        assert!(run.plot.is_file());
        assert_eq!(image::image_dimensions(&run.plot).unwrap(), (400, 400));
    }
    let text = table(&runs);
    assert!(
        text.contains("gan") && text.contains("discogan") && text.contains("mean"),
        "{text}"
    );
}
