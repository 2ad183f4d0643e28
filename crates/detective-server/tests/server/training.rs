//! Training jobs and the registry through the HTTP API, with a real training
//! worker (the one `serve` runs in-process) on SQLite + folder and on
//! PostgreSQL + S3: queue a job, watch it over SSE, register the result, stage,
//! fine-tune from Production, compare on the same validation set, roll back,
//! and stop jobs.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use crate::common::{Kind, TestServer, client};
use detective_core::Role;
use detective_ops::runner::RunnerEnv;
use detective_ops::worker::WorkerOptions;
use serde_json::{Value, json};

/// Uploads `n` synthetic 64×64 parts with their true YOLO labels; returns their ids.
async fn upload_parts(s: &TestServer, key: &str, n: u64) -> (Vec<i64>, Vec<String>) {
    let (form, classes) = crate::common::labelled_parts_form("steel", n, 64, 11, 0.9);
    let form = form.text("tags", "train-test");
    let (_, v) = post_form(s, key, "/api/images/upload", form).await;
    let ids = v["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_i64().unwrap())
        .collect();
    (ids, classes)
}

/// A dataset of 12 parts: 8 train, 4 val.
pub(crate) async fn dataset(s: &TestServer, key: &str) -> i64 {
    let (ids, classes) = upload_parts(s, key, 12).await;
    let body = json!({"name": "parts", "project": "steel", "classes": classes,
                      "splits": {"train": ids[..8], "val": ids[8..]}});
    let r = client()
        .post(s.at("/api/datasets/create"))
        .bearer_auth(key)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.json::<Value>().await.unwrap()["id"].as_i64().unwrap()
}

/// Runs a training worker on the server's storage until it has done `jobs` jobs.
pub(crate) async fn work(s: &TestServer, jobs: usize) {
    let env = RunnerEnv {
        db: s.state.db.clone(),
        objects: s.state.objects.clone(),
        work_dir: s.state.settings.work_dir.clone(),
        worker_id: detective_ops::worker::worker_id("test@"),
        heartbeat: Duration::from_millis(300),
        low_priority: true,
        threads: 2,
        device: detective_ml::runtime::device::ComputeDevice::Cpu,
    };
    let opts = WorkerOptions {
        poll: Duration::from_millis(100),
        stale_after: Duration::from_secs(30),
        max_jobs: Some(jobs),
    };
    detective_ops::worker::run(env, opts, Arc::new(AtomicBool::new(false))).await;
}

/// `POST /api/models/{name}/versions/{version}/stage` with `stage`.
pub(crate) async fn set_stage(s: &TestServer, key: &str, name: &str, version: i64, stage: &str) -> (u16, Value) {
    post(
        s,
        key,
        &format!("/api/models/{name}/versions/{version}/stage"),
        json!({ "stage": stage }),
    )
    .await
}

pub(crate) async fn post(s: &TestServer, key: &str, path: &str, body: Value) -> (u16, Value) {
    let r = client()
        .post(s.at(path))
        .bearer_auth(key)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// `POST path` with a multipart `form`: the status and the JSON answer.
pub(crate) async fn post_form(s: &TestServer, key: &str, path: &str, form: reqwest::multipart::Form) -> (u16, Value) {
    let r = client()
        .post(s.at(path))
        .bearer_auth(key)
        .multipart(form)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// `PUT path` with a JSON `body`: the status and the JSON answer.
pub(crate) async fn put(s: &TestServer, key: &str, path: &str, body: Value) -> (u16, Value) {
    let r = client()
        .put(s.at(path))
        .bearer_auth(key)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

pub(crate) async fn get(s: &TestServer, key: &str, path: &str) -> Value {
    let r = client().get(s.at(path)).bearer_auth(key).send().await.unwrap();
    assert_eq!(r.status(), 200, "{path}");
    r.json().await.unwrap()
}

pub(crate) fn small_job(dataset: i64, epochs: usize) -> Value {
    json!({"dataset_id": dataset, "model": "t", "epochs": epochs, "imgsz": 64, "batch": 4, "close_mosaic": 1})
}

on_both!(
    a_queued_job_trains_in_the_worker_registers_stages_fine_tunes_compares_and_rolls_back,
    |kind: Kind| async move {
        let s = TestServer::start(kind).await;
        let op = s.key(Role::Operator).await;
        let viewer = s.key(Role::Viewer).await;
        let ds = dataset(&s, &op).await;

        // Bad requests change nothing.
        for (body, want) in [
            (json!({"dataset_id": ds, "epochs": 0}), 400),
            (json!({"dataset_id": ds, "imgsz": 100}), 400),
            (json!({"dataset_id": ds, "epochz": 3}), 400),
            (json!({"dataset_id": 999}), 404),
            (json!({"dataset_id": ds, "dataset_version": 7}), 400),
            (json!({"dataset_id": ds, "base_model": "nothing@1"}), 400),
        ] {
            let (status, v) = post(&s, &op, "/api/training/start", body.clone()).await;
            assert_eq!(status, want, "{body}: {v}");
        }
        let (status, _) = post(&s, &viewer, "/api/training/start", small_job(ds, 2)).await;
        assert_eq!(status, 403, "viewers do not train");
        assert!(
            get(&s, &op, "/api/training").await["items"]
                .as_array()
                .unwrap()
                .is_empty()
        );

        let (status, job) = post(&s, &op, "/api/training/start", small_job(ds, 2)).await;
        assert_eq!(status, 201, "{job}");
        assert_eq!(
            (job["status"].as_str(), job["dataset_version"].as_i64()),
            (Some("queued"), Some(1))
        );
        let id = job["id"].as_i64().unwrap();

        // Watch it over SSE while a worker runs it.
        let events = {
            let url = s.at(&format!("/api/training/{id}/events"));
            let key = viewer.clone();
            tokio::spawn(async move {
                let r = client().get(url).bearer_auth(key).send().await.unwrap();
                assert_eq!(r.headers()["content-type"], "text/event-stream");
                tokio::time::timeout(Duration::from_secs(600), r.text())
                    .await
                    .expect("the stream ends with the job")
                    .unwrap()
            })
        };
        work(&s, 1).await;
        let done = get(&s, &viewer, &format!("/api/training/{id}")).await;
        assert_eq!(done["status"], "succeeded", "{}", done["log"]);
        let history = done["history"].as_array().unwrap();
        assert_eq!(history.len(), 2, "one row per epoch");
        assert!(history[1]["train"]["box_loss"].as_f64().unwrap() > 0.0);
        assert!(done["metrics"]["map50"].is_number() && done["metrics"]["per_class"].is_array());
        assert_eq!(done["fraction"], 1.0);
        let log = done["log"].as_str().unwrap();
        assert!(
            log.contains("epoch 2/2") && log.contains("succeeded after 2 epochs"),
            "{log}"
        );
        let sse = events.await.unwrap();
        assert_eq!(sse.matches("event: epoch").count(), 2, "{sse}");
        assert!(sse.contains("event: log") && sse.contains("event: job"), "{sse}");
        assert!(sse.trim_end().ends_with("data: succeeded"), "{sse}");

        // Its curves as SVG drawn on the server: one marker per epoch and series.
        for (chart, markers) in [("loss.svg", 6), ("map.svg", 4)] {
            let r = client()
                .get(s.at(&format!("/api/training/{id}/charts/{chart}")))
                .bearer_auth(&viewer)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200, "{chart}");
            assert_eq!(r.headers()["content-type"], "image/svg+xml", "{chart}");
            let svg = r.text().await.unwrap();
            assert_eq!(svg.matches("<circle").count(), markers, "{chart}: {svg}");
        }
        for path in [
            format!("/api/training/{id}/charts/pie.svg"),
            "/api/training/999/charts/loss.svg".to_string(),
        ] {
            let r = client().get(s.at(&path)).bearer_auth(&viewer).send().await.unwrap();
            assert_eq!(r.status(), 404, "{path}");
        }

        // Register the job: version 1, with its metrics and files.
        let (status, v1) = post(&s, &op, "/api/models/register", json!({"job_id": id})).await;
        assert_eq!(status, 201, "{v1}");
        assert_eq!(
            (v1["name"].as_str(), v1["version"].as_i64(), v1["stage"].as_str()),
            (Some("detector"), Some(1), Some("None"))
        );
        assert_eq!(v1["metrics"]["map50"], done["metrics"]["map50"]);
        assert_eq!(v1["params"]["job_id"], id);
        for f in ["model.onnx", "model.bpk", "model.json", "metrics.json"] {
            let r = client()
                .get(s.at(&format!("/api/models/detector/versions/1/files/{f}")))
                .bearer_auth(&op)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200, "{f}");
        }
        let (status, _) = post(&s, &op, "/api/models/register", json!({"job_id": 999})).await;
        assert_eq!(status, 404);
        let (status, _) = set_stage(&s, &op, "detector", 1, "Gold").await;
        assert_eq!(status, 400);
        let (status, v) = set_stage(&s, &op, "detector", 1, "production").await;
        assert_eq!((status, v["stage"].as_str()), (200, Some("Production")));

        // Fine-tune from Production: the result is the next version of the same model.
        let mut tune = small_job(ds, 1);
        tune["base_model"] = json!("production");
        let (status, job2) = post(&s, &op, "/api/training/start", tune).await;
        assert_eq!(status, 201, "{job2}");
        assert_eq!(job2["base_model"], "detector@1");
        work(&s, 1).await;
        let id2 = job2["id"].as_i64().unwrap();
        let done2 = get(&s, &op, &format!("/api/training/{id2}")).await;
        assert_eq!(done2["status"], "succeeded", "{}", done2["log"]);
        assert!(done2["log"].as_str().unwrap().contains("fine-tuning from detector@1"));
        let (status, v2) = post(&s, &op, "/api/models/register", json!({"job_id": id2})).await;
        assert_eq!((status, v2["version"].as_i64()), (201, Some(2)), "{v2}");
        set_stage(&s, &op, "detector", 2, "Staging").await;
        let (_, v) = set_stage(&s, &op, "detector", 2, "Production").await;
        assert_eq!(v["stage"], "Production");
        let status = get(&s, &op, "/api/model-status").await;
        assert!(status.to_string().contains("\"version\":2"), "{status}");
        let sum = status["models"][0]["checksums"]["model.onnx"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        assert_eq!(sum.len(), 64, "agents get the SHA-256 of each file: {status}");
        let versions = get(&s, &op, "/api/models/detector/versions").await;
        assert_eq!(versions["items"][1]["stage"], "Archived", "one Production per model");

        // Compare on the same validation set, class by class.
        let cmp = get(&s, &viewer, "/api/models/compare?a=detector@1&b=detector@2").await;
        assert_eq!(cmp["same_validation_set"], true, "{cmp}");
        assert_eq!(
            cmp["evaluated_now"], false,
            "both were measured on dataset version 1 already"
        );
        assert_eq!(cmp["overall"]["map50"]["a"], v1["metrics"]["map50"]);
        assert!(!cmp["per_class"].as_array().unwrap().is_empty());
        let fresh = get(
            &s,
            &viewer,
            &format!("/api/models/compare?a=detector@1&b=detector@2&dataset={ds}"),
        )
        .await;
        assert_eq!(fresh["evaluated_now"], true);
        let close = |x: &Value, y: &Value| (x.as_f64().unwrap() - y.as_f64().unwrap()).abs() < 0.02;
        assert!(
            close(&fresh["overall"]["map50"]["b"], &cmp["overall"]["map50"]["b"]),
            "evaluating again (ONNX Runtime) gives the trainer's figures: {} vs {}",
            fresh["overall"]["map50"]["b"],
            cmp["overall"]["map50"]["b"]
        );

        // Roll back: version 1 returns, version 2 is archived.
        let (status, rb) = post(&s, &op, "/api/models/detector/rollback", json!({})).await;
        assert_eq!(status, 200, "{rb}");
        assert_eq!(
            (rb["restored"]["version"].as_i64(), rb["archived"]["stage"].as_str()),
            (Some(1), Some("Archived"))
        );

        // A queued job stops at once; a finished one cannot be stopped.
        let (_, job3) = post(&s, &op, "/api/training/start", small_job(ds, 1)).await;
        let id3 = job3["id"].as_i64().unwrap();
        let (status, j) = post(&s, &op, &format!("/api/training/{id3}/stop"), json!({})).await;
        assert_eq!((status, j["status"].as_str()), (200, Some("stopped")));
        let (status, _) = post(&s, &op, &format!("/api/training/{id}/stop"), json!({})).await;
        assert_eq!(status, 409);
        let (status, _) = post(&s, &op, "/api/models/register", json!({"job_id": id3})).await;
        assert_eq!(status, 400, "a job that never ran left nothing to register");
        let list = get(&s, &op, "/api/training?limit=2").await;
        assert_eq!(list["items"][0]["id"], id3, "newest first");
        assert!(list["next"].is_number());
    }
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_job_stops_gracefully_and_keeps_its_last_checkpoint() {
    let s = TestServer::start(Kind::SqliteFolder).await;
    let op = s.key(Role::Operator).await;
    let ds = dataset(&s, &op).await;
    let (_, job) = post(&s, &op, "/api/training/start", small_job(ds, 200)).await;
    let id = job["id"].as_i64().unwrap();
    let worker = {
        let s_db = s.state.db.clone();
        let s_objects = s.state.objects.clone();
        let work_dir = s.state.settings.work_dir.clone();
        tokio::spawn(async move {
            let env = RunnerEnv {
                db: s_db,
                objects: s_objects,
                work_dir,
                worker_id: "stopper".into(),
                heartbeat: Duration::from_millis(200),
                low_priority: false,
                threads: 2,
                device: detective_ml::runtime::device::ComputeDevice::Cpu,
            };
            let opts = WorkerOptions {
                poll: Duration::from_millis(100),
                max_jobs: Some(1),
                ..WorkerOptions::default()
            };
            detective_ops::worker::run(env, opts, Arc::new(AtomicBool::new(false))).await;
        })
    };
    // Wait for the first finished epoch, then ask it to stop.
    let mut tries = 0;
    loop {
        let j = get(&s, &op, &format!("/api/training/{id}")).await;
        if j["epoch"].as_i64().unwrap_or(0) >= 1 {
            assert_eq!(j["status"], "running");
            assert!(j["eta_s"].is_number(), "a running job has an ETA: {j}");
            break;
        }
        tries += 1;
        assert!(tries < 3000, "no epoch finished: {j}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (status, _) = post(&s, &op, &format!("/api/training/{id}/stop"), json!({})).await;
    assert_eq!(status, 200);
    tokio::time::timeout(Duration::from_secs(300), worker)
        .await
        .expect("the job stops")
        .unwrap();
    let j = get(&s, &op, &format!("/api/training/{id}")).await;
    assert_eq!(j["status"], "stopped", "{}", j["log"]);
    assert!(j["epoch"].as_i64().unwrap() < 200);
    assert!(j["log"].as_str().unwrap().contains("stop requested"));
    let key = format!("{}/weights/last.bpk", j["artifact_key"].as_str().unwrap());
    assert!(
        s.state.objects.exists(&key).await.unwrap(),
        "the last checkpoint is kept"
    );
    let (status, v) = post(
        &s,
        &op,
        "/api/models/register",
        json!({"job_id": id, "name": "stopped-run"}),
    )
    .await;
    assert_eq!(status, 201, "a stopped job's best weights can still be registered: {v}");
}

/// `../shared/models/NAME` (Ultralytics' fixtures).
fn ultralytics_fixture(name: &str) -> Vec<u8> {
    std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared/models")
            .join(name),
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ultralytics_pt_or_onnx_registers_and_a_job_fine_tunes_from_it() {
    let s = TestServer::start(Kind::SqliteFolder).await;
    let op = s.key(Role::Operator).await;
    // A .pt is imported (read, never executed) into our checkpoint and exported.
    let form = reqwest::multipart::Form::new().text("name", "ultra-pt").part(
        "file",
        reqwest::multipart::Part::bytes(ultralytics_fixture("ultralytics-yolov8n-neu-e1.pt")).file_name("best.pt"),
    );
    let (status, v) = post_form(&s, &op, "/api/models/register", form).await;
    assert_eq!(status, 201, "{v}");
    assert_eq!(v["params"]["format"], "native", "{v}");
    assert_eq!(v["params"]["model"], "n", "{v}");
    assert!(
        v["params"]["imported_from"]
            .as_str()
            .unwrap_or("")
            .contains("Ultralytics"),
        "{v}"
    );
    let files = get(&s, &op, "/api/models/ultra-pt/versions").await;
    assert!(files.to_string().contains("model.onnx"), "{files}");
    // An Ultralytics ONNX export keeps its format and learns its scale.
    let form = reqwest::multipart::Form::new().text("name", "ultra-onnx").part(
        "file",
        reqwest::multipart::Part::bytes(ultralytics_fixture("ultralytics-yolov8n-neu-e1.onnx")).file_name("best.onnx"),
    );
    let (status, v) = post_form(&s, &op, "/api/models/register", form).await;
    assert_eq!(status, 201, "{v}");
    assert_eq!(v["params"]["format"], "onnx", "{v}");
    assert_eq!(v["params"]["model"], "n", "{v}");
    // Its class names are recorded, and rules for the version must name them.
    let names: Vec<String> = serde_json::from_value(v["params"]["names"].clone()).unwrap();
    assert_eq!(names.len(), 6, "{v}");
    assert!(names.contains(&"scratches".to_string()), "{names:?}");
    let rules = |class: &str| {
        client()
            .put(s.at("/api/rules"))
            .bearer_auth(&op)
            .json(&json!({"model": "ultra-onnx@1", "rules": {"classes": {class: {"conf": 0.5}}}}))
            .send()
    };
    let r = rules("dent").await.unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("ultra-onnx@1 has no class dent"));
    assert_eq!(rules("scratches").await.unwrap().status(), 200);

    // Jobs fine-tune from either, at its scale (no `model` given).
    let ds = dataset(&s, &op).await;
    let mut ids = Vec::new();
    for base in ["ultra-pt@1", "ultra-onnx@1"] {
        let body =
            json!({"dataset_id": ds, "epochs": 1, "imgsz": 64, "batch": 4, "close_mosaic": 1, "base_model": base});
        let (status, job) = post(&s, &op, "/api/training/start", body).await;
        assert_eq!(status, 201, "{job}");
        ids.push(job["id"].as_i64().unwrap());
    }
    work(&s, 2).await;
    for id in ids {
        let j = get(&s, &op, &format!("/api/training/{id}")).await;
        assert_eq!(j["status"], "succeeded", "{}", j["log"]);
        assert!(
            j["log"].as_str().unwrap().contains("fine-tuning from ultra-"),
            "{}",
            j["log"]
        );
        assert_eq!(j["params"]["model"], "n", "{j}");
    }
}

/// Registers the bundled detector's ONNX as the next version of `name` through the upload route.
async fn register_bundled(s: &TestServer, key: &str, name: &str) -> i64 {
    let bundled = detective_ml::detect::bundled::resolve(std::path::Path::new("bundled")).unwrap();
    let onnx = std::fs::read(bundled.with_extension("onnx")).unwrap();
    let form = reqwest::multipart::Form::new()
        .text("name", name.to_string())
        .part("file", reqwest::multipart::Part::bytes(onnx).file_name("best.onnx"));
    let (status, v) = post_form(s, key, "/api/models/register", form).await;
    assert_eq!(status, 201);
    v["version"].as_i64().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn promoting_while_predictions_stream_swaps_the_served_model_and_none_fail() {
    let s = TestServer::start(Kind::SqliteFolder).await;
    let op = s.key(Role::Operator).await;
    let device = s.key(Role::Device).await;
    // Uploads are checked: a file that is not ONNX, a missing name, a bare .bpk.
    for (form, what) in [
        (
            reqwest::multipart::Form::new().text("name", "x").part(
                "file",
                reqwest::multipart::Part::bytes(b"junk".to_vec()).file_name("m.onnx"),
            ),
            "not ONNX",
        ),
        (
            reqwest::multipart::Form::new().part(
                "file",
                reqwest::multipart::Part::bytes(b"junk".to_vec()).file_name("m.onnx"),
            ),
            "no name",
        ),
        (
            reqwest::multipart::Form::new().text("name", "x").part(
                "file",
                reqwest::multipart::Part::bytes(b"junk".to_vec()).file_name("m.bpk"),
            ),
            "no json",
        ),
        (
            reqwest::multipart::Form::new().text("name", "x").part(
                "file",
                reqwest::multipart::Part::bytes(b"junk".to_vec()).file_name("m.pt"),
            ),
            ".pt",
        ),
    ] {
        let (status, _) = post_form(&s, &op, "/api/models/register", form).await;
        assert_eq!(status, 400, "{what}");
    }
    assert!(
        get(&s, &op, "/api/models").await["items"]
            .as_array()
            .unwrap()
            .is_empty(),
        "a refused upload registers nothing"
    );

    assert_eq!(register_bundled(&s, &op, "line").await, 1);
    assert_eq!(register_bundled(&s, &op, "line").await, 2);
    tokio::spawn(detective_server::follow_production(
        s.state.clone(),
        Duration::from_secs(60),
    ));
    let (status, _) = set_stage(&s, &op, "line", 1, "Production").await;
    assert_eq!(status, 200);

    let predict = {
        let url = s.at("/api/inference/predict");
        let png = crate::common::part_png(320, 320, 3);
        move || {
            let (url, png, key) = (url.clone(), png.clone(), device.clone());
            async move {
                let r = client().post(url).bearer_auth(key).body(png).send().await.unwrap();
                assert_eq!(r.status(), 200, "no prediction fails during a swap");
                let v: Value = r.json().await.unwrap();
                format!("{}@{}", v["model"]["name"].as_str().unwrap(), v["model"]["version"])
            }
        }
    };
    // The follower picks up the first promotion.
    let mut seen = String::new();
    for _ in 0..200 {
        seen = predict().await;
        if seen == "line@1" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(seen, "line@1");
    // A stream of predictions while version 2 is promoted.
    let stream = {
        let predict = predict.clone();
        tokio::spawn(async move {
            let mut got = Vec::new();
            for _ in 0..400 {
                let m = predict().await;
                let done = m == "line@2";
                got.push(m);
                if done && got.iter().rev().take(5).count() == 5 && got.iter().rev().take(5).all(|x| x == "line@2") {
                    break;
                }
            }
            got
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (status, _) = set_stage(&s, &op, "line", 2, "Production").await;
    assert_eq!(status, 200);
    let got = stream.await.unwrap();
    let first_new = got
        .iter()
        .position(|m| m == "line@2")
        .expect("the new version is served");
    assert!(got[..first_new].iter().all(|m| m == "line@1"), "{got:?}");
    assert!(
        got[first_new..].iter().all(|m| m == "line@2"),
        "once swapped, always the new one: {got:?}"
    );
    // A rollback swaps back.
    post(&s, &op, "/api/models/line/rollback", json!({})).await;
    let mut back = String::new();
    for _ in 0..200 {
        back = predict().await;
        if back == "line@1" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(back, "line@1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registered_segmenter_has_its_own_production_which_serve_follows() {
    let s = TestServer::start(Kind::SqliteFolder).await;
    let op = s.key(Role::Operator).await;
    let device = s.key(Role::Device).await;
    tokio::spawn(detective_server::follow_segment_production(
        s.state.clone(),
        Duration::from_secs(60),
    ));
    assert_eq!(register_bundled(&s, &op, "line").await, 1);
    let (status, _) = set_stage(&s, &op, "line", 1, "Production").await;
    assert_eq!(status, 200);
    // our UNetTiny checkpoint (.bpk + .json) registers as a segmenter
    let dir = tempfile::tempdir().unwrap();
    let bpk = crate::api::fresh_segmenter(dir.path());
    let upload = |name: &str| {
        reqwest::multipart::Form::new()
            .text("name", name.to_string())
            .part(
                "file",
                reqwest::multipart::Part::bytes(std::fs::read(&bpk).unwrap()).file_name("unet.bpk"),
            )
            .part(
                "file",
                reqwest::multipart::Part::bytes(std::fs::read(bpk.with_extension("json")).unwrap())
                    .file_name("unet.json"),
            )
    };
    let (status, v) = post_form(&s, &op, "/api/models/register", upload("seg")).await;
    assert_eq!(status, 201);
    assert_eq!(
        (v["task"].as_str(), v["version"].as_i64()),
        (Some("segment"), Some(1)),
        "{v}"
    );

    let segment = || {
        let url = s.at("/api/inference/predict?task=segment");
        let (png, key) = (crate::common::part_png(96, 64, 0), device.clone());
        async move { client().post(url).bearer_auth(key).body(png).send().await.unwrap() }
    };
    assert_eq!(segment().await.status(), 404, "no segmenter until one is Production");
    let (status, _) = set_stage(&s, &op, "seg", 1, "Production").await;
    assert_eq!(status, 200);
    let mut got = None;
    for _ in 0..200 {
        let r = segment().await;
        if r.status() == 200 {
            got = Some(r.json::<Value>().await.unwrap());
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let got = got.expect("the follower serves the Production segmenter");
    assert_eq!(
        (got["model"]["name"].as_str(), got["model"]["task"].as_str()),
        (Some("seg"), Some("segment"))
    );
    // each task keeps its own Production: the detector is still served and listed
    let status = get(&s, &device, "/api/model-status").await;
    let by_task = |t: &str| {
        status["models"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["task"] == t)
            .cloned()
            .unwrap_or_else(|| panic!("no {t} model in {status}"))
    };
    assert_eq!(
        (by_task("detect")["name"].as_str(), by_task("detect")["stage"].as_str()),
        (Some("line"), Some("Production"))
    );
    assert_eq!(
        (
            by_task("segment")["name"].as_str(),
            by_task("segment")["version"].as_i64()
        ),
        (Some("seg"), Some(1))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_fine_tunes_from_the_bundled_detector_when_asked() {
    let s = TestServer::start(Kind::SqliteFolder).await;
    let op = s.key(Role::Operator).await;
    let ds = dataset(&s, &op).await;
    let body =
        json!({"dataset_id": ds, "epochs": 1, "imgsz": 64, "batch": 4, "close_mosaic": 1, "base_model": "bundled"});
    let (status, job) = post(&s, &op, "/api/training/start", body).await;
    assert_eq!(status, 201, "{job}");
    assert_eq!(
        (job["base_model"].as_str(), job["params"]["model"].as_str()),
        (Some("bundled"), Some("t")),
        "{job}"
    );
    work(&s, 1).await;
    let done = get(&s, &op, &format!("/api/training/{}", job["id"])).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    let log = done["log"].as_str().unwrap();
    assert!(log.contains("fine-tuning from bundled"), "{log}");
}
