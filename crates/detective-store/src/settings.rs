//! Settings changed at run time (from the dashboard), one JSON value per key, in
//! the database so every server replica reads the same.

use sqlx::Row;

use crate::clock::now_ms;
use crate::{Db, StoreError};

/// The value stored under `key`, if any.
pub async fn get(db: &Db, key: &str) -> Result<Option<serde_json::Value>, StoreError> {
    let row = sqlx::query("SELECT value FROM settings WHERE key = $1")
        .bind(key)
        .fetch_optional(db.pool())
        .await?;
    match row {
        Some(r) => {
            let text: String = r.try_get("value")?;
            Ok(Some(serde_json::from_str(&text)?))
        }
        None => Ok(None),
    }
}

/// Stores `value` under `key`, replacing what was there.
pub async fn set(db: &Db, key: &str, value: &serde_json::Value) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO settings (key, value, updated_at) VALUES ($1, $2, $3) \
         ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
    )
    .bind(key)
    .bind(value.to_string())
    .bind(now_ms())
    .execute(db.pool())
    .await?;
    Ok(())
}
