//! Datasets: create (version 1) from image ids, a tag or explicit splits; add
//! versions; list; show; export a version as a YOLOv8 or COCO zip, also written
//! unzipped under `projects/{project}/datasets/{name}/v{n}/` in the object store. The
//! use cases are `detective_ops::datasets`; these handlers parse and answer.

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use detective_ops::datasets::{self, CreateDataset, ExportFormat, NewVersion};
use detective_store::datasets::Dataset;
use serde::Deserialize;
use serde_json::json;
use utoipa::IntoParams;

use crate::auth::{Can, ManageData, Read};
use crate::problem::{ApiJson, ApiQuery, ApiResult};
use crate::state::AppState;

/// Creates a dataset and its version 1.
#[utoipa::path(post, path = "/api/datasets/create", request_body = CreateDataset,
    responses((status = 200, description = "the dataset with its versions")), security(("bearer" = [])))]
pub async fn create(
    State(st): State<AppState>,
    _: Can<ManageData>,
    ApiJson(req): ApiJson<CreateDataset>,
) -> ApiResult<Json<Dataset>> {
    Ok(Json(datasets::create(&st.db, req).await?))
}

/// Adds a version: the latest one plus `add`, minus `remove`.
#[utoipa::path(post, path = "/api/datasets/{id}/versions", request_body = NewVersion,
    responses((status = 200, description = "the dataset with its versions")), security(("bearer" = [])))]
pub async fn add_version(
    State(st): State<AppState>,
    _: Can<ManageData>,
    Path(id): Path<i64>,
    ApiJson(req): ApiJson<NewVersion>,
) -> ApiResult<Json<Dataset>> {
    Ok(Json(datasets::add_version(&st.db, id, req).await?))
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    pub project: Option<String>,
}

/// Lists datasets as `{items, next}` (one page).
#[utoipa::path(get, path = "/api/datasets", params(ListQuery), responses((status = 200, description = "{items, next}")), security(("bearer" = [])))]
pub async fn list(
    State(st): State<AppState>,
    _: Can<Read>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> ApiResult<Json<serde_json::Value>> {
    let items = datasets::list(&st.db, q.project.as_deref()).await?;
    Ok(Json(json!({ "items": items, "next": null })))
}

/// One dataset with its versions.
#[utoipa::path(get, path = "/api/datasets/{id}", responses((status = 200, description = "the dataset")), security(("bearer" = [])))]
pub async fn get(State(st): State<AppState>, _: Can<Read>, Path(id): Path<i64>) -> ApiResult<Json<Dataset>> {
    Ok(Json(datasets::get(&st.db, id).await?))
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ExportQuery {
    /// Version number (default: the latest).
    pub version: Option<i64>,
    /// `yolov8` (default) or `coco`.
    pub format: Option<String>,
}

/// Streams a version as a zip (YOLOv8: data.yaml, images/{split}/, labels/{split}/;
/// COCO: images/{split}/ and annotations/instances_{split}.json) and writes the
/// YOLOv8 layout unzipped under `projects/{project}/datasets/{name}/v{n}/`.
#[utoipa::path(get, path = "/api/datasets/{id}/export", params(ExportQuery),
    responses((status = 200, content_type = "application/zip", description = "the dataset as a zip")), security(("bearer" = [])))]
pub async fn export(
    State(st): State<AppState>,
    _: Can<Read>,
    Path(id): Path<i64>,
    ApiQuery(q): ApiQuery<ExportQuery>,
) -> ApiResult<Response> {
    let format: ExportFormat = q.format.as_deref().unwrap_or("yolov8").parse()?;
    let zip = datasets::export(&st.db, &st.objects, id, q.version, format).await?;
    let headers = [
        (header::CONTENT_TYPE, "application/zip".to_string()),
        (header::CONTENT_LENGTH, zip.len.to_string()),
        (
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{}\"", zip.filename),
        ),
    ];
    Ok((
        headers,
        Body::from_stream(file_stream(tokio::fs::File::from_std(zip.file))),
    )
        .into_response())
}

/// A file as a stream of chunks, for a streamed response body; ends after an error.
fn file_stream(file: tokio::fs::File) -> impl futures::Stream<Item = std::io::Result<bytes::Bytes>> {
    futures::stream::unfold(Some(file), |state| async move {
        use tokio::io::AsyncReadExt;
        let mut f = state?;
        let mut buf = vec![0u8; 256 * 1024];
        match f.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok(bytes::Bytes::from(buf)), Some(f)))
            }
            Err(e) => Some((Err(e), None)),
        }
    })
}
