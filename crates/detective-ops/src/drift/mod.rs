//! Drift detection on image features (DESIGN.md §1, drift path): the reference
//! window is the image features of the Production model's training images (or,
//! without one, the first N frames logged), the current window the frames
//! logged in the last hour (configurable). Per feature — brightness, contrast,
//! sharpness, colour means, saturation, mean confidence — a KS test when both
//! windows have at most 1000 rows, else the Wasserstein distance normalised by
//! the reference std (as Evidently does), plus PSI and both histograms.
//! drift_share = drifted features / compared features; dataset drift when
//! drift_share > 0.3 or any KS p < 0.05 (both configurable).

pub mod stats;

use std::collections::BTreeMap;
use std::time::Duration;

use detective_core::{Stage, Task};
use detective_store::drift::{FrameFeatures, NewReport, Report};
use detective_store::{Db, Objects};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::sync::Mutex;

use crate::OpsError;

/// The features compared, in order.
pub const FEATURES: [&str; 8] = [
    "brightness",
    "contrast",
    "sharpness",
    "mean_r",
    "mean_g",
    "mean_b",
    "saturation",
    "mean_confidence",
];

/// Windows up to this many rows are compared with the KS test, larger ones by Wasserstein distance.
pub const KS_MAX_ROWS: usize = 1000;

/// Drift settings (`[mlops]` of detective.toml).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DriftConfig {
    /// Seconds between drift checks.
    pub interval_secs: u64,
    /// The current window: the last this many seconds.
    pub window_secs: u64,
    /// `training` (features of the Production model's training images, falling
    /// back to the first frames) or `first_frames`.
    pub reference: String,
    /// Frames in the `first_frames` reference.
    pub first_frames: usize,
    /// Fewer current rows than this: no report (too little evidence).
    pub min_rows: usize,
    /// Most current rows compared (the newest).
    pub max_rows: usize,
    /// Dataset drift when more than this share of features drifted.
    pub share_threshold: f64,
    /// A feature drifted when its KS p-value is below this.
    pub feature_p_value: f64,
    /// Dataset drift when any KS p-value is below this (0 turns the rule off).
    pub dataset_p_value: f64,
    /// A feature drifted when its normalised Wasserstein distance is above this.
    pub wasserstein_threshold: f64,
}

impl Default for DriftConfig {
    fn default() -> Self {
        DriftConfig {
            interval_secs: 300,
            window_secs: 3600,
            reference: "training".into(),
            first_frames: 500,
            min_rows: 30,
            max_rows: 5000,
            share_threshold: 0.3,
            feature_p_value: 0.05,
            dataset_p_value: 0.05,
            wasserstein_threshold: 0.1,
        }
    }
}

impl DriftConfig {
    pub fn validate(&self) -> Result<(), OpsError> {
        let bad = |m: &str| Err(OpsError::Invalid(format!("drift settings: {m}")));
        if !matches!(self.reference.as_str(), "training" | "first_frames") {
            return bad("reference must be training or first_frames");
        }
        if self.interval_secs == 0 || self.window_secs == 0 || self.first_frames == 0 || self.max_rows == 0 {
            return bad("interval_secs, window_secs, first_frames and max_rows must be positive");
        }
        if !(0.0..=1.0).contains(&self.share_threshold)
            || !(0.0..=1.0).contains(&self.feature_p_value)
            || !(0.0..=1.0).contains(&self.dataset_p_value)
            || self.wasserstein_threshold.is_nan()
            || self.wasserstein_threshold < 0.0
        {
            return bad("thresholds must be within 0..1 (wasserstein_threshold ≥ 0)");
        }
        Ok(())
    }
}

/// One feature's values in a window.
fn column(rows: &[FrameFeatures], name: &str) -> Vec<f64> {
    if name == "mean_confidence" {
        rows.iter().filter_map(|r| r.mean_confidence).collect()
    } else {
        rows.iter()
            .filter_map(|r| r.features.get(name).copied())
            .filter(|v| v.is_finite())
            .collect()
    }
}

/// Compares two windows feature by feature (pure: the statistics and verdicts of a report).
pub fn compare(
    reference: &[FrameFeatures],
    current: &[FrameFeatures],
    cfg: &DriftConfig,
) -> (serde_json::Value, f64, bool, Option<f64>) {
    let mut features = BTreeMap::new();
    let (mut compared, mut drifted) = (0usize, 0usize);
    let mut min_p: Option<f64> = None;
    for name in FEATURES {
        let (r, c) = (column(reference, name), column(current, name));
        if r.len() < 2 || c.len() < 2 {
            features.insert(
                name.to_string(),
                json!({"compared": false, "n_reference": r.len(), "n_current": c.len(),
                       "why": "fewer than 2 values in a window"}),
            );
            continue;
        }
        compared += 1;
        let use_ks = r.len() <= KS_MAX_ROWS && c.len() <= KS_MAX_ROWS;
        let wn = stats::wasserstein_norm(&r, &c);
        let psi = stats::psi(&r, &c);
        let (method, statistic, p, drift) = if use_ks {
            let (d, p) = stats::ks_2samp(&r, &c);
            min_p = Some(min_p.map_or(p, |m: f64| m.min(p)));
            ("ks", d, Some(p), p < cfg.feature_p_value)
        } else {
            ("wasserstein", wn, None, wn > cfg.wasserstein_threshold)
        };
        drifted += drift as usize;
        let edges = stats::bin_edges(&r, &c, 10);
        let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
        features.insert(
            name.to_string(),
            json!({"compared": true, "method": method, "statistic": statistic, "p_value": p,
                   "wasserstein_norm": wn, "psi": psi, "drifted": drift,
                   "n_reference": r.len(), "n_current": c.len(),
                   "reference_mean": mean(&r), "current_mean": mean(&c),
                   "histogram": {"edges": edges, "reference": stats::histogram(&r, &edges),
                                 "current": stats::histogram(&c, &edges)}}),
        );
    }
    let share = if compared == 0 {
        0.0
    } else {
        drifted as f64 / compared as f64
    };
    let dataset_drift = compared > 0 && (share > cfg.share_threshold || min_p.is_some_and(|p| p < cfg.dataset_p_value));
    (
        serde_json::Value::Object(features.into_iter().collect()),
        share,
        dataset_drift,
        min_p,
    )
}

/// Keeps the training-set reference of a model version so each check does not
/// decode the training images again.
#[derive(Default)]
pub struct DriftMonitor {
    cache: Mutex<Option<(i64, String, Vec<FrameFeatures>)>>,
}

impl DriftMonitor {
    /// The reference window and what it is.
    async fn reference(
        &self,
        db: &Db,
        objects: &Objects,
        cfg: &DriftConfig,
    ) -> Result<(String, Vec<FrameFeatures>), OpsError> {
        let prod = detective_store::models::at_stage(db, None, Some(Task::Detect), Stage::Production).await?;
        if cfg.reference == "training"
            && let Some(v) = &prod
            && let Some(dv) = v.dataset_version_id
        {
            let mut cache = self.cache.lock().await;
            if let Some((id, what, rows)) = cache.as_ref()
                && *id == dv
            {
                return Ok((what.clone(), rows.clone()));
            }
            let (ds, ver) = crate::registry::dataset_of_version(db, dv).await?;
            let items = detective_store::datasets::items(db, ds, ver).await?;
            let mut rows = Vec::new();
            for (item, img) in items.iter().filter(|(i, _)| i.split == "train") {
                let bytes = objects.get(&img.object_key).await?;
                let f = tokio::task::spawn_blocking(move || detective_vision_features(&bytes))
                    .await
                    .map_err(|e| OpsError::Io(format!("feature thread: {e}")))?;
                match f {
                    Ok(features) => rows.push(FrameFeatures {
                        features,
                        mean_confidence: None,
                    }),
                    Err(e) => tracing::warn!(image = item.image_id, "reference image skipped: {e}"),
                }
            }
            let what = format!(
                "training images of {}@{} (dataset {ds} v{ver}, {} images)",
                v.name,
                v.version,
                rows.len()
            );
            *cache = Some((dv, what.clone(), rows.clone()));
            return Ok((what, rows));
        }
        let mv = prod.as_ref().map(|v| format!("{}@{}", v.name, v.version));
        let rows = detective_store::drift::first_frames(db, mv.as_deref(), cfg.first_frames).await?;
        let what = match &mv {
            Some(m) => format!("first {} frames of {m}", rows.len()),
            None => format!("first {} frames logged", rows.len()),
        };
        Ok((what, rows))
    }

    /// Runs one check over the window ending `now_ms` and stores its report;
    /// `Ok(None)` when a window has too few rows to say anything.
    pub async fn check(
        &self,
        db: &Db,
        objects: &Objects,
        cfg: &DriftConfig,
        now_ms: i64,
    ) -> Result<Option<Report>, OpsError> {
        let start = now_ms - Duration::from_secs(cfg.window_secs).as_millis() as i64;
        let current = detective_store::drift::window(db, start, now_ms, cfg.max_rows).await?;
        if current.len() < cfg.min_rows {
            tracing::debug!(
                rows = current.len(),
                "drift check skipped: too few frames in the window"
            );
            return Ok(None);
        }
        let (what, reference) = self.reference(db, objects, cfg).await?;
        if reference.len() < 2 {
            tracing::debug!("drift check skipped: no reference yet");
            return Ok(None);
        }
        let (features, share, drift, min_p) = compare(&reference, &current, cfg);
        let report = detective_store::drift::insert(
            db,
            &NewReport {
                window_start: start,
                window_end: now_ms,
                reference: what,
                n_reference: reference.len() as i64,
                n_current: current.len() as i64,
                drift_share: share,
                dataset_drift: drift,
                min_p_value: min_p,
                features,
            },
        )
        .await?;
        if drift {
            tracing::warn!(share, ?min_p, "data drift detected");
        }
        Ok(Some(report))
    }
}

/// The drift features of one encoded image.
fn detective_vision_features(bytes: &[u8]) -> Result<BTreeMap<String, f64>, String> {
    let frame = detective_vision::decode::decode_image(bytes, &detective_vision::DecodeLimits::default())
        .map_err(|e| e.to_string())?;
    let f = detective_vision::features::compute_features(&frame);
    Ok(detective_vision::features::ImageFeatures::NAMES
        .iter()
        .zip(f.values())
        .map(|(n, v)| (n.to_string(), v as f64))
        .collect())
}

/// The newest drift report (None before the first check) and the history of
/// the last `limit` checks.
pub async fn reports(db: &Db, limit: usize) -> Result<(Option<Report>, Vec<serde_json::Value>), OpsError> {
    Ok((latest(db).await?, history(db, limit).await?))
}

/// The latest report, if any.
pub async fn latest(db: &Db) -> Result<Option<Report>, OpsError> {
    Ok(detective_store::drift::latest(db).await?)
}

/// The `limit` newest checks' drift share, newest first.
pub async fn history(db: &Db, limit: usize) -> Result<Vec<serde_json::Value>, OpsError> {
    Ok(detective_store::drift::history(db, limit).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(brightness: impl Iterator<Item = f64>) -> Vec<FrameFeatures> {
        brightness
            .map(|b| FrameFeatures {
                features: FEATURES[..7]
                    .iter()
                    .enumerate()
                    .map(|(i, n)| {
                        (
                            n.to_string(),
                            if i == 0 {
                                b
                            } else {
                                0.3 + (b * 7.0 + i as f64).sin() * 0.01
                            },
                        )
                    })
                    .collect(),
                mean_confidence: Some(0.5 + (b * 13.0).cos() * 0.1),
            })
            .collect()
    }

    #[test]
    fn a_brightness_shift_drifts_brightness_and_the_any_p_rule_flags_the_dataset() {
        let reference = rows((0..200).map(|i| 0.4 + (i % 20) as f64 * 0.005));
        let current = rows((0..150).map(|i| 0.6 + (i % 20) as f64 * 0.005));
        let cfg = DriftConfig::default();
        let (features, share, drift, min_p) = compare(&reference, &current, &cfg);
        assert_eq!(features["brightness"]["drifted"], true);
        assert_eq!(features["brightness"]["method"], "ks");
        assert!(min_p.unwrap() < 1e-6);
        assert!(drift, "any p < 0.05");
        assert!(share > 0.0 && share <= 1.0);
        let strict = DriftConfig {
            dataset_p_value: 0.0,
            share_threshold: 0.9,
            ..cfg
        };
        assert!(
            !compare(&reference, &current, &strict).2,
            "with the p rule off and a high share bar"
        );
    }

    #[test]
    fn large_windows_use_the_normalised_wasserstein_distance() {
        let reference = rows((0..1500).map(|i| 0.4 + (i % 50) as f64 * 0.002));
        let (features, share, drift, min_p) = compare(&reference, &reference, &DriftConfig::default());
        assert_eq!(features["brightness"]["method"], "wasserstein");
        assert_eq!(features["brightness"]["drifted"], false);
        assert_eq!((share, drift, min_p), (0.0, false, None));
    }

    #[test]
    fn a_feature_missing_from_a_window_is_not_compared() {
        let mut reference = rows((0..50).map(|i| i as f64 / 50.0));
        for r in &mut reference {
            r.mean_confidence = None;
        }
        let (features, _, _, _) = compare(
            &reference,
            &rows((0..50).map(|i| i as f64 / 50.0)),
            &DriftConfig::default(),
        );
        assert_eq!(features["mean_confidence"]["compared"], false);
        assert_eq!(features["brightness"]["compared"], true);
    }
}
