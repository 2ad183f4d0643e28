//! Brings an MLflow model version into our registry: its files are found
//! through `model-versions/get-download-uri` and the tracking server's
//! artifact proxy; the ONNX artifact (an Ultralytics export, or ours) — or our
//! own `model.bpk` + `model.json` — is registered as the next version of a name
//! of ours, as an upload would be, and remembers where it came from.

use std::path::Path;

use detective_store::models::ModelVersion;
use detective_store::{Db, Objects};

use super::client::Client;
use crate::OpsError;
use crate::registry::{ModelUpload, register_upload};

/// Largest artifact folder listed (entries).
const MAX_LISTED: usize = 1000;

/// What to import.
#[derive(Debug, Clone)]
pub struct ImportRequest {
    /// The MLflow registered model and version (a number, or `@alias`).
    pub mlflow_name: String,
    pub mlflow_version: String,
    /// The name in our registry (default: the MLflow name).
    pub name: Option<String>,
}

fn upstream(e: super::client::CallError) -> OpsError {
    OpsError::Upstream(e.to_string())
}

/// The version number an alias (`@production`) points at.
async fn resolve_version(client: &Client, name: &str, version: &str) -> Result<String, OpsError> {
    match version.strip_prefix('@') {
        Some(alias) => client.alias_version(name, alias).await.map_err(upstream),
        None if version.parse::<u64>().is_ok() => Ok(version.to_string()),
        None => Err(OpsError::invalid(format!(
            "version {version:?}: a number, or @alias (like @production)"
        ))),
    }
}

/// The model files of an artifact folder (searched one level down too:
/// `model/model.onnx`), by file name.
async fn model_files(client: &Client, root: &str) -> Result<Vec<String>, OpsError> {
    let mut found = Vec::new();
    let mut folders = vec![String::new()];
    for depth in 0..2 {
        let mut next = Vec::new();
        for f in &folders {
            for (path, is_dir) in client
                .list_proxy(root, f)
                .await
                .map_err(upstream)?
                .into_iter()
                .take(MAX_LISTED)
            {
                let rel = if f.is_empty() {
                    path.clone()
                } else {
                    format!("{f}/{path}")
                };
                if is_dir && depth == 0 {
                    next.push(rel);
                } else if !is_dir && [".onnx", ".bpk", ".json"].iter().any(|e| rel.ends_with(e)) {
                    found.push(rel);
                }
            }
        }
        folders = next;
    }
    Ok(found)
}

/// Imports the version `req` names; the new version of ours.
pub async fn import(
    db: &Db,
    objects: &Objects,
    client: &Client,
    work_dir: &Path,
    req: &ImportRequest,
) -> Result<ModelVersion, OpsError> {
    let version = resolve_version(client, &req.mlflow_name, &req.mlflow_version).await?;
    let root = client
        .download_uri(&req.mlflow_name, &version)
        .await
        .map_err(upstream)?;
    let files = model_files(client, &root).await?;
    let pick = |ext: &str| {
        files
            .iter()
            .filter(|f| f.ends_with(ext))
            .min_by_key(|f| (!f.ends_with(&format!("model{ext}")), f.len()))
            .cloned()
    };
    let (onnx, bpk, json) = (pick(".onnx"), pick(".bpk"), pick(".json"));
    let chosen: Vec<String> = match (&bpk, &json, &onnx) {
        (Some(b), Some(j), _) => vec![b.clone(), j.clone()],
        (_, _, Some(o)) => vec![o.clone()],
        _ => {
            return Err(OpsError::invalid(format!(
                "MLflow model {}/{version} holds no .onnx (nor our model.bpk + model.json): found {files:?}",
                req.mlflow_name
            )));
        }
    };
    let dir = work_dir.join(format!("mlflow-import-{}", uuid::Uuid::new_v4().simple()));
    tokio::fs::create_dir_all(&dir)
        .await
        .map_err(|e| OpsError::io(dir.display(), e))?;
    let result = async {
        let mut up = ModelUpload::default();
        up.name = Some(req.name.clone().unwrap_or_else(|| req.mlflow_name.clone()));
        for f in &chosen {
            let bytes = client.download(&root, f).await.map_err(upstream)?;
            let file_name = f.rsplit('/').next().unwrap_or(f);
            up.add_file(&dir, file_name, &bytes).await?;
        }
        let v = register_upload(db, objects, work_dir, &dir, up).await?;
        let origin = serde_json::json!({"mlflow": {"name": req.mlflow_name, "version": version, "source": root}});
        detective_store::models::merge_params(db, &v.name, v.version, &origin).await?;
        Ok(detective_store::models::get_version(db, &v.name, v.version).await?)
    }
    .await;
    let _ = tokio::fs::remove_dir_all(&dir).await;
    result
}
