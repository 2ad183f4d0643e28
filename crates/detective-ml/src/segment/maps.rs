//! The segmenter's probability maps: a model's `[C, S, S]` output split into one
//! map per output and resized back to the frame (or, tiled, the maps of
//! native-scale windows stitched together), and the pixel-wise maximum that says
//! "a defect of any class". Prediction, validation and the ONNX segmenter all read
//! maps through these, so every path scores the same pixels.

use burn::tensor::activation::sigmoid;
use burn::tensor::{Device, Tensor, TensorData};
use detective_vision::Frame;
use detective_vision::preprocess::{Normalize, resize_like_opencv, to_chw, to_chw_into};
use detective_vision::tiles::{Stitcher, Tiling, crop_padded};

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

/// How a segmenter sees a frame: squashed into its square input, or at native
/// scale as overlapping windows stitched together.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SegView {
    Resize(u32),
    Tiles(Tiling),
}

impl SegView {
    /// How a model with metadata `meta` sees frames: tiled when it was trained on
    /// native-scale tiles (a quarter overlap), else resized to `imgsz`.
    pub fn of(meta: &crate::checkpoint::SegMeta, imgsz: u32) -> SegView {
        match meta.tile {
            Some(tile) => SegView::Tiles(Tiling::with_default_overlap(tile)),
            None => SegView::Resize(imgsz),
        }
    }
}

/// The probability maps of every output of `model` on `frame` at the frame's
/// own resolution, seen as `view` says.
pub fn predict_maps(
    model: &UNetTiny,
    frame: &Frame,
    view: SegView,
    device: &Device,
) -> Result<Vec<Vec<f32>>, TrainError> {
    match view {
        SegView::Resize(imgsz) => predict_class_probs(model, frame, imgsz, device),
        SegView::Tiles(tiling) => predict_tiled_probs(model, frame, tiling, device),
    }
}

/// Windows run through the network at once on the tiled path.
const TILE_BATCH: usize = 8;

/// The probability maps of every output of `model` on `frame` at its native
/// scale: overlapping `tiling.tile` windows (padded by their edge where the
/// frame is smaller), run in batches and blended across the seams.
pub fn predict_tiled_probs(
    model: &UNetTiny,
    frame: &Frame,
    tiling: Tiling,
    device: &Device,
) -> Result<Vec<Vec<f32>>, TrainError> {
    let t = tiling.tile as usize;
    let maps = tiled_maps(frame, tiling, TILE_BATCH, |x, n| probabilities(model, x, n, t, device))?;
    Ok(maps)
}

/// The tiled path of any engine: the windows of `frame`, `batch` at a time as
/// planar `[n, 3, t, t]` inputs in 0..1 to `run`, whose `[n, C, t, t]`
/// probabilities are stitched into `C` maps of the frame.
pub fn tiled_maps(
    frame: &Frame,
    tiling: Tiling,
    batch: usize,
    mut run: impl FnMut(Vec<f32>, usize) -> Result<Vec<f32>, MlError>,
) -> Result<Vec<Vec<f32>>, MlError> {
    let (w, h, t) = (frame.width(), frame.height(), tiling.tile as usize);
    let mut stitchers: Vec<Stitcher> = Vec::new();
    for group in tiling.windows(w, h).chunks(batch.max(1)) {
        let mut x = Vec::with_capacity(group.len() * 3 * t * t);
        for &win in group {
            to_chw_into(&crop_padded(frame, win, tiling.tile)?, &Normalize::default(), &mut x);
        }
        let n = group.len();
        let probs = run(x, n)?;
        let outputs = probs.len() / (n * t * t);
        if outputs == 0 || probs.len() != n * outputs * t * t {
            return Err(MlError::Inference(format!(
                "the model gave {} values for {n} windows of {t}×{t}",
                probs.len()
            )));
        }
        if stitchers.is_empty() {
            stitchers = (0..outputs).map(|_| Stitcher::new(w, h)).collect();
        }
        for (k, &win) in group.iter().enumerate() {
            for (c, st) in stitchers.iter_mut().enumerate() {
                let at = (k * outputs + c) * t * t;
                st.add(win, tiling.tile, &probs[at..at + t * t]);
            }
        }
    }
    Ok(stitchers.into_iter().map(Stitcher::finish).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

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
