//! Alerts: rules (a condition and its channels) set through the API, the
//! events they fire — from the periodic evaluation of conditions over time
//! ([`evaluate`]) or as things happen (a job failed, a model promoted:
//! [`on_job_failed`], [`on_promoted`]) — and their delivery to webhooks and
//! MQTT topics with retries ([`deliver`]). Every event is also kept for the
//! dashboard. An event fires once per rule and key within the rule's quiet
//! period, whichever replica sees it first.

pub mod deliver;
pub mod evaluate;
mod firing;
pub mod service;

use detective_core::alerts::{Channel, Condition, RuleSpec};
use detective_store::Db;
use detective_store::alerts::{self as store, AlertRule};

use firing::{enabled, fire};
use serde_json::{Value, json};

use crate::OpsError;

/// How alerts run (`[alerts]`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertsConfig {
    /// `mqtt://host[:port]` of the broker MQTT channels publish to (empty: none).
    #[serde(default)]
    pub mqtt_url: String,
    /// Seconds between two evaluations of the periodic conditions.
    #[serde(default = "default_interval")]
    pub interval_secs: u64,
}

fn default_interval() -> u64 {
    60
}

impl Default for AlertsConfig {
    fn default() -> Self {
        AlertsConfig {
            mqtt_url: String::new(),
            interval_secs: default_interval(),
        }
    }
}

impl AlertsConfig {
    pub fn validate(&self) -> Result<(), String> {
        if !self.mqtt_url.is_empty() {
            detective_core::mqtt_url::parse(&self.mqtt_url)?;
        }
        if !(5..=86_400).contains(&self.interval_secs) {
            return Err("interval_secs must be within 5..=86400".into());
        }
        Ok(())
    }
}

/// A rule as the API shows it: webhook secrets masked.
pub fn shown(rule: &AlertRule) -> Value {
    let mut v = serde_json::to_value(rule).unwrap_or_else(|_| json!({}));
    if let Some(chs) = v["spec"]["channels"].as_array_mut() {
        for c in chs {
            if c["secret"].as_str().is_some_and(|s| !s.is_empty()) {
                c["secret"] = json!("********");
            }
        }
    }
    v
}

fn checked(spec: &RuleSpec) -> Result<Value, OpsError> {
    spec.validate().map_err(OpsError::Invalid)?;
    serde_json::to_value(spec).map_err(|e| OpsError::Io(e.to_string()))
}

/// A new rule, checked whole first.
pub async fn create(db: &Db, spec: &RuleSpec, by: &str) -> Result<Value, OpsError> {
    let v = checked(spec)?;
    let r = store::create_rule(db, spec.name.trim(), spec.condition.kind(), &v, spec.enabled, by).await?;
    Ok(shown(&r))
}

/// Replaces rule `id`; a webhook secret sent masked keeps the stored one.
pub async fn update(db: &Db, id: i64, spec: &RuleSpec) -> Result<Value, OpsError> {
    let old: RuleSpec = serde_json::from_value(store::get_rule(db, id).await?.spec)
        .map_err(|e| OpsError::Invalid(format!("stored rule {id}: {e}")))?;
    let mut spec = spec.clone();
    for c in &mut spec.channels {
        if let Channel::Webhook { url, secret } = c
            && secret == "********"
        {
            *secret = old
                .channels
                .iter()
                .find_map(|o| match o {
                    Channel::Webhook { url: u, secret: s } if u == url => Some(s.clone()),
                    _ => None,
                })
                .unwrap_or_default();
        }
    }
    let v = checked(&spec)?;
    let r = store::update_rule(db, id, spec.name.trim(), spec.condition.kind(), &v, spec.enabled).await?;
    Ok(shown(&r))
}

pub async fn delete(db: &Db, id: i64) -> Result<(), OpsError> {
    Ok(store::delete_rule(db, id).await?)
}

/// Every rule, secrets masked.
pub async fn list(db: &Db) -> Result<Vec<Value>, OpsError> {
    Ok(store::list_rules(db).await?.iter().map(shown).collect())
}

/// Fires every enabled rule watching the event `kind` (`job_failed`,
/// `model_promoted`); a failure is logged, never passed on.
async fn on_event(db: &Db, kind: &str, key: &str, title: &str, detail: Value) {
    let rules = match enabled(db).await {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!("alerts: {e}");
            return;
        }
    };
    for (rule, spec) in rules.iter().filter(|(_, s)| s.condition.kind() == kind) {
        if let Err(e) = fire(db, rule, spec, key, title, detail.clone()).await {
            tracing::warn!("alert rule {}: {e}", rule.id);
        }
    }
}

/// Training job `id` failed with `error`.
pub async fn on_job_failed(db: &Db, id: i64, model: &str, error: &str) {
    let title = format!("Training job {id} ({model}) failed: {error}");
    on_event(
        db,
        Condition::JobFailed.kind(),
        &format!("job:{id}"),
        &title,
        json!({"job_id": id, "model": model, "error": error}),
    )
    .await;
}

/// `name@version` became Production.
pub async fn on_promoted(db: &Db, name: &str, version: i64) {
    let title = format!("{name}@{version} is now Production");
    on_event(
        db,
        Condition::ModelPromoted.kind(),
        &format!("{name}@{version}"),
        &title,
        json!({"model": name, "version": version}),
    )
    .await;
}

/// The newest events with their deliveries.
pub async fn events(db: &Db, limit: usize) -> Result<Vec<Value>, OpsError> {
    if !(1..=500).contains(&limit) {
        return Err(OpsError::invalid("limit must be within 1..=500"));
    }
    let mut out = Vec::new();
    for e in store::list_events(db, limit, None).await? {
        let d = store::list_deliveries(db, e.id, 50).await?;
        let mut v = serde_json::to_value(&e).map_err(|e| OpsError::Io(e.to_string()))?;
        v["deliveries"] = json!(d);
        out.push(v);
    }
    Ok(out)
}
