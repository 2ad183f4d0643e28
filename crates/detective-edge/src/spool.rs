//! The agent's local spool: every result is written here first (SQLite, WAL,
//! under the agent's data dir) and deleted only after the cloud acknowledged it,
//! so nothing is lost when the network or the cloud is down, or the agent dies.
//!
//! The spool has a byte quota. When a new result would go over it, room is made
//! explicitly and every eviction is counted: first the oldest clean results
//! (neither defective nor uncertain) go, then the frame JPEGs of the oldest
//! results (the predictions stay), and only then the oldest results of any kind.

use std::path::Path;
use std::str::FromStr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use detective_core::LoggedPrediction;
use sqlx::Row;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};

use crate::EdgeError;

fn db_err(e: sqlx::Error) -> EdgeError {
    EdgeError::Spool(e.to_string())
}

/// SQLite's "database or disk is full" (SQLITE_FULL).
fn is_disk_full(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.code().as_deref() == Some("13"))
}

/// Bytes kept in a reserve file beside the spool. SQLite needs room in its
/// write-ahead log to delete rows, so on a full disk even delivered results
/// could not be removed and the spool would never drain; the reserve is given
/// back then, and taken again once there is room.
const RESERVE_BYTES: usize = 1 << 20;

/// The reserve file and whether it is held now.
struct Reserve {
    path: std::path::PathBuf,
    held: std::sync::atomic::AtomicBool,
}

impl Reserve {
    /// Holds the reserve if it is not held; false when the disk has no room for it.
    fn hold(&self) -> bool {
        if self.held.load(Ordering::Relaxed) {
            return true;
        }
        match std::fs::write(&self.path, vec![0u8; RESERVE_BYTES]) {
            Ok(()) => {
                self.held.store(true, Ordering::Relaxed);
                true
            }
            Err(_) => {
                let _ = std::fs::remove_file(&self.path);
                false
            }
        }
    }

    /// Gives the reserve back to the disk; false when it was not held.
    fn release(&self) -> bool {
        let was = self.held.swap(false, Ordering::Relaxed);
        let _ = std::fs::remove_file(&self.path);
        was
    }
}

/// One spooled result.
#[derive(Debug, Clone)]
pub struct SpoolItem {
    pub seq: i64,
    pub prediction: LoggedPrediction,
    /// JPEG of the frame, kept for defective and uncertain results.
    pub frame: Option<Vec<u8>>,
}

/// What the quota has thrown away so far.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Evictions {
    pub clean_results: u64,
    pub frames: u64,
    pub results: u64,
}

/// The spool database.
pub struct Spool {
    pool: SqlitePool,
    quota_bytes: u64,
    /// Bytes stored (kept in step with the table, read once at open).
    bytes: Mutex<u64>,
    evicted_clean: AtomicU64,
    evicted_frames: AtomicU64,
    evicted_results: AtomicU64,
    reserve: Reserve,
}

impl Spool {
    /// Opens (creating) the spool at `path` with a quota in bytes.
    pub async fn open(path: &Path, quota_bytes: u64) -> Result<Spool, EdgeError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| EdgeError::Io {
                what: dir.display().to_string(),
                source: e,
            })?;
        }
        let opts = SqliteConnectOptions::from_str(&format!("sqlite://{}", path.display()))
            .map_err(db_err)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(std::time::Duration::from_secs(10));
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(opts)
            .await
            .map_err(db_err)?;
        sqlx::query(
            "CREATE TABLE IF NOT EXISTS spool (
                seq INTEGER PRIMARY KEY AUTOINCREMENT,
                id TEXT NOT NULL UNIQUE,
                prediction TEXT NOT NULL,
                frame BLOB,
                keep INTEGER NOT NULL,
                bytes INTEGER NOT NULL)",
        )
        .execute(&pool)
        .await
        .map_err(db_err)?;
        let bytes: i64 = sqlx::query_scalar("SELECT COALESCE(SUM(bytes), 0) FROM spool")
            .fetch_one(&pool)
            .await
            .map_err(db_err)?;
        let reserve = Reserve {
            path: path.with_extension("reserve"),
            held: std::sync::atomic::AtomicBool::new(false),
        };
        if !reserve.hold() {
            tracing::warn!(
                "no room for the spool's {RESERVE_BYTES}-byte reserve beside {}: the disk is full",
                path.display()
            );
        }
        Ok(Spool {
            pool,
            quota_bytes,
            bytes: Mutex::new(bytes.max(0) as u64),
            evicted_clean: AtomicU64::new(0),
            evicted_frames: AtomicU64::new(0),
            evicted_results: AtomicU64::new(0),
            reserve,
        })
    }

    fn add_bytes(&self, delta: i64) {
        if let Ok(mut b) = self.bytes.lock() {
            *b = (*b as i64 + delta).max(0) as u64;
        }
    }

    /// Bytes stored now.
    pub fn bytes(&self) -> u64 {
        self.bytes.lock().map(|b| *b).unwrap_or(0)
    }

    /// Stores a result; `keep` marks a defective or uncertain one (evicted last).
    pub async fn push(&self, p: &LoggedPrediction, frame: Option<&[u8]>, keep: bool) -> Result<(), EdgeError> {
        let json = serde_json::to_string(p).map_err(|e| EdgeError::Spool(e.to_string()))?;
        let size = (json.len() + frame.map_or(0, |f| f.len())) as u64;
        if size > self.quota_bytes {
            return Err(EdgeError::Spool(format!(
                "one result of {size} bytes is larger than the spool quota of {} bytes",
                self.quota_bytes
            )));
        }
        self.make_room(size).await?;
        sqlx::query("INSERT OR IGNORE INTO spool (id, prediction, frame, keep, bytes) VALUES (?, ?, ?, ?, ?)")
            .bind(&p.id)
            .bind(json)
            .bind(frame.map(<[u8]>::to_vec))
            .bind(keep as i64)
            .bind(size as i64)
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        self.add_bytes(size as i64);
        Ok(())
    }

    /// Evicts until `incoming` more bytes fit the quota.
    async fn make_room(&self, incoming: u64) -> Result<(), EdgeError> {
        while !self.fits(incoming) {
            let clean = sqlx::query("SELECT seq, bytes FROM spool WHERE keep = 0 ORDER BY seq LIMIT 64")
                .fetch_all(&self.pool)
                .await
                .map_err(db_err)?;
            if !clean.is_empty() {
                self.evict(&clean, incoming, &self.evicted_clean).await?;
                continue;
            }
            let framed =
                sqlx::query("SELECT seq, LENGTH(frame) AS n FROM spool WHERE frame IS NOT NULL ORDER BY seq LIMIT 16")
                    .fetch_all(&self.pool)
                    .await
                    .map_err(db_err)?;
            if !framed.is_empty() {
                for r in &framed {
                    if self.fits(incoming) {
                        break;
                    }
                    let seq: i64 = r.get("seq");
                    let n: i64 = r.get("n");
                    sqlx::query("UPDATE spool SET frame = NULL, bytes = bytes - ? WHERE seq = ?")
                        .bind(n)
                        .bind(seq)
                        .execute(&self.pool)
                        .await
                        .map_err(db_err)?;
                    self.add_bytes(-n);
                    self.evicted_frames.fetch_add(1, Ordering::Relaxed);
                }
                continue;
            }
            let any = sqlx::query("SELECT seq, bytes FROM spool ORDER BY seq LIMIT 64")
                .fetch_all(&self.pool)
                .await
                .map_err(db_err)?;
            if any.is_empty() {
                return Ok(());
            }
            self.evict(&any, incoming, &self.evicted_results).await?;
        }
        Ok(())
    }

    fn fits(&self, incoming: u64) -> bool {
        self.bytes() + incoming <= self.quota_bytes
    }

    async fn evict(
        &self,
        rows: &[sqlx::sqlite::SqliteRow],
        incoming: u64,
        counter: &AtomicU64,
    ) -> Result<(), EdgeError> {
        for r in rows {
            if self.fits(incoming) {
                break;
            }
            let seq: i64 = r.get("seq");
            let n: i64 = r.get("bytes");
            sqlx::query("DELETE FROM spool WHERE seq = ?")
                .bind(seq)
                .execute(&self.pool)
                .await
                .map_err(db_err)?;
            self.add_bytes(-n);
            counter.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(seq, "spool quota: evicted");
        }
        Ok(())
    }

    /// The oldest `max` results.
    pub async fn peek(&self, max: usize) -> Result<Vec<SpoolItem>, EdgeError> {
        let rows = sqlx::query("SELECT seq, prediction, frame FROM spool ORDER BY seq LIMIT ?")
            .bind(max as i64)
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
        rows.iter()
            .map(|r| {
                let text: String = r.get("prediction");
                Ok(SpoolItem {
                    seq: r.get("seq"),
                    prediction: serde_json::from_str(&text)
                        .map_err(|e| EdgeError::Spool(format!("corrupt spool row: {e}")))?,
                    frame: r.get("frame"),
                })
            })
            .collect()
    }

    /// Deletes acknowledged results.
    pub async fn remove(&self, seqs: &[i64]) -> Result<(), EdgeError> {
        if seqs.is_empty() {
            return Ok(());
        }
        let list = seqs.iter().map(|s| s.to_string()).collect::<Vec<_>>().join(",");
        let freed: i64 = sqlx::query_scalar(&format!(
            "SELECT COALESCE(SUM(bytes), 0) FROM spool WHERE seq IN ({list})"
        ))
        .fetch_one(&self.pool)
        .await
        .map_err(db_err)?;
        let delete = format!("DELETE FROM spool WHERE seq IN ({list})");
        match sqlx::query(&delete).execute(&self.pool).await {
            Ok(_) => {}
            // The disk is full: give the reserve back and delete again.
            Err(e) if is_disk_full(&e) && self.reserve.release() => {
                tracing::warn!("the spool's disk is full: its reserve is given back to remove delivered results");
                sqlx::query(&delete).execute(&self.pool).await.map_err(db_err)?;
            }
            Err(e) => return Err(db_err(e)),
        }
        self.add_bytes(-freed);
        self.reserve.hold();
        Ok(())
    }

    /// Results waiting to be delivered.
    pub async fn pending(&self) -> Result<u64, EdgeError> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM spool")
            .fetch_one(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(n as u64)
    }

    pub fn evictions(&self) -> Evictions {
        Evictions {
            clean_results: self.evicted_clean.load(Ordering::Relaxed),
            frames: self.evicted_frames.load(Ordering::Relaxed),
            results: self.evicted_results.load(Ordering::Relaxed),
        }
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn pred(i: u32) -> LoggedPrediction {
        LoggedPrediction {
            id: format!("00000000-0000-7000-8000-{i:012x}"),
            captured_at: "2026-11-24T08:00:00Z".into(),
            model_version: "m@1".into(),
            features: BTreeMap::new(),
            detections: Vec::new(),
            sampled: None,
        }
    }

    #[tokio::test]
    async fn results_survive_a_reopen_until_removed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("spool.db");
        let s = Spool::open(&path, 1 << 20).await.unwrap();
        for i in 0..5 {
            s.push(&pred(i), None, false).await.unwrap();
        }
        s.push(&pred(0), None, false).await.unwrap();
        s.close().await;
        let s = Spool::open(&path, 1 << 20).await.unwrap();
        assert_eq!(s.pending().await.unwrap(), 5, "the same id is stored once");
        let items = s.peek(3).await.unwrap();
        assert_eq!(items[0].prediction.id, pred(0).id);
        s.remove(&items.iter().map(|i| i.seq).collect::<Vec<_>>())
            .await
            .unwrap();
        assert_eq!(s.pending().await.unwrap(), 2);
        assert_eq!(s.peek(10).await.unwrap()[0].prediction.id, pred(3).id);
    }

    #[tokio::test]
    async fn the_quota_drops_clean_results_first_then_frames_then_the_oldest() {
        let dir = tempfile::tempdir().unwrap();
        let one = serde_json::to_string(&pred(0)).unwrap().len() as u64;
        let frame = vec![0u8; 1000];
        // Room for 3 framed results.
        let s = Spool::open(&dir.path().join("spool.db"), 3 * (one + 1000) + 10)
            .await
            .unwrap();
        s.push(&pred(1), Some(&frame), true).await.unwrap();
        s.push(&pred(2), None, false).await.unwrap();
        s.push(&pred(3), Some(&frame), true).await.unwrap();
        s.push(&pred(4), Some(&frame), true).await.unwrap();
        assert_eq!(
            s.evictions(),
            Evictions {
                clean_results: 1,
                frames: 0,
                results: 0
            }
        );
        let ids: Vec<String> = s.peek(10).await.unwrap().into_iter().map(|i| i.prediction.id).collect();
        assert_eq!(ids, [pred(1).id, pred(3).id, pred(4).id]);
        s.push(&pred(5), Some(&frame), true).await.unwrap();
        let ev = s.evictions();
        // A new framed result needs a frame and a bit more: the two oldest frames go,
        // their results stay.
        assert_eq!((ev.clean_results, ev.frames, ev.results), (1, 2, 0));
        let items = s.peek(10).await.unwrap();
        assert_eq!(items.len(), 4);
        let framed: Vec<bool> = items.iter().map(|i| i.frame.is_some()).collect();
        assert_eq!(framed, [false, false, true, true]);
        assert!(s.bytes() <= 3 * (one + 1000) + 10);
    }
}
