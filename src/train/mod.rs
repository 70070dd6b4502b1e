//! Training: the optimisation step of both objectives, and its bookkeeping.

mod grads;
mod step;

pub use grads::gradients_as_module;
pub use step::{Side, StepObserver, StepReport, Trainer};
