//! The audit trail: one row per successful change made by an operator or an
//! admin (who, which action on which target, the answer's status, from where).
//! Rows are only added; `GET /api/audit` reads them, newest first.

use serde::Serialize;
use sqlx::Row;

use crate::clock::{now_ms, to_rfc3339};
use crate::{Db, StoreError};

/// Most rows one page returns.
pub const MAX_PAGE: usize = 1000;

/// A change to record.
#[derive(Debug, Clone)]
pub struct NewEntry {
    /// The key's (or session's) name.
    pub actor: String,
    pub role: String,
    /// Method and route, e.g. `POST /api/models/{name}/rollback`.
    pub action: String,
    /// The path as called, e.g. `/api/models/line3/rollback`.
    pub target: String,
    pub status: u16,
    /// The client's address.
    pub client: String,
}

/// A recorded change.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Entry {
    pub id: i64,
    pub at: String,
    pub actor: String,
    pub role: String,
    pub action: String,
    pub target: String,
    pub status: i64,
    pub client: String,
}

pub async fn insert(db: &Db, e: &NewEntry) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO audit_log (at, actor, role, action, target, status, client) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(now_ms())
    .bind(&e.actor)
    .bind(&e.role)
    .bind(&e.action)
    .bind(&e.target)
    .bind(e.status as i64)
    .bind(&e.client)
    .execute(db.pool())
    .await?;
    Ok(())
}

/// Up to `limit` entries older than id `before` (all when None), newest first,
/// of `actor` when given.
pub async fn list(db: &Db, actor: Option<&str>, before: Option<i64>, limit: usize) -> Result<Vec<Entry>, StoreError> {
    let rows = sqlx::query(
        "SELECT id, at, actor, role, action, target, status, client FROM audit_log \
         WHERE ($1 = '' OR actor = $1) AND id < $2 ORDER BY id DESC LIMIT $3",
    )
    .bind(actor.unwrap_or(""))
    .bind(before.unwrap_or(i64::MAX))
    .bind(limit.clamp(1, MAX_PAGE) as i64)
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|r| {
            Ok(Entry {
                id: r.try_get("id")?,
                at: to_rfc3339(r.try_get("at")?),
                actor: r.try_get("actor")?,
                role: r.try_get("role")?,
                action: r.try_get("action")?,
                target: r.try_get("target")?,
                status: r.try_get("status")?,
                client: r.try_get("client")?,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn entries_come_back_newest_first_by_actor_and_in_pages() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open_sqlite_file(&dir.path().join("d.db")).await.unwrap();
        db.migrate().await.unwrap();
        for (i, actor) in ["ann", "bob", "ann"].iter().enumerate() {
            insert(
                &db,
                &NewEntry {
                    actor: actor.to_string(),
                    role: "admin".into(),
                    action: "POST /api/models/{name}/rollback".into(),
                    target: format!("/api/models/m{i}/rollback"),
                    status: 200,
                    client: "127.0.0.1".into(),
                },
            )
            .await
            .unwrap();
        }
        let all = list(&db, None, None, 10).await.unwrap();
        assert_eq!(
            all.iter().map(|e| e.target.as_str()).collect::<Vec<_>>(),
            [
                "/api/models/m2/rollback",
                "/api/models/m1/rollback",
                "/api/models/m0/rollback"
            ]
        );
        assert_eq!(list(&db, Some("ann"), None, 10).await.unwrap().len(), 2);
        let page = list(&db, None, Some(all[0].id), 1).await.unwrap();
        assert_eq!(page[0].target, "/api/models/m1/rollback");
    }
}
