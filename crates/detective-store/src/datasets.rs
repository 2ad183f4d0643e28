//! Datasets and their immutable versions: a version is a fixed list of images,
//! each with its split and label. A new version copies the previous one and
//! applies additions, label changes and removals; old versions never change.

use std::collections::BTreeMap;

use detective_core::Task;
use serde::{Deserialize, Serialize};
use sqlx::Row;

use crate::clock::{now_ms, to_rfc3339};
use crate::images::{ImageRow, image_row};
use crate::sql_args::{Arg, Args};
use crate::{Db, StoreError};

/// The splits a dataset item can be in.
pub const SPLITS: [&str; 3] = ["train", "val", "test"];

/// One image of a version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DatasetItem {
    pub image_id: i64,
    pub split: String,
    /// YOLO label text; `None` means a background image (no defects).
    pub label: Option<String>,
    /// Object key of the image's segmentation mask in this version (None: no
    /// defect pixels, or a detection dataset).
    #[serde(default)]
    pub mask_key: Option<String>,
    /// The label revision of the image this version holds (None: a label that
    /// was not made in the app, or given with the version itself).
    #[serde(default)]
    pub label_rev: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Dataset {
    pub id: i64,
    pub name: String,
    pub project: String,
    pub task: Task,
    pub classes: Vec<String>,
    pub created_at: String,
    pub versions: Vec<DatasetVersion>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DatasetVersion {
    pub id: i64,
    pub version: i64,
    pub note: Option<String>,
    pub n_images: i64,
    /// Images per split.
    pub splits: BTreeMap<String, i64>,
    pub created_at: String,
}

fn check_items(items: &[DatasetItem]) -> Result<(), StoreError> {
    for it in items {
        if !SPLITS.contains(&it.split.as_str()) {
            return Err(StoreError::Invalid(format!(
                "image {}: split {:?} is not train, val or test",
                it.image_id, it.split
            )));
        }
    }
    Ok(())
}

async fn insert_items(tx: &mut crate::db::WriteTx, version_id: i64, items: &[DatasetItem]) -> Result<(), StoreError> {
    for chunk in items.chunks(200) {
        let mut args = Args::new(tx.backend());
        let rows: Vec<String> = chunk
            .iter()
            .map(|it| {
                let v = [
                    args.push(Arg::I64(version_id)),
                    args.push(Arg::I64(it.image_id)),
                    args.push(Arg::Str(it.split.clone())),
                    args.push(Arg::OptStr(it.label.clone())),
                    args.push(Arg::OptStr(it.mask_key.clone())),
                    args.push(Arg::OptI64(it.label_rev)),
                ];
                format!("({})", v.join(", "))
            })
            .collect();
        let sql = format!(
            "INSERT INTO dataset_items (version_id, image_id, split, label, mask_key, label_rev) VALUES {}",
            rows.join(", ")
        );
        args.bind_all(sqlx::query(&sql)).execute(tx.conn()).await?;
    }
    Ok(())
}

async fn insert_version(
    tx: &mut crate::db::WriteTx,
    dataset_id: i64,
    version: i64,
    note: Option<&str>,
    items: &[DatasetItem],
) -> Result<i64, StoreError> {
    let vid: i64 = sqlx::query_scalar(
        "INSERT INTO dataset_versions (dataset_id, version, note, n_images, created_at) VALUES ($1, $2, $3, $4, $5) RETURNING id",
    )
    .bind(dataset_id)
    .bind(version)
    .bind(note.map(str::to_string))
    .bind(items.len() as i64)
    .bind(now_ms())
    .fetch_one(tx.conn())
    .await?;
    insert_items(tx, vid, items).await?;
    Ok(vid)
}

/// Fails unless every image exists and belongs to `project`.
async fn check_project(db: &Db, ids: &[i64], project: &str) -> Result<(), StoreError> {
    let images = crate::images::get_many(db, ids).await?;
    if let Some(img) = images.iter().find(|i| i.project != project) {
        return Err(StoreError::Invalid(format!(
            "image {} belongs to project {}, not {project}",
            img.id, img.project
        )));
    }
    Ok(())
}

/// Creates a dataset with version 1 holding `items` (images of `project`).
pub async fn create(
    db: &Db,
    name: &str,
    project: &str,
    task: Task,
    classes: &[String],
    items: &[DatasetItem],
    note: Option<&str>,
) -> Result<Dataset, StoreError> {
    check_items(items)?;
    if items.is_empty() {
        return Err(StoreError::Invalid("a dataset needs at least one image".into()));
    }
    let ids: Vec<i64> = items.iter().map(|i| i.image_id).collect();
    check_project(db, &ids, project).await?;
    let mut tx = db.begin_write().await?;
    let taken: Option<i64> = sqlx::query_scalar("SELECT id FROM datasets WHERE project = $1 AND name = $2")
        .bind(project)
        .bind(name)
        .fetch_optional(tx.conn())
        .await?;
    if taken.is_some() {
        return Err(StoreError::Conflict(format!(
            "project {project} already has a dataset named {name:?}"
        )));
    }
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO datasets (name, project, task, classes, created_at) VALUES ($1, $2, $3, $4, $5) RETURNING id",
    )
    .bind(name)
    .bind(project)
    .bind(task.as_str())
    .bind(serde_json::to_string(classes)?)
    .bind(now_ms())
    .fetch_one(tx.conn())
    .await?;
    insert_version(&mut tx, id, 1, note, items).await?;
    tx.commit().await?;
    get(db, id).await
}

/// What a new version changes against the latest one.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct VersionChange {
    /// Images to add, or to move/relabel when already in the dataset.
    #[serde(default)]
    pub upsert: Vec<DatasetItem>,
    /// Image ids to drop.
    #[serde(default)]
    pub remove: Vec<i64>,
    /// New labels (YOLO text; `None`: background) for images of the new version.
    #[serde(default)]
    pub labels: BTreeMap<i64, Option<String>>,
    #[serde(default)]
    pub note: Option<String>,
}

/// Makes the next version of dataset `id`: the latest version's items with
/// `change` applied. Returns the dataset with all its versions.
pub async fn add_version(db: &Db, id: i64, change: &VersionChange) -> Result<Dataset, StoreError> {
    check_items(&change.upsert)?;
    if change.upsert.is_empty() && change.remove.is_empty() && change.labels.is_empty() {
        return Err(StoreError::Invalid(
            "a new version must add, change or remove at least one image".into(),
        ));
    }
    let ds = get(db, id).await?;
    let ids: Vec<i64> = change.upsert.iter().map(|i| i.image_id).collect();
    if !ids.is_empty() {
        check_project(db, &ids, &ds.project).await?;
    }
    let mut tx = db.begin_write().await?;
    let latest =
        sqlx::query("SELECT id, version FROM dataset_versions WHERE dataset_id = $1 ORDER BY version DESC LIMIT 1")
            .bind(id)
            .fetch_one(tx.conn())
            .await?;
    let (latest_id, latest_version): (i64, i64) = (latest.try_get("id")?, latest.try_get("version")?);
    let rows =
        sqlx::query("SELECT image_id, split, label, mask_key, label_rev FROM dataset_items WHERE version_id = $1")
            .bind(latest_id)
            .fetch_all(tx.conn())
            .await?;
    let mut items: BTreeMap<i64, DatasetItem> = BTreeMap::new();
    for r in &rows {
        let it = DatasetItem {
            image_id: r.try_get("image_id")?,
            split: r.try_get("split")?,
            label: r.try_get("label")?,
            mask_key: r.try_get("mask_key")?,
            label_rev: r.try_get("label_rev")?,
        };
        items.insert(it.image_id, it);
    }
    for rid in &change.remove {
        if items.remove(rid).is_none() {
            return Err(StoreError::Invalid(format!(
                "image {rid} is not in version {latest_version}"
            )));
        }
    }
    for it in &change.upsert {
        items.insert(it.image_id, it.clone());
    }
    for (image, label) in &change.labels {
        match items.get_mut(image) {
            Some(it) => {
                it.label = label.clone();
                it.label_rev = None;
            }
            None => {
                return Err(StoreError::Invalid(format!(
                    "labels: image {image} is not in the new version"
                )));
            }
        }
    }
    if items.is_empty() {
        return Err(StoreError::Invalid("the new version would have no images".into()));
    }
    let items: Vec<DatasetItem> = items.into_values().collect();
    insert_version(&mut tx, id, latest_version + 1, change.note.as_deref(), &items).await?;
    tx.commit().await?;
    get(db, id).await
}

fn dataset_row(r: &sqlx::any::AnyRow) -> Result<Dataset, StoreError> {
    let classes: String = r.try_get("classes")?;
    Ok(Dataset {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        project: r.try_get("project")?,
        task: r.try_get::<String, _>("task")?.parse()?,
        classes: serde_json::from_str(&classes)?,
        created_at: to_rfc3339(r.try_get("created_at")?),
        versions: Vec::new(),
    })
}

async fn versions_of(db: &Db, dataset_id: i64) -> Result<Vec<DatasetVersion>, StoreError> {
    let rows = sqlx::query(
        "SELECT v.id, v.version, v.note, v.n_images, v.created_at, i.split, COUNT(i.image_id) AS n \
         FROM dataset_versions v LEFT JOIN dataset_items i ON i.version_id = v.id \
         WHERE v.dataset_id = $1 GROUP BY v.id, v.version, v.note, v.n_images, v.created_at, i.split ORDER BY v.version, i.split",
    )
    .bind(dataset_id)
    .fetch_all(db.pool())
    .await?;
    let mut out: Vec<DatasetVersion> = Vec::new();
    for r in &rows {
        let vid: i64 = r.try_get("id")?;
        if out.last().is_none_or(|v| v.id != vid) {
            out.push(DatasetVersion {
                id: vid,
                version: r.try_get("version")?,
                note: r.try_get("note")?,
                n_images: r.try_get("n_images")?,
                splits: BTreeMap::new(),
                created_at: to_rfc3339(r.try_get("created_at")?),
            });
        }
        if let (Some(split), Some(v)) = (r.try_get::<Option<String>, _>("split")?, out.last_mut()) {
            v.splits.insert(split, r.try_get("n")?);
        }
    }
    Ok(out)
}

/// A dataset with its versions.
pub async fn get(db: &Db, id: i64) -> Result<Dataset, StoreError> {
    let row = sqlx::query("SELECT id, name, project, task, classes, created_at FROM datasets WHERE id = $1")
        .bind(id)
        .fetch_optional(db.pool())
        .await?
        .ok_or_else(|| StoreError::not_found(format!("dataset {id}")))?;
    let mut ds = dataset_row(&row)?;
    ds.versions = versions_of(db, id).await?;
    Ok(ds)
}

/// Datasets (of one project, or all), by id, with their versions.
pub async fn list(db: &Db, project: Option<&str>) -> Result<Vec<Dataset>, StoreError> {
    let rows = match project {
        Some(p) => {
            sqlx::query(
                "SELECT id, name, project, task, classes, created_at FROM datasets WHERE project = $1 ORDER BY id",
            )
            .bind(p.to_string())
            .fetch_all(db.pool())
            .await?
        }
        None => {
            sqlx::query("SELECT id, name, project, task, classes, created_at FROM datasets ORDER BY id")
                .fetch_all(db.pool())
                .await?
        }
    };
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        let mut ds = dataset_row(r)?;
        ds.versions = versions_of(db, ds.id).await?;
        out.push(ds);
    }
    Ok(out)
}

/// (dataset id, version number) of the version whose database id is `version_id`.
pub async fn version_of_id(db: &Db, version_id: i64) -> Result<(i64, i64), StoreError> {
    let row = sqlx::query("SELECT dataset_id, version FROM dataset_versions WHERE id = $1")
        .bind(version_id)
        .fetch_optional(db.pool())
        .await?
        .ok_or_else(|| StoreError::not_found(format!("dataset version id {version_id}")))?;
    Ok((row.try_get("dataset_id")?, row.try_get("version")?))
}

/// The items of one version with their images, by image id.
pub async fn items(db: &Db, dataset_id: i64, version: i64) -> Result<Vec<(DatasetItem, ImageRow)>, StoreError> {
    let vid: i64 = sqlx::query_scalar("SELECT id FROM dataset_versions WHERE dataset_id = $1 AND version = $2")
        .bind(dataset_id)
        .bind(version)
        .fetch_optional(db.pool())
        .await?
        .ok_or_else(|| StoreError::not_found(format!("version {version} of dataset {dataset_id}")))?;
    let rows = sqlx::query(
        "SELECT d.split AS item_split, d.label AS item_label, d.mask_key AS item_mask, d.label_rev AS item_rev, i.id, i.project, i.sha256, \
         i.object_key, i.filename, i.content_type, i.width, i.height, i.bytes, i.split, i.tags, i.label, i.mask_key, i.label_rev, \
         i.label_status, i.created_at \
         FROM dataset_items d JOIN images i ON i.id = d.image_id WHERE d.version_id = $1 ORDER BY i.id",
    )
    .bind(vid)
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|r| {
            let img = image_row(r)?;
            Ok((
                DatasetItem {
                    image_id: img.id,
                    split: r.try_get("item_split")?,
                    label: r.try_get("item_label")?,
                    mask_key: r.try_get("item_mask")?,
                    label_rev: r.try_get("item_rev")?,
                },
                img,
            ))
        })
        .collect()
}
