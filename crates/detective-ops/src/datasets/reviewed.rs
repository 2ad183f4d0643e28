//! Frames a person labelled in the labeling queue, made project images: a
//! retraining's next dataset version takes them in
//! ([`crate::retraining::build_dataset`]), and [`seed`] makes a new detector or
//! segmenter dataset of them in one action — the way from what an anomaly
//! model found on the line to a supervised model. Boxes are clipped to the
//! frame; a segmenter's mask is the union of the boxes (refine it in the
//! Annotate page).

use std::collections::{BTreeMap, HashSet};

use bytes::Bytes;
use detective_core::Task;
use detective_core::names::check_segment;
use detective_store::datasets::{self, Dataset, DatasetItem};
use detective_store::images::ImageRow;
use detective_store::retraining::ReviewedFrame;
use detective_store::{Db, Objects};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::rules::{MAX_ITEMS, check_classes};
use super::{DEFAULT_RATIOS, assign_splits, ratios_of};
use crate::OpsError;
use crate::images::{CheckedMask, Placement};

/// One reviewed box, clipped to its `w×h` frame: class and pixel xyxy.
type Clipped = (u32, [f64; 4]);

/// The boxes of a reviewed label (`[{class, bbox: [x1, y1, x2, y2]}]`) clipped
/// to a `w×h` frame; boxes left empty are dropped.
fn clipped(boxes: &serde_json::Value, w: u32, h: u32) -> Vec<Clipped> {
    let (fw, fh) = (f64::from(w), f64::from(h));
    let mut out = Vec::new();
    for b in boxes.as_array().map(Vec::as_slice).unwrap_or(&[]) {
        let class = b
            .get("class")
            .and_then(|c| c.as_u64())
            .and_then(|c| u32::try_from(c).ok());
        let bb: Vec<f64> = b
            .get("bbox")
            .and_then(|v| v.as_array())
            .map(|a| a.iter().filter_map(|x| x.as_f64()).collect())
            .unwrap_or_default();
        if let (Some(c), [x1, y1, x2, y2]) = (class, bb.as_slice()) {
            let xyxy = [
                x1.clamp(0.0, fw),
                y1.clamp(0.0, fh),
                x2.clamp(0.0, fw),
                y2.clamp(0.0, fh),
            ];
            if xyxy[2] > xyxy[0] && xyxy[3] > xyxy[1] {
                out.push((c, xyxy));
            }
        }
    }
    out
}

/// YOLO label text of reviewed boxes in a `w×h` frame (boxes clipped to it;
/// empty ones dropped); `""` for a defect-free frame.
fn yolo_text(boxes: &serde_json::Value, w: u32, h: u32) -> String {
    let mut out = String::new();
    for (c, xyxy) in clipped(boxes, w, h) {
        out.push_str(&detective_data::labels::YoloLabel::from_xyxy(c, xyxy, w, h).to_line());
        out.push('\n');
    }
    out
}

/// The mask of a `w×h` frame that marks the pixels inside its boxes (255) —
/// a segmenter's first, rough truth for a frame labelled with boxes.
fn box_mask(boxes: &serde_json::Value, w: u32, h: u32) -> Result<CheckedMask, OpsError> {
    let mut gray = detective_vision::GrayFrame::new(w, h);
    for (_, [x1, y1, x2, y2]) in clipped(boxes, w, h) {
        // pixels whose centre lies inside the box, at least one per side
        let (c0, c1) = (x1.round() as u32, (x2.round() as u32).max(x1.round() as u32 + 1).min(w));
        let (r0, r1) = (y1.round() as u32, (y2.round() as u32).max(y1.round() as u32 + 1).min(h));
        for y in r0.min(h)..r1 {
            for x in c0.min(w)..c1 {
                gray.set(x, y, 255);
            }
        }
    }
    let png = detective_vision::encode::encode_gray_png(&gray).map_err(|e| OpsError::Io(format!("mask: {e}")))?;
    Ok(CheckedMask {
        sha256: hex::encode(Sha256::digest(&png)),
        png: Bytes::from(png),
    })
}

/// A reviewed frame stored as an image of its project.
pub(crate) struct StoredFrame {
    pub row: ImageRow,
    /// Its YOLO label text (`""`: defect-free).
    pub label: String,
    /// The key of its box mask, when one was asked for.
    pub mask_key: Option<String>,
}

/// Stores `frame` as an image of `project` (tag `reviewed`, in `split` when
/// given) with its label, and with a mask of its boxes when `with_mask`. A frame
/// whose picture is gone or unreadable is skipped (`None`, with a warning): the
/// label alone cannot train anything.
pub(crate) async fn store_frame(
    db: &Db,
    objects: &Objects,
    project: &str,
    frame: &ReviewedFrame,
    split: Option<&str>,
    with_mask: bool,
) -> Result<Option<StoredFrame>, OpsError> {
    let Some(key) = &frame.frame_key else { return Ok(None) };
    let bytes = match objects.get(key).await {
        Ok(b) => b,
        Err(e) => {
            tracing::warn!(prediction = %frame.prediction_id, "labelled frame missing: {e}");
            return Ok(None);
        }
    };
    let image = match crate::images::check(bytes, &detective_vision::DecodeLimits::default()).await {
        Ok(i) => i,
        Err(e) => {
            tracing::warn!(prediction = %frame.prediction_id, "labelled frame unreadable: {e}");
            return Ok(None);
        }
    };
    let boxes = if frame.defect_free {
        serde_json::Value::Array(Vec::new())
    } else {
        frame.boxes.clone()
    };
    let label = yolo_text(&boxes, image.width, image.height);
    let mask = if with_mask {
        Some(box_mask(&boxes, image.width, image.height)?)
    } else {
        None
    };
    let at = Placement {
        project: project.to_string(),
        filename: format!("{}.{}", frame.prediction_id, image.ext),
        split: split.map(str::to_string),
        tags: vec!["reviewed".into()],
        label: Some(label.clone()),
        mask,
    };
    let row = crate::images::store(db, objects, &image, at).await?.row;
    Ok(Some(StoredFrame {
        mask_key: if with_mask { row.mask_key.clone() } else { None },
        row,
        label,
    }))
}

/// What `POST /api/datasets/seed` asks for.
#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SeedDataset {
    /// The new dataset's name.
    pub name: String,
    /// The project whose reviewed frames it takes (and that it belongs to).
    pub project: String,
    /// `detect` (default) or `segment` (each frame's mask is the union of its
    /// boxes).
    #[serde(default)]
    pub task: Option<String>,
    /// Which reviewed frames: `anomaly` (default: frames that predictions of a
    /// registered anomaly model sent to the queue) or `all`.
    #[serde(default)]
    pub source: Option<String>,
    /// Class names in index order (default: the names the labellers' boxes
    /// carry, by class index).
    #[serde(default)]
    pub classes: Option<Vec<String>>,
    /// Fractions for train/val/test (default 0.7 / 0.15 / 0.15), by content hash.
    #[serde(default)]
    pub split_ratios: Option<BTreeMap<String, f64>>,
    #[serde(default)]
    pub note: Option<String>,
}

/// What [`seed`] made.
#[derive(Debug, Serialize)]
pub struct Seeded {
    pub dataset: Dataset,
    /// Reviewed frames taken in.
    pub images: usize,
    /// Of those, frames labelled with defects.
    pub defective: usize,
    /// Reviewed frames left out because their picture is gone or unreadable.
    pub skipped: usize,
}

/// Class names for a seeded dataset: those asked for, else the names on the
/// reviewed boxes by class index (`class{i}` where a class has none). Every
/// box's class must have a name.
fn seed_classes(asked: Option<&[String]>, frames: &[&ReviewedFrame]) -> Result<Vec<String>, OpsError> {
    // class index → the first name a labeller's box gave it
    let mut named: BTreeMap<u32, Option<String>> = BTreeMap::new();
    for f in frames.iter().filter(|f| !f.defect_free) {
        for b in f.boxes.as_array().map(Vec::as_slice).unwrap_or(&[]) {
            let Some(c) = b
                .get("class")
                .and_then(|c| c.as_u64())
                .and_then(|c| u32::try_from(c).ok())
            else {
                continue;
            };
            let name = b.get("name").and_then(|n| n.as_str()).filter(|n| !n.is_empty());
            let entry = named.entry(c).or_default();
            if entry.is_none() {
                *entry = name.map(str::to_string);
            }
        }
    }
    let classes: Vec<String> = match asked {
        Some(c) => c.to_vec(),
        None => {
            let n = named.keys().next_back().map_or(0, |m| m + 1);
            (0..n)
                .map(|i| named.get(&i).cloned().flatten().unwrap_or_else(|| format!("class{i}")))
                .collect()
        }
    };
    if let Some(top) = named.keys().next_back()
        && *top as usize >= classes.len()
    {
        return Err(OpsError::invalid(format!(
            "a reviewed box has class {top} but the dataset names {} classes",
            classes.len()
        )));
    }
    check_classes(&classes)?;
    Ok(classes)
}

/// Makes dataset `req.name` (version 1) of `req.project`'s reviewed frames:
/// each frame stored as an image with its label (and, for `segment`, a mask of
/// its boxes), split by content hash. Refused, with nothing made, when no
/// reviewed frame qualifies or none of them holds a defect.
pub async fn seed(db: &Db, objects: &Objects, req: SeedDataset) -> Result<Seeded, OpsError> {
    check_segment("dataset name", &req.name)?;
    check_segment("project", &req.project)?;
    let task: Task = req.task.as_deref().unwrap_or("detect").parse()?;
    if !matches!(task, Task::Detect | Task::Segment) {
        return Err(OpsError::invalid(format!(
            "task={task}: a seeded dataset is for a detect or segment model"
        )));
    }
    let anomaly_only = match req.source.as_deref() {
        None | Some("anomaly") => true,
        Some("all") => false,
        Some(s) => return Err(OpsError::invalid(format!("source={s}: expected anomaly or all"))),
    };
    let ratios = match &req.split_ratios {
        Some(r) => ratios_of(r)?,
        None => DEFAULT_RATIOS,
    };
    let anomaly_models: HashSet<String> = detective_store::models::list(db)
        .await?
        .into_iter()
        .filter(|m| m.task == Task::Anomaly)
        .map(|m| m.name)
        .collect();
    let all = detective_store::retraining::reviewed_since(db, None).await?;
    let frames: Vec<&ReviewedFrame> = all
        .iter()
        .filter(|f| f.project == req.project)
        .filter(|f| {
            !anomaly_only
                || f.model_version
                    .rsplit_once('@')
                    .is_some_and(|(name, _)| anomaly_models.contains(name))
        })
        .collect();
    let which = if anomaly_only {
        "an anomaly model sent to the queue"
    } else {
        "in the queue"
    };
    if frames.is_empty() {
        return Err(OpsError::invalid(format!(
            "project {} has no reviewed frame that {which}",
            req.project
        )));
    }
    if frames.iter().all(|f| f.defect_free) {
        return Err(OpsError::invalid(format!(
            "none of the {} reviewed frames that {which} is labelled with a defect",
            frames.len()
        )));
    }
    if frames.len() > MAX_ITEMS {
        return Err(OpsError::too_large(
            format!("more than {MAX_ITEMS} reviewed frames"),
            MAX_ITEMS as u64,
        ));
    }
    let classes = seed_classes(req.classes.as_deref(), &frames)?;
    let mut stored: BTreeMap<i64, StoredFrame> = BTreeMap::new();
    let mut skipped = 0;
    for f in &frames {
        match store_frame(db, objects, &req.project, f, None, task == Task::Segment).await? {
            // the same picture labelled twice: the newest label wins
            Some(s) => {
                stored.insert(s.row.id, s);
            }
            None => skipped += 1,
        }
    }
    if stored.is_empty() {
        return Err(OpsError::invalid(format!(
            "the pictures of all {} reviewed frames are gone or unreadable",
            frames.len()
        )));
    }
    let rows: Vec<ImageRow> = stored.values().map(|s| s.row.clone()).collect();
    let mut items: Vec<DatasetItem> = assign_splits(&rows, ratios, &BTreeMap::new());
    for item in &mut items {
        if let Some(s) = stored.get(&item.image_id) {
            item.label = Some(s.label.clone());
            item.mask_key = s.mask_key.clone();
            item.label_rev = None;
        }
    }
    let defective = stored.values().filter(|s| !s.label.is_empty()).count();
    let note = req.note.clone().unwrap_or_else(|| {
        format!(
            "seeded from {} reviewed frames ({defective} with defects) that {which}",
            stored.len()
        )
    });
    let dataset = datasets::create(db, &req.name, &req.project, task, &classes, &items, Some(&note)).await?;
    Ok(Seeded {
        dataset,
        images: stored.len(),
        defective,
        skipped,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reviewed_boxes_become_yolo_lines_clipped_to_the_frame() {
        let boxes = json!([
            {"class": 1, "bbox": [10.0, 20.0, 30.0, 60.0]},
            {"class": 0, "bbox": [-5.0, 90.0, 20.0, 120.0]},
            {"class": 2, "bbox": [50.0, 50.0, 50.0, 70.0]},
        ]);
        let text = yolo_text(&boxes, 100, 100);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines,
            [
                "1 0.200000 0.400000 0.200000 0.400000",
                "0 0.100000 0.950000 0.200000 0.100000"
            ]
        );
        assert_eq!(yolo_text(&json!([]), 100, 100), "", "defect-free: an empty label");
    }

    #[test]
    fn a_box_mask_marks_exactly_the_pixels_inside_the_clipped_boxes() {
        let boxes = json!([{"class": 0, "bbox": [2.0, 1.0, 5.0, 3.0]}, {"class": 1, "bbox": [8.0, 8.0, 20.0, 20.0]}]);
        let m = box_mask(&boxes, 10, 10).unwrap();
        let gray = detective_vision::decode::decode_image(&m.png, &detective_vision::DecodeLimits::default()).unwrap();
        let on: Vec<(u32, u32)> = (0..10)
            .flat_map(|y| (0..10).map(move |x| (x, y)))
            .filter(|&(x, y)| gray.pixel(x, y)[0] >= 128)
            .collect();
        let mut want: Vec<(u32, u32)> = (1..3).flat_map(|y| (2..5).map(move |x| (x, y))).collect();
        want.extend((8..10).flat_map(|y| (8..10).map(move |x| (x, y))));
        want.sort_by_key(|&(x, y)| (y, x));
        assert_eq!(on, want);
    }

    fn frame(defect_free: bool, boxes: serde_json::Value) -> ReviewedFrame {
        ReviewedFrame {
            prediction_id: "p".into(),
            project: "line".into(),
            model_version: "anomaly-model@1".into(),
            frame_key: None,
            boxes,
            defect_free,
            labeled_at: 0,
        }
    }

    #[test]
    fn seeded_classes_come_from_the_labellers_names_by_index_unless_asked() {
        let a = frame(
            false,
            json!([{"class": 1, "name": "crack", "bbox": [0.0, 0.0, 1.0, 1.0]}]),
        );
        let b = frame(false, json!([{"class": 0, "bbox": [0.0, 0.0, 1.0, 1.0]}]));
        let good = frame(true, json!([]));
        assert_eq!(seed_classes(None, &[&a, &b, &good]).unwrap(), ["class0", "crack"]);
        let asked = ["blowhole".to_string(), "crack".to_string()];
        assert_eq!(seed_classes(Some(&asked), &[&a, &b]).unwrap(), asked);
        let too_few = ["blowhole".to_string()];
        let e = seed_classes(Some(&too_few), &[&a]).unwrap_err();
        assert!(e.to_string().contains("class 1"), "{e}");
    }
}
