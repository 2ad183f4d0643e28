//! Horizontal and vertical flips of a frame and its boxes, in place (Ultralytics'
//! `RandomFlip`; the caller draws the coin).

use super::params::LabeledBox;
use crate::Frame;

/// Mirrors left↔right: pixel column `x` goes to `w - 1 - x`, a box `[x1, x2]` to `[w - x2, w - x1]`.
pub fn flip_lr(frame: &mut Frame, boxes: &mut [LabeledBox]) {
    let w = frame.width() as usize;
    for row in frame.as_rgb_mut().chunks_exact_mut(w * 3) {
        let (mut i, mut j) = (0, w.saturating_sub(1));
        while i < j {
            for c in 0..3 {
                row.swap(i * 3 + c, j * 3 + c);
            }
            i += 1;
            j -= 1;
        }
    }
    let wf = w as f32;
    for (_, b) in boxes.iter_mut() {
        let (x1, x2) = (b[0], b[2]);
        b[0] = wf - x2;
        b[2] = wf - x1;
    }
}

/// Mirrors top↔bottom: row `y` goes to `h - 1 - y`, a box `[y1, y2]` to `[h - y2, h - y1]`.
pub fn flip_ud(frame: &mut Frame, boxes: &mut [LabeledBox]) {
    let (w, h) = (frame.width() as usize, frame.height() as usize);
    let stride = w * 3;
    let data = frame.as_rgb_mut();
    for y in 0..h / 2 {
        let (top, bottom) = data.split_at_mut((h - 1 - y) * stride);
        top[y * stride..(y + 1) * stride].swap_with_slice(&mut bottom[..stride]);
    }
    let hf = h as f32;
    for (_, b) in boxes.iter_mut() {
        let (y1, y2) = (b[1], b[3]);
        b[1] = hf - y2;
        b[3] = hf - y1;
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::{assert_box_near, colour_extent, frame_with_rect};
    use super::*;

    #[test]
    fn boxes_follow_the_pixels_through_flips() {
        let red = [250, 10, 10];
        let rect = [10, 20, 50, 35];
        let f = frame_with_rect(97, 64, rect, red);
        let b0 = [rect[0] as f32, rect[1] as f32, rect[2] as f32, rect[3] as f32];

        let mut lr = f.clone();
        let mut boxes = vec![(3, b0)];
        flip_lr(&mut lr, &mut boxes);
        assert_eq!(boxes[0].0, 3);
        assert_box_near(boxes[0].1, colour_extent(&lr, red, 0).unwrap(), 0.0, "flip_lr");
        assert_eq!(boxes[0].1, [47.0, 20.0, 87.0, 35.0]);

        let mut ud = f.clone();
        let mut boxes = vec![(0, b0)];
        flip_ud(&mut ud, &mut boxes);
        assert_box_near(boxes[0].1, colour_extent(&ud, red, 0).unwrap(), 0.0, "flip_ud");

        // flipping twice restores everything
        let mut twice = f.clone();
        let mut boxes = vec![(0, b0)];
        flip_lr(&mut twice, &mut boxes);
        flip_lr(&mut twice, &mut boxes);
        flip_ud(&mut twice, &mut boxes);
        flip_ud(&mut twice, &mut boxes);
        assert_eq!(twice, f);
        assert_eq!(boxes[0].1, b0);
    }

    #[test]
    fn odd_and_single_pixel_frames_flip() {
        let mut f = Frame::from_rgb(3, 1, vec![1, 1, 1, 2, 2, 2, 3, 3, 3]).unwrap();
        flip_lr(&mut f, &mut []);
        assert_eq!(f.as_rgb(), &[3, 3, 3, 2, 2, 2, 1, 1, 1]);
        let mut one = Frame::filled(1, 1, [9, 8, 7]).unwrap();
        flip_lr(&mut one, &mut []);
        flip_ud(&mut one, &mut []);
        assert_eq!(one.as_rgb(), &[9, 8, 7]);
    }
}
