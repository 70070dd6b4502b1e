//! Training: the optimisation step of both objectives, and its bookkeeping.

pub mod checkpoint;
pub mod ema;
mod flops;
mod grads;
mod heldout;
pub mod memory;
mod replicas;
pub mod run;
mod step;

pub use grads::gradients_as_module;
pub use replicas::Devices;
pub use step::{LossValues, Side, StepObserver, StepReport, Trainer};
