//! Smooth value noise in one and two dimensions, the building block of the textures.

use detective_core::Rng;

fn smooth(t: f32) -> f32 {
    t * t * (3.0 - 2.0 * t)
}

/// 1-D value noise: random values at integer positions, smoothly interpolated.
pub struct Noise1 {
    vals: Vec<f32>,
    scale: f32,
}

impl Noise1 {
    /// Noise over `[0, extent)` with one random value every `period` units.
    pub fn new(rng: &mut Rng, extent: f32, period: f32) -> Self {
        let n = (extent / period).ceil() as usize + 3;
        Noise1 {
            vals: (0..n).map(|_| rng.f32() * 2.0 - 1.0).collect(),
            scale: 1.0 / period,
        }
    }

    /// Value in `-1..1` at `t >= 0`.
    pub fn at(&self, t: f32) -> f32 {
        let p = (t.max(0.0)) * self.scale;
        let i = (p as usize).min(self.vals.len() - 2);
        let f = smooth((p - i as f32).clamp(0.0, 1.0));
        self.vals[i] * (1.0 - f) + self.vals[i + 1] * f
    }
}

/// 2-D value noise on a grid with cells of `cell` pixels.
pub struct Noise2 {
    vals: Vec<f32>,
    cols: usize,
    rows: usize,
    inv: f32,
}

impl Noise2 {
    pub fn new(rng: &mut Rng, w: usize, h: usize, cell: f32) -> Self {
        let cols = (w as f32 / cell).ceil() as usize + 2;
        let rows = (h as f32 / cell).ceil() as usize + 2;
        Noise2 {
            vals: (0..cols * rows).map(|_| rng.f32() * 2.0 - 1.0).collect(),
            cols,
            rows,
            inv: 1.0 / cell,
        }
    }

    /// Value in `-1..1` at pixel `(x, y)`.
    pub fn at(&self, x: f32, y: f32) -> f32 {
        let (px, py) = (x.max(0.0) * self.inv, y.max(0.0) * self.inv);
        let (ix, iy) = ((px as usize).min(self.cols - 2), (py as usize).min(self.rows - 2));
        let (fx, fy) = (
            smooth((px - ix as f32).clamp(0.0, 1.0)),
            smooth((py - iy as f32).clamp(0.0, 1.0)),
        );
        let v = |cx: usize, cy: usize| self.vals[cy * self.cols + cx];
        let top = v(ix, iy) * (1.0 - fx) + v(ix + 1, iy) * fx;
        let bottom = v(ix, iy + 1) * (1.0 - fx) + v(ix + 1, iy + 1) * fx;
        top * (1.0 - fy) + bottom * fy
    }
}
