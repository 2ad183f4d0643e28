//! The audit trail through real HTTP: operators' and admins' changes are recorded
//! with who, what and from where; reads, refused changes and camera traffic are
//! not; only admins read it, as JSON or CSV.

use crate::common::{Kind, TestServer, client};
use detective_core::Role;
use serde_json::{Value, json};

#[tokio::test]
async fn changes_by_operators_and_admins_are_audited_and_only_admins_read_them() {
    let s = TestServer::start(Kind::SqliteFolder).await;
    let (admin, operator, viewer, device) = (
        s.key(Role::Admin).await,
        s.key(Role::Operator).await,
        s.key(Role::Viewer).await,
        s.key(Role::Device).await,
    );
    let http = client();
    // an operator's change, an admin's change, a refused change, a read, camera traffic
    let r = http
        .put(s.at("/api/rules"))
        .bearer_auth(&operator)
        .json(&json!({"camera": "line-1", "rules": {"classes": {"scratch": {"conf": 0.6}}}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let r = http
        .put(s.at("/api/settings/thresholds"))
        .bearer_auth(&admin)
        .json(&json!({"conf": 0.3, "uncertain_low": 0.4, "uncertain_high": 0.7}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let r = http
        .put(s.at("/api/settings/thresholds"))
        .bearer_auth(&admin)
        .json(&json!({"conf": 3.0, "uncertain_low": 0.4, "uncertain_high": 0.7}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let r = http
        .get(s.at("/api/rules"))
        .bearer_auth(&operator)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let batch = json!({"camera_id": "line-1", "predictions": [{"id": uuid::Uuid::new_v4().to_string(),
        "captured_at": "2026-12-07T08:00:00Z", "model_version": "bundled@1"}]});
    let r = http
        .post(s.at("/api/log"))
        .bearer_auth(&device)
        .json(&batch)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    let r = http.get(s.at("/api/audit")).bearer_auth(&viewer).send().await.unwrap();
    assert_eq!(r.status(), 403, "viewers do not read the audit trail");
    let v: Value = http
        .get(s.at("/api/audit"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let entries = v["entries"].as_array().unwrap();
    let actions: Vec<(&str, &str, &str)> = entries
        .iter()
        .map(|e| {
            (
                e["actor"].as_str().unwrap(),
                e["action"].as_str().unwrap(),
                e["target"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        actions,
        [
            ("test admin", "PUT /api/settings/thresholds", "/api/settings/thresholds"),
            ("test operator", "PUT /api/rules", "/api/rules"),
        ],
        "newest first; the refused change, the read and the camera's batch are not there"
    );
    assert_eq!(entries[1]["role"], "operator");
    assert_eq!(entries[1]["status"], 200);
    assert_eq!(entries[1]["client"], "127.0.0.1");
    let csv = http
        .get(s.at("/api/audit?format=csv&actor=test%20operator"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "id,at,actor,role,action,target,status,client");
    assert_eq!(lines.len(), 2, "{csv}");
    assert!(
        lines[1].contains(",test operator,operator,PUT /api/rules,/api/rules,200,127.0.0.1"),
        "{csv}"
    );
}
