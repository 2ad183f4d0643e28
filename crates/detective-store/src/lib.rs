//! Storage of Defect Detective: the database (sqlx over SQLite or PostgreSQL,
//! one schema and one repository code for both, migrations embedded) and the
//! object store (a local folder or S3). Repositories are modules of plain async
//! functions taking a [`Db`].

pub mod alerts;
pub mod analytics;
pub mod annotations;
pub mod api_keys;
pub mod audit_log;
pub mod auth_failures;
pub mod backup;
pub mod clock;
pub mod datasets;
pub mod db;
pub mod drift;
pub mod error;
pub mod images;
pub mod insight_log;
pub mod integration_jobs;
pub mod labeling;
pub mod mlflow_outbox;
pub mod models;
pub mod objects;
pub mod predictions;
pub mod retention;
pub mod retraining;
pub mod rules;
pub mod settings;
pub mod shared_events;
mod sql_args;
pub mod testing;
pub mod testing_mlflow;
pub mod training_jobs;
pub mod users;
pub mod workers;

pub use db::{Backend, Db};
pub use error::StoreError;
pub use objects::{Objects, S3Config, keys};
