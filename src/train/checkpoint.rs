//! A trainer's checkpoint: the four networks, both optimisers' state, the generators' moving
//! average (when the run keeps one) and the iteration, written into a run folder's checkpoints
//! by the rules of [`crate::rundir`] (temporary folder, rename, prune after).
//!
//! Nothing else needs saving for an exact resume: every random choice of a run (data order,
//! augmentation, dropout) is a function of the seed and the iteration.

use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::tensor::Device;

use super::Trainer;
use crate::atomic::crash_point;
use crate::config::ValidConfig;
use crate::error::{Error, Result};
use crate::rundir::{
    AVERAGED, Checkpoints, DISCRIMINATORS, GENERATORS, OPTIM_D, OPTIM_G, checkpoint_error,
    load_generators_file, load_module, read_state, write_state,
};

impl Trainer {
    /// Writes a checkpoint of the current state into `checkpoints`, then deletes all but the
    /// newest `keep`. Returns its folder.
    pub fn save_checkpoint(&self, checkpoints: &Checkpoints, keep: usize) -> Result<PathBuf> {
        let partial = checkpoints.begin(self.iteration())?;
        self.write_checkpoint_files(&partial)?;
        let target = checkpoints.commit(&partial, self.iteration())?;
        checkpoints.prune(keep)?;
        Ok(target)
    }

    fn write_checkpoint_files(&self, dir: &Path) -> Result<()> {
        let err = |file: &str, e: burn::store::RecordError| {
            Error::checkpoint_from(dir, format!("cannot write {file}"), e)
        };
        self.generators
            .clone()
            .save_file(dir.join(GENERATORS))
            .map_err(|e| err(GENERATORS, e))?;
        crash_point!("checkpoint::file_written");
        if let Some(averaged) = self.averaged_generators() {
            averaged
                .clone()
                .save_file(dir.join(AVERAGED))
                .map_err(|e| err(AVERAGED, e))?;
        }
        self.discriminators
            .clone()
            .save_file(dir.join(DISCRIMINATORS))
            .map_err(|e| err(DISCRIMINATORS, e))?;
        crash_point!("checkpoint::file_written");
        let (optim_g, optim_d) = self.optimizers();
        optim_g
            .save(dir.join(OPTIM_G))
            .map_err(|e| err(OPTIM_G, e))?;
        optim_d
            .save(dir.join(OPTIM_D))
            .map_err(|e| err(OPTIM_D, e))?;
        crash_point!("checkpoint::file_written");
        // Last: its presence is what makes the folder a checkpoint.
        write_state(dir, self.iteration())
    }

    /// Restores a trainer for `config` from checkpoint folder `path` onto `device`. Every
    /// network is checked finite, and the state file must agree with the folder's name.
    pub fn load_checkpoint(config: ValidConfig, path: &Path, device: &Device) -> Result<Self> {
        let state = read_state(path)?;
        let generators = load_generators_file(&config.model, path, GENERATORS, device)?;
        let discriminators = load_module(
            config.model.init_discriminators(device)?,
            path,
            DISCRIMINATORS,
        )?;
        let mut trainer = Trainer::from_networks(config, generators, discriminators)?;
        let (optim_g, optim_d) = trainer.optimizers();
        let load = |optim: &burn::optim::ModuleOptimizer, file: &str| {
            let file_path = path.join(file);
            if !file_path.is_file() {
                return Err(checkpoint_error(path, format!("{file} is missing")));
            }
            optim
                .clone()
                .load(file_path)
                .map_err(|e| Error::checkpoint_from(path, format!("cannot load {file}"), e))
        };
        let (optim_g, optim_d) = (load(optim_g, OPTIM_G)?, load(optim_d, OPTIM_D)?);
        trainer.set_optimizers(optim_g, optim_d);
        trainer.set_iteration(state.iteration);
        // The trainer keeps an average when the configuration asks for one.
        if trainer.averaged_generators().is_some() {
            if path.join(AVERAGED).is_file() {
                let plain = device.clone().without_autodiff();
                trainer.set_averaged_generators(load_generators_file(
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
