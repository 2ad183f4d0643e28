//! Store-and-forward: sends the spool's oldest results to the cloud's
//! `POST /api/log` in batches (with their frames as multipart) and deletes a
//! batch only after a 2xx. Network errors and 5xx answers back off
//! exponentially with jitter (0.5 s doubling to 30 s); the ids make a resent
//! batch harmless, so a crash between the answer and the delete duplicates
//! nothing.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use detective_core::{LogBatch, wire::AgentStats};
use rand::Rng;

use crate::EdgeError;
use crate::spool::{Spool, SpoolItem};

/// Where and as whom to upload.
#[derive(Debug, Clone)]
pub struct UploadTarget {
    /// Cloud base URL, e.g. `http://127.0.0.1:8000`.
    pub cloud: String,
    pub key: String,
    pub camera_id: String,
    pub project: Option<String>,
    /// Most results per batch (≤ 1000).
    pub batch: usize,
    /// The CA an HTTPS cloud's certificate chains to, when not a public one.
    pub ca: Option<crate::cloud_http::CloudCa>,
}

/// How one attempt went.
#[derive(Debug, PartialEq, Eq)]
pub enum Attempt {
    /// Nothing to send.
    Idle,
    /// This many results were acknowledged and removed.
    Delivered(usize),
    /// Try again later (network down, 5xx, 429…).
    Retry(String),
}

/// The uploader and its counters.
pub struct Uploader {
    spool: Arc<Spool>,
    target: UploadTarget,
    http: reqwest::Client,
    pub delivered: AtomicU64,
    /// Results the cloud refused as invalid (dropped so they cannot block the line).
    pub refused: AtomicU64,
    /// Whether this agent has said yet that its clock is off from the cloud's.
    skew_told: AtomicBool,
}

/// A clock further than this from the cloud's is reported in the agent's log.
const SKEW_WARN: chrono::TimeDelta = chrono::TimeDelta::seconds(30);

/// How far `local` is ahead of the time in an HTTP `Date` header (behind:
/// negative); `None` without a readable header.
fn skew_from_date(
    date: Option<&reqwest::header::HeaderValue>,
    local: chrono::DateTime<chrono::Utc>,
) -> Option<chrono::TimeDelta> {
    let cloud = chrono::DateTime::parse_from_rfc2822(date?.to_str().ok()?).ok()?;
    Some(local - cloud.with_timezone(&chrono::Utc))
}

impl Uploader {
    pub fn new(spool: Arc<Spool>, target: UploadTarget) -> Result<Uploader, EdgeError> {
        let http = crate::cloud_http::client(Duration::from_secs(30), target.ca.as_ref())?;
        Ok(Uploader {
            spool,
            target,
            http,
            delivered: AtomicU64::new(0),
            refused: AtomicU64::new(0),
            skew_told: AtomicBool::new(false),
        })
    }

    /// Sends one batch of the oldest results.
    pub async fn attempt(&self, stats: Option<AgentStats>) -> Result<Attempt, EdgeError> {
        let items = self.spool.peek(self.target.batch.clamp(1, 1000)).await?;
        if items.is_empty() {
            return Ok(Attempt::Idle);
        }
        let batch = LogBatch {
            camera_id: self.target.camera_id.clone(),
            project: self.target.project.clone(),
            stats,
            predictions: items.iter().map(|i| i.prediction.clone()).collect(),
        };
        let url = format!("{}/api/log", self.target.cloud.trim_end_matches('/'));
        let req = self.http.post(&url).bearer_auth(&self.target.key);
        let req = if items.iter().any(|i| i.frame.is_some()) {
            let json = serde_json::to_string(&batch).map_err(|e| EdgeError::Spool(e.to_string()))?;
            let mut form = reqwest::multipart::Form::new().text("batch", json);
            for it in items.iter().filter(|i| i.frame.is_some()) {
                let part = reqwest::multipart::Part::bytes(it.frame.clone().unwrap_or_default())
                    .file_name(format!("{}.jpg", it.prediction.id))
                    .mime_str("image/jpeg")
                    .map_err(|e| EdgeError::InvalidArgument(e.to_string()))?;
                form = form.part("frame", part);
            }
            req.multipart(form)
        } else {
            req.json(&batch)
        };
        let resp = match req.send().await {
            Ok(r) => r,
            Err(e) => return Ok(Attempt::Retry(format!("{url}: {e}"))),
        };
        let status = resp.status();
        if let Some(skew) = skew_from_date(resp.headers().get(reqwest::header::DATE), chrono::Utc::now())
            && skew.abs() > SKEW_WARN
            && !self.skew_told.swap(true, Ordering::Relaxed)
        {
            tracing::warn!(
                "this agent's clock is {} s {} of the cloud's: every captured_at it sends is off as much (set the time, e.g. with NTP)",
                skew.num_seconds().abs(),
                if skew > chrono::TimeDelta::zero() {
                    "ahead"
                } else {
                    "behind"
                }
            );
        }
        if status.is_success() {
            self.ack(&items).await?;
            return Ok(Attempt::Delivered(items.len()));
        }
        let body = resp.text().await.unwrap_or_default();
        if status.as_u16() == 422 {
            // The cloud names the prediction it refuses; drop that one (it would
            // block every later result) and send the rest again.
            let index = serde_json::from_str::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| v.get("index").and_then(|i| i.as_u64()));
            if let Some(i) = index.and_then(|i| items.get(i as usize)) {
                tracing::error!("the cloud refused prediction {}: {body}; dropping it", i.prediction.id);
                self.spool.remove(&[i.seq]).await?;
                self.refused.fetch_add(1, Ordering::Relaxed);
                return Ok(Attempt::Retry("one prediction refused and dropped".into()));
            }
        }
        Ok(Attempt::Retry(format!(
            "{url}: {status}: {}",
            body.chars().take(300).collect::<String>()
        )))
    }

    async fn ack(&self, items: &[SpoolItem]) -> Result<(), EdgeError> {
        let seqs: Vec<i64> = items.iter().map(|i| i.seq).collect();
        self.spool.remove(&seqs).await?;
        self.delivered.fetch_add(items.len() as u64, Ordering::Relaxed);
        Ok(())
    }

    /// Uploads until `stop` is set and then until the spool is empty or
    /// `drain_until` (set when stopping) has passed.
    pub async fn run(
        &self,
        mut stop: tokio::sync::watch::Receiver<Option<Instant>>,
        stats: impl Fn() -> Option<AgentStats>,
    ) -> Result<(), EdgeError> {
        let mut backoff = Duration::from_millis(500);
        loop {
            let drain_until = *stop.borrow();
            if let Some(deadline) = drain_until
                && Instant::now() >= deadline
            {
                return Ok(());
            }
            match self.attempt(stats()).await? {
                Attempt::Delivered(_) => backoff = Duration::from_millis(500),
                Attempt::Idle => {
                    if drain_until.is_some() {
                        return Ok(());
                    }
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_millis(100)) => {}
                        _ = stop.changed() => {}
                    }
                }
                Attempt::Retry(why) => {
                    let jitter = rand::rng().random_range(0.0..0.5);
                    let wait = backoff.mul_f64(1.0 + jitter);
                    tracing::warn!("upload failed ({why}); retrying in {:.1} s", wait.as_secs_f64());
                    let wait = match drain_until {
                        Some(d) => wait.min(d.saturating_duration_since(Instant::now())),
                        None => wait,
                    };
                    tokio::select! {
                        _ = tokio::time::sleep(wait) => {}
                        _ = stop.changed() => {}
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(30));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_skew_is_local_time_less_the_clouds_date_header() {
        let date = reqwest::header::HeaderValue::from_static("Mon, 07 Dec 2026 20:00:00 GMT");
        let local = chrono::DateTime::parse_from_rfc3339("2026-12-07T21:00:30Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        assert_eq!(
            skew_from_date(Some(&date), local),
            Some(chrono::TimeDelta::seconds(3630))
        );
        let behind = local - chrono::TimeDelta::hours(2);
        assert!(skew_from_date(Some(&date), behind).unwrap() < -SKEW_WARN);
        let junk = reqwest::header::HeaderValue::from_static("yesterday");
        assert_eq!(skew_from_date(Some(&junk), local), None);
        assert_eq!(skew_from_date(None, local), None);
    }
}
