//! `POST /api/images/upload`: many images in one multipart request, into a
//! project. Text fields `project` (required), `split` and `tags` (comma
//! separated) may come anywhere in the body; every file part is an image, except
//! `NAME.txt`, the YOLO label of the image `NAME.*`, and a file sent in a part
//! named `mask`, the segmentation mask of the image with its file stem. Each image
//! is checked on its own (type sniffed from the bytes, byte and pixel limits,
//! full decode; its mask: same size), stored under
//! `projects/{project}/images/{sha256}.{ext}` and de-duplicated by content; the
//! answer lists, per file, its id, whether it was a duplicate, or why it was
//! refused. `GET /api/images` lists them, `GET /api/images/{id}/file` gives one
//! back; `PUT`/`GET`/`DELETE /api/images/{id}/mask` set, give and take away an
//! image's mask.

use axum::Json;
use axum::extract::State;
use detective_ops::images::{Upload, UploadReport, UploadResult, file_stem, plain_file_name};
use detective_store::images::ImageFilter;
use serde::Deserialize;
use serde_json::json;
use utoipa::IntoParams;

use crate::auth::{Can, ManageData, Read};
use crate::problem::{ApiError, ApiMultipart, ApiPath, ApiQuery, ApiResult};
use crate::state::{AppState, Counters};

/// Reads the multipart body: text fields anywhere, every file part an image or
/// a `NAME.txt` label; at most `max_files` files. (Public for its fuzz target.)
pub async fn read_upload(mp: &mut axum::extract::Multipart, max_files: usize) -> ApiResult<Upload> {
    let mut up = Upload::default();
    // every file part counts, also one refused for its name or sent twice
    let mut files = 0usize;
    while let Some(field) = mp.next_field().await? {
        let name = field.name().unwrap_or("").to_string();
        match (name.as_str(), field.file_name().map(str::to_string)) {
            ("project", None) => up.project = Some(field.text().await?),
            ("split", None) => up.split = Some(field.text().await?).filter(|s| !s.is_empty()),
            ("tags", None) => {
                let text = field.text().await?;
                up.tags = text
                    .split(',')
                    .map(str::trim)
                    .filter(|t| !t.is_empty())
                    .map(String::from)
                    .collect();
            }
            (_, Some(file)) => {
                if files >= max_files {
                    return Err(ApiError::too_large(format!(
                        "more than {max_files} files in one request"
                    )));
                }
                files += 1;
                let bytes = field.bytes().await?;
                match plain_file_name(&file) {
                    Err(reason) => up.refused.push((file, reason)),
                    Ok(()) if name == "mask" => {
                        up.masks.insert(file_stem(&file).to_string(), bytes);
                    }
                    Ok(()) if file.to_ascii_lowercase().ends_with(".txt") => {
                        up.labels.insert(file_stem(&file).to_string(), bytes);
                    }
                    Ok(()) => up.images.push((file, bytes)),
                }
            }
            (other, None) => {
                return Err(ApiError::bad_request(format!(
                    "unexpected field {other:?}: expected project, split, tags and files"
                )));
            }
        }
    }
    Ok(up)
}

/// Stores uploaded images.
#[utoipa::path(post, path = "/api/images/upload",
    request_body(content_type = "multipart/form-data", description = "fields project, split?, tags?; image files; optional NAME.txt YOLO labels; optional parts named `mask`: the mask of the image with the same file stem"),
    responses((status = 200, body = Vec<UploadResult>)), security(("bearer" = [])))]
pub async fn upload(
    State(st): State<AppState>,
    _: Can<ManageData>,
    ApiMultipart(mut mp): ApiMultipart,
) -> ApiResult<Json<UploadReport>> {
    let form = read_upload(&mut mp, st.settings.max_files).await?;
    let report = detective_ops::images::upload(&st.db, &st.objects, &st.settings.limits, form).await?;
    Counters::add(&st.counters.uploads, report.stored as u64);
    Ok(Json(report))
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ImageQuery {
    pub project: Option<String>,
    pub tag: Option<String>,
    pub split: Option<String>,
    /// Label status: `unlabelled`, `labelled` or `reviewed`.
    pub status: Option<String>,
    pub limit: Option<usize>,
    pub cursor: Option<String>,
}

/// Lists images, oldest first, as `{items, next}`.
#[utoipa::path(get, path = "/api/images", params(ImageQuery), responses((status = 200, description = "{items, next}")), security(("bearer" = [])))]
pub async fn list(
    State(st): State<AppState>,
    _: Can<Read>,
    ApiQuery(q): ApiQuery<ImageQuery>,
) -> ApiResult<Json<serde_json::Value>> {
    let f = ImageFilter {
        project: q.project,
        tag: q.tag,
        split: q.split,
        status: q.status,
    };
    let limit = q.limit.unwrap_or(100);
    let (items, next) = detective_ops::images::list(&st.db, &f, q.cursor.as_deref(), limit).await?;
    Ok(Json(json!({ "items": items, "next": next })))
}

/// The stored file of one image, with its content type.
#[utoipa::path(get, path = "/api/images/{id}/file", params(("id" = i64, Path, description = "image id")),
    responses((status = 200, description = "the image bytes"), (status = 404, description = "unknown image")),
    security(("bearer" = [])))]
pub async fn file(
    State(st): State<AppState>,
    _: Can<Read>,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<axum::response::Response> {
    use axum::response::IntoResponse;
    let (content_type, bytes) = detective_ops::images::file(&st.db, &st.objects, id).await?;
    Ok((
        [
            (axum::http::header::CONTENT_TYPE, content_type),
            (axum::http::header::CACHE_CONTROL, "private, max-age=86400".to_string()),
        ],
        bytes,
    )
        .into_response())
}

/// Sets the segmentation mask of an image: the body (raw, or the first file of
/// a multipart body) is an image of the same size, a defect where a pixel is
/// ≥ 128; stored as a grayscale PNG of 0 and 255. Dataset versions made before
/// keep the mask they hold; a new version that adds the image takes this one.
#[utoipa::path(put, path = "/api/images/{id}/mask", params(("id" = i64, Path, description = "image id")),
    request_body(content_type = "image/png", description = "the mask, the size of the image"),
    responses((status = 200, description = "the image"), (status = 400, description = "not an image of the image's size"),
        (status = 404, description = "unknown image")),
    security(("bearer" = [])))]
pub async fn put_mask(
    State(st): State<AppState>,
    _: Can<ManageData>,
    ApiPath(id): ApiPath<i64>,
    req: axum::extract::Request,
) -> ApiResult<Json<detective_store::images::ImageRow>> {
    let bytes = super::predict::image_bytes(&st, req).await?;
    let row = detective_ops::images::set_mask(&st.db, &st.objects, &st.settings.limits, id, Some(bytes)).await?;
    Ok(Json(row))
}

/// Takes an image's mask away (it is then a defect-free part for segmentation).
#[utoipa::path(delete, path = "/api/images/{id}/mask", params(("id" = i64, Path, description = "image id")),
    responses((status = 200, description = "the image"), (status = 404, description = "unknown image")),
    security(("bearer" = [])))]
pub async fn delete_mask(
    State(st): State<AppState>,
    _: Can<ManageData>,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<detective_store::images::ImageRow>> {
    let row = detective_ops::images::set_mask(&st.db, &st.objects, &st.settings.limits, id, None).await?;
    Ok(Json(row))
}

/// The segmentation mask of an image, a grayscale PNG (255: defect).
#[utoipa::path(get, path = "/api/images/{id}/mask", params(("id" = i64, Path, description = "image id")),
    responses((status = 200, content_type = "image/png", description = "the mask"),
        (status = 404, description = "unknown image, or no mask")),
    security(("bearer" = [])))]
pub async fn mask(
    State(st): State<AppState>,
    _: Can<Read>,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<axum::response::Response> {
    use axum::response::IntoResponse;
    let png = detective_ops::images::mask_file(&st.db, &st.objects, id).await?;
    Ok(([(axum::http::header::CONTENT_TYPE, "image/png")], png).into_response())
}
