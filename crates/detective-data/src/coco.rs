//! COCO JSON (detection boxes) import and export, so Label Studio and CVAT users can
//! come and go.
//!
//! Export: categories get ids 1..=n in the order of the YOLO names; boxes are pixel
//! `[x, y, w, h]`. Import: categories are mapped onto the given class names BY NAME;
//! names the list does not have are appended in category-id order (reported, so a
//! user sees that the class list grew). `iscrowd` annotations are skipped.

use std::collections::HashMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::image_size::image_size;
use crate::labels::YoloLabel;
use crate::{DataError, Sample};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CocoImage {
    pub id: u64,
    pub file_name: String,
    pub width: u32,
    pub height: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CocoAnnotation {
    pub id: u64,
    pub image_id: u64,
    pub category_id: u64,
    /// `[x, y, width, height]` in pixels.
    pub bbox: [f64; 4],
    #[serde(default)]
    pub area: f64,
    #[serde(default)]
    pub iscrowd: u8,
    /// Polygons `[[x1, y1, x2, y2, …]]` in pixels (or, read from elsewhere, RLE).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub segmentation: Option<serde_json::Value>,
    /// Who made the annotation (`person`, `model:NAME@V`, `import`), where known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

/// One annotation to add: a box (pixels, corners) of a class (0-based), with
/// its polygon and who made it when known.
#[derive(Debug, Clone, PartialEq)]
pub struct CocoShape {
    pub class: u32,
    pub xyxy: [f64; 4],
    pub polygon: Option<Vec<[f64; 2]>>,
    pub source: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CocoCategory {
    pub id: u64,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supercategory: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CocoFile {
    pub images: Vec<CocoImage>,
    pub annotations: Vec<CocoAnnotation>,
    pub categories: Vec<CocoCategory>,
}

impl CocoFile {
    /// An empty file whose categories are `names` (ids 1..=n in that order).
    pub fn with_names(names: &[String]) -> CocoFile {
        CocoFile {
            images: Vec::new(),
            annotations: Vec::new(),
            categories: names
                .iter()
                .enumerate()
                .map(|(i, n)| CocoCategory {
                    id: i as u64 + 1,
                    name: n.clone(),
                    supercategory: None,
                })
                .collect(),
        }
    }

    /// Adds image `id` of `w×h` pixels and one annotation per YOLO box; the
    /// annotations are numbered from `*next_annotation` on (a counter that
    /// several files of one export may share).
    pub fn add_image(
        &mut self,
        id: u64,
        file_name: String,
        (w, h): (u32, u32),
        labels: &[YoloLabel],
        next_annotation: &mut u64,
    ) {
        let shapes: Vec<CocoShape> = labels
            .iter()
            .map(|l| CocoShape {
                class: l.class,
                xyxy: l.to_xyxy(w, h),
                polygon: None,
                source: None,
            })
            .collect();
        self.add_shapes(id, file_name, (w, h), &shapes, next_annotation);
    }

    /// Adds image `id` with one annotation per shape (a polygon's area is the
    /// polygon's, a box's the box's).
    pub fn add_shapes(
        &mut self,
        id: u64,
        file_name: String,
        (w, h): (u32, u32),
        shapes: &[CocoShape],
        next_annotation: &mut u64,
    ) {
        self.images.push(CocoImage {
            id,
            file_name,
            width: w,
            height: h,
        });
        for s in shapes {
            let [x1, y1, x2, y2] = s.xyxy;
            let (segmentation, area) = match &s.polygon {
                Some(p) => (
                    Some(serde_json::json!([p
                        .iter()
                        .flat_map(|q| [q[0], q[1]])
                        .collect::<Vec<f64>>()])),
                    shoelace(p),
                ),
                None => (None, (x2 - x1) * (y2 - y1)),
            };
            self.annotations.push(CocoAnnotation {
                id: *next_annotation,
                image_id: id,
                category_id: s.class as u64 + 1,
                bbox: [x1, y1, x2 - x1, y2 - y1],
                area,
                iscrowd: 0,
                segmentation,
                source: s.source.clone(),
            });
            *next_annotation += 1;
        }
    }
}

/// The area of a simple polygon (pixels²).
fn shoelace(p: &[[f64; 2]]) -> f64 {
    let n = p.len();
    (0..n)
        .map(|i| {
            let (a, b) = (p[i], p[(i + 1) % n]);
            a[0] * b[1] - b[0] * a[1]
        })
        .sum::<f64>()
        .abs()
        / 2.0
}

/// COCO for a list of samples; `file_name` is the path relative to `images_root`.
pub fn to_coco(samples: &[&Sample], names: &[String], images_root: &Path) -> Result<CocoFile, DataError> {
    let mut coco = CocoFile::with_names(names);
    let mut next_annotation = 1;
    for (i, s) in samples.iter().enumerate() {
        let size = image_size(&s.image)?;
        if let Some(l) = s.labels.iter().find(|l| l.class as usize >= names.len()) {
            return Err(DataError::Invalid(format!(
                "{}: class {} out of range",
                s.label_path.display(),
                l.class
            )));
        }
        let rel = s.image.strip_prefix(images_root).unwrap_or(&s.image);
        let file_name = rel.to_string_lossy().replace('\\', "/");
        coco.add_image(i as u64 + 1, file_name, size, &s.labels, &mut next_annotation);
    }
    Ok(coco)
}

/// One image of an import, with its YOLO labels.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportedImage {
    pub file_name: String,
    pub width: u32,
    pub height: u32,
    pub labels: Vec<YoloLabel>,
}

/// The result of mapping a COCO file onto class names.
#[derive(Debug, Clone, PartialEq)]
pub struct CocoImport {
    pub names: Vec<String>,
    /// Names that were not in the given list and were appended.
    pub added_names: Vec<String>,
    pub images: Vec<ImportedImage>,
}

/// Maps a COCO file onto `names` (by category name) and converts boxes to YOLO.
pub fn from_coco(coco: &CocoFile, names: &[String]) -> Result<CocoImport, DataError> {
    let mut names = names.to_vec();
    let mut added = Vec::new();
    let mut cats: Vec<&CocoCategory> = coco.categories.iter().collect();
    cats.sort_by_key(|c| c.id);
    let mut class_of: HashMap<u64, u32> = HashMap::new();
    for c in cats {
        let idx = match names.iter().position(|n| n == &c.name) {
            Some(i) => i,
            None => {
                names.push(c.name.clone());
                added.push(c.name.clone());
                names.len() - 1
            }
        };
        class_of.insert(c.id, idx as u32);
    }
    let mut index_of: HashMap<u64, usize> = HashMap::new();
    let mut images: Vec<ImportedImage> = Vec::new();
    for im in &coco.images {
        if im.width == 0 || im.height == 0 {
            return Err(DataError::Invalid(format!(
                "COCO image {} ({}) has zero size",
                im.id, im.file_name
            )));
        }
        index_of.insert(im.id, images.len());
        images.push(ImportedImage {
            file_name: im.file_name.clone(),
            width: im.width,
            height: im.height,
            labels: Vec::new(),
        });
    }
    for a in &coco.annotations {
        if a.iscrowd != 0 {
            continue;
        }
        let &i = index_of
            .get(&a.image_id)
            .ok_or_else(|| DataError::Invalid(format!("annotation {} refers to unknown image {}", a.id, a.image_id)))?;
        let &class = class_of.get(&a.category_id).ok_or_else(|| {
            DataError::Invalid(format!(
                "annotation {} refers to unknown category {}",
                a.id, a.category_id
            ))
        })?;
        let im = &mut images[i];
        let [x, y, w, h] = a.bbox;
        if !(w > 0.0 && h > 0.0) {
            return Err(DataError::Invalid(format!("annotation {} has a zero-size box", a.id)));
        }
        im.labels
            .push(YoloLabel::from_xyxy(class, [x, y, x + w, y + h], im.width, im.height));
    }
    Ok(CocoImport {
        names,
        added_names: added,
        images,
    })
}

/// Reads a COCO JSON file.
pub fn read_coco(path: &Path) -> Result<CocoFile, DataError> {
    let text = std::fs::read_to_string(path).map_err(DataError::io(path))?;
    serde_json::from_str(&text).map_err(|e| DataError::Coco {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })
}

/// Writes a COCO JSON file.
pub fn write_coco(path: &Path, coco: &CocoFile) -> Result<(), DataError> {
    let text = serde_json::to_string(coco).map_err(|e| DataError::Invalid(e.to_string()))?;
    std::fs::write(path, text).map_err(DataError::io(path))
}
