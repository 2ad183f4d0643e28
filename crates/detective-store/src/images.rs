//! Uploaded images: one row per (project, content hash); the bytes live in the
//! object store under `projects/{project}/images/{sha256}.{ext}`.

use serde::{Deserialize, Serialize};
use sqlx::Row;

use crate::clock::{now_ms, to_rfc3339};
use crate::sql_args::{Arg, Args, like_literal};
use crate::{Db, StoreError};

/// An image to record (its bytes already stored under `object_key`).
#[derive(Debug, Clone)]
pub struct NewImage {
    pub project: String,
    pub sha256: String,
    pub object_key: String,
    pub filename: String,
    pub content_type: String,
    pub width: u32,
    pub height: u32,
    pub bytes: u64,
    pub split: Option<String>,
    pub tags: Vec<String>,
    /// YOLO label text (`class cx cy w h` lines), if one came with the image.
    pub label: Option<String>,
    /// Object key of its segmentation mask (a binary PNG), if one came with it.
    pub mask_key: Option<String>,
}

/// A stored image.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImageRow {
    pub id: i64,
    pub project: String,
    pub sha256: String,
    pub object_key: String,
    pub filename: String,
    pub content_type: String,
    pub width: i64,
    pub height: i64,
    pub bytes: i64,
    pub split: Option<String>,
    pub tags: Vec<String>,
    pub label: Option<String>,
    /// Object key of the image's segmentation mask (binary PNG); None: no mask.
    pub mask_key: Option<String>,
    /// Its newest label revision made in the app (None: none yet).
    pub label_rev: Option<i64>,
    /// `unlabelled`, `labelled` or `reviewed`.
    pub label_status: String,
    pub created_at: String,
}

const COLUMNS: &str = "id, project, sha256, object_key, filename, content_type, width, height, bytes, split, tags, label, mask_key, label_rev, label_status, created_at";

/// The statuses of an image's labels.
pub const LABEL_STATUSES: [&str; 3] = ["unlabelled", "labelled", "reviewed"];

pub(crate) fn image_row(r: &sqlx::any::AnyRow) -> Result<ImageRow, StoreError> {
    let tags: String = r.try_get("tags")?;
    Ok(ImageRow {
        id: r.try_get("id")?,
        project: r.try_get("project")?,
        sha256: r.try_get("sha256")?,
        object_key: r.try_get("object_key")?,
        filename: r.try_get("filename")?,
        content_type: r.try_get("content_type")?,
        width: r.try_get("width")?,
        height: r.try_get("height")?,
        bytes: r.try_get("bytes")?,
        split: r.try_get("split")?,
        tags: serde_json::from_str(&tags)?,
        label: r.try_get("label")?,
        mask_key: r.try_get("mask_key")?,
        label_rev: r.try_get("label_rev")?,
        label_status: r.try_get("label_status")?,
        created_at: to_rfc3339(r.try_get("created_at")?),
    })
}

/// Records an image; if the project already has these bytes, returns the stored
/// row and `true` (duplicate) without changing it.
pub async fn insert(db: &Db, img: &NewImage) -> Result<(ImageRow, bool), StoreError> {
    let mut tx = db.begin_write().await?;
    let id: Option<i64> = sqlx::query_scalar(
        "INSERT INTO images (project, sha256, object_key, filename, content_type, width, height, bytes, split, tags, label, mask_key, label_status, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) ON CONFLICT (project, sha256) DO NOTHING RETURNING id",
    )
    .bind(&img.project)
    .bind(&img.sha256)
    .bind(&img.object_key)
    .bind(&img.filename)
    .bind(&img.content_type)
    .bind(img.width as i64)
    .bind(img.height as i64)
    .bind(img.bytes as i64)
    .bind(img.split.clone())
    .bind(serde_json::to_string(&img.tags)?)
    .bind(img.label.clone())
    .bind(img.mask_key.clone())
    .bind(if img.label.is_some() || img.mask_key.is_some() {
        "labelled"
    } else {
        "unlabelled"
    })
    .bind(now_ms())
    .fetch_optional(tx.conn())
    .await?;
    tx.commit().await?;
    match id {
        Some(id) => Ok((get(db, id).await?, false)),
        None => {
            let row = sqlx::query(&format!(
                "SELECT {COLUMNS} FROM images WHERE project = $1 AND sha256 = $2"
            ))
            .bind(&img.project)
            .bind(&img.sha256)
            .fetch_one(db.pool())
            .await?;
            Ok((image_row(&row)?, true))
        }
    }
}

/// Gives image `id` the mask stored under `mask_key` (None: no mask); the
/// versions of datasets made before keep the mask they hold. An unlabelled
/// image given a mask is labelled.
pub async fn set_mask(db: &Db, id: i64, mask_key: Option<&str>) -> Result<ImageRow, StoreError> {
    let mut tx = db.begin_write().await?;
    let done = sqlx::query(
        "UPDATE images SET mask_key = $1, label_status = CASE WHEN $1 IS NOT NULL AND label_status = 'unlabelled' \
         THEN 'labelled' ELSE label_status END WHERE id = $2",
    )
    .bind(mask_key.map(str::to_string))
    .bind(id)
    .execute(tx.conn())
    .await?;
    tx.commit().await?;
    if done.rows_affected() == 0 {
        return Err(StoreError::not_found(format!("image {id}")));
    }
    get(db, id).await
}

pub async fn get(db: &Db, id: i64) -> Result<ImageRow, StoreError> {
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM images WHERE id = $1"))
        .bind(id)
        .fetch_optional(db.pool())
        .await?
        .ok_or_else(|| StoreError::not_found(format!("image {id}")))?;
    image_row(&row)
}

/// Filters of the image list.
#[derive(Debug, Clone, Default)]
pub struct ImageFilter {
    pub project: Option<String>,
    pub tag: Option<String>,
    pub split: Option<String>,
    /// `unlabelled`, `labelled` or `reviewed`.
    pub status: Option<String>,
}

/// Images matching `f`, oldest first, after image id `after`; and the next cursor.
pub async fn list(
    db: &Db,
    f: &ImageFilter,
    after: Option<i64>,
    limit: usize,
) -> Result<(Vec<ImageRow>, Option<String>), StoreError> {
    let limit = limit.clamp(1, 10_000);
    let mut args = Args::new(db.backend());
    let mut conds = vec![format!("id > {}", args.push(Arg::I64(after.unwrap_or(0))))];
    if let Some(p) = &f.project {
        conds.push(format!("project = {}", args.push(Arg::Str(p.clone()))));
    }
    if let Some(t) = &f.tag {
        let pat = format!("%{}%", like_literal(&serde_json::to_string(t)?));
        conds.push(format!("tags LIKE {} ESCAPE '\\'", args.push(Arg::Str(pat))));
    }
    if let Some(s) = &f.split {
        conds.push(format!("split = {}", args.push(Arg::Str(s.clone()))));
    }
    if let Some(s) = &f.status {
        conds.push(format!("label_status = {}", args.push(Arg::Str(s.clone()))));
    }
    let pl = args.push(Arg::I64(limit as i64 + 1));
    let sql = format!(
        "SELECT {COLUMNS} FROM images WHERE {} ORDER BY id LIMIT {pl}",
        conds.join(" AND ")
    );
    let rows = args.bind_all(sqlx::query(&sql)).fetch_all(db.pool()).await?;
    let mut out: Vec<ImageRow> = rows.iter().map(image_row).collect::<Result<_, _>>()?;
    let next = if out.len() > limit {
        out.truncate(limit);
        out.last().map(|r| r.id.to_string())
    } else {
        None
    };
    Ok((out, next))
}

/// The images with these ids, in id order; an unknown id is an error naming it.
pub async fn get_many(db: &Db, ids: &[i64]) -> Result<Vec<ImageRow>, StoreError> {
    let mut out = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(500) {
        let mut args = Args::new(db.backend());
        let ph: Vec<String> = chunk.iter().map(|i| args.push(Arg::I64(*i))).collect();
        let sql = format!(
            "SELECT {COLUMNS} FROM images WHERE id IN ({}) ORDER BY id",
            ph.join(", ")
        );
        let rows = args.bind_all(sqlx::query(&sql)).fetch_all(db.pool()).await?;
        for r in &rows {
            out.push(image_row(r)?);
        }
    }
    out.sort_by_key(|r| r.id);
    out.dedup_by_key(|r| r.id);
    let mut wanted: Vec<i64> = ids.to_vec();
    wanted.sort_unstable();
    wanted.dedup();
    if let Some(missing) = wanted
        .iter()
        .find(|id| out.binary_search_by_key(*id, |r| r.id).is_err())
    {
        return Err(StoreError::not_found(format!("image {missing}")));
    }
    Ok(out)
}
