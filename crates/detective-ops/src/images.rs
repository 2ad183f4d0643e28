//! Image ingest: the one way an image enters a project, whoever brings it (an
//! upload, a labelled frame that a retraining adds, and every later importer).
//!
//! An image is [`check`]ed first — type sniffed from the bytes, byte and pixel
//! limits, and a full decode, because a header read misses truncated and
//! corrupt files — then [`store`]d under `projects/{project}/images/{sha256}.{ext}`
//! (the bytes once per content) with one `images` row per content and project:
//! a second copy is a duplicate of the first, not a new image.
//!
//! A segmentation mask comes with its image or later ([`set_mask`]): it is
//! [`check_mask`]ed against the image's size, binarised (pixels ≥ 128 are
//! defects) and stored as a grayscale PNG under
//! `projects/{project}/masks/{sha256}.png`.

use bytes::Bytes;
use detective_core::names::check_segment;
use detective_store::images::{ImageRow, NewImage};
use detective_store::{Db, Objects};
use detective_vision::DecodeLimits;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::OpsError;

/// Most bytes in one tag.
const MAX_TAG_CHARS: usize = 64;

/// An image that passed [`check`].
#[derive(Debug, Clone)]
pub struct Checked {
    pub bytes: Bytes,
    /// `jpeg`, `png`, `bmp`, `tiff` or `webp`.
    pub format: &'static str,
    /// The file extension of the stored object (`jpg`, `png`, `bmp`, `tif`, `webp`).
    pub ext: &'static str,
    pub width: u32,
    pub height: u32,
    pub sha256: String,
}

/// Where and how a checked image is stored.
#[derive(Debug, Clone, Default)]
pub struct Placement {
    pub project: String,
    /// The file name as the user knows it.
    pub filename: String,
    pub split: Option<String>,
    pub tags: Vec<String>,
    /// YOLO label text (checked with [`check_label`]); `Some("")`: no defects.
    pub label: Option<String>,
    /// Its segmentation mask (checked with [`check_mask`] against the image).
    pub mask: Option<CheckedMask>,
}

/// A mask that passed [`check_mask`]: a grayscale PNG of 0 and 255 the size of
/// its image.
#[derive(Debug, Clone)]
pub struct CheckedMask {
    pub png: Bytes,
    pub sha256: String,
}

/// A stored image: its row, and whether the same content was there already.
#[derive(Debug, Clone)]
pub struct Ingested {
    pub row: ImageRow,
    pub duplicate: bool,
}

/// The extension an image of `format` is stored with.
pub fn ext_of(format: &str) -> &'static str {
    match format {
        "jpeg" => "jpg",
        "png" => "png",
        "bmp" => "bmp",
        "tiff" => "tif",
        _ => "webp",
    }
}

/// Checks `bytes` as an image within `limits` (on a blocking thread: a full
/// decode takes a while). The error says why it is refused.
pub async fn check(bytes: Bytes, limits: &DecodeLimits) -> Result<Checked, OpsError> {
    let limits = *limits;
    tokio::task::spawn_blocking(move || {
        let (format, width, height) =
            detective_vision::decode::probe(&bytes, &limits).map_err(|e| OpsError::Unusable(e.to_string()))?;
        detective_vision::decode::decode_image(&bytes, &limits).map_err(|e| OpsError::Unusable(e.to_string()))?;
        let sha256 = hex::encode(Sha256::digest(&bytes));
        Ok(Checked {
            ext: ext_of(format),
            format,
            width,
            height,
            sha256,
            bytes,
        })
    })
    .await
    .map_err(|e| OpsError::io("image check", e))?
}

/// Checks `bytes` as the segmentation mask of an image of `size` (width,
/// height): any image format that decodes within `limits`, of exactly that size;
/// a pixel is a defect where its brightest channel is ≥ 128. The mask is
/// normalised to a grayscale PNG of 0 and 255.
pub async fn check_mask(bytes: Bytes, size: (u32, u32), limits: &DecodeLimits) -> Result<CheckedMask, OpsError> {
    let limits = *limits;
    tokio::task::spawn_blocking(move || binary_mask(&bytes, size, &limits).map(|(m, _)| m))
        .await
        .map_err(|e| OpsError::io("mask check", e))?
}

/// [`check_mask`]'s work, on the caller's thread: the normalised PNG and the
/// 0/255 pixels it holds.
pub fn binary_mask(
    bytes: &[u8],
    size: (u32, u32),
    limits: &DecodeLimits,
) -> Result<(CheckedMask, detective_vision::GrayFrame), OpsError> {
    let frame =
        detective_vision::decode::decode_image(bytes, limits).map_err(|e| OpsError::Unusable(format!("mask: {e}")))?;
    if (frame.width(), frame.height()) != size {
        return Err(OpsError::Unusable(format!(
            "mask is {}×{} but its image is {}×{}",
            frame.width(),
            frame.height(),
            size.0,
            size.1
        )));
    }
    let gray = detective_vision::GrayFrame::binary_mask_of(&frame);
    let png = detective_vision::encode::encode_gray_png(&gray).map_err(|e| OpsError::Io(format!("mask: {e}")))?;
    let checked = CheckedMask {
        sha256: hex::encode(Sha256::digest(&png)),
        png: Bytes::from(png),
    };
    Ok((checked, gray))
}

/// Stores a checked mask of `project` (once per content); returns its key.
pub async fn store_mask(objects: &Objects, project: &str, mask: &CheckedMask) -> Result<String, OpsError> {
    let key = detective_store::keys::mask(project, &mask.sha256);
    if !objects.exists(&key).await? {
        objects.put(&key, mask.png.clone()).await?;
    }
    Ok(key)
}

/// Gives image `id` a new mask (`Some`: checked against the image's size), or
/// takes its mask away (`None`). Dataset versions made before keep theirs.
pub async fn set_mask(
    db: &Db,
    objects: &Objects,
    limits: &DecodeLimits,
    id: i64,
    mask: Option<Bytes>,
) -> Result<ImageRow, OpsError> {
    let img = detective_store::images::get(db, id).await?;
    let key = match mask {
        Some(bytes) => {
            let checked = check_mask(bytes, (img.width as u32, img.height as u32), limits)
                .await
                .map_err(|e| match e {
                    OpsError::Unusable(m) => OpsError::Invalid(m),
                    other => other,
                })?;
            Some(store_mask(objects, &img.project, &checked).await?)
        }
        None => None,
    };
    Ok(detective_store::images::set_mask(db, id, key.as_deref()).await?)
}

/// The stored mask of image `id` (a grayscale PNG of 0 and 255).
pub async fn mask_file(db: &Db, objects: &Objects, id: i64) -> Result<Bytes, OpsError> {
    let img = detective_store::images::get(db, id).await?;
    let key = img
        .mask_key
        .ok_or_else(|| OpsError::not_found(format!("the mask of image {id} (it has none)")))?;
    Ok(objects.get(&key).await?)
}

/// Checks a YOLO label text (detection boxes); returns it normalised.
pub fn check_label(text: &str) -> Result<String, OpsError> {
    let (labels, issues) = detective_data::labels::parse_labels(text);
    if let Some(i) = issues.first() {
        return Err(OpsError::Invalid(format!("label line {}: {}", i.line, i.reason)));
    }
    Ok(detective_data::labels::format_labels(&labels))
}

/// Checks what a placement names: the project as a path segment, the split,
/// and the tags.
pub fn check_placement(project: &str, split: Option<&str>, tags: &[String]) -> Result<(), OpsError> {
    check_segment("project", project)?;
    if let Some(s) = split
        && !detective_data::SPLITS.contains(&s)
    {
        return Err(OpsError::Invalid(format!("split {s:?} is not train, val or test")));
    }
    if tags
        .iter()
        .any(|t| t.len() > MAX_TAG_CHARS || t.chars().any(char::is_control))
    {
        return Err(OpsError::Invalid(format!(
            "tags must be at most {MAX_TAG_CHARS} printable characters each"
        )));
    }
    Ok(())
}

/// Stores a checked image: the object once per content, the row once per
/// content and project.
pub async fn store(db: &Db, objects: &Objects, image: &Checked, at: Placement) -> Result<Ingested, OpsError> {
    let key = detective_store::keys::image(&at.project, &image.sha256, image.ext);
    if !objects.exists(&key).await? {
        objects.put(&key, image.bytes.clone()).await?;
    }
    let mask_key = match &at.mask {
        Some(m) => Some(store_mask(objects, &at.project, m).await?),
        None => None,
    };
    let (row, duplicate) = detective_store::images::insert(
        db,
        &NewImage {
            project: at.project,
            sha256: image.sha256.clone(),
            object_key: key,
            filename: at.filename,
            content_type: format!("image/{}", image.format),
            width: image.width,
            height: image.height,
            bytes: image.bytes.len() as u64,
            split: at.split,
            tags: at.tags,
            label: at.label,
            mask_key: mask_key.clone(),
        },
    )
    .await?;
    // A mask sent with a picture the project holds already becomes its mask.
    let row = match mask_key {
        Some(k) if duplicate && row.mask_key.as_deref() != Some(k.as_str()) => {
            detective_store::images::set_mask(db, row.id, Some(&k)).await?
        }
        _ => row,
    };
    Ok(Ingested { row, duplicate })
}

/// [`check`] then [`store`].
pub async fn ingest(
    db: &Db,
    objects: &Objects,
    limits: &DecodeLimits,
    bytes: Bytes,
    at: Placement,
) -> Result<Ingested, OpsError> {
    let checked = check(bytes, limits).await?;
    store(db, objects, &checked, at).await
}

/// Largest page of [`list`].
pub const MAX_PAGE: usize = 1000;

/// Images matching `filter`, oldest first, after `cursor` (the `next` of the
/// previous page); with the cursor of the next page.
pub async fn list(
    db: &Db,
    filter: &detective_store::images::ImageFilter,
    cursor: Option<&str>,
    limit: usize,
) -> Result<(Vec<ImageRow>, Option<String>), OpsError> {
    let after = cursor
        .map(|c| {
            c.parse::<i64>()
                .map_err(|_| OpsError::invalid("cursor is not one this API returned"))
        })
        .transpose()?;
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(OpsError::invalid(format!("limit must be within 1..{MAX_PAGE}")));
    }
    if let Some(s) = &filter.status
        && !detective_store::images::LABEL_STATUSES.contains(&s.as_str())
    {
        return Err(OpsError::invalid(format!(
            "status {s:?} is not unlabelled, labelled or reviewed"
        )));
    }
    Ok(detective_store::images::list(db, filter, after, limit).await?)
}

/// The stored bytes of image `id` and its content type.
pub async fn file(db: &Db, objects: &Objects, id: i64) -> Result<(String, Bytes), OpsError> {
    let img = detective_store::images::get(db, id).await?;
    let bytes = objects.get(&img.object_key).await?;
    Ok((img.content_type, bytes))
}

/// What became of one file of an upload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum UploadOutcome {
    Stored,
    Duplicate,
    Refused,
}

/// The answer for one file of an upload.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UploadResult {
    pub file: String,
    pub status: UploadOutcome,
    pub id: Option<i64>,
    pub sha256: Option<String>,
    pub reason: Option<String>,
}

impl UploadResult {
    fn refused(file: &str, reason: impl Into<String>) -> Self {
        UploadResult {
            file: file.to_string(),
            status: UploadOutcome::Refused,
            id: None,
            sha256: None,
            reason: Some(reason.into()),
        }
    }
}

/// An upload as the request carried it: the images, the `NAME.txt` labels of
/// images `NAME.*`, and the files refused while reading it (e.g. a bad name).
#[derive(Debug, Default)]
pub struct Upload {
    pub project: Option<String>,
    pub split: Option<String>,
    pub tags: Vec<String>,
    pub images: Vec<(String, Bytes)>,
    /// Label texts by the image's file stem.
    pub labels: std::collections::HashMap<String, Bytes>,
    /// Segmentation masks by the image's file stem.
    pub masks: std::collections::HashMap<String, Bytes>,
    pub refused: Vec<(String, String)>,
}

/// The answer to an upload: counts and one result per file.
#[derive(Debug, Clone, Serialize)]
pub struct UploadReport {
    pub project: String,
    pub stored: usize,
    pub duplicates: usize,
    pub refused: usize,
    pub files: Vec<UploadResult>,
}

/// A file name as sent, checked: a plain name, no folders, no traversal.
pub fn plain_file_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("file part has no file name".into());
    }
    if name.contains(['/', '\\']) || name == ".." || name == "." || name.contains('\0') {
        return Err("file name must be a plain name, without folders or '..'".into());
    }
    if name.len() > 255 || name.chars().any(char::is_control) {
        return Err("file name is too long or has control characters".into());
    }
    Ok(())
}

/// The name without its last extension.
pub fn file_stem(name: &str) -> &str {
    name.rsplit_once('.').map(|(s, _)| s).unwrap_or(name)
}

/// Ingests every image of an upload with its label; each file is checked on
/// its own, so one bad file refuses that file only. A request without a
/// project, with a bad split or tags, or without any file is refused whole.
pub async fn upload(
    db: &Db,
    objects: &Objects,
    limits: &DecodeLimits,
    mut up: Upload,
) -> Result<UploadReport, OpsError> {
    let project = up
        .project
        .take()
        .ok_or_else(|| OpsError::invalid("field `project` is required"))?;
    check_placement(&project, up.split.as_deref(), &up.tags)?;
    if up.images.is_empty() && up.refused.is_empty() {
        return Err(OpsError::invalid("no image files in the request"));
    }
    let mut files: Vec<UploadResult> = up
        .refused
        .iter()
        .map(|(file, reason)| UploadResult::refused(file, reason.as_str()))
        .collect();
    for (file, bytes) in std::mem::take(&mut up.images) {
        let label = match up.labels.remove(file_stem(&file)) {
            Some(b) => match std::str::from_utf8(&b)
                .map_err(|_| OpsError::invalid("label file is not UTF-8 text"))
                .and_then(check_label)
            {
                Ok(l) => Some(l),
                Err(e) => {
                    files.push(UploadResult::refused(&file, e.to_string()));
                    continue;
                }
            },
            None => None,
        };
        let checked = match check(bytes, limits).await {
            Ok(c) => c,
            Err(OpsError::Unusable(reason)) => {
                up.masks.remove(file_stem(&file));
                files.push(UploadResult::refused(&file, reason));
                continue;
            }
            Err(e) => return Err(e),
        };
        let mask = match up.masks.remove(file_stem(&file)) {
            Some(m) => match check_mask(m, (checked.width, checked.height), limits).await {
                Ok(m) => Some(m),
                Err(OpsError::Unusable(reason)) => {
                    files.push(UploadResult::refused(&file, reason));
                    continue;
                }
                Err(e) => return Err(e),
            },
            None => None,
        };
        let at = Placement {
            project: project.clone(),
            filename: file.clone(),
            split: up.split.clone(),
            tags: up.tags.clone(),
            label,
            mask,
        };
        let done = store(db, objects, &checked, at).await?;
        files.push(UploadResult {
            file,
            status: if done.duplicate {
                UploadOutcome::Duplicate
            } else {
                UploadOutcome::Stored
            },
            id: Some(done.row.id),
            sha256: Some(checked.sha256),
            reason: None,
        });
    }
    for name in up.labels.keys() {
        files.push(UploadResult::refused(
            &format!("{name}.txt"),
            "label file without an image of the same name",
        ));
    }
    for name in up.masks.keys() {
        files.push(UploadResult::refused(
            &format!("mask {name}"),
            "mask without an image of the same name",
        ));
    }
    let count = |o: UploadOutcome| files.iter().filter(|r| r.status == o).count();
    Ok(UploadReport {
        project,
        stored: count(UploadOutcome::Stored),
        duplicates: count(UploadOutcome::Duplicate),
        refused: count(UploadOutcome::Refused),
        files,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_file_names_are_taken() {
        assert!(plain_file_name("part.jpg").is_ok());
        for bad in ["", "../x.jpg", "a/b.png", "a\\b.png", ".", "..", "x\0.png"] {
            assert!(plain_file_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn tiff_is_stored_as_tif_and_jpeg_as_jpg() {
        assert_eq!(ext_of("tiff"), "tif");
        assert_eq!(ext_of("jpeg"), "jpg");
    }

    #[test]
    fn a_placement_with_a_bad_split_or_tag_is_refused() {
        assert!(check_placement("steel", Some("train"), &["a".into()]).is_ok());
        assert!(check_placement("steel", Some("holdout"), &[]).is_err());
        assert!(check_placement("../x", None, &[]).is_err());
        assert!(check_placement("steel", None, &["x".repeat(65)]).is_err());
    }
}
