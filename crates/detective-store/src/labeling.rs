//! The labeling queue: uncertain predictions, and frames the edge's sampling
//! sent, waiting for a human, listed oldest or lowest-margin first (each with
//! the reason it is there), and their outcome — labelled (boxes into
//! `reviewed_labels`, with who and when) or skipped. A queue item is decided
//! once: a second decision is a conflict.

use detective_core::LabelStatus;
use serde::{Deserialize, Serialize};
use sqlx::Row;

use crate::clock::{now_ms, to_rfc3339};
use crate::predictions::StoredDetection;
use crate::{Db, StoreError};

/// The order of the pending list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueOrder {
    /// Oldest first.
    Oldest,
    /// Smallest margin (confidence nearest the band's middle) first.
    Margin,
}

/// One queued prediction, with the model's detections as the starting point.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QueueItem {
    pub id: i64,
    pub prediction_id: String,
    pub camera_id: String,
    pub status: LabelStatus,
    pub margin: f64,
    /// Why it is queued: `uncertain`, or the sampling strategy that sent it
    /// (`class`, `more_than`, `random`).
    pub reason: String,
    pub created_at: String,
    pub frame_key: Option<String>,
    pub detections: Vec<StoredDetection>,
}

/// A box a human drew or kept: class index and name, pixel `xyxy` in the frame.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LabelBox {
    pub class: u32,
    #[serde(default)]
    pub name: Option<String>,
    pub bbox: [f32; 4],
}

fn item(r: &sqlx::any::AnyRow) -> Result<QueueItem, StoreError> {
    let dets: String = r.try_get("detections")?;
    Ok(QueueItem {
        id: r.try_get("id")?,
        prediction_id: r.try_get("prediction_id")?,
        camera_id: r.try_get("camera_id")?,
        status: r.try_get::<String, _>("status")?.parse()?,
        margin: r.try_get("margin")?,
        reason: r.try_get("reason")?,
        created_at: to_rfc3339(r.try_get("created_at")?),
        frame_key: r.try_get("frame_key")?,
        detections: serde_json::from_str(&dets)?,
    })
}

/// A page of the queue items of `status` in `order`, after `cursor` (the `next`
/// of the previous page); only those queued for `reason` when given (`sampled`:
/// for any sampling strategy).
pub async fn list(
    db: &Db,
    status: LabelStatus,
    reason: Option<&str>,
    order: QueueOrder,
    cursor: Option<&str>,
    limit: usize,
) -> Result<(Vec<QueueItem>, Option<String>), StoreError> {
    let bad = || StoreError::Invalid("cursor is not one this API returned".into());
    let (key_col, after): (&str, Option<(f64, i64)>) = {
        let col = match order {
            QueueOrder::Oldest => "q.created_at",
            QueueOrder::Margin => "q.margin",
        };
        let after = match cursor {
            Some(c) => {
                let (k, id) = c.split_once('_').ok_or_else(bad)?;
                Some((
                    k.parse::<f64>().map_err(|_| bad())?,
                    id.parse::<i64>().map_err(|_| bad())?,
                ))
            }
            None => None,
        };
        (col, after)
    };
    let mut cond = if after.is_some() {
        format!(" AND ({key_col} > $2 OR ({key_col} = $2 AND q.id > $3))")
    } else {
        String::new()
    };
    let next_param = if after.is_some() { 4 } else { 2 };
    match reason {
        Some("sampled") => cond.push_str(" AND q.reason <> 'uncertain'"),
        Some(_) => cond.push_str(&format!(" AND q.reason = ${next_param}")),
        None => {}
    }
    let sql = format!(
        "SELECT q.id, q.prediction_id, q.camera_id, q.status, q.margin, q.reason, q.created_at, q.frame_key, p.detections \
         FROM labeling_queue q JOIN prediction_logs p ON p.id = q.prediction_id \
         WHERE q.status = $1{cond} ORDER BY {key_col}, q.id LIMIT {}",
        limit + 1
    );
    let mut query = sqlx::query(&sql).bind(status.as_str());
    if let Some((k, id)) = after {
        query = match order {
            QueueOrder::Oldest => query.bind(k as i64),
            QueueOrder::Margin => query.bind(k),
        }
        .bind(id);
    }
    if let Some(r) = reason.filter(|r| *r != "sampled") {
        query = query.bind(r);
    }
    let rows = query.fetch_all(db.pool()).await?;
    let mut items: Vec<QueueItem> = rows.iter().map(item).collect::<Result<_, _>>()?;
    let next = if items.len() > limit {
        items.truncate(limit);
        items.last().map(|i| match order {
            QueueOrder::Oldest => format!(
                "{}_{}",
                crate::clock::parse_rfc3339_ms(&i.created_at).unwrap_or(0),
                i.id
            ),
            QueueOrder::Margin => format!("{}_{}", i.margin, i.id),
        })
    } else {
        None
    };
    Ok((items, next))
}

/// Items pending and decided, for the page's counter.
pub async fn counts(db: &Db) -> Result<(i64, i64), StoreError> {
    let row = sqlx::query(
        "SELECT COALESCE(SUM(CASE WHEN status = 'pending' THEN 1 ELSE 0 END), 0) AS pending, \
         COALESCE(SUM(CASE WHEN status <> 'pending' THEN 1 ELSE 0 END), 0) AS done FROM labeling_queue",
    )
    .fetch_one(db.pool())
    .await?;
    Ok((row.try_get("pending")?, row.try_get("done")?))
}

/// Marks item `id` decided (`labeled` or `skipped`) if it is still pending.
async fn decide(tx: &mut crate::db::WriteTx, id: i64, status: LabelStatus) -> Result<String, StoreError> {
    let done =
        sqlx::query("UPDATE labeling_queue SET status = $1, updated_at = $2 WHERE id = $3 AND status = 'pending'")
            .bind(status.as_str())
            .bind(now_ms())
            .bind(id)
            .execute(tx.conn())
            .await?;
    let row = sqlx::query("SELECT prediction_id, status FROM labeling_queue WHERE id = $1")
        .bind(id)
        .fetch_optional(tx.conn())
        .await?
        .ok_or_else(|| StoreError::not_found(format!("labeling queue item {id}")))?;
    if done.rows_affected() == 0 {
        let was: String = row.try_get("status")?;
        return Err(StoreError::Conflict(format!("queue item {id} is already {was}")));
    }
    Ok(row.try_get("prediction_id")?)
}

/// Labels item `id`: `boxes` (none with `defect_free`), by `who`.
pub async fn label(db: &Db, id: i64, boxes: &[LabelBox], defect_free: bool, who: &str) -> Result<(), StoreError> {
    if defect_free && !boxes.is_empty() {
        return Err(StoreError::Invalid("a defect-free frame has no boxes".into()));
    }
    if !defect_free && boxes.is_empty() {
        return Err(StoreError::Invalid(
            "give at least one box, or mark the frame defect_free".into(),
        ));
    }
    for (i, b) in boxes.iter().enumerate() {
        let [x1, y1, x2, y2] = b.bbox;
        if !b.bbox.iter().all(|v| v.is_finite() && *v >= 0.0) || x2 <= x1 || y2 <= y1 {
            return Err(StoreError::Invalid(format!(
                "box {i}: bbox must be x1 < x2, y1 < y2, all ≥ 0"
            )));
        }
    }
    let mut tx = db.begin_write().await?;
    let prediction_id = decide(&mut tx, id, LabelStatus::Labeled).await?;
    sqlx::query(
        "INSERT INTO reviewed_labels (queue_id, prediction_id, labels, defect_free, labeled_by, labeled_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(id)
    .bind(&prediction_id)
    .bind(serde_json::to_string(boxes)?)
    .bind(i64::from(defect_free))
    .bind(who)
    .bind(now_ms())
    .execute(tx.conn())
    .await?;
    tx.commit().await
}

/// Skips item `id` (nobody labels it).
pub async fn skip(db: &Db, id: i64) -> Result<(), StoreError> {
    let mut tx = db.begin_write().await?;
    decide(&mut tx, id, LabelStatus::Skipped).await?;
    tx.commit().await
}

/// The label of one queue item: boxes, defect-free, who, when.
pub async fn reviewed(db: &Db, id: i64) -> Result<serde_json::Value, StoreError> {
    let r = sqlx::query("SELECT labels, defect_free, labeled_by, labeled_at FROM reviewed_labels WHERE queue_id = $1")
        .bind(id)
        .fetch_optional(db.pool())
        .await?
        .ok_or_else(|| StoreError::not_found(format!("a label of queue item {id}")))?;
    let labels: String = r.try_get("labels")?;
    Ok(serde_json::json!({
        "boxes": serde_json::from_str::<serde_json::Value>(&labels)?,
        "defect_free": r.try_get::<i64, _>("defect_free")? != 0,
        "labeled_by": r.try_get::<String, _>("labeled_by")?,
        "labeled_at": to_rfc3339(r.try_get("labeled_at")?),
    }))
}

/// What review found among the frames the model called clean (no detection
/// in or above its class's band) of one camera that reached the queue for one
/// reason: how many a person reviewed, and how many of those they labelled
/// defective — defects the model missed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Misses {
    pub camera_id: String,
    pub reason: String,
    pub reviewed_clean: i64,
    pub missed: i64,
}

/// [`Misses`] by camera and reason, of frames captured in `[from_ms, to_ms)`.
pub async fn misses(db: &Db, from_ms: i64, to_ms: i64) -> Result<Vec<Misses>, StoreError> {
    let rows = sqlx::query(
        "SELECT q.camera_id, q.reason, COUNT(*) AS reviewed, \
         COALESCE(SUM(CASE WHEN r.defect_free = 0 THEN 1 ELSE 0 END), 0) AS missed \
         FROM labeling_queue q JOIN reviewed_labels r ON r.queue_id = q.id \
         JOIN prediction_logs p ON p.id = q.prediction_id \
         WHERE p.defective = 0 AND p.uncertain = 0 AND p.captured_at >= $1 AND p.captured_at < $2 \
         GROUP BY q.camera_id, q.reason ORDER BY q.camera_id, q.reason",
    )
    .bind(from_ms)
    .bind(to_ms)
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|r| {
            Ok(Misses {
                camera_id: r.try_get("camera_id")?,
                reason: r.try_get("reason")?,
                reviewed_clean: r.try_get("reviewed")?,
                missed: r.try_get("missed")?,
            })
        })
        .collect()
}
