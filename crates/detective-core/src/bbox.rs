//! Axis-aligned boxes in pixel `xyxy` coordinates, and conversions to and from the
//! normalised `cx cy w h` form used by YOLO label files.

use serde::{Deserialize, Serialize};

use crate::CoreError;

/// A box in pixel coordinates of the original image: `[x1, y1, x2, y2]`.
///
/// Serialises as a four-element array, the wire format of the API.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(from = "[f32; 4]", into = "[f32; 4]")]
pub struct BBox {
    pub x1: f32,
    pub y1: f32,
    pub x2: f32,
    pub y2: f32,
}

impl From<[f32; 4]> for BBox {
    fn from(v: [f32; 4]) -> Self {
        BBox {
            x1: v[0],
            y1: v[1],
            x2: v[2],
            y2: v[3],
        }
    }
}

impl From<BBox> for [f32; 4] {
    fn from(b: BBox) -> Self {
        [b.x1, b.y1, b.x2, b.y2]
    }
}

impl BBox {
    /// A box from corners, checked: finite and ordered.
    pub fn new(x1: f32, y1: f32, x2: f32, y2: f32) -> Result<Self, CoreError> {
        let b = BBox { x1, y1, x2, y2 };
        b.validate()?;
        Ok(b)
    }

    /// Checks that every coordinate is finite and the corners are ordered.
    pub fn validate(&self) -> Result<(), CoreError> {
        let finite = [self.x1, self.y1, self.x2, self.y2].iter().all(|v| v.is_finite());
        if !finite || self.x2 < self.x1 || self.y2 < self.y1 {
            return Err(CoreError::InvalidBox {
                x1: self.x1,
                y1: self.y1,
                x2: self.x2,
                y2: self.y2,
            });
        }
        Ok(())
    }

    /// A box from the normalised centre form of a YOLO label, scaled to an image.
    pub fn from_cxcywh_normalized(cx: f32, cy: f32, w: f32, h: f32, img_w: u32, img_h: u32) -> Self {
        let (iw, ih) = (img_w as f32, img_h as f32);
        BBox {
            x1: (cx - w / 2.0) * iw,
            y1: (cy - h / 2.0) * ih,
            x2: (cx + w / 2.0) * iw,
            y2: (cy + h / 2.0) * ih,
        }
    }

    /// The normalised centre form `(cx, cy, w, h)` of this box in an image.
    pub fn to_cxcywh_normalized(&self, img_w: u32, img_h: u32) -> (f32, f32, f32, f32) {
        let (iw, ih) = (img_w as f32, img_h as f32);
        (
            (self.x1 + self.x2) / 2.0 / iw,
            (self.y1 + self.y2) / 2.0 / ih,
            self.width() / iw,
            self.height() / ih,
        )
    }

    pub fn width(&self) -> f32 {
        (self.x2 - self.x1).max(0.0)
    }

    pub fn height(&self) -> f32 {
        (self.y2 - self.y1).max(0.0)
    }

    pub fn area(&self) -> f32 {
        self.width() * self.height()
    }

    /// Area of the overlap of two boxes (0 when they do not overlap).
    pub fn intersection_area(&self, other: &BBox) -> f32 {
        let iw = (self.x2.min(other.x2) - self.x1.max(other.x1)).max(0.0);
        let ih = (self.y2.min(other.y2) - self.y1.max(other.y1)).max(0.0);
        iw * ih
    }

    /// Intersection over union; 0 when either box is empty.
    pub fn iou(&self, other: &BBox) -> f32 {
        let inter = self.intersection_area(other);
        let union = self.area() + other.area() - inter;
        if union <= 0.0 { 0.0 } else { inter / union }
    }

    /// The smallest box holding both.
    pub fn enclosing(&self, other: &BBox) -> BBox {
        BBox {
            x1: self.x1.min(other.x1),
            y1: self.y1.min(other.y1),
            x2: self.x2.max(other.x2),
            y2: self.y2.max(other.y2),
        }
    }

    /// This box clipped to `[0, w] × [0, h]`.
    pub fn clamp_to(&self, w: f32, h: f32) -> BBox {
        BBox {
            x1: self.x1.clamp(0.0, w),
            y1: self.y1.clamp(0.0, h),
            x2: self.x2.clamp(0.0, w),
            y2: self.y2.clamp(0.0, h),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iou_of_identical_boxes_is_one_and_of_disjoint_boxes_zero() {
        let a = BBox::new(0.0, 0.0, 10.0, 10.0).unwrap();
        let b = BBox::new(20.0, 20.0, 30.0, 30.0).unwrap();
        assert!((a.iou(&a) - 1.0).abs() < 1e-6);
        assert_eq!(a.iou(&b), 0.0);
    }

    #[test]
    fn iou_of_half_overlap_matches_hand_value() {
        let a = BBox::new(0.0, 0.0, 10.0, 10.0).unwrap();
        let b = BBox::new(5.0, 0.0, 15.0, 10.0).unwrap();
        // intersection 50, union 150
        assert!((a.iou(&b) - 1.0 / 3.0).abs() < 1e-6);
    }

    #[test]
    fn intersection_and_enclosing_box_of_two_boxes() {
        let a = BBox::new(0.0, 0.0, 10.0, 10.0).unwrap();
        let b = BBox::new(5.0, 2.0, 15.0, 12.0).unwrap();
        assert_eq!(a.intersection_area(&b), 40.0);
        assert_eq!(a.enclosing(&b), BBox::new(0.0, 0.0, 15.0, 12.0).unwrap());
        let far = BBox::new(20.0, 20.0, 30.0, 30.0).unwrap();
        assert_eq!(a.intersection_area(&far), 0.0);
    }

    #[test]
    fn normalized_round_trip_is_exact_enough() {
        let b = BBox::new(12.5, 40.0, 100.25, 77.0).unwrap();
        let (cx, cy, w, h) = b.to_cxcywh_normalized(320, 200);
        let back = BBox::from_cxcywh_normalized(cx, cy, w, h, 320, 200);
        for (p, q) in <[f32; 4]>::from(b).iter().zip(<[f32; 4]>::from(back).iter()) {
            assert!((p - q).abs() < 1e-3, "{p} vs {q}");
        }
    }

    #[test]
    fn reversed_or_nan_boxes_are_rejected() {
        assert!(BBox::new(10.0, 0.0, 5.0, 10.0).is_err());
        assert!(BBox::new(f32::NAN, 0.0, 5.0, 10.0).is_err());
    }

    #[test]
    fn serialises_as_xyxy_array() {
        let b = BBox::new(1.0, 2.0, 3.0, 4.0).unwrap();
        assert_eq!(serde_json::to_string(&b).unwrap(), "[1.0,2.0,3.0,4.0]");
    }
}
