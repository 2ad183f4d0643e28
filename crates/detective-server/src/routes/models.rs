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
use axum::extract::{FromRequest, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use detective_core::Stage;
use detective_ops::registry::{self, ModelUpload};
use detective_store::models::{Model, ModelVersion};
use detective_store::shared_events::SharedEvent;
use serde::Deserialize;
use serde_json::json;
use utoipa::IntoParams;

use crate::auth::{Can, FetchModel, Operate, Read};
use crate::problem::{ApiError, ApiJson, ApiMultipart, ApiPath, ApiQuery, ApiResult};
use crate::state::AppState;

/// Registered models, by name.
#[utoipa::path(get, path = "/api/models", responses((status = 200, description = "{\"items\": [model]}")), security(("bearer" = [])))]
pub async fn list(State(st): State<AppState>, _: Can<Read>) -> ApiResult<Json<serde_json::Value>> {
    let items: Vec<Model> = registry::list(&st.db).await?;
    Ok(Json(serde_json::json!({ "items": items, "next": null })))
}

/// The versions of one model, newest first.
#[utoipa::path(get, path = "/api/models/{name}/versions", params(("name" = String, Path, description = "model name")),
    responses((status = 200, description = "{\"items\": [version]}"), (status = 404, description = "unknown model")),
    security(("bearer" = [])))]
pub async fn versions(
    State(st): State<AppState>,
    _: Can<Read>,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<Json<serde_json::Value>> {
    let items = registry::versions_view(&st.db, &name).await?;
    Ok(Json(serde_json::json!({ "items": items, "next": null })))
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
    _: Can<FetchModel>,
    ApiPath((name, version, file)): ApiPath<(String, i64, String)>,
) -> ApiResult<Response> {
    let bytes = registry::artifact_file(&st.db, &st.objects, &name, version, &file).await?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_string()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{file}\"")),
        ],
        Body::from(bytes),
    )
        .into_response())
}

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
    caller: Can<Operate>,
    req: Request,
) -> ApiResult<(StatusCode, Json<ModelVersion>)> {
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
        registry::register_job(
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

/// Reads an uploaded model (multipart: `name`, `dataset_id`?, `dataset_version`?,
/// the files) into a temporary folder and registers it.
async fn register_upload(st: &AppState, mut mp: axum::extract::Multipart) -> ApiResult<ModelVersion> {
    let dir = tempfile::tempdir().map_err(|e| ApiError::internal(format!("temporary folder: {e}")))?;
    let mut up = ModelUpload::default();
    while let Some(field) = mp.next_field().await? {
        match field.name().unwrap_or("") {
            "name" => up.name = Some(field.text().await?.trim().to_string()),
            "dataset_id" => up.dataset_id = Some(field.text().await?.trim().to_string()),
            "dataset_version" => up.dataset_version = Some(field.text().await?.trim().to_string()),
            other => {
                let Some(filename) = field.file_name().map(str::to_string) else {
                    return Err(ApiError::bad_request(format!(
                        "unexpected field {other:?}: expected name, dataset_id, dataset_version and model files"
                    )));
                };
                let bytes = field.bytes().await?;
                up.add_file(dir.path(), &filename, &bytes).await?;
            }
        }
    }
    Ok(registry::register_upload(&st.db, &st.objects, &st.settings.work_dir, dir.path(), up).await?)
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
    caller: Can<Operate>,
    ApiPath((name, version)): ApiPath<(String, i64)>,
    ApiJson(body): ApiJson<StageRequest>,
) -> ApiResult<Json<ModelVersion>> {
    let stage: Stage = body.stage.parse()?;
    let v = registry::promote(&st.db, &name, version, stage).await?;
    if stage == Stage::Production {
        st.announce(SharedEvent::ModelStage {
            task: v.task.to_string(),
        })
        .await;
    }
    tracing::info!(model = %name, version, %stage, by = %caller.key_name, "model stage set");
    Ok(Json(v))
}

#[utoipa::path(post, path = "/api/models/{name}/rollback", params(("name" = String, Path, description = "model")),
    responses((status = 200, description = "{restored, archived}"), (status = 409, description = "nothing to roll back to")),
    security(("bearer" = [])))]
pub async fn rollback(
    State(st): State<AppState>,
    caller: Can<Operate>,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<Json<serde_json::Value>> {
    let (restored, archived) = registry::rollback(&st.db, &name).await?;
    st.announce(SharedEvent::ModelStage {
        task: restored.task.to_string(),
    })
    .await;
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
    /// Two segmenters: show this many validation images with a defect through
    /// both (heatmaps, overlays, Dice and IoU; at most 8, default none).
    pub samples: Option<usize>,
}

#[utoipa::path(get, path = "/api/models/compare", params(CompareQuery),
    responses((status = 200, description = "metrics side by side on the same validation set, per-class deltas (b − a), the better one")),
    security(("bearer" = [])))]
pub async fn compare(
    State(st): State<AppState>,
    _: Can<Read>,
    ApiQuery(q): ApiQuery<CompareQuery>,
) -> ApiResult<Json<serde_json::Value>> {
    let on = registry::validation_set(&st.db, q.dataset, q.version).await?;
    let samples = q.samples.unwrap_or(0);
    if samples > registry::MAX_COMPARE_SAMPLES {
        return Err(ApiError::bad_request(format!(
            "samples must be at most {}",
            registry::MAX_COMPARE_SAMPLES
        )));
    }
    let out = registry::compare(&st.db, &st.objects, &st.settings.work_dir, (&q.a, &q.b), on, samples).await?;
    Ok(Json(out))
}
