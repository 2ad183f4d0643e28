//! Failed API-key checks per client address, for the limiter of sign-in and
//! Bearer authentication (`detective_server::auth_limit`). Rows live in the
//! database so that every replica counts the same failures.

use crate::clock::now_ms;
use crate::{Db, StoreError};

/// Failures of `client` since `since_ms`.
pub async fn count_since(db: &Db, client: &str, since_ms: i64) -> Result<i64, StoreError> {
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM auth_failures WHERE client = $1 AND at >= $2")
        .bind(client)
        .bind(since_ms)
        .fetch_one(db.pool())
        .await?;
    Ok(n)
}

/// Notes one failure of `client` now, and forgets its failures older than
/// `keep_ms` (no table grows without bound).
pub async fn record(db: &Db, client: &str, keep_ms: i64) -> Result<(), StoreError> {
    let now = now_ms();
    sqlx::query("INSERT INTO auth_failures (client, at) VALUES ($1, $2)")
        .bind(client)
        .bind(now)
        .execute(db.pool())
        .await?;
    sqlx::query("DELETE FROM auth_failures WHERE at < $1")
        .bind(now - keep_ms)
        .execute(db.pool())
        .await?;
    Ok(())
}

/// Forgets `client`'s failures (it signed in).
pub async fn clear(db: &Db, client: &str) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM auth_failures WHERE client = $1")
        .bind(client)
        .execute(db.pool())
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn failures_are_counted_per_client_and_cleared() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open_sqlite_file(&dir.path().join("d.db")).await.unwrap();
        db.migrate().await.unwrap();
        for _ in 0..3 {
            record(&db, "10.0.0.1", 60_000).await.unwrap();
        }
        record(&db, "10.0.0.2", 60_000).await.unwrap();
        assert_eq!(count_since(&db, "10.0.0.1", 0).await.unwrap(), 3);
        assert_eq!(count_since(&db, "10.0.0.1", now_ms() + 1).await.unwrap(), 0);
        clear(&db, "10.0.0.1").await.unwrap();
        assert_eq!(count_since(&db, "10.0.0.1", 0).await.unwrap(), 0);
        assert_eq!(count_since(&db, "10.0.0.2", 0).await.unwrap(), 1);
        // a record prunes what is older than the window
        record(&db, "10.0.0.3", -1).await.unwrap();
        assert_eq!(count_since(&db, "10.0.0.2", 0).await.unwrap(), 0);
    }
}
