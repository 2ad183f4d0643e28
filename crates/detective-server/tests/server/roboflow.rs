//! Roboflow push and pull through the API against the Roboflow stand-in
//! (`crates/roboflow-standin`, proven faithful with Roboflow's official
//! client), on SQLite + folder and on PostgreSQL + S3: admin-only settings
//! with the key never given back, a push that sends images with their labels
//! once (a second push sends only what changed), a pulled version that
//! becomes a dataset with its lineage, retries on a rate limit, and clear
//! errors for a bad key, a missing version and a failed export; a pull
//! cancelled while Roboflow prepares it.

use std::time::{Duration, Instant};

use detective_core::Role;
use detective_server::ServerSettings;
use roboflow_standin::{Options, StandIn};
use serde_json::{Value, json};

use crate::common::{Kind, TestServer, bundled_pool, client};
use crate::training::{get, post, post_form, put};

/// Waits until job `id` has ended; the job.
async fn ended(s: &TestServer, key: &str, id: i64) -> Value {
    let t = Instant::now();
    loop {
        let j = get(s, key, &format!("/api/integrations/roboflow/jobs/{id}")).await;
        if !matches!(j["status"].as_str(), Some("queued" | "running")) {
            return j;
        }
        assert!(t.elapsed() < Duration::from_secs(90), "job {id} did not end: {j}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn start(s: &TestServer, key: &str, what: &str, body: Value) -> i64 {
    let (status, j) = post(s, key, &format!("/api/integrations/roboflow/{what}"), body).await;
    assert_eq!(status, 202, "{j}");
    j["id"].as_i64().unwrap()
}

/// Four labelled synthetic parts in project `steel` with its classes; their ids.
async fn labelled_images(s: &TestServer, key: &str) -> Vec<i64> {
    let (form, classes) = crate::common::labelled_parts_form("steel", 4, 96, 9, 1.0);
    let names: Vec<Value> = classes.iter().map(|c| json!({"name": c})).collect();
    let (status, _) = put(s, key, "/api/projects/steel/classes", json!({"classes": names})).await;
    assert_eq!(status, 200);
    let (status, up) = post_form(s, key, "/api/images/upload", form).await;
    assert_eq!(status, 200, "{up}");
    up["files"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|f| f["id"].as_i64())
        .collect()
}

/// Generates the next version on the stand-in, as a person does in Roboflow's app.
async fn generate(rf: &StandIn) -> u64 {
    let r = client()
        .post(format!(
            "{}/{}/steel-parts/generate?api_key={}",
            rf.url,
            rf.workspace(),
            rf.key()
        ))
        .json(&json!({"augmentation": {}, "preprocessing": {}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.json::<Value>().await.unwrap()["version"].as_u64().unwrap()
}

on_both!(
    push_and_pull_go_through_roboflows_api_with_clear_errors,
    |kind: Kind| async move {
        let rf = StandIn::start(Options::default()).await.unwrap();
        let settings = ServerSettings {
            roboflow_url: rf.url.clone(),
            ..ServerSettings::default()
        };
        let s = TestServer::start_with(kind, settings, Some(bundled_pool(1, 8))).await;
        let admin = s.key(Role::Admin).await;
        let op = s.key(Role::Operator).await;
        let viewer = s.key(Role::Viewer).await;
        let ids = labelled_images(&s, &op).await;

        // Not set up yet: a clear refusal.
        let (status, v) = post(&s, &op, "/api/integrations/roboflow/push", json!({"image_ids": ids})).await;
        assert_eq!(status, 400, "{v}");
        assert!(v["detail"].as_str().unwrap().contains("not set up"), "{v}");
        // Settings: admins only; the key never comes back.
        let body =
            json!({"workspace": "acme", "project": "steel-parts", "api_key": rf.key(), "local_project": "steel"});
        let (status, _) = put(&s, &op, "/api/integrations/roboflow/settings", body.clone()).await;
        assert_eq!(status, 403);
        let (status, shown) = put(&s, &admin, "/api/integrations/roboflow/settings", body).await;
        assert_eq!(status, 200, "{shown}");
        assert_eq!(
            (shown["api_key_set"].as_bool(), shown["api_key"].as_str()),
            (Some(true), Some("••••"))
        );
        let r = client()
            .get(s.at("/api/integrations/roboflow/settings"))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap();
        assert!(
            !r.text().await.unwrap().contains(rf.key()),
            "the key is never given back"
        );
        let (status, v) = post(&s, &admin, "/api/integrations/roboflow/check", json!(null)).await;
        assert_eq!((status, v["workspace"].as_str()), (200, Some("acme")), "{v}");

        // Push: every image with its labels, then nothing new, then one relabelled.
        let (status, _) = post(
            &s,
            &viewer,
            "/api/integrations/roboflow/push",
            json!({"image_ids": ids}),
        )
        .await;
        assert_eq!(status, 403, "viewers do not push");
        let job = ended(&s, &op, start(&s, &op, "push", json!({"image_ids": ids})).await).await;
        assert_eq!(job["status"], "succeeded", "{job}");
        assert_eq!(
            (
                job["result"]["sent"].as_u64(),
                job["done"].as_i64(),
                job["total"].as_i64()
            ),
            (Some(4), Some(4), Some(4))
        );
        assert_eq!(rf.image_count("steel-parts"), 4);
        let (annotated, boxes) = rf.annotated("steel-parts");
        assert_eq!(annotated, 4);
        assert!(boxes >= 4, "{boxes}");
        let requests = rf.requests();
        let again = ended(&s, &op, start(&s, &op, "push", json!({"image_ids": ids})).await).await;
        assert_eq!(
            (again["result"]["sent"].as_u64(), again["result"]["skipped"].as_u64()),
            (Some(0), Some(4)),
            "{again}"
        );
        assert_eq!(rf.requests(), requests, "a second push sends nothing");
        let relabel = json!({"boxes": [{"class": 0, "bbox": [1, 1, 20, 20]}]});
        let (status, v) = put(&s, &op, &format!("/api/images/{}/labels", ids[0]), relabel).await;
        assert_eq!(status, 200, "{v}");
        let third = ended(&s, &op, start(&s, &op, "push", json!({"image_ids": ids})).await).await;
        assert_eq!(
            (third["result"]["sent"].as_u64(), third["result"]["skipped"].as_u64()),
            (Some(1), Some(3)),
            "{third}"
        );
        assert_eq!(rf.annotated("steel-parts").0, 4);

        // Pull: a version generated in Roboflow becomes a dataset with its lineage.
        let n = generate(&rf).await;
        let versions = get(&s, &viewer, "/api/integrations/roboflow/versions").await;
        assert_eq!(
            (versions[0]["number"].as_u64(), versions[0]["images"].as_u64()),
            (Some(n), Some(4)),
            "{versions}"
        );
        let job = ended(&s, &op, start(&s, &op, "pull", json!({"version": n})).await).await;
        assert_eq!(job["status"], "succeeded", "{job}");
        let ds = get(&s, &viewer, &format!("/api/datasets/{}", job["result"]["dataset_id"])).await;
        assert_eq!(ds["name"], format!("roboflow-steel-parts-v{n}"));
        assert_eq!(ds["project"], "steel");
        assert_eq!(ds["versions"][0]["note"], format!("roboflow:acme/steel-parts/{n}"));
        assert_eq!(ds["versions"][0]["n_images"], 4);
        let yaml = format!("projects/steel/datasets/roboflow-steel-parts-v{n}/v1/data.yaml");
        assert!(s.state.objects.exists(&yaml).await.unwrap(), "{yaml}");
        // The same version again under the same name: refused, clearly.
        let job = ended(&s, &op, start(&s, &op, "pull", json!({"version": n})).await).await;
        assert_eq!(job["status"], "failed");
        assert!(
            job["message"].as_str().unwrap().contains("already has a dataset"),
            "{job}"
        );

        // Roboflow's errors reach the user: no such version, a failed export,
        // a rate limit outlasted, a rate limit that lasts, a bad key.
        let job = ended(
            &s,
            &op,
            start(&s, &op, "pull", json!({"version": 9, "name": "nine"})).await,
        )
        .await;
        assert_eq!(job["status"], "failed");
        assert!(job["message"].as_str().unwrap().contains("version 9"), "{job}");
        rf.fail_exports(true);
        let m = generate(&rf).await;
        let job = ended(&s, &op, start(&s, &op, "pull", json!({"version": m})).await).await;
        assert!(job["message"].as_str().unwrap().contains("Export failed"), "{job}");
        rf.fail_exports(false);
        rf.fail_next(429, 2);
        let versions = get(&s, &viewer, "/api/integrations/roboflow/versions").await;
        assert_eq!(versions.as_array().unwrap().len(), 2, "retried after Retry-After");
        rf.fail_next(429, 100);
        let r = client()
            .get(s.at("/api/integrations/roboflow/versions"))
            .bearer_auth(&viewer)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 502);
        assert!(r.text().await.unwrap().contains("rate limit"));
        rf.fail_next(429, 0);
        let (status, _) = put(
            &s,
            &admin,
            "/api/integrations/roboflow/settings",
            json!({"api_key": "wrong-key"}),
        )
        .await;
        assert_eq!(status, 200);
        let r = client()
            .get(s.at("/api/integrations/roboflow/versions"))
            .bearer_auth(&viewer)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400);
        assert!(r.text().await.unwrap().contains("refused the API key"));
        let (status, _) = put(
            &s,
            &admin,
            "/api/integrations/roboflow/settings",
            json!({"api_key": rf.key()}),
        )
        .await;
        assert_eq!(status, 200);

        // Cancel: a pull stops while Roboflow prepares the export.
        rf.set_export_polls(10_000);
        let id = start(&s, &op, "pull", json!({"version": m, "name": "never"})).await;
        let t = Instant::now();
        while !get(&s, &op, &format!("/api/integrations/roboflow/jobs/{id}")).await["message"]
            .as_str()
            .unwrap_or("")
            .contains("preparing")
        {
            assert!(
                t.elapsed() < Duration::from_secs(30),
                "the pull never waited on the export"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let (status, _) = post(
            &s,
            &op,
            &format!("/api/integrations/roboflow/jobs/{id}/cancel"),
            json!(null),
        )
        .await;
        assert_eq!(status, 200);
        let job = ended(&s, &op, id).await;
        assert_eq!(job["status"], "cancelled", "{job}");
        let (status, _) = post(
            &s,
            &op,
            &format!("/api/integrations/roboflow/jobs/{id}/cancel"),
            json!(null),
        )
        .await;
        assert_eq!(status, 409, "an ended job cannot be cancelled");
        let jobs = get(&s, &viewer, "/api/integrations/roboflow/jobs").await;
        assert!(jobs["items"].as_array().unwrap().len() >= 8);
    }
);
