//! Firing a rule: the enabled rules with their parsed specs, and one event
//! with its deliveries (unless within the rule's quiet period).

use detective_core::alerts::{Channel, RuleSpec};
use detective_store::Db;
use detective_store::alerts::{self as store, AlertEvent, AlertRule, Firing};
use serde_json::Value;

use crate::OpsError;

/// The enabled rules with their parsed specs.
pub(super) async fn enabled(db: &Db) -> Result<Vec<(AlertRule, RuleSpec)>, OpsError> {
    let mut out = Vec::new();
    for r in store::list_rules(db).await? {
        if !r.enabled {
            continue;
        }
        match serde_json::from_value::<RuleSpec>(r.spec.clone()) {
            Ok(spec) => out.push((r, spec)),
            Err(e) => tracing::warn!("alert rule {} is not readable: {e}", r.id),
        }
    }
    Ok(out)
}

/// Fires `rule` for `key` (unless within its quiet period): the event with a
/// delivery per webhook and MQTT channel.
pub(super) async fn fire(
    db: &Db,
    rule: &AlertRule,
    spec: &RuleSpec,
    key: &str,
    title: &str,
    detail: Value,
) -> Result<Option<AlertEvent>, OpsError> {
    let targets: Vec<(String, Value)> = spec
        .channels
        .iter()
        .filter(|c| !matches!(c, Channel::Dashboard))
        .map(|c| (c.describe(), serde_json::to_value(c).unwrap_or(Value::Null)))
        .collect();
    let f = Firing {
        rule_id: rule.id,
        kind: spec.condition.kind(),
        key,
        title,
        detail: &detail,
        quiet_secs: spec.quiet_secs,
        targets: &targets,
    };
    let fired = store::fire(db, &f).await?;
    if let Some(e) = &fired {
        tracing::warn!(rule = rule.id, "alert: {}", e.title);
    }
    Ok(fired)
}
