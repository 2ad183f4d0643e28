//! A segmenter exported to ONNX (`detective export` of a UNetTiny checkpoint)
//! served by ONNX Runtime: `[1, 3, S, S]` RGB in 0..1 in, `[1, C, S, S]` defect
//! probabilities out (C = 1, or one map per class of a `--classes` model, named by
//! the `names` metadata). Frames are resized (stretched) to `S × S` as in training
//! and the maps are resized back to the frame; where `--tile` says so (always for
//! a model trained on native-scale tiles, `tile` metadata; for a large image by
//! default, `native_side` metadata) it runs over windows stitched together.

use std::path::Path;
use std::sync::Mutex;

use detective_vision::Frame;
use detective_vision::preprocess::{Normalize, resize_like_opencv, to_chw};
use ort::session::Session;

use detective_vision::tiles::{ModelScale, TilePlan, TileSight};

use super::maps::{SegView, max_map, seg_view, split_maps, tiled_maps};
use crate::MlError;
use crate::runtime::onnx::{metadata_names, metadata_u32};

/// The segmenter's input for `frame`: stretched to `imgsz × imgsz`, RGB in 0..1,
/// planar `[3, S, S]`.
pub fn segmenter_input(frame: &Frame, imgsz: u32) -> Result<Vec<f32>, MlError> {
    let resized = resize_like_opencv(frame, imgsz, imgsz)?;
    Ok(to_chw(&resized, &Normalize::default()))
}

pub struct OnnxSegmenter {
    session: Mutex<Session>,
    input_name: String,
    /// Square input side of the graph.
    pub imgsz: u32,
    /// What each output map marks (`["defect"]` for one map without metadata).
    pub names: Vec<String>,
    /// The scale it was trained at (`tile` and `native_side` metadata) and when
    /// frames run tiled (`--tile`; default auto).
    pub sight: TileSight,
    /// The pixel threshold the model was saved with (`threshold` metadata; 0.5
    /// for a graph without it).
    pub threshold: f32,
}

fn model_err(path: &Path, reason: impl ToString) -> MlError {
    MlError::Model {
        path: path.display().to_string(),
        reason: reason.to_string(),
    }
}

impl OnnxSegmenter {
    pub fn load(path: &Path, threads: usize) -> Result<Self, MlError> {
        if !path.is_file() {
            return Err(model_err(path, "file not found"));
        }
        let session = crate::runtime::onnx::open_session(path, threads)?;
        let input = session
            .inputs()
            .first()
            .ok_or_else(|| model_err(path, "model has no input"))?;
        let input_name = input.name().to_string();
        let shape: Vec<i64> = input
            .dtype()
            .tensor_shape()
            .map(|s| s.to_vec())
            .ok_or_else(|| model_err(path, "input is not a tensor"))?;
        let imgsz = match shape.as_slice() {
            [_, 3, h, w] if *h > 0 && h == w => *h as u32,
            other => return Err(model_err(path, format!("input shape {other:?} is not [1, 3, S, S]"))),
        };
        let outputs = session
            .outputs()
            .first()
            .and_then(|o| o.dtype().tensor_shape().map(|s| s.to_vec()))
            .and_then(|s| s.get(1).copied())
            .filter(|&c| c > 0)
            .ok_or_else(|| model_err(path, "output is not [1, C, S, S]"))? as usize;
        let names = match metadata_names(&session) {
            Some(n) if n.len() == outputs => n,
            Some(n) => {
                return Err(model_err(
                    path,
                    format!("{} names in its metadata for {outputs} output maps", n.len()),
                ));
            }
            None if outputs == 1 => vec!["defect".to_string()],
            None => (0..outputs).map(|i| format!("class{i}")).collect(),
        };
        let custom = |key: &str| session.metadata().ok().and_then(|m| m.custom(key));
        let number = |key: &str| metadata_u32(&session, key);
        let scale = match number("tile").filter(|&t| t == imgsz) {
            Some(tile) => ModelScale::tiled(tile),
            None => ModelScale::resized(imgsz, number("native_side")),
        };
        let threshold = custom("threshold")
            .and_then(|t| t.trim().parse::<f32>().ok())
            .filter(|t| *t > 0.0 && *t < 1.0)
            .unwrap_or(0.5);
        Ok(OnnxSegmenter {
            session: Mutex::new(session),
            input_name,
            imgsz,
            names,
            sight: TileSight {
                scale,
                plan: TilePlan::default(),
            },
            threshold,
        })
    }

    /// Runs the graph on one `[1, 3, S, S]` input: output shape and values.
    pub fn infer(&self, input: Vec<f32>) -> Result<(Vec<i64>, Vec<f32>), MlError> {
        crate::runtime::onnx::run_image(&self.session, &self.input_name, self.imgsz, input)
    }

    /// Probability per pixel of each output map of `frame`, at the frame's own
    /// size.
    pub fn class_probabilities(&self, frame: &Frame) -> Result<Vec<Vec<f32>>, MlError> {
        match seg_view(&self.sight, frame.width(), frame.height()) {
            SegView::Tiles { tiling, input, stretch } => {
                tiled_maps(frame, tiling, input, stretch, 1, |x, _| Ok(self.infer(x)?.1))
            }
            SegView::Resize(_) => {
                let (_, probs) = self.infer(segmenter_input(frame, self.imgsz)?)?;
                self.maps_to_frame(&probs, frame)
            }
        }
    }

    /// Defect probability per pixel of `frame` (of any class), at the frame's
    /// own size.
    pub fn probabilities(&self, frame: &Frame) -> Result<Vec<f32>, MlError> {
        Ok(max_map(&self.class_probabilities(frame)?))
    }

    /// The graph's output `probs` (`C` maps of `S × S`) as `C` maps resized to
    /// `frame`.
    pub fn maps_to_frame(&self, probs: &[f32], frame: &Frame) -> Result<Vec<Vec<f32>>, MlError> {
        let s = self.imgsz as usize;
        if probs.len() != self.names.len() * s * s {
            return Err(MlError::Inference(format!(
                "output of {} values is not {} maps of {s}×{s}",
                probs.len(),
                self.names.len()
            )));
        }
        Ok(split_maps(probs, s, frame.width() as usize, frame.height() as usize))
    }
}
