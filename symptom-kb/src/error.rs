//! The crate's error type.

use std::path::PathBuf;

/// Everything that can go wrong in `symptom-kb`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Another process has the database open (sled holds an exclusive file lock).
    #[error("{path}: database is in use by another process (close it first)")]
    InUse {
        /// The database folder.
        path: PathBuf,
    },

    /// The storage engine failed (disk, corruption).
    #[error("database {path}: {message}")]
    Storage {
        /// The database folder.
        path: PathBuf,
        /// What sled reported.
        message: String,
    },

    /// The database was written by a newer schema than this library knows.
    #[error("database {path}: schema version {found}, this library reads {supported}")]
    Schema {
        /// The database folder.
        path: PathBuf,
        /// Version found.
        found: u32,
        /// Version supported.
        supported: u32,
    },

    /// A content record is invalid; `location` names the file/line or record and field.
    #[error("{location}: {problem}")]
    InvalidRecord {
        /// Where (`hospitals.csv line 7, column lat`, `rules[12].region`).
        location: String,
        /// What is wrong, with the value.
        problem: String,
    },

    /// A symptom code is not in the knowledge base.
    #[error("unknown symptom code {code:?}{}", suggestions_text(.suggestions))]
    UnknownSymptom {
        /// The code given.
        code: String,
        /// Close codes that do exist.
        suggestions: Vec<String>,
    },

    /// A region id is not in the knowledge base.
    #[error("unknown region {id:?}{}", suggestions_text(.suggestions))]
    UnknownRegion {
        /// The id given.
        id: String,
        /// Close ids that do exist.
        suggestions: Vec<String>,
    },

    /// An intake (questionnaire) is not valid JSON or has an invalid field.
    #[error("intake {location}: {problem}")]
    Intake {
        /// Which field (`symptoms[2].side`) or the JSON position.
        location: String,
        /// What is wrong.
        problem: String,
    },

    /// Reading or writing an import/export file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

fn suggestions_text(s: &[String]) -> String {
    if s.is_empty() {
        String::new()
    } else {
        format!(" (did you mean {}?)", s.join(", "))
    }
}

/// The crate's result type.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub(crate) fn record(location: impl Into<String>, problem: impl Into<String>) -> Self {
        Error::InvalidRecord {
            location: location.into(),
            problem: problem.into(),
        }
    }
}
