//! Typed errors of the data crate; each names the file and the cause.

use std::path::PathBuf;

use thiserror::Error;

#[derive(Debug, Error)]
pub enum DataError {
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{}: invalid data.yaml: {reason}", path.display())]
    Yaml { path: PathBuf, reason: String },
    #[error("{}: invalid COCO JSON: {reason}", path.display())]
    Coco { path: PathBuf, reason: String },
    #[error("{}: not found", path.display())]
    NotFound { path: PathBuf },
    #[error("{}: unreadable image: {reason}", path.display())]
    Image { path: PathBuf, reason: String },
    #[error("{0}")]
    Invalid(String),
}

impl DataError {
    pub fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> DataError {
        let path = path.into();
        move |source| DataError::Io { path, source }
    }
}
