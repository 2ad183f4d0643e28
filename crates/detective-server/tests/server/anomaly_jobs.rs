//! Anomaly models through the HTTP API, on SQLite + folder and on PostgreSQL +
//! S3: an `anomaly` training job on a dataset's good images, its registration
//! as an anomaly model, its own Production (which edge agents see in
//! `/api/model-status`), and `task=anomaly` predictions: the image's score, the
//! flag at the calibrated threshold, regions, and the heatmap on request.

use crate::common::{Kind, TestServer, client};
use crate::training::{get, post, post_form, set_stage, work};
use detective_core::Role;
use detective_vision::synth::{SynthConfig, generate};
use serde_json::{Value, json};

/// Uploads 10 good parts (no mask) and 6 parts with defects and their masks;
/// the ids of each kind.
async fn upload_good_and_defective(s: &TestServer, key: &str) -> (Vec<i64>, Vec<i64>) {
    let cfg = |defect_rate| SynthConfig {
        width: 64,
        height: 64,
        defect_rate,
        ..SynthConfig::default()
    };
    let mut form = reqwest::multipart::Form::new().text("project", "line-1");
    for i in 0..10 {
        let good = generate(&cfg(0.0), 31, i).unwrap();
        let png = detective_vision::encode::encode_png(&good.image).unwrap();
        form = form.part(
            "file",
            reqwest::multipart::Part::bytes(png).file_name(format!("good{i}.png")),
        );
    }
    for i in 0..6 {
        let bad = generate(&cfg(1.0), 32, i).unwrap();
        let png = detective_vision::encode::encode_png(&bad.image).unwrap();
        let mask = detective_vision::encode::encode_gray_png(&bad.mask).unwrap();
        form = form
            .part(
                "file",
                reqwest::multipart::Part::bytes(png).file_name(format!("bad{i}.png")),
            )
            .part(
                "mask",
                reqwest::multipart::Part::bytes(mask).file_name(format!("bad{i}.png")),
            );
    }
    let (status, v) = post_form(s, key, "/api/images/upload", form).await;
    assert_eq!((status, v["stored"].as_u64()), (200, Some(16)), "{v}");
    let ids: Vec<i64> = v["files"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|f| f["id"].as_i64())
        .collect();
    (ids[..10].to_vec(), ids[10..].to_vec())
}

on_both!(
    an_anomaly_job_learns_good_parts_registers_and_scores_images_through_its_own_production,
    |kind: Kind| async move {
        let s = TestServer::start(kind).await;
        let op = s.key(Role::Operator).await;
        let viewer = s.key(Role::Viewer).await;
        let (good, bad) = upload_good_and_defective(&s, &op).await;
        let train: Vec<i64> = good[..8].iter().chain(&bad[..2]).copied().collect();
        let val: Vec<i64> = good[8..].iter().chain(&bad[2..]).copied().collect();
        let body = json!({"name": "line-1", "project": "line-1", "task": "segment",
                          "classes": ["scratch", "spot", "crack", "dent"],
                          "splits": {"train": train, "val": val}});
        let (status, ds) = post(&s, &op, "/api/datasets/create", body).await;
        assert_eq!(status, 200, "{ds}");
        let ds = ds["id"].as_i64().unwrap();

        // detector-only settings are refused for an anomaly job too
        let (status, v) = post(
            &s,
            &op,
            "/api/training/start",
            json!({"dataset_id": ds, "task": "anomaly", "mosaic": 0.5}),
        )
        .await;
        assert_eq!(status, 400, "{v}");
        let (status, job) = post(
            &s,
            &op,
            "/api/training/start",
            json!({"dataset_id": ds, "task": "anomaly", "epochs": 2, "imgsz": 64, "batch": 4}),
        )
        .await;
        assert_eq!(status, 201, "{job}");
        assert_eq!(
            (
                job["task"].as_str(),
                job["model_name"].as_str(),
                job["params"]["model"].as_str()
            ),
            (Some("anomaly"), Some("anomaly-model"), Some("unet-tiny")),
            "{job}"
        );
        let id = job["id"].as_i64().unwrap();
        work(&s, 1).await;
        let done = get(&s, &viewer, &format!("/api/training/{id}")).await;
        assert_eq!(done["status"], "succeeded", "{}", done["log"]);
        let m = &done["metrics"];
        assert!(m["auroc"].is_number() && m["pixel_auroc"].is_number(), "{m}");

        let (status, v1) = post(&s, &op, "/api/models/register", json!({"job_id": id})).await;
        assert_eq!(status, 201, "{v1}");
        assert_eq!(v1["task"], "anomaly", "{v1}");
        let (status, _) = set_stage(&s, &op, "anomaly-model", 1, "Production").await;
        assert_eq!(status, 200);
        // edge agents following the anomaly task find it
        let status = get(&s, &viewer, "/api/model-status").await;
        let found = status["models"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["task"] == "anomaly" && m["name"] == "anomaly-model" && m["stage"] == "Production");
        assert!(found, "{status}");

        // task=anomaly: the Production anomaly model scores the image
        let part = generate(
            &SynthConfig {
                width: 64,
                height: 64,
                defect_rate: 1.0,
                ..SynthConfig::default()
            },
            33,
            0,
        )
        .unwrap();
        let png = detective_vision::encode::encode_png(&part.image).unwrap();
        let r = client()
            .post(s.at("/api/inference/predict?task=anomaly"))
            .bearer_auth(&op)
            .body(png.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let p: Value = r.json().await.unwrap();
        assert_eq!(p["model"]["task"], "anomaly", "{p}");
        assert_eq!(p["model"]["name"], "anomaly-model", "{p}");
        let (score, threshold) = (p["score"].as_f64().unwrap(), p["threshold"].as_f64().unwrap());
        assert!((0.0..=1.0).contains(&score), "{p}");
        assert_eq!(p["anomalous"], score >= threshold, "{p}");
        assert!(p["detections"].is_array(), "{p}");
        // the heatmap over the image, on request
        let r = client()
            .post(s.at("/api/inference/predict?task=anomaly&annotated=true"))
            .bearer_auth(&op)
            .body(png)
            .send()
            .await
            .unwrap();
        assert_eq!(
            (r.status().as_u16(), r.headers()["content-type"].to_str().unwrap()),
            (200, "image/jpeg")
        );
        // a version that is not an anomaly model is not one
        let r = client()
            .post(s.at("/api/inference/predict?task=anomaly&model=nothing@1"))
            .bearer_auth(&op)
            .body(crate::common::part_png(64, 64, 1))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404);
    }
);
