//! Checkpoints: the four networks, both optimisers' state, the generators' moving average
//! (when the run keeps one) and the iteration, in one folder per checkpoint that appears
//! atomically (written under a temporary name, then renamed).
//!
//! Nothing else needs saving for an exact resume: every random choice of a run (data order,
//! augmentation, dropout) is a function of the seed and the iteration.

use std::fs;
use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::tensor::Device;
use serde::{Deserialize, Serialize};

use super::Trainer;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::model::{Generators, ModelConfig};

const PREFIX: &str = "iter-";
const STATE: &str = "state.json";
const GENERATORS: &str = "generators.bpk";
const AVERAGED: &str = "generators_ema.bpk";

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

fn fail(path: &Path, reason: impl ToString) -> Error {
    Error::Checkpoint {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    }
}

/// The complete checkpoints in `dir`, oldest first. Half-written ones (temporary names) and
/// folders without a state file are ignored.
pub fn list(dir: &Path) -> Result<Vec<(u64, PathBuf)>> {
    if !dir.exists() {
        return Ok(Vec::new());
    }
    let mut found = Vec::new();
    for entry in fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        let path = entry.map_err(|e| Error::io(dir, e))?.path();
        let iteration = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_prefix(PREFIX))
            .and_then(|n| n.parse::<u64>().ok());
        if let Some(iteration) = iteration
            && path.join(STATE).is_file()
        {
            found.push((iteration, path));
        }
    }
    found.sort();
    Ok(found)
}

/// The newest complete checkpoint in `dir`.
pub fn latest(dir: &Path) -> Result<Option<PathBuf>> {
    Ok(list(dir)?.pop().map(|(_, path)| path))
}

impl Trainer {
    /// Writes a checkpoint of the current state into `dir`, keeping the newest `keep`.
    /// Returns its folder.
    pub fn save_checkpoint(&self, dir: &Path, keep: usize) -> Result<PathBuf> {
        fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let name = format!("{PREFIX}{:09}", self.iteration());
        let target = dir.join(&name);
        // Leftovers of a process killed while writing (one writer per run folder).
        remove_partials(dir)?;
        let partial = dir.join(format!(".{name}.partial-{}", std::process::id()));
        fs::create_dir_all(&partial).map_err(|e| Error::io(&partial, e))?;
        self.write_checkpoint_files(&partial)
            .map_err(|e| fail(&partial, e))?;
        if target.exists() {
            // The same iteration saved twice (e.g. Ctrl-C right after a periodic save).
            fs::remove_dir_all(&target).map_err(|e| Error::io(&target, e))?;
        }
        fs::rename(&partial, &target).map_err(|e| Error::io(&target, e))?;
        sync_dir(dir);
        for (_, old) in list(dir)?.iter().rev().skip(keep) {
            fs::remove_dir_all(old).map_err(|e| Error::io(old, e))?;
        }
        Ok(target)
    }

    fn write_checkpoint_files(&self, dir: &Path) -> std::result::Result<(), String> {
        let err = |e: burn::store::RecordError| e.to_string();
        self.generators
            .clone()
            .save_file(dir.join(GENERATORS))
            .map_err(err)?;
        if let Some(averaged) = self.averaged_generators() {
            averaged
                .clone()
                .save_file(dir.join(AVERAGED))
                .map_err(err)?;
        }
        self.discriminators
            .clone()
            .save_file(dir.join("discriminators.bpk"))
            .map_err(err)?;
        let (optim_g, optim_d) = self.optimizers();
        optim_g.save(dir.join("optim_g.bpk")).map_err(err)?;
        optim_d.save(dir.join("optim_d.bpk")).map_err(err)?;
        let state = CheckpointState {
            iteration: self.iteration(),
            version: env!("CARGO_PKG_VERSION").to_string(),
        };
        let json = serde_json::to_string_pretty(&state).map_err(|e| e.to_string())?;
        write_synced(&dir.join(STATE), json.as_bytes()).map_err(|e| e.to_string())
    }

    /// Restores a trainer for `config` from checkpoint folder `path` onto `device`.
    pub fn load_checkpoint(config: Config, path: &Path, device: &Device) -> Result<Self> {
        let state_path = path.join(STATE);
        let text = fs::read_to_string(&state_path).map_err(|e| Error::io(&state_path, e))?;
        let state: CheckpointState =
            serde_json::from_str(&text).map_err(|e| fail(path, format!("{STATE}: {e}")))?;
        let generators = load_file(&config.model, path, GENERATORS, device)?;
        let discriminators = config
            .model
            .init_discriminators(device)?
            .try_load_file(path.join("discriminators.bpk"))
            .map_err(|e| fail(path, format!("discriminators.bpk: {e}")))?;
        let mut trainer = Trainer::from_networks(config, generators, discriminators)?;
        let (optim_g, optim_d) = trainer.optimizers();
        let optim_g = optim_g
            .clone()
            .load(path.join("optim_g.bpk"))
            .map_err(|e| fail(path, format!("optim_g.bpk: {e}")))?;
        let optim_d = optim_d
            .clone()
            .load(path.join("optim_d.bpk"))
            .map_err(|e| fail(path, format!("optim_d.bpk: {e}")))?;
        trainer.set_optimizers(optim_g, optim_d);
        trainer.set_iteration(state.iteration);
        // The trainer keeps an average when the configuration asks for one.
        if trainer.averaged_generators().is_some() {
            if path.join(AVERAGED).is_file() {
                let plain = device.clone().without_autodiff();
                trainer.set_averaged_generators(load_file(
                    &trainer.config().model,
                    path,
                    AVERAGED,
                    &plain,
                )?);
            } else {
                // A run that starts averaging on resume: the average starts at the weights.
                tracing::warn!(
                    "{} has no {AVERAGED}: the moving average starts from the trained weights",
                    path.display()
                );
            }
        }
        Ok(trainer)
    }
}

fn remove_partials(dir: &Path) -> Result<()> {
    for entry in fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        let path = entry.map_err(|e| Error::io(dir, e))?.path();
        let is_partial = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with(&format!(".{PREFIX}")) && n.contains(".partial-"));
        if is_partial {
            fs::remove_dir_all(&path).map_err(|e| Error::io(&path, e))?;
        }
    }
    Ok(())
}

/// The two generators stored in checkpoint folder `path` (the `weights` asked for), built for
/// `model` on `device`.
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
    load_file(model, path, file, device)
}

fn load_file(model: &ModelConfig, path: &Path, file: &str, device: &Device) -> Result<Generators> {
    model
        .init_generators(device)?
        .try_load_file(path.join(file))
        .map_err(|e| {
            fail(
                path,
                format!("{file}: {e} (was it trained with another model configuration?)"),
            )
        })
}

/// Writes `bytes` to `path` and flushes them to disk.
pub fn write_synced(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut file = fs::File::create(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// Best effort: make a rename in `dir` durable.
fn sync_dir(dir: &Path) {
    if let Ok(handle) = fs::File::open(dir) {
        let _ = handle.sync_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_complete_checkpoints_count() {
        let dir = tempfile::tempdir().unwrap();
        let make = |name: &str, complete: bool| {
            let path = dir.path().join(name);
            fs::create_dir_all(&path).unwrap();
            if complete {
                fs::write(path.join(STATE), "{}").unwrap();
            }
        };
        make("iter-000000004", true);
        make("iter-000000008", false); // no state file: the rename never happened
        make(".iter-000000012.partial-99", true); // a killed writer's leftovers
        make("notes", true);
        let found = list(dir.path()).unwrap();
        assert_eq!(found, vec![(4, dir.path().join("iter-000000004"))]);
        assert_eq!(
            latest(dir.path()).unwrap(),
            Some(dir.path().join("iter-000000004"))
        );
        remove_partials(dir.path()).unwrap();
        assert!(!dir.path().join(".iter-000000012.partial-99").exists());
        assert!(dir.path().join("iter-000000004").exists());
    }
}
