//! Errors of the MLOps layer.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum OpsError {
    #[error(transparent)]
    Store(#[from] detective_store::StoreError),
    /// The request is wrong; nothing was changed.
    #[error("{0}")]
    Invalid(String),
    #[error("training: {0}")]
    Train(String),
    #[error("model: {0}")]
    Model(#[from] detective_ml::MlError),
    #[error("{0}")]
    Io(String),
}

impl OpsError {
    pub fn io(what: impl std::fmt::Display, e: impl std::fmt::Display) -> Self {
        OpsError::Io(format!("{what}: {e}"))
    }
}
