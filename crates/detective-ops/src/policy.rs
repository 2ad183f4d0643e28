//! The periodic MLOps job `serve` runs: a drift check every
//! `drift.interval_secs`, the completion of retrainings whose job ended, and —
//! when the policy allows it — a retraining triggered by itself when the
//! conditions hold (each trigger writes a retraining event).

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use detective_store::clock::now_ms;
use detective_store::{Db, Objects};
use serde::{Deserialize, Serialize};

use crate::OpsError;
use crate::drift::{DriftConfig, DriftMonitor};
use crate::retraining::{self, Policy};

/// `[mlops]` of detective.toml: drift settings, the policy's defaults and how often it runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MlopsConfig {
    /// Seconds between policy runs (retraining conditions and completion).
    pub policy_interval_secs: u64,
    pub drift: DriftConfig,
    /// The retraining policy until one is saved at run time.
    pub retraining: Policy,
}

impl Default for MlopsConfig {
    fn default() -> Self {
        MlopsConfig {
            policy_interval_secs: 60,
            drift: DriftConfig::default(),
            retraining: Policy::default(),
        }
    }
}

impl MlopsConfig {
    pub fn validate(&self) -> Result<(), OpsError> {
        if self.policy_interval_secs == 0 {
            return Err(OpsError::Invalid("policy_interval_secs must be positive".into()));
        }
        self.drift.validate()?;
        self.retraining.validate()
    }
}

/// What the policy job and the routes share.
pub struct Mlops {
    pub config: MlopsConfig,
    pub monitor: DriftMonitor,
    /// Scratch folder for registering and evaluating.
    pub work_dir: PathBuf,
}

impl Mlops {
    pub fn new(config: MlopsConfig, work_dir: PathBuf) -> Self {
        Mlops {
            config,
            monitor: DriftMonitor::default(),
            work_dir,
        }
    }
}

/// One pass: drift check (when due), completions, automatic trigger.
pub async fn tick(db: &Db, objects: &Objects, m: &Mlops, drift_due: bool) -> Result<(), OpsError> {
    if drift_due {
        m.monitor.check(db, objects, &m.config.drift, now_ms()).await?;
    }
    let policy = retraining::policy(db, &m.config.retraining).await?;
    let closed = retraining::finalize(db, objects, &m.work_dir, &policy).await?;
    if !closed.is_empty() {
        tracing::info!(?closed, "retraining events completed");
    }
    if !policy.auto_retrain {
        return Ok(());
    }
    let c = retraining::conditions(db, &policy, now_ms()).await?;
    let should = c["should_retrain"].as_bool().unwrap_or(false);
    let blocked = c["blocked"].as_array().is_some_and(|b| !b.is_empty());
    if should && !blocked {
        let reasons: Vec<String> = c["reasons"]
            .as_array()
            .map(|r| r.iter().filter_map(|x| x.as_str().map(str::to_string)).collect())
            .unwrap_or_default();
        match retraining::trigger(db, objects, &policy, "policy", reasons, now_ms()).await {
            Ok(e) => tracing::info!(event = e.id, job = ?e.job_id, "retraining triggered by the policy"),
            Err(e) => tracing::warn!("the policy could not start a retraining: {e}"),
        }
    }
    Ok(())
}

/// Runs [`tick`] every `policy_interval_secs` (drift every `drift.interval_secs`) until `stop`.
pub async fn run(db: Db, objects: Objects, m: Arc<Mlops>, stop: Arc<AtomicBool>) {
    let every = Duration::from_secs(m.config.policy_interval_secs);
    let drift_every = Duration::from_secs(m.config.drift.interval_secs);
    let mut last_drift: Option<Instant> = None;
    while !stop.load(Ordering::SeqCst) {
        let due = last_drift.is_none_or(|t| t.elapsed() >= drift_every);
        if due {
            last_drift = Some(Instant::now());
        }
        if let Err(e) = tick(&db, &objects, &m, due).await {
            tracing::warn!("MLOps policy: {e}");
        }
        crate::worker::sleep_unless(every.min(drift_every), &stop).await;
    }
}
