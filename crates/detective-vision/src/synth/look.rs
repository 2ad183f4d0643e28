//! The wide look of `--variety wide`: per image, a contrast, a brightness, a defocus
//! blur and a choice of grey or tinted output on top of the standard surface.
//!
//! A pretraining corpus must not teach a network one camera: real lines run dark and
//! bright parts, soft and sharp lenses, monochrome and colour sensors, and defects that
//! barely stand out from the texture. [`Look`] draws those per image from a random
//! stream of its own, so the standard variety's images stay byte-identical. Boxes and
//! masks are unchanged by it: a blur of at most [`MAX_BLUR_SIGMA`] px moves no edge by
//! more than a pixel or two, and contrast and brightness move no edge at all.

use detective_core::Rng;

use crate::Frame;

/// Largest defocus blur (Gaussian sigma in pixels).
pub const MAX_BLUR_SIGMA: f32 = 1.6;

/// How varied the generated images are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Variety {
    /// The surfaces, lighting and camera of the demo and the bundled model.
    #[default]
    Standard,
    /// Standard plus, per image, contrast 0.45–1.3×, brightness 0.55–1.45×, a defocus
    /// blur (sigma up to [`MAX_BLUR_SIGMA`] px on 40 % of the images) and grey output on
    /// half of them: for a pretraining corpus.
    Wide,
}

impl Variety {
    pub fn from_name(name: &str) -> Option<Self> {
        match name.trim().to_ascii_lowercase().as_str() {
            "standard" => Some(Variety::Standard),
            "wide" => Some(Variety::Wide),
            _ => None,
        }
    }
}

/// One image's draw of the wide look.
#[derive(Debug, Clone, PartialEq)]
pub struct Look {
    /// Factor on the luma's distance from the surface's mean (texture and defects alike).
    pub contrast: f32,
    /// Factor on the luma after contrast.
    pub brightness: f32,
    /// Gaussian sigma in pixels; 0 = sharp.
    pub blur_sigma: f32,
    /// Whether the output is grey (the three channels equal).
    pub grey: bool,
}

impl Look {
    /// The look of sample `index` of the dataset seeded by `seed` (a stream apart from
    /// the sample's own).
    pub fn draw(seed: u64, index: u64) -> Self {
        let mut rng = Rng::derive(seed ^ 0x6c6f_6f6b_7769_6465, index);
        let contrast = rng.range_f32(0.45, 1.3);
        let brightness = rng.range_f32(0.55, 1.45);
        let blur_sigma = if rng.chance(0.4) {
            rng.range_f32(0.5, MAX_BLUR_SIGMA)
        } else {
            0.0
        };
        let grey = rng.chance(0.5);
        Look {
            contrast,
            brightness,
            blur_sigma,
            grey,
        }
    }

    /// Applies contrast, brightness and blur to a luma plane of `w × h` around `base`.
    pub fn apply_luma(&self, luma: &mut [f32], w: usize, h: usize, base: f32) {
        for v in luma.iter_mut() {
            *v = (base + (*v - base) * self.contrast) * self.brightness;
        }
        if self.blur_sigma > 0.0 {
            gaussian_blur(luma, w, h, self.blur_sigma);
        }
    }

    /// Makes the frame grey when the look says so.
    pub fn apply_colour(&self, frame: &mut Frame) {
        if !self.grey {
            return;
        }
        for px in frame.as_rgb_mut().chunks_exact_mut(3) {
            let y = (u32::from(px[0]) * 77 + u32::from(px[1]) * 150 + u32::from(px[2]) * 29 + 128) >> 8;
            let y = y.min(255) as u8;
            px.fill(y);
        }
    }
}

/// Separable Gaussian blur in place, edges clamped.
fn gaussian_blur(plane: &mut [f32], w: usize, h: usize, sigma: f32) {
    let radius = (sigma * 3.0).ceil() as usize;
    let mut kernel: Vec<f32> = (0..=2 * radius)
        .map(|i| {
            let d = i as f32 - radius as f32;
            (-(d * d) / (2.0 * sigma * sigma)).exp()
        })
        .collect();
    let sum: f32 = kernel.iter().sum();
    kernel.iter_mut().for_each(|k| *k /= sum);
    let r = radius as isize;
    let mut tmp = vec![0f32; plane.len()];
    for y in 0..h {
        let row = &plane[y * w..][..w];
        for x in 0..w {
            let mut acc = 0.0;
            for (k, kv) in kernel.iter().enumerate() {
                let xi = (x as isize + k as isize - r).clamp(0, w as isize - 1) as usize;
                acc += kv * row[xi];
            }
            tmp[y * w + x] = acc;
        }
    }
    for y in 0..h {
        for x in 0..w {
            let mut acc = 0.0;
            for (k, kv) in kernel.iter().enumerate() {
                let yi = (y as isize + k as isize - r).clamp(0, h as isize - 1) as usize;
                acc += kv * tmp[yi * w + x];
            }
            plane[y * w + x] = acc;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blur_keeps_the_mean_and_softens_an_edge() {
        let (w, h) = (16, 4);
        let mut plane: Vec<f32> = (0..w * h).map(|i| if i % w < 8 { 0.0 } else { 100.0 }).collect();
        let before: f32 = plane.iter().sum();
        gaussian_blur(&mut plane, w, h, 1.0);
        let after: f32 = plane.iter().sum();
        assert!((before - after).abs() < 1.0, "{before} vs {after}");
        assert!(plane[7] > 5.0 && plane[7] < 50.0 && plane[8] > 50.0 && plane[8] < 95.0);
        assert!(plane[0] < 0.01 && plane[15] > 99.99);
    }

    #[test]
    fn the_look_is_deterministic_and_varies_between_images() {
        assert_eq!(Look::draw(3, 7), Look::draw(3, 7));
        let looks: Vec<Look> = (0..200).map(|i| Look::draw(3, i)).collect();
        let grey = looks.iter().filter(|l| l.grey).count();
        let blurred = looks.iter().filter(|l| l.blur_sigma > 0.0).count();
        assert!((60..140).contains(&grey), "{grey} grey of 200");
        assert!((40..120).contains(&blurred), "{blurred} blurred of 200");
        assert!(
            looks
                .iter()
                .all(|l| (0.45..=1.3).contains(&l.contrast) && l.blur_sigma <= MAX_BLUR_SIGMA)
        );
    }

    #[test]
    fn contrast_scales_the_distance_from_the_base() {
        let look = Look {
            contrast: 0.5,
            brightness: 1.0,
            blur_sigma: 0.0,
            grey: false,
        };
        let mut plane = vec![100.0, 140.0, 60.0];
        look.apply_luma(&mut plane, 3, 1, 100.0);
        assert_eq!(plane, vec![100.0, 120.0, 80.0]);
    }
}
