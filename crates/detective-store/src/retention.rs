//! Retention's reads and deletions: prediction logs received before a cut-off
//! (the server's clock, so an edge agent's skewed clock cannot age its own
//! predictions), and the frames of such predictions, a batch at a time (one short write
//! transaction per batch, so ingest goes on between batches). A prediction a
//! person labelled, or that waits in the labeling queue, is kept with its
//! frame: those are training data. Skipped queue items go with their
//! prediction.

use sqlx::Row;

use crate::sql_args::{Arg, Args};
use crate::{Db, StoreError};

/// Predictions that may go: received before the cut-off, neither labelled nor
/// pending in the labeling queue.
const EXPIRED: &str = "p.received_at < $1 \
     AND NOT EXISTS (SELECT 1 FROM labeling_queue q WHERE q.prediction_id = p.id AND q.status IN ('pending', 'labeled')) \
     AND NOT EXISTS (SELECT 1 FROM reviewed_labels r WHERE r.prediction_id = p.id)";

/// A prediction retention may remove, and its frame's object key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expired {
    pub id: String,
    pub frame_key: Option<String>,
}

fn expired_of(rows: &[sqlx::any::AnyRow]) -> Result<Vec<Expired>, StoreError> {
    rows.iter()
        .map(|r| {
            Ok(Expired {
                id: r.try_get("id")?,
                frame_key: r.try_get("frame_key")?,
            })
        })
        .collect()
}

/// Up to `limit` predictions received before `before_ms` that may be removed,
/// oldest first.
pub async fn expired_predictions(db: &Db, before_ms: i64, limit: usize) -> Result<Vec<Expired>, StoreError> {
    let rows = sqlx::query(&format!(
        "SELECT p.id, p.frame_key FROM prediction_logs p WHERE {EXPIRED} ORDER BY p.received_at, p.id LIMIT $2"
    ))
    .bind(before_ms)
    .bind(limit as i64)
    .fetch_all(db.pool())
    .await?;
    expired_of(&rows)
}

/// Up to `limit` predictions received before `before_ms` that still hold a
/// frame which may be removed, oldest first.
pub async fn expired_frames(db: &Db, before_ms: i64, limit: usize) -> Result<Vec<Expired>, StoreError> {
    let rows = sqlx::query(&format!(
        "SELECT p.id, p.frame_key FROM prediction_logs p WHERE p.frame_key IS NOT NULL AND {EXPIRED} \
         ORDER BY p.received_at, p.id LIMIT $2"
    ))
    .bind(before_ms)
    .bind(limit as i64)
    .fetch_all(db.pool())
    .await?;
    expired_of(&rows)
}

/// `"$k, $k+1, …"` for `ids`, pushed onto `args`.
fn id_list(args: &mut Args, ids: &[String]) -> String {
    ids.iter()
        .map(|id| args.push(Arg::Str(id.clone())))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Of predictions `ids`, those still expired (neither labelled nor pending in
/// the queue), within `tx`.
async fn still_expired(
    tx: &mut crate::db::WriteTx,
    ids: &[String],
    with_frame: bool,
) -> Result<Vec<Expired>, StoreError> {
    let mut args = Args::new(tx.backend());
    let list = id_list(&mut args, ids);
    let frame = if with_frame { "AND p.frame_key IS NOT NULL" } else { "" };
    let sql = format!(
        "SELECT p.id, p.frame_key FROM prediction_logs p WHERE p.id IN ({list}) {frame} \
         AND NOT EXISTS (SELECT 1 FROM labeling_queue q WHERE q.prediction_id = p.id AND q.status IN ('pending', 'labeled')) \
         AND NOT EXISTS (SELECT 1 FROM reviewed_labels r WHERE r.prediction_id = p.id)"
    );
    let rows = args.bind_all(sqlx::query(&sql)).fetch_all(tx.conn()).await?;
    expired_of(&rows)
}

/// What a batch does to the rows of its predictions, in the queue and in the log.
#[derive(Clone, Copy)]
enum Change {
    Delete,
    ForgetFrames,
}

/// Applies `change` to those of predictions `ids` that are still expired (with
/// a frame, for [`Change::ForgetFrames`]) — their queue items (only skipped
/// ones can be left) and their log rows — in one transaction; returns them.
async fn apply(db: &Db, ids: &[String], change: Change) -> Result<Vec<Expired>, StoreError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut tx = db.begin_write().await?;
    let gone = still_expired(&mut tx, ids, matches!(change, Change::ForgetFrames)).await?;
    if !gone.is_empty() {
        let ids: Vec<String> = gone.iter().map(|e| e.id.clone()).collect();
        for (table, column) in [("labeling_queue", "prediction_id"), ("prediction_logs", "id")] {
            let mut args = Args::new(db.backend());
            let list = id_list(&mut args, &ids);
            let sql = match change {
                Change::Delete => format!("DELETE FROM {table} WHERE {column} IN ({list})"),
                Change::ForgetFrames => format!("UPDATE {table} SET frame_key = NULL WHERE {column} IN ({list})"),
            };
            args.bind_all(sqlx::query(&sql)).execute(tx.conn()).await?;
        }
    }
    tx.commit().await?;
    Ok(gone)
}

/// Deletes those of predictions `ids` that are still expired, with their
/// skipped queue items, in one transaction; returns them (with their frame
/// keys, whose objects the caller deletes: a row goes before its object, so a
/// stop in between leaves an unreferenced object, never a dangling key).
pub async fn delete_predictions(db: &Db, ids: &[String]) -> Result<Vec<Expired>, StoreError> {
    apply(db, ids, Change::Delete).await
}

/// Forgets the frames of those of predictions `ids` that are still expired
/// (their frame keys become NULL, in the log and in skipped queue items), in
/// one transaction; returns them with the keys whose objects the caller
/// deletes.
pub async fn forget_frames(db: &Db, ids: &[String]) -> Result<Vec<Expired>, StoreError> {
    apply(db, ids, Change::ForgetFrames).await
}
