//! A registered version's files in the object store
//! (`models/{name}/v{n}/`): list them, hand one to a client, and fetch the
//! weights a job fine-tunes from or the file that serves the version.

use std::path::{Path, PathBuf};

use detective_core::Task;
use detective_store::Db;
use detective_store::Objects;
use detective_store::models::ModelVersion;

use super::resolve::require;
use crate::OpsError;

pub(super) async fn fetch(objects: &Objects, key: &str, to: &Path) -> Result<(), OpsError> {
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
/// `spec` names (a model of `task`) into `dir`; returns the `.bpk` path.
pub async fn fetch_weights(
    db: &Db,
    objects: &Objects,
    spec: &str,
    task: Task,
    dir: &Path,
) -> Result<PathBuf, OpsError> {
    if spec == BUNDLED_BASE && task == Task::Detect {
        return bundled_weights(dir).await;
    }
    let v = require(db, spec, Some(task)).await?;
    let bpk = format!("{}/model.bpk", v.artifact_key);
    if objects.exists(&bpk).await? {
        return fetch_native(objects, &v, dir).await;
    }
    // A detector registered from an ONNX file (an Ultralytics export): the
    // trainer imports it (`detective_ml::import`).
    let onnx = format!("{}/model.onnx", v.artifact_key);
    if task == Task::Detect && objects.exists(&onnx).await? {
        let path = dir.join("model.onnx");
        fetch(objects, &onnx, &path).await?;
        return Ok(path);
    }
    Err(OpsError::Invalid(format!(
        "{}@{} has no weights to fine-tune from (no model.bpk; a segmenter registered from an ONNX file cannot be trained further)",
        v.name, v.version
    )))
}

/// What a training job names to start from our pretrained detector (the one
/// compiled into the binary) instead of a registered version.
pub const BUNDLED_BASE: &str = "bundled";

/// The bundled detector's checkpoint and its metadata, copied into `dir`.
async fn bundled_weights(dir: &Path) -> Result<PathBuf, OpsError> {
    let src = tokio::task::spawn_blocking(detective_ml::detect::bundled::checkpoint)
        .await
        .map_err(|e| OpsError::io("the bundled detector", e))??;
    tokio::fs::create_dir_all(dir)
        .await
        .map_err(|e| OpsError::io(dir.display(), e))?;
    let path = dir.join("model.bpk");
    for (from, to) in [
        (src.clone(), path.clone()),
        (src.with_extension("json"), dir.join("model.json")),
    ] {
        tokio::fs::copy(&from, &to)
            .await
            .map_err(|e| OpsError::io(from.display(), e))?;
    }
    Ok(path)
}

/// Downloads `model.bpk` and its `model.json` of version `v` into `dir`;
/// returns the `.bpk` path.
async fn fetch_native(objects: &Objects, v: &ModelVersion, dir: &Path) -> Result<PathBuf, OpsError> {
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

/// Downloads what serves version `v` (its ONNX when it has one, else its
/// native weights) into `dir`; returns the file to load.
pub async fn fetch_servable(objects: &Objects, v: &ModelVersion, dir: &Path) -> Result<PathBuf, OpsError> {
    let onnx = format!("{}/model.onnx", v.artifact_key);
    if objects.exists(&onnx).await? {
        let path = dir.join("model.onnx");
        fetch(objects, &onnx, &path).await?;
        return Ok(path);
    }
    fetch_native(objects, v, dir).await
}

/// The plain file names directly under a version's artifact prefix (sorted).
pub async fn artifact_files(objects: &Objects, v: &ModelVersion) -> Result<Vec<String>, OpsError> {
    let prefix = format!("{}/", v.artifact_key.trim_end_matches('/'));
    let mut names: Vec<String> = objects
        .list(prefix.trim_end_matches('/'))
        .await?
        .into_iter()
        .filter_map(|k| k.strip_prefix(&prefix).map(str::to_string))
        .filter(|n| !n.is_empty() && !n.contains('/'))
        .collect();
    names.sort();
    Ok(names)
}

/// One file of version `name@version` (`model.onnx`, `model.bpk`,
/// `model.json`, `metrics.json`): a plain file name of its artifact, else
/// not found.
pub async fn artifact_file(
    db: &Db,
    objects: &Objects,
    name: &str,
    version: i64,
    file: &str,
) -> Result<bytes::Bytes, OpsError> {
    if detective_core::names::check_segment("file", file).is_err() {
        return Err(OpsError::invalid(format!(
            "{file:?} is not a plain file name (letters, digits, '.', '_', '-')"
        )));
    }
    let v = detective_store::models::get_version(db, name, version)
        .await
        .map_err(|_| OpsError::not_found(format!("registered model version {name}@{version}")))?;
    if !artifact_files(objects, &v).await?.iter().any(|f| f == file) {
        return Err(OpsError::not_found(format!("file {file:?} of {name}@{version}")));
    }
    let key = format!("{}/{file}", v.artifact_key.trim_end_matches('/'));
    Ok(objects.get(&key).await?)
}
