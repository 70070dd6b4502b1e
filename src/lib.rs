//! DiscoGAN: learning to translate images between two domains from unpaired examples
//! (Kim et al., ICML 2017), on burn.
//!
//! - [`model`]: the networks (U-Net, ResNet and PatchGAN; the paper's nets).
//! - [`loss`]: every equation of the objective.
//! - [`config`]: the configuration and its presets.
//! - [`rundir`]: the run folder (layout, lock, atomic writes, checkpoints).
//! - [`train`]: the training iteration and whole runs.
//! - [`watch`]: what a run shows as it trains (TensorBoard events, the report page).
//! - `backends`: the CPU backend's fast paths beside their fallbacks (not part of the API).
#![warn(missing_docs)]

pub mod atomic;
pub mod augment;
#[doc(hidden)]
pub mod backends;
pub mod bench;
pub mod config;
pub mod cpu;
pub mod data;
pub mod error;
pub mod eval;
pub mod grid;
pub mod loss;
pub mod malloc;
pub mod model;
pub mod rng;
pub mod rundir;
pub mod threads;
pub mod toy;
pub mod train;
pub mod translate;
pub mod watch;

pub use config::{Config, Preset};
pub use error::{Error, Result};
