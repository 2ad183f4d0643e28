//! The model registry's actions: name a version (`name@3`, `name@Production`,
//! `production`), fetch its weights, register a finished training job or an
//! uploaded model file as the next version (artifacts under
//! `models/{name}/v{n}/`: `model.bpk` + `model.json` for our checkpoints,
//! `model.onnx` for serving, `metrics.json`), evaluate versions on one
//! dataset version's validation split, and compare two versions.

use std::path::{Path, PathBuf};

use detective_ml::Detector;
use detective_ml::detect::loader::samples_from_split;
use detective_ml::detect::validate::validate_engine;
use detective_store::models::{self, ModelVersion};
use detective_store::training_jobs;
use detective_store::{Db, Objects};
use serde_json::json;

use crate::OpsError;

/// The stages, in order.
pub const STAGES: [&str; 4] = ["None", "Staging", "Production", "Archived"];

/// The canonical spelling of a stage, any case.
pub fn stage_of(s: &str) -> Option<&'static str> {
    STAGES.iter().copied().find(|st| st.eq_ignore_ascii_case(s))
}

/// The version `spec` names for `task`: `name@3`, `name@<stage>`, a stage
/// alone (the task's newest model at that stage) or a name alone (its
/// Production version). `Ok(None)` when nothing matches.
pub async fn resolve(db: &Db, spec: &str, task: &str) -> Result<Option<ModelVersion>, OpsError> {
    let found = match spec.split_once('@') {
        Some((name, v)) => {
            if let Ok(n) = v.parse::<i64>() {
                match models::get_version(db, name, n).await {
                    Ok(v) => Some(v),
                    Err(detective_store::StoreError::NotFound { .. }) => None,
                    Err(e) => return Err(e.into()),
                }
            } else {
                let stage = stage_of(v).ok_or_else(|| {
                    OpsError::Invalid(format!(
                        "model {spec:?}: after @ comes a version number or a stage (None, Staging, Production, Archived)"
                    ))
                })?;
                models::at_stage(db, Some(name), task, stage).await?
            }
        }
        None => match stage_of(spec) {
            Some(stage) => models::at_stage(db, None, task, stage).await?,
            None => models::at_stage(db, Some(spec), task, "Production").await?,
        },
    };
    if let Some(v) = &found
        && !task.is_empty()
        && v.task != task
    {
        return Err(OpsError::Invalid(format!(
            "{}@{} is a {} model, not {task}",
            v.name, v.version, v.task
        )));
    }
    Ok(found)
}

/// Like [`resolve`], but nothing found is an error naming `spec`.
pub async fn require(db: &Db, spec: &str, task: &str) -> Result<ModelVersion, OpsError> {
    resolve(db, spec, task)
        .await?
        .ok_or_else(|| OpsError::Invalid(format!("no registered {task} model matches {spec:?}")))
}

async fn fetch(objects: &Objects, key: &str, to: &Path) -> Result<(), OpsError> {
    let bytes = objects.get(key).await?;
    if let Some(d) = to.parent() {
        tokio::fs::create_dir_all(d)
            .await
            .map_err(|e| OpsError::io(d.display(), e))?;
    }
    tokio::fs::write(to, &bytes)
        .await
        .map_err(|e| OpsError::io(to.display(), e))
}

/// Downloads the native weights (`model.bpk` + `model.json`) of the version
/// `spec` names into `dir`; returns the `.bpk` path.
pub async fn fetch_weights(db: &Db, objects: &Objects, spec: &str, dir: &Path) -> Result<PathBuf, OpsError> {
    let v = require(db, spec, "detect").await?;
    let bpk = format!("{}/model.bpk", v.artifact_key);
    if !objects.exists(&bpk).await? {
        return Err(OpsError::Invalid(format!(
            "{}@{} has no native weights (model.bpk) to fine-tune from; it was registered from an ONNX file",
            v.name, v.version
        )));
    }
    let path = dir.join("model.bpk");
    fetch(objects, &bpk, &path).await?;
    fetch(
        objects,
        &format!("{}/model.json", v.artifact_key),
        &dir.join("model.json"),
    )
    .await?;
    Ok(path)
}

/// Downloads what serves version `v` (its ONNX when it has one, else its
/// native weights) into `dir`; returns the file to load.
pub async fn fetch_servable(objects: &Objects, v: &ModelVersion, dir: &Path) -> Result<PathBuf, OpsError> {
    let onnx = format!("{}/model.onnx", v.artifact_key);
    if objects.exists(&onnx).await? {
        let path = dir.join("model.onnx");
        fetch(objects, &onnx, &path).await?;
        return Ok(path);
    }
    let path = dir.join("model.bpk");
    fetch(objects, &format!("{}/model.bpk", v.artifact_key), &path).await?;
    fetch(
        objects,
        &format!("{}/model.json", v.artifact_key),
        &dir.join("model.json"),
    )
    .await?;
    Ok(path)
}

/// Registers the best weights of finished job `job_id` as the next version of
/// `name` (default: the job's model name): copies them, exports ONNX next to
/// them, stores the job's metrics and parameters.
pub async fn register_job(
    db: &Db,
    objects: &Objects,
    work_dir: &Path,
    job_id: i64,
    name: Option<&str>,
) -> Result<ModelVersion, OpsError> {
    let job = training_jobs::get(db, job_id).await?;
    if job.status != "succeeded" && job.status != "stopped" {
        return Err(OpsError::Invalid(format!(
            "training job {job_id} is {}; only a succeeded (or stopped) job can be registered",
            job.status
        )));
    }
    let prefix = job
        .artifact_key
        .clone()
        .ok_or_else(|| OpsError::Invalid(format!("training job {job_id} left no files")))?;
    let name = name.unwrap_or(&job.model_name).to_string();
    let dir = work_dir.join(format!("register-{}", uuid::Uuid::new_v4().simple()));
    let bpk = dir.join("model.bpk");
    fetch(objects, &format!("{prefix}/weights/best.bpk"), &bpk).await?;
    fetch(objects, &format!("{prefix}/weights/best.json"), &dir.join("model.json")).await?;
    let onnx = dir.join("model.onnx");
    let (b, o) = (bpk.clone(), onnx.clone());
    let exported = tokio::task::spawn_blocking(move || detective_ml::export::export_checkpoint(&b, None, &o))
        .await
        .map_err(|e| OpsError::Train(format!("export thread: {e}")))?;
    let result = async {
        exported?;
        let mut params = job.params.clone();
        params["job_id"] = json!(job_id);
        params["base_model"] = json!(job.base_model);
        let dataset_version_id = job.metrics.get("dataset_version_id").and_then(|v| v.as_i64());
        let files = [
            ("model.bpk", bpk.clone()),
            ("model.json", dir.join("model.json")),
            ("model.onnx", onnx.clone()),
        ];
        add_with_files(
            db,
            objects,
            &name,
            &job.task,
            &job.metrics,
            &params,
            dataset_version_id,
            &files,
        )
        .await
    }
    .await;
    let _ = tokio::fs::remove_dir_all(&dir).await;
    result
}

/// Adds the next version of `name` and uploads `files` (name in the version
/// folder, local path) plus `metrics.json`; their SHA-256 go to `params.files`.
/// A failed upload removes the version again.
#[allow(clippy::too_many_arguments)]
pub async fn add_with_files(
    db: &Db,
    objects: &Objects,
    name: &str,
    task: &str,
    metrics: &serde_json::Value,
    params: &serde_json::Value,
    dataset_version_id: Option<i64>,
    files: &[(&str, PathBuf)],
) -> Result<ModelVersion, OpsError> {
    // SHA-256 of every file, in params.files: agents check their downloads against it.
    let mut sums = serde_json::Map::new();
    for (file, path) in files {
        let bytes = tokio::fs::read(path)
            .await
            .map_err(|e| OpsError::io(path.display(), e))?;
        use sha2::Digest;
        sums.insert(file.to_string(), json!(hex::encode(sha2::Sha256::digest(&bytes))));
    }
    let mut params = params.clone();
    if let Some(o) = params.as_object_mut() {
        o.insert("files".into(), serde_json::Value::Object(sums));
    }
    let v = models::add_version(db, name, task, metrics, &params, None, dataset_version_id).await?;
    let upload = async {
        for (file, path) in files {
            let bytes = tokio::fs::read(path)
                .await
                .map_err(|e| OpsError::io(path.display(), e))?;
            objects.put(&format!("{}/{file}", v.artifact_key), bytes.into()).await?;
        }
        let text = serde_json::to_vec_pretty(metrics).map_err(|e| OpsError::Io(e.to_string()))?;
        objects
            .put(&format!("{}/metrics.json", v.artifact_key), text.into())
            .await?;
        Ok::<(), OpsError>(())
    }
    .await;
    if let Err(e) = upload {
        let _ = models::delete_version(db, name, v.version).await;
        return Err(e);
    }
    Ok(v)
}

/// Detection metrics as the registry stores them (overall and per class).
pub fn metrics_json(m: &detective_ml::metrics::detection::DetectionMetrics) -> serde_json::Value {
    json!({
        "precision": m.precision, "recall": m.recall, "map50": m.map50, "map50_95": m.map50_95,
        "fitness": m.fitness, "images": m.images, "instances": m.instances,
        "per_class": m.per_class.iter().map(|c| json!({
            "class": c.class, "name": c.name, "precision": c.precision, "recall": c.recall,
            "map50": c.map50, "map50_95": c.map50_95, "instances": c.instances})).collect::<Vec<_>>(),
    })
}

/// Metrics of version `v` on the `split` split of dataset version
/// (`dataset_id`, `version`), in the registry's metrics layout.
pub async fn evaluate(
    db: &Db,
    objects: &Objects,
    work_dir: &Path,
    v: &ModelVersion,
    dataset_id: i64,
    version: i64,
) -> Result<serde_json::Value, OpsError> {
    let dir = work_dir.join(format!("eval-{}", uuid::Uuid::new_v4().simple()));
    let result = async {
        let data = crate::dataset_files::write_version(db, objects, dataset_id, version, &dir.join("data")).await?;
        let model = fetch_servable(objects, v, &dir.join("model")).await?;
        let yaml = data.yaml.clone();
        let names = data.names.clone();
        let metrics = tokio::task::spawn_blocking(move || -> Result<serde_json::Value, OpsError> {
            let ds = detective_data::dataset::YoloDataset::load(&yaml).map_err(|e| OpsError::Invalid(e.to_string()))?;
            let samples = samples_from_split(&ds, "val").map_err(|e| OpsError::Invalid(e.to_string()))?;
            let det = Detector::load(&model, None, 0)?;
            if det.names.len() != names.len() {
                return Err(OpsError::Invalid(format!(
                    "the model has {} classes, the dataset {}",
                    det.names.len(),
                    names.len()
                )));
            }
            let report = validate_engine(det.engine(), &samples, &names, 0.7, 300, |_, _| {})?;
            Ok(metrics_json(&report.metrics))
        })
        .await
        .map_err(|e| OpsError::Train(format!("evaluation thread: {e}")))??;
        let mut metrics = metrics;
        metrics["dataset_version_id"] = json!(data.version_id);
        metrics["split"] = json!("val");
        Ok(metrics)
    }
    .await;
    let _ = tokio::fs::remove_dir_all(&dir).await;
    result
}

/// Two versions side by side: their metrics, measured on the same validation
/// set (the stored ones when both were measured on the same dataset version,
/// else both evaluated now on `on` or on b's dataset version), and per-class deltas (b − a).
pub async fn compare(
    db: &Db,
    objects: &Objects,
    work_dir: &Path,
    a: &str,
    b: &str,
    on: Option<(i64, i64)>,
) -> Result<serde_json::Value, OpsError> {
    let va = require(db, a, "").await?;
    let vb = require(db, b, "").await?;
    if va.task != vb.task {
        return Err(OpsError::Invalid(format!(
            "{a} is a {} model, {b} a {}",
            va.task, vb.task
        )));
    }
    let measured_on = |v: &ModelVersion| v.metrics.get("dataset_version_id").and_then(|x| x.as_i64());
    let target = match on {
        Some(t) => Some(t),
        None => match (measured_on(&va), measured_on(&vb)) {
            (Some(x), Some(y)) if x == y => None,
            (_, Some(y)) | (Some(y), None) => Some(dataset_of_version(db, y).await?),
            (None, None) => None,
        },
    };
    let (ma, mb, evaluated) = match target {
        Some((ds, ver)) => (
            evaluate(db, objects, work_dir, &va, ds, ver).await?,
            evaluate(db, objects, work_dir, &vb, ds, ver).await?,
            true,
        ),
        None => (va.metrics.clone(), vb.metrics.clone(), false),
    };
    let num = |m: &serde_json::Value, k: &str| m.get(k).and_then(|x| x.as_f64());
    let mut overall = serde_json::Map::new();
    for k in ["precision", "recall", "map50", "map50_95", "fitness"] {
        let (x, y) = (num(&ma, k), num(&mb, k));
        overall.insert(k.into(), json!({"a": x, "b": y, "delta": x.zip(y).map(|(x, y)| y - x)}));
    }
    let classes = |m: &serde_json::Value| -> Vec<serde_json::Value> {
        m.get("per_class")
            .and_then(|p| p.as_array())
            .cloned()
            .unwrap_or_default()
    };
    let (ca, cb) = (classes(&ma), classes(&mb));
    let mut names: Vec<String> = ca
        .iter()
        .chain(cb.iter())
        .filter_map(|c| c.get("name").and_then(|n| n.as_str()).map(str::to_string))
        .collect();
    names.sort();
    names.dedup();
    let find = |list: &[serde_json::Value], n: &str| list.iter().find(|c| c["name"] == n).cloned();
    let per_class: Vec<serde_json::Value> = names
        .iter()
        .map(|n| {
            let (x, y) = (find(&ca, n), find(&cb, n));
            let get =
                |c: &Option<serde_json::Value>, k: &str| c.as_ref().and_then(|c| c.get(k)).and_then(|v| v.as_f64());
            json!({
                "name": n,
                "map50": {"a": get(&x, "map50"), "b": get(&y, "map50"),
                          "delta": get(&x, "map50").zip(get(&y, "map50")).map(|(x, y)| y - x)},
                "map50_95": {"a": get(&x, "map50_95"), "b": get(&y, "map50_95"),
                             "delta": get(&x, "map50_95").zip(get(&y, "map50_95")).map(|(x, y)| y - x)},
            })
        })
        .collect();
    let same_set =
        ma.get("dataset_version_id").is_some() && ma.get("dataset_version_id") == mb.get("dataset_version_id");
    Ok(json!({
        "a": {"name": va.name, "version": va.version, "stage": va.stage, "metrics": ma},
        "b": {"name": vb.name, "version": vb.version, "stage": vb.stage, "metrics": mb},
        "same_validation_set": same_set,
        "evaluated_now": evaluated,
        "dataset_version_id": mb.get("dataset_version_id"),
        "overall": overall,
        "per_class": per_class,
        "better": match (num(&ma, "fitness"), num(&mb, "fitness")) {
            (Some(x), Some(y)) if y > x => "b",
            (Some(x), Some(y)) if x > y => "a",
            (Some(_), Some(_)) => "equal",
            _ => "unknown",
        },
    }))
}

/// (dataset id, version number) of a dataset version's database id.
pub async fn dataset_of_version(db: &Db, version_id: i64) -> Result<(i64, i64), OpsError> {
    Ok(detective_store::datasets::version_of_id(db, version_id).await?)
}
