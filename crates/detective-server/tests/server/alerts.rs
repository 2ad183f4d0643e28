//! Alerts through real HTTP: rules refused whole when wrong, a defect rate
//! above its p-chart limit fires once per quiet period, events reach a real
//! local webhook receiver (signed, retried after a failure) and the machine's
//! Mosquitto, and the delivery log says what happened.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::common::{Kind, TestServer, client, logged_ago};
use crate::training::{get, post};
use axum::http::{HeaderMap, StatusCode};
use detective_core::Role;
use detective_ops::alerts::deliver::{AlertDelivery, signature};
use serde_json::{Value, json};

/// One request the receiver got: its signature header and body.
type Received = (Option<String>, Vec<u8>);

/// A webhook receiver on loopback: keeps each request's signature and body,
/// and answers 500 to the first `fail_first` requests.
#[derive(Clone, Default)]
struct Receiver {
    got: Arc<Mutex<Vec<Received>>>,
    fail_first: Arc<Mutex<usize>>,
}

impl Receiver {
    async fn start(fail_first: usize) -> (Receiver, String) {
        let r = Receiver::default();
        *r.fail_first.lock().unwrap() = fail_first;
        let state = r.clone();
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |headers: HeaderMap, body: axum::body::Bytes| {
                let state = state.clone();
                async move {
                    let mut fail = state.fail_first.lock().unwrap();
                    if *fail > 0 {
                        *fail -= 1;
                        return StatusCode::INTERNAL_SERVER_ERROR;
                    }
                    let sig = headers
                        .get("x-detective-signature")
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_string);
                    state.got.lock().unwrap().push((sig, body.to_vec()));
                    StatusCode::NO_CONTENT
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (r, url)
    }

    fn bodies(&self) -> Vec<Received> {
        self.got.lock().unwrap().clone()
    }
}

/// Subscribes to `topic` on the machine's Mosquitto; messages arrive on the channel.
async fn subscribe(topic: &str) -> tokio::sync::mpsc::UnboundedReceiver<Value> {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
    let topic = topic.to_string();
    tokio::spawn(async move {
        let opts = rumqttc::MqttOptions::new(
            format!("alerts-sub-{}", uuid::Uuid::new_v4().simple()),
            "127.0.0.1",
            1883,
        );
        let (client, mut events) = rumqttc::AsyncClient::new(opts, 64);
        client.subscribe(&topic, rumqttc::QoS::AtLeastOnce).await.unwrap();
        let mut ready = Some(ready_tx);
        loop {
            match events.poll().await {
                Ok(rumqttc::Event::Incoming(rumqttc::Packet::SubAck(_))) => {
                    if let Some(r) = ready.take() {
                        let _ = r.send(());
                    }
                }
                Ok(rumqttc::Event::Incoming(rumqttc::Packet::Publish(p))) => {
                    let _ = tx.send(serde_json::from_slice(&p.payload).unwrap());
                }
                Ok(_) => {}
                Err(e) => panic!("Mosquitto must run on 127.0.0.1:1883: {e}"),
            }
        }
    });
    tokio::time::timeout(Duration::from_secs(10), ready_rx)
        .await
        .expect("subscribed")
        .unwrap();
    rx
}

fn logged(i: u32, minutes_ago: i64, defective: bool) -> Value {
    logged_ago(i, chrono::Duration::minutes(minutes_ago), defective)
}

on_both!(
    alerts_fire_once_per_quiet_period_and_reach_a_webhook_and_mqtt_with_retries,
    |kind: Kind| async move {
        let s = TestServer::start(kind).await;
        let op = s.key(Role::Operator).await;
        let viewer = s.key(Role::Viewer).await;
        let device = s.key(Role::Device).await;
        let (hook, url) = Receiver::start(1).await;
        let topic = format!("detective-test/{}/alerts", uuid::Uuid::new_v4().simple());
        let mut mqtt = subscribe(&topic).await;
        let post_rule = |key: String, body: Value| {
            client()
                .post(s.at("/api/alerts/rules"))
                .bearer_auth(key)
                .json(&body)
                .send()
        };

        // Refused whole, with the field named; viewers only read.
        for (bad, want) in [
            (
                json!({"name": "x", "condition": {"kind": "defect_rate", "sigma": 0.2}}),
                "sigma",
            ),
            (
                json!({"name": "x", "condition": {"kind": "drift"}, "channels": [{"type": "webhook", "url": "file:///x"}]}),
                "webhook",
            ),
            (json!({"name": "x", "condition": {"kind": "sunspots"}}), "sunspots"),
        ] {
            let r = post_rule(op.clone(), bad.clone()).await.unwrap();
            assert!(r.status().is_client_error(), "{bad}");
            assert!(r.text().await.unwrap().contains(want), "{bad}");
        }
        let drift = json!({"name": "drift", "condition": {"kind": "drift"}});
        assert_eq!(post_rule(viewer.clone(), drift).await.unwrap().status(), 403);

        // The line's defect rate, to the webhook (signed) and to MQTT.
        let channels = json!([{"type": "webhook", "url": url, "secret": "s3cret"}, {"type": "mqtt", "topic": topic}]);
        let rule = json!({"name": "line rate", "condition": {"kind": "defect_rate", "by": "line", "window_mins": 60,
                          "history_hours": 24, "min_n": 30}, "channels": channels, "quiet_secs": 3600});
        let r = post_rule(op.clone(), rule).await.unwrap();
        assert_eq!(r.status(), 201);
        let created: Value = r.json().await.unwrap();
        assert_eq!(created["spec"]["channels"][0]["secret"], "********", "never shown");
        let failed_jobs = json!({"name": "jobs", "condition": {"kind": "job_failed"},
                                 "channels": [{"type": "webhook", "url": url, "secret": "s3cret"}]});
        assert_eq!(post_rule(op.clone(), failed_jobs).await.unwrap().status(), 201);

        // History: 5 % defective over the last day; the last hour: 40 %.
        let mut preds = Vec::new();
        for i in 0..200u32 {
            preds.push(logged(i, 120 + i64::from(i) * 5, i % 20 == 0));
        }
        for i in 200..250u32 {
            preds.push(logged(i, i64::from(i - 200), i % 5 < 2));
        }
        let (status, _) = post(
            &s,
            &device,
            "/api/log",
            json!({"camera_id": "l1-cam1", "predictions": preds}),
        )
        .await;
        assert_eq!(status, 200);
        let evaluate = || client().post(s.at("/api/alerts/evaluate")).bearer_auth(&op).send();
        let fired: Value = evaluate().await.unwrap().json().await.unwrap();
        assert_eq!(fired["fired"], 1);
        let again: Value = evaluate().await.unwrap().json().await.unwrap();
        assert_eq!(again["fired"], 0, "quiet for an hour");
        detective_ops::alerts::on_job_failed(&s.state.db, 7, "detector", "out of memory").await;

        // Delivered: the webhook's first answer is a 500, so one waits for its retry.
        let d = AlertDelivery::new(s.state.db.clone(), Some("mqtt://127.0.0.1:1883".into())).unwrap();
        let t0 = std::time::Instant::now();
        while hook.bodies().len() < 2 {
            d.round().await.unwrap();
            assert!(t0.elapsed() < Duration::from_secs(30), "webhook deliveries");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let got = hook.bodies();
        let mut kinds = Vec::new();
        for (sig, body) in &got {
            assert_eq!(sig.as_deref(), Some(signature("s3cret", body).as_str()), "signed");
            let v: Value = serde_json::from_slice(body).unwrap();
            assert!(
                v["text"].as_str().unwrap().contains(v["title"].as_str().unwrap()),
                "Slack text: {v}"
            );
            kinds.push(v["kind"].as_str().unwrap().to_string());
        }
        kinds.sort();
        assert_eq!(kinds, ["defect_rate", "job_failed"]);
        let rate: Value = got
            .iter()
            .map(|(_, b)| serde_json::from_slice::<Value>(b).unwrap())
            .find(|v| v["kind"] == "defect_rate")
            .unwrap();
        assert_eq!(rate["key"], "l1");
        assert!(rate["detail"]["rate"].as_f64().unwrap() > rate["detail"]["ucl"].as_f64().unwrap());
        let m = tokio::time::timeout(Duration::from_secs(10), mqtt.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (m["kind"].as_str(), m["key"].as_str()),
            (Some("defect_rate"), Some("l1"))
        );

        // The log: what fired, and each delivery's outcome.
        let events = get(&s, &viewer, "/api/alerts/events").await;
        let items = events["items"].as_array().unwrap();
        assert_eq!(items.len(), 2, "{events}");
        let all: Vec<&Value> = items.iter().flat_map(|e| e["deliveries"].as_array().unwrap()).collect();
        assert_eq!(all.len(), 3, "{events}");
        assert!(all.iter().all(|d| d["status"] == "delivered"), "{events}");
        let retried = all.iter().filter(|d| d["attempts"] == 2).count();
        assert_eq!(retried, 1, "one webhook delivery needed its retry: {events}");

        // An edge spool filling up, and a camera gone silent (to the dashboard only).
        for (name, cond) in [
            ("spool", json!({"kind": "spool_full", "percent": 90})),
            ("silent", json!({"kind": "camera_silent", "minutes": 30})),
        ] {
            let rule = json!({"name": name, "condition": cond, "channels": [{"type": "dashboard"}]});
            assert_eq!(post_rule(op.clone(), rule).await.unwrap().status(), 201);
        }
        let r = client()
            .post(s.at("/api/log"))
            .bearer_auth(&device)
            .json(
                &json!({"camera_id": "l2-cam9", "stats": {"fps": 5.0, "inference_ms": 9.0, "spool_percent": 95.0},
                          "predictions": [logged(900, 0, false)]}),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
        let fired: Value = evaluate().await.unwrap().json().await.unwrap();
        assert_eq!(fired["fired"], 1, "the full spool; every camera reported just now");
        // l2-cam9 last reported two hours ago.
        sqlx::query("UPDATE cameras SET last_seen = $1 WHERE id = 'l2-cam9'")
            .bind(detective_store::clock::now_ms() - 2 * 3_600_000)
            .execute(s.state.db.pool())
            .await
            .unwrap();
        let fired: Value = evaluate().await.unwrap().json().await.unwrap();
        assert_eq!(fired["fired"], 1, "l2-cam9 is silent");
        let events = get(&s, &viewer, "/api/alerts/events?limit=10").await;
        let kinds: Vec<(&str, &str)> = events["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| (e["kind"].as_str().unwrap(), e["key"].as_str().unwrap()))
            .collect();
        assert_eq!(kinds[..2], [("camera_silent", "l2-cam9"), ("spool_full", "l2-cam9")]);

        // Rules are edited whole (the masked secret keeps the stored one) and removed.
        let id = created["id"].as_i64().unwrap();
        let mut spec = created["spec"].clone();
        spec["quiet_secs"] = json!(60);
        let r = client()
            .put(s.at(&format!("/api/alerts/rules/{id}")))
            .bearer_auth(&op)
            .json(&spec)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let stored = detective_store::alerts::get_rule(&s.state.db, id).await.unwrap();
        assert_eq!(stored.spec["channels"][0]["secret"], "s3cret");
        assert_eq!(stored.spec["quiet_secs"], 60);
        let del = || {
            client()
                .delete(s.at(&format!("/api/alerts/rules/{id}")))
                .bearer_auth(&op)
                .send()
        };
        assert_eq!(del().await.unwrap().status(), 204);
        assert_eq!(del().await.unwrap().status(), 404);
    }
);
