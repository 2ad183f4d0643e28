//! Inspection rules per scope (see [`detective_core::rules`]): one JSON rule set
//! per (model version, camera), where an empty text stands for "any".

use detective_core::{RuleSet, Scope};
use serde::{Deserialize, Serialize};
use sqlx::Row;

use crate::clock::{now_ms, to_rfc3339};
use crate::{Db, StoreError};

/// A stored rule set and its scope.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredRules {
    pub scope: Scope,
    pub rules: RuleSet,
    pub updated_at: String,
    /// The name of the key that stored it.
    pub updated_by: String,
}

fn key(s: Option<&String>) -> &str {
    s.map(String::as_str).unwrap_or("")
}

fn scope_of(model: String, camera: String) -> Scope {
    Scope {
        model: (!model.is_empty()).then_some(model),
        camera: (!camera.is_empty()).then_some(camera),
    }
}

fn row_to(r: &sqlx::any::AnyRow) -> Result<StoredRules, StoreError> {
    let text: String = r.try_get("rules")?;
    let rules: RuleSet =
        serde_json::from_str(&text).map_err(|e| StoreError::Corrupt(format!("inspection_rules.rules: {e}")))?;
    Ok(StoredRules {
        scope: scope_of(r.try_get("model")?, r.try_get("camera")?),
        rules,
        updated_at: to_rfc3339(r.try_get("updated_at")?),
        updated_by: r.try_get("updated_by")?,
    })
}

/// Stores `rules` for `scope`, replacing what the scope had.
pub async fn put(db: &Db, scope: &Scope, rules: &RuleSet, by: &str) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO inspection_rules (model, camera, rules, updated_at, updated_by) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (model, camera) DO UPDATE SET rules = excluded.rules, updated_at = excluded.updated_at, \
         updated_by = excluded.updated_by",
    )
    .bind(key(scope.model.as_ref()))
    .bind(key(scope.camera.as_ref()))
    .bind(serde_json::to_string(rules)?)
    .bind(now_ms())
    .bind(by)
    .execute(db.pool())
    .await?;
    Ok(())
}

/// Removes the rule set of `scope`; false when it had none.
pub async fn delete(db: &Db, scope: &Scope) -> Result<bool, StoreError> {
    let done = sqlx::query("DELETE FROM inspection_rules WHERE model = $1 AND camera = $2")
        .bind(key(scope.model.as_ref()))
        .bind(key(scope.camera.as_ref()))
        .execute(db.pool())
        .await?;
    Ok(done.rows_affected() > 0)
}

/// Every stored rule set, ordered by model then camera.
pub async fn list(db: &Db) -> Result<Vec<StoredRules>, StoreError> {
    let rows =
        sqlx::query("SELECT model, camera, rules, updated_at, updated_by FROM inspection_rules ORDER BY model, camera")
            .fetch_all(db.pool())
            .await?;
    rows.iter().map(row_to).collect()
}

/// The sets of the scopes that apply to `model` on `camera`, least specific
/// first (see [`Scope::layers`]); scopes with no set are left out.
pub async fn layers(db: &Db, model: Option<&str>, camera: Option<&str>) -> Result<Vec<StoredRules>, StoreError> {
    let rows = sqlx::query(
        "SELECT model, camera, rules, updated_at, updated_by FROM inspection_rules \
         WHERE model IN ('', $1) AND camera IN ('', $2)",
    )
    .bind(model.unwrap_or(""))
    .bind(camera.unwrap_or(""))
    .fetch_all(db.pool())
    .await?;
    let found: Vec<StoredRules> = rows.iter().map(row_to).collect::<Result<_, _>>()?;
    Ok(Scope::layers(model, camera)
        .into_iter()
        .filter_map(|s| found.iter().find(|f| f.scope == s).cloned())
        .collect())
}
