//! Training-time augmentation of an image together with its defect mask, for the
//! segmenter: random crop, resize to the training size, flips, rotation by a
//! multiple of 90°, brightness/contrast jitter. Every geometric step is applied to
//! both, so mask pixels stay on the image pixels they label; the photometric step
//! touches the image only.
//!
//! The image is resized with OpenCV's bilinear kernel ([`resize_like_opencv`]),
//! the mask with nearest neighbour (labels are not interpolated).
//!
//! [`sample_patch`] then optionally cuts a smaller training window out of the
//! augmented pair, centred on a defect pixel with a given probability.

use detective_core::Rng;

use crate::preprocess::resize_like_opencv;
use crate::{Frame, GrayFrame, VisionError};

/// Segmentation augmentation settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SegAugmentParams {
    /// Probability of a left-right flip.
    pub fliplr: f32,
    /// Probability of an up-down flip.
    pub flipud: f32,
    /// Rotate by 0, 90, 180 or 270° (uniformly) when true.
    pub rot90: bool,
    /// Brightness shift range (±, fraction of 255).
    pub brightness: f32,
    /// Contrast gain range (±, around 1).
    pub contrast: f32,
    /// Smallest crop side as a fraction of the image side (1 = no crop). The crop
    /// is resized back to the training size, so it also zooms in; off by default,
    /// since on synthetic parts with 1–3 px wide defects that zoom cost about five
    /// points of validation Dice (docs/benchmarks.md).
    pub crop_min: f32,
}

impl Default for SegAugmentParams {
    fn default() -> Self {
        SegAugmentParams {
            fliplr: 0.5,
            flipud: 0.5,
            rot90: true,
            brightness: 0.15,
            contrast: 0.2,
            crop_min: 1.0,
        }
    }
}

impl SegAugmentParams {
    /// No augmentation: what validation uses.
    pub fn none() -> Self {
        SegAugmentParams {
            fliplr: 0.0,
            flipud: 0.0,
            rot90: false,
            brightness: 0.0,
            contrast: 0.0,
            crop_min: 1.0,
        }
    }

    pub fn validate(&self) -> Result<(), VisionError> {
        let bad = |m: String| Err(VisionError::InvalidArgument(m));
        for (name, v) in [("fliplr", self.fliplr), ("flipud", self.flipud)] {
            if !(0.0..=1.0).contains(&v) {
                return bad(format!("{name} {v} must be a probability within 0..=1"));
            }
        }
        if !(0.0..=1.0).contains(&self.brightness) || !(0.0..1.0).contains(&self.contrast) {
            return bad(format!(
                "brightness {} must be within 0..=1 and contrast {} within 0..1",
                self.brightness, self.contrast
            ));
        }
        if !(0.1..=1.0).contains(&self.crop_min) {
            return bad(format!("crop-min {} must be within 0.1..=1", self.crop_min));
        }
        Ok(())
    }
}

/// Nearest-neighbour resize of a mask (pixel centres sampled, as OpenCV's `INTER_NEAREST_EXACT`).
pub fn resize_mask_nearest(mask: &GrayFrame, width: u32, height: u32) -> GrayFrame {
    let (sw, sh) = (mask.width as usize, mask.height as usize);
    let (dw, dh) = (width as usize, height as usize);
    let xs: Vec<usize> = (0..dw)
        .map(|x| (((x as f64 + 0.5) * sw as f64 / dw as f64) as usize).min(sw.saturating_sub(1)))
        .collect();
    let mut out = GrayFrame::new(width, height);
    for y in 0..dh {
        let sy = (((y as f64 + 0.5) * sh as f64 / dh as f64) as usize).min(sh.saturating_sub(1));
        let src = &mask.data[sy * sw..(sy + 1) * sw];
        for (o, &sx) in out.data[y * dw..(y + 1) * dw].iter_mut().zip(&xs) {
            *o = src[sx];
        }
    }
    out
}

fn check_pair(frame: &Frame, mask: &GrayFrame) -> Result<(), VisionError> {
    if (frame.width(), frame.height()) != (mask.width, mask.height) {
        return Err(VisionError::InvalidArgument(format!(
            "mask is {}×{} but its image is {}×{}",
            mask.width,
            mask.height,
            frame.width(),
            frame.height()
        )));
    }
    if mask.data.len() != mask.width as usize * mask.height as usize {
        return Err(VisionError::InvalidArgument(
            "mask buffer does not match its size".into(),
        ));
    }
    Ok(())
}

/// Image and mask resized to `size × size` (stretched, no letterbox): what the
/// segmenter sees at validation and prediction.
pub fn resize_pair(frame: &Frame, mask: &GrayFrame, size: u32) -> Result<(Frame, GrayFrame), VisionError> {
    check_pair(frame, mask)?;
    Ok((
        resize_like_opencv(frame, size, size)?,
        resize_mask_nearest(mask, size, size),
    ))
}

fn crop_frame(frame: &Frame, x0: usize, y0: usize, w: usize, h: usize) -> Result<Frame, VisionError> {
    let fw = frame.width() as usize;
    let src = frame.as_rgb();
    let mut out = Vec::with_capacity(w * h * 3);
    for y in y0..y0 + h {
        out.extend_from_slice(&src[(y * fw + x0) * 3..(y * fw + x0 + w) * 3]);
    }
    Frame::from_rgb(w as u32, h as u32, out)
}

fn crop_mask(mask: &GrayFrame, x0: usize, y0: usize, w: usize, h: usize) -> GrayFrame {
    let mw = mask.width as usize;
    let mut out = GrayFrame::new(w as u32, h as u32);
    for (y, row) in out.data.chunks_exact_mut(w).enumerate() {
        let s = (y0 + y) * mw + x0;
        row.copy_from_slice(&mask.data[s..s + w]);
    }
    out
}

/// Transposes a square interleaved buffer of `c` bytes per pixel, optionally
/// mirroring: the building block of the 90° rotations.
fn rotate90<const C: usize>(data: &[u8], n: usize, times: usize) -> Vec<u8> {
    let mut cur = data.to_vec();
    for _ in 0..times % 4 {
        let mut next = vec![0u8; cur.len()];
        // clockwise: out(x, y) = in(y, n - 1 - x)
        for y in 0..n {
            for x in 0..n {
                let (sx, sy) = (y, n - 1 - x);
                let s = (sy * n + sx) * C;
                let d = (y * n + x) * C;
                next[d..d + C].copy_from_slice(&cur[s..s + C]);
            }
        }
        cur = next;
    }
    cur
}

fn flip_lr_buf<const C: usize>(data: &mut [u8], w: usize) {
    for row in data.chunks_exact_mut(w * C) {
        for x in 0..w / 2 {
            for c in 0..C {
                row.swap(x * C + c, (w - 1 - x) * C + c);
            }
        }
    }
}

fn flip_ud_buf(data: &mut [u8], row_len: usize) {
    let rows = data.len() / row_len;
    for y in 0..rows / 2 {
        let (top, bottom) = data.split_at_mut((rows - 1 - y) * row_len);
        top[y * row_len..(y + 1) * row_len].swap_with_slice(&mut bottom[..row_len]);
    }
}

/// One augmented training pair at `size × size`.
pub fn augment_pair(
    frame: &Frame,
    mask: &GrayFrame,
    size: u32,
    p: &SegAugmentParams,
    rng: &mut Rng,
) -> Result<(Frame, GrayFrame), VisionError> {
    check_pair(frame, mask)?;
    let (fw, fh) = (frame.width() as usize, frame.height() as usize);
    // 1. random crop
    let (cw, ch) = if p.crop_min < 1.0 {
        (
            ((fw as f32 * rng.range_f32(p.crop_min, 1.0)).round() as usize).clamp(1, fw),
            ((fh as f32 * rng.range_f32(p.crop_min, 1.0)).round() as usize).clamp(1, fh),
        )
    } else {
        (fw, fh)
    };
    let (x0, y0) = (rng.range_usize(0, fw - cw + 1), rng.range_usize(0, fh - ch + 1));
    let (img, msk) = if (cw, ch) == (fw, fh) {
        (frame.clone(), mask.clone())
    } else {
        (crop_frame(frame, x0, y0, cw, ch)?, crop_mask(mask, x0, y0, cw, ch))
    };
    // 2. resize to the training size
    let (img, msk) = resize_pair(&img, &msk, size)?;
    let n = size as usize;
    let mut rgb = img.as_rgb().to_vec();
    let mut m = msk.data;
    // 3. flips and rotation, same on both
    if rng.chance(p.fliplr) {
        flip_lr_buf::<3>(&mut rgb, n);
        flip_lr_buf::<1>(&mut m, n);
    }
    if rng.chance(p.flipud) {
        flip_ud_buf(&mut rgb, n * 3);
        flip_ud_buf(&mut m, n);
    }
    if p.rot90 {
        let k = rng.range_usize(0, 4);
        if k > 0 {
            rgb = rotate90::<3>(&rgb, n, k);
            m = rotate90::<1>(&m, n, k);
        }
    }
    // 4. brightness / contrast on the image only
    if p.brightness > 0.0 || p.contrast > 0.0 {
        let gain = 1.0 + rng.range_f32(-p.contrast, p.contrast);
        let shift = 255.0 * rng.range_f32(-p.brightness, p.brightness);
        let lut: [u8; 256] =
            std::array::from_fn(|v| ((v as f32 - 128.0) * gain + 128.0 + shift).round().clamp(0.0, 255.0) as u8);
        for v in rgb.iter_mut() {
            *v = lut[*v as usize];
        }
    }
    let out_mask = GrayFrame {
        width: size,
        height: size,
        data: m,
    };
    Ok((Frame::from_rgb(size, size, rgb)?, out_mask))
}

/// With probability `defect_p`, a defect pixel of `mask` (any non-zero value)
/// picked at random, as `(x, y)`; `None` otherwise or when the mask has none.
/// What windows "on a defect" of [`sample_patch`] and of native-scale tiles
/// (`crate::tiles::sample_window`) are placed around.
pub fn pick_defect_pixel(mask: &GrayFrame, defect_p: f32, rng: &mut Rng) -> Option<(usize, usize)> {
    if !rng.chance(defect_p) {
        return None;
    }
    let defects = mask.data.iter().filter(|&&v| v != 0).count();
    if defects == 0 {
        return None;
    }
    let k = rng.range_usize(0, defects);
    let w = mask.width as usize;
    mask.data
        .iter()
        .enumerate()
        .filter(|&(_, &v)| v != 0)
        .nth(k)
        .map(|(i, _)| (i % w, i / w))
}

/// A `patch × patch` window of an image and its mask (same size, at least
/// `patch` on each side). With probability `defect_p`, and when the mask has
/// defect pixels (any non-zero value: binary masks and label maps alike), the
/// window is centred on one of them picked at random (then shifted to stay
/// inside); otherwise it lies anywhere. Training on windows of a larger image
/// costs `(side / patch)²` less per sample, and centring windows on defects shows a
/// model the defects of a sparse dataset far more often.
pub fn sample_patch(
    frame: &Frame,
    mask: &GrayFrame,
    patch: u32,
    defect_p: f32,
    rng: &mut Rng,
) -> Result<(Frame, GrayFrame), VisionError> {
    check_pair(frame, mask)?;
    let (fw, fh, p) = (frame.width() as usize, frame.height() as usize, patch as usize);
    if p == 0 || p > fw || p > fh {
        return Err(VisionError::InvalidArgument(format!(
            "patch {patch} must be within 1..={} for a {fw}×{fh} image",
            fw.min(fh)
        )));
    }
    let (x0, y0) = match pick_defect_pixel(mask, defect_p, rng) {
        Some((cx, cy)) => (
            cx.saturating_sub(p / 2).min(fw - p),
            cy.saturating_sub(p / 2).min(fh - p),
        ),
        None => (rng.range_usize(0, fw - p + 1), rng.range_usize(0, fh - p + 1)),
    };
    Ok((crop_frame(frame, x0, y0, p, p)?, crop_mask(mask, x0, y0, p, p)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An image whose red channel is 255 exactly where the mask is set, on a
    /// pattern of blocks big enough that resizing keeps them.
    fn labelled_pair(w: u32, h: u32) -> (Frame, GrayFrame) {
        let mut mask = GrayFrame::new(w, h);
        let mut rgb = Vec::new();
        for y in 0..h {
            for x in 0..w {
                let on = ((x / 40) + (y / 48)) % 3 == 0 || (x > w / 2 && y < h / 3);
                mask.set(x, y, if on { 255 } else { 0 });
                rgb.extend_from_slice(&[if on { 255 } else { 0 }, (x % 256) as u8, (y % 256) as u8]);
            }
        }
        (Frame::from_rgb(w, h, rgb).unwrap(), mask)
    }

    #[test]
    fn mask_stays_aligned_with_image_through_every_augmentation() {
        let (frame, mask) = labelled_pair(200, 150);
        let p = SegAugmentParams {
            brightness: 0.0,
            contrast: 0.0,
            crop_min: 0.6,
            ..SegAugmentParams::default()
        };
        let mut rng = Rng::new(7);
        for _ in 0..40 {
            let (img, m) = augment_pair(&frame, &mask, 96, &p, &mut rng).unwrap();
            assert_eq!((img.width(), img.height(), m.width, m.height), (96, 96, 96, 96));
            // away from block edges (where bilinear blends), red ≥ 128 ⇔ mask set
            let mut agree = 0;
            for (px, &mv) in img.as_rgb().chunks_exact(3).zip(&m.data) {
                if (px[0] >= 128) == (mv == 255) {
                    agree += 1;
                }
            }
            let frac = agree as f64 / m.data.len() as f64;
            assert!(frac > 0.97, "only {frac:.3} of pixels agree");
        }
    }

    #[test]
    fn patches_stay_aligned_and_defect_patches_hold_a_defect() {
        let (frame, _) = labelled_pair(200, 150);
        // a single defect pixel far from the centre
        let mut mask = GrayFrame::new(200, 150);
        mask.set(190, 140, 7);
        let mut rng = Rng::new(5);
        for _ in 0..20 {
            let (img, m) = sample_patch(&frame, &mask, 64, 1.0, &mut rng).unwrap();
            assert_eq!((img.width(), img.height(), m.width, m.height), (64, 64, 64, 64));
            assert_eq!(
                m.data.iter().filter(|&&v| v == 7).count(),
                1,
                "the defect is in the window"
            );
            // centring on (190, 140) is shifted inside: the window starts at (136, 86)
            assert_eq!(m.data[54 * 64 + 54], 7);
            assert_eq!(
                &img.as_rgb()[..3],
                &frame.as_rgb()[(86 * 200 + 136) * 3..(86 * 200 + 136) * 3 + 3]
            );
        }
        // without the defect bias, windows land anywhere and stay aligned
        let (frame, mask) = labelled_pair(200, 150);
        let mut corners = std::collections::HashSet::new();
        for _ in 0..20 {
            let (img, m) = sample_patch(&frame, &mask, 48, 0.0, &mut rng).unwrap();
            for (px, &mv) in img.as_rgb().chunks_exact(3).zip(&m.data) {
                assert_eq!(px[0] == 255, mv == 255);
            }
            corners.insert(img.as_rgb()[..6].to_vec());
        }
        assert!(corners.len() > 10, "windows should vary");
        assert!(sample_patch(&frame, &mask, 151, 0.5, &mut rng).is_err());
        assert!(sample_patch(&frame, &mask, 0, 0.5, &mut rng).is_err());
    }

    #[test]
    fn rotations_and_flips_are_invertible() {
        let data: Vec<u8> = (0..5 * 5 * 3).map(|v| v as u8).collect();
        assert_eq!(rotate90::<3>(&data, 5, 4), data);
        assert_eq!(rotate90::<3>(&rotate90::<3>(&data, 5, 1), 5, 3), data);
        assert_ne!(rotate90::<3>(&data, 5, 1), data);
        let mut f = data.clone();
        flip_lr_buf::<3>(&mut f, 5);
        assert_ne!(f, data);
        flip_lr_buf::<3>(&mut f, 5);
        assert_eq!(f, data);
        flip_ud_buf(&mut f, 15);
        assert_eq!(&f[..15], &data[60..75]);
        flip_ud_buf(&mut f, 15);
        assert_eq!(f, data);
    }

    #[test]
    fn photometric_jitter_changes_the_image_but_never_the_mask() {
        let (frame, mask) = labelled_pair(64, 64);
        let p = SegAugmentParams {
            fliplr: 0.0,
            flipud: 0.0,
            rot90: false,
            crop_min: 1.0,
            brightness: 0.3,
            contrast: 0.3,
        };
        let (plain, plain_mask) = resize_pair(&frame, &mask, 64).unwrap();
        let mut rng = Rng::new(3);
        let (img, m) = augment_pair(&frame, &mask, 64, &p, &mut rng).unwrap();
        assert_eq!(m, plain_mask);
        assert_ne!(img.as_rgb(), plain.as_rgb());
    }

    #[test]
    fn mismatched_mask_and_bad_settings_are_refused() {
        let (frame, _) = labelled_pair(32, 32);
        let mut rng = Rng::new(1);
        assert!(
            augment_pair(
                &frame,
                &GrayFrame::new(31, 32),
                32,
                &SegAugmentParams::default(),
                &mut rng
            )
            .is_err()
        );
        let bad = SegAugmentParams {
            crop_min: 0.0,
            ..SegAugmentParams::default()
        };
        assert!(bad.validate().is_err());
        assert!(SegAugmentParams::default().validate().is_ok());
    }
}
