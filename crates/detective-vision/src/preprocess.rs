//! The preprocessing every model uses: SIMD resize, letterbox with the scale and
//! padding recorded so boxes map back exactly, channel order, normalisation to CHW
//! `f32`, and batching.
//!
//! Letterbox follows Ultralytics: scale to fit keeping aspect ratio, pad with grey
//! 114, padding split evenly between the sides (Ultralytics' rounding).

use detective_core::BBox;
use fast_image_resize::images::{Image, ImageRef};
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};

use crate::{Frame, VisionError};

/// Grey used for letterbox padding, as Ultralytics does.
pub const PAD_VALUE: u8 = 114;

/// Resizes with bilinear interpolation (the equivalent of OpenCV's `INTER_LINEAR`).
pub fn resize(frame: &Frame, width: u32, height: u32) -> Result<Frame, VisionError> {
    if width == 0 || height == 0 {
        return Err(VisionError::InvalidArgument(format!("resize target {width}×{height}")));
    }
    if (width, height) == (frame.width(), frame.height()) {
        return Frame::from_rgb(width, height, frame.as_rgb().to_vec());
    }
    let src = ImageRef::new(frame.width(), frame.height(), frame.as_rgb(), PixelType::U8x3)
        .map_err(|e| VisionError::InvalidArgument(e.to_string()))?;
    let mut dst = Image::new(width, height, PixelType::U8x3);
    let opts = ResizeOptions::new().resize_alg(ResizeAlg::Interpolation(FilterType::Bilinear));
    Resizer::new()
        .resize(&src, &mut dst, &opts)
        .map_err(|e| VisionError::InvalidArgument(e.to_string()))?;
    Frame::from_rgb(width, height, dst.into_vec())
}

/// Fixed-point taps of OpenCV's `INTER_LINEAR` along one axis:
/// `(first source index, second source index, weight of first, weight of second)`,
/// weights scaled by 2048. Positions are computed in `f32` as OpenCV does.
/// Horizontally (`clamp_weights`) OpenCV moves out-of-range taps onto the edge
/// pixel with weight 1; vertically it keeps the weights and clamps the row index.
fn linear_taps(src: usize, dst: usize, clamp_weights: bool) -> Vec<(usize, usize, i32, i32)> {
    let scale = src as f64 / dst as f64;
    let last = src as isize - 1;
    (0..dst)
        .map(|d| {
            let f = ((d as f64 + 0.5) * scale - 0.5) as f32;
            let mut s = f.floor() as isize;
            let mut frac = f - s as f32;
            if clamp_weights {
                if s < 0 {
                    s = 0;
                    frac = 0.0;
                }
                if s >= last {
                    s = last;
                    frac = 0.0;
                }
            }
            let a0 = ((1.0 - frac) * 2048.0).round() as i32;
            (
                s.clamp(0, last) as usize,
                (s + 1).clamp(0, last) as usize,
                a0,
                2048 - a0,
            )
        })
        .collect()
}

/// The rows of an OpenCV-exact bilinear resize whose vertical taps are `yt`, written
/// into `out` (`yt.len()` rows of `xt.len() * 3` bytes).
fn resize_rows(
    src: &[u8],
    sw: usize,
    xt: &[(usize, usize, i32, i32)],
    yt: &[(usize, usize, i32, i32)],
    out: &mut [u8],
) {
    let row_len = xt.len() * 3;
    // horizontal pass into i32 rows (value × 2048), computed once per source row and
    // kept in a two-row ring: consecutive output rows share their source rows
    let hrow = |y: usize, out: &mut [i32]| {
        let (row, _) = src[y * sw * 3..(y + 1) * sw * 3].as_chunks::<3>();
        let (out, _) = out.as_chunks_mut::<3>();
        for (o, &(sx, nx, a0, a1)) in out.iter_mut().zip(xt) {
            let (p, q) = (row[sx], row[nx]);
            *o = std::array::from_fn(|c| p[c] as i32 * a0 + q[c] as i32 * a1);
        }
    };
    let mut ring = [(usize::MAX, vec![0i32; row_len]), (usize::MAX, vec![0i32; row_len])];
    for (&(sy, ny, b0, b1), dst) in yt.iter().zip(out.chunks_exact_mut(row_len)) {
        for y in [sy, ny] {
            if ring[0].0 != y && ring[1].0 != y {
                // replace the slot not holding the other row this output needs
                let slot = if ring[0].0 == sy || ring[0].0 == ny { 1 } else { 0 };
                hrow(y, &mut ring[slot].1);
                ring[slot].0 = y;
            }
        }
        let r0 = if ring[0].0 == sy { &ring[0].1 } else { &ring[1].1 };
        let r1 = if ring[0].0 == ny { &ring[0].1 } else { &ring[1].1 };
        for ((o, &p0), &p1) in dst.iter_mut().zip(r0.iter()).zip(r1.iter()) {
            // OpenCV's VResizeLinearVec_32s8u rounding
            let v = (((b0 * (p0 >> 4)) >> 16) + ((b1 * (p1 >> 4)) >> 16) + 2) >> 2;
            *o = v.clamp(0, 255) as u8;
        }
    }
}

/// Bilinear resize bit-exact with OpenCV's `cv2.resize(..., INTER_LINEAR)` on 8-bit
/// images (11-bit fixed-point weights, its rounding). Ultralytics letterboxes with
/// that call, so models trained there see exactly these pixels; the SIMD
/// [`resize`] differs by ±1 level, which moves confidences by up to ~0.02.
pub fn resize_like_opencv(frame: &Frame, width: u32, height: u32) -> Result<Frame, VisionError> {
    if width == 0 || height == 0 {
        return Err(VisionError::InvalidArgument(format!("resize target {width}×{height}")));
    }
    let (sw, sh) = (frame.width() as usize, frame.height() as usize);
    let (dw, dh) = (width as usize, height as usize);
    let xt = linear_taps(sw, dw, true);
    let yt = linear_taps(sh, dh, false);
    let row_len = dw * 3;
    let mut out = vec![0u8; row_len * dh];
    // Large outputs are split into bands of rows resized on scoped threads (the
    // result does not depend on the split); small ones stay on this thread.
    let bands = if dw * dh >= 128 * 128 {
        std::thread::available_parallelism().map_or(1, |n| n.get()).clamp(1, 4)
    } else {
        1
    };
    let rows_per_band = dh.div_ceil(bands);
    let src = frame.as_rgb();
    std::thread::scope(|scope| {
        let mut parts = out.chunks_mut(rows_per_band * row_len).zip(yt.chunks(rows_per_band));
        let first = parts.next();
        for (dst, taps) in parts {
            let xt = &xt;
            scope.spawn(move || resize_rows(src, sw, xt, taps, dst));
        }
        if let Some((dst, taps)) = first {
            resize_rows(src, sw, &xt, taps, dst);
        }
    });
    Frame::from_rgb(width, height, out)
}

/// How a frame was letterboxed: enough to map boxes both ways exactly.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Letterbox {
    /// Size of the original frame.
    pub src_w: u32,
    pub src_h: u32,
    /// Size of the scaled content (before padding).
    pub content_w: u32,
    pub content_h: u32,
    /// Left and top padding in pixels.
    pub pad_left: u32,
    pub pad_top: u32,
    /// Size of the letterboxed output.
    pub out_w: u32,
    pub out_h: u32,
}

/// Output shape of a letterbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LetterboxShape {
    /// A square `size × size` (what exported models with a fixed input expect).
    Square(u32),
    /// The smallest rectangle with sides multiple of `stride` that holds the frame
    /// scaled so its long side is `size` (Ultralytics' `auto=True`, used in val).
    Minimal { size: u32, stride: u32 },
}

impl Letterbox {
    /// Plans the letterbox of a `src_w × src_h` frame. Sizes must be multiples of 32.
    pub fn plan(src_w: u32, src_h: u32, shape: LetterboxShape) -> Result<Self, VisionError> {
        if src_w == 0 || src_h == 0 {
            return Err(VisionError::ZeroSize);
        }
        let (size, stride) = match shape {
            LetterboxShape::Square(s) => (s, 32),
            LetterboxShape::Minimal { size, stride } => (size, stride),
        };
        if size == 0
            || stride == 0
            || !size.is_multiple_of(32)
            || (!stride.is_multiple_of(32) && !32u32.is_multiple_of(stride))
        {
            return Err(VisionError::InvalidArgument(format!(
                "letterbox size {size} must be a positive multiple of 32 (stride {stride})"
            )));
        }
        let r = (size as f64 / src_w as f64).min(size as f64 / src_h as f64);
        let content_w = ((src_w as f64 * r).round() as u32).clamp(1, size);
        let content_h = ((src_h as f64 * r).round() as u32).clamp(1, size);
        let (mut dw, mut dh) = ((size - content_w) as f64, (size - content_h) as f64);
        if let LetterboxShape::Minimal { stride, .. } = shape {
            dw %= stride as f64;
            dh %= stride as f64;
        }
        dw /= 2.0;
        dh /= 2.0;
        let pad_left = (dw - 0.1).round().max(0.0) as u32;
        let pad_right = (dw + 0.1).round().max(0.0) as u32;
        let pad_top = (dh - 0.1).round().max(0.0) as u32;
        let pad_bottom = (dh + 0.1).round().max(0.0) as u32;
        Ok(Letterbox {
            src_w,
            src_h,
            content_w,
            content_h,
            pad_left,
            pad_top,
            out_w: content_w + pad_left + pad_right,
            out_h: content_h + pad_top + pad_bottom,
        })
    }

    fn scale_x(&self) -> f32 {
        self.content_w as f32 / self.src_w as f32
    }

    fn scale_y(&self) -> f32 {
        self.content_h as f32 / self.src_h as f32
    }

    /// A box in original-image pixels mapped into the letterboxed image.
    pub fn to_letterboxed(&self, b: &BBox) -> BBox {
        let (sx, sy, px, py) = (
            self.scale_x(),
            self.scale_y(),
            self.pad_left as f32,
            self.pad_top as f32,
        );
        BBox {
            x1: b.x1 * sx + px,
            y1: b.y1 * sy + py,
            x2: b.x2 * sx + px,
            y2: b.y2 * sy + py,
        }
    }

    /// A box predicted on the letterboxed image mapped back to the original image,
    /// clipped to its bounds.
    pub fn to_original(&self, b: &BBox) -> BBox {
        self.to_original_unclipped(b)
            .clamp_to(self.src_w as f32, self.src_h as f32)
    }

    /// [`to_original`](Self::to_original) without the clipping: what Ultralytics'
    /// validation matches against ground truth.
    pub fn to_original_unclipped(&self, b: &BBox) -> BBox {
        let (sx, sy, px, py) = (
            self.scale_x(),
            self.scale_y(),
            self.pad_left as f32,
            self.pad_top as f32,
        );
        BBox {
            x1: (b.x1 - px) / sx,
            y1: (b.y1 - py) / sy,
            x2: (b.x2 - px) / sx,
            y2: (b.y2 - py) / sy,
        }
    }

    /// Applies the plan to a frame.
    pub fn apply(&self, frame: &Frame) -> Result<Frame, VisionError> {
        if (frame.width(), frame.height()) != (self.src_w, self.src_h) {
            return Err(VisionError::InvalidArgument(format!(
                "letterbox planned for {}×{} applied to {}×{}",
                self.src_w,
                self.src_h,
                frame.width(),
                frame.height()
            )));
        }
        let content = if (self.content_w, self.content_h) == (self.src_w, self.src_h) {
            Frame::from_rgb(self.src_w, self.src_h, frame.as_rgb().to_vec())?
        } else {
            resize_like_opencv(frame, self.content_w, self.content_h)?
        };
        let mut out = vec![PAD_VALUE; self.out_w as usize * self.out_h as usize * 3];
        let row = self.content_w as usize * 3;
        for y in 0..self.content_h as usize {
            let dst = ((y + self.pad_top as usize) * self.out_w as usize + self.pad_left as usize) * 3;
            out[dst..dst + row].copy_from_slice(&content.as_rgb()[y * row..(y + 1) * row]);
        }
        Frame::from_rgb(self.out_w, self.out_h, out)
    }
}

/// Plans and applies a letterbox in one call.
pub fn letterbox(frame: &Frame, shape: LetterboxShape) -> Result<(Frame, Letterbox), VisionError> {
    let plan = Letterbox::plan(frame.width(), frame.height(), shape)?;
    Ok((plan.apply(frame)?, plan))
}

/// Channel order a model expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ChannelOrder {
    #[default]
    Rgb,
    Bgr,
}

/// Per-channel normalisation: `(pixel / 255 - mean) / std`, channels in RGB order.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Normalize {
    pub mean: [f32; 3],
    pub std: [f32; 3],
    pub order: ChannelOrder,
}

impl Default for Normalize {
    /// YOLO convention: RGB, pixel / 255.
    fn default() -> Self {
        Normalize {
            mean: [0.0; 3],
            std: [1.0; 3],
            order: ChannelOrder::Rgb,
        }
    }
}

impl Normalize {
    /// ImageNet statistics (for backbones trained that way).
    pub fn imagenet() -> Self {
        Normalize {
            mean: [0.485, 0.456, 0.406],
            std: [0.229, 0.224, 0.225],
            order: ChannelOrder::Rgb,
        }
    }
}

/// The frame as planar `[3, H, W]` floats, normalised, appended to `out`.
pub fn to_chw_into(frame: &Frame, norm: &Normalize, out: &mut Vec<f32>) {
    let plane = frame.width() as usize * frame.height() as usize;
    let start = out.len();
    out.resize(start + plane * 3, 0.0);
    let dst = &mut out[start..];
    let src_channel = |c: usize| match norm.order {
        ChannelOrder::Rgb => c,
        ChannelOrder::Bgr => 2 - c,
    };
    for c in 0..3 {
        let sc = src_channel(c);
        let (scale, bias) = (1.0 / (255.0 * norm.std[sc]), -norm.mean[sc] / norm.std[sc]);
        let plane_out = &mut dst[c * plane..(c + 1) * plane];
        for (o, px) in plane_out.iter_mut().zip(frame.as_rgb().chunks_exact(3)) {
            *o = px[sc] as f32 * scale + bias;
        }
    }
}

/// The frame as planar `[3, H, W]` floats, normalised.
pub fn to_chw(frame: &Frame, norm: &Normalize) -> Vec<f32> {
    let mut out = Vec::new();
    to_chw_into(frame, norm, &mut out);
    out
}

/// Letterboxes `frame` as `plan` says and appends it to `out` as planar `[3, H, W]`
/// normalised floats: the same values as `to_chw_into(&plan.apply(frame)?, norm, out)`
/// in one pass over the pixels, without the padded intermediate frame (what the
/// per-frame inference path uses; at 640 it saves most of the preprocessing time).
pub fn letterbox_chw_into(
    plan: &Letterbox,
    frame: &Frame,
    norm: &Normalize,
    out: &mut Vec<f32>,
) -> Result<(), VisionError> {
    if (frame.width(), frame.height()) != (plan.src_w, plan.src_h) {
        return Err(VisionError::InvalidArgument(format!(
            "letterbox planned for {}×{} applied to {}×{}",
            plan.src_w,
            plan.src_h,
            frame.width(),
            frame.height()
        )));
    }
    let resized;
    let content: &[u8] = if (plan.content_w, plan.content_h) == (plan.src_w, plan.src_h) {
        frame.as_rgb()
    } else {
        resized = resize_like_opencv(frame, plan.content_w, plan.content_h)?;
        resized.as_rgb()
    };
    let (ow, cw, ch) = (plan.out_w as usize, plan.content_w as usize, plan.content_h as usize);
    let (left, top) = (plan.pad_left as usize, plan.pad_top as usize);
    let right = ow - cw - left;
    let bottom = plan.out_h as usize - ch - top;
    out.reserve(ow * plan.out_h as usize * 3);
    for c in 0..3 {
        let sc = match norm.order {
            ChannelOrder::Rgb => c,
            ChannelOrder::Bgr => 2 - c,
        };
        let (scale, bias) = (1.0 / (255.0 * norm.std[sc]), -norm.mean[sc] / norm.std[sc]);
        let lut: [f32; 256] = std::array::from_fn(|v| v as f32 * scale + bias);
        let pad = lut[PAD_VALUE as usize];
        out.extend(std::iter::repeat_n(pad, top * ow));
        for row in content.chunks_exact(cw * 3) {
            out.extend(std::iter::repeat_n(pad, left));
            out.extend(row.chunks_exact(3).map(|px| lut[px[sc] as usize]));
            out.extend(std::iter::repeat_n(pad, right));
        }
        out.extend(std::iter::repeat_n(pad, bottom * ow));
    }
    Ok(())
}

/// A batch of frames of one size as an `[N, 3, H, W]` tensor in row-major order.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    pub n: usize,
    pub height: usize,
    pub width: usize,
    pub data: Vec<f32>,
}

impl Batch {
    pub fn from_frames(frames: &[Frame], norm: &Normalize) -> Result<Self, VisionError> {
        let first = frames
            .first()
            .ok_or_else(|| VisionError::InvalidArgument("empty batch".into()))?;
        let (w, h) = (first.width(), first.height());
        let mut data = Vec::with_capacity(frames.len() * 3 * w as usize * h as usize);
        for (i, f) in frames.iter().enumerate() {
            if (f.width(), f.height()) != (w, h) {
                return Err(VisionError::InvalidArgument(format!(
                    "batch item {i} is {}×{}, expected {w}×{h}",
                    f.width(),
                    f.height()
                )));
            }
            to_chw_into(f, norm, &mut data);
        }
        Ok(Batch {
            n: frames.len(),
            height: h as usize,
            width: w as usize,
            data,
        })
    }

    pub fn shape(&self) -> [usize; 4] {
        [self.n, 3, self.height, self.width]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gradient(w: u32, h: u32) -> Frame {
        let mut data = Vec::new();
        for y in 0..h {
            for x in 0..w {
                data.extend_from_slice(&[(x * 255 / w) as u8, (y * 255 / h) as u8, 77]);
            }
        }
        Frame::from_rgb(w, h, data).unwrap()
    }

    #[test]
    fn boxes_map_through_letterbox_and_back_within_half_a_pixel() {
        let shapes = [
            (640, 480),
            (200, 200),
            (1280, 720),
            (333, 517),
            (103, 632),
            (1920, 1080),
        ];
        let boxes = [
            [0.0, 0.0, 10.0, 10.0],
            [12.3, 45.6, 78.9, 101.1],
            [50.5, 20.25, 99.75, 99.5],
        ];
        for &(w, h) in &shapes {
            for shape in [
                LetterboxShape::Square(320),
                LetterboxShape::Square(640),
                LetterboxShape::Minimal { size: 640, stride: 32 },
            ] {
                let lb = Letterbox::plan(w, h, shape).unwrap();
                assert_eq!(lb.out_w % 32, 0, "{w}x{h} {shape:?} → {lb:?}");
                assert_eq!(lb.out_h % 32, 0, "{w}x{h} {shape:?} → {lb:?}");
                for b in boxes {
                    let b = BBox::from(b).clamp_to(w as f32, h as f32);
                    let back = lb.to_original(&lb.to_letterboxed(&b));
                    for (p, q) in <[f32; 4]>::from(b).iter().zip(<[f32; 4]>::from(back).iter()) {
                        assert!((p - q).abs() < 0.5, "{w}x{h} {shape:?}: {b:?} -> {back:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn letterbox_pads_with_grey_and_centres_content() {
        let f = Frame::filled(200, 100, [255, 0, 0]).unwrap();
        let (out, lb) = letterbox(&f, LetterboxShape::Square(320)).unwrap();
        assert_eq!((out.width(), out.height()), (320, 320));
        assert_eq!((lb.content_w, lb.content_h, lb.pad_left, lb.pad_top), (320, 160, 0, 80));
        assert_eq!(out.pixel(160, 10), [PAD_VALUE; 3]);
        assert_eq!(out.pixel(160, 160), [255, 0, 0]);
        assert_eq!(out.pixel(160, 310), [PAD_VALUE; 3]);
    }

    #[test]
    fn minimal_letterbox_pads_only_to_the_next_stride() {
        let lb = Letterbox::plan(640, 480, LetterboxShape::Minimal { size: 640, stride: 32 }).unwrap();
        assert_eq!((lb.out_w, lb.out_h), (640, 480));
        let lb = Letterbox::plan(200, 150, LetterboxShape::Minimal { size: 320, stride: 32 }).unwrap();
        assert_eq!((lb.out_w, lb.out_h), (320, 256));
    }

    #[test]
    fn sizes_not_multiple_of_32_are_refused() {
        assert!(Letterbox::plan(100, 100, LetterboxShape::Square(300)).is_err());
        assert!(Letterbox::plan(0, 100, LetterboxShape::Square(320)).is_err());
    }

    #[test]
    fn resize_of_constant_image_stays_constant_and_gradient_stays_monotonic() {
        let f = Frame::filled(37, 23, [9, 99, 199]).unwrap();
        let r = resize(&f, 64, 48).unwrap();
        assert!(r.as_rgb().chunks_exact(3).all(|p| p == [9, 99, 199]));
        let g = resize(&gradient(100, 10), 50, 5).unwrap();
        let row: Vec<u8> = (0..50).map(|x| g.pixel(x, 2)[0]).collect();
        assert!(row.windows(2).all(|w| w[0] <= w[1]), "{row:?}");
    }

    #[test]
    fn chw_normalisation_is_planar_and_scaled() {
        let f = Frame::from_rgb(2, 1, vec![255, 0, 51, 0, 255, 102]).unwrap();
        let v = to_chw(&f, &Normalize::default());
        let close = |a: &[f32], b: &[f32]| a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-6);
        assert!(close(&v, &[1.0, 0.0, 0.0, 1.0, 0.2, 0.4]), "{v:?}");
        let bgr = to_chw(
            &f,
            &Normalize {
                order: ChannelOrder::Bgr,
                ..Normalize::default()
            },
        );
        assert!(close(&bgr, &[0.2, 0.4, 0.0, 1.0, 1.0, 0.0]), "{bgr:?}");
        let im = to_chw(&f, &Normalize::imagenet());
        assert!((im[0] - (1.0 - 0.485) / 0.229).abs() < 1e-5);
    }

    #[test]
    fn fused_letterbox_chw_equals_letterbox_then_chw() {
        for (w, h) in [(640, 480), (320, 320), (200, 100), (333, 517), (1280, 720), (31, 7)] {
            let f = gradient(w, h);
            for shape in [
                LetterboxShape::Square(320),
                LetterboxShape::Square(640),
                LetterboxShape::Minimal { size: 320, stride: 32 },
            ] {
                for norm in [
                    Normalize::default(),
                    Normalize::imagenet(),
                    Normalize {
                        order: ChannelOrder::Bgr,
                        ..Normalize::default()
                    },
                ] {
                    let lb = Letterbox::plan(w, h, shape).unwrap();
                    let expected = to_chw(&lb.apply(&f).unwrap(), &norm);
                    let mut got = vec![7.0];
                    letterbox_chw_into(&lb, &f, &norm, &mut got).unwrap();
                    assert_eq!(got[0], 7.0, "appends after what is there");
                    assert_eq!(&got[1..], &expected[..], "{w}x{h} {shape:?} {norm:?}");
                }
            }
        }
        let lb = Letterbox::plan(10, 10, LetterboxShape::Square(32)).unwrap();
        assert!(letterbox_chw_into(&lb, &gradient(11, 10), &Normalize::default(), &mut Vec::new()).is_err());
    }

    #[test]
    fn batch_stacks_frames_and_refuses_mixed_sizes() {
        let a = Frame::filled(4, 2, [255, 255, 255]).unwrap();
        let b = Frame::filled(4, 2, [0, 0, 0]).unwrap();
        let batch = Batch::from_frames(&[a.clone(), b], &Normalize::default()).unwrap();
        assert_eq!(batch.shape(), [2, 3, 2, 4]);
        assert!(batch.data[..24].iter().all(|&v| v == 1.0));
        assert!(batch.data[24..].iter().all(|&v| v == 0.0));
        assert!(Batch::from_frames(&[a, Frame::filled(2, 2, [0; 3]).unwrap()], &Normalize::default()).is_err());
        assert!(Batch::from_frames(&[], &Normalize::default()).is_err());
    }
}
