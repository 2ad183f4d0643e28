//! `train_batch0.png`: the first training batch as the network sees it (after
//! windows, flips and colour jitter), each image with the outline of its target
//! mask in red, so a user can check that images and masks arrive aligned and that
//! the defects are still visible at the training scale (what Ultralytics'
//! `train_batch0.jpg` is for).

use detective_vision::{Frame, VisionError};

/// Images per row of the grid.
const PER_ROW: usize = 4;
/// Images shown at most.
const MAX_IMAGES: usize = 16;
/// Grey gap between images, in pixels.
const GAP: usize = 2;

/// A grid of the batch's first images (`images`: `[n, 3, s, s]` in 0..1;
/// `masks`: `[n, outputs, s, s]`, 0 or 1), a defect pixel's outline drawn where
/// any output marks it and a 4-neighbour is not marked.
pub fn batch_preview(images: &[f32], masks: &[f32], n: usize, s: usize, outputs: usize) -> Result<Frame, VisionError> {
    let shown = n.min(MAX_IMAGES);
    if shown == 0 || images.len() < shown * 3 * s * s || masks.len() < shown * outputs * s * s {
        return Err(VisionError::InvalidArgument(format!(
            "a batch of {n} images of {s}² with {outputs} outputs does not fit its buffers"
        )));
    }
    let cols = shown.min(PER_ROW);
    let rows = shown.div_ceil(PER_ROW);
    let (w, h) = (cols * s + (cols - 1) * GAP, rows * s + (rows - 1) * GAP);
    let mut rgb = vec![128u8; w * h * 3];
    for k in 0..shown {
        let (ox, oy) = ((k % PER_ROW) * (s + GAP), (k / PER_ROW) * (s + GAP));
        let img = &images[k * 3 * s * s..(k + 1) * 3 * s * s];
        let marked = |x: usize, y: usize| (0..outputs).any(|c| masks[((k * outputs + c) * s + y) * s + x] > 0.5);
        for y in 0..s {
            for x in 0..s {
                let at = ((oy + y) * w + ox + x) * 3;
                let edge = marked(x, y)
                    && (x == 0
                        || y == 0
                        || x + 1 == s
                        || y + 1 == s
                        || !marked(x - 1, y)
                        || !marked(x + 1, y)
                        || !marked(x, y - 1)
                        || !marked(x, y + 1));
                if edge {
                    rgb[at..at + 3].copy_from_slice(&[255, 0, 0]);
                    continue;
                }
                for c in 0..3 {
                    rgb[at + c] = (img[(c * s + y) * s + x] * 255.0).round().clamp(0.0, 255.0) as u8;
                }
            }
        }
    }
    Frame::from_rgb(w as u32, h as u32, rgb)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_preview_shows_each_image_with_its_mask_outlined() {
        let (n, s) = (5, 8);
        let mut images = vec![0.5f32; n * 3 * s * s];
        images[0] = 1.0; // image 0, red channel, (0, 0)
        let mut masks = vec![0.0f32; n * s * s];
        // image 1: a 4×4 square at (2, 2)
        for y in 2..6 {
            for x in 2..6 {
                masks[(s + y) * s + x] = 1.0;
            }
        }
        let f = batch_preview(&images, &masks, n, s, 1).unwrap();
        // 4 per row, 2 rows, 2-px gaps
        assert_eq!((f.width(), f.height()), (4 * 8 + 3 * 2, 2 * 8 + 2));
        assert_eq!(f.pixel(0, 0), [255, 128, 128]);
        let x0 = (s + GAP) as u32;
        assert_eq!(f.pixel(x0 + 2, 2), [255, 0, 0], "the square's corner is outlined");
        assert_eq!(f.pixel(x0 + 3, 3), [128, 128, 128], "its inside shows the image");
        assert_eq!(f.pixel(x0 + 1, 1), [128, 128, 128]);
        assert!(batch_preview(&images, &masks, n, 16, 1).is_err());
    }
}
