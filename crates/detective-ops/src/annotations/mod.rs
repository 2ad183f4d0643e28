//! Annotating any image of a project in the app: read its labels ([`get`]),
//! save a new revision of them ([`put`]: boxes for the detector, polygons and a
//! painted layer for the segmenter, each shape saying whether a person or a
//! model made it), list its revisions ([`history`]). A save becomes the
//! image's label text and mask, which datasets take; a dataset version pins the
//! revision it took, so editing a label later never changes an exported version.
//! The project's class list lives in [`classes`]; [`shapes`] checks and converts.

pub mod classes;
pub mod shapes;

use base64::Engine;
use bytes::Bytes;
use detective_store::annotations::{self, NewRevision, ProjectClass};
use detective_store::images::ImageRow;
use detective_store::{Db, Objects};
use detective_vision::DecodeLimits;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::OpsError;
use crate::images::{CheckedMask, binary_mask, store_mask};
pub use shapes::{BrushOrigin, LabelBox, Polygon, Shapes, Source};

/// The labels of one image, as the editor shows them.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Labels {
    pub image_id: i64,
    pub project: String,
    pub filename: String,
    pub width: u32,
    pub height: u32,
    /// The revision shown (None: none made in the app yet; the boxes then come
    /// from the label file the image came with).
    pub revision: Option<i64>,
    /// The image's newest revision (what a save must name as its base).
    pub latest_revision: Option<i64>,
    /// `unlabelled`, `labelled` or `reviewed`.
    pub status: String,
    pub boxes: Vec<LabelBox>,
    pub polygons: Vec<Polygon>,
    /// Where the painted layer came from; None: nothing painted.
    pub brush: Option<BrushOrigin>,
    /// Whether the image has a segmentation mask (painted layer ∪ polygons).
    pub has_mask: bool,
    pub author: Option<String>,
    pub updated_at: Option<String>,
    /// The project's classes (what `class` indexes).
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<Object>))]
    pub classes: Vec<ProjectClass>,
}

fn labelled() -> String {
    "labelled".into()
}

/// `PUT /api/images/{id}/labels`: the whole new set of labels of an image.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PutLabels {
    /// The revision the edit started from (`latest_revision` of the GET; absent
    /// or null for an image without one). A save over someone else's newer
    /// revision is refused (409) and changes nothing.
    #[serde(default)]
    pub base_revision: Option<i64>,
    /// `labelled` (default) or `reviewed`.
    #[serde(default = "labelled")]
    pub status: String,
    /// Boxes; none with no polygons and no painted layer: a defect-free part.
    #[serde(default)]
    pub boxes: Vec<LabelBox>,
    #[serde(default)]
    pub polygons: Vec<Polygon>,
    /// The painted layer: a PNG (base64, a `data:image/png;base64,` prefix is
    /// fine) of the image's size, a defect where a pixel is ≥ 128. Absent:
    /// nothing painted.
    #[serde(default)]
    pub brush: Option<String>,
    /// Where the painted layer came from (default: a person).
    #[serde(default)]
    pub brush_origin: Option<BrushOrigin>,
}

/// One revision in an image's history.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RevisionSummary {
    pub revision: i64,
    pub status: String,
    pub author: String,
    pub created_at: String,
    pub boxes: usize,
    pub polygons: usize,
    pub painted: bool,
    /// Shapes made by a model and accepted unchanged.
    pub from_model: usize,
}

fn shapes_of(rev: &annotations::Revision) -> Result<Shapes, OpsError> {
    serde_json::from_str(&rev.shapes)
        .map_err(|e| OpsError::Io(format!("stored shapes of revision {}: {e}", rev.revision)))
}

fn size_of(img: &ImageRow) -> (u32, u32) {
    (img.width as u32, img.height as u32)
}

/// The labels of image `id`: its newest revision, or `revision`.
pub async fn get(db: &Db, id: i64, revision: Option<i64>) -> Result<Labels, OpsError> {
    let img = detective_store::images::get(db, id).await?;
    let classes = annotations::classes(db, &img.project).await?;
    let mut out = Labels {
        image_id: img.id,
        project: img.project.clone(),
        filename: img.filename.clone(),
        width: img.width as u32,
        height: img.height as u32,
        revision: None,
        latest_revision: img.label_rev,
        status: img.label_status.clone(),
        boxes: Vec::new(),
        polygons: Vec::new(),
        brush: None,
        has_mask: img.mask_key.is_some(),
        author: None,
        updated_at: None,
        classes,
    };
    match revision.or(img.label_rev) {
        Some(r) => {
            let rev = annotations::get(db, id, r).await?;
            let shapes = shapes_of(&rev)?;
            out.revision = Some(r);
            out.status = rev.status;
            out.has_mask = rev.mask_key.is_some();
            (out.boxes, out.polygons, out.brush) = (shapes.boxes, shapes.polygons, shapes.brush);
            (out.author, out.updated_at) = (Some(rev.author), Some(rev.created_at));
        }
        None => {
            // A label file or mask that came with the upload: shown as imported.
            out.boxes = Shapes::from_yolo(img.label.as_deref().unwrap_or(""), size_of(&img)).boxes;
            out.brush = img.mask_key.as_ref().map(|_| BrushOrigin {
                source: Source::Import,
                ..BrushOrigin::default()
            });
        }
    }
    Ok(out)
}

/// The painted layer (PNG) as sent, from base64 or a data URL.
fn brush_bytes(text: &str) -> Result<Bytes, OpsError> {
    let b64 = text.strip_prefix("data:image/png;base64,").unwrap_or(text);
    base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .map(Bytes::from)
        .map_err(|e| OpsError::invalid(format!("brush: not base64: {e}")))
}

/// The painted layer sent as base64 PNG, checked as a mask of an image of
/// `size` and decoded once: its stored-ready PNG and its pixels; `None` when
/// nothing is painted (a layer with nothing painted is no layer).
async fn painted_layer(
    text: &str,
    size: (u32, u32),
    limits: &DecodeLimits,
) -> Result<Option<(CheckedMask, detective_vision::GrayFrame)>, OpsError> {
    let (bytes, limits) = (brush_bytes(text)?, *limits);
    let (checked, layer) = tokio::task::spawn_blocking(move || binary_mask(&bytes, size, &limits))
        .await
        .map_err(|e| OpsError::io("brush check", e))?
        .map_err(|e| match e {
            OpsError::Unusable(m) => OpsError::Invalid(format!("brush: {m}")),
            other => other,
        })?;
    Ok(layer.data.iter().any(|v| *v > 0).then_some((checked, layer)))
}

/// The combined mask of `shapes` over the painted layer, as a stored-ready PNG
/// (None: no defect pixel).
async fn combined_mask(
    shapes: &Shapes,
    brush: Option<&(CheckedMask, detective_vision::GrayFrame)>,
    size: (u32, u32),
) -> Result<Option<CheckedMask>, OpsError> {
    if shapes.polygons.is_empty() {
        return Ok(brush.map(|(m, _)| m.clone()));
    }
    let (shapes, layer) = (shapes.clone(), brush.map(|(_, l)| l.clone()));
    tokio::task::spawn_blocking(move || {
        let Some(mask) = shapes.mask(layer, size) else {
            return Ok(None);
        };
        let png = detective_vision::encode::encode_gray_png(&mask).map_err(|e| OpsError::Io(format!("mask: {e}")))?;
        Ok(Some(CheckedMask {
            sha256: hex::encode(Sha256::digest(&png)),
            png: Bytes::from(png),
        }))
    })
    .await
    .map_err(|e| OpsError::io("mask", e))?
}

/// Saves a new revision of the labels of image `id` made by `author`; the
/// image's label text, mask and status follow it. Nothing changes when any part
/// is refused.
pub async fn put(
    db: &Db,
    objects: &Objects,
    limits: &DecodeLimits,
    id: i64,
    req: PutLabels,
    author: &str,
) -> Result<Labels, OpsError> {
    let img = detective_store::images::get(db, id).await?;
    let classes = annotations::classes(db, &img.project).await?;
    if classes.is_empty() {
        return Err(OpsError::invalid(format!(
            "project {} has no classes yet: set them first (PUT /api/projects/{}/classes, or Annotate → Classes)",
            img.project, img.project
        )));
    }
    if !matches!(req.status.as_str(), "labelled" | "reviewed") {
        return Err(OpsError::invalid(format!(
            "status {:?} is not labelled or reviewed",
            req.status
        )));
    }
    let size = size_of(&img);
    let mut shapes = Shapes {
        boxes: req.boxes,
        polygons: req.polygons,
        brush: None,
    };
    shapes.check(size, classes.len())?;
    let painted = match &req.brush {
        Some(text) => painted_layer(text, size, limits).await?,
        None => None,
    };
    if painted.is_some() {
        shapes.brush = Some(req.brush_origin.unwrap_or_default());
    }
    let mask = combined_mask(&shapes, painted.as_ref(), size).await?;
    let brush_key = match &painted {
        Some((b, _)) => Some(store_mask(objects, &img.project, b).await?),
        None => None,
    };
    let mask_key = match &mask {
        Some(m) => Some(store_mask(objects, &img.project, m).await?),
        None => None,
    };
    let rev = NewRevision {
        base: req.base_revision,
        status: req.status,
        shapes: serde_json::to_string(&shapes).map_err(|e| OpsError::Io(e.to_string()))?,
        label: shapes.yolo_text(size),
        mask_key,
        brush_key,
        author: author.to_string(),
    };
    annotations::save(db, id, &rev).await?;
    get(db, id, None).await
}

/// The revisions of image `id`, newest first.
pub async fn history(db: &Db, id: i64) -> Result<Vec<RevisionSummary>, OpsError> {
    detective_store::images::get(db, id).await?;
    annotations::history(db, id)
        .await?
        .iter()
        .map(|rev| {
            let s = shapes_of(rev)?;
            let untouched = |src: Source, edited: bool| src == Source::Model && !edited;
            Ok(RevisionSummary {
                revision: rev.revision,
                status: rev.status.clone(),
                author: rev.author.clone(),
                created_at: rev.created_at.clone(),
                boxes: s.boxes.len(),
                polygons: s.polygons.len(),
                painted: rev.brush_key.is_some(),
                from_model: s.boxes.iter().filter(|b| untouched(b.source, b.edited)).count()
                    + s.polygons.iter().filter(|p| untouched(p.source, p.edited)).count(),
            })
        })
        .collect()
}

/// The painted layer of image `id` (its newest revision, or `revision`) as a
/// grayscale PNG; an image without revisions shows the mask it came with.
pub async fn brush(db: &Db, objects: &Objects, id: i64, revision: Option<i64>) -> Result<Bytes, OpsError> {
    let img = detective_store::images::get(db, id).await?;
    let key = match revision.or(img.label_rev) {
        Some(r) => annotations::get(db, id, r).await?.brush_key,
        None => img.mask_key,
    };
    let key = key.ok_or_else(|| OpsError::not_found(format!("a painted layer of image {id}")))?;
    Ok(objects.get(&key).await?)
}
