//! Errors of the LoRA crate; each names the file or key it concerns on one line.

use std::path::{Path, PathBuf};

use guardtune_model::ModelError;

#[derive(Debug, thiserror::Error)]
pub enum LoraError {
    #[error("invalid LoRA config: {0}")]
    Config(String),
    #[error("{}: {msg}", path.display())]
    Adapter { path: PathBuf, msg: String },
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error(transparent)]
    Model(#[from] ModelError),
}

impl LoraError {
    pub fn adapter(path: &Path, msg: impl Into<String>) -> Self {
        LoraError::Adapter { path: path.to_path_buf(), msg: msg.into() }
    }

    pub fn io(path: &Path, source: std::io::Error) -> Self {
        LoraError::Io { path: path.to_path_buf(), source }
    }
}
