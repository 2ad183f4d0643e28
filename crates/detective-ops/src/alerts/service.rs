//! The alerts service `serve` runs: the periodic conditions evaluated every
//! `[alerts] interval_secs`, due deliveries sent every second.

use detective_store::Db;

use super::AlertsConfig;
use super::{deliver, evaluate};

/// Evaluates the periodic rules every `cfg.interval_secs` and sends due
/// deliveries every second, until `stop`.
pub async fn run(db: Db, cfg: AlertsConfig, stop: std::sync::Arc<std::sync::atomic::AtomicBool>) {
    use std::sync::atomic::Ordering;
    let mqtt = (!cfg.mqtt_url.is_empty()).then(|| cfg.mqtt_url.clone());
    let delivery = match deliver::AlertDelivery::new(db.clone(), mqtt) {
        Ok(d) => d,
        Err(e) => {
            tracing::error!("alerts: {e}");
            return;
        }
    };
    let every = std::time::Duration::from_secs(cfg.interval_secs);
    let mut next_eval = std::time::Instant::now();
    while !stop.load(Ordering::SeqCst) {
        if std::time::Instant::now() >= next_eval {
            next_eval = std::time::Instant::now() + every;
            if let Err(e) = evaluate::evaluate(&db, detective_store::clock::now_ms()).await {
                tracing::warn!("alerts: evaluating: {e}");
            }
        }
        if let Err(e) = delivery.round().await {
            tracing::warn!("alerts: delivering: {e}");
        }
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    }
}
