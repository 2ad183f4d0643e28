//! A segmenter exported to ONNX (`detective export` of a UNetTiny checkpoint)
//! served by ONNX Runtime: `[1, 3, S, S]` RGB in 0..1 in, `[1, C, S, S]` defect
//! probabilities out. Frames are resized (stretched) to `S × S` as in training and
//! the map is resized back to the frame.

use std::path::Path;
use std::sync::Mutex;

use detective_vision::Frame;
use detective_vision::preprocess::{Normalize, resize_like_opencv, to_chw};
use ort::session::Session;

use crate::MlError;
use crate::train::segment::resize_map;

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
        let session = crate::runtime::open_session(path, threads)?;
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
        Ok(OnnxSegmenter {
            session: Mutex::new(session),
            input_name,
            imgsz,
        })
    }

    /// Runs the graph on one `[1, 3, S, S]` input: output shape and values.
    pub fn infer(&self, input: Vec<f32>) -> Result<(Vec<i64>, Vec<f32>), MlError> {
        crate::runtime::run_image(&self.session, &self.input_name, self.imgsz, input)
    }

    /// Defect probability per pixel of `frame` (first output channel), at the
    /// frame's own size.
    pub fn probabilities(&self, frame: &Frame) -> Result<Vec<f32>, MlError> {
        let (_, probs) = self.infer(segmenter_input(frame, self.imgsz)?)?;
        self.map_to_frame(&probs, frame)
    }

    /// The first `S × S` map of the graph's output `probs`, resized to `frame`.
    pub fn map_to_frame(&self, probs: &[f32], frame: &Frame) -> Result<Vec<f32>, MlError> {
        let s = self.imgsz as usize;
        let plane = s * s;
        if probs.len() < plane {
            return Err(MlError::Inference(format!(
                "output of {} values is smaller than one {s}×{s} map",
                probs.len()
            )));
        }
        Ok(resize_map(
            &probs[..plane],
            s,
            s,
            frame.width() as usize,
            frame.height() as usize,
        ))
    }
}
