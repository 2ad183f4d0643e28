//! Image-quality features for drift detection, computed in one pass over a frame.
//!
//! Definitions (all on 0..1 scales except sharpness):
//! - `brightness`: mean BT.601 luma / 255
//! - `contrast`: population standard deviation of luma / 255
//! - `sharpness`: population variance of the 4-neighbour Laplacian
//!   `[0 1 0; 1 -4 1; 0 1 0]` of luma in 0..255 units, over interior pixels (the
//!   same kernel as OpenCV's `cv2.Laplacian(gray, CV_64F)`; borders are skipped
//!   instead of reflected). Frames smaller than 3×3 have sharpness 0.
//! - `mean_r`, `mean_g`, `mean_b`: channel means / 255
//! - `saturation`: mean HSV saturation `(max - min) / max` (0 for black pixels)

use serde::{Deserialize, Serialize};

use crate::Frame;
use crate::frame::luma;

/// Quality features of one frame.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ImageFeatures {
    pub brightness: f32,
    pub contrast: f32,
    pub sharpness: f32,
    pub mean_r: f32,
    pub mean_g: f32,
    pub mean_b: f32,
    pub saturation: f32,
}

impl ImageFeatures {
    /// Feature names in a fixed order, matching [`ImageFeatures::values`].
    pub const NAMES: [&'static str; 7] = [
        "brightness",
        "contrast",
        "sharpness",
        "mean_r",
        "mean_g",
        "mean_b",
        "saturation",
    ];

    pub fn values(&self) -> [f32; 7] {
        [
            self.brightness,
            self.contrast,
            self.sharpness,
            self.mean_r,
            self.mean_g,
            self.mean_b,
            self.saturation,
        ]
    }
}

/// Computes all features reading each pixel once (luma rows are kept in a rolling
/// three-row window for the Laplacian).
pub fn compute_features(frame: &Frame) -> ImageFeatures {
    let (w, h) = (frame.width() as usize, frame.height() as usize);
    let rgb = frame.as_rgb();
    let n = (w * h) as f64;
    let (mut sum_l, mut sum_l2, mut sum_r, mut sum_g, mut sum_b, mut sum_s) = (0f64, 0f64, 0f64, 0f64, 0f64, 0f64);
    let (mut lap_n, mut lap_sum, mut lap_sum2) = (0f64, 0f64, 0f64);
    let mut rows: [Vec<f32>; 3] = [vec![0.0; w], vec![0.0; w], vec![0.0; w]];
    for y in 0..h {
        let cur = &mut rows[y % 3];
        for (slot, px) in cur.iter_mut().zip(rgb[y * w * 3..(y + 1) * w * 3].chunks_exact(3)) {
            let (r, g, b) = (px[0], px[1], px[2]);
            let l = luma(r, g, b);
            *slot = l;
            sum_l += l as f64;
            sum_l2 += (l as f64) * (l as f64);
            sum_r += r as f64;
            sum_g += g as f64;
            sum_b += b as f64;
            let (mx, mn) = (r.max(g).max(b), r.min(g).min(b));
            if mx > 0 {
                sum_s += (mx - mn) as f64 / mx as f64;
            }
        }
        // With rows y-2, y-1, y in the window, the Laplacian of row y-1 is complete.
        if y >= 2 && w >= 3 {
            let (up, mid, down) = (&rows[(y - 2) % 3], &rows[(y - 1) % 3], &rows[y % 3]);
            for x in 1..w - 1 {
                let v = (up[x] + down[x] + mid[x - 1] + mid[x + 1] - 4.0 * mid[x]) as f64;
                lap_n += 1.0;
                lap_sum += v;
                lap_sum2 += v * v;
            }
        }
    }
    let mean_l = sum_l / n;
    let var_l = (sum_l2 / n - mean_l * mean_l).max(0.0);
    let sharpness = if lap_n > 0.0 {
        let m = lap_sum / lap_n;
        (lap_sum2 / lap_n - m * m).max(0.0)
    } else {
        0.0
    };
    ImageFeatures {
        brightness: (mean_l / 255.0) as f32,
        contrast: (var_l.sqrt() / 255.0) as f32,
        sharpness: sharpness as f32,
        mean_r: (sum_r / n / 255.0) as f32,
        mean_g: (sum_g / n / 255.0) as f32,
        mean_b: (sum_b / n / 255.0) as f32,
        saturation: (sum_s / n) as f32,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grey(w: u32, h: u32, values: &[u8]) -> Frame {
        Frame::from_gray(w, h, values).unwrap()
    }

    #[test]
    fn features_of_a_single_bright_pixel_match_hand_computation() {
        // 4×3 grey image, one pixel of 100 at (1,1).
        #[rustfmt::skip]
        let f = grey(4, 3, &[
            0, 0, 0, 0,
            0, 100, 0, 0,
            0, 0, 0, 0,
        ]);
        let ft = compute_features(&f);
        // mean = 100/12; E[x²] = 10000/12; var = E[x²] - mean²
        let mean = 100.0 / 12.0;
        let std = (10000.0f64 / 12.0 - mean * mean).sqrt();
        assert!((ft.brightness as f64 - mean / 255.0).abs() < 1e-6);
        assert!((ft.contrast as f64 - std / 255.0).abs() < 1e-6);
        // Interior Laplacians: at (1,1) = -400, at (2,1) = +100 → mean -150, var 62 500.
        assert!((ft.sharpness - 62_500.0).abs() < 1e-2, "{}", ft.sharpness);
        assert_eq!(ft.saturation, 0.0);
        assert!((ft.mean_r - ft.mean_g).abs() < 1e-7 && (ft.mean_g - ft.mean_b).abs() < 1e-7);
    }

    #[test]
    fn flat_image_has_zero_contrast_and_sharpness() {
        let f = Frame::filled(16, 9, [128, 128, 128]).unwrap();
        let ft = compute_features(&f);
        assert!((ft.brightness - 128.0 / 255.0).abs() < 1e-6);
        assert_eq!(ft.contrast, 0.0);
        assert_eq!(ft.sharpness, 0.0);
    }

    #[test]
    fn colour_means_and_saturation_of_half_red_half_grey() {
        // left pixel pure red (sat 1), right pixel grey 51 (sat 0)
        let f = Frame::from_rgb(2, 1, vec![255, 0, 0, 51, 51, 51]).unwrap();
        let ft = compute_features(&f);
        assert!((ft.mean_r - (255.0 + 51.0) / 2.0 / 255.0).abs() < 1e-6);
        assert!((ft.mean_g - 51.0 / 2.0 / 255.0).abs() < 1e-6);
        assert!((ft.saturation - 0.5).abs() < 1e-6);
        let luma_red = 0.299 * 255.0;
        assert!((ft.brightness - (luma_red + 51.0) / 2.0 / 255.0).abs() < 1e-5);
        assert_eq!(ft.sharpness, 0.0, "too small for a Laplacian");
    }

    #[test]
    fn checkerboard_is_sharper_than_its_blurred_version() {
        let mut sharp = Vec::new();
        let mut soft = Vec::new();
        for y in 0..32u32 {
            for x in 0..32u32 {
                sharp.push(if (x + y) % 2 == 0 { 200 } else { 50 });
                soft.push(if (x / 8 + y / 8) % 2 == 0 { 140 } else { 110 });
            }
        }
        let a = compute_features(&grey(32, 32, &sharp));
        let b = compute_features(&grey(32, 32, &soft));
        assert!(a.sharpness > 100.0 * b.sharpness.max(1.0));
    }
}
