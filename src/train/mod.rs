//! Training: the optimisation step of both objectives, and its bookkeeping.

mod adam;
pub mod checkpoint;
pub mod ema;
mod grads;
mod heldout;
pub mod memory;
pub mod run;
mod step;

pub use adam::FusedAdam;
pub use grads::gradients_as_module;
pub use step::{Side, StepObserver, StepReport, Trainer};
