//! Sampling strategies through real HTTP: set per camera (refused whole when
//! wrong), handed to edge agents by `GET /api/edge/config`, sampled frames
//! queued with their reason, and the miss rate that review finds.

use crate::common::{Kind, TestServer, client};
use detective_core::Role;
use serde_json::{Value, json};

async fn get(s: &TestServer, key: &str, path: &str) -> Value {
    let r = client().get(s.at(path)).bearer_auth(key).send().await.unwrap();
    assert_eq!(r.status(), 200, "{path}");
    r.json().await.unwrap()
}

async fn put(s: &TestServer, key: &str, camera: &str, body: Value) -> reqwest::Response {
    client()
        .put(s.at(&format!("/api/cameras/{camera}/sampling")))
        .bearer_auth(key)
        .json(&body)
        .send()
        .await
        .unwrap()
}

fn logged(i: u32, sampled: Option<&str>) -> Value {
    let mut p = json!({"id": format!("00000000-0000-4000-8000-{i:012x}"), "captured_at": "2026-11-24T08:00:00Z",
                       "model_version": "m@1", "detections": []});
    if let Some(r) = sampled {
        p["sampled"] = json!(r);
    }
    p
}

on_both!(
    a_cameras_sampling_reaches_its_agent_and_sampled_frames_reach_the_queue_with_their_reason,
    |kind: Kind| async move {
        let s = TestServer::start(kind).await;
        let operator = s.key(Role::Operator).await;
        let viewer = s.key(Role::Viewer).await;
        let device = s.key(Role::Device).await;

        // Never set: every strategy off.
        let off = get(&s, &viewer, "/api/cameras/cam-a/sampling").await;
        assert_eq!(
            off,
            json!({"random_percent": 0.0, "more_than": null, "classes": [], "per_hour": 30})
        );
        let path = "/api/edge/config?camera=cam-a&model=bundled";
        let before = get(&s, &device, path).await;
        assert_eq!(before["sampling"], off);

        // Refused whole, with the reason; nothing changes.
        for (bad, want) in [
            (json!({"random_percent": 150}), "random_percent"),
            (json!({"per_hour": 0}), "per_hour"),
            (json!({"classes": [" "]}), "classes"),
            (json!({"random_percent": 5, "sometimes": true}), "sometimes"),
        ] {
            let r = put(&s, &operator, "cam-a", bad.clone()).await;
            assert!(r.status().is_client_error(), "{bad}: {}", r.status());
            let text = r.text().await.unwrap();
            assert!(text.contains(want), "{bad}: {text}");
        }
        assert_eq!(put(&s, &operator, "cam%20a", json!({})).await.status(), 400);
        assert_eq!(
            put(&s, &viewer, "cam-a", json!({"random_percent": 5})).await.status(),
            403
        );
        assert_eq!(get(&s, &viewer, "/api/cameras/cam-a/sampling").await, off);

        // Set: the agent's channel carries it, under a new revision.
        let want = json!({"random_percent": 5.0, "more_than": 3, "classes": ["scratch"], "per_hour": 12});
        let r = put(&s, &operator, "cam-a", want.clone()).await;
        assert_eq!(r.status(), 200);
        assert_eq!(get(&s, &viewer, "/api/cameras/cam-a/sampling").await, want);
        let after = get(&s, &device, path).await;
        assert_eq!(after["sampling"], want);
        assert_ne!(after["revision"], before["revision"]);
        // Other cameras are not touched.
        assert_eq!(get(&s, &viewer, "/api/cameras/cam-b/sampling").await, off);

        // Sampled frames queue with their reason; a made-up reason refuses the batch.
        let log = |preds: Vec<Value>| {
            client()
                .post(s.at("/api/log"))
                .bearer_auth(&device)
                .json(&json!({"camera_id": "cam-a", "predictions": preds}))
                .send()
        };
        let r = log(vec![logged(9, Some("whim"))]).await.unwrap();
        assert_eq!(r.status(), 422);
        let r = log(vec![
            logged(1, Some("random")),
            logged(2, Some("random")),
            logged(3, None),
        ])
        .await
        .unwrap();
        assert_eq!(r.status(), 200);
        let summary: Value = r.json().await.unwrap();
        assert_eq!(
            (summary["accepted"].as_u64(), summary["sampled"].as_u64()),
            (Some(3), Some(2))
        );
        let queue = get(&s, &viewer, "/api/labeling-queue").await;
        let items = queue["items"].as_array().unwrap();
        assert_eq!(items.len(), 2);
        assert!(items.iter().all(|i| i["reason"] == "random"), "{queue}");

        // A person finds a defect on one of the two frames the model called clean.
        let label = |id: &Value, body: Value| {
            client()
                .post(s.at(&format!("/api/labeling-queue/{id}/label")))
                .bearer_auth(&operator)
                .json(&body)
                .send()
        };
        let r = label(
            &items[0]["id"],
            json!({"boxes": [{"class": 0, "bbox": [5.0, 5.0, 40.0, 40.0]}]}),
        )
        .await;
        assert_eq!(r.unwrap().status(), 200);
        let r = label(&items[1]["id"], json!({"defect_free": true})).await;
        assert_eq!(r.unwrap().status(), 200);
        let m = get(
            &s,
            &viewer,
            "/api/analytics/misses?from=2026-11-24T00:00:00Z&to=2026-11-25T00:00:00Z",
        )
        .await;
        assert_eq!((m["reviewed_clean"].as_i64(), m["missed"].as_i64()), (Some(2), Some(1)));
        assert_eq!(m["miss_rate"].as_f64(), Some(0.5));
        assert_eq!(m["groups"][0]["camera_id"], "cam-a");
        assert_eq!(m["groups"][0]["reason"], "random");
    }
);
