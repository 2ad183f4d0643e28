//! Synthetic anomalies pasted onto real images of good parts: what an anomaly
//! model (trained on good parts only) learns to point at. Each pasted anomaly is
//! one of
//!
//! - a defect of the synthetic engine ([`super::defects`]: scratch, spot or pit,
//!   crack, dent) drawn at the image's own brightness;
//! - a patch of foreign texture: a noise-shaped blob (value noise thresholded
//!   inside an ellipse) where the image is blended with another part of itself,
//!   moved, mirrored and re-exposed (in the manner of DRAEM's and CutPaste's
//!   pasted patches);
//! - a change of tone: a noise-shaped blob darkened or brightened with soft
//!   edges (unevenness, stains, burns), or filled with a flat grey (missing
//!   material, a hole, a chipped edge).
//!
//! The mask marks the pixels each anomaly changed visibly (at least
//! [`VISIBLE_CHANGE`] grey levels, or half blended in); an anomaly that changed
//! too little is not drawn. Everything comes from the caller's [`Rng`], so a
//! draw is a pure function of the image and the seed.

use detective_core::Rng;

use super::defects;
use super::kind::DefectKind;
use super::noise::{Field, Lattice};
use super::texture::Surface;
use crate::{Frame, GrayFrame};

/// Grey levels by which a pixel must change to count as anomalous.
pub const VISIBLE_CHANGE: f32 = 6.0;

/// Most anomalies pasted onto one image.
pub const MAX_ANOMALIES: usize = 3;

/// Pastes 1 to [`MAX_ANOMALIES`] anomalies into `frame` and returns their mask
/// (255: anomalous). The mask may be empty on a tiny image where nothing fitted.
pub fn paste_anomalies(frame: &mut Frame, rng: &mut Rng) -> GrayFrame {
    let (w, h) = (frame.width() as usize, frame.height() as usize);
    let mut mask = GrayFrame::new(frame.width(), frame.height());
    let count = 1 + usize::from(rng.chance(0.35)) + usize::from(rng.chance(0.12));
    for _ in 0..count.min(MAX_ANOMALIES) {
        // a few tries: a draw that changed too little is not kept
        for _ in 0..4 {
            let drawn = match rng.range_usize(0, 10) {
                0..=3 => engine_defect(frame, &mut mask, rng),
                4..=6 => foreign_patch(frame, &mut mask, rng),
                _ => tone_blob(frame, &mut mask, rng),
            };
            if drawn {
                break;
            }
        }
    }
    debug_assert_eq!(mask.data.len(), w * h);
    mask
}

/// The frame's luma as floats.
fn luma_of(frame: &Frame) -> Vec<f32> {
    frame
        .as_rgb()
        .chunks_exact(3)
        .map(|p| crate::frame::luma(p[0], p[1], p[2]))
        .collect()
}

/// Writes a changed luma back, scaling each pixel's colour by the change (grey
/// stays grey; a colour keeps its hue), and marks in `mask` the pixels of `marked`
/// that changed by at least [`VISIBLE_CHANGE`]. Returns whether any did.
fn write_back(frame: &mut Frame, before: &[f32], after: &[f32], marked: &[bool], mask: &mut GrayFrame) -> bool {
    let mut any = false;
    for (i, px) in frame.as_rgb_mut().chunks_exact_mut(3).enumerate() {
        let (b, a) = (before[i], after[i].clamp(0.0, 255.0));
        if (a - b).abs() < 0.5 {
            continue;
        }
        let d = a - b;
        for c in px.iter_mut() {
            *c = (*c as f32 + d).round().clamp(0.0, 255.0) as u8;
        }
        if marked[i] && d.abs() >= VISIBLE_CHANGE {
            mask.data[i] = 255;
            any = true;
        }
    }
    any
}

/// A defect of the synthetic engine at the image's brightness.
fn engine_defect(frame: &mut Frame, mask: &mut GrayFrame, rng: &mut Rng) -> bool {
    let (w, h) = (frame.width() as usize, frame.height() as usize);
    let before = luma_of(frame);
    let mut surface = Surface::random(rng, w, h);
    surface.base = before.iter().sum::<f32>() / before.len().max(1) as f32;
    let kind = [
        DefectKind::Scratch,
        DefectKind::Spot,
        DefectKind::Crack,
        DefectKind::Dent,
    ][rng.range_usize(0, 4)];
    let Some(layer) = defects::draw(kind, w, h, &surface, rng) else {
        return false;
    };
    let mut after = before.clone();
    layer.apply(&mut after, w);
    let mut marked = vec![false; w * h];
    for (x, y) in layer.mask.pixels() {
        marked[y as usize * w + x as usize] = true;
    }
    write_back(frame, &before, &after, &marked, mask)
}

/// A blob's bounding box `(x0, y0, width, height)` and the blend weight of each
/// of its pixels, row-major.
type Blob = ((usize, usize, usize, usize), Vec<f32>);

/// A noise-shaped blob: per pixel of its bounding box, the blend weight 0..1
/// (soft over `soft` pixels at the edge, at least one). Returns the box
/// `(x0, y0, bw, bh)` and the weights, or `None` when the blob is empty.
fn blob(w: usize, h: usize, soft: f32, large: bool, rng: &mut Rng) -> Option<Blob> {
    let short = w.min(h) as f32;
    if short < 8.0 {
        return None;
    }
    // log-uniform from 4 px to a third of the short side; `large`: a sixth to
    // nearly half of it (uneven tone over much of the part)
    let r = if large {
        rng.range_f32(short / 6.0, short / 2.2).max(4.0)
    } else {
        (4f32.ln() + rng.f32() * ((short / 3.0).max(5.0).ln() - 4f32.ln())).exp()
    };
    let (rx, ry) = (r, r * rng.range_f32(0.3, 1.0));
    let angle = rng.range_f32(0.0, std::f32::consts::PI);
    let (sn, cs) = angle.sin_cos();
    let (cx, cy) = (rng.range_f32(0.0, w as f32), rng.range_f32(0.0, h as f32));
    let lat = Lattice::new(rng);
    let field = Field::iso((r / 2.5).max(2.0), rng);
    let roughness = rng.range_f32(0.2, 0.8);
    // a soft edge up to half the radius: stains and uneven tone fade out
    let soft = soft.clamp(1.0, (r / 2.0).max(1.0));
    let ext = rx.max(ry) * (1.0 + roughness) + soft;
    let x0 = (cx - ext).max(0.0) as usize;
    let y0 = (cy - ext).max(0.0) as usize;
    let x1 = ((cx + ext) as usize + 1).min(w);
    let y1 = ((cy + ext) as usize + 1).min(h);
    if x1 <= x0 || y1 <= y0 {
        return None;
    }
    let (bw, bh) = (x1 - x0, y1 - y0);
    let mut weights = Vec::with_capacity(bw * bh);
    let mut any = false;
    for y in y0..y1 {
        for x in x0..x1 {
            let (dx, dy) = (x as f32 + 0.5 - cx, y as f32 + 0.5 - cy);
            let (u, v) = ((dx * cs + dy * sn) / rx, (-dx * sn + dy * cs) / ry);
            // signed distance in units of the radius, roughened by the noise
            let d = (u * u + v * v).sqrt() - 1.0 + roughness * field.at(&lat, x as f32, y as f32);
            let wgt = (0.5 - d * r / soft).clamp(0.0, 1.0);
            any |= wgt >= 0.5;
            weights.push(wgt);
        }
    }
    any.then_some(((x0, y0, bw, bh), weights))
}

/// A blob where the image is blended with another part of itself, moved,
/// possibly mirrored, and re-exposed.
fn foreign_patch(frame: &mut Frame, mask: &mut GrayFrame, rng: &mut Rng) -> bool {
    let (w, h) = (frame.width() as usize, frame.height() as usize);
    let Some(((x0, y0, bw, bh), weights)) = blob(w, h, 2.0, false, rng) else {
        return false;
    };
    let before = luma_of(frame);
    let (dx, dy) = (
        rng.range_usize(0, w) as isize - x0 as isize,
        rng.range_usize(0, h) as isize - y0 as isize,
    );
    let (flip_x, flip_y) = (rng.chance(0.5), rng.chance(0.5));
    let gain = rng.range_f32(0.6, 1.5);
    let alpha = rng.range_f32(0.5, 1.0);
    let mut after = before.clone();
    let mut marked = vec![false; w * h];
    for j in 0..bh {
        for i in 0..bw {
            let wgt = weights[j * bw + i] * alpha;
            if wgt <= 0.0 {
                continue;
            }
            let (si, sj) = (if flip_x { bw - 1 - i } else { i }, if flip_y { bh - 1 - j } else { j });
            let sx = ((x0 + si) as isize + dx).rem_euclid(w as isize) as usize;
            let sy = ((y0 + sj) as isize + dy).rem_euclid(h as isize) as usize;
            let k = (y0 + j) * w + x0 + i;
            let src = before[sy * w + sx] * gain;
            after[k] = before[k] * (1.0 - wgt) + src * wgt;
            marked[k] = wgt >= 0.5 * alpha;
        }
    }
    write_back(frame, &before, &after, &marked, mask)
}

/// A blob darkened or brightened with soft edges, or filled with a flat grey.
fn tone_blob(frame: &mut Frame, mask: &mut GrayFrame, rng: &mut Rng) -> bool {
    let (w, h) = (frame.width() as usize, frame.height() as usize);
    let large = rng.chance(0.5);
    let soft = if rng.chance(0.5) { 2.0 } else { rng.range_f32(2.0, 40.0) };
    let Some(((x0, y0, bw, bh), weights)) = blob(w, h, soft, large, rng) else {
        return false;
    };
    let before = luma_of(frame);
    let flat = rng.chance(0.3).then(|| rng.range_f32(0.0, 255.0));
    let gain = if rng.chance(0.6) {
        rng.range_f32(0.35, 0.85)
    } else {
        rng.range_f32(1.25, 1.9)
    };
    let mut after = before.clone();
    let mut marked = vec![false; w * h];
    for j in 0..bh {
        for i in 0..bw {
            let wgt = weights[j * bw + i];
            if wgt <= 0.0 {
                continue;
            }
            let k = (y0 + j) * w + x0 + i;
            let target = flat.unwrap_or(before[k] * gain);
            after[k] = before[k] * (1.0 - wgt) + target * wgt;
            marked[k] = wgt >= 0.5;
        }
    }
    write_back(frame, &before, &after, &marked, mask)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plate(w: u32, h: u32) -> Frame {
        let data: Vec<u8> = (0..w * h)
            .flat_map(|i| {
                let v = 100 + ((i * 7919) % 23) as u8;
                [v, v, v]
            })
            .collect();
        Frame::from_rgb(w, h, data).unwrap()
    }

    #[test]
    fn pasted_anomalies_change_the_pixels_their_mask_marks() {
        for seed in 0..40 {
            let clean = plate(96, 80);
            let mut f = clean.clone();
            let mask = paste_anomalies(&mut f, &mut Rng::new(seed));
            let marked = mask.data.iter().filter(|&&m| m == 255).count();
            assert!(marked > 0, "seed {seed}: nothing pasted");
            // a later paste may undo part of an earlier one where they overlap:
            // nearly every marked pixel differs visibly from the good part
            let changed = (0..mask.data.len())
                .filter(|&i| mask.data[i] == 255)
                .filter(|&i| (f.as_rgb()[3 * i] as f32 - clean.as_rgb()[3 * i] as f32).abs() >= VISIBLE_CHANGE - 1.0)
                .count();
            assert!(
                changed * 10 >= marked * 9,
                "seed {seed}: {changed} of {marked} marked pixels changed"
            );
        }
    }

    #[test]
    fn the_same_seed_pastes_the_same_anomalies() {
        let (mut a, mut b) = (plate(64, 64), plate(64, 64));
        let ma = paste_anomalies(&mut a, &mut Rng::new(5));
        let mb = paste_anomalies(&mut b, &mut Rng::new(5));
        assert_eq!((a, ma), (b, mb));
    }

    #[test]
    fn a_tiny_image_gets_no_blob_and_no_panic() {
        let mut f = plate(4, 4);
        let m = paste_anomalies(&mut f, &mut Rng::new(1));
        assert_eq!(m.data.len(), 16);
    }
}
