//! Training: the optimisation step of both objectives, and its bookkeeping.

pub mod checkpoint;
mod grads;
mod heldout;
pub mod run;
mod step;

pub use grads::gradients_as_module;
pub use step::{Side, StepObserver, StepReport, Trainer};
