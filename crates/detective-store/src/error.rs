//! Errors of the storage layer.

use thiserror::Error;

/// What went wrong in the database or the object store.
#[derive(Debug, Error)]
pub enum StoreError {
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("database migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("object store: {0}")]
    Object(#[from] object_store::Error),
    #[error("{what} not found")]
    NotFound { what: String },
    /// The request clashes with what is stored (a name taken, a frame labelled twice).
    #[error("{0}")]
    Conflict(String),
    /// The request itself is wrong; nothing was changed.
    #[error("{0}")]
    Invalid(String),
    /// A configuration value (database URL, object-store URL) that cannot be used.
    #[error("{0}")]
    Config(String),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
}

impl StoreError {
    pub fn not_found(what: impl Into<String>) -> Self {
        StoreError::NotFound { what: what.into() }
    }
}

/// A state column whose text names no state: the row was written by something else.
impl From<detective_core::UnknownState> for StoreError {
    fn from(e: detective_core::UnknownState) -> Self {
        StoreError::Corrupt(e.to_string())
    }
}

impl From<serde_json::Error> for StoreError {
    fn from(e: serde_json::Error) -> Self {
        StoreError::Corrupt(format!("JSON column: {e}"))
    }
}
