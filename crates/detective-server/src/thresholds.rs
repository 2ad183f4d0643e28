//! The thresholds in effect: the confidence threshold of predictions and the
//! uncertain band. They start from the configuration, can be changed from the
//! dashboard (`PUT /api/settings/thresholds`, admins), and are kept in the
//! database so every replica uses the same; each server re-reads them at most
//! every 5 s, so a change reaches every replica within seconds without a restart.
//! Over them lie the inspection rules per model and camera ([`LiveRules`],
//! `PUT /api/rules`), cached the same way.

use std::collections::HashMap;
use std::sync::RwLock;
use std::time::{Duration, Instant};

use detective_core::{Rules, UncertainBand};
use serde::{Deserialize, Serialize};

use crate::problem::ApiError;

/// The settings key of the thresholds.
const KEY: &str = "thresholds";
/// How long a read value is trusted.
const FRESH: Duration = Duration::from_secs(5);

/// Thresholds as the API shows and takes them.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Thresholds {
    /// Default confidence threshold of reported detections.
    pub conf: f32,
    /// Predictions with `uncertain_low < confidence < uncertain_high` go to review.
    pub uncertain_low: f32,
    pub uncertain_high: f32,
}

impl Thresholds {
    pub fn new(conf: f32, band: UncertainBand) -> Self {
        Thresholds {
            conf,
            uncertain_low: band.low,
            uncertain_high: band.high,
        }
    }

    /// The band, or why these thresholds are not valid.
    pub fn band(&self) -> Result<UncertainBand, ApiError> {
        if !(0.0..=1.0).contains(&self.conf) {
            return Err(ApiError::bad_request("conf must be within 0..1"));
        }
        UncertainBand::new(self.uncertain_low, self.uncertain_high)
            .map_err(|e| ApiError::bad_request(format!("uncertain band: {e}")))
    }
}

/// The cached thresholds and when they were read.
pub struct LiveThresholds {
    defaults: Thresholds,
    cached: RwLock<Option<(Thresholds, Instant)>>,
}

impl LiveThresholds {
    pub fn new(defaults: Thresholds) -> Self {
        LiveThresholds {
            defaults,
            cached: RwLock::new(None),
        }
    }

    /// The thresholds in effect (from the database when stored there, else the
    /// configuration's); a database error keeps the last known values.
    pub async fn get(&self, db: &detective_store::Db) -> Thresholds {
        let cached = self.cached.read().ok().and_then(|c| *c);
        if let Some((t, at)) = cached
            && at.elapsed() < FRESH
        {
            return t;
        }
        let fresh = match detective_store::settings::get(db, KEY).await {
            Ok(Some(v)) => serde_json::from_value::<Thresholds>(v)
                .ok()
                .filter(|t| t.band().is_ok())
                .unwrap_or(self.defaults),
            Ok(None) => self.defaults,
            Err(e) => {
                tracing::warn!("reading the thresholds: {e}; keeping the last known");
                return cached.map(|(t, _)| t).unwrap_or(self.defaults);
            }
        };
        if let Ok(mut c) = self.cached.write() {
            *c = Some((fresh, Instant::now()));
        }
        fresh
    }

    /// Drops the cached values (changed by another replica): the next call reads them.
    pub fn forget(&self) {
        if let Ok(mut c) = self.cached.write() {
            *c = None;
        }
    }

    /// Validates and stores new thresholds; they apply at once on this server.
    pub async fn set(&self, db: &detective_store::Db, t: Thresholds) -> Result<(), ApiError> {
        t.band()?;
        let value = serde_json::to_value(t).map_err(|e| ApiError::internal(e.to_string()))?;
        detective_store::settings::set(db, KEY, &value).await?;
        if let Ok(mut c) = self.cached.write() {
            *c = Some((t, Instant::now()));
        }
        Ok(())
    }
}

/// Most (model, camera) pairs whose rules are kept; more empties the cache.
const MAX_CACHED_RULES: usize = 1024;

/// The inspection rules in effect per (model, camera), each read from the
/// database at most every 5 s (at once after a change on this server).
#[derive(Default)]
pub struct LiveRules {
    #[allow(clippy::type_complexity)]
    cached: RwLock<HashMap<(Option<String>, Option<String>), (Rules, Instant)>>,
}

impl LiveRules {
    fn key(model: Option<&str>, camera: Option<&str>) -> (Option<String>, Option<String>) {
        (model.map(str::to_string), camera.map(str::to_string))
    }

    /// The cached rules for `model` on `camera` while they are fresh: what a
    /// request reads without building the defaults or asking the database.
    pub fn fresh(&self, model: Option<&str>, camera: Option<&str>) -> Option<Rules> {
        let c = self.cached.read().ok()?;
        let (r, at) = c.get(&Self::key(model, camera))?;
        (at.elapsed() < FRESH).then(|| r.clone())
    }

    /// The rules for `model` on `camera` over `defaults`, read from the database
    /// and cached; a database error keeps the last known rules (or `defaults`).
    pub async fn refresh(
        &self,
        db: &detective_store::Db,
        defaults: &Rules,
        model: Option<&str>,
        camera: Option<&str>,
    ) -> Rules {
        let key = Self::key(model, camera);
        let fresh = match detective_ops::rules::effective(db, defaults, model, camera).await {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!("reading the inspection rules: {e}; keeping the last known");
                let last = self
                    .cached
                    .read()
                    .ok()
                    .and_then(|c| c.get(&key).map(|(r, _)| r.clone()));
                return last.unwrap_or_else(|| defaults.clone());
            }
        };
        if let Ok(mut c) = self.cached.write() {
            if c.len() >= MAX_CACHED_RULES {
                c.clear();
            }
            c.insert(key, (fresh.clone(), Instant::now()));
        }
        fresh
    }

    /// Drops every cached entry (rules changed on this server or another).
    pub fn forget(&self) {
        if let Ok(mut c) = self.cached.write() {
            c.clear();
        }
    }
}
