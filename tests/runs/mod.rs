//! Helpers of the tests that run whole trainings: small configurations, the binary, and the
//! comparison of two runs' final state tensor by tensor.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::AtomicBool;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use burn::store::ModuleSnapshot;
use burn::tensor::Device;
use discogan::config::Config;
use discogan::rundir::{Checkpoints, RunDir};
use discogan::train::Trainer;
use discogan::train::run::{RunSummary, train};

/// A small, fast configuration on the embedded emoji, with dropout on (so that the random
/// stream matters).
pub fn small_config(iterations: u64) -> Config {
    Config::default()
        .with_overrides(&[
            "model.width=4".into(),
            "model.image_size=32".into(),
            "model.dropout=0.5".into(),
            "train.batch_size=2".into(),
            "train.sample_every=0".into(),
            "train.sample_count=2".into(),
            "data.flip=true".into(),
            "data.random_crop=true".into(),
            "data.load_size=40".into(),
            format!("train.iterations={iterations}"),
        ])
        .unwrap()
}

/// Every tensor of the last checkpoint's networks and optimiser state, as bytes.
pub fn final_state(run: &Path) -> BTreeMap<String, Vec<u8>> {
    let dir = RunDir::new(run);
    let config = dir.read_config().unwrap();
    let path = dir.checkpoints().latest().unwrap().unwrap();
    // Building the networks to load into draws initial weights from the shared stream.
    let trainer = {
        let _guard = random_stream();
        Trainer::load_checkpoint(
            config.validated().unwrap(),
            &path,
            &Device::default().autodiff(),
        )
        .unwrap()
    };
    let mut state: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    // Parameter ids differ from run to run: optimiser state is compared by parameter path.
    let mut path_of: BTreeMap<String, String> = BTreeMap::new();
    for (prefix, tensors) in [
        ("g.", trainer.generators.collect(None, None, false)),
        ("d.", trainer.discriminators.collect(None, None, false)),
    ] {
        for t in tensors {
            let name = format!("{prefix}{}", t.name);
            if let Some(id) = t.param_id {
                path_of.insert(id.to_string(), name.clone());
            }
            state.insert(name, t.to_bytes().unwrap().to_vec());
        }
    }
    for file in ["optim_g.bpk", "optim_d.bpk"] {
        let reader = burn::store::burn_pack::Reader::from_file(path.join(file)).unwrap();
        let by_path = |key: &str| {
            let (id, rest) = key.split_once('.').unwrap_or((key, ""));
            let param = path_of
                .get(id)
                .unwrap_or_else(|| panic!("{file}: unknown parameter {id}"));
            format!("{file}:{param}:{rest}")
        };
        for (key, value) in reader.scalars() {
            state.insert(by_path(key), format!("{value:?}").into_bytes());
        }
        for t in reader.into_tensors().unwrap() {
            let bytes = t.to_bytes().unwrap().to_vec();
            state.insert(by_path(&t.name), bytes);
        }
    }
    if let Some(averaged) = trainer.averaged_generators() {
        for t in averaged.collect(None, None, false) {
            state.insert(format!("ema.{}", t.name), t.to_bytes().unwrap().to_vec());
        }
    }
    state.insert(
        "iteration".into(),
        trainer.iteration().to_le_bytes().to_vec(),
    );
    state
}

/// The backend's random generator is one per process, and the tests of this file run in
/// parallel threads of one process: a run in this process holds this lock, so that no other test
/// reseeds the generator in the middle of it.
pub static RANDOM_STREAM: Mutex<()> = Mutex::new(());

pub fn random_stream() -> MutexGuard<'static, ()> {
    RANDOM_STREAM
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

pub fn train_in_process(config: &Config, dir: &Path, resume: bool) -> discogan::Result<RunSummary> {
    train_on(&[Device::default().autodiff()], config, dir, resume)
}

/// A run in this process on `devices` (data-parallel with several).
pub fn train_on(
    devices: &[Device],
    config: &Config,
    dir: &Path,
    resume: bool,
) -> discogan::Result<RunSummary> {
    let _guard = random_stream();
    train(
        &config.clone().validated()?,
        &RunDir::new(dir),
        resume,
        devices,
        &AtomicBool::new(false),
        &mut (),
    )
}

pub fn run_in_process(config: &Config, dir: &Path, resume: bool) {
    train_in_process(config, dir, resume).unwrap();
}

pub fn assert_same_state(a: &Path, b: &Path) {
    let (a, b) = (final_state(a), final_state(b));
    assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>());
    for (name, value) in &a {
        assert!(value == &b[name], "{name} differs between the two runs");
    }
}

/// Every line of a run's `metrics.jsonl`.
pub fn metric_lines(run: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(run.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The metric lines on the `log_every` (10) cadence, without the wall-clock time. (A run that
/// ends early also logs its last iteration; an extended one then has that extra line.)
pub fn metric_iterations(run: &Path) -> Vec<serde_json::Value> {
    let lines = metric_lines(run);
    let iterations: Vec<u64> = lines
        .iter()
        .map(|l| l["iteration"].as_u64().unwrap())
        .collect();
    assert!(
        iterations.windows(2).all(|w| w[0] < w[1]),
        "one line per iteration, in order: {iterations:?}"
    );
    lines
        .into_iter()
        .filter(|l| l["iteration"].as_u64().unwrap() % 10 == 0)
        .map(|mut l| {
            // Timings differ from run to run.
            l.as_object_mut().unwrap().remove("elapsed_s");
            l.as_object_mut().unwrap().remove("iterations_per_s");
            l
        })
        .collect()
}

/// The `discogan` binary of this build (or `DISCOGAN_BIN`, to run these tests against another
/// build, e.g. an older one, and see which of them it fails).
pub fn binary() -> Command {
    let path = std::env::var_os("DISCOGAN_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_discogan")));
    let mut cmd = Command::new(path);
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

/// The small configuration of [`train_command`]: slow enough (64 px, width 8) to be interrupted.
pub const INTERRUPTIBLE: &[(&str, &str)] = &[
    ("model.width", "8"),
    ("model.image_size", "64"),
    ("model.dropout", "0.5"),
    ("train.batch_size", "2"),
    ("train.sample_every", "0"),
    ("train.checkpoint_every", "2"),
    ("train.keep_checkpoints", "2"),
];

/// `discogan train` with the small configuration, slowed down enough to be interrupted.
pub fn train_command(out: &Path, iterations: u64, resume: bool) -> Command {
    train_command_with(out, iterations, resume, INTERRUPTIBLE)
}

/// `discogan train` into `out` for `iterations` in total: a new run with `settings` (each a
/// `--set`), or a resume of it.
pub fn train_command_with(
    out: &Path,
    iterations: u64,
    resume: bool,
    settings: &[(&str, &str)],
) -> Command {
    let mut cmd = binary();
    cmd.arg("train").arg("--quiet");
    if resume {
        cmd.arg("--resume").arg(out);
    } else {
        cmd.arg("--out").arg(out);
        for (k, v) in settings {
            cmd.arg("--set").arg(format!("{k}={v}"));
        }
    }
    cmd.arg("--iterations").arg(iterations.to_string());
    cmd
}

pub fn wait_for_checkpoint(run: &Path, child: &mut std::process::Child) -> PathBuf {
    let start = Instant::now();
    loop {
        if let Some(path) = Checkpoints::new(run.join("checkpoints")).latest().unwrap() {
            return path;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run ended before its first checkpoint"
        );
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "no checkpoint after 2 minutes"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

pub fn succeed(mut cmd: Command) -> String {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}
