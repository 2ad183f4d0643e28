//! Named user accounts: a user name (lower case, unique), a role (admin,
//! operator or viewer: agents use device keys) and a password hash made by the
//! caller (`detective_ops::accounts` hashes with Argon2id; this module never
//! sees a password). A disabled account cannot sign in, and its sessions end.

use detective_core::Role;
use serde::Serialize;
use sqlx::Row;

use crate::clock::{now_ms, to_rfc3339};
use crate::{Db, StoreError};

/// A stored account, without its password hash.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct User {
    pub id: String,
    pub username: String,
    pub role: Role,
    pub created_at: String,
    /// When the password was last set, in milliseconds: a session names it, so
    /// a new password ends the sessions signed in with the old one.
    #[serde(skip)]
    pub password_changed_ms: i64,
    pub disabled: bool,
}

const COLUMNS: &str = "id, username, role, created_at, password_changed_at, disabled_at";

fn from_row(row: &sqlx::any::AnyRow) -> Result<User, StoreError> {
    let role: String = row.try_get("role")?;
    Ok(User {
        id: row.try_get("id")?,
        username: row.try_get("username")?,
        role: role.parse().map_err(StoreError::Corrupt)?,
        created_at: to_rfc3339(row.try_get("created_at")?),
        password_changed_ms: row.try_get("password_changed_at")?,
        disabled: row.try_get::<Option<i64>, _>("disabled_at")?.is_some(),
    })
}

/// `name` as a user name is kept: trimmed and lower-cased; 1–64 of letters,
/// digits and `. _ @ -`, starting with a letter or digit.
pub fn normalize_username(name: &str) -> Result<String, StoreError> {
    let name = name.trim().to_lowercase();
    let ok = (1..=64).contains(&name.len())
        && name.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '@' | '-'));
    if ok {
        Ok(name)
    } else {
        Err(StoreError::Invalid(
            "a user name is 1..64 letters, digits, '.', '_', '@' or '-', starting with a letter or digit".into(),
        ))
    }
}

/// Creates an account; 409 when the name is taken.
pub async fn create(db: &Db, username: &str, role: Role, password_hash: &str) -> Result<User, StoreError> {
    let username = normalize_username(username)?;
    if role == Role::Device {
        return Err(StoreError::Invalid(
            "a user account is admin, operator or viewer (agents use device API keys)".into(),
        ));
    }
    let id = uuid::Uuid::new_v4().to_string();
    let now = now_ms();
    let mut tx = db.begin_write().await?;
    let taken: Option<String> = sqlx::query_scalar("SELECT id FROM users WHERE username = $1")
        .bind(&username)
        .fetch_optional(tx.conn())
        .await?;
    if taken.is_some() {
        return Err(StoreError::Conflict(format!("the user name {username:?} is taken")));
    }
    sqlx::query(
        "INSERT INTO users (id, username, role, password_hash, created_at, password_changed_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&id)
    .bind(&username)
    .bind(role.as_str())
    .bind(password_hash)
    .bind(now)
    .bind(now)
    .execute(tx.conn())
    .await?;
    tx.commit().await?;
    get(db, &id).await
}

/// One account by id.
pub async fn get(db: &Db, id: &str) -> Result<User, StoreError> {
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM users WHERE id = $1"))
        .bind(id)
        .fetch_optional(db.pool())
        .await?
        .ok_or_else(|| StoreError::not_found(format!("user {id}")))?;
    from_row(&row)
}

/// One account by id or user name.
pub async fn find(db: &Db, id_or_name: &str) -> Result<User, StoreError> {
    let name = id_or_name.trim().to_lowercase();
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM users WHERE id = $1 OR username = $2"))
        .bind(id_or_name)
        .bind(&name)
        .fetch_optional(db.pool())
        .await?
        .ok_or_else(|| StoreError::not_found(format!("user {id_or_name}")))?;
    from_row(&row)
}

/// The enabled account named `username` and its password hash, to check a
/// sign-in against.
pub async fn credentials(db: &Db, username: &str) -> Result<Option<(User, String)>, StoreError> {
    let name = username.trim().to_lowercase();
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS}, password_hash FROM users WHERE username = $1 AND disabled_at IS NULL"
    ))
    .bind(&name)
    .fetch_optional(db.pool())
    .await?;
    match row {
        Some(r) => Ok(Some((from_row(&r)?, r.try_get("password_hash")?))),
        None => Ok(None),
    }
}

/// Every account, by name.
pub async fn list(db: &Db) -> Result<Vec<User>, StoreError> {
    let rows = sqlx::query(&format!("SELECT {COLUMNS} FROM users ORDER BY username"))
        .fetch_all(db.pool())
        .await?;
    rows.iter().map(from_row).collect()
}

/// Sets the password hash of account `id` (its other sessions end).
pub async fn set_password(db: &Db, id: &str, password_hash: &str) -> Result<User, StoreError> {
    let mut tx = db.begin_write().await?;
    // Strictly later than the last change, even within one millisecond.
    let done = sqlx::query(
        "UPDATE users SET password_hash = $1, \
         password_changed_at = CASE WHEN password_changed_at >= $2 THEN password_changed_at + 1 ELSE $2 END \
         WHERE id = $3",
    )
    .bind(password_hash)
    .bind(now_ms())
    .bind(id)
    .execute(tx.conn())
    .await?;
    tx.commit().await?;
    after_update(db, id, done.rows_affected()).await
}

/// Disables (or, with `false`, enables again) account `id`.
pub async fn set_disabled(db: &Db, id: &str, disabled: bool) -> Result<User, StoreError> {
    let mut tx = db.begin_write().await?;
    let done = sqlx::query("UPDATE users SET disabled_at = $1 WHERE id = $2")
        .bind(disabled.then(now_ms))
        .bind(id)
        .execute(tx.conn())
        .await?;
    tx.commit().await?;
    after_update(db, id, done.rows_affected()).await
}

/// Account `id` as an update that changed `rows` rows left it (none: there is no such account).
async fn after_update(db: &Db, id: &str, rows: u64) -> Result<User, StoreError> {
    if rows == 0 {
        return Err(StoreError::not_found(format!("user {id}")));
    }
    get(db, id).await
}
