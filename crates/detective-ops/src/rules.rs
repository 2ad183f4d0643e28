//! Inspection rules (per-class thresholds and bands, zones) per scope: set,
//! removed, listed, and resolved into the [`Rules`] in effect for one model on
//! one camera, which `serve`, the edge channel and the log ingest apply.

use detective_core::{RuleSet, Rules, Scope};
use detective_store::Db;
use detective_store::rules::{self as stored, StoredRules};

use crate::OpsError;

fn invalid(e: detective_core::rules::RuleError) -> OpsError {
    OpsError::Invalid(e.to_string())
}

/// The class names a registered version recorded (`params.names`), when `model`
/// names one that did.
async fn known_classes(db: &Db, model: &str) -> Result<Option<Vec<String>>, OpsError> {
    let Some((name, v)) = model.split_once('@') else {
        return Ok(None);
    };
    let Ok(v) = v.parse::<i64>() else { return Ok(None) };
    match detective_store::models::get_version(db, name, v).await {
        Ok(mv) => Ok(mv.params["names"]
            .as_array()
            .map(|a| a.iter().filter_map(|n| n.as_str().map(str::to_string)).collect())),
        Err(detective_store::StoreError::NotFound { .. }) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Stores `set` for `scope` after checking it: numbers, names, zones; the class
/// names against the model version's own when it recorded them; and that the
/// rules it leads to (over `defaults` and the other scopes) keep every band open.
pub async fn put(db: &Db, defaults: &Rules, scope: &Scope, set: &RuleSet, by: &str) -> Result<Rules, OpsError> {
    scope.validate().map_err(invalid)?;
    set.validate().map_err(invalid)?;
    if let Some(model) = &scope.model
        && let Some(known) = known_classes(db, model).await?
    {
        let unknown = set.unknown_classes(&known);
        if !unknown.is_empty() {
            return Err(OpsError::Invalid(format!(
                "{model} has no class {}; its classes: {}",
                unknown.join(", "),
                known.join(", ")
            )));
        }
    }
    let others = stored::layers(db, scope.model.as_deref(), scope.camera.as_deref()).await?;
    let mut rules = defaults.clone();
    for s in Scope::layers(scope.model.as_deref(), scope.camera.as_deref()) {
        let layer = if &s == scope {
            Some(set)
        } else {
            others.iter().find(|l| l.scope == s).map(|l| &l.rules)
        };
        if let Some(l) = layer {
            rules = rules.with(l).map_err(invalid)?;
        }
    }
    stored::put(db, scope, set, by).await?;
    Ok(rules)
}

/// Removes the rule set of `scope`.
pub async fn delete(db: &Db, scope: &Scope) -> Result<(), OpsError> {
    scope.validate().map_err(invalid)?;
    if stored::delete(db, scope).await? {
        Ok(())
    } else {
        Err(OpsError::not_found(format!(
            "rules for model {} on camera {}",
            scope.model.as_deref().unwrap_or("(any)"),
            scope.camera.as_deref().unwrap_or("(any)")
        )))
    }
}

/// Every stored rule set.
pub async fn list(db: &Db) -> Result<Vec<StoredRules>, OpsError> {
    Ok(stored::list(db).await?)
}

/// The rules in effect for `model` (as predictions name it, `name@3`) on
/// `camera`: `defaults` (the server's thresholds), then every stored scope that
/// applies, least specific first. A stored set that no longer fits (a band it
/// leaves empty after the defaults moved) is skipped with a warning, so the line
/// keeps running on the rest.
pub async fn effective(
    db: &Db,
    defaults: &Rules,
    model: Option<&str>,
    camera: Option<&str>,
) -> Result<Rules, OpsError> {
    let mut rules = defaults.clone();
    for l in stored::layers(db, model, camera).await? {
        match rules.clone().with(&l.rules) {
            Ok(r) => rules = r,
            Err(e) => tracing::warn!(
                "rules for model {:?} on camera {:?} skipped: {e}",
                l.scope.model,
                l.scope.camera
            ),
        }
    }
    Ok(rules)
}
