//! Inspection rules through real HTTP: set per model and camera, refused whole
//! when wrong, applied by the predict route, deciding the uncertain flag of
//! logged predictions, and handed to edge agents by `GET /api/edge/config`.

use crate::common::{Kind, TestServer, client, part_png};
use detective_core::Role;
use serde_json::{Value, json};

async fn put(s: &TestServer, key: &str, body: Value) -> reqwest::Response {
    client()
        .put(s.at("/api/rules"))
        .bearer_auth(key)
        .json(&body)
        .send()
        .await
        .unwrap()
}

async fn get(s: &TestServer, key: &str, path: &str) -> Value {
    let r = client().get(s.at(path)).bearer_auth(key).send().await.unwrap();
    assert_eq!(r.status(), 200, "{path}");
    r.json().await.unwrap()
}

/// The bundled model's detections on synthetic part `index` (640×480), under
/// the rules of `camera` when given.
async fn predict(s: &TestServer, key: &str, index: u64, camera: Option<&str>) -> Vec<Value> {
    let q = camera.map(|c| format!("?camera={c}")).unwrap_or_default();
    let r = client()
        .post(s.at(&format!("/api/inference/predict{q}")))
        .bearer_auth(key)
        .header("content-type", "image/png")
        .body(part_png(640, 480, index))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    v["detections"].as_array().unwrap().clone()
}

fn logged(i: u32, class: &str, conf: f32) -> Value {
    json!({"id": format!("00000000-0000-4000-8000-{i:012x}"), "captured_at": "2026-11-24T08:00:00Z",
           "model_version": "m@1", "detections": [{"class": 0, "name": class, "confidence": conf, "bbox": [10.0, 20.0, 50.0, 60.0]}]})
}

on_both!(
    rules_per_model_and_camera_filter_predictions_and_decide_what_is_uncertain,
    |kind: Kind| async move {
        let s = TestServer::start(kind).await;
        let operator = s.key(Role::Operator).await;
        let device = s.key(Role::Device).await;

        // Refused whole, with the reason, and nothing stored.
        for (bad, want) in [
            (
                json!({"camera": "a", "rules": {"classes": {"scratch": {"uncertain_low": 0.8}}}}),
                "scratch",
            ),
            (
                json!({"camera": "a", "rules": {"zones": [{"name": "z", "kind": "ignore", "points": [[0, 0], [1, 1]]}]}}),
                "3 to",
            ),
            (json!({"camera": "../a", "rules": {}}), "camera"),
            (json!({"camera": "a", "rules": {"conf": 2.0}}), "conf"),
            (
                json!({"camera": "a", "rules": {"zones": [{"name": "z", "kind": "maybe", "points": []}]}}),
                "",
            ),
        ] {
            let r = put(&s, &operator, bad.clone()).await;
            assert!(r.status() == 400 || r.status() == 422, "{bad}: {}", r.status());
            let text = r.text().await.unwrap();
            assert!(text.contains(want), "{bad}: {text}");
        }
        assert_eq!(get(&s, &operator, "/api/rules").await["items"], json!([]));

        // Find an image with detections.
        let mut hit = None;
        for i in 0..8u64 {
            let dets = predict(&s, &device, i, None).await;
            if !dets.is_empty() {
                hit = Some((i, dets));
                break;
            }
        }
        let (index, found) = hit.expect("the bundled model finds some synthetic defects");
        let class = found[0]["name"].as_str().unwrap().to_string();

        // An ignore zone over the whole frame on camera cam-a: nothing is reported
        // there, and everything still is elsewhere.
        let whole = json!([{"name": "all", "kind": "ignore", "points": [[0, 0], [1, 0], [1, 1], [0, 1]]}]);
        let r = put(&s, &operator, json!({"camera": "cam-a", "rules": {"zones": whole}})).await;
        assert_eq!(r.status(), 200);
        let answer: Value = r.json().await.unwrap();
        assert_eq!(answer["effective"]["zones"].as_array().unwrap().len(), 1, "{answer}");
        assert!(predict(&s, &device, index, Some("cam-a")).await.is_empty());
        assert_eq!(predict(&s, &device, index, Some("cam-b")).await.len(), found.len());
        // An inspect zone that holds no detection's centre keeps nothing either.
        let corner =
            json!([{"name": "corner", "kind": "inspect", "points": [[0, 0], [0.01, 0], [0.01, 0.01], [0, 0.01]]}]);
        assert_eq!(
            put(&s, &operator, json!({"camera": "cam-c", "rules": {"zones": corner}}))
                .await
                .status(),
            200
        );
        assert!(predict(&s, &device, index, Some("cam-c")).await.is_empty());

        // A class threshold for the served model (a file: its rules are under its name).
        let r = put(
            &s,
            &operator,
            json!({"model": "bundled", "rules": {"classes": {class.clone(): {"conf": 0.999}}}}),
        )
        .await;
        assert_eq!(r.status(), 200);
        let now = predict(&s, &device, index, None).await;
        assert!(
            now.iter().all(|d| d["name"] != class.as_str()),
            "{class} is held back: {now:?}"
        );
        assert_eq!(
            now.len(),
            found.iter().filter(|d| d["name"] != class.as_str()).count(),
            "other classes are untouched"
        );

        // The layers: everywhere < model < camera < model on camera.
        let eff = get(&s, &operator, "/api/rules/effective?model=bundled&camera=cam-a").await;
        assert_eq!(eff["classes"][&class]["conf"], json!(0.999));
        assert_eq!(eff["zones"].as_array().unwrap().len(), 1);
        assert_eq!(eff["conf"], json!(0.25));

        // The uncertain flag of logged predictions follows the class's band on the camera.
        let band = json!({"classes": {"scratch": {"uncertain_low": 0.2, "uncertain_high": 0.5}}});
        assert_eq!(
            put(&s, &operator, json!({"camera": "cam-b", "rules": band}))
                .await
                .status(),
            200
        );
        let log = |camera: &'static str, i: u32, conf: f32| {
            client()
                .post(s.at("/api/log"))
                .bearer_auth(&device)
                .json(&json!({"camera_id": camera, "predictions": [logged(i, "scratch", conf)]}))
                .send()
        };
        let on_b: Value = log("cam-b", 1, 0.3).await.unwrap().json().await.unwrap();
        let on_d: Value = log("cam-d", 2, 0.3).await.unwrap().json().await.unwrap();
        assert_eq!(
            (on_b["uncertain"].as_u64(), on_d["uncertain"].as_u64()),
            (Some(1), Some(0))
        );
        let on_b: Value = log("cam-b", 3, 0.6).await.unwrap().json().await.unwrap();
        let on_d: Value = log("cam-d", 4, 0.6).await.unwrap().json().await.unwrap();
        assert_eq!(
            (on_b["defective"].as_u64(), on_d["defective"].as_u64()),
            (Some(1), Some(0))
        );
        assert_eq!(
            (on_b["uncertain"].as_u64(), on_d["uncertain"].as_u64()),
            (Some(0), Some(1))
        );

        // The edge channel: the camera's rules, and a revision that moves when they do.
        let path = "/api/edge/config?camera=cam-a&model=bundled";
        let first = get(&s, &device, path).await;
        assert_eq!(first["model"], Value::Null, "no Production model yet");
        assert_eq!(first["rules"]["zones"].as_array().unwrap().len(), 1);
        assert_eq!(first["rules"]["classes"][&class]["conf"], json!(0.999));
        assert_eq!(get(&s, &device, path).await["revision"], first["revision"]);
        assert_eq!(
            put(&s, &operator, json!({"camera": "cam-a", "rules": {"zones": []}}))
                .await
                .status(),
            200
        );
        let second = get(&s, &device, path).await;
        assert_ne!(second["revision"], first["revision"]);
        assert_eq!(second["rules"]["zones"], json!([]));

        // Removal, and a scope with nothing to remove.
        let del = |q: &'static str| {
            client()
                .delete(s.at(&format!("/api/rules?{q}")))
                .bearer_auth(&operator)
                .send()
        };
        assert_eq!(del("camera=cam-a").await.unwrap().status(), 204);
        assert_eq!(del("camera=cam-a").await.unwrap().status(), 404);
        let listed = get(&s, &operator, "/api/rules").await;
        let scopes: Vec<&Value> = listed["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| &i["scope"])
            .collect();
        assert_eq!(
            scopes,
            [
                &json!({"camera": "cam-b"}),
                &json!({"camera": "cam-c"}),
                &json!({"model": "bundled"})
            ]
        );
    }
);

on_both!(
    the_configurations_rules_are_the_base_of_every_scope,
    |kind: Kind| async move {
        let settings = detective_server::ServerSettings {
            rules: serde_json::from_value(json!({"zones": [
                {"name": "all", "kind": "ignore", "points": [[0, 0], [1, 0], [1, 1], [0, 1]]}]}))
            .unwrap(),
            ..Default::default()
        };
        let s = TestServer::start_with(kind, settings, Some(crate::common::bundled_pool(1, 8))).await;
        let device = s.key(Role::Device).await;
        let operator = s.key(Role::Operator).await;
        for i in 0..4 {
            assert!(
                predict(&s, &device, i, None).await.is_empty(),
                "the configured zone hides everything"
            );
        }
        // A camera's own zones replace the configured ones.
        assert_eq!(
            put(&s, &operator, json!({"camera": "cam-a", "rules": {"zones": []}}))
                .await
                .status(),
            200
        );
        let mut found = 0;
        for i in 0..8 {
            found += predict(&s, &device, i, Some("cam-a")).await.len();
        }
        assert!(found > 0);
    }
);
