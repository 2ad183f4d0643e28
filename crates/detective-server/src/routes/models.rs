//! The model registry: `GET /api/models` (models with their version counts),
//! `GET /api/models/{name}/versions` (stage, metrics, artifact of each),
//! `POST /api/models/register` (a finished training job or an uploaded model
//! file), `POST /api/models/{name}/versions/{v}/stage`,
//! `POST /api/models/{name}/rollback`, `GET /api/models/compare?a=&b=`,
//! and `GET /api/models/{name}/versions/{v}/files/{file}`, which hands an edge
//! agent (or anyone who may fetch models) one file of a version's artifact —
//! `model.onnx`, `model.bpk`, `model.json`, `metrics.json` — so it can run the
//! Production model that `GET /api/model-status` names.

use axum::Json;
use axum::body::Body;
use axum::extract::{FromRequest, Path, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use detective_core::Action;
use detective_store::models::{Model, ModelVersion};
use serde::Deserialize;
use serde_json::json;
use utoipa::IntoParams;

use crate::auth::Caller;
use crate::problem::{ApiError, ApiJson, ApiMultipart, ApiQuery, ApiResult};
use crate::state::AppState;

/// Registered models, by name.
#[utoipa::path(get, path = "/api/models", responses((status = 200, description = "{\"items\": [model]}")), security(("bearer" = [])))]
pub async fn list(State(st): State<AppState>, caller: Caller) -> ApiResult<Json<serde_json::Value>> {
    caller.require(Action::Read)?;
    let items: Vec<Model> = detective_store::models::list(&st.db).await?;
    Ok(Json(serde_json::json!({ "items": items, "next": null })))
}

/// The versions of one model, newest first.
#[utoipa::path(get, path = "/api/models/{name}/versions", params(("name" = String, Path, description = "model name")),
    responses((status = 200, description = "{\"items\": [version]}"), (status = 404, description = "unknown model")),
    security(("bearer" = [])))]
pub async fn versions(
    State(st): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<Json<serde_json::Value>> {
    caller.require(Action::Read)?;
    let items = detective_store::models::versions(&st.db, &name).await?;
    Ok(Json(serde_json::json!({ "items": items, "next": null })))
}

/// The plain file names directly under a version's artifact prefix (sorted).
pub async fn artifact_files(st: &AppState, v: &ModelVersion) -> Result<Vec<String>, ApiError> {
    let prefix = format!("{}/", v.artifact_key.trim_end_matches('/'));
    let mut names: Vec<String> = st
        .objects
        .list(prefix.trim_end_matches('/'))
        .await?
        .into_iter()
        .filter_map(|k| k.strip_prefix(&prefix).map(str::to_string))
        .filter(|n| !n.is_empty() && !n.contains('/'))
        .collect();
    names.sort();
    Ok(names)
}

/// A file name a client may ask for: one plain path segment.
fn plain_file_name(name: &str) -> bool {
    detective_core::names::check_segment("file", name).is_ok()
}

#[utoipa::path(
    get,
    path = "/api/models/{name}/versions/{version}/files/{file}",
    params(
        ("name" = String, Path, description = "registered model name"),
        ("version" = i64, Path, description = "version number"),
        ("file" = String, Path, description = "file of the artifact, e.g. model.onnx"),
    ),
    responses(
        (status = 200, description = "the file's bytes (application/octet-stream)"),
        (status = 404, description = "no such version or file"),
    ),
    security(("bearer" = []))
)]
pub async fn file(
    State(st): State<AppState>,
    caller: Caller,
    Path((name, version, file)): Path<(String, i64, String)>,
) -> ApiResult<Response> {
    caller.require(Action::FetchModel)?;
    if !plain_file_name(&file) {
        return Err(ApiError::bad_request(format!(
            "{file:?} is not a plain file name (letters, digits, '.', '_', '-')"
        )));
    }
    let v = detective_store::models::get_version(&st.db, &name, version)
        .await
        .map_err(|_| ApiError::not_found(format!("no registered model version {name}@{version}")))?;
    if !artifact_files(&st, &v).await?.contains(&file) {
        return Err(ApiError::not_found(format!("{name}@{version} has no file {file:?}")));
    }
    let key = format!("{}/{file}", v.artifact_key.trim_end_matches('/'));
    let bytes = st.objects.get(&key).await?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_string()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{file}\"")),
        ],
        Body::from(bytes),
    )
        .into_response())
}

/// Largest uploaded model file.
const MAX_MODEL_BYTES: usize = 512 * 1024 * 1024;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegisterJob {
    /// A succeeded (or stopped) training job.
    pub job_id: i64,
    /// Registry name (default: the job's model name).
    #[serde(default)]
    pub name: Option<String>,
}

#[utoipa::path(post, path = "/api/models/register",
    request_body(content = Object, description = "JSON {job_id, name?} to register a finished training job, or multipart/form-data with `name` and either one Ultralytics/our `.onnx` file or our `.bpk` + its `.json`"),
    responses((status = 201, description = "the new version (stage None)"), (status = 400, description = "bad request")),
    security(("bearer" = [])))]
pub async fn register(
    State(st): State<AppState>,
    caller: Caller,
    req: Request,
) -> ApiResult<(StatusCode, Json<ModelVersion>)> {
    caller.require(Action::Operate)?;
    let ctype = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let v = if ctype.starts_with("multipart/form-data") {
        let ApiMultipart(mp) = ApiMultipart::from_request(req, &st).await?;
        register_upload(&st, mp).await?
    } else {
        let ApiJson(body) = ApiJson::<RegisterJob>::from_request(req, &st).await?;
        detective_ops::registry::register_job(
            &st.db,
            &st.objects,
            &st.settings.work_dir,
            body.job_id,
            body.name.as_deref(),
        )
        .await?
    };
    tracing::info!(model = %v.name, version = v.version, by = %caller.key_name, "model version registered");
    Ok((StatusCode::CREATED, Json(v)))
}

/// An uploaded model: `.onnx` (Ultralytics' export or ours, with `names` metadata)
/// or our `.bpk` + `.json` (exported to ONNX for serving).
async fn register_upload(st: &AppState, mut mp: axum::extract::Multipart) -> ApiResult<ModelVersion> {
    let dir =
        tempfile::tempdir_in(std::env::temp_dir()).map_err(|e| ApiError::internal(format!("temporary folder: {e}")))?;
    let mut name: Option<String> = None;
    let mut dataset: (Option<String>, Option<String>) = (None, None);
    let mut files: Vec<(String, std::path::PathBuf)> = Vec::new();
    while let Some(field) = mp.next_field().await? {
        let field_name = field.name().unwrap_or("").to_string();
        match field_name.as_str() {
            "name" => {
                name = Some(field.text().await?.trim().to_string());
                continue;
            }
            "dataset_id" => {
                dataset.0 = Some(field.text().await?.trim().to_string());
                continue;
            }
            "dataset_version" => {
                dataset.1 = Some(field.text().await?.trim().to_string());
                continue;
            }
            _ => {}
        }
        let filename = field.file_name().unwrap_or("").to_ascii_lowercase();
        let ext = filename
            .rsplit_once('.')
            .map(|(_, e)| e.to_string())
            .unwrap_or_default();
        if !matches!(ext.as_str(), "onnx" | "bpk" | "json") {
            return Err(ApiError::bad_request(format!(
                "file {filename:?}: expected a .onnx, or a .bpk with its .json"
            )));
        }
        if files.iter().any(|(e, _)| *e == ext) {
            return Err(ApiError::bad_request(format!("two .{ext} files")));
        }
        let bytes = field.bytes().await?;
        if bytes.len() > MAX_MODEL_BYTES {
            return Err(ApiError::too_large(format!(
                "a model file is limited to {MAX_MODEL_BYTES} bytes"
            )));
        }
        let path = dir.path().join(format!("model.{ext}"));
        tokio::fs::write(&path, &bytes)
            .await
            .map_err(|e| ApiError::internal(e.to_string()))?;
        files.push((ext, path));
    }
    let name = name
        .filter(|n| !n.is_empty())
        .ok_or_else(|| ApiError::bad_request("field `name` is required"))?;
    detective_core::names::check_segment("name", &name).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let has = |e: &str| files.iter().any(|(x, _)| x == e);
    let onnx = dir.path().join("model.onnx");
    // The dataset it was trained on: its version is where the metrics are measured.
    let on = match dataset {
        (Some(d), v) => {
            let d: i64 = d
                .parse()
                .map_err(|_| ApiError::bad_request("dataset_id must be a number"))?;
            let ds = detective_store::datasets::get(&st.db, d).await?;
            let ver = match v {
                Some(v) => v
                    .parse::<i64>()
                    .map_err(|_| ApiError::bad_request("dataset_version must be a number"))?,
                None => ds.versions.last().map_or(1, |v| v.version),
            };
            let dv = ds
                .versions
                .iter()
                .find(|x| x.version == ver)
                .ok_or_else(|| ApiError::bad_request(format!("dataset {d} has no version {ver}")))?;
            Some((d, ver, dv.id))
        }
        (None, Some(_)) => return Err(ApiError::bad_request("dataset_version needs dataset_id")),
        (None, None) => None,
    };
    let (kind, extra) = if has("bpk") {
        if !has("json") {
            return Err(ApiError::bad_request(
                "a .bpk needs its .json (the metadata written next to it)",
            ));
        }
        let (bpk, out) = (dir.path().join("model.bpk"), onnx.clone());
        let exported = tokio::task::spawn_blocking(move || detective_ml::export::export_checkpoint(&bpk, None, &out))
            .await
            .map_err(|e| ApiError::internal(e.to_string()))?;
        exported.map_err(|e| ApiError::bad_request(format!("the uploaded weights do not load: {e}")))?;
        let meta = detective_ml::checkpoint::load_meta(&dir.path().join("model.bpk"))
            .map_err(|e| ApiError::bad_request(format!("the uploaded metadata: {e}")))?;
        ("native", json!({"model": meta.scale.as_str(), "imgsz": meta.imgsz}))
    } else if has("onnx") {
        let proto = detective_ml::export::read_onnx(&onnx)
            .map_err(|e| ApiError::bad_request(format!("the uploaded file is not a readable ONNX model: {e}")))?;
        if !proto.metadata_props.iter().any(|p| p.key.as_deref() == Some("names")) {
            return Err(ApiError::bad_request(
                "the ONNX model has no `names` metadata (Ultralytics' export writes it): class names are unknown",
            ));
        }
        ("onnx", json!({}))
    } else {
        return Err(ApiError::bad_request(
            "no model file: send a .onnx, or a .bpk with its .json",
        ));
    };
    let mut upload: Vec<(&str, std::path::PathBuf)> = vec![("model.onnx", onnx)];
    if kind == "native" {
        upload.push(("model.bpk", dir.path().join("model.bpk")));
        upload.push(("model.json", dir.path().join("model.json")));
    }
    let mut params = json!({"source": "upload", "format": kind});
    if let Some(o) = params.as_object_mut()
        && let Some(m) = extra.as_object()
    {
        o.extend(m.clone());
    }
    let v = detective_ops::registry::add_with_files(
        &st.db,
        &st.objects,
        &name,
        "detect",
        &json!({}),
        &params,
        on.map(|(_, _, id)| id),
        &upload,
    )
    .await?;
    match on {
        // Measured on the dataset's validation split, as a trained version is.
        Some((d, ver, _)) => {
            let m = detective_ops::registry::evaluate(&st.db, &st.objects, &st.settings.work_dir, &v, d, ver).await?;
            Ok(detective_store::models::set_metrics(&st.db, &v.name, v.version, &m).await?)
        }
        None => Ok(v),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StageRequest {
    /// None, Staging, Production or Archived.
    pub stage: String,
}

#[utoipa::path(post, path = "/api/models/{name}/versions/{version}/stage",
    params(("name" = String, Path, description = "model"), ("version" = i64, Path, description = "version")),
    request_body(content = Object, description = "{stage: None|Staging|Production|Archived}"),
    responses((status = 200, description = "the version; a new Production archives the previous one")), security(("bearer" = [])))]
pub async fn stage(
    State(st): State<AppState>,
    caller: Caller,
    Path((name, version)): Path<(String, i64)>,
    ApiJson(body): ApiJson<StageRequest>,
) -> ApiResult<Json<ModelVersion>> {
    caller.require(Action::Operate)?;
    let stage = detective_ops::registry::stage_of(&body.stage).ok_or_else(|| {
        ApiError::bad_request(format!(
            "stage {:?} is not None, Staging, Production or Archived",
            body.stage
        ))
    })?;
    let v = detective_store::models::set_stage(&st.db, &name, version, stage).await?;
    if stage == "Production" {
        st.served.changed.notify_one();
    }
    tracing::info!(model = %name, version, stage, by = %caller.key_name, "model stage set");
    Ok(Json(v))
}

#[utoipa::path(post, path = "/api/models/{name}/rollback", params(("name" = String, Path, description = "model")),
    responses((status = 200, description = "{restored, archived}"), (status = 409, description = "nothing to roll back to")),
    security(("bearer" = [])))]
pub async fn rollback(
    State(st): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<Json<serde_json::Value>> {
    caller.require(Action::Operate)?;
    let (restored, archived) = detective_store::models::rollback(&st.db, &name).await?;
    st.served.changed.notify_one();
    tracing::info!(model = %name, restored = restored.version, archived = archived.version, by = %caller.key_name, "model rolled back");
    Ok(Json(json!({"restored": restored, "archived": archived})))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct CompareQuery {
    /// First version: `name@3` (or `name@Production`, …).
    pub a: String,
    /// Second version.
    pub b: String,
    /// Evaluate both on this dataset's validation split now (with `version`).
    pub dataset: Option<i64>,
    pub version: Option<i64>,
}

#[utoipa::path(get, path = "/api/models/compare", params(CompareQuery),
    responses((status = 200, description = "metrics side by side on the same validation set, per-class deltas (b − a), the better one")),
    security(("bearer" = [])))]
pub async fn compare(
    State(st): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<CompareQuery>,
) -> ApiResult<Json<serde_json::Value>> {
    caller.require(Action::Read)?;
    let on = match (q.dataset, q.version) {
        (Some(d), Some(v)) => Some((d, v)),
        (Some(d), None) => {
            let ds = detective_store::datasets::get(&st.db, d).await?;
            Some((d, ds.versions.last().map_or(1, |v| v.version)))
        }
        (None, Some(_)) => return Err(ApiError::bad_request("version needs dataset")),
        (None, None) => None,
    };
    let out = detective_ops::registry::compare(&st.db, &st.objects, &st.settings.work_dir, &q.a, &q.b, on).await?;
    Ok(Json(out))
}

#[cfg(test)]
mod tests {
    use super::plain_file_name;

    #[test]
    fn only_plain_file_names_are_served() {
        for ok in ["model.onnx", "model.bpk", "metrics.json", "best-v2_x.onnx"] {
            assert!(plain_file_name(ok), "{ok}");
        }
        for bad in ["", ".env", "../model.onnx", "a/b", "a\\b", "model onnx", "mödel.onnx"] {
            assert!(!plain_file_name(bad), "{bad}");
        }
    }
}
