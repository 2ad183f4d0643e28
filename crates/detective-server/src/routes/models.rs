//! The model registry, read side: `GET /api/models` (models with their version
//! counts), `GET /api/models/{name}/versions` (stage, metrics, artifact of each),
//! and `GET /api/models/{name}/versions/{v}/files/{file}`, which hands an edge
//! agent (or anyone who may fetch models) one file of a version's artifact —
//! `model.onnx`, `model.bpk`, `model.json`, `metrics.json` — so it can run the
//! Production model that `GET /api/model-status` names.

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use detective_core::Action;
use detective_store::models::{Model, ModelVersion};

use crate::auth::Caller;
use crate::problem::{ApiError, ApiResult};
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
