//! Per-class targets of a segmenter trained with `--classes`.
//!
//! Datasets such as MagneticTile (and `detective synth --task segment`) give a
//! binary defect mask per image and, in `labels/`, the YOLO boxes of its defects
//! with their classes. The class of a defect pixel is read from the boxes:
//! - a pixel inside one or more boxes takes the class of the smallest of them (the
//!   most specific box where defects of two classes overlap);
//! - a pixel inside no box (masks drawn a little wider than their box) takes the
//!   class of the nearest box.
//!
//! The result is a label map: 0 for background, `c + 1` for class `c`. Resizing
//! with nearest neighbour, cropping, flipping and rotating keep its values, so it
//! goes through the same paired augmentation as a binary mask.

use detective_data::YoloLabel;
use detective_vision::GrayFrame;

/// Most classes a label map can hold (values 1..=254).
pub const MAX_SEG_CLASSES: usize = 254;

/// The label map of `mask` (pixels ≥ 128 are defects) from the image's `boxes`;
/// `classes` is the number of classes of the dataset. Fails when a box's class is
/// out of range, or when the mask has defect pixels but the image has no box to
/// give them a class.
pub fn class_map(mask: &GrayFrame, boxes: &[YoloLabel], classes: usize) -> Result<GrayFrame, String> {
    if !(1..=MAX_SEG_CLASSES).contains(&classes) {
        return Err(format!("{classes} classes: a segmenter has 1..={MAX_SEG_CLASSES}"));
    }
    if let Some(b) = boxes.iter().find(|b| b.class as usize >= classes) {
        return Err(format!(
            "a label has class {} but the dataset has {classes} classes",
            b.class
        ));
    }
    let (w, h) = (mask.width as usize, mask.height as usize);
    let mut out = GrayFrame::new(mask.width, mask.height);
    if !mask.data.iter().any(|&v| v >= 128) {
        return Ok(out);
    }
    if boxes.is_empty() {
        return Err("the mask marks defects but the image has no labelled box to give them a class".into());
    }
    // pixel boxes, smallest first, so the first containing box is the smallest
    let mut rects: Vec<([f64; 4], u8)> = boxes
        .iter()
        .map(|b| (b.to_xyxy(mask.width, mask.height), (b.class + 1) as u8))
        .collect();
    let area = |r: &[f64; 4]| (r[2] - r[0]).max(0.0) * (r[3] - r[1]).max(0.0);
    rects.sort_by(|a, b| area(&a.0).total_cmp(&area(&b.0)));
    for y in 0..h {
        let cy = y as f64 + 0.5;
        for x in 0..w {
            let i = y * w + x;
            if mask.data[i] < 128 {
                continue;
            }
            let cx = x as f64 + 0.5;
            let mut nearest = (f64::INFINITY, 0u8);
            for (r, label) in &rects {
                let dx = (r[0] - cx).max(cx - r[2]).max(0.0);
                let dy = (r[1] - cy).max(cy - r[3]).max(0.0);
                let d = dx * dx + dy * dy;
                if d == 0.0 {
                    nearest = (0.0, *label);
                    break;
                }
                if d < nearest.0 {
                    nearest = (d, *label);
                }
            }
            out.data[i] = nearest.1;
        }
    }
    Ok(out)
}

/// The label map of a binary mask without classes: 1 where the mask is ≥ 128.
pub fn binary_map(mask: &GrayFrame) -> GrayFrame {
    GrayFrame {
        width: mask.width,
        height: mask.height,
        data: mask.data.iter().map(|&v| u8::from(v >= 128)).collect(),
    }
}

/// Appends the `classes` target planes of a label map (`1.0` where the map holds
/// `c + 1`, else `0.0`), channel after channel.
pub fn push_targets(map: &GrayFrame, classes: usize, out: &mut Vec<f32>) {
    for c in 0..classes {
        let v = (c + 1) as u8;
        out.extend(map.data.iter().map(|&m| if m == v { 1.0 } else { 0.0 }));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mask(w: u32, h: u32, on: &[(u32, u32)]) -> GrayFrame {
        let mut m = GrayFrame::new(w, h);
        for &(x, y) in on {
            m.data[(y * w + x) as usize] = 255;
        }
        m
    }

    /// A YOLO box from pixel corners in a `w × h` image.
    fn bx(class: u32, r: [f64; 4], w: u32, h: u32) -> YoloLabel {
        YoloLabel::from_xyxy(class, r, w, h)
    }

    #[test]
    fn defect_pixels_take_the_class_of_the_box_they_lie_in() {
        let m = mask(10, 10, &[(1, 1), (2, 1), (7, 8)]);
        let boxes = [
            bx(2, [0.0, 0.0, 4.0, 3.0], 10, 10),
            bx(0, [6.0, 6.0, 10.0, 10.0], 10, 10),
        ];
        let map = class_map(&m, &boxes, 3).unwrap();
        assert_eq!(map.data[11], 3); // (1, 1): class 2
        assert_eq!(map.data[12], 3);
        assert_eq!(map.data[87], 1); // (7, 8): class 0
        assert_eq!(map.data.iter().filter(|&&v| v > 0).count(), 3, "background stays 0");
    }

    #[test]
    fn overlapping_boxes_give_the_smallest_boxs_class_and_outside_pixels_the_nearest() {
        // a big box of class 0 holding a small one of class 1
        let m = mask(20, 20, &[(5, 5), (15, 15), (19, 2)]);
        let boxes = [
            bx(0, [0.0, 0.0, 18.0, 18.0], 20, 20),
            bx(1, [4.0, 4.0, 7.0, 7.0], 20, 20),
        ];
        let map = class_map(&m, &boxes, 2).unwrap();
        assert_eq!(map.data[5 * 20 + 5], 2, "inside both: the small box's class 1");
        assert_eq!(map.data[15 * 20 + 15], 1, "inside the big box only: class 0");
        // (19, 2) is outside both; the big box is 1.5 px away, the small one 12.5
        assert_eq!(map.data[2 * 20 + 19], 1);
    }

    #[test]
    fn masks_without_boxes_and_classes_out_of_range_are_refused() {
        let m = mask(4, 4, &[(1, 1)]);
        let e = class_map(&m, &[], 2).unwrap_err();
        assert!(e.contains("no labelled box"), "{e}");
        let e = class_map(&m, &[bx(5, [0.0, 0.0, 2.0, 2.0], 4, 4)], 2).unwrap_err();
        assert!(e.contains("class 5") && e.contains("2 classes"), "{e}");
        // a clean part needs no box
        let clean = class_map(&GrayFrame::new(4, 4), &[], 2).unwrap();
        assert!(clean.data.iter().all(|&v| v == 0));
    }

    #[test]
    fn targets_are_one_plane_per_class() {
        let map = GrayFrame {
            width: 2,
            height: 1,
            data: vec![2, 0],
        };
        let mut t = Vec::new();
        push_targets(&map, 2, &mut t);
        assert_eq!(t, vec![0.0, 0.0, 1.0, 0.0]);
        let mut t = Vec::new();
        push_targets(&binary_map(&mask(2, 1, &[(1, 0)])), 1, &mut t);
        assert_eq!(t, vec![0.0, 1.0]);
    }
}
