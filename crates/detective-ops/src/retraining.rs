//! Retraining (DESIGN.md §1): the conditions (drift in the latest report, or
//! ≥ 50 labels since the last retraining), a trigger that builds the next
//! dataset version (the Production model's version + the reviewed frames, all
//! into `train` so the validation set stays the one Production was measured
//! on) and queues a fine-tuning job from Production, and the completion of a
//! finished job: register it, evaluate old and new on the same validation set,
//! and stage the new version only if its fitness (0.1·mAP50 + 0.9·mAP50-95) is
//! higher — Production stays a human decision unless `auto_promote_production`.

use std::path::Path;

use detective_core::{JobStatus, RetrainOutcome, Stage, Task};
use detective_store::datasets::{self, VersionChange};
use detective_store::models::ModelVersion;
use detective_store::retraining::{self, Event};
use detective_store::{Db, Objects};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::OpsError;
use crate::job_request::TrainingRequest;

/// The retraining policy, editable at run time (`PUT /api/retraining/policy`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Policy {
    /// The policy job triggers retraining by itself when the conditions hold.
    pub auto_retrain: bool,
    /// New reviewed labels that call for a retraining.
    pub threshold_labels: i64,
    /// Drift in the latest report calls for a retraining.
    pub retrain_on_drift: bool,
    /// No automatic trigger sooner than this after the previous one.
    pub cooldown_secs: i64,
    /// Fine-tuning epochs.
    pub epochs: usize,
    /// Promote a better retrained version straight to Production (else Staging).
    pub auto_promote_production: bool,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            auto_retrain: true,
            threshold_labels: 50,
            retrain_on_drift: true,
            cooldown_secs: 6 * 3600,
            epochs: 10,
            auto_promote_production: false,
        }
    }
}

impl Policy {
    pub fn validate(&self) -> Result<(), OpsError> {
        if self.threshold_labels < 1 || !(1..=1000).contains(&self.epochs) || self.cooldown_secs < 0 {
            return Err(OpsError::Invalid(
                "threshold_labels ≥ 1, epochs within 1..=1000, cooldown_secs ≥ 0".into(),
            ));
        }
        Ok(())
    }
}

/// The settings key of the run-time policy.
pub const POLICY_KEY: &str = "retraining_policy";

/// The policy in effect: the stored one, else `default` (from the configuration).
pub async fn policy(db: &Db, default: &Policy) -> Result<Policy, OpsError> {
    match detective_store::settings::get(db, POLICY_KEY).await? {
        Some(v) => serde_json::from_value(v).map_err(|e| OpsError::Invalid(format!("stored retraining policy: {e}"))),
        None => Ok(default.clone()),
    }
}

/// Stores `p` as the policy in effect (checked first).
pub async fn set_policy(db: &Db, p: &Policy) -> Result<(), OpsError> {
    p.validate()?;
    let v = serde_json::to_value(p).map_err(|e| OpsError::Io(e.to_string()))?;
    Ok(detective_store::settings::set(db, POLICY_KEY, &v).await?)
}

/// The newest retraining events, newest first.
pub async fn events(db: &Db, limit: usize) -> Result<Vec<Event>, OpsError> {
    Ok(retraining::list(db, limit).await?)
}

/// The Production detect model a retraining starts from, with its dataset version.
async fn production_base(db: &Db) -> Result<Option<(ModelVersion, i64, i64)>, OpsError> {
    let Some(v) = detective_store::models::at_stage(db, None, Some(Task::Detect), Stage::Production).await? else {
        return Ok(None);
    };
    let Some(dv) = v.dataset_version_id else {
        return Ok(None);
    };
    let (ds, ver) = crate::registry::dataset_of_version(db, dv).await?;
    Ok(Some((v, ds, ver)))
}

/// `GET /api/retraining/conditions`.
pub async fn conditions(db: &Db, policy: &Policy, now_ms: i64) -> Result<serde_json::Value, OpsError> {
    let report = detective_store::drift::latest(db).await?;
    let last = retraining::last_time(db).await?;
    let new_labels = retraining::count_reviewed_since(db, last).await?;
    let drift_detected = report.as_ref().is_some_and(|r| r.dataset_drift);
    let mut reasons = Vec::new();
    if drift_detected && policy.retrain_on_drift {
        let r = report.as_ref().map(|r| (r.drift_share, r.min_p_value));
        if let Some((share, p)) = r {
            reasons.push(format!(
                "data drift: drift_share {share:.2}{}",
                p.map_or(String::new(), |p| format!(", lowest KS p-value {p:.2e}"))
            ));
        }
    }
    if new_labels >= policy.threshold_labels {
        reasons.push(format!("{new_labels} new labels ≥ {}", policy.threshold_labels));
    }
    let mut blocked = Vec::new();
    if let Some(e) = retraining::pending(db).await?.first() {
        blocked.push(format!("retraining {} is still running", e.id));
    }
    if let Some(t) = last
        && now_ms - t < policy.cooldown_secs * 1000
    {
        blocked.push(format!(
            "cooldown: the last retraining started {} s ago (policy: {} s)",
            (now_ms - t) / 1000,
            policy.cooldown_secs
        ));
    }
    let base = production_base(db).await?;
    if base.is_none() {
        blocked.push("no Production detect model trained on a dataset version to retrain".into());
    }
    Ok(json!({
        "drift_detected": drift_detected,
        "p_value": report.as_ref().and_then(|r| r.min_p_value),
        "drift_share": report.as_ref().map(|r| r.drift_share),
        "drift_report_at": report.as_ref().map(|r| r.created_at.clone()),
        "new_labels": new_labels,
        "threshold_labels": policy.threshold_labels,
        "should_retrain": !reasons.is_empty(),
        "reasons": reasons,
        "blocked": blocked,
        "auto_retrain": policy.auto_retrain,
        "production": base.as_ref().map(|(v, ds, ver)| json!({"model": format!("{}@{}", v.name, v.version),
            "dataset_id": ds, "dataset_version": ver})),
    }))
}

/// Builds the next version of dataset `ds` (its newest version — `ver` when
/// nobody changed it since — plus the frames labelled since `since`, into
/// `train`); returns (version, frames added). Nothing new: `ver` itself.
pub async fn build_dataset(
    db: &Db,
    objects: &Objects,
    ds: i64,
    ver: i64,
    since: Option<i64>,
    note: &str,
) -> Result<(i64, usize), OpsError> {
    let dataset = datasets::get(db, ds).await?;
    let present: std::collections::HashSet<i64> = datasets::items(db, ds, ver)
        .await?
        .iter()
        .map(|(i, _)| i.image_id)
        .collect();
    let mut add: Vec<detective_store::datasets::DatasetItem> = Vec::new();
    for frame in retraining::reviewed_since(db, since).await? {
        let Some(stored) =
            crate::datasets::store_frame(db, objects, &dataset.project, &frame, Some("train"), false).await?
        else {
            continue;
        };
        let id = stored.row.id;
        if !present.contains(&id) && !add.iter().any(|i| i.image_id == id) {
            add.push(detective_store::datasets::DatasetItem {
                image_id: id,
                split: "train".into(),
                label: Some(stored.label),
                mask_key: None,
                label_rev: None,
            });
        }
    }
    if add.is_empty() {
        return Ok((ver, 0));
    }
    let n = add.len();
    let change = VersionChange {
        upsert: add,
        note: Some(note.to_string()),
        ..VersionChange::default()
    };
    let updated = datasets::add_version(db, ds, &change).await?;
    let newest = updated.versions.last().map_or(ver, |v| v.version);
    Ok((newest, n))
}

/// Starts a retraining (`kind` manual or policy): event, dataset version, job.
/// A retraining already running is a conflict.
pub async fn trigger(
    db: &Db,
    objects: &Objects,
    policy: &Policy,
    kind: &str,
    reasons: Vec<String>,
    now_ms: i64,
) -> Result<Event, OpsError> {
    let conds = conditions(db, policy, now_ms).await?;
    let Some((prod, ds, ver)) = production_base(db).await? else {
        return Err(OpsError::Invalid(
            "no Production detect model trained on a dataset version: nothing to retrain from".into(),
        ));
    };
    let since = retraining::last_time(db).await?;
    let Some(event) = retraining::open(db, kind, &json!(reasons), &conds).await? else {
        return Err(OpsError::Conflict("a retraining is already running".into()));
    };
    let result = async {
        let note = format!("retraining {}: {}", event.id, reasons.join("; "));
        let (new_ver, added) = build_dataset(db, objects, ds, ver, since, &note).await?;
        let p = &prod.params;
        let mut req = TrainingRequest::defaults(ds);
        req.dataset_version = Some(new_ver);
        req.model = p.get("model").and_then(|v| v.as_str()).map(str::to_string);
        req.imgsz = p.get("imgsz").and_then(|v| v.as_u64()).map(|v| v as u32);
        req.batch = p.get("batch").and_then(|v| v.as_u64()).map(|v| v as usize);
        req.epochs = policy.epochs;
        req.close_mosaic = Some(policy.epochs.min(10));
        req.base_model = Some(format!("{}@{}", prod.name, prod.version));
        req.model_name = Some(prod.name.clone());
        let job = crate::job_request::queue(db, req, &format!("retraining {}", event.id)).await?;
        retraining::set_job(db, event.id, ds, new_ver, job.id).await?;
        tracing::info!(
            event = event.id,
            job = job.id,
            added,
            "retraining started: dataset {ds} v{new_ver}"
        );
        Ok::<(), OpsError>(())
    }
    .await;
    if let Err(e) = result {
        retraining::close(db, event.id, RetrainOutcome::Failed, &e.to_string(), None).await?;
        return Err(e);
    }
    Ok(retraining::get(db, event.id).await?)
}

fn fitness(m: &serde_json::Value) -> f64 {
    m.get("fitness").and_then(|f| f.as_f64()).unwrap_or(0.0)
}

/// Completes pending events whose job has ended. Returns the events closed.
pub async fn finalize(db: &Db, objects: &Objects, work_dir: &Path, policy: &Policy) -> Result<Vec<i64>, OpsError> {
    let mut closed = Vec::new();
    for e in retraining::pending(db).await? {
        let Some(job_id) = e.job_id else {
            continue;
        };
        let job = detective_store::training_jobs::get(db, job_id).await?;
        match job.status {
            JobStatus::Queued | JobStatus::Running => continue,
            JobStatus::Succeeded => {}
            other @ (JobStatus::Failed | JobStatus::Stopped) => {
                let why = format!(
                    "training job {job_id} {other}: {}",
                    job.error.clone().unwrap_or_default()
                );
                retraining::close(db, e.id, RetrainOutcome::Failed, &why, None).await?;
                closed.push(e.id);
                continue;
            }
        }
        let outcome = complete(db, objects, work_dir, policy, &e, job_id).await;
        match outcome {
            Ok((outcome, detail, mv)) => retraining::close(db, e.id, outcome, &detail, Some(&mv)).await?,
            Err(err) => retraining::close(db, e.id, RetrainOutcome::Failed, &err.to_string(), None).await?,
        }
        closed.push(e.id);
    }
    Ok(closed)
}

/// Register, evaluate old and new on the same validation set, stage if better.
async fn complete(
    db: &Db,
    objects: &Objects,
    work_dir: &Path,
    policy: &Policy,
    e: &Event,
    job_id: i64,
) -> Result<(RetrainOutcome, String, String), OpsError> {
    let (ds, ver) = (e.dataset_id.unwrap_or(0), e.dataset_version.unwrap_or(0));
    let job = detective_store::training_jobs::get(db, job_id).await?;
    let base = job
        .base_model
        .clone()
        .ok_or_else(|| OpsError::Invalid(format!("job {job_id} has no base model")))?;
    let old = crate::registry::require(db, &base, Some(Task::Detect)).await?;
    let new = crate::registry::register_job(db, objects, work_dir, job_id, None).await?;
    let mv = format!("{}@{}", new.name, new.version);
    let m_old = crate::registry::evaluate(db, objects, work_dir, &old, ds, ver).await?;
    let m_new = crate::registry::evaluate(db, objects, work_dir, &new, ds, ver).await?;
    let (f_old, f_new) = (fitness(&m_old), fitness(&m_new));
    let figures = format!(
        "on dataset {ds} v{ver} val: {base} fitness {f_old:.4} (mAP50 {:.3}, mAP50-95 {:.3}) vs {mv} fitness {f_new:.4} (mAP50 {:.3}, mAP50-95 {:.3})",
        m_old["map50"].as_f64().unwrap_or(0.0),
        m_old["map50_95"].as_f64().unwrap_or(0.0),
        m_new["map50"].as_f64().unwrap_or(0.0),
        m_new["map50_95"].as_f64().unwrap_or(0.0),
    );
    if f_new > f_old {
        let (stage, outcome) = if policy.auto_promote_production {
            (Stage::Production, RetrainOutcome::Promoted)
        } else {
            (Stage::Staging, RetrainOutcome::Staged)
        };
        crate::registry::promote(db, &new.name, new.version, stage).await?;
        tracing::info!(event = e.id, "retraining {outcome}: {figures}");
        Ok((outcome, format!("better, now {stage}: {figures}"), mv))
    } else {
        tracing::info!(event = e.id, "retraining not better: {figures}");
        Ok((
            RetrainOutcome::NotBetter,
            format!("not better, left at stage None: {figures}"),
            mv,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_policy_out_of_range_is_refused() {
        assert!(Policy::default().validate().is_ok());
        assert!(
            Policy {
                threshold_labels: 0,
                ..Policy::default()
            }
            .validate()
            .is_err()
        );
        assert!(
            Policy {
                epochs: 0,
                ..Policy::default()
            }
            .validate()
            .is_err()
        );
    }
}
