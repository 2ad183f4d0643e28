//! `POST /api/images/upload`: many images in one multipart request, into a
//! project. Text fields `project` (required), `split` and `tags` (comma
//! separated) may come anywhere in the body; every file part is an image, except
//! `NAME.txt`, the YOLO label of the image `NAME.*`. Each image is checked on its
//! own (type sniffed from the bytes, byte and pixel limits, full decode), stored
//! under `projects/{project}/images/{sha256}.{ext}` and de-duplicated by
//! content; the answer lists, per file, its id, whether it was a duplicate, or
//! why it was refused. `GET /api/images` lists them, `GET /api/images/{id}/file`
//! gives one back.

use std::collections::HashMap;

use axum::Json;
use axum::extract::State;
use detective_core::Action;
use detective_core::names::check_segment;
use detective_store::images::{ImageFilter, ImageRow, NewImage};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};
use utoipa::{IntoParams, ToSchema};

use crate::auth::Caller;
use crate::problem::{ApiError, ApiMultipart, ApiQuery, ApiResult};
use crate::state::{AppState, Counters};

/// The outcome for one uploaded file.
#[derive(Debug, Serialize, ToSchema)]
pub struct UploadResult {
    pub file: String,
    /// `stored`, `duplicate` or `refused`.
    pub status: &'static str,
    pub id: Option<i64>,
    pub sha256: Option<String>,
    pub reason: Option<String>,
}

fn refused(file: &str, reason: impl Into<String>) -> UploadResult {
    UploadResult {
        file: file.to_string(),
        status: "refused",
        id: None,
        sha256: None,
        reason: Some(reason.into()),
    }
}

/// A file name as sent, checked: a plain name, no folders, no traversal.
fn plain_name(name: &str) -> Result<String, String> {
    if name.is_empty() {
        return Err("file part has no file name".into());
    }
    if name.contains(['/', '\\']) || name == ".." || name == "." || name.contains('\0') {
        return Err("file name must be a plain name, without folders or '..'".into());
    }
    if name.len() > 255 || name.chars().any(char::is_control) {
        return Err("file name is too long or has control characters".into());
    }
    Ok(name.to_string())
}

fn ext_of(format: &str) -> &'static str {
    match format {
        "jpeg" => "jpg",
        "png" => "png",
        "bmp" => "bmp",
        "tiff" => "tif",
        _ => "webp",
    }
}

/// Checks a YOLO label text (detection boxes); returns it normalised.
pub fn check_label(text: &str) -> Result<String, String> {
    let (labels, issues) = detective_data::labels::parse_labels(text);
    if let Some(i) = issues.first() {
        return Err(format!("label line {}: {}", i.line, i.reason));
    }
    Ok(detective_data::labels::format_labels(&labels))
}

fn stem(name: &str) -> &str {
    name.rsplit_once('.').map(|(s, _)| s).unwrap_or(name)
}

/// Stores uploaded images.
#[utoipa::path(post, path = "/api/images/upload",
    request_body(content_type = "multipart/form-data", description = "fields project, split?, tags?; image files; optional NAME.txt YOLO labels"),
    responses((status = 200, body = Vec<UploadResult>)), security(("bearer" = [])))]
pub async fn upload(
    State(st): State<AppState>,
    caller: Caller,
    ApiMultipart(mut mp): ApiMultipart,
) -> ApiResult<Json<serde_json::Value>> {
    caller.require(Action::ManageData)?;
    let mut project: Option<String> = None;
    let mut split: Option<String> = None;
    let mut tags: Vec<String> = Vec::new();
    let mut files: Vec<(String, bytes::Bytes)> = Vec::new();
    let mut labels: HashMap<String, bytes::Bytes> = HashMap::new();
    let mut results: Vec<UploadResult> = Vec::new();
    while let Some(field) = mp.next_field().await? {
        let name = field.name().unwrap_or("").to_string();
        match (name.as_str(), field.file_name().map(str::to_string)) {
            ("project", None) => project = Some(field.text().await?),
            ("split", None) => split = Some(field.text().await?).filter(|s| !s.is_empty()),
            ("tags", None) => {
                tags = field
                    .text()
                    .await?
                    .split(',')
                    .map(|t| t.trim().to_string())
                    .filter(|t| !t.is_empty())
                    .collect()
            }
            (_, Some(file)) => {
                if files.len() + labels.len() >= st.settings.max_files {
                    return Err(ApiError::too_large(format!(
                        "more than {} files in one request",
                        st.settings.max_files
                    )));
                }
                let bytes = field.bytes().await?;
                match plain_name(&file) {
                    Err(reason) => results.push(refused(&file, reason)),
                    Ok(f) if f.to_ascii_lowercase().ends_with(".txt") => {
                        labels.insert(stem(&f).to_string(), bytes);
                    }
                    Ok(f) => files.push((f, bytes)),
                }
            }
            (other, None) => {
                return Err(ApiError::bad_request(format!(
                    "unexpected field {other:?}: expected project, split, tags and files"
                )));
            }
        }
    }
    let project = project.ok_or_else(|| ApiError::bad_request("field `project` is required"))?;
    check_segment("project", &project).map_err(|e| ApiError::bad_request(e.to_string()))?;
    if let Some(s) = &split
        && !detective_store::datasets::SPLITS.contains(&s.as_str())
    {
        return Err(ApiError::bad_request(format!("split {s:?} is not train, val or test")));
    }
    for t in &tags {
        if t.len() > 64 || t.chars().any(char::is_control) {
            return Err(ApiError::bad_request(
                "tags must be at most 64 printable characters each",
            ));
        }
    }
    if files.is_empty() && results.is_empty() {
        return Err(ApiError::bad_request("no image files in the request"));
    }
    let limits = st.settings.limits;
    for (file, bytes) in files {
        let label = match labels.remove(stem(&file)) {
            Some(b) => match std::str::from_utf8(&b)
                .map_err(|_| "label file is not UTF-8 text".to_string())
                .and_then(check_label)
            {
                Ok(l) => Some(l),
                Err(reason) => {
                    results.push(refused(&file, reason));
                    continue;
                }
            },
            None => None,
        };
        let b = bytes.clone();
        let checked = tokio::task::spawn_blocking(move || {
            let (format, w, h) = detective_vision::decode::probe(&b, &limits)?;
            // A full decode catches truncated and corrupt files that a header read misses.
            detective_vision::decode::decode_image(&b, &limits)?;
            Ok::<_, detective_vision::VisionError>((format, w, h, hex::encode(Sha256::digest(&b))))
        })
        .await
        .map_err(|e| ApiError::internal(format!("image check failed: {e}")))?;
        let (format, w, h, sha) = match checked {
            Ok(c) => c,
            Err(e) => {
                results.push(refused(&file, e.to_string()));
                continue;
            }
        };
        let key = detective_store::keys::image(&project, &sha, ext_of(format));
        if !st.objects.exists(&key).await? {
            st.objects.put(&key, bytes.clone()).await?;
        }
        let (row, duplicate) = detective_store::images::insert(
            &st.db,
            &NewImage {
                project: project.clone(),
                sha256: sha.clone(),
                object_key: key,
                filename: file.clone(),
                content_type: format!("image/{format}"),
                width: w,
                height: h,
                bytes: bytes.len() as u64,
                split: split.clone(),
                tags: tags.clone(),
                label,
            },
        )
        .await?;
        if !duplicate {
            Counters::add(&st.counters.uploads, 1);
        }
        results.push(UploadResult {
            file,
            status: if duplicate { "duplicate" } else { "stored" },
            id: Some(row.id),
            sha256: Some(sha),
            reason: None,
        });
    }
    for name in labels.keys() {
        results.push(refused(
            &format!("{name}.txt"),
            "label file without an image of the same name",
        ));
    }
    let stored = results.iter().filter(|r| r.status == "stored").count();
    let duplicates = results.iter().filter(|r| r.status == "duplicate").count();
    let refused_n = results.iter().filter(|r| r.status == "refused").count();
    Ok(Json(json!({
        "project": project,
        "stored": stored,
        "duplicates": duplicates,
        "refused": refused_n,
        "files": results,
    })))
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ImageQuery {
    pub project: Option<String>,
    pub tag: Option<String>,
    pub split: Option<String>,
    pub limit: Option<usize>,
    pub cursor: Option<String>,
}

/// Lists images, oldest first, as `{items, next}`.
#[utoipa::path(get, path = "/api/images", params(ImageQuery), responses((status = 200, description = "{items, next}")), security(("bearer" = [])))]
pub async fn list(
    State(st): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<ImageQuery>,
) -> ApiResult<Json<serde_json::Value>> {
    caller.require(Action::Read)?;
    let after = q
        .cursor
        .as_deref()
        .map(|c| {
            c.parse::<i64>()
                .map_err(|_| ApiError::bad_request("cursor is not one this API returned"))
        })
        .transpose()?;
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::bad_request("limit must be within 1..1000"));
    }
    let f = ImageFilter {
        project: q.project,
        tag: q.tag,
        split: q.split,
    };
    let (items, next): (Vec<ImageRow>, Option<String>) =
        detective_store::images::list(&st.db, &f, after, limit).await?;
    Ok(Json(json!({ "items": items, "next": next })))
}

/// The stored file of one image, with its content type.
#[utoipa::path(get, path = "/api/images/{id}/file", params(("id" = i64, Path, description = "image id")),
    responses((status = 200, description = "the image bytes"), (status = 404, description = "unknown image")),
    security(("bearer" = [])))]
pub async fn file(
    State(st): State<AppState>,
    caller: Caller,
    axum::extract::Path(id): axum::extract::Path<i64>,
) -> ApiResult<axum::response::Response> {
    use axum::response::IntoResponse;
    caller.require(Action::Read)?;
    let img = detective_store::images::get(&st.db, id).await?;
    let bytes = st.objects.get(&img.object_key).await?;
    Ok((
        [
            (axum::http::header::CONTENT_TYPE, img.content_type),
            (axum::http::header::CACHE_CONTROL, "private, max-age=86400".to_string()),
        ],
        bytes,
    )
        .into_response())
}
