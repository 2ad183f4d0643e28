//! Metal surfaces and the camera that looks at them.
//!
//! [`Surface::render`] draws the bare part in luma: brushed (streaks along a
//! near-horizontal or near-vertical grain), rolled (weak long rolling lines with
//! darker mill-scale blotches) or cast / sand-blasted (isotropic grit with sparkle).
//! [`Surface::finish`] then applies the lighting (linear gradient, a specular band
//! across the grain, vignetting), exposure, a muted metal tint and Gaussian sensor
//! noise, and quantises to RGB8.

use detective_core::Rng;

use super::noise::{Field, Lattice, fine_grain, normal_from_bits, smooth_map};
use crate::{Frame, VisionError};

/// The kind of surface finish of one image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SurfaceKind {
    /// Fine parallel streaks of varying length along a grain direction.
    Brushed,
    /// Weak long rolling lines with darker mill-scale blotches.
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
    pub grain: f32,
    /// Unit vector towards the light in image axes (x right, y down).
    pub light: (f32, f32),
    tint: [f32; 3],
    light_amp: f32,
    /// Specular band across the grain: strength, centre (along the grain) and width.
    band_amp: f32,
    band_pos: f32,
    band_width: f32,
    vignette: f32,
    exposure: f32,
    noise_sigma: f32,
}

impl Surface {
    /// Draws a surface type, material and camera setting for an image of `w × h`.
    pub fn random(rng: &mut Rng, w: usize, h: usize) -> Self {
        let kind = match rng.range_usize(0, 3) {
            0 => SurfaceKind::Brushed,
            1 => SurfaceKind::Rolled,
            _ => SurfaceKind::Cast,
        };
        let grain = if rng.chance(0.5) {
            0.0
        } else {
            std::f32::consts::FRAC_PI_2
        } + rng.range_f32(-0.08, 0.08);
        // steel, aluminium, brass-ish, blued steel and titanium greys, kept muted
        let tints = [
            [0.97, 1.0, 1.04],
            [1.0, 1.0, 1.01],
            [1.07, 1.0, 0.85],
            [0.94, 0.99, 1.08],
            [1.03, 1.0, 0.95],
        ];
        let t = tints[rng.range_usize(0, tints.len())];
        let tint = [
            t[0] + rng.range_f32(-0.015, 0.015),
            t[1],
            t[2] + rng.range_f32(-0.015, 0.015),
        ];
        let angle = rng.range_f32(0.0, std::f32::consts::TAU);
        let extent = w.max(h) as f32;
        let band_amp = match kind {
            SurfaceKind::Brushed => rng.range_f32(0.0, 0.35),
            SurfaceKind::Rolled => rng.range_f32(0.0, 0.2),
            SurfaceKind::Cast => rng.range_f32(0.0, 0.06),
        };
        Surface {
            kind,
            base: rng.range_f32(95.0, 165.0),
            grain,
            light: (angle.cos(), angle.sin()),
            tint,
            light_amp: rng.range_f32(0.03, 0.2),
            band_amp,
            band_pos: rng.range_f32(-0.2, 1.2) * extent,
            band_width: rng.range_f32(0.08, 0.3) * extent,
            vignette: rng.range_f32(0.05, 0.4),
            exposure: rng.range_f32(0.78, 1.22),
            noise_sigma: rng.range_f32(1.0, 4.0),
        }
    }

    /// The bare surface in luma, `w * h` values around [`Surface::base`].
    pub fn render(&self, w: usize, h: usize, rng: &mut Rng) -> Vec<f32> {
        let lat = Lattice::new(rng);
        let grain_px = fine_grain(rng, w, h);
        let short = w.min(h) as f32;
        let g = self.grain;
        // low-frequency unevenness shared by all finishes
        let mottle_cell = (short / 3.0).max(8.0);
        let mottle = Field::iso(mottle_cell, rng);
        let mottle_amp = rng.range_f32(1.5, 5.0);
        // smooth parts are evaluated on a coarse grid and interpolated (see `smooth_map`)
        let step = |cell: f32| (cell / 3.0).clamp(1.0, 4.0) as usize;
        let mut out;
        match self.kind {
            SurfaceKind::Brushed => {
                // streaks of three widths, each fading in and out along the grain,
                // plus rare deep lines left by coarse abrasive
                let fine = Field::aniso(g, rng.range_f32(40.0, 120.0), rng.range_f32(0.7, 1.1), rng);
                let mid = Field::aniso(g, rng.range_f32(20.0, 50.0), rng.range_f32(2.0, 4.0), rng);
                let wide_across = rng.range_f32(10.0, 24.0);
                let wide = Field::aniso(g, rng.range_f32(150.0, 400.0), wide_across, rng);
                let deep = Field::aniso(g, rng.range_f32(120.0, 300.0), rng.range_f32(0.8, 1.4), rng);
                let (a_fine, a_mid, a_wide) = (
                    rng.range_f32(5.0, 11.0),
                    rng.range_f32(2.5, 6.0),
                    rng.range_f32(2.0, 5.0),
                );
                let a_deep = rng.range_f32(0.0, 60.0);
                let a_grain = rng.range_f32(0.8, 2.0);
                out = smooth_map(w, h, step(wide_across.min(mottle_cell)), |x, y| {
                    self.base + a_wide * wide.at(&lat, x, y) + mottle_amp * mottle.at(&lat, x, y)
                });
                for (y, row) in out.chunks_exact_mut(w).enumerate() {
                    let yf = y as f32;
                    let grain_row = &grain_px[y * w..][..w];
                    for (x, (o, gr)) in row.iter_mut().zip(grain_row).enumerate() {
                        let xf = x as f32;
                        let d = (deep.at(&lat, xf, yf) - 0.55).max(0.0);
                        *o += a_fine * fine.at(&lat, xf, yf) + a_mid * mid.at(&lat, xf, yf) - a_deep * d + a_grain * gr;
                    }
                }
            }
            SurfaceKind::Rolled => {
                let lines = Field::aniso(g, rng.range_f32(100.0, 300.0), rng.range_f32(1.0, 2.0), rng);
                let wide_across = rng.range_f32(6.0, 16.0);
                let wide = Field::aniso(g, rng.range_f32(200.0, 500.0), wide_across, rng);
                // mill scale: patches elongated along the rolling direction, with
                // fairly sharp, ragged edges (a ramp on a three-octave field)
                let scale1 = Field::aniso(g, short / rng.range_f32(2.5, 4.0), short / rng.range_f32(5.0, 9.0), rng);
                let scale2 = Field::aniso(g + 0.5, short / 10.0, short / 16.0, rng);
                let scale3 = Field::aniso(g - 0.4, short / 28.0, short / 36.0, rng);
                let (a_lines, a_wide) = (rng.range_f32(2.0, 5.0), rng.range_f32(1.5, 4.0));
                let a_scale = rng.range_f32(5.0, 16.0);
                let threshold = rng.range_f32(0.0, 0.35);
                let a_grain = rng.range_f32(1.5, 3.5);
                let blotch = smooth_map(w, h, step(short / 16.0), |x, y| {
                    0.6 * scale1.at(&lat, x, y) + 0.28 * scale2.at(&lat, x, y)
                });
                out = smooth_map(w, h, step(wide_across.min(mottle_cell)), |x, y| {
                    self.base + a_wide * wide.at(&lat, x, y) + mottle_amp * mottle.at(&lat, x, y)
                });
                for (y, row) in out.chunks_exact_mut(w).enumerate() {
                    let yf = y as f32;
                    let grain_row = &grain_px[y * w..][..w];
                    let blotch_row = &blotch[y * w..][..w];
                    for (x, ((o, gr), b)) in row.iter_mut().zip(grain_row).zip(blotch_row).enumerate() {
                        let xf = x as f32;
                        let b = b + 0.12 * scale3.at(&lat, xf, yf);
                        let t = ((b - threshold) * 3.5).clamp(0.0, 1.0);
                        let patch = t * t * (3.0 - 2.0 * t);
                        *o += a_lines * lines.at(&lat, xf, yf) - a_scale * patch * (1.0 + 0.3 * gr) + a_grain * gr;
                    }
                }
            }
            SurfaceKind::Cast => {
                let grit = Field::iso(rng.range_f32(2.5, 5.0), rng);
                let (a_grain, a_grit) = (rng.range_f32(5.0, 11.0), rng.range_f32(2.0, 5.0));
                let sparkle = rng.range_f32(0.0, 50.0);
                out = smooth_map(w, h, step(mottle_cell), |x, y| {
                    self.base + 1.6 * mottle_amp * mottle.at(&lat, x, y)
                });
                for (y, row) in out.chunks_exact_mut(w).enumerate() {
                    let yf = y as f32;
                    let grain_row = &grain_px[y * w..][..w];
                    for (x, (o, &gr)) in row.iter_mut().zip(grain_row).enumerate() {
                        *o += a_grain * gr + sparkle * (gr - 1.0).max(0.0) + a_grit * grit.at(&lat, x as f32, yf);
                    }
                }
            }
        }
        out
    }

    /// Lighting, specular band, vignetting, exposure, tint and sensor noise;
    /// quantised to RGB8.
    pub fn finish(&self, luma: &[f32], w: usize, h: usize, rng: &mut Rng) -> Result<Frame, VisionError> {
        let (cx, cy) = (w as f32 / 2.0, h as f32 / 2.0);
        let inv_r2 = 1.0 / (cx * cx + cy * cy);
        let inv_half = 1.0 / cx.max(cy);
        // the band depends only on the position along the grain: tabulate it per pixel step
        let (gs, gc) = self.grain.sin_cos();
        let lo = (-(h as f32) * gs.abs() - w as f32 * gc.abs()).floor() - 2.0;
        let n = (2.0 * (w + h) as f32 + 6.0) as usize;
        let band: Vec<f32> = (0..n)
            .map(|i| {
                let t = (lo + i as f32 - self.band_pos) / self.band_width;
                1.0 + self.band_amp * (-t * t).exp()
            })
            .collect();
        let mut data = vec![0u8; w * h * 3];
        for (y, row) in data.chunks_exact_mut(w * 3).enumerate() {
            let dy = y as f32 - cy;
            let src = &luma[y * w..][..w];
            for (x, (px, &l)) in row.chunks_exact_mut(3).zip(src).enumerate() {
                let dx = x as f32 - cx;
                let grad = 1.0 + self.light_amp * (dx * self.light.0 + dy * self.light.1) * inv_half;
                let vig = 1.0 - self.vignette * (dx * dx + dy * dy) * inv_r2;
                let along = x as f32 * gc + y as f32 * gs - lo;
                let bi = (along.max(0.0) as usize).min(n - 1);
                let v = l * grad * vig * band[bi] * self.exposure;
                // shot noise grows with brightness; one draw gives the shared (luma)
                // Gaussian and a little independent uniform noise per channel
                let sigma = self.noise_sigma * (0.6 + 0.004 * v.max(0.0));
                let r = rng.next_u64();
                let shared = sigma * normal_from_bits(r);
                for (k, (p, t)) in px.iter_mut().zip(self.tint).enumerate() {
                    let u = (((r >> (48 + 5 * k)) & 31) as f32 + 0.5) * (1.0 / 32.0) - 0.5;
                    let c = v * t + shared + sigma * u;
                    *p = (c.clamp(0.0, 255.0) + 0.5) as u8;
                }
            }
        }
        Frame::from_rgb(w as u32, h as u32, data)
    }
}
