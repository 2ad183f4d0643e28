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

    /// The database or the object store could not be reached — down,
    /// restarting, refusing or timing out connections — rather than refusing
    /// the request: the caller may try again later.
    pub fn is_unavailable(&self) -> bool {
        match self {
            StoreError::Database(e) => database_unavailable(e),
            StoreError::Object(e) => object_store_unavailable(e),
            _ => false,
        }
    }
}

fn database_unavailable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::WorkerCrashed => true,
        // SQLSTATE class 08 (connection exception) and 57P (the server is
        // shutting down, crashed or starting).
        sqlx::Error::Database(d) => d.code().is_some_and(|c| c.starts_with("08") || c.starts_with("57P")),
        _ => false,
    }
}

fn object_store_unavailable(e: &object_store::Error) -> bool {
    use object_store::client::{HttpError, HttpErrorKind};
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(c) = cause {
        if let Some(h) = c.downcast_ref::<HttpError>() {
            return matches!(
                h.kind(),
                HttpErrorKind::Connect | HttpErrorKind::Timeout | HttpErrorKind::Interrupted
            );
        }
        cause = c.source();
    }
    false
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
