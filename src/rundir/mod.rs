//! The run folder: what a run writes, where, and how it is kept safe.
//!
//! ```text
//! RUN_DIR/config.toml        the resolved configuration (absolute data paths)
//! RUN_DIR/metrics.jsonl      every loss every `log_every` iterations, one JSON object a line
//! RUN_DIR/samples/iter-NNNNNNNNN.png
//! RUN_DIR/samples/abandoned/ grids drawn after the checkpoint a run was resumed from
//! RUN_DIR/checkpoints/iter-NNNNNNNNN/
//! RUN_DIR/tensorboard/       TensorBoard events: the metrics, the grids, the configuration
//! RUN_DIR/index.html         the report page, rebuilt at every sample grid
//! RUN_DIR/eval.json          `discogan eval`'s report
//! RUN_DIR/.lock              held by the one process writing the folder
//! ```
//!
//! Everything that reads or writes a run folder goes through this module: translation,
//! evaluation, training and import sit above it, and it depends only on the configuration and
//! the networks. Its guarantees (one writer, no file written in place, no checkpoint ever
//! missing) are listed with their tests in `docs/RELIABILITY.md`.

mod checkpoints;
mod lock;

pub use crate::atomic::{CRASH_EXIT_CODE, write_atomic, write_png};
pub(crate) use checkpoints::{
    AVERAGED, DISCRIMINATORS, GENERATORS, OPTIM_D, OPTIM_G, fail as checkpoint_error,
    load_generators_file, load_module,
};
pub use checkpoints::{
    CheckpointState, Checkpoints, Weights, load_generators, read_state, write_state,
};
pub use lock::RunLock;

use std::fs;
use std::path::{Path, PathBuf};

use crate::config::Config;
use crate::error::{Error, Result};

/// Names of the files and folders of a run.
#[derive(Clone, Debug)]
pub struct RunDir {
    /// The run folder.
    pub root: PathBuf,
}

impl RunDir {
    /// The run folder at `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }
    /// `config.toml`.
    pub fn config(&self) -> PathBuf {
        self.root.join("config.toml")
    }
    /// `metrics.jsonl`.
    pub fn metrics(&self) -> PathBuf {
        self.root.join("metrics.jsonl")
    }
    /// `samples/`.
    pub fn samples(&self) -> PathBuf {
        self.root.join("samples")
    }
    /// `tensorboard/`: the run's TensorBoard event file ([`crate::watch::tensorboard`]).
    pub fn tensorboard(&self) -> PathBuf {
        self.root.join("tensorboard")
    }
    /// `index.html`: the report page ([`crate::watch::report`]).
    pub fn report(&self) -> PathBuf {
        self.root.join("index.html")
    }
    /// `eval.json`: `discogan eval`'s report, where it writes it by default.
    pub fn eval_report(&self) -> PathBuf {
        self.root.join("eval.json")
    }
    /// `checkpoints/`.
    pub fn checkpoints(&self) -> Checkpoints {
        Checkpoints::new(self.root.join("checkpoints"))
    }

    /// The configuration a run was started with. A missing, empty or unparsable `config.toml`
    /// is an error naming it: never the defaults, which would train on other data.
    pub fn read_config(&self) -> Result<Config> {
        let path = self.config();
        let text = fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
        Config::from_file_text(&path, &text)
    }

    /// Writes `config` as the run's `config.toml`, atomically.
    pub fn write_config(&self, config: &Config) -> Result<()> {
        write_atomic(&self.config(), config.to_toml()?.as_bytes())
    }

    /// Takes the run's lock (creating the folder), or fails at once if another process holds
    /// it. Held until the returned guard is dropped.
    pub fn lock(&self) -> Result<RunLock> {
        fs::create_dir_all(&self.root).map_err(|e| Error::io(&self.root, e))?;
        RunLock::acquire(&self.root)
    }

    /// Removes what an interrupted writer left (temporary files of atomic writes in the folder,
    /// in `samples/` and in `tensorboard/`, and the checkpoints' leftovers: [`Checkpoints::clean_stale`]). Call
    /// it only while holding the lock. Returns what was removed.
    pub fn clean_stale(&self) -> Result<Vec<PathBuf>> {
        let mut removed = Vec::new();
        for dir in [self.root.clone(), self.samples(), self.tensorboard()] {
            let Ok(entries) = fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries {
                let path = entry.map_err(|e| Error::io(&dir, e))?.path();
                let temporary = path
                    .file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(crate::atomic::is_temporary);
                if temporary && path.is_file() {
                    fs::remove_file(&path).map_err(|e| Error::io(&path, e))?;
                    removed.push(path);
                }
            }
        }
        removed.extend(self.checkpoints().clean_stale()?);
        Ok(removed)
    }

    /// Drops the metric lines of iterations at or after `from` (written after the checkpoint a
    /// run resumes from), so that the log reads as one uninterrupted run; atomically.
    pub fn truncate_metrics(&self, from: u64) -> Result<()> {
        let path = self.metrics();
        let text = match fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(Error::io(&path, e)),
        };
        let kept: Vec<&str> = text
            .lines()
            .filter(|line| metric_iteration(line).is_some_and(|i| i < from))
            .collect();
        if kept.len() == text.lines().count() {
            return Ok(());
        }
        let mut out = kept.join("\n");
        if !out.is_empty() {
            out.push('\n');
        }
        write_atomic(&path, out.as_bytes())
    }
}

impl RunDir {
    /// Moves the sample grids of iterations after `done` (drawn by a process that stopped after
    /// the checkpoint a run resumes from) into `samples/abandoned/resumed-at-NNNNNNNNN/`, so
    /// that `samples/` holds the resumed run's grids only, as the metrics log holds its lines
    /// only ([`Self::truncate_metrics`]): the report page and rebuilt events show one run. They
    /// are kept, not deleted: they are what that process drew. Returns the folder they went
    /// to, if any did. Each grid moves by one rename, so a crash part-way leaves every grid
    /// whole, and the next resume moves the rest.
    pub fn set_aside_grids_after(&self, done: u64) -> Result<Option<PathBuf>> {
        let stale: Vec<PathBuf> = self
            .sample_grids()?
            .into_iter()
            .filter(|(grid, _)| *grid > done)
            .map(|(_, path)| path)
            .collect();
        if stale.is_empty() {
            return Ok(None);
        }
        let parent = self.samples().join("abandoned");
        let name = format!("resumed-at-{done:09}");
        // A second resume from the same checkpoint gets a folder of its own.
        let dest = (0..)
            .map(|k| match k {
                0 => parent.join(&name),
                k => parent.join(format!("{name}-{k}")),
            })
            .find(|dir| !dir.exists())
            .unwrap_or_else(|| parent.join(&name));
        fs::create_dir_all(&dest).map_err(|e| Error::io(&dest, e))?;
        for path in stale {
            let Some(file) = path.file_name() else {
                continue;
            };
            fs::rename(&path, dest.join(file)).map_err(|e| Error::io(&path, e))?;
        }
        Ok(Some(dest))
    }

    /// The lines of `metrics.jsonl` (none if it does not exist yet), and how many lines are
    /// not JSON objects with an iteration (a line cut short by a crash mid-write): those are
    /// left out, and counted so that the caller can say so.
    pub fn read_metrics(&self) -> Result<(Vec<serde_json::Map<String, serde_json::Value>>, usize)> {
        let path = self.metrics();
        let text = match fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((Vec::new(), 0)),
            Err(e) => return Err(Error::io(&path, e)),
        };
        let mut lines = Vec::new();
        let mut unreadable = 0;
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            match serde_json::from_str::<serde_json::Value>(line) {
                Ok(serde_json::Value::Object(map))
                    if map.get("iteration").is_some_and(serde_json::Value::is_u64) =>
                {
                    lines.push(map)
                }
                _ => unreadable += 1,
            }
        }
        Ok((lines, unreadable))
    }

    /// The sample grids (`samples/iter-NNNNNNNNN.png`) with the iterations done when each
    /// was made, oldest first.
    pub fn sample_grids(&self) -> Result<Vec<(u64, PathBuf)>> {
        let dir = self.samples();
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(Error::io(&dir, e)),
        };
        let mut grids = Vec::new();
        for entry in entries {
            let path = entry.map_err(|e| Error::io(&dir, e))?.path();
            let done = path
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_prefix("iter-")?.strip_suffix(".png"))
                .filter(|digits| digits.len() == 9 && digits.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|digits| digits.parse().ok());
            if let Some(done) = done {
                grids.push((done, path));
            }
        }
        grids.sort();
        Ok(grids)
    }
}

/// The iteration of one metrics line, if it is one.
fn metric_iteration(line: &str) -> Option<u64> {
    serde_json::from_str::<serde_json::Value>(line)
        .ok()?
        .get("iteration")?
        .as_u64()
}

/// `path` made absolute against the current folder (without resolving links), so that a
/// configuration stored in a run folder means the same from anywhere.
pub fn absolute(path: &Path) -> Result<PathBuf> {
    std::path::absolute(path).map_err(|e| Error::io(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_or_broken_config_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let run = RunDir::new(dir.path());
        for text in ["", "  \n", "[model\nwidth = 3"] {
            fs::write(run.config(), text).unwrap();
            let err = run.read_config().unwrap_err().to_string();
            assert!(err.contains("config.toml"), "{text:?}: {err}");
        }
        run.write_config(&Config::default()).unwrap();
        assert_eq!(run.read_config().unwrap(), Config::default());
    }

    #[test]
    fn metrics_lines_cut_short_are_counted_not_read() {
        let dir = tempfile::tempdir().unwrap();
        let run = RunDir::new(dir.path());
        assert_eq!(run.read_metrics().unwrap(), (Vec::new(), 0));
        fs::write(
            run.metrics(),
            "{\"iteration\":0}\n[1]\n{\"iteration\":1,\"loss_d\":0.5}\n{\"iter",
        )
        .unwrap();
        let (lines, unreadable) = run.read_metrics().unwrap();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[1]["loss_d"], 0.5);
        assert_eq!(unreadable, 2);
    }

    #[test]
    fn sample_grids_are_listed_by_iteration() {
        let dir = tempfile::tempdir().unwrap();
        let run = RunDir::new(dir.path());
        assert!(run.sample_grids().unwrap().is_empty());
        fs::create_dir_all(run.samples()).unwrap();
        for name in [
            "iter-000000200.png",
            "iter-000000010.png",
            ".iter-1.png.partial-3",
            "x.png",
        ] {
            fs::write(run.samples().join(name), b"").unwrap();
        }
        let grids: Vec<u64> = run
            .sample_grids()
            .unwrap()
            .into_iter()
            .map(|g| g.0)
            .collect();
        assert_eq!(grids, [10, 200]);
    }

    #[test]
    fn grids_after_the_resumed_checkpoint_are_set_aside_not_deleted() {
        let dir = tempfile::tempdir().unwrap();
        let run = RunDir::new(dir.path());
        assert_eq!(run.set_aside_grids_after(5).unwrap(), None); // no samples/ yet
        fs::create_dir_all(run.samples()).unwrap();
        let grid = |i: u64| run.samples().join(format!("iter-{i:09}.png"));
        for i in [2, 4, 6, 8] {
            fs::write(grid(i), format!("grid {i}")).unwrap();
        }
        let moved = run.set_aside_grids_after(4).unwrap().unwrap();
        assert_eq!(moved, run.samples().join("abandoned/resumed-at-000000004"));
        let left: Vec<u64> = run.sample_grids().unwrap().iter().map(|g| g.0).collect();
        assert_eq!(left, [2, 4]);
        for i in [6, 8] {
            let kept = moved.join(format!("iter-{i:09}.png"));
            assert_eq!(fs::read_to_string(kept).unwrap(), format!("grid {i}"));
        }
        // The same resume again, after the resumed run drew a grid at 6: a folder of its own.
        fs::write(grid(6), "grid 6 again").unwrap();
        let again = run.set_aside_grids_after(4).unwrap().unwrap();
        assert_eq!(
            again,
            run.samples().join("abandoned/resumed-at-000000004-1")
        );
        assert_eq!(
            fs::read_to_string(again.join("iter-000000006.png")).unwrap(),
            "grid 6 again"
        );
        assert_eq!(run.set_aside_grids_after(4).unwrap(), None);
    }

    #[test]
    fn truncating_the_metrics_keeps_earlier_lines_only() {
        let dir = tempfile::tempdir().unwrap();
        let run = RunDir::new(dir.path());
        run.truncate_metrics(3).unwrap(); // no file yet: nothing to do
        let lines: String = (0..6).map(|i| format!("{{\"iteration\":{i}}}\n")).collect();
        fs::write(run.metrics(), &lines).unwrap();
        run.truncate_metrics(3).unwrap();
        assert_eq!(
            fs::read_to_string(run.metrics()).unwrap(),
            "{\"iteration\":0}\n{\"iteration\":1}\n{\"iteration\":2}\n"
        );
    }
}
