//! Defect shapes rasterised with anti-aliasing into a local layer, and the rule
//! that turns each layer into an exact instance mask.
//!
//! A layer holds, per pixel of its bounding region, a multiplicative and an additive
//! change to the surface luma. Mask rule:
//! - scratches, spots, pits, cracks: coverage ≥ 0.5 (coverage is the anti-aliased
//!   fraction of the pixel covered by the shape);
//! - dents: the shading changes the pixel by at least [`DENT_VISIBLE`] grey levels.
//!
//! A defect whose mask has fewer than [`MIN_PIXELS`] pixels inside the image is
//! dropped before it is drawn, so every label has pixels behind it.

use detective_core::{BBox, Rng};

use super::DefectKind;
use super::texture::Surface;

/// Smallest instance kept, in pixels.
pub const MIN_PIXELS: usize = 4;
/// Grey-level change from which a dent's shading counts as visible.
pub const DENT_VISIBLE: f32 = 6.0;

/// The pixels of one defect, stored over its bounding region.
#[derive(Debug, Clone, PartialEq)]
pub struct InstanceMask {
    pub x0: u32,
    pub y0: u32,
    pub w: u32,
    pub h: u32,
    bits: Vec<bool>,
}

impl InstanceMask {
    pub fn contains(&self, x: u32, y: u32) -> bool {
        x >= self.x0
            && y >= self.y0
            && x < self.x0 + self.w
            && y < self.y0 + self.h
            && self.bits[((y - self.y0) * self.w + (x - self.x0)) as usize]
    }

    /// Image coordinates of every pixel of the instance.
    pub fn pixels(&self) -> impl Iterator<Item = (u32, u32)> + '_ {
        self.bits.iter().enumerate().filter(|(_, b)| **b).map(|(i, _)| {
            let i = i as u32;
            (self.x0 + i % self.w, self.y0 + i / self.w)
        })
    }

    pub fn count(&self) -> usize {
        self.bits.iter().filter(|b| **b).count()
    }

    /// Tight box of the pixels, `x2 = last column + 1`.
    pub fn bbox(&self) -> BBox {
        let (mut x1, mut y1, mut x2, mut y2) = (u32::MAX, u32::MAX, 0, 0);
        for (x, y) in self.pixels() {
            x1 = x1.min(x);
            y1 = y1.min(y);
            x2 = x2.max(x + 1);
            y2 = y2.max(y + 1);
        }
        if x1 == u32::MAX {
            return BBox {
                x1: 0.0,
                y1: 0.0,
                x2: 0.0,
                y2: 0.0,
            };
        }
        BBox {
            x1: x1 as f32,
            y1: y1 as f32,
            x2: x2 as f32,
            y2: y2 as f32,
        }
    }
}

/// One rasterised defect: per-pixel luma change over a region, and its mask.
pub struct Layer {
    x0: usize,
    y0: usize,
    w: usize,
    h: usize,
    mul: Vec<f32>,
    add: Vec<f32>,
    pub mask: InstanceMask,
}

impl Layer {
    /// `new = old * mul + add` over the region.
    pub fn apply(&self, luma: &mut [f32], img_w: usize, _img_h: usize) {
        for y in 0..self.h {
            for x in 0..self.w {
                let i = y * self.w + x;
                let p = &mut luma[(self.y0 + y) * img_w + self.x0 + x];
                *p = *p * self.mul[i] + self.add[i];
            }
        }
    }
}

/// Coverage canvas over a clipped region of the image.
struct Canvas {
    x0: usize,
    y0: usize,
    w: usize,
    h: usize,
    cov: Vec<f32>,
}

impl Canvas {
    /// A canvas over `[x1, x2) × [y1, y2)` clipped to the image; `None` when empty.
    fn new(x1: f32, y1: f32, x2: f32, y2: f32, img_w: usize, img_h: usize) -> Option<Canvas> {
        let x0 = x1.floor().max(0.0) as usize;
        let y0 = y1.floor().max(0.0) as usize;
        let xe = (x2.ceil().max(0.0) as usize).min(img_w);
        let ye = (y2.ceil().max(0.0) as usize).min(img_h);
        if xe <= x0 || ye <= y0 {
            return None;
        }
        let (w, h) = (xe - x0, ye - y0);
        Some(Canvas {
            x0,
            y0,
            w,
            h,
            cov: vec![0.0; w * h],
        })
    }

    /// Anti-aliased thick segment: coverage = clamp(half_width + 0.5 - distance).
    fn segment(&mut self, a: (f32, f32), b: (f32, f32), half_width: f32) {
        let r = half_width + 1.0;
        let bx1 = (a.0.min(b.0) - r).floor().max(self.x0 as f32) as usize;
        let by1 = (a.1.min(b.1) - r).floor().max(self.y0 as f32) as usize;
        let bx2 = ((a.0.max(b.0) + r).ceil() as usize).min(self.x0 + self.w);
        let by2 = ((a.1.max(b.1) + r).ceil() as usize).min(self.y0 + self.h);
        let (dx, dy) = (b.0 - a.0, b.1 - a.1);
        let len2 = (dx * dx + dy * dy).max(1e-6);
        for y in by1..by2 {
            for x in bx1..bx2 {
                let (px, py) = (x as f32 + 0.5, y as f32 + 0.5);
                let t = (((px - a.0) * dx + (py - a.1) * dy) / len2).clamp(0.0, 1.0);
                let (qx, qy) = (a.0 + t * dx - px, a.1 + t * dy - py);
                let d = (qx * qx + qy * qy).sqrt();
                let c = (half_width + 0.5 - d).clamp(0.0, 1.0);
                let i = (y - self.y0) * self.w + (x - self.x0);
                if c > self.cov[i] {
                    self.cov[i] = c;
                }
            }
        }
    }

    /// Turns coverage into a layer blending towards `base * gain + offset`.
    fn into_tint_layer(self, gain: f32, offset: f32) -> Option<Layer> {
        let bits: Vec<bool> = self.cov.iter().map(|&c| c >= 0.5).collect();
        let mul = self.cov.iter().map(|&a| 1.0 + a * (gain - 1.0)).collect();
        let add = self.cov.iter().map(|&a| a * offset).collect();
        finish(self.x0, self.y0, self.w, self.h, mul, add, bits)
    }
}

fn finish(x0: usize, y0: usize, w: usize, h: usize, mul: Vec<f32>, add: Vec<f32>, bits: Vec<bool>) -> Option<Layer> {
    let mask = InstanceMask {
        x0: x0 as u32,
        y0: y0 as u32,
        w: w as u32,
        h: h as u32,
        bits,
    };
    if mask.count() < MIN_PIXELS {
        return None;
    }
    Some(Layer {
        x0,
        y0,
        w,
        h,
        mul,
        add,
        mask,
    })
}

/// A log-uniform defect size between a few pixels and a third of the short side.
fn size(rng: &mut Rng, short: f32) -> f32 {
    let (lo, hi) = (3.0f32.max(short * 0.015), short / 3.0);
    (lo.ln() + rng.f32() * (hi.ln() - lo.ln())).exp()
}

/// Draws one defect of `kind` somewhere in a `w × h` image; `None` when it ended
/// up too small or outside the image.
pub fn draw(kind: DefectKind, w: usize, h: usize, surface: &Surface, rng: &mut Rng) -> Option<Layer> {
    let short = w.min(h) as f32;
    let s = size(rng, short);
    let (cx, cy) = (rng.range_f32(0.0, w as f32), rng.range_f32(0.0, h as f32));
    match kind {
        DefectKind::Scratch => scratch(cx, cy, (s * 1.8).max(10.0), w, h, surface, rng),
        DefectKind::Spot => spot(cx, cy, s, w, h, rng),
        DefectKind::Crack => crack(cx, cy, (s * 1.5).max(12.0), w, h, rng),
        DefectKind::Dent => dent(cx, cy, s.max(8.0), w, h, rng),
    }
}

fn scratch(cx: f32, cy: f32, len: f32, w: usize, h: usize, surface: &Surface, rng: &mut Rng) -> Option<Layer> {
    let angle = rng.range_f32(0.0, std::f32::consts::PI);
    let (dx, dy) = (angle.cos() * len / 2.0, angle.sin() * len / 2.0);
    let p0 = (cx - dx, cy - dy);
    let p3 = (cx + dx, cy + dy);
    let bend = len * rng.range_f32(-0.25, 0.25);
    let (nx, ny) = (-angle.sin(), angle.cos());
    let p1 = (p0.0 + dx * 0.66 + nx * bend, p0.1 + dy * 0.66 + ny * bend);
    let p2 = (
        p0.0 + dx * 1.33 + nx * bend * rng.range_f32(-1.0, 1.0),
        p0.1 + dy * 1.33 + ny * bend * rng.range_f32(-1.0, 1.0),
    );
    let half = rng.range_f32(0.45, 1.3);
    let pad = half + 2.0;
    let xs = [p0.0, p1.0, p2.0, p3.0];
    let ys = [p0.1, p1.1, p2.1, p3.1];
    let mut canvas = Canvas::new(
        xs.iter().cloned().fold(f32::MAX, f32::min) - pad,
        ys.iter().cloned().fold(f32::MAX, f32::min) - pad,
        xs.iter().cloned().fold(f32::MIN, f32::max) + pad,
        ys.iter().cloned().fold(f32::MIN, f32::max) + pad,
        w,
        h,
    )?;
    let steps = ((len / 3.0) as usize).clamp(6, 80);
    let bez = |t: f32| {
        let u = 1.0 - t;
        let (a, b, c, d) = (u * u * u, 3.0 * u * u * t, 3.0 * u * t * t, t * t * t);
        (
            a * p0.0 + b * p1.0 + c * p2.0 + d * p3.0,
            a * p0.1 + b * p1.1 + c * p2.1 + d * p3.1,
        )
    };
    let mut prev = bez(0.0);
    for i in 1..=steps {
        let next = bez(i as f32 / steps as f32);
        canvas.segment(prev, next, half);
        prev = next;
    }
    // bright scratches catch the light; dark ones hold dirt
    if rng.chance(0.6) {
        let lift = (255.0 - surface.base).max(40.0) * rng.range_f32(0.35, 0.6);
        canvas.into_tint_layer(1.0, lift)
    } else {
        canvas.into_tint_layer(rng.range_f32(0.4, 0.6), 0.0)
    }
}

fn spot(cx: f32, cy: f32, s: f32, w: usize, h: usize, rng: &mut Rng) -> Option<Layer> {
    let rx = (s / 2.0).max(1.2);
    let ry = rx * rng.range_f32(0.55, 1.0);
    let rot = rng.range_f32(0.0, std::f32::consts::PI);
    let pit = rng.chance(0.4);
    let outer = if pit { 1.6 } else { 1.2 };
    let ext = rx * outer + 2.0;
    let mut canvas = Canvas::new(cx - ext, cy - ext, cx + ext, cy + ext, w, h)?;
    let (sn, cs) = rot.sin_cos();
    let (dark_gain, bright) = (rng.range_f32(0.25, 0.5), rng.chance(0.35));
    let mut mul = vec![1.0; canvas.w * canvas.h];
    let mut add = vec![0.0; canvas.w * canvas.h];
    for y in 0..canvas.h {
        for x in 0..canvas.w {
            // 2×2 supersampling of the elliptical distance for anti-aliasing
            let mut core = 0.0f32;
            let mut rim = 0.0f32;
            for (ox, oy) in [(0.25, 0.25), (0.75, 0.25), (0.25, 0.75), (0.75, 0.75)] {
                let (px, py) = ((canvas.x0 + x) as f32 + ox - cx, (canvas.y0 + y) as f32 + oy - cy);
                let (u, v) = (px * cs + py * sn, -px * sn + py * cs);
                let d = ((u / rx).powi(2) + (v / ry).powi(2)).sqrt();
                core += if d < 1.0 { 0.25 } else { 0.0 };
                if pit && (1.0..1.5).contains(&d) {
                    rim += 0.25;
                }
            }
            let i = y * canvas.w + x;
            let c = core.max(rim);
            canvas.cov[i] = c;
            if core > 0.0 {
                let (g, o) = if bright && !pit { (1.2, 25.0) } else { (dark_gain, 0.0) };
                mul[i] = 1.0 + core * (g - 1.0);
                add[i] = core * o;
            } else if rim > 0.0 {
                mul[i] = 1.0 + rim * 0.25;
                add[i] = rim * 12.0;
            }
        }
    }
    let bits = canvas.cov.iter().map(|&c| c >= 0.5).collect();
    finish(canvas.x0, canvas.y0, canvas.w, canvas.h, mul, add, bits)
}

/// A crack segment: from, to, half width.
type Segment = ((f32, f32), (f32, f32), f32);

fn crack(cx: f32, cy: f32, len: f32, w: usize, h: usize, rng: &mut Rng) -> Option<Layer> {
    // random walk with branches, collected as segments first to know the extent
    let mut segments: Vec<Segment> = Vec::new();
    let half0 = rng.range_f32(0.45, 1.0);
    let mut walks = vec![(cx, cy, rng.range_f32(0.0, std::f32::consts::TAU), len, half0, 0u8)];
    while let Some((mut x, mut y, mut dir, budget, half, depth)) = walks.pop() {
        let step = 2.5;
        let n = (budget / step) as usize;
        for i in 0..n {
            dir += rng.range_f32(-0.45, 0.45);
            let (nx, ny) = (x + dir.cos() * step, y + dir.sin() * step);
            let taper = half * (1.0 - 0.6 * i as f32 / n.max(1) as f32);
            segments.push(((x, y), (nx, ny), taper));
            if depth < 2 && segments.len() < 400 && rng.chance(0.05) {
                let side = if rng.chance(0.5) { 0.7 } else { -0.7 };
                walks.push((
                    nx,
                    ny,
                    dir + side,
                    budget * rng.range_f32(0.2, 0.45),
                    taper * 0.8,
                    depth + 1,
                ));
            }
            (x, y) = (nx, ny);
        }
    }
    let pad = half0 + 2.0;
    let x1 = segments.iter().map(|s| s.0.0.min(s.1.0)).fold(f32::MAX, f32::min) - pad;
    let y1 = segments.iter().map(|s| s.0.1.min(s.1.1)).fold(f32::MAX, f32::min) - pad;
    let x2 = segments.iter().map(|s| s.0.0.max(s.1.0)).fold(f32::MIN, f32::max) + pad;
    let y2 = segments.iter().map(|s| s.0.1.max(s.1.1)).fold(f32::MIN, f32::max) + pad;
    let mut canvas = Canvas::new(x1, y1, x2, y2, w, h)?;
    for (a, b, half) in segments {
        canvas.segment(a, b, half.max(0.45));
    }
    canvas.into_tint_layer(rng.range_f32(0.25, 0.45), 0.0)
}

fn dent(cx: f32, cy: f32, s: f32, w: usize, h: usize, rng: &mut Rng) -> Option<Layer> {
    let sx = (s / 4.0).max(2.0);
    let sy = sx * rng.range_f32(0.6, 1.0);
    let rot = rng.range_f32(0.0, std::f32::consts::PI);
    let (sn, cs) = rot.sin_cos();
    let la = rng.range_f32(0.0, std::f32::consts::TAU);
    let (lx, ly) = (la.cos(), la.sin());
    let strength = rng.range_f32(30.0, 55.0);
    let depth = rng.range_f32(8.0, 18.0);
    let ext = 3.0 * sx + 1.0;
    let canvas = Canvas::new(cx - ext, cy - ext, cx + ext, cy + ext, w, h)?;
    let n = canvas.w * canvas.h;
    let (mut add, mut bits) = (vec![0.0; n], vec![false; n]);
    for y in 0..canvas.h {
        for x in 0..canvas.w {
            let (px, py) = ((canvas.x0 + x) as f32 + 0.5 - cx, (canvas.y0 + y) as f32 + 0.5 - cy);
            let (u, v) = (px * cs + py * sn, -px * sn + py * cs);
            let hgt = (-0.5 * ((u / sx).powi(2) + (v / sy).powi(2))).exp();
            // gradient of the depression in image axes, from the rotated frame
            let (gu, gv) = (-hgt * u / (sx * sx), -hgt * v / (sy * sy));
            let (gx, gy) = (gu * cs - gv * sn, gu * sn + gv * cs);
            let shade = -(gx * lx + gy * ly) * sx * strength;
            let delta = shade - depth * hgt;
            let i = y * canvas.w + x;
            add[i] = delta;
            bits[i] = delta.abs() >= DENT_VISIBLE;
        }
    }
    finish(canvas.x0, canvas.y0, canvas.w, canvas.h, vec![1.0; n], add, bits)
}
