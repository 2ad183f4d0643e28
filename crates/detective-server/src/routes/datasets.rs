//! Datasets: create (version 1) from image ids, a tag or explicit splits, or
//! seed one from the labeling queue's reviewed frames; add
//! versions; list; show; export a version as a YOLOv8 or COCO zip, also written
//! unzipped under `projects/{project}/datasets/{name}/v{n}/` in the object store. The
//! use cases are `detective_ops::datasets`; these handlers parse and answer.

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use detective_ops::datasets::{self, CreateDataset, ExportFormat, NewVersion, SeedDataset, Seeded};
use detective_store::datasets::Dataset;
use serde::Deserialize;
use serde_json::json;
use utoipa::IntoParams;

use crate::auth::{Can, ManageData, Read};
use crate::problem::{ApiJson, ApiPath, ApiQuery, ApiResult};
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

/// Creates a detect or segment dataset (version 1) of a project's frames that
/// people labelled in the labeling queue — by default those an anomaly model
/// sent there: its finds become a supervised model's first data.
#[utoipa::path(post, path = "/api/datasets/seed", request_body = SeedDataset,
    responses((status = 200, description = "{dataset, images, defective, skipped}")), security(("bearer" = [])))]
pub async fn seed(
    State(st): State<AppState>,
    _: Can<ManageData>,
    ApiJson(req): ApiJson<SeedDataset>,
) -> ApiResult<Json<Seeded>> {
    Ok(Json(datasets::seed(&st.db, &st.objects, req).await?))
}

/// Adds a version: the latest one plus `add`, minus `remove`.
#[utoipa::path(post, path = "/api/datasets/{id}/versions", params(("id" = i64, Path, description = "dataset id")), request_body = NewVersion,
    responses((status = 200, description = "the dataset with its versions")), security(("bearer" = [])))]
pub async fn add_version(
    State(st): State<AppState>,
    _: Can<ManageData>,
    ApiPath(id): ApiPath<i64>,
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
#[utoipa::path(get, path = "/api/datasets/{id}", params(("id" = i64, Path, description = "dataset id")), responses((status = 200, description = "the dataset")), security(("bearer" = [])))]
pub async fn get(State(st): State<AppState>, _: Can<Read>, ApiPath(id): ApiPath<i64>) -> ApiResult<Json<Dataset>> {
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
#[utoipa::path(get, path = "/api/datasets/{id}/export", params(("id" = i64, Path, description = "dataset id"), ExportQuery),
    responses((status = 200, content_type = "application/zip", description = "the dataset as a zip")), security(("bearer" = [])))]
pub async fn export(
    State(st): State<AppState>,
    _: Can<Read>,
    ApiPath(id): ApiPath<i64>,
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

/// Reads the import form: text fields `name`, `project`, `note`; the zip (the
/// one file part) is written to a temporary file as it arrives.
async fn read_import(
    mp: &mut axum::extract::Multipart,
) -> ApiResult<(
    Option<String>,
    Option<String>,
    Option<String>,
    Option<tempfile::NamedTempFile>,
)> {
    use tokio::io::AsyncWriteExt;
    let (mut name, mut project, mut note, mut zip) = (None, None, None, None);
    while let Some(mut field) = mp.next_field().await? {
        match (field.name().unwrap_or(""), field.file_name().is_some()) {
            ("name", false) => name = Some(field.text().await?),
            ("project", false) => project = Some(field.text().await?),
            ("note", false) => note = Some(field.text().await?).filter(|n| !n.is_empty()),
            (_, true) if zip.is_none() => {
                let io = |e: std::io::Error| crate::problem::ApiError::internal(format!("temporary file: {e}"));
                let tmp = tempfile::NamedTempFile::new().map_err(io)?;
                let mut out = tokio::fs::File::create(tmp.path()).await.map_err(io)?;
                while let Some(chunk) = field.chunk().await? {
                    out.write_all(&chunk).await.map_err(io)?;
                }
                out.flush().await.map_err(io)?;
                zip = Some(tmp);
            }
            (other, _) => {
                return Err(crate::problem::ApiError::bad_request(format!(
                    "unexpected field {other:?}: expected name, project, note and one zip file"
                )));
            }
        }
    }
    Ok((name, project, note, zip))
}

/// Imports a labelled set sent as a zip (YOLO — Ultralytics, Roboflow — or
/// COCO) as a new dataset: checked by the dataset checker before anything is
/// stored; a set with problems is refused with the checker's findings.
#[utoipa::path(post, path = "/api/datasets/import",
    request_body(content_type = "multipart/form-data", description = "fields name, project, note?; one zip file"),
    responses((status = 200, description = "{dataset, images, duplicates, masks}"),
        (status = 400, description = "not a zip, an unknown layout, or the checker's findings; nothing stored"),
        (status = 409, description = "the project has a dataset of that name")),
    security(("bearer" = [])))]
pub async fn import(
    State(st): State<AppState>,
    _: Can<ManageData>,
    crate::problem::ApiMultipart(mut mp): crate::problem::ApiMultipart,
) -> ApiResult<Json<serde_json::Value>> {
    let missing = |what: &str| crate::problem::ApiError::bad_request(format!("the form needs {what}"));
    let (name, project, note, zip) = read_import(&mut mp).await?;
    let (name, project, zip) = (
        name.ok_or_else(|| missing("a name"))?,
        project.ok_or_else(|| missing("a project"))?,
        zip.ok_or_else(|| missing("a zip file"))?,
    );
    let req = datasets::ImportZip {
        zip: zip.path().to_path_buf(),
        name,
        project,
        note,
        max_unpacked: 4 * st.settings.max_body_bytes as u64,
    };
    let done = datasets::import_zip(&st.db, &st.objects, &st.settings.limits, req).await?;
    Ok(Json(json!({
        "dataset": done.dataset,
        "images": done.images,
        "duplicates": done.duplicates,
        "masks": done.masks,
    })))
}
