//! Sends alert events to their channels: a webhook gets the event as JSON
//! (with a Slack-compatible `text`), signed with HMAC-SHA256 of the body under
//! the channel's secret (`X-Detective-Signature: sha256=…`); an MQTT topic gets
//! the same JSON (QoS 1, sent once the broker acknowledges it). A delivery that
//! fails is tried again after 2 s, doubling, [`MAX_ATTEMPTS`] times in all;
//! each attempt is in the delivery log. Deliveries are taken with a lease, so
//! replicas do not send one twice.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use detective_core::alerts::Channel;
use detective_store::Db;
use detective_store::alerts::{self as store, AlertEvent, Delivery};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::OpsError;

/// Attempts per delivery before it is given up (and marked failed).
pub const MAX_ATTEMPTS: i64 = 8;
/// How long a taken delivery is ours.
const LEASE_MS: i64 = 60_000;

/// The JSON every channel gets for `event` of rule `rule_name`.
pub fn payload(event: &AlertEvent, rule_name: &str) -> Value {
    json!({
        "id": event.id,
        "rule": {"id": event.rule_id, "name": rule_name},
        "kind": event.kind,
        "key": event.key,
        "title": event.title,
        "detail": event.detail,
        "created_at": event.created_at,
        "text": format!(":rotating_light: *Defect Detective* — {} (rule “{rule_name}”)", event.title),
    })
}

/// `sha256=` and the hex HMAC-SHA256 of `body` under `secret`.
pub fn signature(secret: &str, body: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// What sends: the database, an HTTP client, and the MQTT broker (when set).
#[derive(Clone)]
pub struct AlertDelivery {
    pub db: Db,
    pub http: reqwest::Client,
    /// `mqtt://host[:port]` of the broker MQTT channels publish to.
    pub mqtt_url: Option<String>,
}

impl AlertDelivery {
    pub fn new(db: Db, mqtt_url: Option<String>) -> Result<Self, OpsError> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(15))
            .build()
            .map_err(|e| OpsError::Io(e.to_string()))?;
        Ok(AlertDelivery { db, http, mqtt_url })
    }

    async fn send(&self, d: &Delivery) -> Result<(), String> {
        let event = store::get_event(&self.db, d.event_id)
            .await
            .map_err(|e| e.to_string())?;
        let rule_name = match store::get_rule(&self.db, event.rule_id).await {
            Ok(r) => r.name,
            Err(_) => "(deleted rule)".into(),
        };
        let body = serde_json::to_vec(&payload(&event, &rule_name)).map_err(|e| e.to_string())?;
        let channel: Channel = serde_json::from_value(d.target.clone()).map_err(|e| e.to_string())?;
        match channel {
            Channel::Webhook { url, secret } => {
                let mut req = self
                    .http
                    .post(&url)
                    .header("content-type", "application/json")
                    .header("x-detective-event", event.id.to_string());
                if !secret.is_empty() {
                    req = req.header("x-detective-signature", signature(&secret, &body));
                }
                let resp = req.body(body).send().await.map_err(|e| e.without_url().to_string())?;
                if !resp.status().is_success() {
                    return Err(format!("the webhook answered {}", resp.status()));
                }
                Ok(())
            }
            Channel::Mqtt { topic } => {
                let url = self
                    .mqtt_url
                    .as_deref()
                    .ok_or("no MQTT broker configured ([alerts] mqtt_url)")?;
                publish(url, &topic, body).await
            }
            Channel::Dashboard => Ok(()),
        }
    }

    /// Sends every delivery due now; how many went through.
    pub async fn round(&self) -> Result<usize, OpsError> {
        let mut sent = 0;
        loop {
            let now = detective_store::clock::now_ms();
            let Some(d) = store::take_due(&self.db, now, LEASE_MS).await? else {
                return Ok(sent);
            };
            match self.send(&d).await {
                Ok(()) => {
                    store::delivered(&self.db, d.id).await?;
                    sent += 1;
                }
                Err(e) => {
                    let attempts = d.attempts + 1;
                    let next = (attempts < MAX_ATTEMPTS).then(|| now + 2_000 * (1i64 << (attempts - 1).min(10)));
                    tracing::warn!("alert {} to {}: attempt {attempts} failed: {e}", d.event_id, d.channel);
                    store::attempt_failed(&self.db, d.id, next, &e).await?;
                }
            }
        }
    }

    /// Sends until `stop`, looking for due deliveries every `idle`.
    pub async fn run(self, stop: Arc<AtomicBool>, idle: Duration) {
        while !stop.load(Ordering::SeqCst) {
            if let Err(e) = self.round().await {
                tracing::warn!("alert deliveries: {e}");
            }
            tokio::time::sleep(idle).await;
        }
    }
}

/// Publishes `body` on `topic` at QoS 1 and waits for the broker's
/// acknowledgement (at most 10 s).
async fn publish(url: &str, topic: &str, body: Vec<u8>) -> Result<(), String> {
    use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
    let (host, port) = detective_core::mqtt_url::parse(url)?;
    let id = format!(
        "detective-alerts-{}-{}",
        std::process::id(),
        uuid::Uuid::new_v4().simple()
    );
    let mut opts = MqttOptions::new(id, host, port);
    opts.set_keep_alive(Duration::from_secs(10));
    let (client, mut eventloop) = AsyncClient::new(opts, 8);
    client
        .publish(topic, QoS::AtLeastOnce, false, body)
        .await
        .map_err(|e| e.to_string())?;
    let acked = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match eventloop.poll().await {
                Ok(Event::Incoming(Packet::PubAck(_))) => return Ok(()),
                Ok(_) => {}
                Err(e) => return Err(format!("MQTT {url}: {e}")),
            }
        }
    })
    .await
    .map_err(|_| format!("MQTT {url}: no acknowledgement within 10 s"))?;
    let _ = client.disconnect().await;
    acked
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_the_hmac_of_the_body() {
        // RFC 4231 test case 2.
        let s = signature("Jefe", b"what do ya want for nothing?");
        assert_eq!(
            s,
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
