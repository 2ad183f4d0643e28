//! API keys: created with a role, shown once, stored only as a SHA-256 hash.
//!
//! A key is `dd_` followed by 64 hexadecimal digits (256 random bits), so a plain
//! SHA-256 is enough to store it safely (no password-style stretching needed: a
//! key cannot be guessed from a dictionary).

use detective_core::Role;
use rand::RngCore;
use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::Row;

use crate::clock::{now_ms, to_rfc3339};
use crate::{Db, StoreError};

/// A stored key, without its secret.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ApiKey {
    pub id: String,
    pub name: String,
    pub role: Role,
    /// First characters of the key, to tell keys apart in lists.
    pub prefix: String,
    pub created_at: String,
    pub revoked: bool,
}

fn hash(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

fn from_row(row: &sqlx::any::AnyRow) -> Result<ApiKey, StoreError> {
    let role: String = row.try_get("role")?;
    Ok(ApiKey {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        role: role.parse().map_err(StoreError::Corrupt)?,
        prefix: row.try_get("prefix")?,
        created_at: to_rfc3339(row.try_get("created_at")?),
        revoked: row.try_get::<Option<i64>, _>("revoked_at")?.is_some(),
    })
}

/// Creates a key; returns it and the secret, which is not stored anywhere.
pub async fn create(db: &Db, name: &str, role: Role) -> Result<(ApiKey, String), StoreError> {
    let name = name.trim();
    if name.is_empty() || name.len() > 100 || name.chars().any(char::is_control) {
        return Err(StoreError::Invalid(
            "key name must be 1..100 printable characters".into(),
        ));
    }
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let secret = format!("dd_{}", hex::encode(bytes));
    let id = uuid::Uuid::new_v4().to_string();
    let prefix: String = secret.chars().take(10).collect();
    let mut tx = db.begin_write().await?;
    sqlx::query("INSERT INTO api_keys (id, name, role, key_hash, prefix, created_at) VALUES ($1, $2, $3, $4, $5, $6)")
        .bind(&id)
        .bind(name)
        .bind(role.as_str())
        .bind(hash(&secret))
        .bind(&prefix)
        .bind(now_ms())
        .execute(tx.conn())
        .await?;
    tx.commit().await?;
    let key = get(db, &id).await?;
    Ok((key, secret))
}

/// One key by id.
pub async fn get(db: &Db, id: &str) -> Result<ApiKey, StoreError> {
    let row = sqlx::query("SELECT id, name, role, prefix, created_at, revoked_at FROM api_keys WHERE id = $1")
        .bind(id)
        .fetch_optional(db.pool())
        .await?
        .ok_or_else(|| StoreError::not_found(format!("API key {id}")))?;
    from_row(&row)
}

/// The key whose secret is `secret`, if it exists and is not revoked.
pub async fn authenticate(db: &Db, secret: &str) -> Result<Option<ApiKey>, StoreError> {
    if !secret.starts_with("dd_") || secret.len() != 67 {
        return Ok(None);
    }
    let row = sqlx::query(
        "SELECT id, name, role, prefix, created_at, revoked_at FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL",
    )
    .bind(hash(secret))
    .fetch_optional(db.pool())
    .await?;
    row.as_ref().map(from_row).transpose()
}

/// All keys, newest first.
pub async fn list(db: &Db) -> Result<Vec<ApiKey>, StoreError> {
    let rows =
        sqlx::query("SELECT id, name, role, prefix, created_at, revoked_at FROM api_keys ORDER BY created_at DESC, id")
            .fetch_all(db.pool())
            .await?;
    rows.iter().map(from_row).collect()
}

/// Revokes a key (it stops working at once).
pub async fn revoke(db: &Db, id: &str) -> Result<(), StoreError> {
    let mut tx = db.begin_write().await?;
    let done = sqlx::query("UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
        .bind(now_ms())
        .bind(id)
        .execute(tx.conn())
        .await?;
    tx.commit().await?;
    if done.rows_affected() == 0 {
        return Err(StoreError::not_found(format!("active API key {id}")));
    }
    Ok(())
}

/// How many keys are active (a fresh install has none).
pub async fn count_active(db: &Db) -> Result<i64, StoreError> {
    Ok(
        sqlx::query_scalar("SELECT COUNT(*) FROM api_keys WHERE revoked_at IS NULL")
            .fetch_one(db.pool())
            .await?,
    )
}
