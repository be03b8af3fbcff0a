//! Errors of the model crate. Every variant names the file it concerns, and its message fits on
//! one line, so the command line can print it as is.

use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{}: {msg}", path.display())]
    Config { path: PathBuf, msg: String },
    #[error("{}: {msg}", path.display())]
    Checkpoint { path: PathBuf, msg: String },
    #[error("{}: {msg}", path.display())]
    Tokenizer { path: PathBuf, msg: String },
    #[error("{0}")]
    Invalid(String),
}

impl ModelError {
    pub fn io(path: &Path, source: std::io::Error) -> Self {
        ModelError::Io { path: path.to_path_buf(), source }
    }

    pub fn checkpoint(path: &Path, msg: impl Into<String>) -> Self {
        ModelError::Checkpoint { path: path.to_path_buf(), msg: msg.into() }
    }

    pub fn tokenizer(path: &Path, msg: impl Into<String>) -> Self {
        ModelError::Tokenizer { path: path.to_path_buf(), msg: msg.into() }
    }
}
