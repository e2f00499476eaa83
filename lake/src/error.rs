//! What can go wrong writing or reading the lake.

use std::path::PathBuf;

/// An error of the lake: where, and what went wrong.
#[derive(Debug, thiserror::Error)]
pub enum LakeError {
    /// A file or directory could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// Encoding or decoding Parquet failed.
    #[error("parquet: {0}")]
    Parquet(String),
    /// The export marker is not what this build writes.
    #[error(
        "export marker {path}: {problem}; to export again from the journal's start, remove both the marker and the lake's files"
    )]
    Marker {
        /// The marker file.
        path: PathBuf,
        /// What is wrong with it.
        problem: String,
    },
    /// An object store refused or failed a request.
    #[error("lake store {key}: {problem}")]
    Store {
        /// The object's key.
        key: String,
        /// What went wrong.
        problem: String,
    },
    /// An argument is not valid (a date, a key, an option).
    #[error("{0}")]
    Invalid(String),
}

/// The path a durable write failed on, and what the system said.
impl From<trailmark_durable_file::Error> for LakeError {
    fn from(e: trailmark_durable_file::Error) -> Self {
        LakeError::Io {
            path: e.path,
            source: e.source,
        }
    }
}

impl LakeError {
    /// An I/O error on `path`.
    pub fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> LakeError {
        let path = path.into();
        move |source| LakeError::Io { path, source }
    }

    /// A Parquet error, as text (the crate's error type stays inside).
    pub fn parquet(error: parquet::errors::ParquetError) -> LakeError {
        LakeError::Parquet(error.to_string())
    }
}
