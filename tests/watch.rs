//! Watching a run: its TensorBoard events hold what `metrics.jsonl`, the sample grids and
//! `config.toml` hold (also after a resume and a torn record), `discogan report` rebuilds both
//! for a run without them, and the report page loads in a real browser with its pictures.

mod runs;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use discogan::config::Config;
use discogan::rundir::RunDir;
use discogan::watch::scalar_tag;
use discogan::watch::tensorboard::{
    CONFIG_TAG, Entry, EntryValue, FILE_NAME, SAMPLES_TAG, config_markdown, read,
};
use runs::*;

/// A short run that logs every iteration, scores the held-out set and makes sample grids.
fn watched_config(iterations: u64) -> Config {
    let mut config = small_config(iterations);
    config.train.log_every = 1;
    config.train.sample_every = 2;
    config.train.eval_every = 2;
    config.train.checkpoint_every = 2;
    config.train.keep_checkpoints = 10;
    config
}

/// Checks that the run's events are exactly its metrics lines (each number once, at the
/// line's iteration), its sample grids (byte for byte, at the iterations done) and, as text,
/// its configuration.
fn assert_events_hold_the_run(run: &Path) {
    let entries = read(&RunDir::new(run).tensorboard()).unwrap();
    let mut scalars: BTreeMap<(String, u64), Vec<f32>> = BTreeMap::new();
    let mut images: BTreeMap<u64, Vec<&Entry>> = BTreeMap::new();
    let mut texts = Vec::new();
    for entry in &entries {
        match &entry.value {
            EntryValue::Scalar(x) => scalars
                .entry((entry.tag.clone(), entry.step))
                .or_default()
                .push(*x),
            EntryValue::Image { .. } => {
                assert_eq!(entry.tag, SAMPLES_TAG);
                images.entry(entry.step).or_default().push(entry);
            }
            EntryValue::Text(text) => {
                assert_eq!(entry.tag, CONFIG_TAG);
                texts.push(text.clone());
            }
            EntryValue::Other => panic!("unexpected entry {entry:?}"),
        }
    }

    let mut expected: BTreeMap<(String, u64), Vec<f32>> = BTreeMap::new();
    for line in metric_lines(run) {
        let iteration = line["iteration"].as_u64().unwrap();
        for (key, value) in line.as_object().unwrap() {
            if let (Some(tag), Some(x)) = (scalar_tag(key), value.as_f64()) {
                expected.entry((tag, iteration)).or_default().push(x as f32);
            }
        }
    }
    assert!(expected.keys().any(|(tag, _)| tag == "heldout/a2b_l1"));
    assert!(expected.keys().any(|(tag, _)| tag == "train/lr"));
    assert_eq!(
        scalars, expected,
        "every number of metrics.jsonl once, at its iteration"
    );

    let grids = RunDir::new(run).sample_grids().unwrap();
    assert!(!grids.is_empty());
    assert_eq!(
        images.keys().copied().collect::<Vec<u64>>(),
        grids.iter().map(|g| g.0).collect::<Vec<u64>>(),
        "one image per sample grid"
    );
    for (done, path) in &grids {
        let [entry] = images[done].as_slice() else {
            panic!("{} images at step {done}", images[done].len());
        };
        let grid = image::open(path).unwrap();
        assert_eq!(
            entry.value,
            EntryValue::Image {
                encoded: fs::read(path).unwrap(),
                width: grid.width(),
                height: grid.height(),
            },
            "{}",
            path.display()
        );
    }

    // Each process writes the configuration it ran with; the last one is config.toml.
    let config = fs::read_to_string(run.join("config.toml")).unwrap();
    assert_eq!(texts.last(), Some(&config_markdown(&config)));
}

#[test]
fn tensorboard_holds_the_metrics_the_grids_and_the_config() {
    let dir = tempfile::tempdir().unwrap();
    run_in_process(&watched_config(4), dir.path(), false);
    assert_events_hold_the_run(dir.path());
    assert!(dir.path().join("index.html").is_file());
}

#[test]
fn a_resumed_run_has_each_step_once_even_after_a_torn_record() {
    let dir = tempfile::tempdir().unwrap();
    let run = RunDir::new(dir.path());
    run_in_process(&watched_config(4), dir.path(), false);
    let uninterrupted = read(&run.tensorboard()).unwrap();
    // As if the process had died after logging iterations 2 and 3 but before its checkpoint
    // at 4, in the middle of appending an event: the run goes on from the checkpoint at 2.
    fs::remove_dir_all(run.checkpoints().dir().join("iter-000000004")).unwrap();
    let events = run.tensorboard().join(FILE_NAME);
    let mut bytes = fs::read(&events).unwrap();
    // The first 25 bytes of an event (the configuration's): its length, its checksum and
    // part of it.
    let record = read_second_record(&bytes);
    bytes.extend_from_slice(&record[..25]);
    fs::write(&events, &bytes).unwrap();
    assert!(read(&run.tensorboard()).is_err(), "the torn record is seen");

    let grid_4 = run.samples().join("iter-000000004.png");
    let abandoned_grid = fs::read(&grid_4).unwrap();
    let config = watched_config(4);
    train_in_process(&config, dir.path(), true).unwrap();
    assert_events_hold_the_run(dir.path());
    // The grid the stopped process drew after the checkpoint is kept aside, not shown as the
    // resumed run's (which drew its own at 4).
    let aside = run
        .samples()
        .join("abandoned/resumed-at-000000002/iter-000000004.png");
    assert_eq!(fs::read(&aside).unwrap(), abandoned_grid);
    assert!(grid_4.is_file());

    // Exact resume: the same numbers as the uninterrupted run, step by step.
    let resumed = read(&run.tensorboard()).unwrap();
    let scalars = |entries: &[Entry]| -> BTreeMap<(String, u64), EntryValue> {
        entries
            .iter()
            .filter(|e| matches!(e.value, EntryValue::Scalar(_)))
            .filter(|e| e.tag != "train/iterations_per_s")
            .map(|e| ((e.tag.clone(), e.step), e.value.clone()))
            .collect()
    };
    assert_eq!(scalars(&resumed), scalars(&uninterrupted));
    let config_texts = resumed.iter().filter(|e| e.tag == CONFIG_TAG).count();
    assert_eq!(config_texts, 2, "each process says what it ran with");
}

/// The bytes of the second record of an event file (the first after the header).
fn read_second_record(file: &[u8]) -> Vec<u8> {
    let record_len = |at: usize| {
        let len = u64::from_le_bytes(file[at..at + 8].try_into().unwrap()) as usize;
        8 + 4 + len + 4
    };
    let second = record_len(0);
    file[second..second + record_len(second)].to_vec()
}

#[test]
fn report_rebuilds_the_page_and_the_events_of_a_run_without_them() {
    let dir = tempfile::tempdir().unwrap();
    let run = RunDir::new(dir.path());
    run_in_process(&watched_config(4), dir.path(), false);
    let page = fs::read_to_string(run.report()).unwrap();
    fs::remove_file(run.report()).unwrap();
    fs::remove_dir_all(run.tensorboard()).unwrap();

    let out = succeed({
        let mut cmd = binary();
        cmd.arg("report").arg(dir.path());
        cmd
    });
    assert!(
        out.contains("index.html") && out.contains(FILE_NAME),
        "{out}"
    );
    assert_events_hold_the_run(dir.path());
    // In step order, as training writes them (TensorBoard purges what follows a step that
    // goes back).
    let steps: Vec<u64> = read(&run.tensorboard())
        .unwrap()
        .iter()
        .map(|e| e.step)
        .collect();
    assert!(steps.is_sorted(), "{steps:?}");
    // The same page (the run had ended when it was last written).
    assert_eq!(fs::read_to_string(run.report()).unwrap(), page);

    // A folder that is not a run: an error naming what is missing.
    let empty = tempfile::tempdir().unwrap();
    let out = binary().arg("report").arg(empty.path()).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("config.toml"), "{err}");
    let missing = empty.path().join("typo");
    let out = binary().arg("report").arg(&missing).output().unwrap();
    assert!(!out.status.success());
    assert!(!missing.exists(), "a mistyped run folder is not created");
}

/// Chromium, where the machine has it: `DISCOGAN_CHROMIUM`, or `chromium` on the PATH. With
/// `DISCOGAN_REQUIRE_BROWSER` set (CI sets it), a missing browser fails the test.
fn chromium() -> Option<PathBuf> {
    let found = std::env::var_os("DISCOGAN_CHROMIUM")
        .map(PathBuf::from)
        .or_else(|| {
            ["chromium", "chromium-browser", "google-chrome"]
                .iter()
                .find(|name| {
                    Command::new(name)
                        .arg("--version")
                        .output()
                        .is_ok_and(|o| o.status.success())
                })
                .map(PathBuf::from)
        });
    if found.is_none() {
        assert!(
            std::env::var_os("DISCOGAN_REQUIRE_BROWSER").is_none(),
            "DISCOGAN_REQUIRE_BROWSER is set and no Chromium was found"
        );
        eprintln!("SKIPPED: no Chromium (apt-get install chromium) to open the report page in");
    }
    found
}

/// Headless Chromium as the probe of this machine's kind starts it: no network services, a
/// fresh profile.
fn headless(browser: &Path, profile: &Path) -> Command {
    let mut cmd = Command::new(browser);
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
        "--virtual-time-budget=10000",
    ])
    .arg(format!("--user-data-dir={}", profile.display()));
    cmd
}

/// What a browser makes of the page at `page`: a copy of it with a probe script beside it (the
/// page itself has no script) reports every image's load state, every chart's drawn size and
/// every error event, which `--dump-dom` hands back.
fn probe(browser: &Path, page: &Path) -> serde_json::Value {
    const PROBE: &str = r#"<script>
window.__errors = [];
window.addEventListener('error', e => window.__errors.push(String(e.target.src || e.message)), true);
window.addEventListener('load', () => {
  const out = {
    images: [...document.images].map(i => [i.getAttribute('src'), i.complete && i.naturalWidth > 0]),
    charts: [...document.querySelectorAll('svg')].map(s => { const b = s.getBoundingClientRect(); return [b.width, b.height, [...s.querySelectorAll('polyline[stroke-width="2"]')].map(l => l.getAttribute('points').trim().split(/\s+/).length)]; }),
    errors: window.__errors,
  };
  const pre = document.createElement('pre'); pre.id = 'probe'; pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
});
</script>"#;
    let html = fs::read_to_string(page).unwrap();
    let probed = page.with_file_name("probe.html");
    fs::write(
        &probed,
        html.replacen("<head>", &format!("<head>\n{PROBE}"), 1),
    )
    .unwrap();
    let profile = tempfile::tempdir().unwrap();
    let out = headless(browser, profile.path())
        .arg("--dump-dom")
        .arg(format!("file://{}", probed.display()))
        .output()
        .unwrap();
    fs::remove_file(&probed).unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dom = String::from_utf8_lossy(&out.stdout);
    let start = dom.find("<pre id=\"probe\">").expect("the probe ran") + "<pre id=\"probe\">".len();
    let end = start + dom[start..].find("</pre>").unwrap();
    let json = dom[start..end]
        .replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&");
    serde_json::from_str(&json).unwrap()
}

#[test]
fn the_report_page_shows_its_curves_and_grids_in_a_browser() {
    let Some(browser) = chromium() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let run = RunDir::new(dir.path());
    run_in_process(&watched_config(6), dir.path(), false);

    let seen = probe(&browser, &run.report());
    assert_eq!(seen["errors"], serde_json::json!([]), "{seen}");
    let images = seen["images"].as_array().unwrap();
    assert_eq!(images.len(), run.sample_grids().unwrap().len(), "{seen}");
    assert!(
        images.iter().all(|i| i[1] == true),
        "every grid loads: {seen}"
    );
    let charts = seen["charts"].as_array().unwrap();
    // Five losses, six held-out metrics, the learning rate and the speed.
    assert_eq!(charts.len(), 13, "{seen}");
    for chart in charts {
        assert!(chart[0].as_f64().unwrap() > 100.0 && chart[1].as_f64().unwrap() > 100.0);
        // The series are the charts' only lines of width 2 (axes and ticks are thin), each
        // drawn through at least two points.
        let series = chart[2].as_array().unwrap();
        assert!(
            !series.is_empty() && series.iter().all(|n| n.as_u64().unwrap() >= 2),
            "a chart without a curve: {seen}"
        );
    }

    // And a screenshot: not blank, with the first series' colour in it.
    let profile = tempfile::tempdir().unwrap();
    let shot = dir.path().join("screenshot.png");
    let out = headless(&browser, profile.path())
        .arg("--window-size=1300,2400")
        .arg(format!("--screenshot={}", shot.display()))
        .arg(format!("file://{}", run.report().display()))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let shot = image::open(&shot).unwrap().to_rgb8();
    let pixels = shot.pixels().count() as f64;
    let inked = shot.pixels().filter(|p| p.0 != [255, 255, 255]).count() as f64;
    let blue = shot
        .pixels()
        .filter(|p| {
            p.0.iter()
                .zip([31u8, 119, 180])
                .all(|(a, b)| a.abs_diff(b) < 12)
        })
        .count();
    assert!(
        inked / pixels > 0.02,
        "the page is blank: {inked} of {pixels} pixels"
    );
    assert!(
        blue > 200,
        "no curve drawn: {blue} pixels of the first series' colour"
    );

    // The probe sees a grid that does not load.
    let grid = &run.sample_grids().unwrap()[0].1;
    fs::remove_file(grid).unwrap();
    let seen = probe(&browser, &run.report());
    assert!(images_broken(&seen) == 1, "{seen}");
}

fn images_broken(seen: &serde_json::Value) -> usize {
    seen["images"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i[1] != true)
        .count()
}
