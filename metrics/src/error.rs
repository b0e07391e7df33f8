//! The crate's error type.

/// Everything that can go wrong in `metrics`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Prediction and truth (or logits and target) do not have the shapes the call needs.
    #[error("{what}: shapes differ: prediction {pred:?} vs truth {truth:?}")]
    ShapeMismatch {
        /// Which inputs (file names or argument names).
        what: String,
        /// Prediction / logits shape.
        pred: Vec<usize>,
        /// Truth / target shape.
        truth: Vec<usize>,
    },

    /// An input has the wrong rank or size for the call.
    #[error("{what}: expected {expected}, got {got}")]
    Shape {
        /// Which argument.
        what: String,
        /// What was expected.
        expected: String,
        /// What was given.
        got: String,
    },

    /// Voxel spacing is not finite and positive, or two files' spacings disagree.
    #[error("{what}: invalid spacing: {detail}")]
    Spacing {
        /// Which input.
        what: String,
        /// The values and what is wrong.
        detail: String,
    },

    /// A label map holds values that no region of the evaluation knows.
    #[error("{what}: labels outside the regions' label set {allowed:?}: {}", format_counts(.unexpected))]
    UnexpectedLabels {
        /// Which input.
        what: String,
        /// The label values the regions use (plus 0).
        allowed: Vec<u8>,
        /// Each unexpected value and its voxel count.
        unexpected: Vec<(u8, usize)>,
    },

    /// A configuration value is out of range; `field` names it.
    #[error("invalid {field}: {reason}")]
    Config {
        /// The field.
        field: String,
        /// Why, with the value.
        reason: String,
    },

    /// A candle operation failed (device, dtype).
    #[cfg(feature = "losses")]
    #[error("tensor operation: {0}")]
    Candle(#[from] candle_core::Error),
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
    pub(crate) fn config(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::Config {
            field: field.into(),
            reason: reason.into(),
        }
    }

    #[cfg(feature = "losses")]
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
