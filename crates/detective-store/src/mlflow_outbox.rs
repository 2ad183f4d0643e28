//! The MLflow outbox: calls to MLflow waiting to be made, oldest first, kept
//! until delivered (or refused for good); the links from our jobs and model
//! versions to what MLflow made of them; and a lease so that one process at a
//! time delivers (order matters: a run exists before its metrics).

use serde::Serialize;
use sqlx::Row;

use crate::clock::{now_ms, to_rfc3339};
use crate::{Db, StoreError};

/// One waiting call.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OutboxItem {
    pub id: i64,
    /// What it belongs to: `job:12`, `model:name`.
    pub subject: String,
    pub kind: String,
    pub body: serde_json::Value,
    pub attempts: i64,
    pub created_at: String,
}

/// Adds a call for `subject` unless `max_pending` calls already wait; whether
/// it was added.
pub async fn enqueue(
    db: &Db,
    subject: &str,
    kind: &str,
    body: &serde_json::Value,
    max_pending: i64,
) -> Result<bool, StoreError> {
    let mut tx = db.begin_write().await?;
    let waiting: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM mlflow_outbox WHERE status = 'pending'")
        .fetch_one(tx.conn())
        .await?;
    if waiting >= max_pending {
        return Ok(false);
    }
    let now = now_ms();
    sqlx::query("INSERT INTO mlflow_outbox (subject, kind, body, next_at, created_at) VALUES ($1, $2, $3, $4, $4)")
        .bind(subject)
        .bind(kind)
        .bind(body.to_string())
        .bind(now)
        .execute(tx.conn())
        .await?;
    tx.commit().await?;
    Ok(true)
}

/// The oldest waiting call, if it is due at `now` (a call waiting out its
/// backoff holds back the ones after it, so they stay in order).
pub async fn next_due(db: &Db, now: i64) -> Result<Option<OutboxItem>, StoreError> {
    let row = sqlx::query(
        "SELECT id, subject, kind, body, attempts, next_at, created_at FROM mlflow_outbox \
         WHERE status = 'pending' ORDER BY id LIMIT 1",
    )
    .fetch_optional(db.pool())
    .await?;
    let Some(r) = row else { return Ok(None) };
    if r.try_get::<i64, _>("next_at")? > now {
        return Ok(None);
    }
    let body: String = r.try_get("body")?;
    Ok(Some(OutboxItem {
        id: r.try_get("id")?,
        subject: r.try_get("subject")?,
        kind: r.try_get("kind")?,
        body: serde_json::from_str(&body)?,
        attempts: r.try_get("attempts")?,
        created_at: to_rfc3339(r.try_get("created_at")?),
    }))
}

/// Marks call `id` delivered.
pub async fn delivered(db: &Db, id: i64) -> Result<(), StoreError> {
    sqlx::query("UPDATE mlflow_outbox SET status = 'delivered', done_at = $1, last_error = NULL WHERE id = $2")
        .bind(now_ms())
        .bind(id)
        .execute(db.pool())
        .await?;
    Ok(())
}

/// Call `id` failed but may work later: try again at `next_at`.
pub async fn retry_at(db: &Db, id: i64, next_at: i64, error: &str) -> Result<(), StoreError> {
    sqlx::query("UPDATE mlflow_outbox SET attempts = attempts + 1, next_at = $1, last_error = $2 WHERE id = $3")
        .bind(next_at)
        .bind(error)
        .bind(id)
        .execute(db.pool())
        .await?;
    Ok(())
}

/// Call `id` was refused for good (MLflow said no): kept with the reason, not
/// tried again.
pub async fn failed(db: &Db, id: i64, error: &str) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE mlflow_outbox SET status = 'failed', attempts = attempts + 1, done_at = $1, last_error = $2 \
         WHERE id = $3",
    )
    .bind(now_ms())
    .bind(error)
    .bind(id)
    .execute(db.pool())
    .await?;
    Ok(())
}

/// What the outbox holds for `subject` (all subjects: `None`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct OutboxCounts {
    pub pending: i64,
    pub delivered: i64,
    pub failed: i64,
    /// The last error of a waiting or failed call.
    pub last_error: Option<String>,
}

pub async fn counts(db: &Db, subject: Option<&str>) -> Result<OutboxCounts, StoreError> {
    let cond = if subject.is_some() { "WHERE subject = $1" } else { "" };
    let sql = format!(
        "SELECT COALESCE(SUM(CASE WHEN status = 'pending' THEN 1 ELSE 0 END), 0) AS pending, \
         COALESCE(SUM(CASE WHEN status = 'delivered' THEN 1 ELSE 0 END), 0) AS delivered, \
         COALESCE(SUM(CASE WHEN status = 'failed' THEN 1 ELSE 0 END), 0) AS failed FROM mlflow_outbox {cond}"
    );
    let mut q = sqlx::query(&sql);
    if let Some(s) = subject {
        q = q.bind(s);
    }
    let r = q.fetch_one(db.pool()).await?;
    let err_sql = format!(
        "SELECT last_error FROM mlflow_outbox {} last_error IS NOT NULL AND status <> 'delivered' ORDER BY id DESC LIMIT 1",
        if subject.is_some() {
            "WHERE subject = $1 AND"
        } else {
            "WHERE"
        }
    );
    let mut q = sqlx::query(&err_sql);
    if let Some(s) = subject {
        q = q.bind(s);
    }
    let last_error = match q.fetch_optional(db.pool()).await? {
        Some(row) => row.try_get("last_error")?,
        None => None,
    };
    Ok(OutboxCounts {
        pending: r.try_get("pending")?,
        delivered: r.try_get("delivered")?,
        failed: r.try_get("failed")?,
        last_error,
    })
}

/// What `key` links to (`run:job:12` → the run), if anything yet.
pub async fn link(db: &Db, key: &str) -> Result<Option<String>, StoreError> {
    let row = sqlx::query("SELECT value FROM mlflow_links WHERE key = $1")
        .bind(key)
        .fetch_optional(db.pool())
        .await?;
    Ok(match row {
        Some(r) => Some(r.try_get("value")?),
        None => None,
    })
}

/// Links `key` to `value`, replacing an older link.
pub async fn set_link(db: &Db, key: &str, value: &str) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO mlflow_links (key, value, updated_at) VALUES ($1, $2, $3) \
         ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
    )
    .bind(key)
    .bind(value)
    .bind(now_ms())
    .execute(db.pool())
    .await?;
    Ok(())
}

/// Takes (or keeps) the delivery lease for `holder` until `until_ms`; whether
/// `holder` has it. Another holder's lease is taken only once it ran out.
pub async fn take_lease(db: &Db, holder: &str, until_ms: i64) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "UPDATE mlflow_lease SET holder = $1, until_ms = $2 WHERE id = 1 AND (holder = $1 OR until_ms < $3)",
    )
    .bind(holder)
    .bind(until_ms)
    .bind(now_ms())
    .execute(db.pool())
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Gives the delivery lease up, if `holder` has it (a process that stops), so
/// another process may deliver at once.
pub async fn release_lease(db: &Db, holder: &str) -> Result<(), StoreError> {
    sqlx::query("UPDATE mlflow_lease SET until_ms = 0 WHERE id = 1 AND holder = $1")
        .bind(holder)
        .execute(db.pool())
        .await?;
    Ok(())
}

/// Makes every waiting call due now (`detective mlflow flush`: try at once,
/// whatever backoff the last failures set).
pub async fn due_now(db: &Db) -> Result<(), StoreError> {
    let now = now_ms();
    sqlx::query("UPDATE mlflow_outbox SET next_at = $1 WHERE status = 'pending' AND next_at > $1")
        .bind(now)
        .execute(db.pool())
        .await?;
    Ok(())
}
