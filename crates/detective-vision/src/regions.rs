//! Connected regions of a binary mask (8-connectivity): the defect regions a
//! segmenter found, as boxes with their area and mean probability, so that its
//! results travel through the same detection pipeline as the detector's.

use detective_core::BBox;

use crate::{GrayFrame, VisionError};

/// One connected region of set pixels.
#[derive(Debug, Clone, PartialEq)]
pub struct Region {
    /// Tight box, pixel xyxy (`x2` = last column + 1).
    pub bbox: BBox,
    /// Pixels in the region.
    pub area: usize,
    /// Mean of `probs` over the region's pixels.
    pub mean_prob: f32,
}

/// Regions of the pixels of `mask` that are ≥ 128, largest first; regions smaller
/// than `min_area` pixels are dropped. `probs` (same size as the mask) gives each
/// region's mean probability.
pub fn connected_regions(mask: &GrayFrame, probs: &[f32], min_area: usize) -> Result<Vec<Region>, VisionError> {
    let (w, h) = (mask.width as usize, mask.height as usize);
    if mask.data.len() != w * h || probs.len() != w * h {
        return Err(VisionError::InvalidArgument(format!(
            "mask of {} and probabilities of {} values for {w}×{h}",
            mask.data.len(),
            probs.len()
        )));
    }
    let mut seen = vec![false; w * h];
    let mut stack = Vec::new();
    let mut out = Vec::new();
    for start in 0..w * h {
        if seen[start] || mask.data[start] < 128 {
            continue;
        }
        seen[start] = true;
        stack.push(start);
        let (mut x1, mut y1, mut x2, mut y2) = (w, h, 0, 0);
        let (mut area, mut sum) = (0usize, 0f64);
        while let Some(i) = stack.pop() {
            let (x, y) = (i % w, i / w);
            x1 = x1.min(x);
            y1 = y1.min(y);
            x2 = x2.max(x + 1);
            y2 = y2.max(y + 1);
            area += 1;
            sum += probs[i] as f64;
            for dy in -1i64..=1 {
                for dx in -1i64..=1 {
                    let (nx, ny) = (x as i64 + dx, y as i64 + dy);
                    if nx < 0 || ny < 0 || nx >= w as i64 || ny >= h as i64 {
                        continue;
                    }
                    let j = ny as usize * w + nx as usize;
                    if !seen[j] && mask.data[j] >= 128 {
                        seen[j] = true;
                        stack.push(j);
                    }
                }
            }
        }
        if area >= min_area.max(1) {
            out.push(Region {
                bbox: BBox {
                    x1: x1 as f32,
                    y1: y1 as f32,
                    x2: x2 as f32,
                    y2: y2 as f32,
                },
                area,
                mean_prob: (sum / area as f64) as f32,
            });
        }
    }
    out.sort_by_key(|r| std::cmp::Reverse(r.area));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mask(rows: &[&str]) -> GrayFrame {
        let h = rows.len() as u32;
        let w = rows[0].len() as u32;
        let mut m = GrayFrame::new(w, h);
        for (y, r) in rows.iter().enumerate() {
            for (x, c) in r.chars().enumerate() {
                if c == '#' {
                    m.set(x as u32, y as u32, 255);
                }
            }
        }
        m
    }

    #[test]
    fn regions_are_eight_connected_with_tight_boxes_and_mean_probability() {
        let m = mask(&["##....", ".#....", "..#..#", ".....#", "......"]);
        let probs: Vec<f32> = (0..30).map(|i| if i % 6 == 5 { 0.9 } else { 0.6 }).collect();
        let r = connected_regions(&m, &probs, 1).unwrap();
        assert_eq!(r.len(), 2);
        // diagonal chain of 4 pixels is one region
        assert_eq!(r[0].area, 4);
        assert_eq!(<[f32; 4]>::from(r[0].bbox), [0.0, 0.0, 3.0, 3.0]);
        assert!((r[0].mean_prob - 0.6).abs() < 1e-6);
        assert_eq!(r[1].area, 2);
        assert_eq!(<[f32; 4]>::from(r[1].bbox), [5.0, 2.0, 6.0, 4.0]);
        assert!((r[1].mean_prob - 0.9).abs() < 1e-6);
    }

    #[test]
    fn small_regions_are_dropped_and_sizes_must_agree() {
        let m = mask(&["#...", "...#", "...#"]);
        let probs = vec![1.0; 12];
        assert_eq!(connected_regions(&m, &probs, 2).unwrap().len(), 1);
        assert!(connected_regions(&m, &probs[..11], 1).is_err());
        assert!(connected_regions(&GrayFrame::new(4, 3), &probs, 1).unwrap().is_empty());
    }
}
