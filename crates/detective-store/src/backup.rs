//! Backups of a single node: the SQLite database copied while it is in use
//! (`VACUUM INTO`: one consistent snapshot, writers keep going) and every
//! object copied through the object-store API; the row counts of every table
//! to check a restore against. PostgreSQL + S3 deployments back up with their
//! own tools (`pg_dump`, an S3 sync), see docs/backup.md.

use std::collections::BTreeMap;
use std::path::Path;

use sqlx::Row;

use crate::db::Backend;
use crate::{Db, Objects, StoreError};

/// Writes a consistent copy of the SQLite database `db` to `to` (a new file).
pub async fn sqlite_snapshot(db: &Db, to: &Path) -> Result<(), StoreError> {
    if db.backend() != Backend::Sqlite {
        return Err(StoreError::Invalid(
            "only a SQLite database is backed up here; back up PostgreSQL with pg_dump (docs/backup.md)".into(),
        ));
    }
    if to.exists() {
        return Err(StoreError::Invalid(format!("{} exists already", to.display())));
    }
    let path = to
        .to_str()
        .ok_or_else(|| StoreError::Invalid(format!("{} is not a UTF-8 path", to.display())))?;
    sqlx::query("VACUUM INTO $1").bind(path).execute(db.pool()).await?;
    Ok(())
}

/// The number of rows of every table (the migrations' own bookkeeping left out).
pub async fn table_counts(db: &Db) -> Result<BTreeMap<String, i64>, StoreError> {
    let list = match db.backend() {
        Backend::Sqlite => {
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' \
             AND name NOT LIKE '_sqlx%' ORDER BY name"
        }
        Backend::Postgres => {
            "SELECT CAST(table_name AS TEXT) AS name FROM information_schema.tables WHERE table_schema = current_schema() \
             AND table_type = 'BASE TABLE' AND table_name NOT LIKE '_sqlx%' ORDER BY table_name"
        }
    };
    let names: Vec<String> = sqlx::query(list)
        .fetch_all(db.pool())
        .await?
        .iter()
        .map(|r| r.try_get::<String, _>("name"))
        .collect::<Result<_, _>>()?;
    let mut out = BTreeMap::new();
    for name in names {
        // Names come from the catalogue, not from a user; quoted all the same.
        let n: i64 = sqlx::query_scalar(&format!(
            "SELECT CAST(COUNT(*) AS BIGINT) FROM \"{}\"",
            name.replace('"', "")
        ))
        .fetch_one(db.pool())
        .await?;
        out.insert(name, n);
    }
    Ok(out)
}

/// Copies every object of `from` into `to`; `progress(done, total)` after each.
pub async fn copy_objects(
    from: &Objects,
    to: &Objects,
    mut progress: impl FnMut(usize, usize),
) -> Result<usize, StoreError> {
    let keys = from.list("").await?;
    for (i, key) in keys.iter().enumerate() {
        to.put(key, from.get(key).await?).await?;
        progress(i + 1, keys.len());
    }
    Ok(keys.len())
}
