//! Ultralytics' `RandomHSV`: random hue shift and saturation/value gains applied as
//! 256-entry LUTs on OpenCV's 8-bit HSV representation (H in 0..180, S and V in
//! 0..=255), then converted back — including the quantisation of that round trip.
//!
//! [`rgb_to_hsv`] and [`hsv_to_rgb`] reproduce OpenCV's `COLOR_RGB2HSV` (integer
//! arithmetic with its 12-bit division tables) and `COLOR_HSV2RGB` (its vectorised
//! single-precision kernel) on `u8` bit for bit; the LUTs follow Ultralytics ≥ 8.3.79
//! (additive hue shift, saturation 0 kept at 0).

use std::sync::LazyLock;

use detective_core::Rng;

use super::params::uniform;
use crate::Frame;

const HSV_SHIFT: i32 = 12;

/// OpenCV's `sdiv_table` and `hdiv_table180`: `round(255·2¹² / i)` and `round(180·2¹² / (6 i))`.
static DIV_TABLES: LazyLock<([i32; 256], [i32; 256])> = LazyLock::new(|| {
    let mut sdiv = [0i32; 256];
    let mut hdiv = [0i32; 256];
    for i in 1..256 {
        sdiv[i] = ((255 << HSV_SHIFT) as f64 / i as f64).round_ties_even() as i32;
        hdiv[i] = ((180 << HSV_SHIFT) as f64 / (6.0 * i as f64)).round_ties_even() as i32;
    }
    (sdiv, hdiv)
});

/// One pixel RGB → HSV as `cv2.cvtColor(..., COLOR_RGB2HSV)` on 8-bit data.
pub fn rgb_to_hsv(rgb: [u8; 3]) -> [u8; 3] {
    rgb_to_hsv_with(rgb, &DIV_TABLES)
}

#[inline]
fn rgb_to_hsv_with(rgb: [u8; 3], tables: &([i32; 256], [i32; 256])) -> [u8; 3] {
    let (sdiv, hdiv) = tables;
    let (r, g, b) = (rgb[0] as i32, rgb[1] as i32, rgb[2] as i32);
    let v = r.max(g).max(b);
    let diff = v - r.min(g).min(b);
    let s = (diff * sdiv[v as usize] + (1 << (HSV_SHIFT - 1))) >> HSV_SHIFT;
    let h = if v == r {
        g - b
    } else if v == g {
        b - r + 2 * diff
    } else {
        r - g + 4 * diff
    };
    let mut h = (h * hdiv[diff as usize] + (1 << (HSV_SHIFT - 1))) >> HSV_SHIFT;
    if h < 0 {
        h += 180;
    }
    [h.clamp(0, 255) as u8, s as u8, v as u8]
}

/// One pixel HSV (H in 0..180) → RGB as `cv2.cvtColor(..., COLOR_HSV2RGB)` computes
/// it on 8-bit rows whose width is a multiple of 32 (so any `imgsz` Ultralytics
/// accepts): its vectorised kernel, single-precision arithmetic with the result
/// *truncated* to an integer, and — as the x86-64 AVX2 build of `opencv-python`
/// compiles it — `1 - s·h` and `1 - s·(1 - h)` fused into one rounding (FMA). Checked
/// equal to OpenCV 4.10/4.14/5.0 on all 2²⁴ inputs. (Pixels past the last multiple of
/// 16 or 32 in a row go through OpenCV's scalar tail, which rounds instead.)
pub fn hsv_to_rgb(hsv: [u8; 3]) -> [u8; 3] {
    hsv_to_rgb_with(hsv, &FACTORS)
}

/// For every `(H, S)` byte pair, the factors OpenCV's kernel multiplies `V / 255` by
/// to get R, G and B: one of `1`, `1 - s`, `1 - s·h`, `1 - s·(1 - h)` each, chosen by
/// the hue sector and computed exactly as the kernel does. Indexed by `H · 256 + S`.
static FACTORS: LazyLock<Vec<[f32; 3]>> = LazyLock::new(|| {
    let hscale = 6.0f32 / 180.0;
    // (b, g, r) taken from the table per sector, as OpenCV's sector_data
    const SECTORS: [[usize; 3]; 6] = [[1, 3, 0], [1, 0, 2], [3, 0, 1], [0, 2, 1], [0, 1, 3], [2, 1, 0]];
    let mut out = Vec::with_capacity(256 * 256);
    for hb in 0..256 {
        for sb in 0..256 {
            let h = hb as f32 * hscale;
            let s = sb as f32 * (1.0f32 / 255.0);
            let pre_sector = h.trunc();
            let h = h - pre_sector;
            let tab = [1.0, 1.0 - s, (-s).mul_add(h, 1.0), (-s).mul_add(1.0 - h, 1.0)];
            let sector = pre_sector - (pre_sector * (1.0f32 / 6.0)).trunc() * 6.0;
            let [bi, gi, ri] = SECTORS[(sector as usize).min(5)];
            out.push([tab[ri], tab[gi], tab[bi]]);
        }
    }
    out
});

#[inline]
fn hsv_to_rgb_with(hsv: [u8; 3], factors: &[[f32; 3]]) -> [u8; 3] {
    let f = factors[(hsv[0] as usize) << 8 | hsv[1] as usize];
    let v = hsv[2] as f32 * (1.0f32 / 255.0);
    // v · 1 is v exactly, so the factor table gives the kernel's products bit for bit
    let to_u8 = |k: f32| (v * k * 255.0) as u8;
    [to_u8(f[0]), to_u8(f[1]), to_u8(f[2])]
}

/// The three LUTs of one `RandomHSV` draw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HsvLuts {
    pub hue: [u8; 256],
    pub sat: [u8; 256],
    pub val: [u8; 256],
}

impl HsvLuts {
    /// LUTs for a hue shift of `dh` (fraction of the circle, so `dh · 180` hue units)
    /// and gains `1 + ds`, `1 + dv`, computed as Ultralytics does in `f64` with
    /// Python's modulo and NumPy's truncating cast; saturation 0 stays 0.
    pub fn new(dh: f64, ds: f64, dv: f64) -> Self {
        let mut lut = HsvLuts {
            hue: [0; 256],
            sat: [0; 256],
            val: [0; 256],
        };
        for i in 0..256 {
            let x = i as f64;
            let a = x + dh * 180.0;
            let mut hm = a % 180.0;
            if hm < 0.0 {
                hm += 180.0;
            }
            lut.hue[i] = hm as u8;
            lut.sat[i] = (x * (ds + 1.0)).clamp(0.0, 255.0) as u8;
            lut.val[i] = (x * (dv + 1.0)).clamp(0.0, 255.0) as u8;
        }
        lut.sat[0] = 0;
        lut
    }

    /// The LUTs that change nothing but the HSV round trip.
    pub fn identity() -> Self {
        HsvLuts::new(0.0, 0.0, 0.0)
    }
}

/// RGB → HSV, LUTs, HSV → RGB on every pixel (OpenCV's conversions, see module doc).
pub fn apply_hsv_luts(frame: &mut Frame, luts: &HsvLuts) {
    let tables = &*DIV_TABLES;
    let factors = FACTORS.as_slice();
    for px in frame.as_rgb_mut().chunks_exact_mut(3) {
        let (r, g, b) = (px[0], px[1], px[2]);
        if r == g && g == b {
            // a grey is (0, 0, v) in HSV; saturation 0 stays 0 and comes back as the
            // grey V' exactly, whatever the hue
            let v = luts.val[r as usize];
            px.copy_from_slice(&[v, v, v]);
            continue;
        }
        let [h, s, v] = rgb_to_hsv_with([r, g, b], tables);
        let rgb = hsv_to_rgb_with(
            [luts.hue[h as usize], luts.sat[s as usize], luts.val[v as usize]],
            factors,
        );
        px.copy_from_slice(&rgb);
    }
}

/// Ultralytics' `RandomHSV(hgain, sgain, vgain)`: draws `r = U(-1, 1)³ · gains` and
/// applies [`HsvLuts::new`]`(r₀, r₁, r₂)`. Does nothing (and draws nothing) when all
/// gains are 0.
pub fn random_hsv(frame: &mut Frame, h: f32, s: f32, v: f32, rng: &mut Rng) {
    if h == 0.0 && s == 0.0 && v == 0.0 {
        return;
    }
    let dh = uniform(rng, -1.0, 1.0) * h as f64;
    let ds = uniform(rng, -1.0, 1.0) * s as f64;
    let dv = uniform(rng, -1.0, 1.0) * v as f64;
    apply_hsv_luts(frame, &HsvLuts::new(dh, ds, dv));
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `cv2.cvtColor` results on a 64-pixel row (OpenCV 4.14 and 5.0, AVX2 kernels):
    /// (RGB, RGB2HSV of it, HSV2RGB of the same three bytes read as HSV).
    const OPENCV: [([u8; 3], [u8; 3], [u8; 3]); 10] = [
        ([0, 0, 0], [0, 0, 0], [0, 0, 0]),
        ([255, 255, 255], [0, 0, 255], [0, 255, 127]),
        ([255, 0, 0], [0, 255, 255], [0, 0, 0]),
        ([12, 200, 77], [70, 240, 200], [77, 40, 16]),
        ([250, 10, 130], [165, 245, 250], [124, 130, 126]),
        ([90, 91, 92], [105, 6, 92], [59, 91, 92]),
        ([200, 180, 10], [27, 242, 200], [10, 7, 2]),
        ([33, 66, 250], [115, 221, 250], [243, 250, 185]),
        ([179, 255, 255], [90, 76, 255], [255, 0, 8]),
        ([0, 1, 1], [90, 255, 1], [1, 0, 0]),
    ];

    #[test]
    fn conversions_match_opencv() {
        for (rgb, hsv, back) in OPENCV {
            assert_eq!(rgb_to_hsv(rgb), hsv, "RGB2HSV {rgb:?}");
            assert_eq!(hsv_to_rgb(rgb), back, "HSV2RGB {rgb:?}");
        }
    }

    #[test]
    fn unit_gains_are_the_identity_up_to_opencv_quantisation() {
        // greys are exact; colours move by at most the 8-bit HSV round-trip error
        // (6 levels in OpenCV too)
        for v in 0..=255u8 {
            assert_eq!(hsv_to_rgb(rgb_to_hsv([v, v, v])), [v, v, v]);
        }
        let mut worst = 0;
        for r in (0..256).step_by(5) {
            for g in (0..256).step_by(3) {
                for b in (0..256).step_by(7) {
                    let (r, g, b) = (r as u8, g as u8, b as u8);
                    let back = hsv_to_rgb(rgb_to_hsv([r, g, b]));
                    let d = [r, g, b]
                        .iter()
                        .zip(back)
                        .map(|(x, y)| (*x as i32 - y as i32).abs())
                        .max()
                        .unwrap_or(0);
                    worst = worst.max(d);
                }
            }
        }
        assert!(worst <= 6, "round trip moved a colour by {worst}");
        let mut f = Frame::from_rgb(3, 1, vec![0, 0, 0, 128, 128, 128, 255, 255, 255]).unwrap();
        let before = f.clone();
        apply_hsv_luts(&mut f, &HsvLuts::identity());
        assert_eq!(f, before);
        let id = HsvLuts::identity();
        assert!((0..180).all(|i| id.hue[i] == i as u8));
        assert!((0..256).all(|i| id.sat[i] == i as u8 && id.val[i] == i as u8));
        // zero gains draw nothing and change nothing
        let mut g = Frame::filled(4, 4, [200, 30, 60]).unwrap();
        let mut rng = Rng::new(1);
        random_hsv(&mut g, 0.0, 0.0, 0.0, &mut rng);
        assert_eq!(g, Frame::filled(4, 4, [200, 30, 60]).unwrap());
        assert_eq!(rng.next_u64(), Rng::new(1).next_u64());
    }

    #[test]
    fn grey_shortcut_equals_the_full_conversion() {
        for luts in [
            HsvLuts::new(0.013, -0.6, 0.35),
            HsvLuts::new(-0.015, 0.7, -0.4),
            HsvLuts::identity(),
        ] {
            for v in 0..=255u8 {
                let [h, s, vv] = rgb_to_hsv([v, v, v]);
                let full = hsv_to_rgb([luts.hue[h as usize], luts.sat[s as usize], luts.val[vv as usize]]);
                let mut f = Frame::filled(1, 1, [v, v, v]).unwrap();
                apply_hsv_luts(&mut f, &luts);
                assert_eq!(f.as_rgb(), &full[..], "grey {v}");
            }
        }
    }

    #[test]
    fn luts_follow_ultralytics() {
        // hue shifts wrap around 180 in both directions, values saturate at 255
        let l = HsvLuts::new(0.01, 0.5, -0.25);
        assert_eq!(l.hue[0], 1); // 0 + 1.8 → 1
        assert_eq!(l.hue[179], 0); // 180.8 % 180 → 0
        let l = HsvLuts::new(-0.01, 0.0, 0.0);
        assert_eq!(l.hue[0], 178); // -1.8 % 180 = 178.2 → 178
        assert_eq!(l.hue[5], 3);
        let l = HsvLuts::new(0.0, 0.5, -0.25);
        assert_eq!((l.sat[0], l.sat[1], l.sat[100], l.sat[200]), (0, 1, 150, 255));
        assert_eq!((l.val[0], l.val[3], l.val[255]), (0, 2, 191));
    }

    #[test]
    fn brightness_gain_darkens_and_same_seed_same_result() {
        let mut f = Frame::filled(2, 2, [100, 150, 200]).unwrap();
        apply_hsv_luts(&mut f, &HsvLuts::new(0.0, 0.0, -0.5));
        let p = f.pixel(0, 0);
        assert!(p[2] <= 101 && p[0] < 60, "{p:?}");
        let base = Frame::from_rgb(2, 1, vec![10, 200, 30, 250, 120, 0]).unwrap();
        let run = |seed| {
            let mut f = base.clone();
            random_hsv(&mut f, 0.015, 0.7, 0.4, &mut Rng::new(seed));
            f
        };
        assert_eq!(run(3), run(3));
        assert_ne!(run(3), run(4));
    }
}
