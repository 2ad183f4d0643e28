//! Opening the service's storage from flags and configuration: the database
//! (migrated) and the object store.

use anyhow::{Context, Result};
use detective_store::{Db, Objects};

use crate::cli::StorageArgs;
use crate::config::Config;

/// The database URL in effect: flag, else config `server.database_url`, else the
/// SQLite file under the data dir.
pub fn database_url(args: &StorageArgs, config: &Config) -> String {
    args.database_url
        .clone()
        .filter(|u| !u.is_empty())
        .or_else(|| Some(config.server.database_url.clone()).filter(|u| !u.is_empty()))
        .unwrap_or_else(|| format!("sqlite://{}", config.data_dir.join("detective.db").display()))
}

/// Connects and applies pending migrations.
pub async fn open_db(args: &StorageArgs, config: &Config) -> Result<Db> {
    let url = database_url(args, config);
    let db = Db::connect(&url).await.context("opening the database")?;
    let applied = db.migrate().await.context("migrating the database")?;
    if applied > 0 {
        tracing::info!("applied {applied} database migration(s) to {}", db.display_url());
    }
    Ok(db)
}

/// The object store: flag, else config `server.object_store`, else DATA_DIR/objects.
pub fn open_objects(args: &StorageArgs, config: &Config) -> Result<Objects> {
    let url = args
        .object_store
        .clone()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| config.server.object_store.clone());
    Objects::from_url(&url, &config.data_dir.join("objects")).context("opening the object store")
}

/// A runtime for the async storage code of short commands.
pub fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}
