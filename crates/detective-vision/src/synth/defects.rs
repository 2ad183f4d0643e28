//! The four defect families, each rasterised into its own coverage layer.
//!
//! - scratch: a cubic Bézier stroke 1–3 px wide, tapered at the ends, bright (it
//!   catches the light) or dark (it holds dirt);
//! - spot: a soft-edged irregular ellipse, darker or brighter than the surface, or a
//!   small pit with a dark core and a bright rim;
//! - crack: a jagged dark random walk with tapering branches;
//! - dent: a smooth Gaussian depression shaded by the image's light: the wall facing
//!   the light brightens, the other darkens, the floor is a little darker.
//!
//! Mask rule (see [`super::raster`]): a pixel belongs to a scratch, spot, pit or
//! crack when its coverage — the anti-aliased blend weight of the defect — is at
//! least [`MASK_COVERAGE`]. A dent has no edge, so its pixels are those whose luma it
//! changes by at least [`DENT_VISIBLE`] grey levels (on the bare surface, before
//! lighting and exposure). Defects with fewer than [`super::raster::MIN_PIXELS`]
//! mask pixels inside the image are not drawn.

use std::f32::consts::{PI, TAU};

use detective_core::Rng;

use super::kind::DefectKind;
use super::raster::{Canvas, Layer, MASK_COVERAGE, Region};
use super::texture::Surface;

/// Luma change (grey levels, bare surface) from which a dent's shading counts as visible.
pub const DENT_VISIBLE: f32 = 6.0;

/// Log-uniform in `[lo, hi]`: small defects are as common per octave as large ones.
fn log_uniform(rng: &mut Rng, lo: f32, hi: f32) -> f32 {
    let hi = hi.max(lo);
    (lo.ln() + rng.f32() * (hi.ln() - lo.ln())).exp()
}

/// Draws one defect of `kind` somewhere in a `w × h` image; `None` when it ended up
/// too small or outside the image.
pub fn draw(kind: DefectKind, w: usize, h: usize, surface: &Surface, rng: &mut Rng) -> Option<Layer> {
    let short = w.min(h) as f32;
    let centre = (rng.range_f32(0.0, w as f32), rng.range_f32(0.0, h as f32));
    match kind {
        DefectKind::Scratch => scratch(centre, log_uniform(rng, 8.0, 0.42 * short), w, h, surface, rng),
        DefectKind::Spot => spot(centre, log_uniform(rng, 3.0, short / 3.0), w, h, rng),
        DefectKind::Crack => crack(centre, log_uniform(rng, 10.0, 0.45 * short), w, h, rng),
        DefectKind::Dent => dent(centre, log_uniform(rng, 10.0, short / 3.0), w, h, surface, rng),
    }
}

fn scratch(c: (f32, f32), len: f32, w: usize, h: usize, surface: &Surface, rng: &mut Rng) -> Option<Layer> {
    let angle = rng.range_f32(0.0, PI);
    let (ux, uy) = (angle.cos(), angle.sin());
    let (nx, ny) = (-uy, ux);
    let p0 = (c.0 - ux * len / 2.0, c.1 - uy * len / 2.0);
    let p3 = (c.0 + ux * len / 2.0, c.1 + uy * len / 2.0);
    // control points off the chord: gentle arcs and S-curves
    let b1 = len * rng.range_f32(-0.22, 0.22);
    let b2 = len * rng.range_f32(-0.22, 0.22);
    let p1 = (p0.0 + ux * len / 3.0 + nx * b1, p0.1 + uy * len / 3.0 + ny * b1);
    let p2 = (
        p0.0 + ux * 2.0 * len / 3.0 + nx * b2,
        p0.1 + uy * 2.0 * len / 3.0 + ny * b2,
    );
    let half = rng.range_f32(0.5, 1.5);
    let mut canvas = Canvas::around(&[p0, p1, p2, p3], half + 2.0, w, h)?;
    let steps = ((len / 2.5) as usize).clamp(6, 120);
    let bez = |t: f32| {
        let u = 1.0 - t;
        let (a, b, c, d) = (u * u * u, 3.0 * u * u * t, 3.0 * u * t * t, t * t * t);
        (
            a * p0.0 + b * p1.0 + c * p2.0 + d * p3.0,
            a * p0.1 + b * p1.1 + c * p2.1 + d * p3.1,
        )
    };
    // tapered ends: full width over the middle, a hair at the tips
    let taper = |t: f32| half * (0.45 + 0.55 * (t * (1.0 - t) * 6.0).min(1.0));
    // the depth, hence the contrast, wavers along the scratch (never below half)
    let (f1, f2) = (rng.range_f32(1.0, 4.0), rng.range_f32(4.0, 11.0));
    let (ph1, ph2) = (rng.range_f32(0.0, TAU), rng.range_f32(0.0, TAU));
    let waver = |t: f32| 0.75 + 0.15 * (TAU * f1 * t + ph1).sin() + 0.1 * (TAU * f2 * t + ph2).sin();
    let mut prev = bez(0.0);
    for i in 1..=steps {
        let (t0, t1) = ((i - 1) as f32 / steps as f32, i as f32 / steps as f32);
        let next = bez(t1);
        canvas.segment(prev, next, taper(t0), taper(t1), waver(0.5 * (t0 + t1)));
        prev = next;
    }
    if rng.chance(0.55) {
        let lift = (250.0 - surface.base).max(30.0) * rng.range_f32(0.3, 0.7);
        canvas.into_tint_layer(1.0, lift)
    } else {
        canvas.into_tint_layer(rng.range_f32(0.4, 0.72), 0.0)
    }
}

/// `cos(kθ + φ)` harmonics of an outline: the radius factor at direction `(cs, sn)`.
fn wobble(cs: f32, sn: f32, amps: &[(f32, f32, f32); 3]) -> f32 {
    // (cos kθ, sin kθ) for k = 2, 3, 4 by complex multiplication
    let (c2, s2) = (cs * cs - sn * sn, 2.0 * cs * sn);
    let (c3, s3) = (c2 * cs - s2 * sn, s2 * cs + c2 * sn);
    let (c4, s4) = (c2 * c2 - s2 * s2, 2.0 * c2 * s2);
    let mut r = 1.0;
    for (&(a, pc, ps), (ck, sk)) in amps.iter().zip([(c2, s2), (c3, s3), (c4, s4)]) {
        r += a * (ck * pc - sk * ps);
    }
    r
}

fn spot(c: (f32, f32), size: f32, w: usize, h: usize, rng: &mut Rng) -> Option<Layer> {
    if size < 12.0 && rng.chance(0.45) {
        return pit(c, size, w, h, rng);
    }
    let rx = (size / 2.0).max(1.5);
    let ry = rx * rng.range_f32(0.55, 1.0);
    let (sn, cs) = rng.range_f32(0.0, PI).sin_cos();
    let mut amps = [(0.0, 0.0, 0.0); 3];
    for (k, a) in amps.iter_mut().enumerate() {
        let (ps, pc) = rng.range_f32(0.0, TAU).sin_cos();
        *a = (rng.range_f32(0.0, 0.14) / (k as f32 + 1.0), pc, ps);
    }
    // soft edge: the blend weight ramps over `soft` pixels, centred on the outline
    let soft = rng.range_f32(0.8, 0.35 * rx + 1.0);
    let dark = rng.chance(0.65);
    // big stains are fainter than small spots
    let strength = rng.range_f32(0.3, 0.65) * (1.0 - 0.4 * (size / 100.0).min(1.0));
    let (gain, offset) = if dark {
        (1.0 - strength, 0.0)
    } else {
        (1.0 + 0.35 * strength, 30.0 * strength)
    };
    // the outline reaches 1.26 rx at most; the ramp ends soft / 2 (in units of ry) further
    let max_wobble: f32 = 1.0 + amps.iter().map(|a| a.0).sum::<f32>();
    let ext = rx * (max_wobble + 0.5 * soft / ry) + 2.0;
    let region = Region::clipped(c.0 - ext, c.1 - ext, c.0 + ext, c.1 + ext, w, h)?;
    let mut canvas = Canvas::new(region);
    let mut mul = vec![1.0; region.len()];
    let mut add = vec![0.0; region.len()];
    for y in 0..region.h {
        for x in 0..region.w {
            let (px, py) = region.centre(x, y);
            let (dx, dy) = (px - c.0, py - c.1);
            let (u, v) = ((dx * cs + dy * sn) / rx, (-dx * sn + dy * cs) / ry);
            let rho = (u * u + v * v).sqrt();
            let (dc, ds) = if rho > 1e-6 { (u / rho, v / rho) } else { (1.0, 0.0) };
            // signed distance to the outline in pixels (approximate, along the ray)
            let sdf = (rho - wobble(dc, ds, &amps)) * ry;
            let a = (0.5 - sdf / soft).clamp(0.0, 1.0);
            let a = a * a * (3.0 - 2.0 * a);
            // dark stains are a little stronger in the middle; bright residue dries
            // into a ring, brighter at its rim
            let rr = rho.min(1.0);
            let core = if dark {
                1.0 + 0.25 * (1.0 - rr)
            } else {
                0.55 + 0.7 * rr * rr
            };
            let i = y * region.w + x;
            canvas.cov[i] = a;
            mul[i] = 1.0 + a * (gain - 1.0) * core;
            add[i] = a * offset * core;
        }
    }
    let bits = canvas.cov.iter().map(|&a| a >= MASK_COVERAGE).collect();
    Layer::new(region, mul, add, bits)
}

/// A small pit: a dark core with a bright rim where the edge catches the light.
fn pit(c: (f32, f32), size: f32, w: usize, h: usize, rng: &mut Rng) -> Option<Layer> {
    let r = (size / 2.0).clamp(1.2, 5.0);
    let rim = rng.range_f32(0.7, 1.6);
    let core_gain = rng.range_f32(0.15, 0.4);
    let rim_lift = rng.range_f32(20.0, 50.0);
    let ext = r + rim + 2.0;
    let region = Region::clipped(c.0 - ext, c.1 - ext, c.0 + ext, c.1 + ext, w, h)?;
    let n = region.len();
    let (mut mul, mut add, mut bits) = (vec![1.0; n], vec![0.0; n], vec![false; n]);
    for y in 0..region.h {
        for x in 0..region.w {
            let (px, py) = region.centre(x, y);
            let d = ((px - c.0).powi(2) + (py - c.1).powi(2)).sqrt();
            // coverage of the core disc and of the rim ring, anti-aliased over one pixel
            let core = (r + 0.5 - d).clamp(0.0, 1.0);
            let ring = ((r + rim + 0.5 - d).clamp(0.0, 1.0) - core).max(0.0);
            let i = y * region.w + x;
            mul[i] = 1.0 + core * (core_gain - 1.0);
            add[i] = ring * rim_lift;
            bits[i] = core + ring >= MASK_COVERAGE;
        }
    }
    Layer::new(region, mul, add, bits)
}

/// A crack walk waiting to be traced: start, direction, length left, half width, depth.
struct Walk {
    at: (f32, f32),
    dir: f32,
    len: f32,
    half: f32,
    depth: u8,
}

fn crack(c: (f32, f32), len: f32, w: usize, h: usize, rng: &mut Rng) -> Option<Layer> {
    // trace the walks first (points and widths), then rasterise over their extent
    let mut strokes: Vec<Vec<((f32, f32), f32)>> = Vec::new();
    let half0 = rng.range_f32(0.5, 1.1);
    let branchiness = rng.range_f32(0.02, 0.09);
    let mut walks = vec![Walk {
        at: c,
        dir: rng.range_f32(0.0, TAU),
        len,
        half: half0,
        depth: 0,
    }];
    let mut budget = 600usize;
    while let Some(walk) = walks.pop() {
        let step = rng.range_f32(2.0, 3.5);
        let n = ((walk.len / step) as usize).clamp(2, budget.max(2));
        budget = budget.saturating_sub(n);
        let mut stroke = Vec::with_capacity(n + 1);
        let (mut p, mut wander) = (walk.at, 0.0f32);
        stroke.push((p, walk.half));
        for i in 1..=n {
            // mean-reverting wander keeps the overall heading; the jitter makes it jagged
            wander = 0.8 * wander + 0.3 * rng.normal();
            let d = walk.dir + wander + 0.35 * rng.normal();
            p = (p.0 + d.cos() * step, p.1 + d.sin() * step);
            let f = i as f32 / n as f32;
            let half = walk.half * (1.0 - 0.55 * f);
            stroke.push((p, half));
            if walk.depth < 2 && budget > 0 && rng.chance(branchiness) {
                let side = if rng.chance(0.5) { 1.0 } else { -1.0 };
                walks.push(Walk {
                    at: p,
                    dir: walk.dir + side * rng.range_f32(0.4, 1.1),
                    len: walk.len * (1.0 - f) * rng.range_f32(0.3, 0.7),
                    half: half * 0.75,
                    depth: walk.depth + 1,
                });
            }
        }
        strokes.push(stroke);
    }
    let points: Vec<(f32, f32)> = strokes.iter().flatten().map(|(p, _)| *p).collect();
    let mut canvas = Canvas::around(&points, half0 + 2.0, w, h)?;
    for stroke in &strokes {
        for pair in stroke.windows(2) {
            let ((a, ha), (b, hb)) = (pair[0], pair[1]);
            // thinner parts of a crack are shallower, hence fainter
            canvas.segment(a, b, ha.max(0.45), hb.max(0.45), (0.5 + ha / half0).min(1.0));
        }
    }
    canvas.into_tint_layer(rng.range_f32(0.2, 0.5), 0.0)
}

fn dent(c: (f32, f32), size: f32, w: usize, h: usize, surface: &Surface, rng: &mut Rng) -> Option<Layer> {
    // Gaussian depression: depth profile g = exp(-½ (u²/sx² + v²/sy²))
    let sx = size / 4.0;
    let sy = sx * rng.range_f32(0.6, 1.0);
    let (sn, cs) = rng.range_f32(0.0, PI).sin_cos();
    let (lx, ly) = surface.light;
    // slope shading in grey levels at the steepest point, and the floor darkening
    let shading = rng.range_f32(18.0, 45.0);
    let floor = rng.range_f32(3.0, 12.0);
    // the shading fades to exactly zero between 2.8 and 3.4 σ (where it is below
    // DENT_VISIBLE anyway), so the region's border leaves no step
    let ext = 3.4 * sx + 1.0;
    let region = Region::clipped(c.0 - ext, c.1 - ext, c.0 + ext, c.1 + ext, w, h)?;
    let n = region.len();
    let (mut add, mut bits) = (vec![0.0; n], vec![false; n]);
    // the slope of exp(-r²/2) peaks at r = 1 with value e^-½; normalise to 1 there
    let k = shading * 1.648_721_3;
    for y in 0..region.h {
        for x in 0..region.w {
            let (px, py) = region.centre(x, y);
            let (dx, dy) = (px - c.0, py - c.1);
            let (u, v) = ((dx * cs + dy * sn) / sx, (-dx * sn + dy * cs) / sy);
            let g = (-0.5 * (u * u + v * v)).exp();
            // gradient of g in units of sx, rotated back to image axes
            let (gu, gv) = (-g * u, -g * v * sx / sy);
            let (gx, gy) = (gu * cs - gv * sn, gu * sn + gv * cs);
            // the wall on the far side from the light faces it: brighter; near side darker
            let r = (u * u + v * v).sqrt();
            let fade = ((3.4 - r) / 0.6).clamp(0.0, 1.0);
            let delta = (k * (gx * lx + gy * ly) - floor * g) * fade * fade * (3.0 - 2.0 * fade);
            let i = y * region.w + x;
            add[i] = delta;
            bits[i] = delta.abs() >= DENT_VISIBLE;
        }
    }
    Layer::new(region, vec![1.0; n], add, bits)
}
