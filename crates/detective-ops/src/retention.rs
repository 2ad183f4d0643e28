//! Retention (`[retention]` of detective.toml): how long logged predictions and
//! their frames are kept. `serve` applies it every `interval_secs`
//! ([`run`]); `detective prune` applies it once. Each pass removes the frames
//! older than `frames_days` (the prediction stays, without its picture), then
//! the predictions older than `predictions_days` with their frames, `batch`
//! rows per transaction with a pause between batches, so ingest is never held
//! up for long. Frames people labelled, or that wait in the labeling queue,
//! and their predictions are never removed; images, datasets and registered
//! models are not touched.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use detective_store::retention::{self, Expired};
use detective_store::{Db, Objects};
use serde::{Deserialize, Serialize};

use crate::OpsError;

/// One day in milliseconds.
const DAY_MS: i64 = 86_400_000;

/// Largest batch.
pub const MAX_BATCH: usize = 5_000;

/// `[retention]` of detective.toml.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionConfig {
    /// Days a prediction log is kept (0: forever).
    pub predictions_days: u32,
    /// Days a logged frame is kept (0: as long as its prediction).
    pub frames_days: u32,
    /// Seconds between passes in `serve`.
    pub interval_secs: u64,
    /// Rows per transaction (1..=5000).
    pub batch: usize,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        RetentionConfig {
            predictions_days: 90,
            frames_days: 30,
            interval_secs: 3_600,
            batch: 500,
        }
    }
}

impl RetentionConfig {
    pub fn validate(&self) -> Result<(), OpsError> {
        if self.interval_secs == 0 {
            return Err(OpsError::invalid("retention.interval_secs must be positive"));
        }
        if !(1..=MAX_BATCH).contains(&self.batch) {
            return Err(OpsError::invalid(format!(
                "retention.batch must be within 1..={MAX_BATCH}"
            )));
        }
        Ok(())
    }
}

/// What one pass removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Pruned {
    /// Prediction logs deleted.
    pub predictions: u64,
    /// Frame pictures deleted (of kept and of deleted predictions).
    pub frames: u64,
    /// Frame pictures whose deletion failed (left in the object store; their
    /// rows no longer name them).
    pub frames_failed: u64,
}

/// Deletes the frame objects of `gone`, counting into `p`.
async fn delete_frames(objects: &Objects, gone: &[Expired], p: &mut Pruned) {
    for key in gone.iter().filter_map(|e| e.frame_key.as_deref()) {
        match objects.delete(key).await {
            Ok(()) => p.frames += 1,
            Err(e) => {
                p.frames_failed += 1;
                tracing::warn!("retention: frame {key} not deleted: {e}");
            }
        }
    }
}

/// The cut-off `days` before `now_ms`.
fn cutoff(now_ms: i64, days: u32) -> i64 {
    now_ms - i64::from(days) * DAY_MS
}

/// One pass at `now_ms` (see the module's doc), pausing `pause` between
/// batches; stops early when `stop` is set.
pub async fn prune(
    db: &Db,
    objects: &Objects,
    cfg: &RetentionConfig,
    now_ms: i64,
    pause: Duration,
    stop: &AtomicBool,
) -> Result<Pruned, OpsError> {
    cfg.validate()?;
    let mut p = Pruned::default();
    if cfg.frames_days > 0 {
        let before = cutoff(now_ms, cfg.frames_days);
        while !stop.load(Ordering::SeqCst) {
            let batch = retention::expired_frames(db, before, cfg.batch).await?;
            let ids: Vec<String> = batch.into_iter().map(|e| e.id).collect();
            let gone = retention::forget_frames(db, &ids).await?;
            if gone.is_empty() {
                break;
            }
            delete_frames(objects, &gone, &mut p).await;
            tokio::time::sleep(pause).await;
        }
    }
    if cfg.predictions_days > 0 {
        let before = cutoff(now_ms, cfg.predictions_days);
        while !stop.load(Ordering::SeqCst) {
            let batch = retention::expired_predictions(db, before, cfg.batch).await?;
            let ids: Vec<String> = batch.into_iter().map(|e| e.id).collect();
            let gone = retention::delete_predictions(db, &ids).await?;
            if gone.is_empty() {
                break;
            }
            p.predictions += gone.len() as u64;
            delete_frames(objects, &gone, &mut p).await;
            tokio::time::sleep(pause).await;
        }
    }
    Ok(p)
}

/// Runs [`prune`] every `interval_secs` until `stop`; does nothing when both
/// kinds are kept forever.
pub async fn run(db: Db, objects: Objects, cfg: RetentionConfig, stop: Arc<AtomicBool>) {
    if cfg.predictions_days == 0 && cfg.frames_days == 0 {
        return;
    }
    let every = Duration::from_secs(cfg.interval_secs);
    while !stop.load(Ordering::SeqCst) {
        let now = detective_store::clock::now_ms();
        match prune(&db, &objects, &cfg, now, Duration::from_millis(20), &stop).await {
            Ok(p) if p.predictions + p.frames + p.frames_failed > 0 => tracing::info!(
                predictions = p.predictions,
                frames = p.frames,
                frames_failed = p.frames_failed,
                "retention pass"
            ),
            Ok(_) => {}
            Err(e) => tracing::warn!("retention: {e}"),
        }
        crate::worker::sleep_unless(every, &stop).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_retention_config_out_of_range_is_refused() {
        assert!(RetentionConfig::default().validate().is_ok());
        for bad in [
            RetentionConfig {
                interval_secs: 0,
                ..RetentionConfig::default()
            },
            RetentionConfig {
                batch: 0,
                ..RetentionConfig::default()
            },
            RetentionConfig {
                batch: MAX_BATCH + 1,
                ..RetentionConfig::default()
            },
        ] {
            assert!(bad.validate().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_cutoff_is_whole_days_back() {
        assert_eq!(cutoff(10 * DAY_MS, 3), 7 * DAY_MS);
    }
}
