//! Background jobs of the integrations (Roboflow push and pull): one row per
//! job with its status, progress (`done` of `total`), a message for people,
//! the result as JSON, and a cancel flag the running job polls. Also what a
//! Roboflow push has sent, so a re-push is idempotent and resumes.

use serde::{Deserialize, Serialize};
use sqlx::Row;

use crate::clock::{now_ms, to_rfc3339};
use crate::{Db, StoreError};

/// A job as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IntegrationJob {
    pub id: i64,
    pub kind: String,
    /// `queued`, `running`, `succeeded`, `failed` or `cancelled`.
    pub status: String,
    pub params: serde_json::Value,
    pub done: i64,
    pub total: i64,
    pub message: String,
    pub result: Option<serde_json::Value>,
    /// A cancel was asked for.
    pub cancel: bool,
    pub created_by: String,
    pub created_at: String,
    pub updated_at: String,
}

const COLUMNS: &str =
    "id, kind, status, params, done, total, message, result, cancel, created_by, created_at, updated_at";

fn job_row(r: &sqlx::any::AnyRow) -> Result<IntegrationJob, StoreError> {
    let params: String = r.try_get("params")?;
    let result: Option<String> = r.try_get("result")?;
    Ok(IntegrationJob {
        id: r.try_get("id")?,
        kind: r.try_get("kind")?,
        status: r.try_get("status")?,
        params: serde_json::from_str(&params)?,
        done: r.try_get("done")?,
        total: r.try_get("total")?,
        message: r.try_get("message")?,
        result: result.map(|t| serde_json::from_str(&t)).transpose()?,
        cancel: r.try_get::<i64, _>("cancel")? != 0,
        created_by: r.try_get("created_by")?,
        created_at: to_rfc3339(r.try_get("created_at")?),
        updated_at: to_rfc3339(r.try_get("updated_at")?),
    })
}

/// Records a queued job of `kind`.
pub async fn create(db: &Db, kind: &str, params: &serde_json::Value, by: &str) -> Result<IntegrationJob, StoreError> {
    let mut tx = db.begin_write().await?;
    let now = now_ms();
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO integration_jobs (kind, status, params, created_by, created_at, updated_at) \
         VALUES ($1, 'queued', $2, $3, $4, $5) RETURNING id",
    )
    .bind(kind)
    .bind(params.to_string())
    .bind(by)
    .bind(now)
    .bind(now)
    .fetch_one(tx.conn())
    .await?;
    tx.commit().await?;
    get(db, id).await
}

pub async fn get(db: &Db, id: i64) -> Result<IntegrationJob, StoreError> {
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM integration_jobs WHERE id = $1"))
        .bind(id)
        .fetch_optional(db.pool())
        .await?
        .ok_or_else(|| StoreError::not_found(format!("job {id}")))?;
    job_row(&row)
}

/// The newest `limit` jobs whose kind starts with `prefix`, newest first.
pub async fn list(db: &Db, prefix: &str, limit: i64) -> Result<Vec<IntegrationJob>, StoreError> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM integration_jobs WHERE kind LIKE $1 ESCAPE '\\' ORDER BY id DESC LIMIT $2"
    ))
    .bind(format!("{}%", crate::sql_args::like_literal(prefix)))
    .bind(limit)
    .fetch_all(db.pool())
    .await?;
    rows.iter().map(job_row).collect()
}

/// Progress of a running job.
pub async fn progress(db: &Db, id: i64, done: i64, total: i64, message: &str) -> Result<(), StoreError> {
    let mut tx = db.begin_write().await?;
    sqlx::query(
        "UPDATE integration_jobs SET status = 'running', done = $1, total = $2, message = $3, updated_at = $4 \
         WHERE id = $5 AND status IN ('queued', 'running')",
    )
    .bind(done)
    .bind(total)
    .bind(message)
    .bind(now_ms())
    .bind(id)
    .execute(tx.conn())
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Ends a job with `status` (`succeeded`, `failed`, `cancelled`).
pub async fn finish(
    db: &Db,
    id: i64,
    status: &str,
    message: &str,
    result: Option<&serde_json::Value>,
) -> Result<(), StoreError> {
    let mut tx = db.begin_write().await?;
    sqlx::query(
        "UPDATE integration_jobs SET status = $1, message = $2, result = $3, updated_at = $4, \
         done = CASE WHEN $1 = 'succeeded' THEN total ELSE done END WHERE id = $5",
    )
    .bind(status)
    .bind(message)
    .bind(result.map(|r| r.to_string()))
    .bind(now_ms())
    .bind(id)
    .execute(tx.conn())
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Asks job `id` to stop; false when it had already ended.
pub async fn request_cancel(db: &Db, id: i64) -> Result<bool, StoreError> {
    get(db, id).await?;
    let mut tx = db.begin_write().await?;
    let done = sqlx::query(
        "UPDATE integration_jobs SET cancel = 1, updated_at = $1 WHERE id = $2 AND status IN ('queued', 'running')",
    )
    .bind(now_ms())
    .bind(id)
    .execute(tx.conn())
    .await?;
    tx.commit().await?;
    Ok(done.rows_affected() > 0)
}

/// Jobs left queued or running by a server that stopped (no progress for
/// `stale_ms`; a replica's live jobs report more often): failed, saying so.
pub async fn fail_interrupted(db: &Db, stale_ms: i64) -> Result<u64, StoreError> {
    let mut tx = db.begin_write().await?;
    let now = now_ms();
    let done = sqlx::query(
        "UPDATE integration_jobs SET status = 'failed', message = 'interrupted: the server stopped; start it again \
         (a push resumes where it stopped)', updated_at = $1 WHERE status IN ('queued', 'running') AND updated_at < $2",
    )
    .bind(now)
    .bind(now - stale_ms)
    .execute(tx.conn())
    .await?;
    tx.commit().await?;
    Ok(done.rows_affected())
}

/// What was pushed of image `image_id` to `target` (`workspace/project`):
/// Roboflow's image id and the SHA-256 of the labels sent.
pub async fn pushed(db: &Db, target: &str, image_id: i64) -> Result<Option<(String, String)>, StoreError> {
    let row = sqlx::query("SELECT roboflow_id, label_sha FROM roboflow_pushed WHERE target = $1 AND image_id = $2")
        .bind(target)
        .bind(image_id)
        .fetch_optional(db.pool())
        .await?;
    row.map(|r| Ok((r.try_get("roboflow_id")?, r.try_get("label_sha")?)))
        .transpose()
}

/// Records that image `image_id` is on `target` as `roboflow_id` with labels `label_sha`.
pub async fn mark_pushed(
    db: &Db,
    target: &str,
    image_id: i64,
    roboflow_id: &str,
    label_sha: &str,
) -> Result<(), StoreError> {
    let mut tx = db.begin_write().await?;
    sqlx::query(
        "INSERT INTO roboflow_pushed (target, image_id, roboflow_id, label_sha, pushed_at) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (target, image_id) DO UPDATE SET roboflow_id = excluded.roboflow_id, label_sha = excluded.label_sha, \
         pushed_at = excluded.pushed_at",
    )
    .bind(target)
    .bind(image_id)
    .bind(roboflow_id)
    .bind(label_sha)
    .bind(now_ms())
    .execute(tx.conn())
    .await?;
    tx.commit().await?;
    Ok(())
}
