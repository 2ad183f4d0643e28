//! Training workers and the queues they serve, as `/metrics` reports them: each
//! worker notes itself when it polls ([`seen`]); one busy with a job is seen
//! through the job's heartbeat.

use crate::clock::now_ms;
use crate::{Db, StoreError};

/// Notes that `worker` is alive now.
pub async fn seen(db: &Db, worker: &str) -> Result<(), StoreError> {
    let now = now_ms();
    sqlx::query(
        "INSERT INTO workers (id, started_at, seen_at) VALUES ($1, $2, $2) \
         ON CONFLICT (id) DO UPDATE SET seen_at = excluded.seen_at",
    )
    .bind(worker)
    .bind(now)
    .execute(db.pool())
    .await?;
    Ok(())
}

/// Forgets `worker` (it stopped cleanly).
pub async fn gone(db: &Db, worker: &str) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM workers WHERE id = $1")
        .bind(worker)
        .execute(db.pool())
        .await?;
    Ok(())
}

/// Workers seen polling, or heartbeating a running job, within `within_ms`.
pub async fn alive(db: &Db, within_ms: i64) -> Result<i64, StoreError> {
    let since = now_ms() - within_ms;
    let n: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM (SELECT id AS w FROM workers WHERE seen_at >= $1 \
         UNION SELECT worker AS w FROM training_jobs WHERE status = 'running' AND heartbeat_at >= $1 \
         AND worker IS NOT NULL) AS seen",
    )
    .bind(since)
    .fetch_one(db.pool())
    .await?;
    Ok(n)
}

/// Jobs waiting per queue: `training_detect`, `training_segment` and one
/// `integration_{kind}` per integration job kind with any queued.
pub async fn queue_depth(db: &Db) -> Result<Vec<(String, i64)>, StoreError> {
    let training: Vec<(String, i64)> =
        sqlx::query_as("SELECT task, COUNT(*) FROM training_jobs WHERE status = 'queued' GROUP BY task")
            .fetch_all(db.pool())
            .await?;
    let integration: Vec<(String, i64)> =
        sqlx::query_as("SELECT kind, COUNT(*) FROM integration_jobs WHERE status = 'queued' GROUP BY kind")
            .fetch_all(db.pool())
            .await?;
    let mut out: Vec<(String, i64)> = ["detect", "segment"]
        .iter()
        .map(|t| {
            let n = training.iter().find(|(task, _)| task == t).map_or(0, |(_, n)| *n);
            (format!("training_{t}"), n)
        })
        .collect();
    out.extend(integration.into_iter().map(|(k, n)| (format!("integration_{k}"), n)));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn sqlite() -> (tempfile::TempDir, Db) {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open_sqlite_file(&dir.path().join("d.db")).await.unwrap();
        db.migrate().await.unwrap();
        (dir, db)
    }

    #[tokio::test]
    async fn a_worker_counts_as_alive_while_it_polls_and_not_after_it_left() {
        let (_dir, db) = sqlite().await;
        assert_eq!(alive(&db, 30_000).await.unwrap(), 0);
        seen(&db, "w1").await.unwrap();
        seen(&db, "w1").await.unwrap();
        seen(&db, "w2").await.unwrap();
        assert_eq!(alive(&db, 30_000).await.unwrap(), 2);
        gone(&db, "w2").await.unwrap();
        assert_eq!(alive(&db, 30_000).await.unwrap(), 1);
        assert_eq!(alive(&db, -1).await.unwrap(), 0, "seen longer ago than the window");
    }

    #[tokio::test]
    async fn every_training_queue_is_reported_even_when_empty() {
        let (_dir, db) = sqlite().await;
        assert_eq!(
            queue_depth(&db).await.unwrap(),
            vec![("training_detect".to_string(), 0), ("training_segment".to_string(), 0)]
        );
    }
}
