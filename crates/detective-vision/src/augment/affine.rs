//! Ultralytics' `RandomPerspective` without its perspective term (their default
//! `perspective=0`): a random affine map — centre, rotation and scale, shear,
//! translation — applied to the image with `cv2.warpAffine` semantics and to the boxes
//! through their four corners, then the boxes are clipped and filtered with
//! `box_candidates`.
//!
//! [`warp_affine`] reproduces OpenCV 4.x's 8-bit bilinear `warpAffine` bit for bit:
//! the inverse map in 10-bit fixed point rounded to 1/32 pixel, 15-bit interpolation
//! weights, constant border mixed into the taps that fall outside the image.
//! (OpenCV 5 switched to a float kernel whose results differ by a few grey levels.)

use detective_core::Rng;

use super::params::{AugmentParams, FILL, LabeledBox, uniform};
use crate::{Frame, VisionError};

/// `box_candidates` default: a box narrower or lower than this many pixels is dropped.
pub const WH_THR: f32 = 2.0;
/// `box_candidates` default: a box more elongated than this aspect ratio is dropped.
pub const AR_THR: f32 = 100.0;
/// `box_candidates` default: a box that kept less than this fraction of its area is dropped.
pub const AREA_THR: f32 = 0.1;

type Mat3 = [[f32; 3]; 3];

fn matmul(a: &Mat3, b: &Mat3) -> Mat3 {
    let mut out = [[0.0f32; 3]; 3];
    for (i, row) in out.iter_mut().enumerate() {
        for (j, v) in row.iter_mut().enumerate() {
            *v = a[i][0] * b[0][j] + a[i][1] * b[1][j] + a[i][2] * b[2][j];
        }
    }
    out
}

/// Draws Ultralytics' affine map for an `in_w × in_h` image warped to `out_w × out_h`:
/// `M = T · S · R · C` in `f32` (their matrices are `float32`), where `C` moves the
/// image centre to the origin, `R` rotates by `±degrees` and scales by
/// `1 ± scale`, `S` shears by `±shear` degrees on each axis and `T` puts the centre at
/// `(0.5 ± translate) · out` on each axis. Returns `M` and the drawn scale.
pub fn affine_matrix(
    in_w: u32,
    in_h: u32,
    out_w: u32,
    out_h: u32,
    params: &AugmentParams,
    rng: &mut Rng,
) -> (Mat3, f32) {
    let eye: Mat3 = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]];
    let mut c = eye;
    c[0][2] = (-(in_w as f64) / 2.0) as f32;
    c[1][2] = (-(in_h as f64) / 2.0) as f32;

    let degrees = params.degrees as f64;
    let a = uniform(rng, -degrees, degrees);
    let scale = params.scale as f64;
    let s = uniform(rng, 1.0 - scale, 1.0 + scale);
    // cv2.getRotationMatrix2D(angle=a, center=(0, 0), scale=s)
    let rad = a * std::f64::consts::PI / 180.0;
    let (alpha, beta) = (rad.cos() * s, rad.sin() * s);
    let mut r = eye;
    r[0][0] = alpha as f32;
    r[0][1] = beta as f32;
    r[1][0] = (-beta) as f32;
    r[1][1] = alpha as f32;

    let shear = params.shear as f64;
    let mut sh = eye;
    sh[0][1] = (uniform(rng, -shear, shear) * std::f64::consts::PI / 180.0).tan() as f32;
    sh[1][0] = (uniform(rng, -shear, shear) * std::f64::consts::PI / 180.0).tan() as f32;

    let t_frac = params.translate as f64;
    let mut t = eye;
    t[0][2] = (uniform(rng, 0.5 - t_frac, 0.5 + t_frac) * out_w as f64) as f32;
    t[1][2] = (uniform(rng, 0.5 - t_frac, 0.5 + t_frac) * out_h as f64) as f32;

    let m = matmul(&matmul(&matmul(&t, &sh), &r), &c);
    (m, s as f32)
}

/// OpenCV's `saturate_cast<int>(double)`: round half to even.
fn cv_round(v: f64) -> i32 {
    v.round_ties_even().clamp(i32::MIN as f64, i32::MAX as f64) as i32
}

/// `cv2.warpAffine(src, m, (out_w, out_h), flags=INTER_LINEAR,
/// borderMode=BORDER_CONSTANT, borderValue=border)` on an 8-bit RGB frame, bit-exact
/// with OpenCV 4.x. `m` maps source pixels to output pixels (it is inverted here, as
/// OpenCV does without `WARP_INVERSE_MAP`); a singular `m` maps everything to the
/// source origin, as in OpenCV.
pub fn warp_affine(
    src: &Frame,
    m: &[[f64; 3]; 2],
    out_w: u32,
    out_h: u32,
    border: [u8; 3],
) -> Result<Frame, VisionError> {
    if out_w == 0 || out_h == 0 {
        return Err(VisionError::ZeroSize);
    }
    if m.iter().flatten().any(|v| !v.is_finite()) {
        return Err(VisionError::InvalidArgument(format!(
            "affine matrix {m:?} is not finite"
        )));
    }
    // inverse map, computed as OpenCV's warpAffine does
    let [[m0, m1, m2], [m3, m4, m5]] = *m;
    let d = m0 * m4 - m1 * m3;
    let d = if d != 0.0 { 1.0 / d } else { 0.0 };
    let (i0, i1, i3, i4) = (m4 * d, m1 * -d, m3 * -d, m0 * d);
    let i2 = -i0 * m2 - i1 * m5;
    let i5 = -i3 * m2 - i4 * m5;

    // AB_BITS = 10, INTER_BITS = 5: source positions in 1/1024, rounded to 1/32 px
    const AB_SCALE: f64 = 1024.0;
    const ROUND_DELTA: i32 = 16;
    let (ow, oh) = (out_w as usize, out_h as usize);
    let adelta: Vec<i32> = (0..ow).map(|x| cv_round(i0 * x as f64 * AB_SCALE)).collect();
    let bdelta: Vec<i32> = (0..ow).map(|x| cv_round(i3 * x as f64 * AB_SCALE)).collect();

    let (sw, sh) = (src.width() as i32, src.height() as i32);
    let stride = sw as usize * 3;
    let s = src.as_rgb();
    let mut out = vec![0u8; ow * oh * 3];
    for (y, row) in out.chunks_exact_mut(ow * 3).enumerate() {
        let x0 = cv_round((i1 * y as f64 + i2) * AB_SCALE).wrapping_add(ROUND_DELTA);
        let y0 = cv_round((i4 * y as f64 + i5) * AB_SCALE).wrapping_add(ROUND_DELTA);
        for (x, px) in row.chunks_exact_mut(3).enumerate() {
            let xx = x0.wrapping_add(adelta[x]) >> 5;
            let yy = y0.wrapping_add(bdelta[x]) >> 5;
            // map entries are shorts in OpenCV
            let sx = (xx >> 5).clamp(i16::MIN as i32, i16::MAX as i32);
            let sy = (yy >> 5).clamp(i16::MIN as i32, i16::MAX as i32);
            let (fx, fy) = (xx & 31, yy & 31);
            // OpenCV's table weights are these × 32 over 2^15 (the one weight of 2^15,
            // at fx = fy = 0, saturates to 2^15 - 1 there, which changes no output)
            let w00 = (32 - fy) * (32 - fx);
            let w01 = (32 - fy) * fx;
            let w10 = fy * (32 - fx);
            let w11 = fy * fx;
            if (sx as u32) < (sw - 1) as u32 && (sy as u32) < (sh - 1) as u32 {
                let o = sy as usize * stride + sx as usize * 3;
                for (c, out) in px.iter_mut().enumerate() {
                    let v = s[o + c] as i32 * w00
                        + s[o + 3 + c] as i32 * w01
                        + s[o + stride + c] as i32 * w10
                        + s[o + stride + 3 + c] as i32 * w11;
                    *out = ((v + 512) >> 10) as u8;
                }
            } else if sx >= sw || sx + 1 < 0 || sy >= sh || sy + 1 < 0 {
                px.copy_from_slice(&border);
            } else {
                let tap = |tx: i32, ty: i32, c: usize| -> i32 {
                    if (0..sw).contains(&tx) && (0..sh).contains(&ty) {
                        s[ty as usize * stride + tx as usize * 3 + c] as i32
                    } else {
                        border[c] as i32
                    }
                };
                for (c, out) in px.iter_mut().enumerate() {
                    let v = tap(sx, sy, c) * w00
                        + tap(sx + 1, sy, c) * w01
                        + tap(sx, sy + 1, c) * w10
                        + tap(sx + 1, sy + 1, c) * w11;
                    *out = ((v + 512) >> 10).clamp(0, 255) as u8;
                }
            }
        }
    }
    let mut frame = Frame::from_rgb(out_w, out_h, out)?;
    frame.source = src.source.clone();
    Ok(frame)
}

/// Boxes mapped by `m` through their four corners, made axis-aligned again (the
/// smallest box holding the mapped corners) and clipped to `out_w × out_h`.
pub fn transform_boxes(boxes: &[LabeledBox], m: &Mat3, out_w: u32, out_h: u32) -> Vec<LabeledBox> {
    let (wf, hf) = (out_w as f32, out_h as f32);
    boxes
        .iter()
        .map(|&(c, b)| {
            let corners = [(b[0], b[1]), (b[2], b[3]), (b[0], b[3]), (b[2], b[1])];
            let (mut x1, mut y1, mut x2, mut y2) = (f32::MAX, f32::MAX, f32::MIN, f32::MIN);
            for (x, y) in corners {
                let tx = x * m[0][0] + y * m[0][1] + m[0][2];
                let ty = x * m[1][0] + y * m[1][1] + m[1][2];
                x1 = x1.min(tx);
                y1 = y1.min(ty);
                x2 = x2.max(tx);
                y2 = y2.max(ty);
            }
            (
                c,
                [
                    x1.clamp(0.0, wf),
                    y1.clamp(0.0, hf),
                    x2.clamp(0.0, wf),
                    y2.clamp(0.0, hf),
                ],
            )
        })
        .collect()
}

/// Ultralytics' `box_candidates`: whether a box that was `before` (already multiplied
/// by the drawn scale) and is `after` once transformed and clipped is still worth
/// training on — both sides longer than `wh_thr` pixels, at least `area_thr` of its
/// area left, aspect ratio below `ar_thr`. Computed in `f32` with their epsilon.
pub fn box_candidates(before: [f32; 4], after: [f32; 4], wh_thr: f32, ar_thr: f32, area_thr: f32) -> bool {
    const EPS: f32 = 1e-16;
    let (w1, h1) = (before[2] - before[0], before[3] - before[1]);
    let (w2, h2) = (after[2] - after[0], after[3] - after[1]);
    let ar = (w2 / (h2 + EPS)).max(h2 / (w2 + EPS));
    w2 > wh_thr && h2 > wh_thr && w2 * h2 / (w1 * h1 + EPS) > area_thr && ar < ar_thr
}

/// Ultralytics' `RandomPerspective` (perspective 0): draws an affine map with
/// [`affine_matrix`], warps `frame` to `(w + 2·border) × (h + 2·border)` with grey
/// 114 outside the image, maps the boxes ([`transform_boxes`]) and keeps those passing
/// [`box_candidates`] with the default thresholds. Border `-imgsz/2` on a mosaic
/// canvas gives an `imgsz × imgsz` output; border 0 keeps the size.
pub fn random_perspective(
    frame: &Frame,
    boxes: &[LabeledBox],
    border: i32,
    params: &AugmentParams,
    rng: &mut Rng,
) -> Result<(Frame, Vec<LabeledBox>), VisionError> {
    let out_w = frame.width() as i64 + 2 * border as i64;
    let out_h = frame.height() as i64 + 2 * border as i64;
    if out_w <= 0 || out_h <= 0 || out_w > u32::MAX as i64 || out_h > u32::MAX as i64 {
        return Err(VisionError::InvalidArgument(format!(
            "border {border} leaves no output for a {}×{} frame",
            frame.width(),
            frame.height()
        )));
    }
    let (out_w, out_h) = (out_w as u32, out_h as u32);
    let (m, s) = affine_matrix(frame.width(), frame.height(), out_w, out_h, params, rng);
    let m64 = [
        [m[0][0] as f64, m[0][1] as f64, m[0][2] as f64],
        [m[1][0] as f64, m[1][1] as f64, m[1][2] as f64],
    ];
    let warped = warp_affine(frame, &m64, out_w, out_h, [FILL; 3])?;
    let moved = transform_boxes(boxes, &m, out_w, out_h);
    let kept = boxes
        .iter()
        .zip(moved)
        .filter(|((_, b0), (_, b1))| {
            let scaled = [b0[0] * s, b0[1] * s, b0[2] * s, b0[3] * s];
            box_candidates(scaled, *b1, WH_THR, AR_THR, AREA_THR)
        })
        .map(|(_, b)| b)
        .collect();
    Ok((warped, kept))
}

#[cfg(test)]
mod tests {
    use super::super::test_util::{assert_box_near, colour_extent, frame_with_rect};
    use super::*;

    fn noise(w: u32, h: u32, seed: u64) -> Frame {
        let mut rng = Rng::new(seed);
        let data = (0..w * h * 3).map(|_| (rng.next_u64() >> 56) as u8).collect();
        Frame::from_rgb(w, h, data).unwrap()
    }

    #[test]
    fn identity_warp_copies_the_image() {
        let f = noise(37, 23, 1);
        let out = warp_affine(&f, &[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], 37, 23, [114; 3]).unwrap();
        assert_eq!(out, f);
        // an integer shift moves pixels exactly and fills with the border
        let out = warp_affine(&f, &[[1.0, 0.0, 3.0], [0.0, 1.0, -2.0]], 37, 23, [114; 3]).unwrap();
        assert_eq!(out.pixel(3, 0), f.pixel(0, 2));
        assert_eq!(out.pixel(36, 20), f.pixel(33, 22));
        assert_eq!(out.pixel(2, 5), [114; 3]);
        assert_eq!(out.pixel(10, 21), [114; 3]);
    }

    /// Expected bytes produced by `cv2.warpAffine` (OpenCV 4.10 and 4.14, INTER_LINEAR,
    /// borderValue 114) for the 6×5 image below and a float32 scale-and-shift matrix;
    /// the first, last-but-one and last columns and the last row mix in the border.
    #[test]
    fn warp_matches_opencv_fixed_point_output() {
        let src: Vec<u8> = (0..6 * 5 * 3).map(|i| ((i * 37 + 11) % 256) as u8).collect();
        let f = Frame::from_rgb(6, 5, src).unwrap();
        let m = [
            [0.9f32 as f64, 0.0, 0.5f32 as f64],
            [0.0, 1.2f32 as f64, -0.3f32 as f64],
        ];
        let out = warp_affine(&f, &m, 7, 6, [114; 3]).unwrap();
        assert_eq!(out.as_rgb(), OPENCV_EXPECTED);
    }

    #[rustfmt::skip]
    const OPENCV_EXPECTED: &[u8] = &[
        86, 102, 118, 76, 113, 150, 169, 80, 117, 144, 89, 126, 168, 197, 66, 93, 130, 103, 114, 114, 114,
        132, 148, 165, 87, 124, 161, 92, 129, 166, 208, 64, 101, 127, 114, 151, 198, 235, 40, 114, 114, 114,
        96, 112, 128, 122, 159, 196, 80, 117, 154, 125, 144, 181, 226, 57, 94, 116, 153, 166, 114, 114, 114,
        142, 158, 91, 133, 170, 123, 128, 165, 76, 81, 118, 113, 161, 142, 179, 30, 67, 104, 114, 114, 114,
        133, 149, 119, 160, 112, 103, 137, 121, 90, 128, 165, 60, 94, 131, 149, 95, 132, 169, 114, 114, 114,
        114, 124, 133, 152, 88, 110, 124, 94, 116, 146, 168, 71, 85, 107, 110, 140, 162, 184, 114, 114, 114,
    ];

    #[test]
    fn pure_scale_and_translation_moves_boxes_with_pixels() {
        let red = [240, 20, 20];
        let rect = [40, 30, 120, 70];
        let f = frame_with_rect(200, 160, rect, red);
        let b = [rect[0] as f32, rect[1] as f32, rect[2] as f32, rect[3] as f32];
        for (s, tx, ty) in [(1.0, 7.0, -5.0), (1.37, 20.5, 11.25), (0.62, -3.3, 40.0)] {
            // M = T · S · C as affine_matrix builds it (centre (100, 80))
            let m: Mat3 = [
                [s, 0.0, -100.0 * s + 100.0 + tx],
                [0.0, s, -80.0 * s + 80.0 + ty],
                [0.0, 0.0, 1.0],
            ];
            let m64 = [
                [m[0][0] as f64, 0.0, m[0][2] as f64],
                [0.0, m[1][1] as f64, m[1][2] as f64],
            ];
            let out = warp_affine(&f, &m64, 200, 160, [FILL; 3]).unwrap();
            let moved = transform_boxes(&[(2, b)], &m, 200, 160);
            let extent = colour_extent(&out, red, 70).unwrap();
            assert_box_near(moved[0].1, extent, 1.5, &format!("scale {s} shift ({tx}, {ty})"));
        }
    }

    #[test]
    fn random_perspective_keeps_boxes_on_their_pixels() {
        let red = [240, 20, 20];
        let rect = [60, 50, 140, 110];
        let f = frame_with_rect(200, 200, rect, red);
        let b = [rect[0] as f32, rect[1] as f32, rect[2] as f32, rect[3] as f32];
        let params = AugmentParams::default();
        for seed in 0..30 {
            let mut rng = Rng::new(seed);
            let (out, boxes) = random_perspective(&f, &[(0, b)], 0, &params, &mut rng).unwrap();
            assert_eq!((out.width(), out.height()), (200, 200));
            match colour_extent(&out, red, 70) {
                Some(extent) if boxes.len() == 1 => assert_box_near(boxes[0].1, extent, 1.5, &format!("seed {seed}")),
                Some(_) => panic!("seed {seed}: rectangle visible but its box was dropped"),
                None => assert!(boxes.is_empty(), "seed {seed}: box kept without pixels"),
            }
        }
        // the mosaic border halves the output
        let big = frame_with_rect(320, 320, [100, 100, 220, 220], red);
        let mut rng = Rng::new(3);
        let (out, _) = random_perspective(&big, &[], -80, &params, &mut rng).unwrap();
        assert_eq!((out.width(), out.height()), (160, 160));
        assert!(random_perspective(&big, &[], -160, &params, &mut rng).is_err());
    }

    #[test]
    fn same_seed_same_output() {
        let f = noise(64, 48, 9);
        let boxes = [(0, [5.0, 5.0, 40.0, 30.0]), (1, [30.0, 10.0, 60.0, 45.0])];
        let params = AugmentParams {
            degrees: 10.0,
            shear: 5.0,
            ..AugmentParams::default()
        };
        let a = random_perspective(&f, &boxes, 0, &params, &mut Rng::new(5)).unwrap();
        let b = random_perspective(&f, &boxes, 0, &params, &mut Rng::new(5)).unwrap();
        let c = random_perspective(&f, &boxes, 0, &params, &mut Rng::new(6)).unwrap();
        assert_eq!(a, b);
        assert_ne!(a.0, c.0);
    }

    #[test]
    fn box_candidates_keeps_and_drops_like_ultralytics() {
        let before = [0.0, 0.0, 100.0, 100.0];
        assert!(box_candidates(before, before, WH_THR, AR_THR, AREA_THR));
        // sides must be strictly longer than 2 px
        assert!(!box_candidates(before, [0.0, 0.0, 2.0, 50.0], WH_THR, AR_THR, AREA_THR));
        assert!(!box_candidates(before, [0.0, 0.0, 50.0, 2.0], WH_THR, AR_THR, AREA_THR));
        assert!(box_candidates(
            [0.0, 0.0, 5.0, 5.0],
            [0.0, 0.0, 2.5, 3.0],
            WH_THR,
            AR_THR,
            AREA_THR
        ));
        // at least 10 % of the (scaled) area must remain
        assert!(!box_candidates(
            before,
            [0.0, 0.0, 30.0, 30.0],
            WH_THR,
            AR_THR,
            AREA_THR
        ));
        assert!(box_candidates(before, [0.0, 0.0, 32.0, 32.0], WH_THR, AR_THR, AREA_THR));
        // aspect ratio below 100
        let long = [0.0, 0.0, 1000.0, 5.0];
        assert!(!box_candidates(long, [0.0, 0.0, 300.0, 2.9], WH_THR, AR_THR, AREA_THR));
        assert!(box_candidates(long, [0.0, 0.0, 280.0, 3.0], WH_THR, AR_THR, AREA_THR));
        // a box clipped to nothing goes
        assert!(!box_candidates(
            before,
            [10.0, 10.0, 10.0, 10.0],
            WH_THR,
            AR_THR,
            AREA_THR
        ));
    }

    #[test]
    fn zero_ranges_give_the_identity_map() {
        let params = AugmentParams {
            degrees: 0.0,
            scale: 0.0,
            translate: 0.0,
            ..AugmentParams::none()
        };
        let (m, s) = affine_matrix(10, 10, 10, 10, &params, &mut Rng::new(0));
        assert_eq!(s, 1.0);
        assert_eq!(m, [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]);
    }
}
