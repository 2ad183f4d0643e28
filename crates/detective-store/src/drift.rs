//! Drift reports (one row per periodic check, per-feature results as JSON) and
//! the feature windows they compare: features of the predictions logged in a
//! time window, or of the first frames a model version saw.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sqlx::Row;

use crate::clock::{now_ms, to_rfc3339};
use crate::{Db, StoreError};

/// A report to store.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewReport {
    pub window_start: i64,
    pub window_end: i64,
    /// What the reference window was (e.g. "training set of detector@2").
    pub reference: String,
    pub n_reference: i64,
    pub n_current: i64,
    pub drift_share: f64,
    pub dataset_drift: bool,
    pub min_p_value: Option<f64>,
    /// Per feature: statistics, verdict, histograms.
    pub features: serde_json::Value,
}

/// A stored report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub id: i64,
    pub created_at: String,
    pub window_start: String,
    pub window_end: String,
    pub reference: String,
    pub n_reference: i64,
    pub n_current: i64,
    pub drift_share: f64,
    pub dataset_drift: bool,
    pub min_p_value: Option<f64>,
    pub features: serde_json::Value,
}

fn report_row(r: &sqlx::any::AnyRow) -> Result<Report, StoreError> {
    let features: String = r.try_get("features")?;
    Ok(Report {
        id: r.try_get("id")?,
        created_at: to_rfc3339(r.try_get("created_at")?),
        window_start: to_rfc3339(r.try_get("window_start")?),
        window_end: to_rfc3339(r.try_get("window_end")?),
        reference: r.try_get("reference")?,
        n_reference: r.try_get("n_reference")?,
        n_current: r.try_get("n_current")?,
        drift_share: r.try_get("drift_share")?,
        dataset_drift: r.try_get::<i64, _>("dataset_drift")? != 0,
        min_p_value: r.try_get("min_p_value")?,
        features: serde_json::from_str(&features)?,
    })
}

pub async fn insert(db: &Db, r: &NewReport) -> Result<Report, StoreError> {
    let mut tx = db.begin_write().await?;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO drift_reports (created_at, window_start, window_end, reference, n_reference, n_current, \
         drift_share, dataset_drift, min_p_value, features) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id",
    )
    .bind(now_ms())
    .bind(r.window_start)
    .bind(r.window_end)
    .bind(&r.reference)
    .bind(r.n_reference)
    .bind(r.n_current)
    .bind(r.drift_share)
    .bind(i64::from(r.dataset_drift))
    .bind(r.min_p_value)
    .bind(serde_json::to_string(&r.features)?)
    .fetch_one(tx.conn())
    .await?;
    tx.commit().await?;
    let row = sqlx::query("SELECT * FROM drift_reports WHERE id = $1")
        .bind(id)
        .fetch_one(db.pool())
        .await?;
    report_row(&row)
}

/// The newest report.
pub async fn latest(db: &Db) -> Result<Option<Report>, StoreError> {
    let row = sqlx::query("SELECT * FROM drift_reports ORDER BY id DESC LIMIT 1")
        .fetch_optional(db.pool())
        .await?;
    row.as_ref().map(report_row).transpose()
}

/// The newest `limit` reports without their per-feature details, oldest first.
pub async fn history(db: &Db, limit: usize) -> Result<Vec<serde_json::Value>, StoreError> {
    let rows = sqlx::query(&format!(
        "SELECT id, created_at, drift_share, dataset_drift, min_p_value, n_current FROM drift_reports \
         ORDER BY id DESC LIMIT {}",
        limit.clamp(1, 5000)
    ))
    .fetch_all(db.pool())
    .await?;
    let mut out = rows
        .iter()
        .map(|r| {
            Ok(serde_json::json!({
                "id": r.try_get::<i64, _>("id")?,
                "created_at": to_rfc3339(r.try_get("created_at")?),
                "drift_share": r.try_get::<f64, _>("drift_share")?,
                "dataset_drift": r.try_get::<i64, _>("dataset_drift")? != 0,
                "min_p_value": r.try_get::<Option<f64>, _>("min_p_value")?,
                "n_current": r.try_get::<i64, _>("n_current")?,
            }))
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    out.reverse();
    Ok(out)
}

/// One logged frame's drift features: its image features and the mean
/// confidence of its detections (None without detections).
#[derive(Debug, Clone, PartialEq)]
pub struct FrameFeatures {
    pub features: BTreeMap<String, f64>,
    pub mean_confidence: Option<f64>,
}

fn frame_row(r: &sqlx::any::AnyRow) -> Result<FrameFeatures, StoreError> {
    let f: String = r.try_get("features")?;
    let d: String = r.try_get("detections")?;
    let dets: Vec<serde_json::Value> = serde_json::from_str(&d)?;
    let confs: Vec<f64> = dets
        .iter()
        .filter_map(|x| x.get("confidence").and_then(|c| c.as_f64()))
        .collect();
    Ok(FrameFeatures {
        features: serde_json::from_str(&f)?,
        mean_confidence: (!confs.is_empty()).then(|| confs.iter().sum::<f64>() / confs.len() as f64),
    })
}

/// Features of the (at most `limit` newest) predictions captured in `[from, to)` ms.
pub async fn window(db: &Db, from: i64, to: i64, limit: usize) -> Result<Vec<FrameFeatures>, StoreError> {
    let rows = sqlx::query(&format!(
        "SELECT features, detections FROM prediction_logs WHERE captured_at >= $1 AND captured_at < $2 \
         ORDER BY captured_at DESC, id DESC LIMIT {}",
        limit.clamp(1, 100_000)
    ))
    .bind(from)
    .bind(to)
    .fetch_all(db.pool())
    .await?;
    rows.iter().map(frame_row).collect()
}

/// Features of the first `n` predictions of `model_version` (`name@v`), or of any model.
pub async fn first_frames(db: &Db, model_version: Option<&str>, n: usize) -> Result<Vec<FrameFeatures>, StoreError> {
    let rows = sqlx::query(&format!(
        "SELECT features, detections FROM prediction_logs WHERE ($1 = '' OR model_version = $1) \
         ORDER BY captured_at, id LIMIT {}",
        n.clamp(1, 100_000)
    ))
    .bind(model_version.unwrap_or(""))
    .fetch_all(db.pool())
    .await?;
    rows.iter().map(frame_row).collect()
}
