//! Line integration: a reject message on MQTT for every defective frame, so the
//! line's PLC can kick the part off the belt. Topic `detective/{line}/reject`,
//! QoS 1 (at least once), JSON `{frame_id, camera_id, classes, max_confidence,
//! time}`. Publishing never blocks the pipeline: with the broker away, messages
//! beyond the client's queue are counted as dropped (the predictions themselves
//! still go through the spool).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use detective_core::LoggedPrediction;
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};

use crate::EdgeError;

/// The publisher and its counters.
pub struct RejectPublisher {
    client: AsyncClient,
    pub topic: String,
    camera_id: String,
    pub sent: AtomicU64,
    pub acked: Arc<AtomicU64>,
    pub dropped: AtomicU64,
    poller: tokio::task::JoinHandle<()>,
}

/// `mqtt://host[:port]` → (host, port).
fn parse_url(url: &str) -> Result<(String, u16), EdgeError> {
    detective_core::mqtt_url::parse(url).map_err(|e| EdgeError::InvalidArgument(format!("--mqtt {e}")))
}

impl RejectPublisher {
    /// Connects (in the background, reconnecting) to `url` for line `line`.
    /// Must be called inside a tokio runtime.
    pub fn start(url: &str, line: &str, camera_id: &str) -> Result<RejectPublisher, EdgeError> {
        detective_core::names::check_segment("line", line).map_err(|e| EdgeError::InvalidArgument(e.to_string()))?;
        let (host, port) = parse_url(url)?;
        let mut opts = MqttOptions::new(format!("detective-{camera_id}-{}", std::process::id()), host, port);
        opts.set_keep_alive(Duration::from_secs(15));
        let (client, mut eventloop) = AsyncClient::new(opts, 256);
        let acked = Arc::new(AtomicU64::new(0));
        let acks = acked.clone();
        let poller = tokio::spawn(async move {
            loop {
                match eventloop.poll().await {
                    Ok(Event::Incoming(Packet::PubAck(_))) => {
                        acks.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(_) => {}
                    Err(e) => {
                        tracing::warn!("MQTT: {e}; reconnecting in 1 s");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                }
            }
        });
        Ok(RejectPublisher {
            client,
            topic: format!("detective/{line}/reject"),
            camera_id: camera_id.to_string(),
            sent: AtomicU64::new(0),
            acked,
            dropped: AtomicU64::new(0),
            poller,
        })
    }

    /// Publishes the reject message of a defective prediction.
    pub fn reject(&self, p: &LoggedPrediction) {
        let mut classes: Vec<&str> = p.detections.iter().map(|d| d.name.as_str()).collect();
        classes.sort_unstable();
        classes.dedup();
        let msg = serde_json::json!({
            "frame_id": p.id,
            "camera_id": self.camera_id,
            "classes": classes,
            "max_confidence": p.max_confidence(),
            "time": p.captured_at,
        });
        match self
            .client
            .try_publish(&self.topic, QoS::AtLeastOnce, false, msg.to_string())
        {
            Ok(()) => {
                self.sent.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
                tracing::warn!("MQTT reject for {} not sent: {e}", p.id);
            }
        }
    }

    /// Waits up to `timeout` for the broker to acknowledge what was sent, then
    /// disconnects.
    pub async fn finish(self, timeout: Duration) -> (u64, u64, u64) {
        let deadline = Instant::now() + timeout;
        let sent = self.sent.load(Ordering::Relaxed);
        while self.acked.load(Ordering::Relaxed) < sent && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let _ = self.client.try_disconnect();
        tokio::time::sleep(Duration::from_millis(50)).await;
        self.poller.abort();
        (
            sent,
            self.acked.load(Ordering::Relaxed),
            self.dropped.load(Ordering::Relaxed),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broker_urls_are_parsed_and_checked() {
        assert_eq!(parse_url("mqtt://127.0.0.1:1883").unwrap(), ("127.0.0.1".into(), 1883));
        assert_eq!(parse_url("mqtt://broker").unwrap(), ("broker".into(), 1883));
        for bad in ["tcp://x:1", "mqtt://", "mqtt://x:port"] {
            assert!(parse_url(bad).is_err(), "{bad}");
        }
    }
}
