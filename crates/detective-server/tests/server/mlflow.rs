//! MLflow mirroring against a real `mlflow server` (PyPI `mlflow`, SQLite
//! backend, artifacts in a temporary folder, on loopback): a training job
//! becomes an MLflow run with its parameters, every epoch's metrics and its
//! files; registering and promoting move MLflow registered-model versions and
//! aliases; with MLflow stopped a job still trains and the outbox keeps its
//! calls, which arrive once MLflow is back; an MLflow version imports into our
//! registry. Everything is read back through MLflow's own REST API.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::common::{Kind, TestServer, client};
use crate::training::{dataset, get, post, set_stage, small_job, work};
use detective_core::Role;
use detective_ops::mlflow::deliver::Delivery;
use detective_ops::mlflow::{Client, MlflowConfig};
use detective_store::testing_mlflow::MlflowServer;
use serde_json::{Value, json};

/// `GET /api/2.0/mlflow/{path}` on MLflow.
async fn mlflow_get(m: &MlflowServer, path: &str, query: &[(&str, &str)]) -> Value {
    let r = client()
        .get(format!("{}/api/2.0/mlflow/{path}", m.url()))
        .query(query)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{path}: {}", r.status());
    r.json().await.unwrap()
}

/// The MLflow version alias `production` of registered model `name` points at.
async fn production_of(m: &MlflowServer, name: &str) -> Value {
    mlflow_get(m, "registered-models/alias", &[("name", name), ("alias", "production")]).await
}

/// Waits until `f` holds (polling), at most `secs`.
async fn until<F: AsyncFn() -> bool>(what: &str, secs: u64, f: F) {
    let t0 = Instant::now();
    while !f().await {
        assert!(t0.elapsed() < Duration::from_secs(secs), "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

async fn outbox_pending(s: &TestServer) -> i64 {
    detective_store::mlflow_outbox::counts(&s.state.db, None)
        .await
        .unwrap()
        .pending
}

/// The run MLflow holds for job `id`: (info, params, tags).
async fn run_of(m: &MlflowServer, job: &Value) -> Value {
    let run_id = job["mlflow"]["run"]["run_id"]
        .as_str()
        .expect("the job's run")
        .to_string();
    mlflow_get(m, "runs/get", &[("run_id", &run_id)]).await["run"].clone()
}

fn kv(list: &Value, key: &str) -> Option<String> {
    list.as_array()?
        .iter()
        .find(|p| p["key"] == key)
        .and_then(|p| p["value"].as_str().map(str::to_string))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_and_the_registry_reach_a_real_mlflow_and_an_outage_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut m = MlflowServer::start(dir.path());
    let s = TestServer::start(Kind::SqliteFolder).await;
    let op = s.key(Role::Operator).await;
    let cfg = MlflowConfig {
        tracking_uri: m.url(),
        experiment: "line-1".into(),
        token: String::new(),
    };
    let mlflow = Client::new(&cfg).unwrap();
    detective_ops::mlflow::set_mirroring(&s.state.db, Some(&m.url()))
        .await
        .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let delivery = tokio::spawn(
        Delivery {
            db: s.state.db.clone(),
            objects: s.state.objects.clone(),
            client: mlflow.clone(),
            experiment: cfg.experiment.clone(),
            holder: "test".into(),
        }
        .run(stop.clone(), Duration::from_millis(200)),
    );

    // A job becomes a run: parameters, tags, each epoch's metrics, its files.
    let ds = dataset(&s, &op).await;
    let (status, job) = post(&s, &op, "/api/training/start", small_job(ds, 2)).await;
    assert_eq!(status, 201, "{job}");
    let id = job["id"].as_i64().unwrap();
    work(&s, 1).await;
    let path = format!("/api/training/{id}");
    until("the job's calls delivered", 120, async || {
        let j = get(&s, &op, &path).await;
        j["mlflow"]["pending"] == 0 && j["mlflow"]["run"].is_object()
    })
    .await;
    let done = get(&s, &op, &path).await;
    assert_eq!(done["status"], "succeeded");
    assert_eq!(done["mlflow"]["failed"], 0, "{}", done["mlflow"]);
    let run = run_of(&m, &done).await;
    assert_eq!(run["info"]["status"], "FINISHED");
    let params = &run["data"]["params"];
    for (k, v) in [
        ("epochs", "2"),
        ("imgsz", "64"),
        ("model", "t"),
        ("batch", "4"),
        ("task", "detect"),
    ] {
        assert_eq!(kv(params, k).as_deref(), Some(v), "param {k}: {params}");
    }
    assert_eq!(kv(params, "dataset"), Some(format!("{ds} v1")));
    let tags = &run["data"]["tags"];
    assert_eq!(kv(tags, "detective.job_id"), Some(id.to_string()));
    assert!(kv(tags, "detective.dataset_lineage").is_some_and(|l| l.contains(&format!("dataset {ds}"))));
    let run_id = run["info"]["run_id"].as_str().unwrap().to_string();
    // Every epoch of every series, at its step.
    let history = done["history"].as_array().unwrap();
    for key in ["train/box_loss", "map50", "map50_95", "precision", "recall"] {
        let h = mlflow_get(&m, "metrics/get-history", &[("run_id", &run_id), ("metric_key", key)]).await;
        let points = h["metrics"].as_array().unwrap_or_else(|| panic!("{key}: {h}"));
        assert_eq!(points.len(), history.len(), "{key}: {h}");
        let steps: std::collections::BTreeSet<i64> = points.iter().map(|p| p["step"].as_i64().unwrap_or(0)).collect();
        assert_eq!(steps.len(), history.len(), "one step per epoch: {h}");
    }
    let last = mlflow_get(
        &m,
        "metrics/get-history",
        &[("run_id", &run_id), ("metric_key", "map50")],
    )
    .await;
    let want = history.last().unwrap()["map50"].as_f64().unwrap();
    assert!(
        last["metrics"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| (p["value"].as_f64().unwrap() - want).abs() < 1e-9)
    );
    let listed = mlflow_get(&m, "artifacts/list", &[("run_id", &run_id)]).await;
    let names: Vec<&str> = listed["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"results.csv") && names.contains(&"weights"),
        "{names:?}"
    );
    let weights = mlflow_get(&m, "artifacts/list", &[("run_id", &run_id), ("path", "weights")]).await;
    assert!(weights.to_string().contains("weights/best.bpk"), "{weights}");

    // Registering and promoting: an MLflow version, and the production alias.
    let (status, v1) = post(&s, &op, "/api/models/register", json!({"job_id": id})).await;
    assert_eq!(status, 201, "{v1}");
    let (status, _) = set_stage(&s, &op, "detector", 1, "Production").await;
    assert_eq!(status, 200);
    until("the registry mirrored", 120, async || outbox_pending(&s).await == 0).await;
    let alias = production_of(&m, "detector").await;
    assert_eq!(alias["model_version"]["version"], "1");
    assert_eq!(
        alias["model_version"]["run_id"],
        run_id.as_str(),
        "the version points at the job's run"
    );
    let listed = get(&s, &op, "/api/models/detector/versions").await;
    assert_eq!(listed["items"][0]["mlflow"]["version"], "1", "{listed}");
    assert!(
        listed["items"][0]["mlflow"]["url"]
            .as_str()
            .unwrap()
            .starts_with(&m.url())
    );

    // MLflow goes away mid-way: the job still trains, its calls wait.
    m.stop();
    let (_, job2) = post(&s, &op, "/api/training/start", small_job(ds, 2)).await;
    let id2 = job2["id"].as_i64().unwrap();
    work(&s, 1).await;
    let j2 = get(&s, &op, &format!("/api/training/{id2}")).await;
    assert_eq!(
        j2["status"], "succeeded",
        "an unreachable MLflow never fails a job: {}",
        j2["log"]
    );
    assert!(j2["mlflow"]["pending"].as_i64().unwrap() >= 4, "{}", j2["mlflow"]);
    let (status, _) = post(&s, &op, "/api/models/register", json!({"job_id": id2})).await;
    assert_eq!(status, 201);
    let (status, _) = set_stage(&s, &op, "detector", 2, "Production").await;
    assert_eq!(status, 200);
    let waiting = outbox_pending(&s).await;
    assert!(waiting >= 6, "{waiting}");

    // Back: everything arrives, in order, once.
    m.resume();
    until("the outbox drained after the outage", 180, async || {
        outbox_pending(&s).await == 0
    })
    .await;
    let j2 = get(&s, &op, &format!("/api/training/{id2}")).await;
    assert_eq!(j2["mlflow"]["failed"], 0, "{}", j2["mlflow"]);
    let run2 = run_of(&m, &j2).await;
    assert_eq!(run2["info"]["status"], "FINISHED");
    assert_eq!(kv(&run2["data"]["tags"], "detective.job_id"), Some(id2.to_string()));
    let run2_id = run2["info"]["run_id"].as_str().unwrap().to_string();
    let h = mlflow_get(
        &m,
        "metrics/get-history",
        &[("run_id", &run2_id), ("metric_key", "map50")],
    )
    .await;
    assert_eq!(h["metrics"].as_array().unwrap().len(), 2, "{h}");
    let exp = mlflow_get(&m, "experiments/get-by-name", &[("experiment_name", "line-1")]).await;
    let exp_id = exp["experiment"]["experiment_id"].as_str().unwrap().to_string();
    let runs = client()
        .post(format!("{}/api/2.0/mlflow/runs/search", m.url()))
        .json(&json!({"experiment_ids": [exp_id]}))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(runs["runs"].as_array().unwrap().len(), 2, "one run per job, none twice");
    let alias = production_of(&m, "detector").await;
    assert_eq!(alias["model_version"]["version"], "2");

    // A rollback moves the alias back.
    let (status, _) = post(&s, &op, "/api/models/detector/rollback", json!({})).await;
    assert_eq!(status, 200);
    until("the rollback mirrored", 60, async || outbox_pending(&s).await == 0).await;
    let alias = production_of(&m, "detector").await;
    assert_eq!(alias["model_version"]["version"], "1");

    // An MLflow version (its ONNX) imports into our registry, with its origin.
    let req = detective_ops::mlflow::import::ImportRequest {
        mlflow_name: "detector".into(),
        mlflow_version: "@production".into(),
        name: Some("from-mlflow".into()),
    };
    let v =
        detective_ops::mlflow::import::import(&s.state.db, &s.state.objects, &mlflow, &s.state.settings.work_dir, &req)
            .await
            .unwrap();
    assert_eq!((v.name.as_str(), v.version), ("from-mlflow", 1));
    assert_eq!(v.params["mlflow"]["version"], "1");
    let r = client()
        .get(s.at("/api/models/from-mlflow/versions/1/files/model.bpk"))
        .bearer_auth(&op)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "our own weights came back whole");

    stop.store(true, Ordering::SeqCst);
    let _ = delivery.await;
}
