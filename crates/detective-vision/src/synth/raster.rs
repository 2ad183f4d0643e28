//! Rasterisation with anti-aliasing into a defect's own coverage buffer, the layer
//! that blends a defect into the surface, and the exact instance mask derived from it.
//!
//! Everything here works inside the defect's bounding region only (clipped to the
//! image), so the cost of a defect is proportional to its size.

use detective_core::BBox;

use crate::GrayFrame;

/// Smallest instance kept, in pixels; smaller defects are not drawn at all.
pub const MIN_PIXELS: usize = 4;
/// Coverage from which a pixel belongs to a defect's instance mask.
pub const MASK_COVERAGE: f32 = 0.5;

/// The pixels of one defect, stored over its bounding region of the image.
#[derive(Debug, Clone, PartialEq)]
pub struct InstanceMask {
    x0: u32,
    y0: u32,
    w: u32,
    h: u32,
    bits: Vec<bool>,
}

impl InstanceMask {
    /// Whether image pixel `(x, y)` belongs to the instance.
    pub fn contains(&self, x: u32, y: u32) -> bool {
        x >= self.x0
            && y >= self.y0
            && x < self.x0 + self.w
            && y < self.y0 + self.h
            && self.bits[((y - self.y0) * self.w + (x - self.x0)) as usize]
    }

    /// Image coordinates of every pixel of the instance, row by row.
    pub fn pixels(&self) -> impl Iterator<Item = (u32, u32)> + '_ {
        let w = self.w.max(1);
        self.bits
            .iter()
            .enumerate()
            .filter(|(_, b)| **b)
            .map(move |(i, _)| (self.x0 + i as u32 % w, self.y0 + i as u32 / w))
    }

    /// Number of pixels of the instance.
    pub fn count(&self) -> usize {
        self.bits.iter().filter(|b| **b).count()
    }

    /// Tight box of the pixels in pixel xyxy (`x2` = last column + 1); all zero
    /// when the mask is empty.
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

    /// The instance as a full-size 0/255 mask of a `width × height` image.
    pub fn to_gray(&self, width: u32, height: u32) -> GrayFrame {
        let mut g = GrayFrame::new(width, height);
        for (x, y) in self.pixels() {
            if x < width && y < height {
                g.set(x, y, 255);
            }
        }
        g
    }
}

/// One rasterised defect: `new = old * mul + add` per pixel of its region, and its mask.
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
    /// Builds a layer; `None` (nothing to draw) when the mask has fewer than
    /// [`MIN_PIXELS`] pixels.
    pub fn new(region: Region, mul: Vec<f32>, add: Vec<f32>, bits: Vec<bool>) -> Option<Layer> {
        let Region { x0, y0, w, h } = region;
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

    /// Blends the defect into the luma image of width `img_w`.
    pub fn apply(&self, luma: &mut [f32], img_w: usize) {
        for y in 0..self.h {
            let row = &mut luma[(self.y0 + y) * img_w + self.x0..][..self.w];
            let (mul, add) = (&self.mul[y * self.w..][..self.w], &self.add[y * self.w..][..self.w]);
            for ((p, m), a) in row.iter_mut().zip(mul).zip(add) {
                *p = *p * m + a;
            }
        }
    }
}

/// A rectangle of image pixels `[x0, x0 + w) × [y0, y0 + h)`.
#[derive(Debug, Clone, Copy)]
pub struct Region {
    pub x0: usize,
    pub y0: usize,
    pub w: usize,
    pub h: usize,
}

impl Region {
    /// The pixels touched by `[x1, x2) × [y1, y2)`, clipped to the image; `None` when empty.
    pub fn clipped(x1: f32, y1: f32, x2: f32, y2: f32, img_w: usize, img_h: usize) -> Option<Region> {
        if !(x1.is_finite() && y1.is_finite() && x2.is_finite() && y2.is_finite()) {
            return None;
        }
        let x0 = x1.max(0.0) as usize;
        let y0 = y1.max(0.0) as usize;
        let xe = (x2.max(0.0) as usize + 1).min(img_w);
        let ye = (y2.max(0.0) as usize + 1).min(img_h);
        if xe <= x0 || ye <= y0 {
            return None;
        }
        Some(Region {
            x0,
            y0,
            w: xe - x0,
            h: ye - y0,
        })
    }

    /// Image coordinates of the centre of local pixel `(x, y)`.
    #[inline]
    pub fn centre(&self, x: usize, y: usize) -> (f32, f32) {
        ((self.x0 + x) as f32 + 0.5, (self.y0 + y) as f32 + 0.5)
    }

    pub fn len(&self) -> usize {
        self.w * self.h
    }
}

/// A defect's coverage buffer (alpha 0..1 per pixel) over its region, with the
/// strength (0..1) of the stroke that gave each pixel its coverage: strokes may fade
/// along their length without changing their geometry, hence their mask.
pub struct Canvas {
    pub region: Region,
    pub cov: Vec<f32>,
    pub strength: Vec<f32>,
}

impl Canvas {
    pub fn new(region: Region) -> Canvas {
        Canvas {
            region,
            cov: vec![0.0; region.len()],
            strength: vec![1.0; region.len()],
        }
    }

    /// A canvas over the bounding box of `points` grown by `pad`, clipped to the image.
    pub fn around(points: &[(f32, f32)], pad: f32, img_w: usize, img_h: usize) -> Option<Canvas> {
        let (mut x1, mut y1, mut x2, mut y2) = (f32::MAX, f32::MAX, f32::MIN, f32::MIN);
        for &(x, y) in points {
            (x1, y1, x2, y2) = (x1.min(x), y1.min(y), x2.max(x), y2.max(y));
        }
        Region::clipped(x1 - pad, y1 - pad, x2 + pad, y2 + pad, img_w, img_h).map(Canvas::new)
    }

    /// Anti-aliased thick segment from `a` to `b` with half widths `ha` and `hb` at
    /// its ends, drawn with `strength`: coverage ≈ area of the pixel inside the
    /// stroke, `clamp(half + 0.5 − distance)`; combined with what is already there by
    /// maximum.
    pub fn segment(&mut self, a: (f32, f32), b: (f32, f32), ha: f32, hb: f32, strength: f32) {
        let r = ha.max(hb) + 1.0;
        let Region { x0, y0, w, h } = self.region;
        let bx1 = ((a.0.min(b.0) - r).max(x0 as f32) as usize).max(x0);
        let by1 = ((a.1.min(b.1) - r).max(y0 as f32) as usize).max(y0);
        let bx2 = ((a.0.max(b.0) + r).max(0.0) as usize + 1).min(x0 + w);
        let by2 = ((a.1.max(b.1) + r).max(0.0) as usize + 1).min(y0 + h);
        let (dx, dy) = (b.0 - a.0, b.1 - a.1);
        let inv_len2 = 1.0 / (dx * dx + dy * dy).max(1e-6);
        for y in by1..by2 {
            let py = y as f32 + 0.5;
            let row = &mut self.cov[(y - y0) * w..][..w];
            let srow = &mut self.strength[(y - y0) * w..][..w];
            for x in bx1..bx2 {
                let px = x as f32 + 0.5;
                let t = (((px - a.0) * dx + (py - a.1) * dy) * inv_len2).clamp(0.0, 1.0);
                let (qx, qy) = (a.0 + t * dx - px, a.1 + t * dy - py);
                let d = (qx * qx + qy * qy).sqrt();
                let half = ha + (hb - ha) * t;
                let c = (half + 0.5 - d).clamp(0.0, 1.0);
                if c > row[x - x0] {
                    row[x - x0] = c;
                    srow[x - x0] = strength;
                }
            }
        }
    }

    /// A layer blending each pixel towards `old * gain + offset` by its coverage
    /// times its strength; the mask is coverage ≥ [`MASK_COVERAGE`].
    pub fn into_tint_layer(self, gain: f32, offset: f32) -> Option<Layer> {
        let bits = self.cov.iter().map(|&c| c >= MASK_COVERAGE).collect();
        let alpha = self.cov.iter().zip(&self.strength).map(|(c, s)| c * s);
        let mul = alpha.clone().map(|a| 1.0 + a * (gain - 1.0)).collect();
        let add = alpha.map(|a| a * offset).collect();
        Layer::new(self.region, mul, add, bits)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_horizontal_segment_covers_its_rows_and_fades_at_the_edges() {
        let region = Region::clipped(0.0, 0.0, 20.0, 10.0, 32, 32).unwrap();
        let mut c = Canvas::new(region);
        // 2 px wide line centred on y = 5.0 → rows 4 and 5 fully covered
        c.segment((3.0, 5.0), (15.0, 5.0), 1.0, 1.0, 1.0);
        let at = |x: usize, y: usize| c.cov[y * region.w + x];
        assert!((at(8, 4) - 1.0).abs() < 1e-6 && (at(8, 5) - 1.0).abs() < 1e-6);
        assert!(at(8, 3) < 0.01 && at(8, 6) < 0.01);
        let layer = c.into_tint_layer(0.5, 0.0).unwrap();
        let b = layer.mask.bbox();
        assert_eq!((b.y1, b.y2), (4.0, 6.0));
    }
}
