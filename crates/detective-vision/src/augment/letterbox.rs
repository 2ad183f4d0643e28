//! The letterbox of the training pipeline when mosaic is off: Ultralytics'
//! `LetterBox(new_shape=(imgsz, imgsz))` with its defaults (scale up allowed, centred,
//! no stride rounding), applied to a frame together with its boxes.
//!
//! After [`load_resized`](super::load_resized) the long side already equals `imgsz`, so
//! this only pads; called on any other frame it also resizes (OpenCV-exact bilinear).

use super::params::{FILL, LabeledBox};
use crate::preprocess::resize_like_opencv;
use crate::{Frame, VisionError};

/// Scales `frame` to fit `imgsz × imgsz` (up or down, aspect kept), centres it on a
/// grey square and moves the boxes with it (`x · r + left`, `y · r + top`, with `r` the
/// exact scale ratio, as Ultralytics does). Rounding is Python's (ties to even).
pub fn letterbox_train(
    frame: &Frame,
    boxes: &[LabeledBox],
    imgsz: u32,
) -> Result<(Frame, Vec<LabeledBox>), VisionError> {
    if imgsz == 0 {
        return Err(VisionError::InvalidArgument("imgsz must be positive".into()));
    }
    let (w, h) = (frame.width() as f64, frame.height() as f64);
    let s = imgsz as f64;
    let r = (s / h).min(s / w);
    let new_w = ((w * r).round_ties_even() as u32).clamp(1, imgsz);
    let new_h = ((h * r).round_ties_even() as u32).clamp(1, imgsz);
    let (dw, dh) = ((imgsz - new_w) as f64 / 2.0, (imgsz - new_h) as f64 / 2.0);
    let top = (dh - 0.1).round_ties_even().max(0.0) as u32;
    let bottom = (dh + 0.1).round_ties_even().max(0.0) as u32;
    let left = (dw - 0.1).round_ties_even().max(0.0) as u32;
    let right = (dw + 0.1).round_ties_even().max(0.0) as u32;
    let (out_w, out_h) = (new_w + left + right, new_h + top + bottom);

    let resized;
    let content = if (new_w, new_h) == (frame.width(), frame.height()) {
        frame
    } else {
        resized = resize_like_opencv(frame, new_w, new_h)?;
        &resized
    };
    let mut out = vec![FILL; out_w as usize * out_h as usize * 3];
    let row = new_w as usize * 3;
    for y in 0..new_h as usize {
        let dst = ((y + top as usize) * out_w as usize + left as usize) * 3;
        out[dst..dst + row].copy_from_slice(&content.as_rgb()[y * row..(y + 1) * row]);
    }
    let mut out = Frame::from_rgb(out_w, out_h, out)?;
    out.source = frame.source.clone();

    let (rf, lf, tf) = (r as f32, left as f32, top as f32);
    let moved = boxes
        .iter()
        .map(|&(c, b)| (c, [b[0] * rf + lf, b[1] * rf + tf, b[2] * rf + lf, b[3] * rf + tf]))
        .collect();
    Ok((out, moved))
}

#[cfg(test)]
mod tests {
    use super::super::test_util::{assert_box_near, colour_extent, frame_with_rect};
    use super::*;

    #[test]
    fn pads_a_resized_frame_and_boxes_follow() {
        let green = [10, 240, 10];
        let rect = [30, 10, 90, 40];
        let f = frame_with_rect(320, 200, rect, green);
        let b = [rect[0] as f32, rect[1] as f32, rect[2] as f32, rect[3] as f32];
        let (out, boxes) = letterbox_train(&f, &[(1, b)], 320).unwrap();
        assert_eq!((out.width(), out.height()), (320, 320));
        assert_eq!(out.pixel(5, 5), [FILL; 3]);
        assert_eq!(out.pixel(5, 315), [FILL; 3]);
        assert_eq!(boxes, vec![(1, [30.0, 70.0, 90.0, 100.0])]);
        assert_box_near(boxes[0].1, colour_extent(&out, green, 0).unwrap(), 0.0, "letterbox pad");
    }

    #[test]
    fn scales_up_and_down_and_boxes_follow() {
        let blue = [0, 0, 255];
        for (w, h, rect) in [(100, 60, [20, 10, 60, 50]), (700, 500, [100, 50, 400, 300])] {
            let f = frame_with_rect(w, h, rect, blue);
            let b = [rect[0] as f32, rect[1] as f32, rect[2] as f32, rect[3] as f32];
            let (out, boxes) = letterbox_train(&f, &[(0, b)], 256).unwrap();
            assert_eq!((out.width(), out.height()), (256, 256));
            let extent = colour_extent(&out, blue, 60).unwrap();
            assert_box_near(boxes[0].1, extent, 1.5, &format!("letterbox {w}x{h}"));
        }
    }

    #[test]
    fn odd_padding_puts_the_extra_pixel_at_the_bottom_right() {
        let f = Frame::filled(320, 203, [1, 2, 3]).unwrap();
        let (out, _) = letterbox_train(&f, &[], 320).unwrap();
        // 117 rows of padding: 58 on top, 59 below (Ultralytics' ±0.1 rounding)
        assert_eq!(out.pixel(0, 57), [FILL; 3]);
        assert_eq!(out.pixel(0, 58), [1, 2, 3]);
        assert_eq!(out.pixel(0, 260), [1, 2, 3]);
        assert_eq!(out.pixel(0, 261), [FILL; 3]);
    }
}
