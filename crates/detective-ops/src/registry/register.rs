//! Registering a model version: a finished training job's best weights, or a
//! model file a user uploads (an Ultralytics or our `.onnx`, or our `.bpk` with
//! its `.json`). Either becomes the next version of its name, stage None, with
//! its files and their SHA-256 under `models/{name}/v{n}/`.

use std::path::{Path, PathBuf};

use detective_core::Task;
use detective_store::models::{self, ModelVersion};
use detective_store::training_jobs;
use detective_store::{Db, Objects};
use serde_json::json;

use super::artifacts::fetch;
use crate::OpsError;

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
    if !job.status.has_weights() {
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
    let (b, o, task) = (bpk.clone(), onnx.clone(), job.task);
    let exported = tokio::task::spawn_blocking(move || match task {
        Task::Segment | Task::Anomaly => detective_ml::export::export_seg_checkpoint(&b, None, &o),
        _ => detective_ml::export::export_checkpoint(&b, None, &o),
    })
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
            job.task,
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

/// The class names in an ONNX model's `names` metadata.
fn onnx_class_names(path: &Path) -> Option<Vec<String>> {
    let proto = detective_ml::export::read_onnx(path).ok()?;
    let text = proto
        .metadata_props
        .iter()
        .find(|p| p.key.as_deref() == Some("names"))?
        .value
        .clone()?;
    detective_ml::runtime::onnx::parse_names_metadata(&text)
}

/// Adds the next version of `name` and uploads `files` (name in the version
/// folder, local path) plus `metrics.json`; their SHA-256 go to `params.files`.
/// A failed upload removes the version again.
#[allow(clippy::too_many_arguments)]
pub async fn add_with_files(
    db: &Db,
    objects: &Objects,
    name: &str,
    task: Task,
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
    // The class names, so that rules per class can be checked against them.
    let names = match files.iter().find(|(f, _)| *f == "model.onnx") {
        Some((_, path)) => {
            let path = path.clone();
            tokio::task::spawn_blocking(move || onnx_class_names(&path))
                .await
                .ok()
                .flatten()
        }
        None => None,
    };
    if let Some(o) = params.as_object_mut() {
        o.insert("files".into(), serde_json::Value::Object(sums));
        if let Some(n) = names {
            o.insert("names".into(), json!(n));
        }
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
    crate::mlflow::hook(db, "register", crate::mlflow::version_registered(db, name, v.version)).await;
    Ok(v)
}

/// Largest uploaded model file.
pub const MAX_MODEL_BYTES: usize = 512 * 1024 * 1024;

/// A model file a user uploads, with what the request says of it.
#[derive(Debug, Default)]
pub struct ModelUpload {
    /// Registry name.
    pub name: Option<String>,
    /// The dataset (and version, default its newest) it was trained on: the
    /// version is measured on its validation split.
    pub dataset_id: Option<String>,
    pub dataset_version: Option<String>,
    /// Files by extension (`onnx`, `bpk`, `json`), already written to `dir`
    /// as `model.{ext}` by [`ModelUpload::add_file`].
    files: Vec<String>,
}

impl ModelUpload {
    /// Takes one uploaded file `filename` into `dir` as `model.{ext}`: only
    /// `.onnx`, `.bpk`, `.json` and an Ultralytics `.pt`, each once, at most
    /// [`MAX_MODEL_BYTES`].
    pub async fn add_file(&mut self, dir: &Path, filename: &str, bytes: &[u8]) -> Result<(), OpsError> {
        let filename = filename.to_ascii_lowercase();
        let ext = filename
            .rsplit_once('.')
            .map(|(_, e)| e.to_string())
            .unwrap_or_default();
        if !matches!(ext.as_str(), "onnx" | "bpk" | "json" | "pt") {
            return Err(OpsError::invalid(format!(
                "file {filename:?}: expected a .onnx, an Ultralytics .pt, or a .bpk with its .json"
            )));
        }
        if self.files.contains(&ext) {
            return Err(OpsError::invalid(format!("two .{ext} files")));
        }
        if bytes.len() > MAX_MODEL_BYTES {
            return Err(OpsError::too_large(
                format!("a model file is limited to {MAX_MODEL_BYTES} bytes"),
                MAX_MODEL_BYTES as u64,
            ));
        }
        let path = dir.join(format!("model.{ext}"));
        tokio::fs::write(&path, bytes)
            .await
            .map_err(|e| OpsError::io(path.display(), e))?;
        self.files.push(ext);
        Ok(())
    }

    fn has(&self, ext: &str) -> bool {
        self.files.iter().any(|e| e == ext)
    }
}

/// The dataset version an upload names: (dataset, version, version's id, the
/// dataset's task).
async fn uploaded_on(db: &Db, up: &ModelUpload) -> Result<Option<(i64, i64, i64, Task)>, OpsError> {
    match (&up.dataset_id, &up.dataset_version) {
        (Some(d), v) => {
            let d: i64 = d
                .parse()
                .map_err(|_| OpsError::invalid("dataset_id must be a number"))?;
            let ds = detective_store::datasets::get(db, d).await?;
            let ver = match v {
                Some(v) => v
                    .parse::<i64>()
                    .map_err(|_| OpsError::invalid("dataset_version must be a number"))?,
                None => ds.versions.last().map_or(1, |v| v.version),
            };
            let dv = ds
                .versions
                .iter()
                .find(|x| x.version == ver)
                .ok_or_else(|| OpsError::invalid(format!("dataset {d} has no version {ver}")))?;
            Ok(Some((d, ver, dv.id, ds.task)))
        }
        (None, Some(_)) => Err(OpsError::invalid("dataset_version needs dataset_id")),
        (None, None) => Ok(None),
    }
}

/// Registers an uploaded model (files in `dir`, see [`ModelUpload::add_file`])
/// as the next version of its name, of the task its metadata says (a detector,
/// or a segmenter: our UNetTiny checkpoint or its ONNX export): our `.bpk` +
/// `.json`, and an Ultralytics `.pt` imported into them, are exported to ONNX
/// for serving; a detector's `.onnx` must carry the `names` metadata
/// (Ultralytics' export writes it). The version is measured on
/// the dataset's validation split when the upload names one (a dataset of its
/// task: a segmenter on the version's masks).
pub async fn register_upload(
    db: &Db,
    objects: &Objects,
    work_dir: &Path,
    dir: &Path,
    up: ModelUpload,
) -> Result<ModelVersion, OpsError> {
    let name = up
        .name
        .clone()
        .filter(|n| !n.is_empty())
        .ok_or_else(|| OpsError::invalid("field `name` is required"))?;
    detective_core::names::check_segment("name", &name)?;
    let onnx = dir.join("model.onnx");
    let on = uploaded_on(db, &up).await?;
    let bpk = dir.join("model.bpk");
    let mut up = up;
    let mut imported_from = None;
    if up.has("pt") {
        if up.has("bpk") || up.has("onnx") {
            return Err(OpsError::invalid("send a .pt alone, without a .onnx or .bpk"));
        }
        // An Ultralytics checkpoint becomes our checkpoint, then goes the native way.
        let (pt, out) = (dir.join("model.pt"), bpk.clone());
        let origin = tokio::task::spawn_blocking(move || -> Result<Option<String>, detective_ml::MlError> {
            let cpu = detective_ml::runtime::device::ComputeDevice::Cpu.burn_device()?;
            let imported = detective_ml::import::import_detector(&pt, &cpu)?;
            detective_ml::checkpoint::save_model(&imported.model, &imported.meta, &out)?;
            Ok(imported.meta.origin)
        })
        .await
        .map_err(|e| OpsError::io("import thread", e))?
        .map_err(|e| OpsError::invalid(format!("the uploaded .pt: {e}")))?;
        imported_from = origin;
        up.files.extend(["bpk".to_string(), "json".to_string()]);
    }
    let task = if up.has("bpk") && up.has("json") {
        detective_ml::checkpoint::model_task(&bpk)
            .map_err(|e| OpsError::invalid(format!("the uploaded metadata: {e}")))?
    } else if up.has("onnx")
        && let Some(t) = detective_ml::segment::segmenter::map_task(&onnx)
    {
        t
    } else {
        Task::Detect
    };
    if let Some((d, _, _, dataset_task)) = on {
        super::evaluate::same_task("the model", task, d, dataset_task)?;
    }
    let native = if up.has("bpk") {
        if !up.has("json") {
            return Err(OpsError::invalid(
                "a .bpk needs its .json (the metadata written next to it)",
            ));
        }
        let (weights, out) = (bpk.clone(), onnx.clone());
        let exported = tokio::task::spawn_blocking(move || match task {
            Task::Segment | Task::Anomaly => detective_ml::export::export_seg_checkpoint(&weights, None, &out),
            _ => detective_ml::export::export_checkpoint(&weights, None, &out),
        })
        .await
        .map_err(|e| OpsError::io("export thread", e))?;
        exported.map_err(|e| OpsError::invalid(format!("the uploaded weights do not load: {e}")))?;
        Some(match task {
            Task::Segment | Task::Anomaly => {
                let meta = detective_ml::checkpoint::load_seg_meta(&bpk)
                    .map_err(|e| OpsError::invalid(format!("the uploaded metadata: {e}")))?;
                json!({"model": "unet-tiny", "imgsz": meta.imgsz, "threshold": meta.threshold})
            }
            _ => {
                let meta = detective_ml::checkpoint::load_meta(&bpk)
                    .map_err(|e| OpsError::invalid(format!("the uploaded metadata: {e}")))?;
                match imported_from.take().or(meta.origin) {
                    Some(from) => json!({"model": meta.scale.as_str(), "imgsz": meta.imgsz, "imported_from": from}),
                    None => json!({"model": meta.scale.as_str(), "imgsz": meta.imgsz}),
                }
            }
        })
    } else if up.has("onnx") {
        let proto = detective_ml::export::read_onnx(&onnx)
            .map_err(|e| OpsError::invalid(format!("the uploaded file is not a readable ONNX model: {e}")))?;
        if task == Task::Detect && !proto.metadata_props.iter().any(|p| p.key.as_deref() == Some("names")) {
            return Err(OpsError::invalid(
                "the ONNX model has no `names` metadata (Ultralytics' export writes it): class names are unknown",
            ));
        }
        // A YOLOv8 t/n/s export can be fine-tuned (the trainer imports it): its
        // scale becomes the default of jobs that start from it.
        let scale = if task == Task::Detect {
            let path = onnx.clone();
            tokio::task::spawn_blocking(move || detective_ml::import::detector_scale(&path).ok())
                .await
                .ok()
                .flatten()
        } else {
            None
        };
        scale.map(|s| json!({"model": s.as_str()}))
    } else {
        return Err(OpsError::invalid(
            "no model file: send a .onnx, or a .bpk with its .json",
        ));
    };
    let is_native = up.has("bpk");
    let mut upload: Vec<(&str, PathBuf)> = vec![("model.onnx", onnx)];
    let mut params = json!({"source": "upload", "format": if is_native { "native" } else { "onnx" }});
    if is_native {
        upload.push(("model.bpk", dir.join("model.bpk")));
        upload.push(("model.json", dir.join("model.json")));
    }
    if let (Some(o), Some(m)) = (params.as_object_mut(), native.as_ref().and_then(|n| n.as_object())) {
        o.extend(m.clone());
    }
    let v = add_with_files(
        db,
        objects,
        &name,
        task,
        &json!({}),
        &params,
        on.map(|(_, _, id, _)| id),
        &upload,
    )
    .await?;
    match on {
        Some((d, ver, _, _)) => {
            let m = super::evaluate::evaluate(db, objects, work_dir, &v, d, ver).await?;
            Ok(models::set_metrics(db, &v.name, v.version, &m).await?)
        }
        None => Ok(v),
    }
}
