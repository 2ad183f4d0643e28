//! Cheap deterministic noise for the textures: a random lattice sampled as smooth
//! 2-D value noise (also stretched along a grain direction), coarse-grid evaluation
//! of smooth functions, a fine per-pixel grain, and a fast approximately Gaussian
//! value for sensor noise.
//!
//! Everything is drawn from the sample's own [`Rng`], so a sample stays a pure
//! function of `(config, seed, index)`.

use detective_core::Rng;

/// Lattice size along the first (`u`) axis; a power of two.
const NU: usize = 128;
/// Lattice size along the second (`v`) axis; a power of two.
const NV: usize = 512;
/// Keeps lattice coordinates positive so `as usize` truncation is a floor.
const OFFSET: f32 = 2048.0;

fn smooth(t: f32) -> f32 {
    t * t * (3.0 - 2.0 * t)
}

/// Uniform in `[0, 1)` from 16 random bits.
fn unit16(bits: u64) -> f32 {
    (bits & 0xFFFF) as f32 * (1.0 / 65536.0)
}

/// A periodic `NU × NV` grid of random values in `-1..1`, shared by every noise
/// field of one image (each field uses its own offset and scale into it).
pub struct Lattice {
    vals: Vec<f32>,
}

impl Lattice {
    pub fn new(rng: &mut Rng) -> Self {
        let mut vals = Vec::with_capacity(NU * NV);
        while vals.len() < NU * NV {
            let r = rng.next_u64();
            for k in 0..4 {
                vals.push(unit16(r >> (16 * k)) * 2.0 - 1.0);
            }
        }
        Lattice { vals }
    }

    /// Smooth value noise in `-1..1` at lattice coordinates `(u, v)`, both > `-OFFSET`.
    #[inline]
    pub fn at(&self, u: f32, v: f32) -> f32 {
        // a slice of known length lets the masked indices go unchecked
        let vals = &self.vals[..NU * NV];
        let (pu, pv) = (u + OFFSET, v + OFFSET);
        let (iu, iv) = (pu as u32, pv as u32);
        let (fu, fv) = (smooth(pu - iu as f32), smooth(pv - iv as f32));
        let (u0, u1) = ((iu as usize) & (NU - 1), (iu as usize + 1) & (NU - 1));
        let (v0, v1) = (((iv as usize) & (NV - 1)) * NU, ((iv as usize + 1) & (NV - 1)) * NU);
        let (a, b) = (vals[v0 + u0], vals[v0 + u1]);
        let (c, d) = (vals[v1 + u0], vals[v1 + u1]);
        let top = a + (b - a) * fu;
        let bottom = c + (d - c) * fu;
        top + (bottom - top) * fv
    }
}

/// One noise field over image pixels: lattice cells of `cell_along × cell_across`
/// pixels, the long side following a direction; with a random offset into the lattice.
#[derive(Debug, Clone, Copy)]
pub struct Field {
    /// Pixel → lattice coordinate: `u = ux * x + uy * y + u0`, same for `v`.
    ux: f32,
    uy: f32,
    u0: f32,
    vx: f32,
    vy: f32,
    v0: f32,
}

impl Field {
    /// An isotropic field with square cells of `cell` pixels.
    pub fn iso(cell: f32, rng: &mut Rng) -> Self {
        Field::aniso(0.0, cell, cell, rng)
    }

    /// A field stretched along `angle` (radians): cells `along` pixels long in that
    /// direction and `across` pixels wide perpendicular to it.
    pub fn aniso(angle: f32, along: f32, across: f32, rng: &mut Rng) -> Self {
        let (s, c) = angle.sin_cos();
        Field {
            ux: c / along,
            uy: s / along,
            u0: rng.range_f32(0.0, NU as f32),
            vx: -s / across,
            vy: c / across,
            v0: rng.range_f32(0.0, NV as f32),
        }
    }

    /// Value in `-1..1` at pixel `(x, y)`.
    #[inline]
    pub fn at(&self, lat: &Lattice, x: f32, y: f32) -> f32 {
        lat.at(self.ux * x + self.uy * y + self.u0, self.vx * x + self.vy * y + self.v0)
    }
}

/// `w × h` values of a smooth function evaluated every `step` pixels and bilinearly
/// interpolated in between: for the low-frequency parts of a texture (features much
/// larger than `step`), at a fraction of the cost of evaluating every pixel.
pub fn smooth_map(w: usize, h: usize, step: usize, f: impl Fn(f32, f32) -> f32) -> Vec<f32> {
    let step = step.max(1);
    let (gw, gh) = (w / step + 2, h / step + 2);
    let mut grid = Vec::with_capacity(gw * gh);
    for j in 0..gh {
        for i in 0..gw {
            grid.push(f((i * step) as f32, (j * step) as f32));
        }
    }
    let inv = 1.0 / step as f32;
    let mut out = vec![0.0f32; w * h];
    for (y, row) in out.chunks_exact_mut(w).enumerate() {
        let (j, fy) = (y / step, (y % step) as f32 * inv);
        let (top, bottom) = (&grid[j * gw..][..gw], &grid[(j + 1) * gw..][..gw]);
        for (x, o) in row.iter_mut().enumerate() {
            let (i, fx) = (x / step, (x % step) as f32 * inv);
            let t = top[i] + (top[i + 1] - top[i]) * fx;
            let b = bottom[i] + (bottom[i + 1] - bottom[i]) * fx;
            *o = t + (b - t) * fy;
        }
    }
    out
}

/// An approximately standard-normal value from the low 48 bits of `r` (four 12-bit
/// uniforms, Irwin–Hall), leaving the top 16 bits free for other uses.
#[inline]
pub fn normal_from_bits(r: u64) -> f32 {
    let u = |k: u32| ((r >> (12 * k)) & 0xFFF) as f32;
    let sum = (u(0) + u(1) + u(2) + u(3) + 2.0) * (1.0 / 4096.0);
    (sum - 2.0) * 1.732_050_8
}

/// `w × h` white noise in `-1..1`, smoothed with a 1-2-1 kernel in both directions:
/// a fine, isotropic grain about two pixels across.
pub fn fine_grain(rng: &mut Rng, w: usize, h: usize) -> Vec<f32> {
    let mut raw = Vec::with_capacity(w * h + 3);
    while raw.len() < w * h {
        let r = rng.next_u64();
        for k in 0..4 {
            raw.push(unit16(r >> (16 * k)) * 2.0 - 1.0);
        }
    }
    raw.truncate(w * h);
    let mut tmp = vec![0.0f32; w * h];
    for y in 0..h {
        let row = &raw[y * w..(y + 1) * w];
        let out = &mut tmp[y * w..(y + 1) * w];
        for x in 0..w {
            let l = row[x.saturating_sub(1)];
            let r = row[(x + 1).min(w - 1)];
            out[x] = 0.25 * l + 0.5 * row[x] + 0.25 * r;
        }
    }
    for y in 0..h {
        let (up, down) = (y.saturating_sub(1), (y + 1).min(h - 1));
        for x in 0..w {
            raw[y * w + x] = 0.25 * tmp[up * w + x] + 0.5 * tmp[y * w + x] + 0.25 * tmp[down * w + x];
        }
    }
    // smoothing shrinks the spread; bring it back to roughly unit range
    for v in &mut raw {
        *v *= 2.4;
    }
    raw
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normal_from_bits_has_zero_mean_and_unit_variance() {
        let mut r = Rng::new(4);
        let n = 20_000;
        let xs: Vec<f64> = (0..n).map(|_| normal_from_bits(r.next_u64()) as f64).collect();
        let mean = xs.iter().sum::<f64>() / n as f64;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n as f64;
        assert!(mean.abs() < 0.03 && (var - 1.0).abs() < 0.05, "mean {mean} var {var}");
    }

    #[test]
    fn smooth_map_interpolates_a_linear_function_exactly() {
        let m = smooth_map(37, 21, 4, |x, y| 2.0 * x - y);
        for y in 0..21 {
            for x in 0..37 {
                let want = 2.0 * x as f32 - y as f32;
                assert!((m[y * 37 + x] - want).abs() < 1e-3, "({x}, {y})");
            }
        }
    }

    #[test]
    fn lattice_noise_is_continuous_and_bounded() {
        let mut r = Rng::new(2);
        let lat = Lattice::new(&mut r);
        let f = Field::iso(8.0, &mut r);
        let mut prev = f.at(&lat, 0.0, 3.0);
        for i in 1..2000 {
            let v = f.at(&lat, i as f32 * 0.1, 3.0);
            assert!((-1.0..=1.0).contains(&v));
            assert!((v - prev).abs() < 0.1, "jump at {i}");
            prev = v;
        }
    }
}
