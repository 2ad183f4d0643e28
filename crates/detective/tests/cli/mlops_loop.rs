//! The MLOps loop end to end through the real binaries: `detective serve`
//! (with its in-process training worker and policy job) and `detective edge`
//! on a synthetic camera following the Production model. The bundled detector
//! is registered (from its native weights, measured on a dataset's validation
//! split) and promoted; the agent's uncertain frames are labelled through the
//! API; the synthetic lighting is shifted until drift is reported; the policy,
//! once allowed, triggers a retraining by itself: a new dataset version with
//! the 50 labels, a fine-tuning job, the new version registered and evaluated
//! on the same validation set as Production (Staging if better); promoting it
//! switches the agent. Figures are printed for the closing note.

use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::common::{detective, free_port, key_of};
use serde_json::{Value, json};

fn http() -> reqwest::Client {
    reqwest::Client::new()
}

async fn get(base: &str, key: &str, path: &str) -> Value {
    let r = http()
        .get(format!("{base}{path}"))
        .bearer_auth(key)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{path}: {}", r.status());
    r.json().await.unwrap()
}

async fn send(base: &str, key: &str, method: reqwest::Method, path: &str, body: Value) -> Value {
    let r = http()
        .request(method, format!("{base}{path}"))
        .bearer_auth(key)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = r.status();
    let v: Value = r.json().await.unwrap_or(Value::Null);
    assert!(status.is_success(), "{path}: {status} {v}");
    v
}

/// Polls `check` every 500 ms until it returns Some, for at most `secs`.
async fn wait<T, F, Fut>(what: &str, secs: u64, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            start.elapsed() < Duration::from_secs(secs),
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

fn serve(dir: &Path, port: u16) -> Child {
    detective(dir)
        .args([
            "--data-dir",
            "cloud",
            "serve",
            "--bind",
            &format!("127.0.0.1:{port}"),
            "--model",
            "production",
        ])
        .env("RUST_LOG", "info")
        .env("DETECTIVE_MLOPS__POLICY_INTERVAL_SECS", "1")
        .env("DETECTIVE_MLOPS__DRIFT__INTERVAL_SECS", "2")
        .env("DETECTIVE_MLOPS__DRIFT__WINDOW_SECS", "12")
        .env("DETECTIVE_MLOPS__DRIFT__MIN_ROWS", "20")
        .env("DETECTIVE_MLOPS__RETRAINING__AUTO_RETRAIN", "false")
        .env("DETECTIVE_MLOPS__RETRAINING__EPOCHS", "2")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join("serve.log")).unwrap())
        .spawn()
        .expect("spawn detective serve")
}

fn edge(dir: &Path, base: &str, key: &str, gain: f32) -> Child {
    detective(dir)
        .args([
            "--data-dir",
            "edge",
            "edge",
            "--source",
            &format!("synthetic://?fps=8&defect_rate=0.6&seed=9&gain={gain}"),
            "--cloud",
            base,
            "--key",
            key,
            "--camera-id",
            "line1-cam1",
            "--model",
            "production",
            "--model-poll-secs",
            "1",
        ])
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join(format!("edge-{gain}.log"))).unwrap())
        .spawn()
        .expect("spawn detective edge")
}

fn stop(child: &mut Child) {
    // SAFETY: signalling a child process we spawned.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let _ = child.wait();
}

/// Twelve synthetic 640×480 parts with their true labels (8 train, 4 val) as dataset `parts`.
async fn dataset(base: &str, key: &str) -> i64 {
    let cfg = detective_vision::synth::SynthConfig {
        defect_rate: 0.8,
        ..Default::default()
    };
    crate::common::labelled_parts_dataset(base, key, &cfg, 31, "line", "parts", true).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drift_and_labels_retrain_register_and_switch_the_agent_by_themselves() {
    let t0 = Instant::now();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let admin = key_of(dir, "cloud", "admin");
    let device = key_of(dir, "cloud", "device");
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut server = serve(dir, port);
    wait("the server", 60, || async {
        http().get(format!("{base}/api/health")).send().await.ok().map(|_| ())
    })
    .await;

    // Production v1: the bundled detector, measured on the dataset's val split.
    let ds = dataset(&base, &admin).await;
    let bundled = detective_ml::detect::bundled::resolve(Path::new("bundled")).unwrap();
    let form = reqwest::multipart::Form::new()
        .text("name", "line-model")
        .text("dataset_id", ds.to_string())
        .part(
            "file",
            reqwest::multipart::Part::bytes(std::fs::read(&bundled).unwrap()).file_name("model.bpk"),
        )
        .part(
            "file",
            reqwest::multipart::Part::bytes(std::fs::read(bundled.with_extension("json")).unwrap())
                .file_name("model.json"),
        );
    let r = http()
        .post(format!("{base}/api/models/register"))
        .bearer_auth(&admin)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let v1: Value = r.json().await.unwrap();
    assert!(v1["metrics"]["map50"].is_number(), "measured at registration: {v1}");
    assert_eq!(v1["params"]["imgsz"], 320);
    send(
        &base,
        &admin,
        reqwest::Method::POST,
        "/api/models/line-model/versions/1/stage",
        json!({"stage": "Production"}),
    )
    .await;

    // The agent runs Production under normal lighting; its uncertain frames queue up.
    let mut agent = edge(dir, &base, &device, 1.0);
    let pending = wait("50 uncertain frames queued", 400, || async {
        let q = get(&base, &admin, "/api/labeling-queue?limit=100").await;
        (q["pending"].as_i64().unwrap_or(0) >= 50).then_some(q)
    })
    .await;
    let logs = get(&base, &admin, "/api/inspection-logs?limit=1").await;
    assert_eq!(
        logs["items"][0]["model_version"], "line-model@1",
        "the agent runs Production"
    );

    // A human labels 50 of them (keeping the model's boxes, or marking the part defect-free).
    let items = pending["items"].as_array().unwrap();
    for it in items.iter().take(50) {
        let boxes: Vec<Value> = it["detections"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|d| d["confidence"].as_f64().unwrap() >= 0.5)
            .map(|d| json!({"class": d["class"], "bbox": d["bbox"]}))
            .collect();
        let body = if boxes.is_empty() {
            json!({"defect_free": true})
        } else {
            json!({"boxes": boxes})
        };
        let path = format!("/api/labeling-queue/{}/label", it["id"]);
        send(&base, &admin, reqwest::Method::POST, &path, body).await;
    }
    let c = get(&base, &admin, "/api/retraining/conditions").await;
    assert_eq!(c["new_labels"], 50, "{c}");
    assert_eq!(c["should_retrain"], true, "{c}");

    // The lighting shifts: brighter parts until the drift check sees it.
    stop(&mut agent);
    let mut agent = edge(dir, &base, &device, 1.7);
    let drift = wait("drift to be reported", 240, || async {
        let d = get(&base, &admin, "/api/metrics/drift").await;
        let r = &d["report"];
        (r["dataset_drift"] == true && r["features"]["brightness"]["drifted"] == true).then(|| d.clone())
    })
    .await;
    let report = &drift["report"];
    eprintln!(
        "drift: share {} min p {} reference {:?} ({} rows) current {} rows; brightness {} → {} (p {})",
        report["drift_share"],
        report["min_p_value"],
        report["reference"],
        report["n_reference"],
        report["n_current"],
        report["features"]["brightness"]["reference_mean"],
        report["features"]["brightness"]["current_mean"],
        report["features"]["brightness"]["p_value"]
    );
    for f in [
        "brightness",
        "contrast",
        "sharpness",
        "mean_r",
        "mean_g",
        "mean_b",
        "saturation",
        "mean_confidence",
    ] {
        let x = &report["features"][f];
        eprintln!(
            "  {f}: method {} statistic {} p {} W/std {} PSI {} drifted {}",
            x["method"], x["statistic"], x["p_value"], x["wasserstein_norm"], x["psi"], x["drifted"]
        );
    }
    // The Drift page's charts, drawn on the server: the share of every check, a
    // feature's histograms; a feature the report does not have is no chart.
    for (chart, want) in [
        ("share.svg", Some("<circle")),
        ("brightness.svg", Some("<rect")),
        ("nothing.svg", None),
    ] {
        let r = http()
            .get(format!("{base}/api/metrics/drift/charts/{chart}"))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap();
        match want {
            Some(needle) => {
                assert_eq!(r.status(), 200, "{chart}");
                assert!(r.text().await.unwrap().contains(needle), "{chart}");
            }
            None => assert_eq!(r.status(), 404, "{chart}"),
        }
    }
    let c = get(&base, &admin, "/api/retraining/conditions").await;
    assert_eq!(c["drift_detected"], true, "{c}");
    assert_eq!(c["reasons"].as_array().unwrap().len(), 2, "drift and labels: {c}");
    assert!(
        get(&base, &admin, "/api/retraining/events").await["items"]
            .as_array()
            .unwrap()
            .is_empty(),
        "auto_retrain is off"
    );

    // Allow automatic retraining: the policy job triggers by itself.
    let mut policy = get(&base, &admin, "/api/retraining/policy").await;
    policy["auto_retrain"] = json!(true);
    send(&base, &admin, reqwest::Method::PUT, "/api/retraining/policy", policy).await;
    // The event is written first and completed (dataset version, job) once the dataset
    // is built: wait for its job.
    let event = wait("the policy's retraining event and its job", 60, || async {
        let e = get(&base, &admin, "/api/retraining/events").await;
        e["items"]
            .as_array()
            .unwrap()
            .first()
            .filter(|ev| !ev["job_id"].is_null())
            .cloned()
    })
    .await;
    assert_eq!(event["kind"], "policy");
    assert_eq!(event["dataset_version"], 2, "previous version + the labels: {event}");
    let job_id = event["job_id"].as_i64().unwrap();
    let job_start = Instant::now();
    let done = wait("the retraining to complete", 900, || async {
        let e = get(&base, &admin, "/api/retraining/events").await;
        let first = e["items"][0].clone();
        (first["outcome"] != "pending").then_some(first)
    })
    .await;
    let job = get(&base, &admin, &format!("/api/training/{job_id}")).await;
    eprintln!(
        "retraining {}: outcome {} — {}; job {} {} after {} epochs, started {} finished {}; trigger to outcome {:.0} s",
        done["id"],
        done["outcome"],
        done["detail"],
        job_id,
        job["status"],
        job["history"].as_array().map_or(0, |h| h.len()),
        job["started_at"],
        job["finished_at"],
        job_start.elapsed().as_secs_f64()
    );
    eprintln!("job log:\n{}", job["log"].as_str().unwrap_or_default());
    assert_eq!(job["status"], "succeeded", "{}", job["log"]);
    assert_eq!(job["base_model"], "line-model@1", "fine-tuned from Production");
    let ds_now = get(&base, &admin, &format!("/api/datasets/{ds}")).await;
    assert_eq!(ds_now["versions"][1]["splits"]["train"], 8 + 50, "{ds_now}");
    assert_eq!(ds_now["versions"][1]["splits"]["val"], 4, "the same validation set");
    assert!(
        matches!(done["outcome"].as_str(), Some("staged" | "not_better")),
        "{done}"
    );
    let v2 = get(&base, &admin, "/api/models/line-model/versions").await["items"][0].clone();
    assert_eq!(v2["version"], 2);
    assert_eq!(done["model_version"], "line-model@2");
    assert!(v2["metrics"]["map50"].is_number());
    let expected_stage = if done["outcome"] == "staged" { "Staging" } else { "None" };
    assert_eq!(v2["stage"], expected_stage, "Staging only when better");
    let cmp = get(&base, &admin, "/api/models/compare?a=line-model@1&b=line-model@2").await;
    eprintln!(
        "compare v1 vs v2 (same validation set: {}): {}",
        cmp["same_validation_set"], cmp["overall"]
    );

    // A human promotes it; the agent switches without restart.
    send(
        &base,
        &admin,
        reqwest::Method::POST,
        "/api/models/line-model/versions/2/stage",
        json!({"stage": "Production"}),
    )
    .await;
    wait("the agent to run line-model@2", 120, || async {
        let logs = get(&base, &admin, "/api/inspection-logs?limit=1").await;
        (logs["items"][0]["model_version"] == "line-model@2").then_some(())
    })
    .await;
    eprintln!("whole loop in {:.0} s", t0.elapsed().as_secs_f64());
    stop(&mut agent);
    stop(&mut server);
}
