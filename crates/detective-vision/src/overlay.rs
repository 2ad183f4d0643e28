//! Drawings for people: red defect boxes with class and confidence, probability
//! heatmaps in the turbo colour map, and translucent mask overlays.

use detective_core::Detection;

use crate::colormap::turbo;
use crate::font::{draw_text, text_height, text_width};
use crate::{Frame, GrayFrame, VisionError};

/// The colour of defect boxes.
pub const DEFECT_RED: [u8; 3] = [230, 30, 30];

/// Line thickness and label scale that stay readable from 200 px to 4K frames.
fn style_for(frame: &Frame) -> (i32, u32) {
    let short = frame.width().min(frame.height());
    let thickness = (short / 200).clamp(1, 6) as i32;
    let scale = (short / 320).clamp(1, 4);
    (thickness, scale)
}

/// Fills a rectangle (inclusive-exclusive, clipped to the frame).
fn fill_rect(frame: &mut Frame, x1: i32, y1: i32, x2: i32, y2: i32, rgb: [u8; 3]) {
    let (w, h) = (frame.width() as i32, frame.height() as i32);
    for y in y1.max(0)..y2.min(h) {
        for x in x1.max(0)..x2.min(w) {
            frame.put_pixel(x as u32, y as u32, rgb);
        }
    }
}

/// Draws the outline of a box with the given thickness, inside its edges.
pub fn draw_rect(frame: &mut Frame, x1: i32, y1: i32, x2: i32, y2: i32, thickness: i32, rgb: [u8; 3]) {
    let t = thickness.max(1);
    fill_rect(frame, x1, y1, x2, y1 + t, rgb);
    fill_rect(frame, x1, y2 - t, x2, y2, rgb);
    fill_rect(frame, x1, y1, x1 + t, y2, rgb);
    fill_rect(frame, x2 - t, y1, x2, y2, rgb);
}

/// Draws every detection as a red box with a "name 0.93" label above it (or inside
/// it when the box touches the top edge).
pub fn draw_detections(frame: &mut Frame, detections: &[Detection]) {
    let (thickness, scale) = style_for(frame);
    for d in detections {
        let b = d.bbox.clamp_to(frame.width() as f32, frame.height() as f32);
        let (x1, y1, x2, y2) = (
            b.x1.round() as i32,
            b.y1.round() as i32,
            b.x2.round() as i32,
            b.y2.round() as i32,
        );
        draw_rect(frame, x1, y1, x2.max(x1 + 1), y2.max(y1 + 1), thickness, DEFECT_RED);
        let label = format!("{} {:.2}", d.name, d.confidence);
        let (tw, th) = (text_width(&label, scale) as i32 + 4, text_height(scale) as i32 + 4);
        let ly = if y1 - th >= 0 { y1 - th } else { y1 };
        let lx = x1.min(frame.width() as i32 - tw).max(0);
        fill_rect(frame, lx, ly, lx + tw, ly + th, DEFECT_RED);
        draw_text(frame, lx + 2, ly + 2, &label, scale, [255, 255, 255]);
    }
}

fn check_map(len: usize, width: u32, height: u32) -> Result<(), VisionError> {
    if len != width as usize * height as usize || width == 0 || height == 0 {
        return Err(VisionError::InvalidArgument(format!(
            "map of {len} values does not match {width}×{height}"
        )));
    }
    Ok(())
}

/// A heatmap image of per-pixel probabilities (0..1) in the turbo colour map.
pub fn heatmap(prob: &[f32], width: u32, height: u32) -> Result<Frame, VisionError> {
    check_map(prob.len(), width, height)?;
    let mut data = Vec::with_capacity(prob.len() * 3);
    for &p in prob {
        data.extend_from_slice(&turbo(p));
    }
    Frame::from_rgb(width, height, data)
}

/// The heatmap blended over the frame with weight `alpha` (0 = frame, 1 = heatmap).
pub fn blend_heatmap(frame: &Frame, prob: &[f32], alpha: f32) -> Result<Frame, VisionError> {
    let heat = heatmap(prob, frame.width(), frame.height())?;
    let a = alpha.clamp(0.0, 1.0);
    let data = frame
        .as_rgb()
        .iter()
        .zip(heat.as_rgb())
        .map(|(&f, &h)| (f as f32 * (1.0 - a) + h as f32 * a).round() as u8)
        .collect();
    Frame::from_rgb(frame.width(), frame.height(), data)
}

/// Tints the pixels where `mask > 127` with `rgb` at opacity `alpha`.
pub fn overlay_mask(frame: &mut Frame, mask: &GrayFrame, rgb: [u8; 3], alpha: f32) -> Result<(), VisionError> {
    if mask.width != frame.width() || mask.height != frame.height() {
        return Err(VisionError::InvalidArgument(format!(
            "mask {}×{} does not match frame {}×{}",
            mask.width,
            mask.height,
            frame.width(),
            frame.height()
        )));
    }
    let a = alpha.clamp(0.0, 1.0);
    for (px, &m) in frame.as_rgb_mut().chunks_exact_mut(3).zip(&mask.data) {
        if m > 127 {
            for c in 0..3 {
                px[c] = (px[c] as f32 * (1.0 - a) + rgb[c] as f32 * a).round() as u8;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use detective_core::BBox;

    fn det(b: [f32; 4]) -> Detection {
        Detection {
            class_id: 0,
            name: "scratch".into(),
            confidence: 0.87,
            bbox: BBox::from(b),
        }
    }

    #[test]
    fn detection_box_edges_are_red_and_inside_untouched() {
        let mut f = Frame::filled(200, 200, [100, 100, 100]).unwrap();
        draw_detections(&mut f, &[det([50.0, 60.0, 150.0, 160.0])]);
        assert_eq!(f.pixel(50, 100), DEFECT_RED, "left edge");
        assert_eq!(f.pixel(149, 100), DEFECT_RED, "right edge");
        assert_eq!(f.pixel(100, 159), DEFECT_RED, "bottom edge");
        assert_eq!(f.pixel(100, 100), [100, 100, 100], "interior untouched");
        // label sits above the box and contains white text pixels
        let white = (60 - 12..60)
            .flat_map(|y| (50..120).map(move |x| (x, y)))
            .filter(|&(x, y)| f.pixel(x, y) == [255, 255, 255])
            .count();
        assert!(white > 10, "label text drawn above the box");
    }

    #[test]
    fn box_outside_the_frame_is_clipped_without_panic() {
        let mut f = Frame::filled(40, 30, [0, 0, 0]).unwrap();
        draw_detections(&mut f, &[det([-10.0, -10.0, 500.0, 500.0])]);
        assert_eq!(f.pixel(0, 29), DEFECT_RED);
    }

    #[test]
    fn heatmap_maps_zero_and_one_to_turbo_ends() {
        let h = heatmap(&[0.0, 1.0], 2, 1).unwrap();
        assert_eq!(h.pixel(0, 0), turbo(0.0));
        assert_eq!(h.pixel(1, 0), turbo(1.0));
        assert!(heatmap(&[0.0], 2, 1).is_err());
    }

    #[test]
    fn blend_weight_zero_keeps_frame_and_one_gives_heatmap() {
        let f = Frame::filled(2, 1, [10, 20, 30]).unwrap();
        assert_eq!(
            blend_heatmap(&f, &[0.3, 0.9], 0.0).unwrap(),
            Frame::from_rgb(2, 1, f.as_rgb().to_vec()).unwrap()
        );
        assert_eq!(
            blend_heatmap(&f, &[0.3, 0.9], 1.0).unwrap().as_rgb(),
            heatmap(&[0.3, 0.9], 2, 1).unwrap().as_rgb()
        );
    }

    #[test]
    fn mask_overlay_tints_only_mask_pixels() {
        let mut f = Frame::filled(2, 1, [0, 0, 0]).unwrap();
        let m = GrayFrame {
            width: 2,
            height: 1,
            data: vec![255, 0],
        };
        overlay_mask(&mut f, &m, [200, 100, 0], 0.5).unwrap();
        assert_eq!(f.pixel(0, 0), [100, 50, 0]);
        assert_eq!(f.pixel(1, 0), [0, 0, 0]);
    }
}
