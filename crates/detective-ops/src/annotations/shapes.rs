//! What a person (or a model, for a person to accept) draws on an image: boxes
//! and polygons in image pixels, each saying where it came from; checked
//! against the image and the project's classes, turned into the YOLO label
//! text the detector trains on and the mask the segmenter trains on.

use detective_core::Detection;
use detective_vision::GrayFrame;
use serde::{Deserialize, Serialize};

use crate::OpsError;

/// Most boxes on one image.
pub const MAX_BOXES: usize = 1000;
/// Most polygons on one image.
pub const MAX_POLYGONS: usize = 200;
/// Most points of one polygon.
pub const MAX_POINTS: usize = 2000;

/// Who made a shape: a person, a model's pre-label (accepted as it was, or
/// moved by a person: then `edited`), or a label file that came with the image.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Source {
    #[default]
    Person,
    Model,
    Import,
}

/// A box: `bbox` is `[x1, y1, x2, y2]` in the image's pixels.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct LabelBox {
    /// Index into the project's classes.
    pub class: usize,
    pub bbox: [f32; 4],
    #[serde(default)]
    pub source: Source,
    /// The model version of a model's shape (`name@3`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// The model's confidence of a model's shape.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confidence: Option<f32>,
    /// A model's shape that a person moved, resized or reclassed.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub edited: bool,
}

/// A polygon of a segmentation defect: `points` are `[x, y]` in pixels.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Polygon {
    pub class: usize,
    pub points: Vec<[f32; 2]>,
    #[serde(default)]
    pub source: Source,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub edited: bool,
}

/// Where the painted layer of a revision came from (a person's brush, or a
/// segmenter's mask a person accepted).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct BrushOrigin {
    #[serde(default)]
    pub source: Source,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub edited: bool,
}

/// The shapes of one revision, as stored.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Shapes {
    #[serde(default)]
    pub boxes: Vec<LabelBox>,
    #[serde(default)]
    pub polygons: Vec<Polygon>,
    /// The painted layer's origin (None: nothing painted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub brush: Option<BrushOrigin>,
}

fn finite_in(v: f32, hi: f32) -> bool {
    v.is_finite() && (-0.5..=hi + 0.5).contains(&v)
}

impl Shapes {
    /// Checks every shape against an image of `size` and `n_classes` classes;
    /// boxes are normalised (corners ordered, clamped to the image).
    pub fn check(&mut self, size: (u32, u32), n_classes: usize) -> Result<(), OpsError> {
        let (w, h) = (size.0 as f32, size.1 as f32);
        if self.boxes.len() > MAX_BOXES || self.polygons.len() > MAX_POLYGONS {
            return Err(OpsError::too_large(
                format!("at most {MAX_BOXES} boxes and {MAX_POLYGONS} polygons per image"),
                MAX_BOXES as u64,
            ));
        }
        let class_err = |what: &str, i: usize, c: usize| {
            OpsError::invalid(format!(
                "{what} {i}: class {c} is not one of the project's {n_classes} classes"
            ))
        };
        for (i, b) in self.boxes.iter_mut().enumerate() {
            if b.class >= n_classes {
                return Err(class_err("box", i, b.class));
            }
            let [x1, y1, x2, y2] = b.bbox;
            if !(finite_in(x1, w) && finite_in(x2, w) && finite_in(y1, h) && finite_in(y2, h)) {
                return Err(OpsError::invalid(format!(
                    "box {i}: {:?} is not inside the {}×{} image",
                    b.bbox, size.0, size.1
                )));
            }
            let bbox = [
                x1.min(x2).max(0.0),
                y1.min(y2).max(0.0),
                x1.max(x2).min(w),
                y1.max(y2).min(h),
            ];
            if bbox[2] - bbox[0] < 1.0 || bbox[3] - bbox[1] < 1.0 {
                return Err(OpsError::invalid(format!("box {i}: smaller than one pixel")));
            }
            b.bbox = bbox;
            if b.confidence.is_some_and(|c| !(0.0..=1.0).contains(&c)) {
                return Err(OpsError::invalid(format!("box {i}: confidence must be within [0, 1]")));
            }
        }
        for (i, p) in self.polygons.iter().enumerate() {
            if p.class >= n_classes {
                return Err(class_err("polygon", i, p.class));
            }
            if p.points.len() < 3 || p.points.len() > MAX_POINTS {
                return Err(OpsError::invalid(format!(
                    "polygon {i}: needs 3 to {MAX_POINTS} points, has {}",
                    p.points.len()
                )));
            }
            if let Some(q) = p.points.iter().find(|q| !(finite_in(q[0], w) && finite_in(q[1], h))) {
                return Err(OpsError::invalid(format!(
                    "polygon {i}: point {q:?} is not inside the {}×{} image",
                    size.0, size.1
                )));
            }
        }
        Ok(())
    }

    /// The YOLO label text of the boxes (`class cx cy w h`, normalised).
    pub fn yolo_text(&self, size: (u32, u32)) -> String {
        let (w, h) = (size.0 as f64, size.1 as f64);
        let labels: Vec<detective_data::labels::YoloLabel> = self
            .boxes
            .iter()
            .map(|b| {
                let [x1, y1, x2, y2] = b.bbox.map(f64::from);
                detective_data::labels::YoloLabel {
                    class: b.class as u32,
                    cx: (x1 + x2) / 2.0 / w,
                    cy: (y1 + y2) / 2.0 / h,
                    w: (x2 - x1) / w,
                    h: (y2 - y1) / h,
                }
            })
            .collect();
        detective_data::labels::format_labels(&labels)
    }

    /// The mask: the painted layer (if any) with every polygon filled in;
    /// None when no pixel is a defect.
    pub fn mask(&self, brush: Option<GrayFrame>, size: (u32, u32)) -> Option<GrayFrame> {
        let mut mask = brush.unwrap_or_else(|| GrayFrame::new(size.0, size.1));
        for p in &self.polygons {
            detective_vision::polygon::fill_polygon(&mut mask, &p.points, 255);
        }
        mask.data.iter().any(|v| *v > 0).then_some(mask)
    }

    /// The boxes of a label file that came with an image (no revision yet).
    pub fn from_yolo(text: &str, size: (u32, u32)) -> Shapes {
        let (labels, _) = detective_data::labels::parse_labels(text);
        let boxes = labels
            .iter()
            .map(|l| {
                let [x1, y1, x2, y2] = l.to_xyxy(size.0, size.1);
                LabelBox {
                    class: l.class as usize,
                    bbox: [x1 as f32, y1 as f32, x2 as f32, y2 as f32],
                    source: Source::Import,
                    model: None,
                    confidence: None,
                    edited: false,
                }
            })
            .collect();
        Shapes {
            boxes,
            ..Shapes::default()
        }
    }
}

/// What a model proposes, mapped onto the project's classes by name.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Proposal {
    pub boxes: Vec<LabelBox>,
    /// Class names the model found that the project does not have (those
    /// detections are left out).
    pub unmapped: Vec<String>,
}

/// The detections of model `model` as boxes of a person to accept, with the
/// project's class of the same name (a project without classes takes the
/// model's indices).
pub fn propose(detections: &[Detection], classes: &[String], model: &str) -> Proposal {
    let mut out = Proposal::default();
    for d in detections {
        let class = if classes.is_empty() {
            Some(d.class_id as usize)
        } else {
            classes.iter().position(|c| *c == d.name)
        };
        match class {
            Some(class) => out.boxes.push(LabelBox {
                class,
                bbox: [d.bbox.x1, d.bbox.y1, d.bbox.x2, d.bbox.y2],
                source: Source::Model,
                model: Some(model.to_string()),
                confidence: Some(d.confidence),
                edited: false,
            }),
            None if !out.unmapped.contains(&d.name) => out.unmapped.push(d.name.clone()),
            None => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn person_box(class: usize, bbox: [f32; 4]) -> LabelBox {
        LabelBox {
            class,
            bbox,
            source: Source::Person,
            model: None,
            confidence: None,
            edited: false,
        }
    }

    #[test]
    fn boxes_are_ordered_and_clamped_and_bad_ones_refused() {
        let mut s = Shapes {
            boxes: vec![person_box(0, [50.0, 40.0, 10.0, -0.3])],
            ..Shapes::default()
        };
        s.check((100, 80), 2).unwrap();
        assert_eq!(s.boxes[0].bbox, [10.0, 0.0, 50.0, 40.0]);
        for bad in [
            [0.0, 0.0, 200.0, 10.0],
            [f32::NAN, 0.0, 10.0, 10.0],
            [5.0, 5.0, 5.5, 20.0],
        ] {
            let mut s = Shapes {
                boxes: vec![person_box(0, bad)],
                ..Shapes::default()
            };
            assert!(s.check((100, 80), 2).is_err(), "{bad:?}");
        }
        let mut s = Shapes {
            boxes: vec![person_box(2, [0.0, 0.0, 10.0, 10.0])],
            ..Shapes::default()
        };
        assert!(s.check((100, 80), 2).unwrap_err().to_string().contains("class 2"));
    }

    #[test]
    fn polygons_need_three_points_inside_the_image() {
        let poly = |points: Vec<[f32; 2]>| Shapes {
            polygons: vec![Polygon {
                class: 0,
                points,
                source: Source::Person,
                model: None,
                edited: false,
            }],
            ..Shapes::default()
        };
        assert!(
            poly(vec![[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
                .check((20, 20), 1)
                .is_ok()
        );
        assert!(poly(vec![[0.0, 0.0], [10.0, 0.0]]).check((20, 20), 1).is_err());
        assert!(
            poly(vec![[0.0, 0.0], [30.0, 0.0], [0.0, 10.0]])
                .check((20, 20), 1)
                .is_err()
        );
    }

    #[test]
    fn boxes_round_trip_through_yolo_text() {
        let s = Shapes {
            boxes: vec![person_box(1, [10.0, 20.0, 30.0, 60.0])],
            ..Shapes::default()
        };
        let text = s.yolo_text((100, 100));
        assert_eq!(text.trim(), "1 0.200000 0.400000 0.200000 0.400000");
        let back = Shapes::from_yolo(&text, (100, 100));
        assert_eq!(back.boxes[0].class, 1);
        assert_eq!(back.boxes[0].source, Source::Import);
        for (a, b) in back.boxes[0].bbox.iter().zip([10.0, 20.0, 30.0, 60.0]) {
            assert!((a - b).abs() < 1e-3);
        }
    }

    #[test]
    fn the_mask_is_the_brush_layer_with_the_polygons_filled_in() {
        let mut brush = GrayFrame::new(10, 10);
        brush.set(0, 0, 255);
        let s = Shapes {
            polygons: vec![Polygon {
                class: 0,
                points: vec![[5.0, 5.0], [10.0, 5.0], [10.0, 10.0], [5.0, 10.0]],
                source: Source::Person,
                model: None,
                edited: false,
            }],
            ..Shapes::default()
        };
        let m = s.mask(Some(brush), (10, 10)).unwrap();
        assert_eq!(m.data.iter().filter(|v| **v > 0).count(), 1 + 25);
        assert!(Shapes::default().mask(None, (10, 10)).is_none());
    }

    #[test]
    fn proposals_take_the_projects_class_of_the_same_name() {
        let det = |name: &str, class_id: u32| Detection {
            class_id,
            name: name.into(),
            confidence: 0.8,
            bbox: detective_core::BBox {
                x1: 1.0,
                y1: 2.0,
                x2: 3.0,
                y2: 4.0,
            },
        };
        let classes = vec!["crazing".to_string(), "scratches".to_string()];
        let p = propose(&[det("scratches", 5), det("rust", 0)], &classes, "det@2");
        assert_eq!(p.boxes.len(), 1);
        assert_eq!(p.boxes[0].class, 1);
        assert_eq!(p.boxes[0].source, Source::Model);
        assert_eq!(p.boxes[0].model.as_deref(), Some("det@2"));
        assert_eq!(p.unmapped, vec!["rust".to_string()]);
        assert_eq!(propose(&[det("rust", 3)], &[], "m").boxes[0].class, 3);
    }
}
