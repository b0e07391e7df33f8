//! The crate's error type.

use std::path::PathBuf;

/// Everything that can go wrong in `brats-io`.
///
/// Each variant says *when* it happens and carries the data that explains it; the
/// `Display` text names the file or field and what was expected.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Reading or writing a file failed at the operating-system level (missing file,
    /// permissions, a disk error) or a `.gz` stream ended early or was corrupt.
    #[error("{path}: {source}")]
    Io {
        /// The file involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// The file is not NIfTI-1 (wrong `sizeof_hdr` or magic), or its header holds values a
    /// valid file cannot have (dimensions, datatype, `vox_offset`, spacing).
    #[error("{path}: not a valid NIfTI-1 file: {reason}")]
    InvalidNifti {
        /// The file involved.
        path: PathBuf,
        /// What is wrong, with the offending value.
        reason: String,
    },

    /// The header's dimensions would need more memory than the reader allows
    /// (`NiftiReader::max_bytes`), or more bytes than the file holds.
    #[error("{path}: header asks for {needed} bytes of voxel data, {limit}")]
    TooLarge {
        /// The file involved.
        path: PathBuf,
        /// Bytes the header's dims and datatype imply.
        needed: u64,
        /// Why that is refused (the limit, or the size actually present).
        limit: String,
    },

    /// The voxel datatype is not one this crate converts (e.g. complex or RGB).
    #[error("{path}: unsupported NIfTI datatype {datatype} ({what})")]
    UnsupportedDatatype {
        /// The file involved (empty when writing from memory).
        path: PathBuf,
        /// The NIfTI datatype code.
        datatype: i16,
        /// What was expected instead.
        what: String,
    },

    /// Voxels that are NaN or infinite were found and the reader was told to reject them.
    #[error("{path}: {count} non-finite voxel(s) (NaN or ±Inf); pass NonFinite::ReplaceWithZero to accept them")]
    NonFinite {
        /// The file involved.
        path: PathBuf,
        /// How many voxels were not finite.
        count: usize,
    },

    /// A volume that must hold integer labels holds a fractional or out-of-range value.
    #[error("{path}: voxel value {value} is not a label (expected an integer in 0..=255)")]
    NotALabel {
        /// The file involved.
        path: PathBuf,
        /// The first offending value.
        value: f64,
    },

    /// A label map holds values outside the label scheme.
    #[error("{context}: labels outside scheme {scheme}: {}", format_counts(.unexpected))]
    UnexpectedLabels {
        /// Which file or array this was.
        context: String,
        /// The scheme's name.
        scheme: String,
        /// Each unexpected value and how many voxels hold it.
        unexpected: Vec<(u8, usize)>,
    },

    /// A case folder lacks a required modality, or holds several candidates for one.
    #[error("{dir}: {problem}")]
    CaseLayout {
        /// The case folder.
        dir: PathBuf,
        /// What is missing or ambiguous.
        problem: String,
    },

    /// Volumes that must share a grid (the modalities of a case, a mask and its image)
    /// differ in shape or affine.
    #[error("{what}: {detail}")]
    GridMismatch {
        /// Which volumes were compared.
        what: String,
        /// What differs, with both values.
        detail: String,
    },

    /// A shape, size or array length does not match what the call needs.
    #[error("{what}: expected {expected}, got {got}")]
    Shape {
        /// Which argument.
        what: String,
        /// What was expected.
        expected: String,
        /// What was given.
        got: String,
    },

    /// A configuration value is out of range; `field` names it.
    #[error("invalid {field}: {reason}")]
    Config {
        /// The configuration field.
        field: String,
        /// Why it is invalid, with the value.
        reason: String,
    },

    /// A JSON file could not be written or read.
    #[error("{path}: {source}")]
    Json {
        /// The file involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: serde_json::Error,
    },
}

fn format_counts(counts: &[(u8, usize)]) -> String {
    counts
        .iter()
        .map(|(v, n)| format!("{v} ({n} voxels)"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The crate's result type.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn invalid(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        Error::InvalidNifti {
            path: path.into(),
            reason: reason.into(),
        }
    }

    pub(crate) fn config(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::Config {
            field: field.into(),
            reason: reason.into(),
        }
    }

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
}
