//! The crate's error type.

/// Everything that can go wrong in `unet3d`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An input has the wrong rank, channel count or spatial size.
    #[error("{what}: expected {expected}, got {got}")]
    Shape {
        /// Which input.
        what: String,
        /// What was expected.
        expected: String,
        /// What was given.
        got: String,
    },

    /// A weight is missing from a checkpoint or has the wrong shape.
    #[error("weights: tensor {name}: {problem}")]
    Weight {
        /// Tensor name (`enc1.conv1.weight`).
        name: String,
        /// Missing, or expected vs found shape.
        problem: String,
    },

    /// A configuration value is out of range; `field` names it.
    #[error("invalid {field}: {reason}")]
    Config {
        /// The field.
        field: String,
        /// Why, with the value.
        reason: String,
    },

    /// A file could not be read or written.
    #[error("{path}: {message}")]
    File {
        /// The file.
        path: std::path::PathBuf,
        /// What went wrong.
        message: String,
    },

    /// Reading, preprocessing or writing image data failed.
    #[error(transparent)]
    Io(#[from] brats_io::Error),

    /// A loss or metric could not be computed.
    #[error(transparent)]
    Metrics(#[from] brats_metrics::Error),

    /// A candle operation failed (device, dtype, kernel).
    #[error("tensor operation: {0}")]
    Candle(#[from] candle_core::Error),
}

/// The crate's result type.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub(crate) fn shape(
        what: impl Into<String>,
        expected: impl std::fmt::Display,
        got: impl std::fmt::Display,
    ) -> Self {
        Error::Shape {
            what: what.into(),
            expected: expected.to_string(),
            got: got.to_string(),
        }
    }

    pub(crate) fn config(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::Config {
            field: field.into(),
            reason: reason.into(),
        }
    }
}
