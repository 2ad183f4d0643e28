//! Errors of the application layer. Each variant names a case a caller may act
//! on (fix the request, wait, look elsewhere); the HTTP status of each is chosen
//! once, where `detective-server` maps `OpsError` to a problem answer, and the
//! CLI prints the message. Storage errors that name such a case (not found,
//! conflict, bad input) arrive here as that case, so callers match one enum.

use detective_store::StoreError;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum OpsError {
    /// The request is wrong; nothing was changed.
    #[error("{0}")]
    Invalid(String),
    /// What the request names does not exist.
    #[error("{what} not found")]
    NotFound { what: String },
    /// The request clashes with the current state (a stage rule, a job already
    /// finished, a retraining already running).
    #[error("{0}")]
    Conflict(String),
    /// The request is bigger than `limit` (files, bytes, images); nothing was changed.
    #[error("{detail}")]
    TooLarge { detail: String, limit: u64 },
    /// The request is well formed but what it sends cannot be used (a model
    /// file that does not load, a frame that is not a JPEG).
    #[error("{0}")]
    Unusable(String),
    /// A storage failure (database, object store, corrupt row).
    #[error(transparent)]
    Store(StoreError),
    #[error("training: {0}")]
    Train(String),
    #[error("model: {0}")]
    Model(#[from] detective_ml::MlError),
    #[error("{0}")]
    Io(String),
    /// A service we call (Roboflow, MLflow) failed or refused; the message says
    /// which and why.
    #[error("{0}")]
    Upstream(String),
}

impl OpsError {
    /// The database or the object store could not be reached (see
    /// [`detective_store::StoreError::is_unavailable`]).
    pub fn is_unavailable(&self) -> bool {
        matches!(self, OpsError::Store(e) if e.is_unavailable())
    }

    pub fn io(what: impl std::fmt::Display, e: impl std::fmt::Display) -> Self {
        OpsError::Io(format!("{what}: {e}"))
    }

    pub fn invalid(why: impl Into<String>) -> Self {
        OpsError::Invalid(why.into())
    }

    pub fn not_found(what: impl Into<String>) -> Self {
        OpsError::NotFound { what: what.into() }
    }

    pub fn too_large(detail: impl Into<String>, limit: u64) -> Self {
        OpsError::TooLarge {
            detail: detail.into(),
            limit,
        }
    }
}

impl From<StoreError> for OpsError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound { what } => OpsError::NotFound { what },
            StoreError::Conflict(m) => OpsError::Conflict(m),
            StoreError::Invalid(m) => OpsError::Invalid(m),
            other => OpsError::Store(other),
        }
    }
}

/// A name that breaks the path-segment rule (project, dataset, model).
impl From<detective_core::CoreError> for OpsError {
    fn from(e: detective_core::CoreError) -> Self {
        OpsError::Invalid(e.to_string())
    }
}

/// A state text that names no state (`stage`, `status`): the request is wrong.
impl From<detective_core::UnknownState> for OpsError {
    fn from(e: detective_core::UnknownState) -> Self {
        OpsError::Invalid(e.to_string())
    }
}
