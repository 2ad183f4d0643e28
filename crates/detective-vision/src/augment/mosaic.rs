//! Ultralytics' 4-image mosaic: four images (already resized by
//! [`load_resized`](super::load_resized)) placed around a random centre of a
//! `2·imgsz × 2·imgsz` grey canvas — the first one top-left of the centre, then
//! top-right, bottom-left, bottom-right — with their boxes shifted, clipped to the
//! canvas and dropped when nothing is left of them. The canvas is meant to go through
//! [`random_perspective`](super::random_perspective) with border `-imgsz/2`.

use detective_core::Rng;

use super::params::{FILL, LabeledBox, uniform};
use crate::{Frame, VisionError};

/// Builds the mosaic of four `(frame, boxes)` tiles; boxes in each tile's pixels.
///
/// The centre `(xc, yc)` is drawn uniformly in `[imgsz/2, 3·imgsz/2)` (y first, then
/// x, truncated to integers); tiles larger than their quadrant are cropped on the side
/// away from the centre.
pub fn mosaic4(
    tiles: [(&Frame, &[LabeledBox]); 4],
    imgsz: u32,
    rng: &mut Rng,
) -> Result<(Frame, Vec<LabeledBox>), VisionError> {
    if imgsz == 0 {
        return Err(VisionError::InvalidArgument("imgsz must be positive".into()));
    }
    let s = imgsz as i64;
    let size = 2 * s;
    // Ultralytics' border is -imgsz // 2 (floor division); the centre is drawn in
    // [-border, 2s + border)
    let border = (-s).div_euclid(2);
    let yc = uniform(rng, -border as f64, (2 * s + border) as f64) as i64;
    let xc = uniform(rng, -border as f64, (2 * s + border) as f64) as i64;

    let mut canvas = vec![FILL; (size * size * 3) as usize];
    let mut out_boxes = Vec::new();
    for (i, (tile, boxes)) in tiles.iter().enumerate() {
        let (w, h) = (tile.width() as i64, tile.height() as i64);
        // destination [x1a, x2a) × [y1a, y2a) on the canvas, source [x1b, ..) × [y1b, ..) in the tile
        let (x1a, y1a, x2a, y2a, x1b, y1b) = match i {
            0 => {
                let (x1a, y1a, x2a, y2a) = ((xc - w).max(0), (yc - h).max(0), xc, yc);
                (x1a, y1a, x2a, y2a, w - (x2a - x1a), h - (y2a - y1a))
            }
            1 => {
                let (x1a, y1a, x2a, y2a) = (xc, (yc - h).max(0), (xc + w).min(size), yc);
                (x1a, y1a, x2a, y2a, 0, h - (y2a - y1a))
            }
            2 => {
                let (x1a, y1a, x2a, y2a) = ((xc - w).max(0), yc, xc, (yc + h).min(size));
                (x1a, y1a, x2a, y2a, w - (x2a - x1a), 0)
            }
            _ => {
                let (x1a, y1a, x2a, y2a) = (xc, yc, (xc + w).min(size), (yc + h).min(size));
                (x1a, y1a, x2a, y2a, 0, 0)
            }
        };
        let (cw, ch) = (x2a - x1a, y2a - y1a);
        if cw > 0 && ch > 0 && x1b >= 0 && y1b >= 0 && x1b + cw <= w && y1b + ch <= h {
            let src = tile.as_rgb();
            let n = (cw * 3) as usize;
            for dy in 0..ch {
                let d = (((y1a + dy) * size + x1a) * 3) as usize;
                let o = (((y1b + dy) * w + x1b) * 3) as usize;
                canvas[d..d + n].copy_from_slice(&src[o..o + n]);
            }
        }
        let (padw, padh) = ((x1a - x1b) as f32, (y1a - y1b) as f32);
        out_boxes.extend(
            boxes
                .iter()
                .map(|&(c, b)| (c, [b[0] + padw, b[1] + padh, b[2] + padw, b[3] + padh])),
        );
    }
    let lim = size as f32;
    let clipped = out_boxes
        .into_iter()
        .map(|(c, b)| {
            (
                c,
                [
                    b[0].clamp(0.0, lim),
                    b[1].clamp(0.0, lim),
                    b[2].clamp(0.0, lim),
                    b[3].clamp(0.0, lim),
                ],
            )
        })
        .filter(|(_, b)| (b[2] - b[0]) * (b[3] - b[1]) > 0.0)
        .collect();
    let frame = Frame::from_rgb(size as u32, size as u32, canvas)?;
    Ok((frame, clipped))
}

#[cfg(test)]
mod tests {
    use super::super::test_util::{assert_box_near, colour_extent, frame_with_rect};
    use super::*;

    const COLOURS: [[u8; 3]; 4] = [[250, 0, 0], [0, 250, 0], [0, 0, 250], [250, 250, 0]];

    fn tiles() -> Vec<(Frame, Vec<LabeledBox>)> {
        let rects = [[10, 10, 60, 40], [100, 5, 150, 70], [0, 0, 30, 30], [40, 50, 160, 90]];
        let sizes = [(160, 160), (160, 120), (90, 160), (160, 100)];
        (0..4)
            .map(|i| {
                let r = rects[i];
                let f = frame_with_rect(sizes[i].0, sizes[i].1, r, COLOURS[i]);
                (f, vec![(i, [r[0] as f32, r[1] as f32, r[2] as f32, r[3] as f32])])
            })
            .collect()
    }

    #[test]
    fn boxes_follow_their_tiles_and_are_clipped() {
        let t = tiles();
        for seed in 0..20 {
            let mut rng = Rng::new(seed);
            let (m, boxes) = mosaic4(
                [
                    (&t[0].0, &t[0].1),
                    (&t[1].0, &t[1].1),
                    (&t[2].0, &t[2].1),
                    (&t[3].0, &t[3].1),
                ],
                160,
                &mut rng,
            )
            .unwrap();
            assert_eq!((m.width(), m.height()), (320, 320));
            for (c, b) in &boxes {
                assert!(b.iter().all(|v| (0.0..=320.0).contains(v)), "{b:?}");
                let extent = colour_extent(&m, COLOURS[*c], 0)
                    .unwrap_or_else(|| panic!("seed {seed}: box {b:?} of class {c} but no pixels"));
                assert_box_near(*b, extent, 0.0, &format!("mosaic seed {seed} class {c}"));
            }
            // every tile whose rectangle is visible keeps its box
            for (c, colour) in COLOURS.iter().enumerate() {
                if colour_extent(&m, *colour, 0).is_some() {
                    assert!(
                        boxes.iter().any(|(k, _)| *k == c),
                        "seed {seed}: class {c} visible but dropped"
                    );
                }
            }
        }
    }

    #[test]
    fn centre_stays_in_the_middle_half_and_same_seed_same_mosaic() {
        let t = tiles();
        let run = |seed| {
            let mut rng = Rng::new(seed);
            mosaic4(
                [
                    (&t[0].0, &t[0].1),
                    (&t[1].0, &t[1].1),
                    (&t[2].0, &t[2].1),
                    (&t[3].0, &t[3].1),
                ],
                160,
                &mut rng,
            )
            .unwrap()
        };
        assert_eq!(run(7), run(7));
        for seed in 0..50 {
            let (m, _) = run(seed);
            // the first tile ends at the centre, which is at least 80 px in: its
            // pixel (79, 79) is never the canvas grey
            assert_ne!(m.pixel(79, 79), [FILL; 3], "seed {seed}: centre left the middle half");
        }
    }
}
