//! Fault injection: the process dies at every point where a run folder is written (crash points
//! of the `failpoints` build, which `cargo test` uses), and at 20 random moments (SIGKILL); each
//! time the folder holds only complete checkpoints, the newest never goes back, and the resumed
//! run ends bit-identical to one that was never interrupted.

mod runs;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use burn::tensor::Device;
use discogan::rundir::{CRASH_EXIT_CODE, Checkpoints, RunDir};
use discogan::train::Trainer;
use runs::*;

const ITERATIONS: u64 = 8;
/// Long enough that 20 kills at the delays below land before the end.
const KILLED_ITERATIONS: u64 = 150;

/// A small run that checkpoints every 2 iterations and keeps 2, so that writes, renames and
/// prunes all happen within its 8 iterations.
const SMALL: &[(&str, &str)] = &[
    ("model.width", "4"),
    ("model.image_size", "32"),
    ("model.dropout", "0.5"),
    ("train.batch_size", "2"),
    ("train.sample_every", "3"),
    ("train.sample_count", "2"),
    ("train.checkpoint_every", "2"),
    ("train.keep_checkpoints", "2"),
    ("train.log_every", "1"),
];

fn small_run(out: &Path, resume: bool) -> Command {
    train_command_with(out, ITERATIONS, resume, SMALL)
}

/// Every checkpoint the folder lists loads (so none is half written), and the newest is at
/// least `at_least`. Returns the newest's iteration.
fn assert_complete(run: &Path, at_least: u64) -> u64 {
    let dir = RunDir::new(run);
    let listed = Checkpoints::new(run.join("checkpoints")).list().unwrap();
    if listed.is_empty() {
        assert_eq!(at_least, 0, "{}: a checkpoint went missing", run.display());
        return 0;
    }
    let config = dir.read_config().unwrap();
    for (_, path) in &listed {
        let _guard = random_stream();
        Trainer::load_checkpoint(
            config.clone().validated().unwrap(),
            path,
            &Device::default().autodiff(),
        )
        .unwrap_or_else(|e| panic!("{} does not load: {e}", path.display()));
    }
    let newest = listed.last().unwrap().0;
    assert!(
        newest >= at_least,
        "the newest checkpoint went back from {at_least} to {newest}"
    );
    newest
}

#[test]
fn a_crash_at_every_write_rename_and_prune_point_resumes_exactly() {
    let tmp = tempfile::tempdir().unwrap();
    let whole = tmp.path().join("whole");
    succeed(small_run(&whole, false));
    // (crash point, which hit of it): the config and state files, each file of a checkpoint,
    // before and after its rename, the metrics truncation of a resume, and a prune.
    let cases: &[(&str, usize)] = &[
        ("atomic::before_rename", 1),
        ("atomic::before_rename", 2),
        ("atomic::before_rename", 4),
        ("atomic::before_rename", 7),
        ("checkpoint::file_written", 1),
        ("checkpoint::file_written", 3),
        ("checkpoint::file_written", 5),
        ("checkpoint::before_rename", 1),
        ("checkpoint::before_rename", 3),
        ("checkpoint::after_rename", 1),
        ("checkpoint::after_rename", 4),
        ("checkpoint::prune_renamed", 1),
        ("checkpoint::prune_renamed", 2),
    ];
    for (i, &(point, hit)) in cases.iter().enumerate() {
        let run = tmp.path().join(format!("crash-{i}"));
        let mut cmd = small_run(&run, false);
        // fail's syntax: `N*off->return` lets N hits pass, then crashes.
        let spec = match hit {
            1 => format!("{point}=return"),
            n => format!("{point}={}*off->return", n - 1),
        };
        cmd.env("FAILPOINTS", &spec);
        let out = cmd.output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(CRASH_EXIT_CODE),
            "{spec}: the crash point was not reached: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let before = assert_complete(&run, 0);
        // Resume (from scratch where the crash came before the first checkpoint), and again
        // after a crash in the resumed process at the same point, for the resume's own writes.
        let resume = before > 0;
        let mut again = small_run(&run, resume);
        again.env("FAILPOINTS", format!("{point}=return"));
        let second = again.output().unwrap();
        let code = second.status.code();
        assert!(
            code == Some(CRASH_EXIT_CODE) || code == Some(0),
            "{spec}, resumed: {}",
            String::from_utf8_lossy(&second.stderr)
        );
        let after = assert_complete(&run, before);
        succeed(small_run(&run, after > 0));
        assert_complete(&run, ITERATIONS);
        for folder in [
            run.clone(),
            run.join("checkpoints"),
            run.join("tensorboard"),
        ] {
            let leftovers: Vec<String> = std::fs::read_dir(&folder)
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with('.') && n != ".lock")
                .collect();
            assert!(leftovers.is_empty(), "{spec}: leftovers {leftovers:?}");
        }
        assert_same_state(&whole, &run);
        assert_eq!(
            metric_iterations(&whole),
            metric_iterations(&run),
            "{spec}: the metrics log reads as one run"
        );
    }
}

/// A small deterministic generator of kill delays.
fn delays(n: usize) -> Vec<Duration> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            Duration::from_millis(100 + x % 600)
        })
        .collect()
}

#[test]
fn sigkill_at_20_random_moments_then_resume_equals_an_uninterrupted_run() {
    let tmp = tempfile::tempdir().unwrap();
    let (whole, killed) = (tmp.path().join("whole"), tmp.path().join("killed"));
    // A checkpoint every iteration: most kills land in or near a write.
    let mut settings = INTERRUPTIBLE.to_vec();
    settings.push(("train.checkpoint_every", "1"));
    let command =
        |out: &Path, resume: bool| train_command_with(out, KILLED_ITERATIONS, resume, &settings);
    succeed(command(&whole, false));
    let mut newest = 0;
    let mut interrupted = 0;
    for delay in delays(20) {
        let resume = newest > 0;
        let mut child = command(&killed, resume).spawn().unwrap();
        std::thread::sleep(delay);
        if child.try_wait().unwrap().is_none() {
            interrupted += 1;
        }
        child.kill().unwrap(); // SIGKILL, wherever it is
        child.wait().unwrap();
        newest = assert_complete(&killed, newest);
        if newest == KILLED_ITERATIONS {
            break;
        }
    }
    assert!(interrupted >= 10, "only {interrupted} kills landed mid-run");
    if newest < KILLED_ITERATIONS {
        succeed(command(&killed, newest > 0));
    }
    assert_same_state(&whole, &killed);
    assert_eq!(metric_iterations(&whole), metric_iterations(&killed));
}
