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
//!   material, a hole);
//! - something wrong along an edge of the part, where parts are handled and
//!   ground: a band across one side (a sliver to over half the part) with a
//!   wavy inner edge, re-toned with its texture's contrast changed or of
//!   foreign texture (uneven grinding, a worn edge), or a chip out of the edge
//!   (a blob centred on the border, dark like the missing material or re-toned);
//! - a long thin line, dark or bright, nearly straight and often along one of
//!   the image's axes (a crack following the part's structure).
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
            let drawn = match rng.range_usize(0, 12) {
                0..=2 => engine_defect(frame, &mut mask, rng),
                3..=4 => foreign_patch(frame, &mut mask, rng),
                5..=6 => tone_blob(frame, &mut mask, rng),
                7..=9 => border_anomaly(frame, &mut mask, rng),
                _ => thin_line(frame, &mut mask, rng),
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
/// (soft over `soft` pixels at the edge, at least one), centred at `centre`
/// (anywhere when `None`). Returns the box `(x0, y0, bw, bh)` and the weights,
/// or `None` when the blob is empty.
fn blob(w: usize, h: usize, soft: f32, large: bool, centre: Option<(f32, f32)>, rng: &mut Rng) -> Option<Blob> {
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
    let (cx, cy) = match centre {
        Some(c) => c,
        None => (rng.range_f32(0.0, w as f32), rng.range_f32(0.0, h as f32)),
    };
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
    let Some(((x0, y0, bw, bh), weights)) = blob(w, h, 2.0, false, None, rng) else {
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
    let Some(patch) = blob(w, h, soft, large, None, rng) else {
        return false;
    };
    let flat = rng.chance(0.3).then(|| rng.range_f32(0.0, 255.0));
    let gain = if rng.chance(0.6) {
        rng.range_f32(0.35, 0.85)
    } else {
        rng.range_f32(1.25, 1.9)
    };
    tone_fill(frame, mask, patch, flat, gain)
}

/// Blends the pixels of `blob` towards a flat grey (`flat`) or their own tone
/// times `gain`, by each pixel's weight; marks those at least half blended.
fn tone_fill(frame: &mut Frame, mask: &mut GrayFrame, blob: Blob, flat: Option<f32>, gain: f32) -> bool {
    let (w, h) = (frame.width() as usize, frame.height() as usize);
    let ((x0, y0, bw, bh), weights) = blob;
    let before = luma_of(frame);
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

/// A gain that darkens (60 %) or brightens a tone visibly.
fn tone_gain(rng: &mut Rng) -> f32 {
    if rng.chance(0.6) {
        rng.range_f32(0.55, 0.88)
    } else {
        rng.range_f32(1.15, 1.6)
    }
}

/// Something wrong along one side of the part: a band or a chip.
fn border_anomaly(frame: &mut Frame, mask: &mut GrayFrame, rng: &mut Rng) -> bool {
    let (w, h) = (frame.width() as usize, frame.height() as usize);
    if w.min(h) < 8 {
        return false;
    }
    // 0 top, 1 bottom, 2 left, 3 right
    let side = rng.range_usize(0, 4);
    if rng.chance(0.5) {
        border_band(frame, mask, side, rng)
    } else {
        border_chip(frame, mask, side, rng)
    }
}

/// A band across `side` whose depth wanders along it (a sliver of 2 % to over
/// half of the image), with a soft inner edge: re-toned with its texture's
/// contrast changed, or blended with the mirror image of the part just inside
/// it (a strip of foreign texture).
fn border_band(frame: &mut Frame, mask: &mut GrayFrame, side: usize, rng: &mut Rng) -> bool {
    let (w, h) = (frame.width() as usize, frame.height() as usize);
    // position along the side and distance from it, per pixel
    let (along, across) = if side < 2 { (w, h) } else { (h, w) };
    let share = if rng.chance(0.5) {
        rng.range_f32(0.02, 0.1)
    } else {
        rng.range_f32(0.1, 0.55)
    };
    let depth = share * across as f32 + 1.0;
    let contrast = rng.range_f32(0.5, 1.8);
    let wander = rng.range_f32(0.0, 0.6);
    let lat = Lattice::new(rng);
    let field = Field::iso(rng.range_f32(0.1, 0.5) * along as f32 + 2.0, rng);
    let soft = rng.range_f32(1.0, (depth / 2.0).max(1.5));
    let foreign = rng.chance(0.4);
    let (shift_along, shift_in) = (rng.range_usize(0, along), rng.range_usize(0, across / 4 + 1));
    let gain = tone_gain(rng);
    let before = luma_of(frame);
    let mean = before.iter().sum::<f32>() / before.len() as f32;
    let mut after = before.clone();
    let mut marked = vec![false; w * h];
    let reach = ((depth * (1.0 + wander) + soft) as usize + 1).min(across);
    for t in 0..along {
        let d_here = depth * (1.0 + wander * field.at(&lat, t as f32, 0.0));
        for d in 0..reach {
            let wgt = (0.5 - (d as f32 + 0.5 - d_here) / soft).clamp(0.0, 1.0);
            if wgt <= 0.0 {
                continue;
            }
            let k = border_pixel(w, h, side, t, d);
            let target = if foreign {
                // the part's texture mirrored about the band's edge, moved along it
                let src_d = (2.0 * d_here - d as f32).max(0.0) as usize + shift_in;
                before[border_pixel(w, h, side, (t + shift_along) % along, src_d.min(across - 1))] * gain.sqrt()
            } else {
                (mean + (before[k] - mean) * contrast) * gain
            };
            after[k] = before[k] * (1.0 - wgt) + target * wgt;
            marked[k] = wgt >= 0.5;
        }
    }
    write_back(frame, &before, &after, &marked, mask)
}

/// A long thin line (a third of the image's long side to all of it, 0.7 to
/// 2.2 px wide), darker or brighter by 15 to 70 grey levels, its heading
/// wandering a little; half of them along an axis of the image (±6°).
fn thin_line(frame: &mut Frame, mask: &mut GrayFrame, rng: &mut Rng) -> bool {
    use std::f32::consts::{FRAC_PI_2, PI};
    let (w, h) = (frame.width() as usize, frame.height() as usize);
    if w.min(h) < 8 {
        return false;
    }
    let (fw, fh) = (w as f32, h as f32);
    let heading = if rng.chance(0.5) {
        rng.range_usize(0, 2) as f32 * FRAC_PI_2 + rng.range_f32(-0.1, 0.1)
    } else {
        rng.range_f32(0.0, PI)
    };
    let length = rng.range_f32(0.33, 1.0) * fw.max(fh);
    let width = rng.range_f32(0.7, 2.2);
    let delta = if rng.chance(0.8) {
        -rng.range_f32(15.0, 70.0)
    } else {
        rng.range_f32(15.0, 70.0)
    };
    // coverage per pixel: the most any point of the line gives it
    let mut cover = vec![0f32; w * h];
    let (mut x, mut y) = (rng.range_f32(0.0, fw), rng.range_f32(0.0, fh));
    let (mut a, mut turn) = (heading, 0f32);
    let reach = width / 2.0 + 1.0;
    for _ in 0..length as usize * 2 {
        turn = (turn + rng.range_f32(-0.02, 0.02)).clamp(-0.05, 0.05);
        a = (a + turn).clamp(heading - 0.3, heading + 0.3);
        x += 0.5 * a.cos();
        y += 0.5 * a.sin();
        if !(0.0..fw).contains(&x) || !(0.0..fh).contains(&y) {
            break;
        }
        let (x0, x1) = ((x - reach).max(0.0) as usize, ((x + reach) as usize + 1).min(w));
        let (y0, y1) = ((y - reach).max(0.0) as usize, ((y + reach) as usize + 1).min(h));
        for py in y0..y1 {
            for px in x0..x1 {
                let d = ((px as f32 + 0.5 - x).powi(2) + (py as f32 + 0.5 - y).powi(2)).sqrt();
                let c = (width / 2.0 + 0.5 - d).clamp(0.0, 1.0);
                let k = py * w + px;
                cover[k] = cover[k].max(c);
            }
        }
    }
    let before = luma_of(frame);
    let after: Vec<f32> = before.iter().zip(&cover).map(|(b, c)| b + delta * c).collect();
    let marked: Vec<bool> = cover.iter().map(|&c| c >= 0.5).collect();
    write_back(frame, &before, &after, &marked, mask)
}

/// The index of the pixel `t` along `side` and `d` from it (0 top, 1 bottom,
/// 2 left, 3 right).
fn border_pixel(w: usize, h: usize, side: usize, t: usize, d: usize) -> usize {
    match side {
        0 => d * w + t,
        1 => (h - 1 - d) * w + t,
        2 => t * w + d,
        _ => t * w + (w - 1 - d),
    }
}

/// A chip out of `side`: a blob centred on the border, filled with a dark
/// flat grey (missing material) or re-toned, with a sharp edge.
fn border_chip(frame: &mut Frame, mask: &mut GrayFrame, side: usize, rng: &mut Rng) -> bool {
    let (w, h) = (frame.width() as usize, frame.height() as usize);
    let (fw, fh) = (w as f32, h as f32);
    let centre = match side {
        0 => (rng.range_f32(0.0, fw), 0.0),
        1 => (rng.range_f32(0.0, fw), fh),
        2 => (0.0, rng.range_f32(0.0, fh)),
        _ => (fw, rng.range_f32(0.0, fh)),
    };
    let Some(patch) = blob(w, h, rng.range_f32(1.0, 3.0), false, Some(centre), rng) else {
        return false;
    };
    let flat = rng.chance(0.6).then(|| rng.range_f32(0.0, 60.0));
    let gain = tone_gain(rng);
    tone_fill(frame, mask, patch, flat, gain)
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
    fn border_anomalies_touch_the_side_they_belong_to() {
        let mut touched = [0usize; 4];
        for seed in 0..60 {
            let clean = plate(96, 80);
            let mut f = clean.clone();
            let mut mask = GrayFrame::new(96, 80);
            let mut rng = Rng::new(seed);
            if !border_anomaly(&mut f, &mut mask, &mut rng) {
                continue;
            }
            let on = |x: u32, y: u32| mask.get(x, y) == 255;
            let sides = [
                (0..96).any(|x| on(x, 0)),
                (0..96).any(|x| on(x, 79)),
                (0..80).any(|y| on(0, y)),
                (0..80).any(|y| on(95, y)),
            ];
            assert!(
                sides.iter().any(|&s| s),
                "seed {seed}: the anomaly does not reach an edge"
            );
            for (t, s) in touched.iter_mut().zip(sides) {
                *t += usize::from(s);
            }
        }
        assert!(touched.iter().all(|&t| t > 0), "every side gets some: {touched:?}");
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
