//! Alert rules, the events they fire and the delivery of each event to each
//! channel. An event is written with its deliveries in one transaction, and
//! only when the rule's quiet period for that key has passed, so two server
//! replicas evaluating the same condition page once.

use serde::{Deserialize, Serialize};
use sqlx::Row;

use crate::clock::{now_ms, to_rfc3339};
use crate::{Db, StoreError};

/// A stored rule: its spec (condition, channels, quiet period) as JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertRule {
    pub id: i64,
    pub name: String,
    pub kind: String,
    pub spec: serde_json::Value,
    pub enabled: bool,
    pub created_by: String,
    pub created_at: String,
    pub updated_at: String,
}

fn rule_row(r: &sqlx::any::AnyRow) -> Result<AlertRule, StoreError> {
    let spec: String = r.try_get("spec")?;
    Ok(AlertRule {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        kind: r.try_get("kind")?,
        spec: serde_json::from_str(&spec)?,
        enabled: r.try_get::<i64, _>("enabled")? != 0,
        created_by: r.try_get("created_by")?,
        created_at: to_rfc3339(r.try_get("created_at")?),
        updated_at: to_rfc3339(r.try_get("updated_at")?),
    })
}

const RULE_COLUMNS: &str = "id, name, kind, spec, enabled, created_by, created_at, updated_at";

pub async fn create_rule(
    db: &Db,
    name: &str,
    kind: &str,
    spec: &serde_json::Value,
    enabled: bool,
    by: &str,
) -> Result<AlertRule, StoreError> {
    let mut tx = db.begin_write().await?;
    let now = now_ms();
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO alert_rules (name, kind, spec, enabled, created_by, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING id",
    )
    .bind(name)
    .bind(kind)
    .bind(spec.to_string())
    .bind(i64::from(enabled))
    .bind(by)
    .bind(now)
    .fetch_one(tx.conn())
    .await?;
    tx.commit().await?;
    get_rule(db, id).await
}

pub async fn update_rule(
    db: &Db,
    id: i64,
    name: &str,
    kind: &str,
    spec: &serde_json::Value,
    enabled: bool,
) -> Result<AlertRule, StoreError> {
    let done = sqlx::query(
        "UPDATE alert_rules SET name = $1, kind = $2, spec = $3, enabled = $4, updated_at = $5 WHERE id = $6",
    )
    .bind(name)
    .bind(kind)
    .bind(spec.to_string())
    .bind(i64::from(enabled))
    .bind(now_ms())
    .bind(id)
    .execute(db.pool())
    .await?;
    if done.rows_affected() == 0 {
        return Err(StoreError::not_found(format!("alert rule {id}")));
    }
    get_rule(db, id).await
}

pub async fn delete_rule(db: &Db, id: i64) -> Result<(), StoreError> {
    let done = sqlx::query("DELETE FROM alert_rules WHERE id = $1")
        .bind(id)
        .execute(db.pool())
        .await?;
    if done.rows_affected() == 0 {
        return Err(StoreError::not_found(format!("alert rule {id}")));
    }
    Ok(())
}

pub async fn get_rule(db: &Db, id: i64) -> Result<AlertRule, StoreError> {
    let r = sqlx::query(&format!("SELECT {RULE_COLUMNS} FROM alert_rules WHERE id = $1"))
        .bind(id)
        .fetch_optional(db.pool())
        .await?
        .ok_or_else(|| StoreError::not_found(format!("alert rule {id}")))?;
    rule_row(&r)
}

/// Every rule, oldest first.
pub async fn list_rules(db: &Db) -> Result<Vec<AlertRule>, StoreError> {
    let rows = sqlx::query(&format!("SELECT {RULE_COLUMNS} FROM alert_rules ORDER BY id"))
        .fetch_all(db.pool())
        .await?;
    rows.iter().map(rule_row).collect()
}

/// A fired event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertEvent {
    pub id: i64,
    pub rule_id: i64,
    pub kind: String,
    pub key: String,
    pub title: String,
    pub detail: serde_json::Value,
    pub created_at: String,
}

fn event_row(r: &sqlx::any::AnyRow) -> Result<AlertEvent, StoreError> {
    let detail: String = r.try_get("detail")?;
    Ok(AlertEvent {
        id: r.try_get("id")?,
        rule_id: r.try_get("rule_id")?,
        kind: r.try_get("kind")?,
        key: r.try_get("key")?,
        title: r.try_get("title")?,
        detail: serde_json::from_str(&detail)?,
        created_at: to_rfc3339(r.try_get("created_at")?),
    })
}

/// What to fire: the rule, its key and text, and where it goes
/// (`(channel description, target JSON)` per channel that is delivered).
pub struct Firing<'a> {
    pub rule_id: i64,
    pub kind: &'a str,
    pub key: &'a str,
    pub title: &'a str,
    pub detail: &'a serde_json::Value,
    pub quiet_secs: u32,
    pub targets: &'a [(String, serde_json::Value)],
}

/// Records the event and its deliveries unless the rule fired for the same
/// key within its quiet period; the event when recorded.
pub async fn fire(db: &Db, f: &Firing<'_>) -> Result<Option<AlertEvent>, StoreError> {
    let now = now_ms();
    let mut tx = db.begin_write().await?;
    // Two replicas firing the same rule at once: on PostgreSQL the rule's row
    // lock makes the second wait and then see the first's event (SQLite's
    // write transaction is exclusive already).
    if db.backend() == crate::Backend::Postgres {
        sqlx::query("SELECT id FROM alert_rules WHERE id = $1 FOR UPDATE")
            .bind(f.rule_id)
            .fetch_optional(tx.conn())
            .await?;
    }
    let last: Option<i64> =
        sqlx::query_scalar("SELECT MAX(created_at) FROM alert_events WHERE rule_id = $1 AND key = $2")
            .bind(f.rule_id)
            .bind(f.key)
            .fetch_one(tx.conn())
            .await?;
    if !detective_core::alerts::past_quiet(last, now, f.quiet_secs) {
        return Ok(None);
    }
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO alert_events (rule_id, kind, key, title, detail, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
    )
    .bind(f.rule_id)
    .bind(f.kind)
    .bind(f.key)
    .bind(f.title)
    .bind(f.detail.to_string())
    .bind(now)
    .fetch_one(tx.conn())
    .await?;
    for (channel, target) in f.targets {
        sqlx::query(
            "INSERT INTO alert_deliveries (event_id, channel, target, next_at, created_at) VALUES ($1, $2, $3, $4, $4)",
        )
        .bind(id)
        .bind(channel)
        .bind(target.to_string())
        .bind(now)
        .execute(tx.conn())
        .await?;
    }
    tx.commit().await?;
    Ok(Some(AlertEvent {
        id,
        rule_id: f.rule_id,
        kind: f.kind.to_string(),
        key: f.key.to_string(),
        title: f.title.to_string(),
        detail: f.detail.clone(),
        created_at: to_rfc3339(now),
    }))
}

/// The newest events, newest first (`after`: only those with a larger id).
pub async fn list_events(db: &Db, limit: usize, after: Option<i64>) -> Result<Vec<AlertEvent>, StoreError> {
    let rows = sqlx::query(&format!(
        "SELECT id, rule_id, kind, key, title, detail, created_at FROM alert_events WHERE id > $1 \
         ORDER BY id DESC LIMIT {limit}"
    ))
    .bind(after.unwrap_or(0))
    .fetch_all(db.pool())
    .await?;
    rows.iter().map(event_row).collect()
}

/// One delivery of an event to a channel.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Delivery {
    pub id: i64,
    pub event_id: i64,
    pub channel: String,
    /// The channel as the rule set it (a webhook's secret included: not for
    /// the API).
    #[serde(skip)]
    pub target: serde_json::Value,
    pub status: String,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub created_at: String,
    pub done_at: Option<String>,
}

fn delivery_row(r: &sqlx::any::AnyRow) -> Result<Delivery, StoreError> {
    let target: String = r.try_get("target")?;
    Ok(Delivery {
        id: r.try_get("id")?,
        event_id: r.try_get("event_id")?,
        channel: r.try_get("channel")?,
        target: serde_json::from_str(&target)?,
        status: r.try_get("status")?,
        attempts: r.try_get("attempts")?,
        last_error: r.try_get("last_error")?,
        created_at: to_rfc3339(r.try_get("created_at")?),
        done_at: r.try_get::<Option<i64>, _>("done_at")?.map(to_rfc3339),
    })
}

const DELIVERY_COLUMNS: &str = "id, event_id, channel, target, status, attempts, last_error, created_at, done_at";

/// Takes the oldest delivery due at `now` for `lease_ms` (another process will
/// not take it meanwhile); `None` when nothing is due.
pub async fn take_due(db: &Db, now: i64, lease_ms: i64) -> Result<Option<Delivery>, StoreError> {
    let row = sqlx::query(&format!(
        "SELECT {DELIVERY_COLUMNS}, next_at FROM alert_deliveries WHERE status = 'pending' AND next_at <= $1 \
         ORDER BY next_at, id LIMIT 1"
    ))
    .bind(now)
    .fetch_optional(db.pool())
    .await?;
    let Some(r) = row else { return Ok(None) };
    let next_at: i64 = r.try_get("next_at")?;
    let id: i64 = r.try_get("id")?;
    let taken =
        sqlx::query("UPDATE alert_deliveries SET next_at = $1 WHERE id = $2 AND next_at = $3 AND status = 'pending'")
            .bind(now + lease_ms)
            .bind(id)
            .bind(next_at)
            .execute(db.pool())
            .await?;
    if taken.rows_affected() == 0 {
        return Ok(None);
    }
    Ok(Some(delivery_row(&r)?))
}

pub async fn delivered(db: &Db, id: i64) -> Result<(), StoreError> {
    sqlx::query("UPDATE alert_deliveries SET status = 'delivered', attempts = attempts + 1, done_at = $1, last_error = NULL WHERE id = $2")
        .bind(now_ms())
        .bind(id)
        .execute(db.pool())
        .await?;
    Ok(())
}

/// A failed attempt: try again at `next_at`, or give up (`next_at` None).
pub async fn attempt_failed(db: &Db, id: i64, next_at: Option<i64>, error: &str) -> Result<(), StoreError> {
    let sql = match next_at {
        Some(_) => "UPDATE alert_deliveries SET attempts = attempts + 1, next_at = $1, last_error = $2 WHERE id = $3",
        None => {
            "UPDATE alert_deliveries SET attempts = attempts + 1, status = 'failed', done_at = $1, last_error = $2 WHERE id = $3"
        }
    };
    sqlx::query(sql)
        .bind(next_at.unwrap_or_else(now_ms))
        .bind(error)
        .bind(id)
        .execute(db.pool())
        .await?;
    Ok(())
}

/// The deliveries of event `event_id`, newest first.
pub async fn list_deliveries(db: &Db, event_id: i64, limit: usize) -> Result<Vec<Delivery>, StoreError> {
    let rows = sqlx::query(&format!(
        "SELECT {DELIVERY_COLUMNS} FROM alert_deliveries WHERE event_id = $1 ORDER BY id DESC LIMIT {limit}"
    ))
    .bind(event_id)
    .fetch_all(db.pool())
    .await?;
    rows.iter().map(delivery_row).collect()
}

/// Event `id`.
pub async fn get_event(db: &Db, id: i64) -> Result<AlertEvent, StoreError> {
    let r = sqlx::query("SELECT id, rule_id, kind, key, title, detail, created_at FROM alert_events WHERE id = $1")
        .bind(id)
        .fetch_optional(db.pool())
        .await?
        .ok_or_else(|| StoreError::not_found(format!("alert event {id}")))?;
    event_row(&r)
}
