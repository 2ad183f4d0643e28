//! A YOLO detector in ONNX format served by ONNX Runtime: Ultralytics exports and
//! our own exports alike (`[1, 3, H, W]` in, `[1, 4 + nc, N]` out).
//!
//! Pre-processing is Ultralytics' for exported models: square letterbox to the
//! model's input size with grey 114 padding, RGB, pixel / 255. Class names come from
//! the `names` metadata Ultralytics writes, or from the caller.

use std::path::Path;
use std::sync::Mutex;

use detective_core::Detection;
use detective_vision::Frame;
use ort::session::Session;
use serde::Serialize;

use crate::MlError;

/// Thresholds of one prediction (Ultralytics' defaults).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PredictOptions {
    pub conf: f32,
    pub iou: f32,
    pub max_det: usize,
}

impl Default for PredictOptions {
    fn default() -> Self {
        PredictOptions {
            conf: 0.25,
            iou: 0.7,
            max_det: 300,
        }
    }
}

impl PredictOptions {
    pub fn validate(&self) -> Result<(), MlError> {
        if !(0.0..=1.0).contains(&self.conf) || !(0.0..=1.0).contains(&self.iou) || self.max_det == 0 {
            return Err(MlError::InvalidArgument(format!(
                "conf {} and iou {} must be within 0..1 and max_det {} positive",
                self.conf, self.iou, self.max_det
            )));
        }
        Ok(())
    }
}

/// Detections of one image, boxes in its original pixels, with timings.
#[derive(Debug, Clone, Serialize)]
pub struct Prediction {
    pub detections: Vec<Detection>,
    pub preprocess_ms: f64,
    pub inference_ms: f64,
    pub postprocess_ms: f64,
}

pub struct OnnxDetector {
    session: Mutex<Session>,
    input_name: String,
    /// Square input size the model expects.
    pub imgsz: u32,
    pub names: Vec<String>,
}

fn model_err(path: &Path, reason: impl ToString) -> MlError {
    MlError::Model {
        path: path.display().to_string(),
        reason: reason.to_string(),
    }
}

/// The class names in a model's `names` metadata, if it has parseable ones.
pub fn metadata_names(session: &Session) -> Option<Vec<String>> {
    session
        .metadata()
        .ok()
        .and_then(|m| m.custom("names"))
        .and_then(|t| parse_names_metadata(&t))
}

/// Parses Ultralytics' `names` metadata: a Python dict literal `{0: 'a', 1: "b"}`.
pub fn parse_names_metadata(text: &str) -> Option<Vec<String>> {
    let body = text.trim().strip_prefix('{')?.strip_suffix('}')?;
    let mut names = Vec::new();
    let mut rest = body.trim();
    while !rest.is_empty() {
        let (idx, after) = rest.split_once(':')?;
        let idx: usize = idx.trim().parse().ok()?;
        let after = after.trim_start();
        let quote = after.chars().next().filter(|c| *c == '\'' || *c == '"')?;
        let end = after[1..].find(quote)? + 1;
        if idx != names.len() {
            return None;
        }
        names.push(after[1..end].to_string());
        rest = after[end + 1..].trim_start().trim_start_matches(',').trim_start();
    }
    Some(names)
}

impl OnnxDetector {
    /// Loads a model; `names` overrides the model's own class names. `threads` = 0
    /// uses every core.
    pub fn load(path: &Path, names: Option<Vec<String>>, threads: usize) -> Result<OnnxDetector, MlError> {
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
        Ok(OnnxDetector {
            session: Mutex::new(session),
            input_name,
            imgsz,
            names,
        })
    }

    /// Runs the network on one `[1, 3, S, S]` input; returns the output shape and values.
    pub fn infer(&self, input: Vec<f32>) -> Result<(Vec<i64>, Vec<f32>), MlError> {
        crate::runtime::run_image(&self.session, &self.input_name, self.imgsz, input)
    }

    /// Detects defects in one frame.
    pub fn predict(&self, frame: &Frame, opts: &PredictOptions) -> Result<Prediction, MlError> {
        crate::detector::predict_frame(self, &self.names, frame, opts)
    }
}

impl crate::detector::Engine for OnnxDetector {
    fn imgsz(&self) -> u32 {
        self.imgsz
    }

    fn infer(&self, input: Vec<f32>) -> Result<(Vec<i64>, Vec<f32>), MlError> {
        OnnxDetector::infer(self, input)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ultralytics_names_metadata_parses_with_either_quote() {
        assert_eq!(
            parse_names_metadata("{0: 'crazing', 1: \"rolled-in_scale\", 2: 'a, b'}").unwrap(),
            vec!["crazing", "rolled-in_scale", "a, b"]
        );
        assert!(parse_names_metadata("{1: 'x'}").is_none(), "indices must start at 0");
        assert!(parse_names_metadata("not a dict").is_none());
    }
}
