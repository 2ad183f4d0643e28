//! The role matrix: every route × every role (and no key, a wrong key, a revoked
//! key). Allowed calls succeed (2xx); forbidden ones get 403; missing or unknown
//! keys get 401; all as problem+json.

use crate::common::{Kind, TestServer, client, part_png};
use detective_core::{Action, Role};
use serde_json::json;

#[derive(Clone, Copy)]
enum Body {
    None,
    LogBatch,
    Png,
    Upload,
    CreateDataset,
    NewVersion,
    CreateKey,
    CreateUser,
    SetPassword,
    Thresholds,
    Rules,
    Sampling,
    AlertRule,
}

struct Route {
    method: &'static str,
    path: String,
    action: Option<Action>,
    body: Body,
}

fn route(method: &'static str, path: &str, action: Option<Action>, body: Body) -> Route {
    Route {
        method,
        path: path.to_string(),
        action,
        body,
    }
}

async fn call(s: &TestServer, r: &Route, key: Option<&str>, n: u32, image_ids: &[i64]) -> reqwest::Response {
    let url = s.at(&r.path);
    let mut req = match r.method {
        "GET" => client().get(url),
        "PUT" => client().put(url),
        _ => client().post(url),
    };
    if let Some(k) = key {
        req = req.bearer_auth(k);
    }
    req = match r.body {
        Body::None => req,
        Body::LogBatch => req.json(&json!({"camera_id": "cam", "predictions": [{
            "id": format!("00000000-0000-4000-8000-{n:012x}"), "captured_at": "2026-11-24T08:00:00Z",
            "model_version": "m@1", "detections": []}]})),
        Body::Png => req.header("content-type", "image/png").body(part_png(64, 64, 0)),
        Body::Upload => req.multipart(reqwest::multipart::Form::new().text("project", "steel").part(
            "file",
            reqwest::multipart::Part::bytes(part_png(64, 48, 50 + n as u64)).file_name("a.png"),
        )),
        Body::CreateDataset => req.json(
            &json!({"name": format!("ds-{n}"), "project": "steel", "classes": ["scratch"],
                                               "image_ids": [image_ids[0]]}),
        ),
        Body::NewVersion => req.json(&json!({"add": [image_ids[1]]})),
        Body::CreateKey => req.json(&json!({"name": format!("k{n}"), "role": "viewer"})),
        Body::CreateUser => {
            req.json(&json!({"username": format!("u{n}"), "role": "viewer", "password": "ten chars or more"}))
        }
        Body::SetPassword => req.json(&json!({"password": "ten chars or more"})),
        Body::Thresholds => req.json(&json!({"conf": 0.25, "uncertain_low": 0.4, "uncertain_high": 0.7})),
        Body::Rules => req.json(&json!({"camera": "cam-roles", "rules": {"classes": {"scratch": {"conf": 0.5}}}})),
        Body::Sampling => req.json(&json!({"random_percent": 1.0})),
        Body::AlertRule => req.json(&json!({"name": "drift", "condition": {"kind": "drift"}})),
    };
    req.send().await.unwrap()
}

on_both!(every_route_follows_the_role_matrix, |kind: Kind| async move {
    // this test presents bad keys to every route from one address: the sign-in
    // limiter (tested on its own in `detective`'s deploy tests) is off here
    let settings = detective_server::ServerSettings {
        failed_key_limit: 0,
        ..Default::default()
    };
    let s = TestServer::start_with(kind, settings, Some(crate::common::bundled_pool(1, 8))).await;
    let admin = s.key(Role::Admin).await;
    // Fixtures: two images, a dataset, a key to revoke.
    let form = reqwest::multipart::Form::new()
        .text("project", "steel")
        .part(
            "file",
            reqwest::multipart::Part::bytes(part_png(64, 48, 1)).file_name("1.png"),
        )
        .part(
            "file",
            reqwest::multipart::Part::bytes(part_png(64, 48, 2)).file_name("2.png"),
        );
    let up: serde_json::Value = client()
        .post(s.at("/api/images/upload"))
        .bearer_auth(&admin)
        .multipart(form)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let image_ids: Vec<i64> = up["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_i64().unwrap())
        .collect();
    let ds: serde_json::Value = client()
        .post(s.at("/api/datasets/create"))
        .bearer_auth(&admin)
        .json(&json!({"name": "fixture", "project": "steel", "classes": ["scratch"], "image_ids": [image_ids[0]]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ds = ds["id"].as_i64().unwrap();
    s.state
        .objects
        .put("models/det/v1/model.onnx", bytes::Bytes::from_static(b"onnx"))
        .await
        .unwrap();
    crate::common::bare_version(&s.state.db, "det", detective_core::Task::Detect).await;
    // A logged prediction with its frame.
    let logged = "00000000-0000-4000-8000-ffffffffffff";
    let batch = json!({"camera_id": "cam", "predictions": [{"id": logged, "captured_at": "2026-11-24T08:00:00Z",
        "model_version": "m@1", "detections": [{"class": 0, "name": "scratch", "confidence": 0.9, "bbox": [1.0, 1.0, 9.0, 9.0]}]}]});
    let form = reqwest::multipart::Form::new().text("batch", batch.to_string()).part(
        "frame",
        reqwest::multipart::Part::bytes(crate::common::part_jpeg(64, 48, 0)).file_name(format!("{logged}.jpg")),
    );
    let r = client()
        .post(s.at("/api/log"))
        .bearer_auth(&admin)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let (victim, _) = detective_store::api_keys::create(&s.state.db, "victim", Role::Viewer)
        .await
        .unwrap();
    let person = detective_ops::accounts::create(&s.state.db, "person", Role::Viewer, "ten chars or more")
        .await
        .unwrap();

    use Action::*;
    let routes = vec![
        route("GET", "/api/health", None, Body::None),
        route("GET", "/api/openapi.json", None, Body::None),
        route("GET", "/api/metrics", Some(Read), Body::None),
        route("GET", "/metrics", Some(Read), Body::None),
        route("GET", "/api/model-status", Some(FetchModel), Body::None),
        route(
            "GET",
            "/api/models/det/versions/1/files/model.onnx",
            Some(FetchModel),
            Body::None,
        ),
        route("POST", "/api/log", Some(Log), Body::LogBatch),
        route("GET", &format!("/api/inspection-logs/{logged}"), Some(Read), Body::None),
        route(
            "GET",
            &format!("/api/inspection-logs/{logged}/frame?boxes=true"),
            Some(Read),
            Body::None,
        ),
        route("GET", "/api/models", Some(Read), Body::None),
        route("GET", "/api/analytics/summary", Some(Read), Body::None),
        route("GET", "/api/segmentation/runs", Some(Read), Body::None),
        route("GET", "/api/settings/thresholds", Some(Read), Body::None),
        route("GET", "/api/labeling-queue", Some(Read), Body::None),
        route("PUT", "/api/settings/thresholds", Some(Admin), Body::Thresholds),
        route("GET", "/api/rules", Some(Read), Body::None),
        route("PUT", "/api/rules", Some(Operate), Body::Rules),
        route("GET", "/api/rules/effective?camera=cam-roles", Some(Read), Body::None),
        route("GET", "/api/edge/config?camera=cam-roles", Some(FetchModel), Body::None),
        route("GET", "/api/cameras/cam-roles/sampling", Some(Read), Body::None),
        route("PUT", "/api/cameras/cam-roles/sampling", Some(Operate), Body::Sampling),
        route("GET", "/api/analytics/misses", Some(Read), Body::None),
        route("GET", "/api/analytics/insights", Some(Read), Body::None),
        route("GET", "/api/alerts/rules", Some(Read), Body::None),
        route("POST", "/api/alerts/rules", Some(Operate), Body::AlertRule),
        route("GET", "/api/alerts/events", Some(Read), Body::None),
        route("POST", "/api/alerts/evaluate", Some(Operate), Body::None),
        route("GET", "/api/analytics/charts/rate.svg", Some(Read), Body::None),
        route("GET", "/api/metrics/drift/charts/share.svg", Some(Read), Body::None),
        route("GET", "/api/inspection-logs/events", Some(Read), Body::None),
        route(
            "GET",
            &format!("/api/images/{}/file", image_ids[0]),
            Some(Read),
            Body::None,
        ),
        route("GET", "/api/models/det/versions", Some(Read), Body::None),
        route("GET", "/api/inspection-logs", Some(Read), Body::None),
        route("POST", "/api/inference/predict", Some(Predict), Body::Png),
        route("POST", "/api/images/upload", Some(ManageData), Body::Upload),
        route("GET", "/api/images", Some(Read), Body::None),
        route("POST", "/api/datasets/create", Some(ManageData), Body::CreateDataset),
        route("GET", "/api/datasets", Some(Read), Body::None),
        route("GET", &format!("/api/datasets/{ds}"), Some(Read), Body::None),
        route(
            "POST",
            &format!("/api/datasets/{ds}/versions"),
            Some(ManageData),
            Body::NewVersion,
        ),
        route("GET", &format!("/api/datasets/{ds}/export"), Some(Read), Body::None),
        route("GET", "/api/keys", Some(Admin), Body::None),
        route("POST", "/api/keys", Some(Admin), Body::CreateKey),
        route(
            "POST",
            &format!("/api/keys/{}/revoke", victim.id),
            Some(Admin),
            Body::None,
        ),
        route("GET", "/api/users", Some(Admin), Body::None),
        route("POST", "/api/users", Some(Admin), Body::CreateUser),
        route(
            "POST",
            &format!("/api/users/{}/password", person.id),
            Some(Admin),
            Body::SetPassword,
        ),
        route(
            "POST",
            &format!("/api/users/{}/disable", person.id),
            Some(Admin),
            Body::None,
        ),
        route(
            "POST",
            &format!("/api/users/{}/enable", person.id),
            Some(Admin),
            Body::None,
        ),
    ];
    let mut keys = Vec::new();
    for role in Role::ALL {
        keys.push((role, s.key(role).await));
    }
    let (gone, revoked) = detective_store::api_keys::create(&s.state.db, "gone", Role::Admin)
        .await
        .unwrap();
    detective_store::api_keys::revoke(&s.state.db, &gone.id).await.unwrap();

    let mut n = 0u32;
    let mut checked = 0;
    for r in &routes {
        for (role, key) in &keys {
            n += 1;
            let resp = call(&s, r, Some(key), n, &image_ids).await;
            let status = resp.status().as_u16();
            let allowed = r.action.is_none_or(|a| role.may(a));
            if allowed {
                assert!(
                    (200..300).contains(&status),
                    "{role} {} {}: {status} {}",
                    r.method,
                    r.path,
                    resp.text().await.unwrap()
                );
            } else {
                assert_eq!(status, 403, "{role} {} {}", r.method, r.path);
                assert_eq!(resp.headers()["content-type"], "application/problem+json");
            }
            checked += 1;
        }
        if r.action.is_some() {
            for (label, key) in [
                ("no key", None),
                ("unknown key", Some("dd_".to_string() + &"0".repeat(64))),
                ("revoked key", Some(revoked.clone())),
                ("garbage", Some("Basic abc".to_string())),
            ] {
                n += 1;
                let resp = call(&s, r, key.as_deref(), n, &image_ids).await;
                assert_eq!(resp.status(), 401, "{label} {} {}", r.method, r.path);
                assert_eq!(resp.headers()["www-authenticate"], "Bearer");
            }
        }
    }
    assert_eq!(checked, routes.len() * 4);
});

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn insecure_no_auth_treats_every_caller_as_admin() {
    let settings = detective_server::ServerSettings {
        insecure_no_auth: true,
        ..Default::default()
    };
    let s = TestServer::start_with(Kind::SqliteFolder, settings, None).await;
    let r = client().get(s.at("/api/keys")).send().await.unwrap();
    assert_eq!(r.status(), 200);
}
