//! A YOLO detector in ONNX format served by ONNX Runtime: Ultralytics exports and
//! our own exports alike (`[1, 3, H, W]` in, `[1, 4 + nc, N]` out).
//!
//! Pre-processing is Ultralytics' for exported models: square letterbox to the
//! model's input size with grey 114 padding, RGB, pixel / 255. Class names come from
//! the `names` metadata Ultralytics writes, or from the caller.

use std::path::Path;
use std::sync::Mutex;

use detective_vision::Frame;
use ort::session::Session;

use super::engine::{Engine, PredictOptions, Prediction, predict_frame};
use crate::MlError;
use crate::runtime::onnx::metadata_names;

pub struct OnnxDetector {
    session: Mutex<Session>,
    input_name: String,
    /// Square input size the model expects.
    pub imgsz: u32,
    pub names: Vec<String>,
    /// The median long side of the images it was trained on (`native_side`
    /// metadata of our exports; `None` for other models).
    pub native_side: Option<u32>,
}

fn model_err(path: &Path, reason: impl ToString) -> MlError {
    MlError::Model {
        path: path.display().to_string(),
        reason: reason.to_string(),
    }
}

impl OnnxDetector {
    /// Loads a model; `names` overrides the model's own class names. `threads` = 0
    /// uses every core.
    pub fn load(path: &Path, names: Option<Vec<String>>, threads: usize) -> Result<OnnxDetector, MlError> {
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
            [_, 3, h, w] if *h <= 0 && *w <= 0 => 640,
            other => return Err(model_err(path, format!("input shape {other:?} is not [N, 3, S, S]"))),
        };
        let output = session
            .outputs()
            .first()
            .ok_or_else(|| model_err(path, "model has no output"))?;
        let out_shape: Vec<i64> = output.dtype().tensor_shape().map(|s| s.to_vec()).unwrap_or_default();
        let names = match names.or_else(|| metadata_names(&session)) {
            Some(n) => n,
            None => {
                let nc = out_shape.get(1).copied().unwrap_or(0) - 4;
                (0..nc.max(0)).map(|i| format!("class{i}")).collect()
            }
        };
        if let Some(&rows) = out_shape.get(1)
            && rows > 0
            && rows as usize != names.len() + 4
        {
            return Err(model_err(
                path,
                format!("output has {} classes but {} names were given", rows - 4, names.len()),
            ));
        }
        let native_side = crate::runtime::onnx::metadata_u32(&session, "native_side");
        Ok(OnnxDetector {
            session: Mutex::new(session),
            input_name,
            imgsz,
            names,
            native_side,
        })
    }

    /// Runs the network on one `[1, 3, S, S]` input; returns the output shape and values.
    pub fn infer(&self, input: Vec<f32>) -> Result<(Vec<i64>, Vec<f32>), MlError> {
        crate::runtime::onnx::run_image(&self.session, &self.input_name, self.imgsz, input)
    }

    /// Detects defects in one frame, the whole frame letterboxed.
    pub fn predict(&self, frame: &Frame, opts: &PredictOptions) -> Result<Prediction, MlError> {
        predict_frame(self, &self.names, frame, opts, None)
    }
}

impl Engine for OnnxDetector {
    fn imgsz(&self) -> u32 {
        self.imgsz
    }

    fn infer(&self, input: Vec<f32>) -> Result<(Vec<i64>, Vec<f32>), MlError> {
        OnnxDetector::infer(self, input)
    }
}
