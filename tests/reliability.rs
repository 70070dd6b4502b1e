//! Each way a careless or hostile user could lose work, get a wrong result in silence, or make
//! `discogan` panic: the clear error or the right behaviour, through the real binary where the
//! command line is part of it. (docs/RELIABILITY.md lists each with its mechanism.)

mod runs;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use burn::module::{Module, ModuleMapper, Param};
use burn::tensor::{Device, Tensor};
use discogan::rundir::{Checkpoints, RunDir};
use runs::*;

/// A trained run of 2 iterations (in process), with its checkpoint.
fn trained(dir: &Path) -> PathBuf {
    let run = dir.join("run");
    run_in_process(&small_config(2), &run, false);
    run
}

fn command(args: &[&str]) -> Command {
    let mut cmd = binary();
    cmd.args(args);
    cmd
}

fn run(args: &[&str]) -> Output {
    command(args).output().unwrap()
}

/// Runs the binary, expecting success; returns its standard output.
fn ok(args: &[&str]) -> String {
    succeed(command(args))
}

/// `train --resume RUN --iterations N`.
fn resume(run_dir: &Path, iterations: &str) -> Output {
    run(&[
        "train",
        "--quiet",
        "--resume",
        s(run_dir),
        "--iterations",
        iterations,
    ])
}

/// One iteration of a small new run on the dataset `data` into `out`, with `extra` flags.
fn train_on(data: &Path, out: &Path, extra: &[&str]) -> Output {
    let mut args = vec![
        "train",
        "--quiet",
        "--data",
        s(data),
        "--out",
        s(out),
        "--iterations",
        "1",
        "--set",
        "model.width=4",
        "--set",
        "model.image_size=32",
    ];
    args.extend_from_slice(extra);
    run(&args)
}

/// `train --resume RUN --iterations N`, expecting success; returns its standard output.
fn resumes(run_dir: &Path, iterations: &str) -> String {
    ok(&[
        "train",
        "--quiet",
        "--resume",
        s(run_dir),
        "--iterations",
        iterations,
    ])
}

/// `translate RUN --a2b INPUT --out OUT`.
fn translate_a2b(run_dir: &Path, input: &Path, out: &Path) -> Output {
    run(&["translate", s(run_dir), "--a2b", s(input), "--out", s(out)])
}

/// The command failed cleanly (exit 1, not a panic's 101 or a signal) and its message holds
/// every one of `words`. Returns the message.
fn fails_with(out: Output, words: &[&str]) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(
        out.status.code(),
        Some(1),
        "expected a clean error: {stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    for word in words {
        assert!(stderr.contains(word), "`{word}` not in: {stderr}");
    }
    stderr
}

fn s(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// Rewrites the safetensors file `from` into `to` with every tensor in `dtype` (F16 or F64), or
/// with its first tensor's values replaced by NaN (`poison`).
fn rewrite_safetensors(from: &Path, to: &Path, dtype: safetensors::Dtype, poison: bool) {
    let bytes = std::fs::read(from).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let mut names: Vec<String> = st.names().into_iter().map(str::to_string).collect();
    names.sort();
    let mut out: Vec<(String, Vec<usize>, Vec<u8>)> = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let view = st.tensor(name).unwrap();
        let values: Vec<f32> = view
            .data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .map(|v| if poison && i == 0 { f32::NAN } else { v })
            .collect();
        let data: Vec<u8> = match dtype {
            safetensors::Dtype::F64 => values
                .iter()
                .flat_map(|v| f64::from(*v).to_le_bytes())
                .collect(),
            safetensors::Dtype::F16 => values
                .iter()
                .flat_map(|v| f16_bits(*v).to_le_bytes())
                .collect(),
            _ => values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        };
        out.push((name.clone(), view.shape().to_vec(), data));
    }
    let views: Vec<(String, safetensors::tensor::TensorView)> = out
        .iter()
        .map(|(n, shape, data)| {
            (
                n.clone(),
                safetensors::tensor::TensorView::new(dtype, shape.clone(), data).unwrap(),
            )
        })
        .collect();
    safetensors::serialize_to_file(views, None, to).unwrap();
}

/// IEEE half precision, rounding toward zero (enough for weights of magnitude 1e-4..10).
fn f16_bits(v: f32) -> u16 {
    let bits = v.to_bits();
    let sign = ((bits >> 16) & 0x8000) as u16;
    let exp = ((bits >> 23) & 0xff) as i32 - 127 + 15;
    let mant = bits & 0x7f_ffff;
    if v.is_nan() {
        return sign | 0x7e00;
    }
    if exp <= 0 {
        return sign; // flush tiny values to zero
    }
    if exp >= 31 {
        return sign | 0x7c00;
    }
    sign | ((exp as u16) << 10) | ((mant >> 13) as u16)
}

fn export(run: &Path, to: &Path) {
    ok(&["export", s(run), "--out", s(to)]);
}

fn import(weights: &Path, out: &Path) -> Output {
    run(&[
        "import",
        "--weights",
        s(weights),
        "--out",
        s(out),
        "--set",
        "model.width=4",
        "--set",
        "model.image_size=32",
    ])
}

fn emoji(part: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("data/emoji")
        .join(part)
}

#[test]
fn half_and_double_precision_weights_are_converted_and_nan_weights_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let trained = trained(tmp.path());
    let weights = tmp.path().join("w.safetensors");
    export(&trained, &weights);
    let test_a = emoji("testA");
    for (name, dtype) in [
        ("f16", safetensors::Dtype::F16),
        ("f64", safetensors::Dtype::F64),
    ] {
        let file = tmp.path().join(format!("{name}.safetensors"));
        rewrite_safetensors(&weights, &file, dtype, false);
        let out_run = tmp.path().join(name);
        let out = import(&file, &out_run);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{name}: {stderr}");
        assert!(stderr.contains("converted to f32"), "{name}: {stderr}");
        // The run translates, evaluates and resumes: no dtype left behind to panic on.
        let translated = tmp.path().join(format!("{name}-out"));
        assert!(
            translate_a2b(&out_run, &test_a, &translated)
                .status
                .success()
        );
        ok(&[
            "eval",
            s(&out_run),
            "--a",
            s(&test_a),
            "--b",
            s(&emoji("testB")),
        ]);
        resumes(&out_run, "1");
    }
    let poisoned = tmp.path().join("nan.safetensors");
    rewrite_safetensors(&weights, &poisoned, safetensors::Dtype::F32, true);
    let target = tmp.path().join("nan");
    fails_with(
        import(&poisoned, &target),
        &["nan.safetensors", "not finite"],
    );
    assert!(
        Checkpoints::new(target.join("checkpoints"))
            .latest()
            .unwrap()
            .is_none(),
        "nothing imported"
    );
}

/// Replaces every float value with NaN.
struct Poison;

impl ModuleMapper for Poison {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let (id, tensor, mapper) = param.consume();
        let nan = tensor.clone().div_scalar(0.0).mul_scalar(0.0);
        Param::from_mapped_value(id, nan, mapper)
    }
}

#[test]
fn a_checkpoint_with_nan_weights_is_refused_naming_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let run_dir = trained(tmp.path());
    let dir = RunDir::new(&run_dir);
    let checkpoint = dir.checkpoints().latest().unwrap().unwrap();
    let config = dir.read_config().unwrap();
    let generators = {
        let _guard = random_stream();
        config.model.init_generators(&Device::default()).unwrap()
    };
    generators
        .map(&mut Poison)
        .save_file(checkpoint.join("generators.bpk"))
        .unwrap();
    let out = translate_a2b(&run_dir, &emoji("testA"), &tmp.path().join("o"));
    fails_with(out, &["generators.bpk", "not finite"]);
    let out = resume(&run_dir, "3");
    fails_with(out, &["generators.bpk", "not finite"]);
}

#[test]
fn impossible_numbers_are_errors_not_panics_or_meaningless_results() {
    let tmp = tempfile::tempdir().unwrap();
    let toy_out = tmp.path().join("toy");
    let toy = |extra: &[&str]| {
        let mut args = vec![
            "toy",
            "--iterations",
            "1",
            "--seeds",
            "1",
            "--out",
            s(&toy_out),
        ];
        args.extend_from_slice(extra);
        run(&args)
    };
    fails_with(run(&["bench", "--batch", "0"]), &["train.batch_size"]);
    fails_with(run(&["bench", "--iters", "0"]), &["--iters"]);
    fails_with(toy(&["--modes", "0"]), &["toy.modes_a"]);
    fails_with(toy(&["--modes", "100000000"]), &["toy.modes_a", "1000"]);
    fails_with(toy(&["--sigma=-1"]), &["toy.sigma"]);
    fails_with(toy(&["--sigma", "NaN"]), &["toy.sigma"]);
    fails_with(toy(&["--lambda-cycle", "NaN"]), &["toy.lambda_cycle"]);
    let out = tmp.path().join("eps");
    fails_with(
        run(&["train", "--out", s(&out), "--set", "optimizer.epsilon=0"]),
        &["optimizer.epsilon"],
    );
    for (key, value) in [("model.width", "1024"), ("model.image_size", "4096")] {
        let out = tmp.path().join(key);
        let set = format!("{key}={value}");
        fails_with(
            run(&[
                "train",
                "--quiet",
                "--out",
                s(&out),
                "--set",
                &set,
                "--iterations",
                "1",
            ]),
            &["not enough memory", "MiB"],
        );
        assert!(!out.exists(), "{key}: nothing is written before the checks");
    }
}

#[test]
fn a_resume_at_its_target_keeps_the_checkpoint_it_has() {
    let tmp = tempfile::tempdir().unwrap();
    let run_dir = trained(tmp.path());
    let checkpoint = Checkpoints::new(run_dir.join("checkpoints"))
        .latest()
        .unwrap()
        .unwrap();
    // A marker the old checkpoint holds and a rewritten one would not.
    std::fs::write(checkpoint.join("marker"), "kept").unwrap();
    let stdout = resumes(&run_dir, "2");
    assert!(stdout.contains("finished at iteration 2"), "{stdout}");
    assert!(
        checkpoint.join("marker").is_file(),
        "the checkpoint was rewritten"
    );
}

#[test]
fn an_empty_or_broken_config_toml_is_an_error_not_the_defaults() {
    let tmp = tempfile::tempdir().unwrap();
    let run_dir = trained(tmp.path());
    for text in ["", "[model\n"] {
        std::fs::write(run_dir.join("config.toml"), text).unwrap();
        let out = resume(&run_dir, "3");
        fails_with(out, &["config.toml"]);
    }
    let empty = tmp.path().join("empty.toml");
    std::fs::write(&empty, "\n").unwrap();
    fails_with(
        run(&[
            "train",
            "--config",
            s(&empty),
            "--out",
            s(&tmp.path().join("x")),
        ]),
        &["empty.toml", "empty"],
    );
}

#[test]
fn a_failed_resume_leaves_config_toml_as_it_was() {
    let tmp = tempfile::tempdir().unwrap();
    let run_dir = trained(tmp.path());
    let before = std::fs::read(run_dir.join("config.toml")).unwrap();
    let out = run(&[
        "train",
        "--quiet",
        "--resume",
        s(&run_dir),
        "--set",
        "data.root=/no/such/data",
        "--iterations",
        "3",
    ]);
    fails_with(out, &["/no/such/data"]);
    assert_eq!(std::fs::read(run_dir.join("config.toml")).unwrap(), before);
    // So the next resume still works.
    resumes(&run_dir, "3");
}

#[test]
fn a_second_writer_of_a_run_folder_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let run_dir = tmp.path().join("run");
    let mut first = train_command(&run_dir, 400, false).spawn().unwrap();
    wait_for_checkpoint(&run_dir, &mut first);
    let out = resume(&run_dir, "400");
    let message = fails_with(out, &["in use", &first.id().to_string()]);
    assert!(message.contains("run"), "{message}");
    let weights = tmp.path().join("w.safetensors");
    export(&run_dir, &weights);
    let out = run(&[
        "import",
        "--weights",
        s(&weights),
        "--out",
        s(&run_dir),
        "--set",
        "model.width=8",
        "--set",
        "model.image_size=64",
    ]);
    fails_with(out, &["in use"]);
    first.kill().unwrap();
    first.wait().unwrap();
    // The lock dies with its holder, whatever ends it.
    resumes(&run_dir, "4");
}

#[test]
fn translate_never_overwrites_its_inputs() {
    let tmp = tempfile::tempdir().unwrap();
    let run_dir = trained(tmp.path());
    let inputs = tmp.path().join("in");
    std::fs::create_dir_all(&inputs).unwrap();
    let source = discogan::data::list_images(&emoji("testA"))
        .unwrap()
        .remove(0);
    std::fs::copy(&source, inputs.join("x.png")).unwrap();
    let before = std::fs::read(inputs.join("x.png")).unwrap();
    let out = translate_a2b(&run_dir, &inputs, &inputs);
    fails_with(out, &["x.png", "one of the inputs"]);
    assert_eq!(std::fs::read(inputs.join("x.png")).unwrap(), before);
    // Through another spelling of the same folder, too.
    let other = inputs.join("..").join("in");
    let out = translate_a2b(&run_dir, &inputs.join("x.png"), &other);
    fails_with(out, &["one of the inputs"]);
    // Neither direction: a usage error (clap's exit code 2) that names both.
    let out = run(&[
        "translate",
        s(&run_dir),
        s(&inputs),
        "--out",
        s(&tmp.path().join("o")),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("--a2b") && stderr.contains("--b2a"),
        "{stderr}"
    );
}

#[test]
fn export_refuses_a_folder_or_a_pth_name_and_leaves_nothing_behind() {
    let tmp = tempfile::tempdir().unwrap();
    let run_dir = trained(tmp.path());
    let folder = tmp.path().join("folder.safetensors");
    std::fs::create_dir(&folder).unwrap();
    fails_with(
        run(&["export", s(&run_dir), "--out", s(&folder)]),
        &["folder"],
    );
    let pth = tmp.path().join("w.pth");
    fails_with(
        run(&["export", s(&run_dir), "--out", s(&pth)]),
        &["w.pth", ".safetensors"],
    );
    let names: Vec<String> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        names.iter().all(|n| !n.contains("partial") && n != "w.pth"),
        "{names:?}"
    );
}

#[test]
fn preset_or_config_with_resume_is_an_error_not_ignored() {
    let tmp = tempfile::tempdir().unwrap();
    let run_dir = trained(tmp.path());
    fails_with(
        run(&["train", "--resume", s(&run_dir), "--preset", "paper"]),
        &["--preset", "--set"],
    );
    let file = tmp.path().join("c.toml");
    std::fs::write(&file, "[model]\nwidth = 8\n").unwrap();
    fails_with(
        run(&["train", "--resume", s(&run_dir), "--config", s(&file)]),
        &["--config"],
    );
}

#[test]
fn data_paths_are_stored_absolute_so_a_resume_works_from_anywhere() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    copy_emoji_subset(&data, 4);
    let mut cmd = train_command(Path::new("run"), 2, false);
    cmd.current_dir(tmp.path()).args([
        "--data",
        "data",
        "--set",
        "model.width=4",
        "--set",
        "model.image_size=32",
    ]);
    succeed(cmd);
    let config = RunDir::new(tmp.path().join("run")).read_config().unwrap();
    assert_eq!(config.data.root.as_deref(), Some(data.as_path()));
    let elsewhere = tempfile::tempdir().unwrap();
    let mut cmd = train_command(&tmp.path().join("run"), 3, true);
    cmd.current_dir(elsewhere.path());
    succeed(cmd);
}

/// A dataset of the first `n` emoji of each domain, with test folders.
fn copy_emoji_subset(root: &Path, n: usize) {
    for part in ["trainA", "trainB", "testA", "testB"] {
        std::fs::create_dir_all(root.join(part)).unwrap();
        for file in discogan::data::list_images(&emoji(part))
            .unwrap()
            .iter()
            .take(n)
        {
            std::fs::copy(file, root.join(part).join(file.file_name().unwrap())).unwrap();
        }
    }
}

#[test]
fn links_to_nothing_loops_folders_and_fifos_named_as_images_are_reported() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    copy_emoji_subset(&data, 4);
    let a = data.join("trainA");
    std::os::unix::fs::symlink(a.join("missing.png"), a.join("dangling.png")).unwrap();
    std::os::unix::fs::symlink(a.join("loop2.png"), a.join("loop1.png")).unwrap();
    std::os::unix::fs::symlink(a.join("loop1.png"), a.join("loop2.png")).unwrap();
    std::fs::create_dir(a.join("folder.png")).unwrap();
    assert!(
        Command::new("mkfifo")
            .arg(a.join("fifo.png"))
            .status()
            .unwrap()
            .success()
    );
    let out_dir = tmp.path().join("run");
    let train = |extra: &[&str]| {
        let mut args = vec!["--set", "train.batch_size=2"];
        args.extend_from_slice(extra);
        train_on(&data, &out_dir, &args)
    };
    fails_with(
        train(&[]),
        &[
            "5 unreadable",
            "dangling.png",
            "folder.png",
            "fifo.png",
            "loop1.png",
        ],
    );
    let out = train(&["--skip-bad"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stderr}");
    let warned = stderr.matches("skipping").count();
    assert_eq!(warned, 5, "{stderr}");
    assert!(
        stdout.contains("skipped 5 unreadable"),
        "as many as warned: {stdout}"
    );
    assert!(
        !stderr.contains('\u{1b}'),
        "no colour codes off a terminal: {stderr:?}"
    );
}

#[test]
fn held_out_scores_need_held_out_images() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    copy_emoji_subset(&data, 4);
    std::fs::remove_dir_all(data.join("testA")).unwrap();
    std::fs::remove_dir_all(data.join("testB")).unwrap();
    let out_dir = tmp.path().join("run");
    let out = train_on(&data, &out_dir, &["--set", "train.eval_every=1"]);
    fails_with(out, &["train.eval_every", "held-out"]);
}

#[test]
fn a_state_file_that_disagrees_with_its_folder_is_not_believed() {
    let tmp = tempfile::tempdir().unwrap();
    let run_dir = trained(tmp.path());
    let checkpoint = Checkpoints::new(run_dir.join("checkpoints"))
        .latest()
        .unwrap()
        .unwrap();
    discogan::rundir::write_state(&checkpoint, 1000).unwrap();
    let out = resume(&run_dir, "3");
    fails_with(out, &["state.json", "iteration 1000", "iteration 2"]);
}

#[test]
fn messages_say_the_os_error_once_and_hint_only_where_it_fits() {
    let tmp = tempfile::tempdir().unwrap();
    let run_dir = trained(tmp.path());
    let json = tmp.path().join("no/such/folder/eval.json");
    let out = run(&[
        "eval",
        s(&run_dir),
        "--a",
        s(&emoji("testA")),
        "--b",
        s(&emoji("testB")),
        "--json",
        s(&json),
    ]);
    let message = fails_with(out, &["eval.json", "os error"]);
    assert_eq!(message.matches("os error").count(), 1, "{message}");

    let checkpoint = Checkpoints::new(run_dir.join("checkpoints"))
        .latest()
        .unwrap()
        .unwrap();
    let file = checkpoint.join("generators.bpk");
    let bytes = std::fs::read(&file).unwrap();
    std::fs::write(&file, &bytes[..bytes.len() / 2]).unwrap();
    let translate = || translate_a2b(&run_dir, &emoji("testA"), &tmp.path().join("o"));
    let message = fails_with(translate(), &["generators.bpk"]);
    assert!(
        !message.contains("another model configuration"),
        "truncated: {message}"
    );
    std::fs::remove_file(&file).unwrap();
    let message = fails_with(translate(), &["generators.bpk", "missing"]);
    assert!(
        !message.contains("another model configuration"),
        "missing: {message}"
    );
    // A run folder whose weights do not fit its configuration: the hint fits.
    std::fs::write(&file, &bytes).unwrap();
    let config = std::fs::read_to_string(run_dir.join("config.toml"))
        .unwrap()
        .replace("width = 4", "width = 8");
    std::fs::write(run_dir.join("config.toml"), config).unwrap();
    fails_with(translate(), &["another model configuration"]);
}
