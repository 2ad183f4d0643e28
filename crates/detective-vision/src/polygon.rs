//! Filling polygons into a mask: how a polygon drawn in the annotation editor
//! becomes mask pixels the segmentation trainer reads. A pixel belongs to the
//! polygon when its centre is inside it (even-odd rule), as browsers' canvas
//! fill and COCO's rasterisers decide.

use crate::GrayFrame;

/// Sets every pixel of `mask` whose centre lies inside `points` (x, y in
/// pixels; the polygon closes by itself) to `value`. Fewer than three points
/// fill nothing; points outside the mask are fine (clipped).
pub fn fill_polygon(mask: &mut GrayFrame, points: &[[f32; 2]], value: u8) {
    if points.len() < 3 || mask.width == 0 || mask.height == 0 {
        return;
    }
    let (ymin, ymax) = points.iter().fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), p| {
        (lo.min(p[1]), hi.max(p[1]))
    });
    let first = (ymin - 0.5).ceil().max(0.0) as u32;
    let last = ((ymax - 0.5).floor()).min(mask.height as f32 - 1.0);
    if last.is_nan() || last < 0.0 {
        return;
    }
    let mut xs: Vec<f32> = Vec::with_capacity(8);
    for y in first..=last as u32 {
        let cy = y as f32 + 0.5;
        xs.clear();
        for (i, a) in points.iter().enumerate() {
            let b = points[(i + 1) % points.len()];
            // Half-open on y so a vertex on the scanline counts once.
            if (a[1] <= cy) != (b[1] <= cy) {
                xs.push(a[0] + (cy - a[1]) / (b[1] - a[1]) * (b[0] - a[0]));
            }
        }
        xs.sort_by(f32::total_cmp);
        for pair in xs.chunks_exact(2) {
            let from = (pair[0] - 0.5).ceil().max(0.0);
            let to = (pair[1] - 0.5).floor().min(mask.width as f32 - 1.0);
            if from > to {
                continue;
            }
            let row = y as usize * mask.width as usize;
            mask.data[row + from as usize..=row + to as usize].fill(value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(m: &GrayFrame) -> usize {
        m.data.iter().filter(|v| **v > 0).count()
    }

    #[test]
    fn a_rectangle_fills_the_pixels_whose_centres_it_covers() {
        let mut m = GrayFrame::new(10, 10);
        fill_polygon(&mut m, &[[2.0, 3.0], [6.0, 3.0], [6.0, 5.0], [2.0, 5.0]], 255);
        assert_eq!(count(&m), 4 * 2);
        assert_eq!(m.get(2, 3), 255);
        assert_eq!(m.get(5, 4), 255);
        assert_eq!(m.get(6, 4), 0);
        assert_eq!(m.get(2, 5), 0);
    }

    #[test]
    fn a_triangle_fills_about_its_area() {
        let mut m = GrayFrame::new(100, 100);
        fill_polygon(&mut m, &[[0.0, 0.0], [100.0, 0.0], [0.0, 100.0]], 255);
        let n = count(&m) as f32;
        assert!((n - 5000.0).abs() < 110.0, "{n}");
    }

    #[test]
    fn a_concave_polygon_leaves_its_notch_empty() {
        // A "U": the notch between x 4..6 above y 6 stays empty.
        let u = [
            [2.0, 2.0],
            [4.0, 2.0],
            [4.0, 6.0],
            [6.0, 6.0],
            [6.0, 2.0],
            [8.0, 2.0],
            [8.0, 8.0],
            [2.0, 8.0],
        ];
        let mut m = GrayFrame::new(10, 10);
        fill_polygon(&mut m, &u, 255);
        assert_eq!(m.get(5, 3), 0);
        assert_eq!(m.get(3, 3), 255);
        assert_eq!(m.get(7, 3), 255);
        assert_eq!(m.get(5, 7), 255);
    }

    #[test]
    fn points_outside_the_mask_are_clipped_and_degenerate_polygons_fill_nothing() {
        let mut m = GrayFrame::new(4, 4);
        fill_polygon(
            &mut m,
            &[[-10.0, -10.0], [20.0, -10.0], [20.0, 20.0], [-10.0, 20.0]],
            255,
        );
        assert_eq!(count(&m), 16);
        let mut m = GrayFrame::new(4, 4);
        fill_polygon(&mut m, &[[0.0, 0.0], [3.0, 3.0]], 255);
        fill_polygon(&mut m, &[[0.0, 0.0], [3.0, 0.0], [3.0, 0.0]], 255);
        assert_eq!(count(&m), 0);
    }
}
