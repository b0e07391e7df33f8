//! The crate's error type.

use std::path::PathBuf;

/// Everything that can go wrong in `diagnosis`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Reading or writing images failed (names the file).
    #[error(transparent)]
    Io(#[from] brats_io::Error),

    /// The segmentation model failed.
    #[error(transparent)]
    Model(#[from] unet3d::Error),

    /// The knowledge base failed (unknown symptom code, unknown region, storage).
    #[error(transparent)]
    Kb(#[from] symptom_kb::Error),

    /// An atlas is unusable; `what` names the file or field.
    #[error("atlas {what}: {problem}")]
    Atlas {
        /// The file or field.
        what: String,
        /// What is wrong, with what was expected.
        problem: String,
    },

    /// A site given without imaging (`region@side`) is malformed.
    #[error("location {given:?}: {problem}")]
    Location {
        /// What was given.
        given: String,
        /// What is wrong.
        problem: String,
    },

    /// The mask and the case are not on one grid, or another input disagrees.
    #[error("{what}: {problem}")]
    Input {
        /// Which input.
        what: String,
        /// What is wrong.
        problem: String,
    },

    /// A report file could not be written.
    #[error("{path}: {message}")]
    File {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
}

/// The crate's result type.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub(crate) fn atlas(what: impl Into<String>, problem: impl Into<String>) -> Self {
        Error::Atlas {
            what: what.into(),
            problem: problem.into(),
        }
    }

    pub(crate) fn input(what: impl Into<String>, problem: impl Into<String>) -> Self {
        Error::Input {
            what: what.into(),
            problem: problem.into(),
        }
    }
}
