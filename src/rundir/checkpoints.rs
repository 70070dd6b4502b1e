//! The checkpoints of a run: `checkpoints/iter-NNNNNNNNN/`, each a folder that appears whole.
//!
//! The rules that keep a run resumable whatever happens, and where each one is kept:
//! - A checkpoint is written under a hidden temporary name and renamed when complete
//!   ([`Checkpoints::begin`], [`Checkpoints::commit`]): a crash while writing leaves a temporary
//!   folder, never a half checkpoint under a real name.
//! - A checkpoint is never replaced: committing over an existing one is refused (the trainer
//!   does not save an iteration twice), so there is no moment without it.
//! - Pruning an old checkpoint first renames it to a hidden name, then deletes it
//!   ([`Checkpoints::prune`]), and happens only after its successor is committed: a crash
//!   mid-delete leaves a hidden folder, never a real name with half its files.
//! - Leftovers of either kind (and incomplete folders under a real name, from older versions)
//!   are removed at the start of the next writer ([`Checkpoints::clean_stale`]), which holds the
//!   run's lock, so they are never another live writer's.

use std::fs;
use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::tensor::Device;
use serde::{Deserialize, Serialize};

use crate::atomic::{crash_point, is_temporary, sync_dir, write_atomic};
use crate::error::{Error, Result};
use crate::model::{Generators, ModelConfig, check_finite};

const PREFIX: &str = "iter-";
/// The iteration and version of a checkpoint (written last: its presence marks completeness).
pub const STATE: &str = "state.json";
/// The two generators' trained weights.
pub const GENERATORS: &str = "generators.bpk";
/// The generators' moving average, when the run keeps one.
pub const AVERAGED: &str = "generators_ema.bpk";
/// The two discriminators.
pub const DISCRIMINATORS: &str = "discriminators.bpk";
/// The generators' optimiser state.
pub const OPTIM_G: &str = "optim_g.bpk";
/// The discriminators' optimiser state.
pub const OPTIM_D: &str = "optim_d.bpk";
/// Marks a folder being deleted (renamed away first).
const REMOVING: &str = ".removing";

/// Which generator weights of a checkpoint to use.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Weights {
    /// The moving average when the run kept one (`train.ema_decay`), else the trained weights.
    #[default]
    Inference,
    /// The trained weights.
    Trained,
}

/// What a checkpoint records besides tensors.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CheckpointState {
    /// The next iteration to run.
    pub iteration: u64,
    /// The crate version that wrote it.
    pub version: String,
}

pub(crate) fn fail(path: &Path, reason: impl ToString) -> Error {
    Error::checkpoint(path, reason.to_string())
}

/// The iteration a checkpoint folder's name stands for (`iter-000000012` → 12).
fn iteration_of(path: &Path) -> Option<u64> {
    path.file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.strip_prefix(PREFIX))
        .and_then(|n| n.parse::<u64>().ok())
}

/// The folder `checkpoints/` of a run.
#[derive(Clone, Debug)]
pub struct Checkpoints {
    dir: PathBuf,
}

impl Checkpoints {
    /// The checkpoints in `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The complete checkpoints, oldest first. Temporary folders, folders being removed and
    /// folders without a state file are not checkpoints.
    pub fn list(&self) -> Result<Vec<(u64, PathBuf)>> {
        if !self.dir.exists() {
            return Ok(Vec::new());
        }
        let mut found = Vec::new();
        for entry in fs::read_dir(&self.dir).map_err(|e| Error::io(&self.dir, e))? {
            let path = entry.map_err(|e| Error::io(&self.dir, e))?.path();
            if let Some(iteration) = iteration_of(&path)
                && path.join(STATE).is_file()
            {
                found.push((iteration, path));
            }
        }
        found.sort();
        Ok(found)
    }

    /// The newest complete checkpoint.
    pub fn latest(&self) -> Result<Option<PathBuf>> {
        Ok(self.list()?.pop().map(|(_, path)| path))
    }

    /// The newest complete checkpoint, or an error saying there is none.
    pub fn require_latest(&self) -> Result<PathBuf> {
        self.latest()?
            .ok_or_else(|| fail(&self.dir, "no checkpoint in this run folder"))
    }

    /// Removes what an interrupted writer left: temporary folders, folders renamed away for
    /// deletion, and folders under a checkpoint name without a state file. Call it only while
    /// holding the run's lock. Returns what was removed.
    pub fn clean_stale(&self) -> Result<Vec<PathBuf>> {
        let mut removed = Vec::new();
        if !self.dir.exists() {
            return Ok(removed);
        }
        for entry in fs::read_dir(&self.dir).map_err(|e| Error::io(&self.dir, e))? {
            let path = entry.map_err(|e| Error::io(&self.dir, e))?.path();
            let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            let ours = name.starts_with(&format!(".{PREFIX}"));
            let stale = (ours && (is_temporary(name) || name.ends_with(REMOVING)))
                || (iteration_of(&path).is_some() && path.is_dir() && !path.join(STATE).is_file());
            if stale {
                remove_any(&path)?;
                removed.push(path);
            }
        }
        Ok(removed)
    }

    /// A fresh temporary folder to write the checkpoint of `iteration` into.
    pub fn begin(&self, iteration: u64) -> Result<PathBuf> {
        fs::create_dir_all(&self.dir).map_err(|e| Error::io(&self.dir, e))?;
        let partial = self.dir.join(format!(
            ".{PREFIX}{iteration:09}.partial-{}",
            std::process::id()
        ));
        if partial.exists() {
            remove_any(&partial)?;
        }
        fs::create_dir(&partial).map_err(|e| Error::io(&partial, e))?;
        Ok(partial)
    }

    /// Gives the complete folder `partial` (from [`begin`](Self::begin)) its real name. Refuses
    /// to replace an existing checkpoint.
    pub fn commit(&self, partial: &Path, iteration: u64) -> Result<PathBuf> {
        let target = self.dir.join(format!("{PREFIX}{iteration:09}"));
        if target.exists() {
            return Err(fail(
                &target,
                "already exists; a checkpoint is never replaced",
            ));
        }
        sync_dir(partial);
        crash_point!("checkpoint::before_rename");
        fs::rename(partial, &target).map_err(|e| Error::io(&target, e))?;
        crash_point!("checkpoint::after_rename");
        sync_dir(&self.dir);
        Ok(target)
    }

    /// Deletes all but the newest `keep` checkpoints, each renamed away before it is deleted.
    pub fn prune(&self, keep: usize) -> Result<()> {
        for (_, old) in self.list()?.iter().rev().skip(keep) {
            let name = old
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let away = self.dir.join(format!(".{name}{REMOVING}"));
            if away.exists() {
                remove_any(&away)?;
            }
            fs::rename(old, &away).map_err(|e| Error::io(old, e))?;
            sync_dir(&self.dir);
            crash_point!("checkpoint::prune_renamed");
            remove_any(&away)?;
        }
        Ok(())
    }
}

fn remove_any(path: &Path) -> Result<()> {
    let result = if path.is_dir() {
        fs::remove_dir_all(path)
    } else {
        fs::remove_file(path)
    };
    result.map_err(|e| Error::io(path, e))
}

/// Writes the state file of a checkpoint of `iteration` into the folder `dir`.
pub fn write_state(dir: &Path, iteration: u64) -> Result<()> {
    let state = CheckpointState {
        iteration,
        version: env!("CARGO_PKG_VERSION").to_string(),
    };
    let json = serde_json::to_string_pretty(&state)
        .map_err(|e| Error::checkpoint_from(dir, format!("cannot write {STATE}"), e))?;
    write_atomic(&dir.join(STATE), json.as_bytes())
}

/// Reads the state file of checkpoint folder `path`, checking that it agrees with the folder's
/// name.
pub fn read_state(path: &Path) -> Result<CheckpointState> {
    let state_path = path.join(STATE);
    let text = fs::read_to_string(&state_path).map_err(|e| Error::io(&state_path, e))?;
    let state: CheckpointState = serde_json::from_str(&text)
        .map_err(|e| Error::checkpoint_from(path, format!("{STATE} is not readable"), e))?;
    if let Some(named) = iteration_of(path)
        && named != state.iteration
    {
        return Err(fail(
            path,
            format!(
                "{STATE} says iteration {} but the folder is named for iteration {named}",
                state.iteration
            ),
        ));
    }
    Ok(state)
}

/// The two generators stored in checkpoint folder `path` (the `weights` asked for), built for
/// `model` on `device`, checked finite.
pub fn load_generators(
    model: &ModelConfig,
    path: &Path,
    weights: Weights,
    device: &Device,
) -> Result<Generators> {
    let file = match weights {
        Weights::Inference if path.join(AVERAGED).is_file() => AVERAGED,
        _ => GENERATORS,
    };
    load_generators_file(model, path, file, device)
}

/// The generators stored in `path/file`.
pub(crate) fn load_generators_file(
    model: &ModelConfig,
    path: &Path,
    file: &str,
    device: &Device,
) -> Result<Generators> {
    let generators = model.init_generators(device)?;
    load_module(generators, path, file)
}

/// Loads `path/file` into `module`, checking the values. A missing file, a file that burn
/// cannot read and one whose tensors do not fit the network are told apart.
pub(crate) fn load_module<M: Module + burn::store::ModuleSnapshot>(
    module: M,
    path: &Path,
    file: &str,
) -> Result<M> {
    let file_path = path.join(file);
    if !file_path.is_file() {
        return Err(fail(path, format!("{file} is missing")));
    }
    let module = module.try_load_file(&file_path).map_err(|e| {
        let text = e.to_string();
        // Only a shape mismatch suggests another configuration; a truncated file does not.
        let hint = if text.to_ascii_lowercase().contains("shape") {
            " (was it trained with another model configuration?)"
        } else {
            ""
        };
        Error::checkpoint_from(path, format!("cannot load {file}{hint}"), e)
    })?;
    check_finite(&module).map_err(|reason| fail(path, format!("{file}: {reason}")))?;
    Ok(module)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn make(dir: &Path, name: &str, complete: bool) -> PathBuf {
        let path = dir.join(name);
        fs::create_dir_all(&path).unwrap();
        if complete {
            let iteration = iteration_of(&path).unwrap_or(0);
            write_state(&path, iteration).unwrap();
        }
        path
    }

    #[test]
    fn only_complete_checkpoints_count_and_leftovers_are_cleaned() {
        let dir = tempfile::tempdir().unwrap();
        let c = Checkpoints::new(dir.path());
        make(dir.path(), "iter-000000004", true);
        make(dir.path(), "iter-000000008", false); // no state file
        make(dir.path(), ".iter-000000012.partial-99", true); // a killed writer's
        make(dir.path(), ".iter-000000002.removing", true); // a killed pruner's
        make(dir.path(), "notes", true);
        let found = c.list().unwrap();
        assert_eq!(found, vec![(4, dir.path().join("iter-000000004"))]);
        let mut removed = c.clean_stale().unwrap();
        removed.sort();
        assert_eq!(
            removed,
            vec![
                dir.path().join(".iter-000000002.removing"),
                dir.path().join(".iter-000000012.partial-99"),
                dir.path().join("iter-000000008"),
            ]
        );
        assert!(dir.path().join("iter-000000004").exists());
        assert!(dir.path().join("notes").exists(), "not ours: left alone");
    }

    #[test]
    fn commit_never_replaces_and_prune_keeps_the_newest() {
        let dir = tempfile::tempdir().unwrap();
        let c = Checkpoints::new(dir.path());
        for i in [2, 4, 6] {
            let partial = c.begin(i).unwrap();
            write_state(&partial, i).unwrap();
            c.commit(&partial, i).unwrap();
        }
        let again = c.begin(6).unwrap();
        write_state(&again, 6).unwrap();
        let err = c.commit(&again, 6).unwrap_err();
        assert!(err.to_string().contains("never replaced"), "{err}");
        c.prune(2).unwrap();
        let left: Vec<u64> = c.list().unwrap().into_iter().map(|(i, _)| i).collect();
        assert_eq!(left, vec![4, 6]);
        c.clean_stale().unwrap();
        let names: Vec<String> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names.len(), 2, "nothing hidden is left: {names:?}");
    }

    #[test]
    fn errors_keep_the_underlying_error_as_their_source() {
        use std::error::Error as _;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("iter-000000003");
        fs::create_dir_all(&path).unwrap();
        fs::write(path.join(STATE), "{ not json").unwrap();
        let err = read_state(&path).unwrap_err();
        let source = err.source().expect("the parser's error is kept");
        assert!(source.is::<serde_json::Error>(), "{source}");
        assert!(err.to_string().contains(STATE), "{err}");
        // A file that is not weights at all: burn's error is the source.
        fs::write(path.join("generators.bpk"), b"garbage").unwrap();
        let model = crate::model::ModelConfig {
            width: 2,
            image_size: 32,
            ..Default::default()
        };
        let err =
            load_generators_file(&model, &path, "generators.bpk", &Device::default()).unwrap_err();
        assert!(err.source().is_some(), "{err}");
    }

    #[test]
    fn a_state_file_that_disagrees_with_its_folder_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = make(dir.path(), "iter-000000004", false);
        write_state(&path, 9).unwrap();
        let err = read_state(&path).unwrap_err().to_string();
        assert!(
            err.contains("iteration 9") && err.contains("iteration 4"),
            "{err}"
        );
        write_state(&path, 4).unwrap();
        assert_eq!(read_state(&path).unwrap().iteration, 4);
    }
}
