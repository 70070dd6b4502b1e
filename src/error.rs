//! The library's error type.

use std::path::PathBuf;

/// Everything that can go wrong in the library, each with enough context to act on.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A configuration value that the networks or the objective cannot use.
    #[error("invalid configuration: {key}: {reason}")]
    Config {
        /// The configuration key, e.g. `model.image_size`.
        key: String,
        /// Why the value was rejected.
        reason: String,
    },
    /// Weights that could not be read or did not fit the network.
    #[error("cannot load weights from {path}: {reason}")]
    Weights {
        /// The file the weights came from.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// A tensor of the wrong shape handed to a network or a loss.
    #[error("shape mismatch: {0}")]
    Shape(String),
}

impl Error {
    /// A configuration error for `key`.
    pub fn config(key: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::Config {
            key: key.into(),
            reason: reason.into(),
        }
    }
}

/// The library's result type.
pub type Result<T> = std::result::Result<T, Error>;
