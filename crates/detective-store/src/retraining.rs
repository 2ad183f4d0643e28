//! Retraining events (why a retraining started, on which dataset version, which
//! job, how it ended) and the reviewed labels a retraining adds to the data.

use detective_core::RetrainOutcome;
use serde::Serialize;
use sqlx::Row;

use crate::clock::{now_ms, to_rfc3339};
use crate::{Db, StoreError};

/// A retraining event as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Event {
    pub id: i64,
    pub created_at: String,
    /// `manual` or `policy`.
    pub kind: String,
    pub reasons: serde_json::Value,
    /// The conditions when it was triggered.
    pub conditions: serde_json::Value,
    pub dataset_id: Option<i64>,
    pub dataset_version: Option<i64>,
    pub job_id: Option<i64>,
    /// Pending while its data is built and its job trains.
    pub outcome: RetrainOutcome,
    pub detail: Option<String>,
    pub model_version: Option<String>,
    pub updated_at: String,
}

fn event_row(r: &sqlx::any::AnyRow) -> Result<Event, StoreError> {
    let reasons: String = r.try_get("reasons")?;
    let conditions: String = r.try_get("conditions")?;
    Ok(Event {
        id: r.try_get("id")?,
        created_at: to_rfc3339(r.try_get("created_at")?),
        kind: r.try_get("kind")?,
        reasons: serde_json::from_str(&reasons)?,
        conditions: serde_json::from_str(&conditions)?,
        dataset_id: r.try_get("dataset_id")?,
        dataset_version: r.try_get("dataset_version")?,
        job_id: r.try_get("job_id")?,
        outcome: r.try_get::<String, _>("outcome")?.parse()?,
        detail: r.try_get("detail")?,
        model_version: r.try_get("model_version")?,
        updated_at: to_rfc3339(r.try_get("updated_at")?),
    })
}

/// Opens an event unless one is still pending (then `Ok(None)`): one retraining at a time.
pub async fn open(
    db: &Db,
    kind: &str,
    reasons: &serde_json::Value,
    conditions: &serde_json::Value,
) -> Result<Option<Event>, StoreError> {
    let now = now_ms();
    let mut tx = db.begin_write().await?;
    let pending: Option<i64> = sqlx::query_scalar("SELECT id FROM retraining_events WHERE outcome = 'pending' LIMIT 1")
        .fetch_optional(tx.conn())
        .await?;
    if pending.is_some() {
        tx.commit().await?;
        return Ok(None);
    }
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO retraining_events (created_at, kind, reasons, conditions, outcome, updated_at) \
         VALUES ($1, $2, $3, $4, 'pending', $1) RETURNING id",
    )
    .bind(now)
    .bind(kind)
    .bind(serde_json::to_string(reasons)?)
    .bind(serde_json::to_string(conditions)?)
    .fetch_one(tx.conn())
    .await?;
    tx.commit().await?;
    get(db, id).await.map(Some)
}

pub async fn get(db: &Db, id: i64) -> Result<Event, StoreError> {
    let row = sqlx::query("SELECT * FROM retraining_events WHERE id = $1")
        .bind(id)
        .fetch_optional(db.pool())
        .await?
        .ok_or_else(|| StoreError::not_found(format!("retraining event {id}")))?;
    event_row(&row)
}

/// Records the dataset version and job of a pending event.
pub async fn set_job(db: &Db, id: i64, dataset_id: i64, dataset_version: i64, job_id: i64) -> Result<(), StoreError> {
    let mut tx = db.begin_write().await?;
    sqlx::query(
        "UPDATE retraining_events SET dataset_id = $1, dataset_version = $2, job_id = $3, updated_at = $4 WHERE id = $5",
    )
    .bind(dataset_id)
    .bind(dataset_version)
    .bind(job_id)
    .bind(now_ms())
    .bind(id)
    .execute(tx.conn())
    .await?;
    tx.commit().await
}

/// Closes event `id` with its outcome.
pub async fn close(
    db: &Db,
    id: i64,
    outcome: RetrainOutcome,
    detail: &str,
    model_version: Option<&str>,
) -> Result<(), StoreError> {
    let mut tx = db.begin_write().await?;
    sqlx::query(
        "UPDATE retraining_events SET outcome = $1, detail = $2, model_version = $3, updated_at = $4 \
         WHERE id = $5 AND outcome = 'pending'",
    )
    .bind(outcome.as_str())
    .bind(detail)
    .bind(model_version.map(str::to_string))
    .bind(now_ms())
    .bind(id)
    .execute(tx.conn())
    .await?;
    tx.commit().await
}

/// Events newest first.
pub async fn list(db: &Db, limit: usize) -> Result<Vec<Event>, StoreError> {
    let rows = sqlx::query(&format!(
        "SELECT * FROM retraining_events ORDER BY id DESC LIMIT {}",
        limit.clamp(1, 500)
    ))
    .fetch_all(db.pool())
    .await?;
    rows.iter().map(event_row).collect()
}

/// Pending events (their job may have ended).
pub async fn pending(db: &Db) -> Result<Vec<Event>, StoreError> {
    let rows = sqlx::query("SELECT * FROM retraining_events WHERE outcome = 'pending' ORDER BY id")
        .fetch_all(db.pool())
        .await?;
    rows.iter().map(event_row).collect()
}

/// When the newest event was created (ms), if any.
pub async fn last_time(db: &Db) -> Result<Option<i64>, StoreError> {
    Ok(sqlx::query_scalar("SELECT MAX(created_at) FROM retraining_events")
        .fetch_one(db.pool())
        .await?)
}

/// A human label of a logged frame, with what a dataset needs of it.
#[derive(Debug, Clone, PartialEq)]
pub struct ReviewedFrame {
    pub prediction_id: String,
    pub project: String,
    /// The model version (`name@N`) whose prediction queued the frame.
    pub model_version: String,
    pub frame_key: Option<String>,
    /// Boxes `[{class, name, bbox: [x1, y1, x2, y2]}]` in frame pixels.
    pub boxes: serde_json::Value,
    pub defect_free: bool,
    pub labeled_at: i64,
}

/// Labels made after `since` ms (all with `None`), oldest first.
pub async fn reviewed_since(db: &Db, since: Option<i64>) -> Result<Vec<ReviewedFrame>, StoreError> {
    let rows = sqlx::query(
        "SELECT r.prediction_id, p.project, p.model_version, q.frame_key, r.labels, r.defect_free, r.labeled_at \
         FROM reviewed_labels r JOIN labeling_queue q ON q.id = r.queue_id JOIN prediction_logs p ON p.id = r.prediction_id \
         WHERE r.labeled_at > $1 ORDER BY r.labeled_at, r.id",
    )
    .bind(since.unwrap_or(i64::MIN))
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|r| {
            let labels: String = r.try_get("labels")?;
            Ok(ReviewedFrame {
                prediction_id: r.try_get("prediction_id")?,
                project: r.try_get("project")?,
                model_version: r.try_get("model_version")?,
                frame_key: r.try_get("frame_key")?,
                boxes: serde_json::from_str(&labels)?,
                defect_free: r.try_get::<i64, _>("defect_free")? != 0,
                labeled_at: r.try_get("labeled_at")?,
            })
        })
        .collect()
}

/// How many labels were made after `since` ms.
pub async fn count_reviewed_since(db: &Db, since: Option<i64>) -> Result<i64, StoreError> {
    Ok(
        sqlx::query_scalar("SELECT COUNT(*) FROM reviewed_labels WHERE labeled_at > $1")
            .bind(since.unwrap_or(i64::MIN))
            .fetch_one(db.pool())
            .await?,
    )
}
