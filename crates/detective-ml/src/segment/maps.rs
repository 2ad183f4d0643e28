//! The segmenter's probability maps: a model's `[C, S, S]` output split into one
//! map per output and resized back to the frame (or, tiled, the maps of
//! native-scale windows stitched together), and the pixel-wise maximum that says
//! "a defect of any class". Prediction, validation and the ONNX segmenter all read
//! maps through these, so every path scores the same pixels.

use burn::tensor::activation::sigmoid;
use burn::tensor::{Device, Tensor, TensorData};
use detective_vision::Frame;
use detective_vision::preprocess::{Normalize, resize_like_opencv, to_chw, to_chw_into};
use detective_vision::tiles::{ModelScale, Stitcher, TilePlan, TileSight, Tiling, crop, crop_padded};

use super::model::UNetTiny;
use crate::MlError;
use crate::train::error::TrainError;

/// Bilinear resize of a probability map (half-pixel centres, edges clamped).
pub fn resize_map(map: &[f32], w: usize, h: usize, dw: usize, dh: usize) -> Vec<f32> {
    if (w, h) == (dw, dh) {
        return map.to_vec();
    }
    let taps = |src: usize, dst: usize| -> Vec<(usize, usize, f32)> {
        (0..dst)
            .map(|d| {
                let f = ((d as f32 + 0.5) * src as f32 / dst as f32 - 0.5).max(0.0);
                let i0 = (f as usize).min(src - 1);
                let i1 = (i0 + 1).min(src - 1);
                (i0, i1, f - i0 as f32)
            })
            .collect()
    };
    let (xt, yt) = (taps(w, dw), taps(h, dh));
    let mut out = Vec::with_capacity(dw * dh);
    for &(y0, y1, fy) in &yt {
        let (r0, r1) = (&map[y0 * w..(y0 + 1) * w], &map[y1 * w..(y1 + 1) * w]);
        for &(x0, x1, fx) in &xt {
            let top = r0[x0] + (r0[x1] - r0[x0]) * fx;
            let bottom = r1[x0] + (r1[x1] - r1[x0]) * fx;
            out.push(top + (bottom - top) * fy);
        }
    }
    out
}

/// Probability maps of each output (the defect map, or one per class) of a model's
/// `[C, S, S]` output, each resized to `w × h`.
pub fn split_maps(probs: &[f32], s: usize, w: usize, h: usize) -> Vec<Vec<f32>> {
    probs.chunks_exact(s * s).map(|m| resize_map(m, s, s, w, h)).collect()
}

/// The pixel-wise maximum of the maps: the probability that a pixel is a defect
/// of any class.
pub fn max_map(maps: &[Vec<f32>]) -> Vec<f32> {
    let mut out = maps.first().cloned().unwrap_or_default();
    for m in maps.iter().skip(1) {
        for (o, &v) in out.iter_mut().zip(m) {
            *o = o.max(v);
        }
    }
    out
}

/// The probability maps of every output (one, or one per class) of `model` on
/// `frame`, at the frame's own resolution: the frame is resized to
/// `imgsz × imgsz`, run, and each map resized back.
pub fn predict_class_probs(
    model: &UNetTiny,
    frame: &Frame,
    imgsz: u32,
    device: &Device,
) -> Result<Vec<Vec<f32>>, TrainError> {
    let s = imgsz as usize;
    let resized = resize_like_opencv(frame, imgsz, imgsz).map_err(|e| TrainError::Io(e.to_string()))?;
    let probs = probabilities(model, to_chw(&resized, &Normalize::default()), 1, s, device)?;
    Ok(split_maps(&probs, s, frame.width() as usize, frame.height() as usize))
}

/// The sigmoid of `model` on `n` planar `[3, s, s]` inputs in `x`: `[n, C, s, s]`.
fn probabilities(model: &UNetTiny, x: Vec<f32>, n: usize, s: usize, device: &Device) -> Result<Vec<f32>, MlError> {
    let input = Tensor::<1>::from_data(TensorData::new(x, [n * 3 * s * s]), device).reshape([n, 3, s, s]);
    sigmoid(model.forward(input))
        .into_data()
        .try_into_vec::<f32>()
        .map_err(|e| MlError::Inference(format!("{e:?}")))
}

/// How a segmenter sees one frame: squashed into its square input, or at native
/// scale as overlapping windows (each resized to the input where the two differ)
/// stitched together.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SegView {
    Resize(u32),
    /// Windows of `tiling`, each fed at `input`: padded to the tile by repeating
    /// the edge where the frame is smaller (a model trained on tiles, whose scale
    /// must not change), or with `stretch` cut to the frame and stretched into the
    /// input as a whole resized image is (a model trained on whole images).
    Tiles {
        tiling: Tiling,
        input: u32,
        stretch: bool,
    },
}

/// How a segmenter with metadata `meta`, run at `imgsz` (whole images), meets
/// frames under the `--tile` plan.
pub fn seg_sight(meta: &crate::checkpoint::SegMeta, imgsz: u32, plan: TilePlan) -> TileSight {
    let scale = match meta.tile {
        Some(tile) => ModelScale::tiled(tile),
        None => ModelScale::resized(imgsz, meta.native_side),
    };
    TileSight { scale, plan }
}

/// How a `w × h` frame is seen.
pub fn seg_view(sight: &TileSight, w: u32, h: u32) -> SegView {
    match sight.tiling(w, h) {
        Some(tiling) => SegView::Tiles {
            tiling,
            input: sight.scale.input,
            stretch: !sight.scale.tiles,
        },
        None => SegView::Resize(sight.scale.input),
    }
}

/// The probability maps of every output of `model` on `frame` at the frame's
/// own resolution, seen as `sight` says for its size.
pub fn predict_maps(
    model: &UNetTiny,
    frame: &Frame,
    sight: &TileSight,
    device: &Device,
) -> Result<Vec<Vec<f32>>, TrainError> {
    match seg_view(sight, frame.width(), frame.height()) {
        SegView::Resize(imgsz) => predict_class_probs(model, frame, imgsz, device),
        SegView::Tiles { tiling, input, stretch } => {
            let s = input as usize;
            Ok(tiled_maps(frame, tiling, input, stretch, TILE_BATCH, |x, n| {
                probabilities(model, x, n, s, device)
            })?)
        }
    }
}

/// Windows run through the network at once on the tiled path.
const TILE_BATCH: usize = 8;

/// The tiled path of any engine: the overlapping `tiling.tile` windows of `frame`
/// (padded by their edge where the frame is smaller, or with `stretch` cut to the
/// frame), each resized to `input` where the two differ, `batch` at a time as
/// planar `[n, 3, input, input]` inputs in 0..1 to `run`, whose
/// `[n, C, input, input]` probabilities are resized back to the window and
/// blended across the seams into `C` maps of the frame.
pub fn tiled_maps(
    frame: &Frame,
    tiling: Tiling,
    input: u32,
    stretch: bool,
    batch: usize,
    mut run: impl FnMut(Vec<f32>, usize) -> Result<Vec<f32>, MlError>,
) -> Result<Vec<Vec<f32>>, MlError> {
    let (w, h) = (frame.width(), frame.height());
    let (t, s) = (tiling.tile as usize, input as usize);
    let mut stitchers: Vec<Stitcher> = Vec::new();
    for group in tiling.windows(w, h).chunks(batch.max(1)) {
        let mut x = Vec::with_capacity(group.len() * 3 * s * s);
        for &win in group {
            let crop = if stretch {
                crop(frame, win)?
            } else {
                crop_padded(frame, win, tiling.tile)?
            };
            let crop = if (crop.width(), crop.height()) == (input, input) {
                crop
            } else {
                resize_like_opencv(&crop, input, input)?
            };
            to_chw_into(&crop, &Normalize::default(), &mut x);
        }
        let n = group.len();
        let probs = run(x, n)?;
        let outputs = probs.len() / (n * s * s);
        if outputs == 0 || probs.len() != n * outputs * s * s {
            return Err(MlError::Inference(format!(
                "the model gave {} values for {n} windows of {s}×{s}",
                probs.len()
            )));
        }
        if stitchers.is_empty() {
            stitchers = (0..outputs).map(|_| Stitcher::new(w, h)).collect();
        }
        for (k, &win) in group.iter().enumerate() {
            // the window's own pixels: its size when stretched, else the padded tile
            let (mw, mh) = if stretch {
                (win.w as usize, win.h as usize)
            } else {
                (t, t)
            };
            for (c, st) in stitchers.iter_mut().enumerate() {
                let at = (k * outputs + c) * s * s;
                let map = resize_map(&probs[at..at + s * s], s, s, mw, mh);
                st.add(win, mw as u32, &map);
            }
        }
    }
    Ok(stitchers.into_iter().map(Stitcher::finish).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiles_fed_at_another_input_side_are_resized_there_and_back_before_stitching() {
        // the left 100 columns dark, the rest bright
        let (w, h) = (200u32, 120u32);
        let rgb: Vec<u8> = (0..w * h)
            .flat_map(|i| if i % w < 100 { [0u8; 3] } else { [255u8; 3] })
            .collect();
        let frame = Frame::from_rgb(w, h, rgb).unwrap();
        let tiling = Tiling::new(64, 0.25).unwrap();
        let mut calls = 0;
        // a "model" whose map is its input's red channel, at the 32-px input side
        let maps = tiled_maps(&frame, tiling, 32, false, 3, |x, n| {
            calls += 1;
            assert_eq!(x.len(), n * 3 * 32 * 32);
            Ok((0..n)
                .flat_map(|k| x[k * 3 * 1024..k * 3 * 1024 + 1024].to_vec())
                .collect())
        })
        .unwrap();
        assert_eq!(maps.len(), 1);
        assert_eq!(maps[0].len(), (w * h) as usize);
        assert_eq!(calls, tiling.windows(w, h).len().div_ceil(3));
        for y in [0, 60, 119] {
            for (x, want) in [(0, 0.0), (90, 0.0), (110, 1.0), (199, 1.0)] {
                let v = maps[0][(y * w + x) as usize];
                assert!((v - want).abs() < 0.05, "({x}, {y}): {v}");
            }
        }
    }

    #[test]
    fn map_resize_keeps_constants_and_interpolates_between_pixels() {
        let m = resize_map(&[0.25; 6], 3, 2, 7, 5);
        assert_eq!(m.len(), 35);
        assert!(m.iter().all(|&v| (v - 0.25).abs() < 1e-6));
        // 2×1 → 4×1: centres at 0.25, 0.75 of the first pixel …
        let m = resize_map(&[0.0, 1.0], 2, 1, 4, 1);
        assert_eq!(m, vec![0.0, 0.25, 0.75, 1.0]);
    }
}
