//! Registered models and their versions: adding a version, stages (None →
//! Staging → Production → Archived, one Production per model), rollback to the
//! previous Production, and the reads the API and agents need.

use detective_core::{Stage, Task};
use serde::{Deserialize, Serialize};
use sqlx::Row;

use crate::clock::{now_ms, to_rfc3339};
use crate::{Db, StoreError};

/// One version of a registered model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelVersion {
    pub name: String,
    pub task: Task,
    pub version: i64,
    pub stage: Stage,
    pub metrics: serde_json::Value,
    pub params: serde_json::Value,
    pub artifact_key: String,
    pub dataset_version_id: Option<i64>,
    pub created_at: String,
}

/// A model and how many versions it has.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Model {
    pub name: String,
    pub task: Task,
    pub versions: i64,
    pub created_at: String,
}

const VERSION_COLUMNS: &str = "m.name, m.task, v.version, v.stage, v.metrics, v.params, v.artifact_key, \
                               v.dataset_version_id, v.created_at";

fn version_row(r: &sqlx::any::AnyRow) -> Result<ModelVersion, StoreError> {
    let metrics: String = r.try_get("metrics")?;
    let params: String = r.try_get("params")?;
    Ok(ModelVersion {
        name: r.try_get("name")?,
        task: r.try_get::<String, _>("task")?.parse()?,
        version: r.try_get("version")?,
        stage: r.try_get::<String, _>("stage")?.parse()?,
        metrics: serde_json::from_str(&metrics)?,
        params: serde_json::from_str(&params)?,
        artifact_key: r.try_get("artifact_key")?,
        dataset_version_id: r.try_get("dataset_version_id")?,
        created_at: to_rfc3339(r.try_get("created_at")?),
    })
}

/// Adds the next version of model `name` (created on first use) at stage None.
/// `artifact_key` None means the standard `models/{name}/v{n}`.
pub async fn add_version(
    db: &Db,
    name: &str,
    task: Task,
    metrics: &serde_json::Value,
    params: &serde_json::Value,
    artifact_key: Option<&str>,
    dataset_version_id: Option<i64>,
) -> Result<ModelVersion, StoreError> {
    detective_core::names::check_segment("model name", name).map_err(|e| StoreError::Invalid(e.to_string()))?;
    let mut tx = db.begin_write().await?;
    let existing = sqlx::query("SELECT id, task FROM models WHERE name = $1")
        .bind(name)
        .fetch_optional(tx.conn())
        .await?;
    let model_id: i64 = match existing {
        Some(r) => {
            let t: Task = r.try_get::<String, _>("task")?.parse()?;
            if t != task {
                return Err(StoreError::Conflict(format!("model {name} is a {t} model, not {task}")));
            }
            r.try_get("id")?
        }
        None => {
            sqlx::query_scalar("INSERT INTO models (name, task, created_at) VALUES ($1, $2, $3) RETURNING id")
                .bind(name)
                .bind(task.as_str())
                .bind(now_ms())
                .fetch_one(tx.conn())
                .await?
        }
    };
    let version: i64 = sqlx::query_scalar(
        "SELECT CAST(COALESCE(MAX(version), 0) + 1 AS BIGINT) FROM model_versions WHERE model_id = $1",
    )
    .bind(model_id)
    .fetch_one(tx.conn())
    .await?;
    let artifact_key = artifact_key.map_or_else(|| crate::keys::model_version(name, version), str::to_string);
    sqlx::query(
        "INSERT INTO model_versions (model_id, version, stage, metrics, params, artifact_key, dataset_version_id, created_at) \
         VALUES ($1, $2, 'None', $3, $4, $5, $6, $7)",
    )
    .bind(model_id)
    .bind(version)
    .bind(serde_json::to_string(metrics)?)
    .bind(serde_json::to_string(params)?)
    .bind(&artifact_key)
    .bind(dataset_version_id)
    .bind(now_ms())
    .execute(tx.conn())
    .await?;
    tx.commit().await?;
    get_version(db, name, version).await
}

pub async fn get_version(db: &Db, name: &str, version: i64) -> Result<ModelVersion, StoreError> {
    let row = sqlx::query(&format!(
        "SELECT {VERSION_COLUMNS} FROM model_versions v JOIN models m ON m.id = v.model_id WHERE m.name = $1 AND v.version = $2"
    ))
    .bind(name)
    .bind(version)
    .fetch_optional(db.pool())
    .await?
    .ok_or_else(|| StoreError::not_found(format!("model {name} version {version}")))?;
    version_row(&row)
}

/// Adds the keys of `extra` to the parameters of one version (a key it
/// already has is replaced).
pub async fn merge_params(db: &Db, name: &str, version: i64, extra: &serde_json::Value) -> Result<(), StoreError> {
    let mut params = get_version(db, name, version).await?.params;
    let mut tx = db.begin_write().await?;
    if let (Some(p), Some(e)) = (params.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            p.insert(k.clone(), v.clone());
        }
    }
    sqlx::query("UPDATE model_versions SET params = $1 WHERE model_id = (SELECT id FROM models WHERE name = $2) AND version = $3")
        .bind(serde_json::to_string(&params)?)
        .bind(name)
        .bind(version)
        .execute(tx.conn())
        .await?;
    tx.commit().await
}

/// Sets the stage of one version. Each task has one Production model: making a
/// version Production archives the Production version of every model of the
/// same task (the previous version of this model, or another detector when a
/// detector is promoted), and leaves the other tasks' Production alone.
pub async fn set_stage(db: &Db, name: &str, version: i64, stage: Stage) -> Result<ModelVersion, StoreError> {
    let current = get_version(db, name, version).await?;
    let mut tx = db.begin_write().await?;
    if stage == Stage::Production {
        sqlx::query(
            "UPDATE model_versions SET stage = 'Archived' WHERE stage = 'Production' \
             AND model_id IN (SELECT id FROM models WHERE task = (SELECT task FROM models WHERE name = $1)) \
             AND NOT (model_id = (SELECT id FROM models WHERE name = $1) AND version = $2)",
        )
        .bind(name)
        .bind(version)
        .execute(tx.conn())
        .await?;
    }
    let promoted = (stage == Stage::Production && current.stage != Stage::Production).then(now_ms);
    sqlx::query(
        "UPDATE model_versions SET stage = $1, promoted_at = COALESCE($4, promoted_at) \
         WHERE model_id = (SELECT id FROM models WHERE name = $2) AND version = $3",
    )
    .bind(stage.as_str())
    .bind(name)
    .bind(current.version)
    .bind(promoted)
    .execute(tx.conn())
    .await?;
    tx.commit().await?;
    get_version(db, name, version).await
}

/// Brings back the version that was Production before the current one and
/// archives the current one. Returns (restored, archived).
pub async fn rollback(db: &Db, name: &str) -> Result<(ModelVersion, ModelVersion), StoreError> {
    let current = at_stage(db, Some(name), None, Stage::Production)
        .await?
        .ok_or_else(|| StoreError::Conflict(format!("model {name} has no Production version to roll back")))?;
    let previous: Option<i64> = sqlx::query_scalar(
        "SELECT v.version FROM model_versions v JOIN models m ON m.id = v.model_id \
         WHERE m.name = $1 AND v.version <> $2 AND v.promoted_at IS NOT NULL \
         ORDER BY v.promoted_at DESC, v.version DESC LIMIT 1",
    )
    .bind(name)
    .bind(current.version)
    .fetch_optional(db.pool())
    .await?;
    let previous = previous.ok_or_else(|| {
        StoreError::Conflict(format!(
            "model {name}: no version was Production before version {}",
            current.version
        ))
    })?;
    let restored = set_stage(db, name, previous, Stage::Production).await?;
    let archived = get_version(db, name, current.version).await?;
    Ok((restored, archived))
}

/// Replaces the metrics of one version (measured after registration).
pub async fn set_metrics(
    db: &Db,
    name: &str,
    version: i64,
    metrics: &serde_json::Value,
) -> Result<ModelVersion, StoreError> {
    let mut tx = db.begin_write().await?;
    sqlx::query("UPDATE model_versions SET metrics = $1 WHERE model_id = (SELECT id FROM models WHERE name = $2) AND version = $3")
        .bind(serde_json::to_string(metrics)?)
        .bind(name)
        .bind(version)
        .execute(tx.conn())
        .await?;
    tx.commit().await?;
    get_version(db, name, version).await
}

/// Removes a version that never got its files (registration failed half-way).
pub async fn delete_version(db: &Db, name: &str, version: i64) -> Result<(), StoreError> {
    let mut tx = db.begin_write().await?;
    sqlx::query(
        "DELETE FROM model_versions WHERE model_id = (SELECT id FROM models WHERE name = $1) AND version = $2 \
         AND stage = 'None'",
    )
    .bind(name)
    .bind(version)
    .execute(tx.conn())
    .await?;
    tx.commit().await
}

/// The Production version of each task (one per task: [`set_stage`] archives the
/// others; newest first should a database from before that hold several).
pub async fn production(db: &Db) -> Result<Vec<ModelVersion>, StoreError> {
    let rows = sqlx::query(&format!(
        "SELECT {VERSION_COLUMNS} FROM model_versions v JOIN models m ON m.id = v.model_id \
         WHERE v.stage = 'Production' ORDER BY m.task, v.created_at DESC"
    ))
    .fetch_all(db.pool())
    .await?;
    rows.iter().map(version_row).collect()
}

/// Every model.
pub async fn list(db: &Db) -> Result<Vec<Model>, StoreError> {
    let rows = sqlx::query(
        "SELECT m.name, m.task, m.created_at, COUNT(v.id) AS n FROM models m LEFT JOIN model_versions v ON v.model_id = m.id \
         GROUP BY m.id, m.name, m.task, m.created_at ORDER BY m.name",
    )
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|r| {
            Ok(Model {
                name: r.try_get("name")?,
                task: r.try_get::<String, _>("task")?.parse()?,
                versions: r.try_get("n")?,
                created_at: to_rfc3339(r.try_get("created_at")?),
            })
        })
        .collect()
}

/// Versions of one model, newest first.
pub async fn versions(db: &Db, name: &str) -> Result<Vec<ModelVersion>, StoreError> {
    let rows = sqlx::query(&format!(
        "SELECT {VERSION_COLUMNS} FROM model_versions v JOIN models m ON m.id = v.model_id WHERE m.name = $1 ORDER BY v.version DESC"
    ))
    .bind(name)
    .fetch_all(db.pool())
    .await?;
    if rows.is_empty() {
        return Err(StoreError::not_found(format!("model {name}")));
    }
    rows.iter().map(version_row).collect()
}

/// The newest version of model `name` (or of any `task` model when `name` is
/// `None`; `task` `None` means any task) at `stage`.
pub async fn at_stage(
    db: &Db,
    name: Option<&str>,
    task: Option<Task>,
    stage: Stage,
) -> Result<Option<ModelVersion>, StoreError> {
    let rows = sqlx::query(&format!(
        "SELECT {VERSION_COLUMNS} FROM model_versions v JOIN models m ON m.id = v.model_id \
         WHERE v.stage = $1 AND ($2 = '' OR m.task = $2) ORDER BY v.created_at DESC, v.version DESC"
    ))
    .bind(stage.as_str())
    .bind(task.map_or("", Task::as_str))
    .fetch_all(db.pool())
    .await?;
    for r in &rows {
        let v = version_row(r)?;
        if name.is_none_or(|n| n == v.name) {
            return Ok(Some(v));
        }
    }
    Ok(None)
}

/// A version that became Production.
#[derive(Debug, Clone, PartialEq)]
pub struct Promotion {
    pub name: String,
    pub version: i64,
    pub task: Task,
    /// When, in ms since the epoch.
    pub at_ms: i64,
}

/// The newest `limit` promotions to Production within `[from, to)` (ms), newest first.
pub async fn promotions_between(db: &Db, from: i64, to: i64, limit: usize) -> Result<Vec<Promotion>, StoreError> {
    let rows = sqlx::query(&format!(
        "SELECT m.name, m.task, v.version, v.promoted_at FROM model_versions v JOIN models m ON m.id = v.model_id \
         WHERE v.promoted_at >= $1 AND v.promoted_at < $2 ORDER BY v.promoted_at DESC, v.version DESC LIMIT {}",
        limit.clamp(1, 100)
    ))
    .bind(from)
    .bind(to)
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|r| {
            Ok(Promotion {
                name: r.try_get("name")?,
                version: r.try_get("version")?,
                task: r.try_get::<String, _>("task")?.parse()?,
                at_ms: r.try_get("promoted_at")?,
            })
        })
        .collect()
}
