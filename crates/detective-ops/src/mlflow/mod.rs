//! MLflow, when configured (`[mlflow] tracking_uri`): every training job is
//! mirrored as an MLflow run (parameters, tags, each epoch's metrics as it
//! ends, the run's files as artifacts), and the registry as MLflow registered
//! models (each version, with the aliases `production` and `staging`).
//!
//! Nothing here calls MLflow on a job's path: the job only adds calls to the
//! persisted, bounded outbox ([`enqueue`]); [`deliver`] sends them in order,
//! retrying with backoff while MLflow is away, so an unreachable MLflow never
//! fails or slows training. [`import`] brings an MLflow model version (an ONNX
//! artifact) into our registry.

pub mod client;
pub mod deliver;
pub mod import;
pub mod run_ref;

use detective_store::Db;
use detective_store::mlflow_outbox;
use detective_store::training_jobs::Job;
use serde_json::{Value, json};

pub use client::{Client, MlflowConfig};
pub use run_ref::RunRef;

use crate::OpsError;

/// Most calls the outbox holds; beyond it new ones are dropped (and logged),
/// so a long outage cannot fill the database.
pub const MAX_PENDING: i64 = 100_000;

/// The outbox subject of training job `id`.
pub fn job_subject(id: i64) -> String {
    RunRef::Job(id).subject()
}

/// The outbox subject of registered model `name`.
pub fn model_subject(name: &str) -> String {
    format!("model:{name}")
}

/// The settings key of the switch: whether this database's jobs and registry
/// are mirrored to MLflow.
const MIRROR_KEY: &str = "mlflow.mirror";

/// Turns mirroring on (to the tracking server at `url`) or off (`None`) for
/// everything that shares this database: set by `serve` and `worker` from
/// their configuration at start (so every replica and worker agrees with the
/// last one started).
pub async fn set_mirroring(db: &Db, url: Option<&str>) -> Result<(), OpsError> {
    let v = match url {
        Some(u) => json!({"url": u.trim_end_matches('/')}),
        None => json!(false),
    };
    Ok(detective_store::settings::set(db, MIRROR_KEY, &v).await?)
}

/// The tracking server jobs and the registry are mirrored to, if any.
pub async fn mirror_url(db: &Db) -> Option<String> {
    match detective_store::settings::get(db, MIRROR_KEY).await {
        Ok(Some(v)) => v["url"].as_str().map(str::to_string),
        _ => None,
    }
}

/// Whether jobs and the registry are mirrored to MLflow.
pub async fn mirroring(db: &Db) -> bool {
    mirror_url(db).await.is_some()
}

/// Runs a mirroring step when mirroring is on; a failure is logged, never
/// passed on (MLflow must not fail the work it mirrors).
pub async fn hook<F: std::future::Future<Output = Result<(), OpsError>>>(db: &Db, what: &str, step: F) {
    if !mirroring(db).await {
        return;
    }
    if let Err(e) = step.await {
        tracing::warn!("MLflow outbox: {what}: {e}");
    }
}

async fn enqueue(db: &Db, subject: &str, kind: &str, body: Value) -> Result<(), OpsError> {
    if !mlflow_outbox::enqueue(db, subject, kind, &body, MAX_PENDING).await? {
        tracing::warn!("the MLflow outbox is full ({MAX_PENDING} calls wait): dropped {kind} of {subject}");
    }
    Ok(())
}

/// `value` flattened to `key → text` (nested keys joined with `.`), for
/// MLflow params and tags.
fn flat(prefix: &str, value: &Value, out: &mut Vec<(String, String)>) {
    match value {
        Value::Object(m) => {
            for (k, v) in m {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flat(&key, v, out);
            }
        }
        Value::Null => {}
        Value::String(s) => out.push((prefix.to_string(), s.clone())),
        other => out.push((prefix.to_string(), other.to_string())),
    }
}

/// The numbers of an epoch row (`train.box_loss`, `map50`, …), as MLflow
/// metrics (nested keys joined with `/`).
pub fn epoch_metrics(row: &Value) -> Vec<(String, f64)> {
    fn walk(prefix: &str, v: &Value, out: &mut Vec<(String, f64)>) {
        match v {
            Value::Object(m) => {
                for (k, x) in m {
                    let key = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}/{k}")
                    };
                    walk(&key, x, out);
                }
            }
            Value::Array(a) => {
                for (i, x) in a.iter().enumerate() {
                    walk(&format!("{prefix}/{i}"), x, out);
                }
            }
            Value::Number(n) => {
                if let Some(f) = n.as_f64().filter(|f| f.is_finite()) {
                    out.push((prefix.to_string(), f));
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk("", row, &mut out);
    out.retain(|(k, _)| k != "epoch");
    out
}

/// A job started: its run is to be made with the job's parameters and tags.
pub async fn run_started(db: &Db, job: &Job, dataset: &str, lineage: &str) -> Result<(), OpsError> {
    let mut params = Vec::new();
    flat("", &job.params, &mut params);
    params.push(("task".into(), job.task.to_string()));
    params.push(("model_name".into(), job.model_name.clone()));
    params.push(("dataset".into(), dataset.to_string()));
    if let Some(b) = &job.base_model {
        params.push(("base_model".into(), b.clone()));
    }
    let tags = json!({
        "detective.job_id": job.id.to_string(),
        "detective.dataset": dataset,
        "detective.dataset_lineage": lineage,
        "detective.created_by": job.created_by,
    });
    let name = format!("job {} · {}", job.id, job.model_name);
    start_run(db, &RunRef::Job(job.id), &name, params, tags).await
}

/// A run starts: made with `params` and `tags` (plus the source's tags).
pub async fn start_run(
    db: &Db,
    run: &RunRef,
    name: &str,
    mut params: Vec<(String, String)>,
    mut tags: Value,
) -> Result<(), OpsError> {
    params.sort();
    params.dedup_by(|a, b| a.0 == b.0);
    let params: serde_json::Map<String, Value> = params.into_iter().map(|(k, v)| (k, json!(v))).collect();
    tags["mlflow.source.name"] = json!("defect-detective");
    tags["mlflow.source.git.commit"] = json!(option_env!("DETECTIVE_GIT_COMMIT").unwrap_or("unknown"));
    tags["detective.version"] = json!(env!("CARGO_PKG_VERSION"));
    enqueue(
        db,
        &run.subject(),
        "run.start",
        run.body(json!({"name": name, "start_ms": detective_store::clock::now_ms(), "params": params, "tags": tags})),
    )
    .await
}

/// `params` flattened for [`start_run`] (nested keys joined with `.`).
pub fn params_of(value: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    flat("", value, &mut out);
    out
}

/// An epoch of job `id` ended with `row` (its `results.csv` row).
pub async fn epoch_ended(db: &Db, id: i64, epoch: i64, row: &Value) -> Result<(), OpsError> {
    run_epoch(db, &RunRef::Job(id), epoch, row).await
}

/// An epoch of `run` ended with `row` (its `results.csv` row).
pub async fn run_epoch(db: &Db, run: &RunRef, epoch: i64, row: &Value) -> Result<(), OpsError> {
    let metrics: serde_json::Map<String, Value> = epoch_metrics(row).into_iter().map(|(k, v)| (k, json!(v))).collect();
    enqueue(
        db,
        &run.subject(),
        "run.metrics",
        run.body(json!({"step": epoch, "at_ms": detective_store::clock::now_ms(), "metrics": metrics})),
    )
    .await
}

/// A run's file to go up as an artifact at `path` in the run.
#[derive(Debug, Clone)]
pub enum Artifact {
    /// An object of the store (a job's files).
    Object { key: String, path: String },
    /// A local file (a command-line run's).
    File { file: std::path::PathBuf, path: String },
}

/// Job `id` ended (`FINISHED`, `FAILED`, `KILLED`); its files under `prefix`
/// in the object store (`results.csv`, plots, weights, ONNX) go up as the
/// run's artifacts first.
pub async fn run_ended(db: &Db, id: i64, status: &str, prefix: Option<&str>, files: &[String]) -> Result<(), OpsError> {
    let artifacts: Vec<Artifact> = match prefix {
        Some(prefix) => files
            .iter()
            .map(|f| Artifact::Object {
                key: format!("{prefix}/{f}"),
                path: f.clone(),
            })
            .collect(),
        None => Vec::new(),
    };
    end_run(db, &RunRef::Job(id), status, &artifacts).await
}

/// `run` ended with `status`; `artifacts` go up first.
pub async fn end_run(db: &Db, run: &RunRef, status: &str, artifacts: &[Artifact]) -> Result<(), OpsError> {
    let subject = run.subject();
    for a in artifacts {
        let body = match a {
            Artifact::Object { key, path } => json!({"key": key, "path": path}),
            Artifact::File { file, path } => json!({"file": file.to_string_lossy(), "path": path}),
        };
        enqueue(db, &subject, "run.artifact", run.body(body)).await?;
    }
    enqueue(
        db,
        &subject,
        "run.end",
        run.body(json!({"status": status, "end_ms": detective_store::clock::now_ms()})),
    )
    .await
}

/// `name@version` was registered (from job `job_id`, when one made it).
pub async fn version_registered(db: &Db, name: &str, version: i64) -> Result<(), OpsError> {
    enqueue(
        db,
        &model_subject(name),
        "model.version",
        json!({"name": name, "version": version}),
    )
    .await
}

/// The stages of models of `task` changed (a promotion archives the
/// Production model of every model of the task; a rollback): their aliases
/// follow.
pub async fn stages_changed(db: &Db, task: detective_core::Task) -> Result<(), OpsError> {
    for m in detective_store::models::list(db).await? {
        if m.task == task {
            enqueue(db, &model_subject(&m.name), "model.aliases", json!({"name": m.name})).await?;
        }
    }
    Ok(())
}

/// MLflow's side of job `id`: what the outbox still holds for it, and its
/// run (with a link) once made; `None` when mirroring is off.
pub async fn job_status(db: &Db, id: i64) -> Result<Option<Value>, OpsError> {
    if !mirroring(db).await {
        return Ok(None);
    }
    let c = mlflow_outbox::counts(db, Some(&job_subject(id))).await?;
    let run = mlflow_outbox::link(db, &deliver::run_link(id)).await?;
    let run: Option<deliver::RunLink> = run.and_then(|r| serde_json::from_str(&r).ok());
    Ok(Some(
        json!({"pending": c.pending, "delivered": c.delivered, "failed": c.failed,
                   "last_error": c.last_error, "run": run}),
    ))
}

/// The MLflow version that mirrors `name@version` and its page, once made;
/// `None` when mirroring is off or it is not made yet.
pub async fn version_status(db: &Db, name: &str, version: i64) -> Result<Option<Value>, OpsError> {
    let Some(url) = mirror_url(db).await else {
        return Ok(None);
    };
    let mv = mlflow_outbox::link(db, &deliver::version_link(name, version)).await?;
    Ok(mv.map(|mv| json!({"version": mv, "url": format!("{url}/#/models/{name}/versions/{mv}")})))
}
