//! Datasets: create (version 1) from image ids, a tag or explicit splits; add
//! versions; list; show; export a version as a YOLOv8 or COCO zip, also written
//! unzipped under `projects/{project}/datasets/v{n}/` in the object store.

use std::collections::BTreeMap;
use std::io::Write;

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use detective_core::Action;
use detective_core::names::check_segment;
use detective_store::datasets::{self, DatasetItem, SPLITS, VersionChange};
use detective_store::images::{ImageFilter, ImageRow};
use serde::Deserialize;
use serde_json::json;
use utoipa::{IntoParams, ToSchema};

use crate::auth::Caller;
use crate::problem::{ApiError, ApiJson, ApiQuery, ApiResult};
use crate::state::AppState;

/// Most images in one dataset version built through the API.
const MAX_ITEMS: usize = 100_000;

/// Body of `POST /api/datasets/create`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateDataset {
    pub name: String,
    pub project: String,
    /// `detect` (default) or `segment`.
    #[serde(default)]
    pub task: Option<String>,
    /// Class names in index order.
    pub classes: Vec<String>,
    /// Images to include (of the project).
    #[serde(default)]
    pub image_ids: Vec<i64>,
    /// Or: every image of the project with this tag.
    #[serde(default)]
    pub tag: Option<String>,
    /// Fractions for train/val/test of images without a split of their own
    /// (default 0.7 / 0.15 / 0.15), assigned deterministically by content hash.
    #[serde(default)]
    pub split_ratios: Option<BTreeMap<String, f64>>,
    /// Or: explicit image ids per split.
    #[serde(default)]
    pub splits: Option<BTreeMap<String, Vec<i64>>>,
    #[serde(default)]
    pub note: Option<String>,
}

/// Body of `POST /api/datasets/{id}/versions`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewVersion {
    /// Images to add (labels and split from the image unless `splits` names them).
    #[serde(default)]
    pub add: Vec<i64>,
    /// Explicit split per added image id.
    #[serde(default)]
    pub splits: Option<BTreeMap<String, Vec<i64>>>,
    #[serde(default)]
    pub remove: Vec<i64>,
    /// New YOLO label text per image id (`""`: no defects), for added images or
    /// images already in the dataset.
    #[serde(default)]
    pub labels: BTreeMap<i64, String>,
    #[serde(default)]
    pub note: Option<String>,
}

fn check_ratios(r: &BTreeMap<String, f64>) -> Result<[f64; 3], ApiError> {
    let mut out = [0.0; 3];
    for (k, v) in r {
        let i = SPLITS
            .iter()
            .position(|s| s == k)
            .ok_or_else(|| ApiError::bad_request(format!("split_ratios: {k:?} is not train, val or test")))?;
        if !(v.is_finite() && *v >= 0.0) {
            return Err(ApiError::bad_request("split_ratios must be finite and >= 0"));
        }
        out[i] = *v;
    }
    let sum: f64 = out.iter().sum();
    if (sum - 1.0).abs() > 1e-6 {
        return Err(ApiError::bad_request(format!("split_ratios must sum to 1, not {sum}")));
    }
    Ok(out)
}

/// Splits for images without one, by content-hash order (the same images give the
/// same split every time).
fn assign_splits(images: &[ImageRow], ratios: [f64; 3], explicit: &BTreeMap<i64, String>) -> Vec<DatasetItem> {
    let mut free: Vec<&ImageRow> = images
        .iter()
        .filter(|i| !explicit.contains_key(&i.id) && i.split.is_none())
        .collect();
    free.sort_by(|a, b| a.sha256.cmp(&b.sha256));
    let n = free.len();
    let n_train = (ratios[0] * n as f64).round() as usize;
    let n_val = ((ratios[1] * n as f64).round() as usize).min(n - n_train.min(n));
    let mut by_id: BTreeMap<i64, String> = BTreeMap::new();
    for (k, img) in free.iter().enumerate() {
        let s = if k < n_train {
            "train"
        } else if k < n_train + n_val {
            "val"
        } else {
            "test"
        };
        by_id.insert(img.id, s.to_string());
    }
    images
        .iter()
        .map(|img| DatasetItem {
            image_id: img.id,
            split: explicit
                .get(&img.id)
                .cloned()
                .or_else(|| img.split.clone())
                .or_else(|| by_id.get(&img.id).cloned())
                .unwrap_or_else(|| "train".into()),
            label: img.label.clone(),
        })
        .collect()
}

fn explicit_splits(splits: &Option<BTreeMap<String, Vec<i64>>>) -> Result<BTreeMap<i64, String>, ApiError> {
    let mut out = BTreeMap::new();
    for (split, ids) in splits.iter().flatten() {
        if !SPLITS.contains(&split.as_str()) {
            return Err(ApiError::bad_request(format!(
                "splits: {split:?} is not train, val or test"
            )));
        }
        for id in ids {
            if out.insert(*id, split.clone()).is_some() {
                return Err(ApiError::bad_request(format!("image {id} is in two splits")));
            }
        }
    }
    Ok(out)
}

async fn images_with_tag(st: &AppState, project: &str, tag: &str) -> Result<Vec<i64>, ApiError> {
    let f = ImageFilter {
        project: Some(project.to_string()),
        tag: Some(tag.to_string()),
        split: None,
    };
    let mut ids = Vec::new();
    let mut after = None;
    loop {
        let (rows, next) = detective_store::images::list(&st.db, &f, after, 1000).await?;
        ids.extend(rows.iter().map(|r| r.id));
        if ids.len() > MAX_ITEMS {
            return Err(ApiError::too_large(format!("more than {MAX_ITEMS} images")));
        }
        match next {
            Some(n) => after = n.parse().ok(),
            None => return Ok(ids),
        }
    }
}

/// Creates a dataset and its version 1.
#[utoipa::path(post, path = "/api/datasets/create", request_body = CreateDataset,
    responses((status = 200, description = "the dataset with its versions")), security(("bearer" = [])))]
pub async fn create(
    State(st): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<CreateDataset>,
) -> ApiResult<Json<datasets::Dataset>> {
    caller.require(Action::ManageData)?;
    check_segment("dataset name", &req.name).map_err(|e| ApiError::bad_request(e.to_string()))?;
    check_segment("project", &req.project).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let task = req.task.clone().unwrap_or_else(|| "detect".into());
    if !matches!(task.as_str(), "detect" | "segment") {
        return Err(ApiError::bad_request(format!("task {task:?} is not detect or segment")));
    }
    if req.classes.is_empty()
        || req
            .classes
            .iter()
            .any(|c| c.is_empty() || c.len() > 64 || c.chars().any(char::is_control))
    {
        return Err(ApiError::bad_request(
            "classes must be a non-empty list of names (1..64 characters)",
        ));
    }
    let explicit = explicit_splits(&req.splits)?;
    let mut ids: Vec<i64> = req.image_ids.clone();
    ids.extend(explicit.keys());
    if let Some(tag) = &req.tag {
        ids.extend(images_with_tag(&st, &req.project, tag).await?);
    }
    ids.sort_unstable();
    ids.dedup();
    if ids.is_empty() {
        return Err(ApiError::bad_request("name the images: image_ids, tag or splits"));
    }
    if ids.len() > MAX_ITEMS {
        return Err(ApiError::too_large(format!("more than {MAX_ITEMS} images")));
    }
    let ratios = check_ratios(
        &req.split_ratios
            .clone()
            .unwrap_or_else(|| BTreeMap::from([("train".into(), 0.7), ("val".into(), 0.15), ("test".into(), 0.15)])),
    )?;
    let images = detective_store::images::get_many(&st.db, &ids).await?;
    let items = assign_splits(&images, ratios, &explicit);
    let ds = datasets::create(
        &st.db,
        &req.name,
        &req.project,
        &task,
        &req.classes,
        &items,
        req.note.as_deref(),
    )
    .await?;
    Ok(Json(ds))
}

/// Adds a version: the latest one plus `add`, minus `remove`.
#[utoipa::path(post, path = "/api/datasets/{id}/versions", request_body = NewVersion,
    responses((status = 200, description = "the dataset with its versions")), security(("bearer" = [])))]
pub async fn add_version(
    State(st): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
    ApiJson(req): ApiJson<NewVersion>,
) -> ApiResult<Json<datasets::Dataset>> {
    caller.require(Action::ManageData)?;
    let explicit = explicit_splits(&req.splits)?;
    let mut ids = req.add.clone();
    ids.extend(explicit.keys());
    ids.sort_unstable();
    ids.dedup();
    let images = detective_store::images::get_many(&st.db, &ids).await?;
    let upsert = assign_splits(&images, [0.7, 0.15, 0.15], &explicit);
    let mut labels = BTreeMap::new();
    for (image, text) in req.labels {
        let label = crate::routes::images::check_label(&text)
            .map_err(|e| ApiError::bad_request(format!("labels[{image}]: {e}")))?;
        labels.insert(image, Some(label).filter(|l| !l.is_empty()));
    }
    let change = VersionChange {
        upsert,
        remove: req.remove,
        labels,
        note: req.note,
    };
    Ok(Json(datasets::add_version(&st.db, id, &change).await?))
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
    caller: Caller,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> ApiResult<Json<serde_json::Value>> {
    caller.require(Action::Read)?;
    let items = datasets::list(&st.db, q.project.as_deref()).await?;
    Ok(Json(json!({ "items": items, "next": null })))
}

/// One dataset with its versions.
#[utoipa::path(get, path = "/api/datasets/{id}", responses((status = 200, description = "the dataset")), security(("bearer" = [])))]
pub async fn get(
    State(st): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> ApiResult<Json<datasets::Dataset>> {
    caller.require(Action::Read)?;
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

fn file_stem(img: &ImageRow) -> String {
    img.sha256.clone()
}

fn file_ext(img: &ImageRow) -> &str {
    img.object_key.rsplit_once('.').map(|(_, e)| e).unwrap_or("jpg")
}

/// Streams a version as a zip (YOLOv8: data.yaml, images/{split}/, labels/{split}/;
/// COCO: images/{split}/ and annotations/instances_{split}.json) and writes the
/// YOLOv8 layout unzipped under `projects/{project}/datasets/v{n}/`.
#[utoipa::path(get, path = "/api/datasets/{id}/export", params(ExportQuery),
    responses((status = 200, content_type = "application/zip", description = "the dataset as a zip")), security(("bearer" = [])))]
pub async fn export(
    State(st): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
    ApiQuery(q): ApiQuery<ExportQuery>,
) -> ApiResult<Response> {
    caller.require(Action::Read)?;
    let format = q.format.clone().unwrap_or_else(|| "yolov8".into());
    if !matches!(format.as_str(), "yolov8" | "coco") {
        return Err(ApiError::bad_request(format!(
            "format {format:?} is not yolov8 or coco"
        )));
    }
    let ds = datasets::get(&st.db, id).await?;
    let version = match q.version {
        Some(v) => v,
        None => ds.versions.last().map(|v| v.version).unwrap_or(1),
    };
    let items = datasets::items(&st.db, id, version).await?;
    let split_names: Vec<&str> = SPLITS
        .iter()
        .copied()
        .filter(|s| items.iter().any(|(i, _)| i.split == *s))
        .collect();
    let data_yaml = detective_data::data_yaml::DataYaml::text(&ds.classes, &split_names);
    let prefix = detective_store::keys::dataset_version(&ds.project, version);

    let tmp = tempfile::tempfile().map_err(|e| ApiError::internal(format!("temporary file: {e}")))?;
    let mut zip = zip::ZipWriter::new(tmp);
    let stored = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    let deflated = zip::write::SimpleFileOptions::default();
    let zerr = |e: zip::result::ZipError| ApiError::internal(format!("writing the zip: {e}"));
    let ierr = |e: std::io::Error| ApiError::internal(format!("writing the zip: {e}"));

    // COCO bookkeeping.
    let mut coco: BTreeMap<String, detective_data::coco::CocoFile> = BTreeMap::new();
    let mut ann_id = 1u64;
    let categories: Vec<detective_data::coco::CocoCategory> = ds
        .classes
        .iter()
        .enumerate()
        .map(|(i, n)| detective_data::coco::CocoCategory {
            id: i as u64 + 1,
            name: n.clone(),
            supercategory: None,
        })
        .collect();

    st.objects
        .put(&format!("{prefix}/data.yaml"), data_yaml.clone().into())
        .await?;
    if format == "yolov8" {
        zip.start_file("data.yaml", deflated).map_err(zerr)?;
        zip.write_all(data_yaml.as_bytes()).map_err(ierr)?;
    }
    for (item, img) in &items {
        let bytes = st.objects.get(&img.object_key).await?;
        let name = format!("{}.{}", file_stem(img), file_ext(img));
        let label = item.label.clone().unwrap_or_default();
        let label_name = format!("{}.txt", file_stem(img));
        st.objects
            .put(&format!("{prefix}/images/{}/{name}", item.split), bytes.clone())
            .await?;
        st.objects
            .put(
                &format!("{prefix}/labels/{}/{label_name}", item.split),
                label.clone().into(),
            )
            .await?;
        zip.start_file(format!("images/{}/{name}", item.split), stored)
            .map_err(zerr)?;
        zip.write_all(&bytes).map_err(ierr)?;
        if format == "yolov8" {
            zip.start_file(format!("labels/{}/{label_name}", item.split), deflated)
                .map_err(zerr)?;
            zip.write_all(label.as_bytes()).map_err(ierr)?;
        } else {
            let file = coco
                .entry(item.split.clone())
                .or_insert_with(|| detective_data::coco::CocoFile {
                    images: Vec::new(),
                    annotations: Vec::new(),
                    categories: categories.clone(),
                });
            let image_id = img.id as u64;
            file.images.push(detective_data::coco::CocoImage {
                id: image_id,
                file_name: name.clone(),
                width: img.width as u32,
                height: img.height as u32,
            });
            let (labels, _) = detective_data::labels::parse_labels(&label);
            for l in labels {
                let [x1, y1, x2, y2] = l.to_xyxy(img.width as u32, img.height as u32);
                file.annotations.push(detective_data::coco::CocoAnnotation {
                    id: ann_id,
                    image_id,
                    category_id: l.class as u64 + 1,
                    bbox: [x1, y1, x2 - x1, y2 - y1],
                    area: (x2 - x1) * (y2 - y1),
                    iscrowd: 0,
                });
                ann_id += 1;
            }
        }
    }
    for (split, file) in &coco {
        let text = serde_json::to_vec_pretty(file).map_err(|e| ApiError::internal(e.to_string()))?;
        zip.start_file(format!("annotations/instances_{split}.json"), deflated)
            .map_err(zerr)?;
        zip.write_all(&text).map_err(ierr)?;
    }
    let mut file = zip.finish().map_err(zerr)?;
    use std::io::Seek;
    file.seek(std::io::SeekFrom::Start(0)).map_err(ierr)?;
    let len = file.metadata().map_err(ierr)?.len();
    let stream = tokio_util_stream(tokio::fs::File::from_std(file));
    let filename = format!("{}-v{version}-{format}.zip", ds.name);
    Ok((
        [
            (header::CONTENT_TYPE, "application/zip".to_string()),
            (header::CONTENT_LENGTH, len.to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{filename}\""),
            ),
        ],
        Body::from_stream(stream),
    )
        .into_response())
}

/// A file as a stream of chunks, for a streamed response body; ends after an error.
fn tokio_util_stream(file: tokio::fs::File) -> impl futures::Stream<Item = std::io::Result<bytes::Bytes>> {
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
