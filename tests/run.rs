//! Whole runs: exact resume (in process, after SIGKILL, after Ctrl-C), atomic checkpoints,
//! divergence, translation, and the PyTorch export/import round trip.

mod runs;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use burn::tensor::Device;
use discogan::config::Config;
use discogan::rundir::{Checkpoints, RunDir, Weights};
use runs::*;

#[test]
fn n_then_resume_to_2n_equals_2n_bit_for_bit() {
    let tmp = tempfile::tempdir().unwrap();
    let (whole, split) = (tmp.path().join("whole"), tmp.path().join("split"));
    run_in_process(&small_config(6), &whole, false);
    run_in_process(&small_config(3), &split, false);
    let err = train_in_process(&small_config(6), &split, false).unwrap_err();
    assert!(
        err.to_string().contains("--resume"),
        "a second fresh run into the same folder: {err}"
    );
    run_in_process(&small_config(6), &split, true);
    assert_same_state(&whole, &split);
    assert_eq!(metric_iterations(&whole), metric_iterations(&split));
}

/// A small run of the paper preset, `iterations` long.
fn paper_config(iterations: u64) -> Config {
    let mut c = Config::preset(discogan::Preset::Paper);
    c.model.width = 4;
    c.model.image_size = 32;
    c.train = small_config(iterations).train;
    c.objective.gan_curriculum = 2;
    c
}

#[test]
fn paper_preset_resumes_exactly_too() {
    let tmp = tempfile::tempdir().unwrap();
    let (whole, split) = (tmp.path().join("whole"), tmp.path().join("split"));
    run_in_process(&paper_config(5), &whole, false);
    run_in_process(&paper_config(2), &split, false);
    run_in_process(&paper_config(5), &split, true);
    assert_same_state(&whole, &split);
}

#[test]
fn augmented_runs_resume_exactly() {
    // DiffAugment draws from (seed, iteration, call, image): nothing to save, and a resume
    // augments as the uninterrupted run did.
    let config = |iterations| {
        let mut c = small_config(iterations);
        c.objective.diff_augment = "color,translation,cutout".into();
        c
    };
    let tmp = tempfile::tempdir().unwrap();
    let (whole, split, plain) = (
        tmp.path().join("whole"),
        tmp.path().join("split"),
        tmp.path().join("plain"),
    );
    run_in_process(&config(4), &whole, false);
    run_in_process(&config(2), &split, false);
    run_in_process(&config(4), &split, true);
    assert_same_state(&whole, &split);
    run_in_process(&small_config(4), &plain, false);
    assert_ne!(
        final_state(&whole),
        final_state(&plain),
        "the augmentation changed nothing"
    );
}

/// A small run of the ResNet generator at a side that is not a power of two.
fn resnet_config(iterations: u64) -> Config {
    let mut c = small_config(iterations);
    c.model.architecture = discogan::model::Architecture::Resnet;
    c.model.image_size = 40;
    c.model.residual_blocks = Some(2);
    c
}

#[test]
fn resnet_runs_resume_exactly_and_round_trip_through_pytorch_names() {
    let tmp = tempfile::tempdir().unwrap();
    let (whole, split) = (tmp.path().join("whole"), tmp.path().join("split"));
    run_in_process(&resnet_config(4), &whole, false);
    run_in_process(&resnet_config(2), &split, false);
    run_in_process(&resnet_config(4), &split, true);
    assert_same_state(&whole, &split);
    let config = std::fs::read_to_string(whole.join("config.toml")).unwrap();
    assert!(
        config.contains("architecture = \"resnet\"") && config.contains("residual_blocks = 2"),
        "{config}"
    );

    // Export with PyTorch's names, import into a new run: the same translations.
    let weights = tmp.path().join("weights.safetensors");
    let mut cmd = binary();
    cmd.arg("export").arg(&whole).arg("--out").arg(&weights);
    succeed(cmd);
    let imported = tmp.path().join("imported");
    let mut cmd = binary();
    cmd.arg("import")
        .arg("--weights")
        .arg(&weights)
        .arg("--out")
        .arg(&imported);
    for setting in [
        "model.architecture=resnet",
        "model.residual_blocks=2",
        "model.width=4",
        "model.image_size=40",
    ] {
        cmd.arg("--set").arg(setting);
    }
    succeed(cmd);
    let input = discogan::data::list_images(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("data/emoji/testA"),
    )
    .unwrap()
    .remove(0);
    let translated = |run: &Path, out: &str| {
        let out = tmp.path().join(out);
        let mut cmd = binary();
        cmd.arg("translate")
            .arg(run)
            .arg("--a2b")
            .arg(&input)
            .arg("--out")
            .arg(&out);
        succeed(cmd);
        let name = input.file_name().unwrap();
        image::open(out.join(name)).unwrap().to_rgb8()
    };
    assert!(translated(&whole, "a") == translated(&imported, "b"));

    // Weights of another block count are refused, naming the file.
    let mut cmd = binary();
    cmd.arg("import")
        .arg("--weights")
        .arg(&weights)
        .arg("--out")
        .arg(tmp.path().join("three"));
    for setting in [
        "model.architecture=resnet",
        "model.residual_blocks=3",
        "model.width=4",
        "model.image_size=40",
    ] {
        cmd.arg("--set").arg(setting);
    }
    let out = cmd.output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("weights.safetensors"));
}

/// `config(4)` on two replicas of the default device equals `config(2)` and a resume to 4, bit
/// for bit, and differs from one device alone.
fn data_parallel_resumes_exactly(config: impl Fn(u64) -> Config) {
    let tmp = tempfile::tempdir().unwrap();
    let devices = vec![Device::default().autodiff(); 2];
    let (whole, split) = (tmp.path().join("whole"), tmp.path().join("split"));
    train_on(&devices, &config(4), &whole, false).unwrap();
    train_on(&devices, &config(2), &split, false).unwrap();
    train_on(&devices, &config(4), &split, true).unwrap();
    assert_same_state(&whole, &split);
    // And the replicas did train on their slices: one device alone ends elsewhere (dropout
    // draws its masks per slice; BatchNorm normalises each slice on its own).
    let single = tmp.path().join("single");
    run_in_process(&config(4), &single, false);
    assert_ne!(final_state(&whole), final_state(&single));
    let three = vec![devices[0].clone(); 3];
    let err = train_on(&three, &config(4), &tmp.path().join("x"), false).unwrap_err();
    assert!(err.to_string().contains("batch"), "{err}");
}

#[test]
fn a_data_parallel_run_resumes_exactly() {
    // Two replicas on one device, each training on one image of the batch of 2, with dropout
    // on (each device's random stream reseeded per iteration).
    data_parallel_resumes_exactly(small_config);
}

#[test]
fn a_data_parallel_paper_run_resumes_exactly() {
    data_parallel_resumes_exactly(paper_config);
}

#[test]
fn a_time_limit_ends_the_run_like_its_last_iteration_and_it_resumes_exactly() {
    let tmp = tempfile::tempdir().unwrap();
    let (whole, split) = (tmp.path().join("whole"), tmp.path().join("split"));
    run_in_process(&small_config(3), &whole, false);
    let mut boxed = small_config(3);
    // A few milliseconds: the first iteration already takes longer.
    boxed.train.max_minutes = 1e-4;
    let summary = train_in_process(&boxed, &split, false).unwrap();
    assert_eq!((summary.iteration, summary.interrupted), (1, false));
    assert!(summary.checkpoint.ends_with("iter-000000001"));
    assert!(split.join("samples/iter-000000001.png").is_file());
    run_in_process(&small_config(3), &split, true);
    assert_same_state(&whole, &split);
}

#[test]
fn held_out_scores_in_the_metrics_log_are_those_of_eval() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    let mut config = small_config(3);
    config.train.eval_every = 2;
    run_in_process(&config, &run, false);
    let lines = metric_lines(&run);
    let scored: Vec<u64> = lines
        .iter()
        .filter(|l| l.get("heldout_a2b_l1").is_some())
        .map(|l| l["iteration"].as_u64().unwrap())
        .collect();
    // After 2 iterations (iteration 1) and at the end (iteration 2).
    assert_eq!(scored, vec![1, 2]);
    let last = lines.last().unwrap();
    assert!(
        last.get("loss_d").is_some(),
        "the scores join the losses: {last}"
    );

    for (key, expected) in eval_scores(&run, Weights::Inference) {
        let logged = last[format!("heldout_{key}")].as_f64().unwrap();
        assert!(
            (logged - expected).abs() < 1e-5,
            "{key}: {logged} vs {expected}"
        );
    }
}

/// `eval`'s scores of the last checkpoint of `run` with `weights`, by metric-log key.
fn eval_scores(run: &Path, weights: Weights) -> BTreeMap<String, f64> {
    let emoji = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/emoji");
    let _guard = random_stream();
    let reports = discogan::eval::evaluate(
        &RunDir::new(run),
        None,
        weights,
        &emoji.join("testA"),
        &emoji.join("testB"),
        &[
            discogan::translate::Direction::AToB,
            discogan::translate::Direction::BToA,
        ],
        &Device::default(),
    )
    .unwrap();
    let mut scores = BTreeMap::new();
    for r in &reports {
        let model = r.model.as_ref().unwrap();
        for (what, value) in [
            ("l1", model.l1),
            ("ssim", model.ssim),
            ("top1", model.top1),
            ("recon_l1", r.reconstruction_l1),
        ] {
            scores.insert(format!("{}_{what}", r.direction), value);
        }
    }
    assert_eq!(scores.len(), 8, "two directions, four scores each");
    scores
}

#[test]
fn the_moving_average_and_the_learning_rate_decay_resume_exactly_and_eval_scores_the_average() {
    let tmp = tempfile::tempdir().unwrap();
    let (whole, split) = (tmp.path().join("whole"), tmp.path().join("split"));
    let mut config = small_config(5);
    config.train.ema_decay = 0.9;
    config.train.eval_every = 5;
    config.optimizer.decay_iterations = 3;
    run_in_process(&config, &whole, false);
    let mut boxed = config.clone();
    boxed.train.max_minutes = 1e-4;
    assert_eq!(
        train_in_process(&boxed, &split, false).unwrap().iteration,
        1
    );
    run_in_process(&config, &split, true);
    let state = final_state(&whole);
    assert!(
        state.keys().any(|k| k.starts_with("ema.")),
        "the checkpoint keeps the average"
    );
    assert_same_state(&whole, &split);

    // The log scores the average as `heldout_*` and the trained weights as `heldout_raw_*`,
    // and `eval` agrees with each; the two differ.
    let last = metric_lines(&whole).pop().unwrap();
    let (average, trained) = (
        eval_scores(&whole, Weights::Inference),
        eval_scores(&whole, Weights::Trained),
    );
    for (key, value) in &average {
        let logged = last[format!("heldout_{key}")].as_f64().unwrap();
        assert!((logged - value).abs() < 1e-5, "{key}: {logged} vs {value}");
        let logged = last[format!("heldout_raw_{key}")].as_f64().unwrap();
        assert!(
            (logged - trained[key]).abs() < 1e-5,
            "raw {key}: {logged} vs {}",
            trained[key]
        );
    }
    assert_ne!(average["a2b_l1"], trained["a2b_l1"]);
}

#[test]
fn sigkill_then_resume_equals_an_uninterrupted_run() {
    let tmp = tempfile::tempdir().unwrap();
    let (whole, killed) = (tmp.path().join("whole"), tmp.path().join("killed"));
    succeed(train_command(&whole, 12, false));
    let mut child = train_command(&killed, 12, false).spawn().unwrap();
    wait_for_checkpoint(&killed, &mut child);
    child.kill().unwrap(); // SIGKILL, wherever it is: possibly in the middle of a checkpoint.
    child.wait().unwrap();
    let resumed_from = Checkpoints::new(killed.join("checkpoints"))
        .latest()
        .unwrap()
        .unwrap();
    assert!(
        !resumed_from.ends_with("iter-000000012"),
        "killed too late to test anything"
    );
    let stdout = succeed(train_command(&killed, 12, true));
    assert!(stdout.contains("finished at iteration 12"), "{stdout}");
    assert_same_state(&whole, &killed);
    assert_eq!(metric_iterations(&whole), metric_iterations(&killed));
}

#[test]
fn ctrl_c_sigterm_and_sighup_save_a_checkpoint_and_exit_cleanly() {
    let tmp = tempfile::tempdir().unwrap();
    let whole = tmp.path().join("whole");
    succeed(train_command(&whole, 12, false));
    for signal in ["INT", "TERM", "HUP"] {
        let stopped = tmp.path().join(signal);
        let mut child = train_command(&stopped, 12, false).spawn().unwrap();
        let first = wait_for_checkpoint(&stopped, &mut child);
        let pid = child.id().to_string();
        assert!(
            Command::new("kill")
                .args([&format!("-{signal}"), &pid])
                .status()
                .unwrap()
                .success()
        );
        let out = child.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "SIG{signal}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            stdout.contains("stopped at iteration") || stdout.contains("finished at iteration 12"),
            "SIG{signal}: {stdout}"
        );
        // What was trained after the first checkpoint was saved, not lost.
        let last = Checkpoints::new(stopped.join("checkpoints"))
            .latest()
            .unwrap()
            .unwrap();
        assert!(
            last > first || stdout.contains("at iteration 2;"),
            "SIG{signal}: {stdout}"
        );
        succeed(train_command(&stopped, 12, true));
        assert_same_state(&whole, &stopped);
    }
}

#[test]
fn runs_finish_on_one_worker_thread_and_on_two() {
    // The command runs on one of rayon's workers when there are several (src/threads.rs). With
    // one worker it must not: waiting for the data loader there left the loader's own
    // parallel work without a thread, and the run hung.
    let tmp = tempfile::tempdir().unwrap();
    for threads in ["1", "2"] {
        let out = tmp.path().join(threads);
        let mut child = train_command(&out, 4, false)
            .env("RAYON_NUM_THREADS", threads)
            .spawn()
            .unwrap();
        let start = std::time::Instant::now();
        while child.try_wait().unwrap().is_none() {
            if start.elapsed() > std::time::Duration::from_secs(120) {
                child.kill().unwrap();
                panic!("{threads} thread(s): the run did not end in 2 minutes");
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let output = child.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "{threads} thread(s): {}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(stdout.contains("finished at iteration 4"), "{stdout}");
    }
}

#[test]
fn a_diverging_run_stops_with_a_clear_error_and_the_last_checkpoint_intact() {
    // The losses are read back only when logged or before a checkpoint: checked every
    // iteration, and rarely (the divergence is then seen at the first checkpoint, before it is
    // written).
    for (log_every, checkpoint_every) in [(1, 1), (7, 5)] {
        let tmp = tempfile::tempdir().unwrap();
        run_in_process(&small_config(2), tmp.path(), false);
        let before = final_state(tmp.path());
        // Resume with an absurd learning rate: the losses overflow at once.
        let mut config = small_config(20);
        config.optimizer.lr = 1e38;
        config.train.log_every = log_every;
        config.train.checkpoint_every = checkpoint_every;
        let err = train_in_process(&config, tmp.path(), true).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("diverged at iteration"), "{text}");
        let last = Checkpoints::new(tmp.path().join("checkpoints"))
            .latest()
            .unwrap()
            .unwrap();
        assert!(
            last.ends_with("iter-000000002"),
            "no checkpoint of the diverged state: {}",
            last.display()
        );
        assert!(
            before == final_state(tmp.path()),
            "the last good checkpoint is unchanged"
        );
        // The report page says the run stopped, not the time it had left.
        let page = std::fs::read_to_string(tmp.path().join("index.html")).unwrap();
        assert!(page.contains("stopped ("), "{page}");
    }
}

#[test]
fn train_translate_export_import_round_trip() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    let mut config = small_config(2);
    config.train.sample_every = 1;
    config.train.checkpoint_every = 1;
    run_in_process(&config, &run, false);
    assert!(run.join("samples/iter-000000002.png").is_file());
    assert!(run.join("config.toml").is_file());

    // Translate a folder and a file of another size; names follow the inputs.
    let inputs = tmp.path().join("in");
    std::fs::create_dir_all(&inputs).unwrap();
    let test_images = discogan::data::list_images(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("data/emoji/testA"),
    )
    .unwrap();
    for (name, source) in ["one.png", "two.png"].iter().zip(&test_images) {
        std::fs::copy(source, inputs.join(name)).unwrap();
    }
    let big = tmp.path().join("big.png");
    image::RgbImage::from_pixel(100, 60, image::Rgb([10, 200, 30]))
        .save(&big)
        .unwrap();
    let out = tmp.path().join("out");
    let mut cmd = binary();
    cmd.arg("translate")
        .arg(&run)
        .arg("--a2b")
        .arg(&inputs)
        .arg(&big)
        .arg("--out")
        .arg(&out);
    succeed(cmd);
    let sized = image::image_dimensions(out.join("big.png")).unwrap();
    assert_eq!(
        sized,
        (100, 60),
        "--keep-size (default) restores the input size"
    );
    assert!(out.join("one.png").is_file() && out.join("two.png").is_file());
    let small = tmp.path().join("small");
    let mut cmd = binary();
    cmd.arg("translate")
        .arg(&run)
        .arg("--b2a")
        .arg(&big)
        .arg("--out")
        .arg(&small)
        .arg("--keep-size=false");
    // An older checkpoint than the latest, by folder.
    let first = Checkpoints::new(run.join("checkpoints"))
        .list()
        .unwrap()
        .remove(0)
        .1;
    cmd.arg("--checkpoint").arg(&first);
    succeed(cmd);
    assert_eq!(
        image::image_dimensions(small.join("big.png")).unwrap(),
        (32, 32)
    );

    // Export with PyTorch names, import into a new run: same translations.
    let weights = tmp.path().join("weights.safetensors");
    let mut cmd = binary();
    cmd.arg("export").arg(&run).arg("--out").arg(&weights);
    succeed(cmd);
    let imported = tmp.path().join("imported");
    let mut cmd = binary();
    cmd.arg("import")
        .arg("--weights")
        .arg(&weights)
        .arg("--out")
        .arg(&imported);
    for (k, v) in [("model.width", "4"), ("model.image_size", "32")] {
        cmd.arg("--set").arg(format!("{k}={v}"));
    }
    succeed(cmd);
    let again = tmp.path().join("again");
    let mut cmd = binary();
    cmd.arg("translate")
        .arg(&imported)
        .arg("--a2b")
        .arg(&inputs)
        .arg(&big)
        .arg("--out")
        .arg(&again);
    succeed(cmd);
    for name in ["one.png", "two.png", "big.png"] {
        let a = image::open(out.join(name)).unwrap().to_rgb8();
        let b = image::open(again.join(name)).unwrap().to_rgb8();
        assert!(a == b, "{name}: imported weights translate differently");
    }
    // A file without the generators is a clear error.
    let mut cmd = binary();
    let junk = tmp.path().join("junk.safetensors");
    std::fs::write(&junk, b"not safetensors").unwrap();
    cmd.arg("import")
        .arg("--weights")
        .arg(&junk)
        .arg("--out")
        .arg(tmp.path().join("x"));
    let out = cmd.output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("junk.safetensors"));
}

#[test]
fn eval_reports_the_model_the_baselines_and_the_reconstruction() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    run_in_process(&small_config(2), &run, false);
    // A small held-out set: the first 12 emoji of each style (same names: ground truth), and an
    // extra B image without a partner.
    let emoji = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/emoji");
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    std::fs::create_dir_all(&a).unwrap();
    std::fs::create_dir_all(&b).unwrap();
    for source in discogan::data::list_images(&emoji.join("testA"))
        .unwrap()
        .iter()
        .take(12)
    {
        let name = source.file_name().unwrap();
        std::fs::copy(source, a.join(name)).unwrap();
        std::fs::copy(emoji.join("testB").join(name), b.join(name)).unwrap();
    }
    let extra = discogan::data::list_images(&emoji.join("trainB"))
        .unwrap()
        .remove(0);
    std::fs::copy(&extra, b.join("extra.png")).unwrap();

    let json = tmp.path().join("eval.json");
    let mut cmd = binary();
    cmd.arg("eval")
        .arg(&run)
        .arg("--a")
        .arg(&a)
        .arg("--b")
        .arg(&b)
        .arg("--json")
        .arg(&json);
    let stdout = succeed(cmd);
    assert!(
        stdout.contains("identity") && stdout.contains("recon"),
        "{stdout}"
    );
    let reports: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let a2b = &reports[0];
    assert_eq!(a2b["direction"], "a2b");
    assert_eq!(
        (a2b["count"].as_u64(), a2b["paired"].as_u64()),
        (Some(12), Some(12))
    );
    let b2a = &reports[1];
    assert_eq!(
        (b2a["count"].as_u64(), b2a["paired"].as_u64()),
        (Some(13), Some(12))
    );
    for report in [a2b, b2a] {
        let l1 = |what: &str| report[what]["l1"].as_f64().unwrap();
        // Two styles of the same emoji are closer than two different emoji.
        assert!(l1("identity") < l1("random"), "{report}");
        for what in ["model", "identity", "random"] {
            let s = &report[what];
            assert!((0.0..=1.0).contains(&s["l1"].as_f64().unwrap()));
            assert!((0.0..=1.0).contains(&s["top1"].as_f64().unwrap()));
            assert!(s["top1"].as_f64() <= s["top5"].as_f64());
            assert!(s["ssim"].as_f64().unwrap() <= 1.0);
        }
        assert_eq!(
            report["random"]["top1"].as_f64(),
            Some(0.0),
            "a random other target is never its own truth"
        );
        assert!(report["reconstruction_l1"].as_f64().unwrap() > 0.0);
    }
}

#[test]
fn bench_prints_one_json_line_in_the_reference_shape() {
    let mut cmd = binary();
    cmd.args([
        "bench", "--batch", "2", "--size", "32", "--width", "4", "--iters", "2", "--warmup", "1",
    ]);
    let stdout = succeed(cmd);
    let line: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    for key in [
        "impl",
        "arch",
        "batch",
        "size",
        "width",
        "threads",
        "device",
        "ms_per_iter_median",
        "ms_min",
        "ms_max",
        "images_per_s",
        "peak_rss_mb",
        "cpu",
    ] {
        assert!(line.get(key).is_some(), "missing {key} in {line}");
    }
    assert_eq!(line["arch"], "unet");
    assert!(line["cpu"].as_str().unwrap().contains("logical"), "{line}");
    assert!(line["ms_min"].as_f64() <= line["ms_per_iter_median"].as_f64());
    assert!(line["ms_per_iter_median"].as_f64() <= line["ms_max"].as_f64());

    // --set applies after the flags; the line reports what was timed; bad keys are errors.
    let mut cmd = binary();
    cmd.args([
        "bench",
        "--batch",
        "2",
        "--size",
        "32",
        "--width",
        "4",
        "--iters",
        "1",
        "--warmup",
        "0",
        "--set",
        "model.width=2",
        "--set",
        "objective.lambda_identity=1",
    ]);
    let line: serde_json::Value = serde_json::from_str(succeed(cmd).trim()).unwrap();
    assert_eq!(line["width"], 2);
    // The architecture named is the one timed, also when set after the preset.
    let mut cmd = binary();
    cmd.args([
        "bench",
        "--batch",
        "2",
        "--size",
        "32",
        "--width",
        "2",
        "--iters",
        "1",
        "--warmup",
        "0",
        "--set",
        "model.architecture=resnet",
    ]);
    let line: serde_json::Value = serde_json::from_str(succeed(cmd).trim()).unwrap();
    assert_eq!(line["arch"], "resnet");
    let mut cmd = binary();
    cmd.args(["bench", "--set", "objective.no_such_key=1"]);
    let out = cmd.output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no_such_key"));
}
