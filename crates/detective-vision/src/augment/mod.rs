//! Training-time augmentation of images together with their boxes, following the
//! default detection recipe of Ultralytics YOLOv8 so our trainer sees the same kind of
//! data as theirs:
//!
//! 1. [`load_resized`]: long side to `imgsz`, aspect kept (their `load_image`);
//! 2. either [`mosaic4`] on a `2·imgsz` canvas followed by [`random_perspective`] with
//!    border `-imgsz/2` (which crops the canvas back to `imgsz × imgsz`), or — mosaic
//!    off, e.g. the last `close_mosaic` epochs — [`letterbox_train`] followed by
//!    [`random_perspective`] with border 0;
//! 3. [`random_hsv`] (LUTs on OpenCV's 8-bit HSV);
//! 4. [`flip_ud`] with probability `flipud`, then [`flip_lr`] with probability `fliplr`.
//!
//! Boxes are `(class, [x1, y1, x2, y2])` in pixels of the frame they travel with.
//! The segmenter's paired image + mask augmentation is [`augment_pair`].
//!
//! Every random choice comes from a caller-owned [`Rng`](detective_core::Rng), so the
//! same seed gives the same bytes. Pixel operations reproduce OpenCV on 8-bit images
//! bit for bit — `cv2.resize` `INTER_LINEAR`, `cv2.warpAffine` `INTER_LINEAR` with a
//! constant border (OpenCV 4.x; 5.0 changed that kernel), `COLOR_RGB2HSV` and
//! `COLOR_HSV2RGB` (OpenCV's vectorised kernels, as they run on rows of `imgsz`
//! pixels) — checked against `opencv-python` 4.10 and 4.14; only the random draws
//! differ from Ultralytics (another generator).

mod affine;
mod flip;
mod hsv;
mod letterbox;
mod mosaic;
mod params;
mod resize;
mod segment;

pub use affine::{
    AR_THR, AREA_THR, WH_THR, affine_matrix, box_candidates, random_perspective, transform_boxes, warp_affine,
};
pub use flip::{flip_lr, flip_ud};
pub use hsv::{HsvLuts, apply_hsv_luts, hsv_to_rgb, random_hsv, rgb_to_hsv};
pub use letterbox::letterbox_train;
pub use mosaic::mosaic4;
pub use resize::load_resized;
pub use segment::{SegAugmentParams, augment_pair, pick_defect_pixel, resize_mask_nearest, resize_pair, sample_patch};

pub use params::{AugmentParams, FILL, LabeledBox};

#[cfg(test)]
pub(crate) mod test_util {
    //! Helpers shared by the augmentation tests: frames with solid rectangles and a
    //! check that a box encloses the rectangle's pixels.

    use crate::Frame;

    /// A grey frame with one filled rectangle `[x1, y1, x2, y2)` of `colour`.
    pub fn frame_with_rect(w: u32, h: u32, rect: [u32; 4], colour: [u8; 3]) -> Frame {
        let mut f = Frame::filled(w, h, [40, 40, 40]).unwrap();
        for y in rect[1]..rect[3] {
            for x in rect[0]..rect[2] {
                f.put_pixel(x, y, colour);
            }
        }
        f
    }

    /// The tight box `[x1, y1, x2 + 1, y2 + 1]` of the pixels close to `colour`.
    pub fn colour_extent(f: &Frame, colour: [u8; 3], tol: i32) -> Option<[f32; 4]> {
        let (mut x1, mut y1, mut x2, mut y2) = (u32::MAX, u32::MAX, 0, 0);
        let mut any = false;
        for y in 0..f.height() {
            for x in 0..f.width() {
                let p = f.pixel(x, y);
                if (0..3).all(|c| (p[c] as i32 - colour[c] as i32).abs() <= tol) {
                    any = true;
                    x1 = x1.min(x);
                    y1 = y1.min(y);
                    x2 = x2.max(x + 1);
                    y2 = y2.max(y + 1);
                }
            }
        }
        any.then_some([x1 as f32, y1 as f32, x2 as f32, y2 as f32])
    }

    /// Asserts that `b` matches `extent` within `tol` pixels on every side.
    pub fn assert_box_near(b: [f32; 4], extent: [f32; 4], tol: f32, what: &str) {
        for k in 0..4 {
            assert!(
                (b[k] - extent[k]).abs() <= tol,
                "{what}: box {b:?} vs drawn pixels {extent:?} (tolerance {tol})"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_ultralytics_and_valid() {
        let p = AugmentParams::default();
        assert_eq!((p.hsv_h, p.hsv_s, p.hsv_v), (0.015, 0.7, 0.4));
        assert_eq!((p.translate, p.scale, p.fliplr, p.flipud), (0.1, 0.5, 0.5, 0.0));
        p.validate().unwrap();
        AugmentParams::none().validate().unwrap();
    }

    #[test]
    fn invalid_params_are_refused() {
        for bad in [
            AugmentParams {
                scale: 1.0,
                ..AugmentParams::default()
            },
            AugmentParams {
                fliplr: 1.5,
                ..AugmentParams::default()
            },
            AugmentParams {
                hsv_h: f32::NAN,
                ..AugmentParams::default()
            },
            AugmentParams {
                translate: -0.1,
                ..AugmentParams::default()
            },
        ] {
            assert!(bad.validate().is_err(), "{bad:?}");
        }
    }
}
