//! Errors. Every error caused by user input names where it came from: a bad row names the file,
//! the 1-based row, the field and what was expected, so a user can open the file and fix it.

use serde::Serialize;
use thiserror::Error;

/// A bad value in one row of a data file.
///
/// `row` is 1-based: the element of a JSON array, the line of a JSONL file, the record of a CSV
/// file (the header is not a record) or the row of a Parquet file.
#[derive(Debug, Clone, PartialEq, Eq, Error, Serialize)]
#[error("{file}: row {row}, field `{field}`: expected {expected}, found {found}")]
pub struct RowError {
    /// The file, as given by the caller.
    pub file: String,
    /// 1-based row number.
    pub row: usize,
    /// The field, with a path for nested values (`conversation[2].role`); `(row)` for the row itself.
    pub field: String,
    /// What a valid value looks like.
    pub expected: String,
    /// What the row holds instead.
    pub found: String,
}

/// Everything that can go wrong in this crate.
#[derive(Debug, Error)]
pub enum DataError {
    /// A file could not be read.
    #[error("{path}: {error}")]
    Io {
        /// The file.
        path: String,
        /// The underlying error.
        error: std::io::Error,
    },
    /// A whole file is unusable (not valid JSON, not Parquet, unsupported extension).
    #[error("{path}: {detail}")]
    File {
        /// The file.
        path: String,
        /// What is wrong with it.
        detail: String,
    },
    /// One row is bad and the source is configured with `on_error = "fail"`.
    #[error(transparent)]
    Row(#[from] RowError),
    /// The blend configuration is invalid or cannot be satisfied.
    #[error("blend config: {0}")]
    Config(String),
    /// The chat template is missing, invalid or failed to render.
    #[error("chat template: {0}")]
    Template(String),
    /// The tokenizer could not be loaded or failed.
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    /// A target cannot be rendered (its prompt label is unknown).
    #[error("target: {0}")]
    Target(String),
    /// An example cannot be rendered or trained on (for example a benchmark row whose prompt label
    /// is unknown, or a conversation shape the target does not fit).
    #[error("example `{id}` ({origin}): {detail}")]
    Example {
        /// The example's source name.
        origin: String,
        /// The example's id.
        id: String,
        /// What is wrong.
        detail: String,
    },
}

impl DataError {
    pub(crate) fn io(path: &std::path::Path, error: std::io::Error) -> Self {
        DataError::Io { path: path.display().to_string(), error }
    }

    pub(crate) fn file(path: &std::path::Path, detail: impl Into<String>) -> Self {
        DataError::File { path: path.display().to_string(), detail: detail.into() }
    }
}
