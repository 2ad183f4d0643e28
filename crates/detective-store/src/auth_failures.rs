//! Failed API-key checks per client address, for the limiter of sign-in and
//! Bearer authentication (`detective_server::auth_limit`). Rows live in the
//! database so that every replica counts the same failures.

use crate::clock::now_ms;
use crate::{Db, StoreError};

/// Of `clients` (at most two), the one with the most failures since `since_ms`, and
/// their number (None: none failed). One query, for a check on every request.
pub async fn most_since(db: &Db, clients: &[&str], since_ms: i64) -> Result<Option<(String, i64)>, StoreError> {
    let (a, b) = match clients {
        [a] => (*a, *a),
        [a, b] => (*a, *b),
        _ => return Err(StoreError::Invalid(format!("{} clients: one or two", clients.len()))),
    };
    let row: Option<(String, i64)> = sqlx::query_as(
        "SELECT client, COUNT(*) AS n FROM auth_failures WHERE client IN ($1, $2) AND at >= $3 \
         GROUP BY client ORDER BY n DESC, client LIMIT 1",
    )
    .bind(a)
    .bind(b)
    .bind(since_ms)
    .fetch_optional(db.pool())
    .await?;
    Ok(row)
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

    async fn count_since(db: &Db, client: &str, since_ms: i64) -> Result<i64, StoreError> {
        Ok(most_since(db, &[client], since_ms).await?.map_or(0, |(_, n)| n))
    }

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
        record(&db, "key dd_1", 60_000).await.unwrap();
        record(&db, "key dd_1", 60_000).await.unwrap();
        assert_eq!(
            most_since(&db, &["10.0.0.2", "key dd_1"], 0).await.unwrap(),
            Some(("key dd_1".to_string(), 2))
        );
        assert_eq!(most_since(&db, &["nobody"], 0).await.unwrap(), None);
        // a record prunes what is older than the window
        record(&db, "10.0.0.3", -1).await.unwrap();
        assert_eq!(count_since(&db, "10.0.0.2", 0).await.unwrap(), 0);
    }
}
