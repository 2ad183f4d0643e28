//! Metal surface textures and the camera around them: brushed, rolled and cast
//! surfaces; lighting gradient, vignetting, exposure, metal tint and sensor noise.

use detective_core::Rng;

use super::noise::{Noise1, Noise2};
use crate::{Frame, VisionError};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SurfaceKind {
    /// Fine parallel streaks along a grain direction.
    Brushed,
    /// Weaker streaks with darker mill-scale blotches.
    Rolled,
    /// Isotropic sand-blasted / cast grain.
    Cast,
}

/// Parameters of one image's surface and camera, drawn once per sample.
#[derive(Debug, Clone)]
pub struct Surface {
    pub kind: SurfaceKind,
    /// Mean luma of the bare surface (0..255).
    pub base: f32,
    /// Grain direction in radians (near 0 = horizontal, near π/2 = vertical).
    grain: f32,
    tint: [f32; 3],
    light_dir: (f32, f32),
    light_amp: f32,
    vignette: f32,
    exposure: f32,
    noise_sigma: f32,
}

impl Surface {
    pub fn random(rng: &mut Rng) -> Self {
        let kind = match rng.range_usize(0, 3) {
            0 => SurfaceKind::Brushed,
            1 => SurfaceKind::Rolled,
            _ => SurfaceKind::Cast,
        };
        let grain = if rng.chance(0.5) {
            0.0
        } else {
            std::f32::consts::FRAC_PI_2
        } + rng.range_f32(-0.09, 0.09);
        // steel, aluminium, warm (brass-like) and blued steel tints, kept muted
        let tints = [
            [0.97, 1.0, 1.04],
            [1.0, 1.0, 1.0],
            [1.06, 1.0, 0.88],
            [0.94, 0.99, 1.07],
        ];
        let t = tints[rng.range_usize(0, tints.len())];
        let angle = rng.range_f32(0.0, std::f32::consts::TAU);
        Surface {
            kind,
            base: rng.range_f32(105.0, 165.0),
            grain,
            tint: t,
            light_dir: (angle.cos(), angle.sin()),
            light_amp: rng.range_f32(0.02, 0.18),
            vignette: rng.range_f32(0.0, 0.35),
            exposure: rng.range_f32(0.8, 1.2),
            noise_sigma: rng.range_f32(1.0, 4.5),
        }
    }

    /// The bare surface in luma, `w * h` values.
    pub fn render(&self, w: usize, h: usize, rng: &mut Rng) -> Vec<f32> {
        let diag = ((w * w + h * h) as f32).sqrt() + 2.0;
        let (s, c) = self.grain.sin_cos();
        let fine = Noise1::new(rng, 2.0 * diag, 1.3);
        let medium = Noise1::new(rng, 2.0 * diag, 6.0);
        let along = Noise2::new(rng, w, h, 40.0);
        let blotch = Noise2::new(rng, w, h, (w.min(h) as f32 / 4.0).max(8.0));
        let grit = Noise2::new(rng, w, h, 2.5);
        let mottle = Noise2::new(rng, w, h, 14.0);
        let (streak_amp, blotch_amp, grit_amp) = match self.kind {
            SurfaceKind::Brushed => (
                rng.range_f32(7.0, 14.0),
                rng.range_f32(0.0, 4.0),
                rng.range_f32(1.0, 3.0),
            ),
            SurfaceKind::Rolled => (
                rng.range_f32(3.0, 7.0),
                rng.range_f32(8.0, 18.0),
                rng.range_f32(2.0, 4.0),
            ),
            SurfaceKind::Cast => (0.0, rng.range_f32(3.0, 8.0), rng.range_f32(6.0, 12.0)),
        };
        let mut out = vec![0.0f32; w * h];
        for y in 0..h {
            for x in 0..w {
                let (xf, yf) = (x as f32, y as f32);
                // coordinate across the grain: streaks vary with it, not along the grain
                let across = -xf * s + yf * c + diag;
                let mut v = self.base;
                if streak_amp > 0.0 {
                    let streak = 0.65 * fine.at(across) + 0.35 * medium.at(across);
                    v += streak_amp * streak * (0.75 + 0.25 * along.at(xf, yf));
                }
                let b = blotch.at(xf, yf);
                v += if self.kind == SurfaceKind::Rolled {
                    -blotch_amp * b.max(0.0).powf(0.7)
                } else {
                    blotch_amp * b
                };
                v += grit_amp * grit.at(xf, yf) + 2.0 * mottle.at(xf, yf);
                out[y * w + x] = v;
            }
        }
        out
    }

    /// Lighting, vignetting, exposure, tint and sensor noise; quantised to RGB8.
    pub fn finish(&self, luma: &[f32], w: usize, h: usize, rng: &mut Rng) -> Result<Frame, VisionError> {
        let (cx, cy) = (w as f32 / 2.0, h as f32 / 2.0);
        let rmax2 = cx * cx + cy * cy;
        let mut data = Vec::with_capacity(w * h * 3);
        for y in 0..h {
            for x in 0..w {
                let (dx, dy) = (x as f32 - cx, y as f32 - cy);
                let grad = 1.0 + self.light_amp * (dx * self.light_dir.0 + dy * self.light_dir.1) / cx.max(cy);
                let vig = 1.0 - self.vignette * (dx * dx + dy * dy) / rmax2;
                let v = luma[y * w + x] * grad * vig * self.exposure;
                let shared = self.noise_sigma * rng.normal();
                for t in self.tint {
                    let n = shared + 0.35 * self.noise_sigma * rng.normal();
                    data.push((v * t + n).round().clamp(0.0, 255.0) as u8);
                }
            }
        }
        Frame::from_rgb(w as u32, h as u32, data)
    }
}
