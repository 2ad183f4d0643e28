//! Labels made in the app: every save of an image's labels is a new revision
//! (shapes as JSON, the YOLO text derived from them, the mask keys), and the
//! image row points at its newest one with its status. A save names the
//! revision it was made from, so two people editing one image cannot overwrite
//! each other unseen. Also each project's class list (name, colour, icon).

use serde::{Deserialize, Serialize};
use sqlx::Row;

use crate::clock::{now_ms, to_rfc3339};
use crate::{Db, StoreError};

/// A revision to save.
#[derive(Debug, Clone)]
pub struct NewRevision {
    /// The revision the edit started from (None: the image had none).
    pub base: Option<i64>,
    /// `labelled` or `reviewed`.
    pub status: String,
    /// The shapes as JSON (the ops layer's type).
    pub shapes: String,
    /// YOLO label text of the boxes (`""`: no defects).
    pub label: String,
    /// The combined segmentation mask (None: no defect pixels).
    pub mask_key: Option<String>,
    /// The brush layer alone (None: nothing painted).
    pub brush_key: Option<String>,
    pub author: String,
}

/// A stored revision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Revision {
    pub image_id: i64,
    pub revision: i64,
    pub status: String,
    pub shapes: String,
    pub label: String,
    pub mask_key: Option<String>,
    pub brush_key: Option<String>,
    pub author: String,
    pub created_at: String,
}

fn revision_row(r: &sqlx::any::AnyRow) -> Result<Revision, StoreError> {
    Ok(Revision {
        image_id: r.try_get("image_id")?,
        revision: r.try_get("revision")?,
        status: r.try_get("status")?,
        shapes: r.try_get("shapes")?,
        label: r.try_get("label")?,
        mask_key: r.try_get("mask_key")?,
        brush_key: r.try_get("brush_key")?,
        author: r.try_get("author")?,
        created_at: to_rfc3339(r.try_get("created_at")?),
    })
}

const REVISION_COLUMNS: &str = "image_id, revision, status, shapes, label, mask_key, brush_key, author, created_at";

/// Saves the next revision of image `image_id` and makes it the image's labels
/// (label text, mask, status). Fails with `Conflict` when the image's newest
/// revision is not `rev.base` (someone saved in between).
pub async fn save(db: &Db, image_id: i64, rev: &NewRevision) -> Result<Revision, StoreError> {
    if rev.status != "labelled" && rev.status != "reviewed" {
        return Err(StoreError::Invalid(format!(
            "status {:?} is not labelled or reviewed",
            rev.status
        )));
    }
    let mut tx = db.begin_write().await?;
    let current: Option<Option<i64>> = sqlx::query_scalar("SELECT label_rev FROM images WHERE id = $1")
        .bind(image_id)
        .fetch_optional(tx.conn())
        .await?;
    let current = current.ok_or_else(|| StoreError::not_found(format!("image {image_id}")))?;
    if current != rev.base {
        return Err(StoreError::Conflict(format!(
            "image {image_id} was saved by someone else meanwhile (revision {}, not {}): reload it",
            current.map_or("none".into(), |r| r.to_string()),
            rev.base.map_or("none".into(), |r| r.to_string()),
        )));
    }
    let next = current.unwrap_or(0) + 1;
    sqlx::query(
        "INSERT INTO image_labels (image_id, revision, status, shapes, label, mask_key, brush_key, author, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(image_id)
    .bind(next)
    .bind(&rev.status)
    .bind(&rev.shapes)
    .bind(&rev.label)
    .bind(rev.mask_key.clone())
    .bind(rev.brush_key.clone())
    .bind(&rev.author)
    .bind(now_ms())
    .execute(tx.conn())
    .await
    .map_err(|e| match e.as_database_error() {
        // Another save of the same base won the race (PostgreSQL's read committed).
        Some(d) if d.is_unique_violation() => StoreError::Conflict(format!(
            "image {image_id} was saved by someone else meanwhile: reload it"
        )),
        _ => e.into(),
    })?;
    sqlx::query("UPDATE images SET label = $1, mask_key = $2, label_rev = $3, label_status = $4 WHERE id = $5")
        .bind(&rev.label)
        .bind(rev.mask_key.clone())
        .bind(next)
        .bind(&rev.status)
        .bind(image_id)
        .execute(tx.conn())
        .await?;
    tx.commit().await?;
    get(db, image_id, next).await
}

/// Revision `revision` of image `image_id`.
pub async fn get(db: &Db, image_id: i64, revision: i64) -> Result<Revision, StoreError> {
    let row = sqlx::query(&format!(
        "SELECT {REVISION_COLUMNS} FROM image_labels WHERE image_id = $1 AND revision = $2"
    ))
    .bind(image_id)
    .bind(revision)
    .fetch_optional(db.pool())
    .await?
    .ok_or_else(|| StoreError::not_found(format!("revision {revision} of the labels of image {image_id}")))?;
    revision_row(&row)
}

/// Every revision of image `image_id`, newest first.
pub async fn history(db: &Db, image_id: i64) -> Result<Vec<Revision>, StoreError> {
    let rows = sqlx::query(&format!(
        "SELECT {REVISION_COLUMNS} FROM image_labels WHERE image_id = $1 ORDER BY revision DESC"
    ))
    .bind(image_id)
    .fetch_all(db.pool())
    .await?;
    rows.iter().map(revision_row).collect()
}

/// The revisions `(image id, revision)` name, in any order; unknown pairs are
/// left out.
pub async fn get_many(db: &Db, wanted: &[(i64, i64)]) -> Result<Vec<Revision>, StoreError> {
    let mut out = Vec::with_capacity(wanted.len());
    for chunk in wanted.chunks(200) {
        let mut args = crate::sql_args::Args::new(db.backend());
        let conds: Vec<String> = chunk
            .iter()
            .map(|(img, rev)| {
                let a = args.push(crate::sql_args::Arg::I64(*img));
                let b = args.push(crate::sql_args::Arg::I64(*rev));
                format!("(image_id = {a} AND revision = {b})")
            })
            .collect();
        let sql = format!(
            "SELECT {REVISION_COLUMNS} FROM image_labels WHERE {}",
            conds.join(" OR ")
        );
        let rows = args.bind_all(sqlx::query(&sql)).fetch_all(db.pool()).await?;
        for r in &rows {
            out.push(revision_row(r)?);
        }
    }
    Ok(out)
}

/// One class of a project's list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProjectClass {
    pub name: String,
    /// `#rrggbb`.
    pub color: String,
    /// One of the dashboard's icon names.
    pub icon: String,
}

/// The class list of `project`, in index order (empty: none set).
pub async fn classes(db: &Db, project: &str) -> Result<Vec<ProjectClass>, StoreError> {
    let rows = sqlx::query("SELECT name, color, icon FROM project_classes WHERE project = $1 ORDER BY idx")
        .bind(project)
        .fetch_all(db.pool())
        .await?;
    rows.iter()
        .map(|r| {
            Ok(ProjectClass {
                name: r.try_get("name")?,
                color: r.try_get("color")?,
                icon: r.try_get("icon")?,
            })
        })
        .collect()
}

/// Replaces the class list of `project` (checked by the caller).
pub async fn set_classes(db: &Db, project: &str, classes: &[ProjectClass]) -> Result<(), StoreError> {
    let mut tx = db.begin_write().await?;
    sqlx::query("DELETE FROM project_classes WHERE project = $1")
        .bind(project)
        .execute(tx.conn())
        .await?;
    for (i, c) in classes.iter().enumerate() {
        sqlx::query("INSERT INTO project_classes (project, idx, name, color, icon) VALUES ($1, $2, $3, $4, $5)")
            .bind(project)
            .bind(i as i64)
            .bind(&c.name)
            .bind(&c.color)
            .bind(&c.icon)
            .execute(tx.conn())
            .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// How many images of `project` have each label status.
pub async fn status_counts(db: &Db, project: &str) -> Result<Vec<(String, i64)>, StoreError> {
    let rows = sqlx::query(
        "SELECT label_status, COUNT(*) AS n FROM images WHERE project = $1 GROUP BY label_status ORDER BY label_status",
    )
    .bind(project)
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|r| Ok((r.try_get("label_status")?, r.try_get("n")?)))
        .collect()
}
