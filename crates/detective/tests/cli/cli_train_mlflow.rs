//! `detective train` mirrored to a real `mlflow server` (PyPI `mlflow`, from
//! `scripts/setup-test-deps.sh`) when `MLFLOW_TRACKING_URI` is set: the run's
//! parameters, every epoch's metrics and its files, read back through MLflow's
//! REST API; with MLflow away the training still succeeds and the outbox keeps
//! the run until `detective mlflow flush` delivers it.

use detective_store::testing_mlflow::MlflowServer;
use serde_json::Value;

use crate::cli_train::{synth, train_args};
use crate::common::{detective, run, stderr};

/// Three epochs of the small detector, exported, in the data dir `dd`, tracked at `uri`.
fn train(dir: &std::path::Path, uri: &str, out: &str) -> std::process::Output {
    run(detective(dir)
        .env("MLFLOW_TRACKING_URI", uri)
        .env("MLFLOW_EXPERIMENT_NAME", "cli-runs")
        .args(["--data-dir", "dd"])
        .args(train_args(out))
        .arg("--export"))
}

async fn mlflow(m: &MlflowServer, method: &str, path: &str, body: Value) -> Value {
    let c = reqwest::Client::new();
    let url = format!("{}/api/2.0/mlflow/{path}", m.url());
    let r = match method {
        "GET" => c
            .get(url)
            .query(
                &body
                    .as_object()
                    .unwrap()
                    .iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                    .collect::<Vec<_>>(),
            )
            .send(),
        _ => c.post(url).json(&body).send(),
    }
    .await
    .unwrap();
    assert!(r.status().is_success(), "{path}: {}", r.status());
    r.json().await.unwrap()
}

async fn runs(m: &MlflowServer) -> Vec<Value> {
    let e = mlflow(
        m,
        "GET",
        "experiments/get-by-name",
        serde_json::json!({"experiment_name": "cli-runs"}),
    )
    .await;
    let id = e["experiment"]["experiment_id"].as_str().unwrap().to_string();
    let r = mlflow(m, "POST", "runs/search", serde_json::json!({"experiment_ids": [id]})).await;
    r["runs"].as_array().cloned().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_training_is_an_mlflow_run_and_waits_out_an_mlflow_outage() {
    let d = tempfile::tempdir().unwrap();
    std::fs::create_dir(d.path().join("mlflow")).unwrap();
    let m = MlflowServer::start(&d.path().join("mlflow"));
    synth(d.path());

    let o = train(d.path(), &m.url(), "run1");
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains(&format!("MLflow: run {}/#/experiments/", m.url())),
        "{}",
        stderr(&o)
    );
    let all = runs(&m).await;
    assert_eq!(all.len(), 1);
    let r = &all[0];
    assert_eq!(r["info"]["status"], "FINISHED");
    let param = |k: &str| {
        r["data"]["params"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["key"] == k)
            .map(|p| p["value"].clone())
    };
    assert_eq!(param("epochs"), Some("3".into()));
    assert_eq!(param("imgsz"), Some("64".into()));
    let tag = |k: &str| {
        r["data"]["tags"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["key"] == k)
            .map(|p| p["value"].clone())
    };
    assert_eq!(tag("detective.task"), Some("detect".into()));
    assert!(tag("detective.cli_run").is_some());
    let run_id = r["info"]["run_id"].as_str().unwrap();
    let history = mlflow(
        &m,
        "GET",
        "metrics/get-history",
        serde_json::json!({"run_id": run_id, "metric_key": "map50"}),
    )
    .await;
    let steps: Vec<i64> = history["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["step"].as_i64().unwrap())
        .collect();
    assert_eq!(steps, vec![1, 2, 3], "{history}");
    let files = mlflow(&m, "GET", "artifacts/list", serde_json::json!({"run_id": run_id})).await;
    let top: Vec<&str> = files["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    assert!(top.contains(&"results.csv") && top.contains(&"weights"), "{files}");
    let weights = mlflow(
        &m,
        "GET",
        "artifacts/list",
        serde_json::json!({"run_id": run_id, "path": "weights"}),
    )
    .await;
    let w: Vec<&str> = weights["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    assert!(
        w.contains(&"weights/best.bpk") && w.contains(&"weights/best.onnx"),
        "{weights}"
    );

    // MLflow away: the training still succeeds; the run waits in the outbox.
    let closed = format!(
        "http://127.0.0.1:{}",
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    );
    let o = train(d.path(), &closed, "run2");
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("still wait in the outbox"), "{}", stderr(&o));
    assert_eq!(runs(&m).await.len(), 1);
    let o = run(detective(d.path())
        .env("MLFLOW_TRACKING_URI", m.url())
        .env("MLFLOW_EXPERIMENT_NAME", "cli-runs")
        .args(["--data-dir", "dd", "mlflow", "flush"]));
    assert!(o.status.success(), "{}", stderr(&o));
    let all = runs(&m).await;
    assert_eq!(all.len(), 2);
    assert!(all.iter().all(|r| r["info"]["status"] == "FINISHED"), "{all:?}");
}
