//! The library's error type.

use std::path::PathBuf;

/// An error of another library (a weights store, a parser) kept as the source of ours, so that
/// `{:#}` and error reporters print the whole chain.
pub type Cause = Box<dyn std::error::Error + Send + Sync + 'static>;

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
    /// Weights that could not be read, written or did not fit the network.
    #[error("weights {path}: {reason}")]
    Weights {
        /// The weights file.
        path: PathBuf,
        /// What went wrong (with `source`: what was being done).
        reason: String,
        /// The underlying error, if another library's.
        source: Option<Cause>,
    },
    /// An input file that cannot be used, or a data folder without images.
    #[error("{path}: {reason}")]
    Data {
        /// The file or folder.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A file that could not be read or written. (The message names the file; the operating
    /// system's reason is the error's source, which `{:#}` and error reporters print after it.)
    #[error("{path}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A checkpoint that cannot be written or resumed from.
    #[error("checkpoint {path}: {reason}")]
    Checkpoint {
        /// The checkpoint folder.
        path: PathBuf,
        /// What went wrong (with `source`: what was being done).
        reason: String,
        /// The underlying error, if another library's.
        source: Option<Cause>,
    },
    /// Training produced a loss that is not a finite number.
    #[error("training diverged at iteration {iteration}: {loss} = {value}")]
    NonFinite {
        /// The iteration.
        iteration: u64,
        /// The loss term.
        loss: String,
        /// Its value.
        value: f32,
    },
    /// A picture of the report page that could not be drawn.
    #[error("the report page: {what}")]
    Report {
        /// What was being drawn (the chart's title).
        what: String,
        /// The plotting library's error.
        source: Cause,
    },
    /// A TensorBoard event file that could not be written or read.
    #[error("TensorBoard events {path}: {reason}")]
    Events {
        /// The event file.
        path: PathBuf,
        /// What went wrong (with `source`: what was being done).
        reason: String,
        /// The underlying error, if another library's.
        source: Option<Cause>,
    },
    /// A tensor the compute backend could not hand back.
    #[error("the compute backend failed: {0}")]
    Backend(String),
    /// A run folder that another process is writing (training or importing into it).
    #[error("{path} is in use by {holder} (one writer per run folder); wait for it to end")]
    Locked {
        /// The run folder.
        path: PathBuf,
        /// Who holds the lock, e.g. `process 1234`.
        holder: String,
    },
    /// rayon's worker threads could not be started (the command runs on one of them).
    #[error("cannot start the worker threads")]
    Threads(#[source] rayon::ThreadPoolBuildError),
    /// A configuration too large for the memory this machine has free.
    #[error(
        "not enough memory: this configuration needs about {needed_mib} MiB ({detail}), and \
         {available_mib} MiB are available; lower train.batch_size, model.width or \
         model.image_size"
    )]
    Memory {
        /// The estimate, in MiB.
        needed_mib: u64,
        /// What it is made of.
        detail: String,
        /// What the system reports as available, in MiB.
        available_mib: u64,
    },
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

impl Error {
    /// [`Error::Weights`] for `path`.
    pub fn weights(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        Self::Weights {
            path: path.into(),
            reason: reason.into(),
            source: None,
        }
    }

    /// [`Error::Weights`] for `path` caused by another library's `source` while doing `what`.
    pub fn weights_from(
        path: impl Into<PathBuf>,
        what: impl Into<String>,
        source: impl Into<Cause>,
    ) -> Self {
        Self::Weights {
            path: path.into(),
            reason: what.into(),
            source: Some(source.into()),
        }
    }

    /// [`Error::Checkpoint`] for `path`.
    pub fn checkpoint(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        Self::Checkpoint {
            path: path.into(),
            reason: reason.into(),
            source: None,
        }
    }

    /// [`Error::Checkpoint`] for `path` caused by another library's `source` while doing `what`.
    pub fn checkpoint_from(
        path: impl Into<PathBuf>,
        what: impl Into<String>,
        source: impl Into<Cause>,
    ) -> Self {
        Self::Checkpoint {
            path: path.into(),
            reason: what.into(),
            source: Some(source.into()),
        }
    }

    /// An I/O error on `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }
}

impl Error {
    /// The message with every cause after it (`message: cause: cause's cause`), for where the
    /// error is reported as a line rather than returned.
    pub fn with_causes(&self) -> String {
        let mut text = self.to_string();
        let mut source = std::error::Error::source(self);
        while let Some(cause) = source {
            text.push_str(&format!(": {cause}"));
            source = cause.source();
        }
        text
    }
}

/// The library's result type.
pub type Result<T> = std::result::Result<T, Error>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn causes_follow_the_message() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "gone");
        let text = Error::io("run/index.html", io).with_causes();
        assert_eq!(text, "run/index.html: gone");
    }
}
