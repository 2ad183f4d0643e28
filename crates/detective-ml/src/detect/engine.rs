//! What every detector engine shares, and the prediction pipeline built on it:
//! an [`Engine`] maps one letterboxed input to the `[1, 4 + nc, N]` output layout
//! of Ultralytics' exports; around it, Ultralytics' pre-processing (square
//! letterbox, grey 114, RGB / 255), decoding, class-aware NMS and boxes mapped back
//! to the original image, with the thresholds ([`PredictOptions`]) and the result
//! ([`Prediction`]).
//!
//! Its own file so that the engines (ONNX Runtime, Burn) and the [`Detector`] that
//! picks one all import it, and none of them imports another.
//!
//! [`Detector`]: super::detector::Detector

use std::time::Instant;

use detective_core::Detection;
use detective_vision::Frame;
use detective_vision::preprocess::{Letterbox, LetterboxShape, Normalize, letterbox_chw_into};
use serde::Serialize;

use super::nms::{Candidate, nms_class_aware};
use super::output::{decode, decode_multi_label};
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

/// Something that runs a YOLO network on one letterboxed input.
pub trait Engine: Send + Sync {
    /// Square input size.
    fn imgsz(&self) -> u32;
    /// `[1, 3, S, S]` RGB in 0..1 → (output shape, values) in Ultralytics' layout.
    fn infer(&self, input: Vec<f32>) -> Result<(Vec<i64>, Vec<f32>), MlError>;
}

/// Candidates of one frame (before NMS), the letterbox used and the timings.
pub struct FrameCandidates {
    pub candidates: Vec<Candidate>,
    pub letterbox: Letterbox,
    pub preprocess_ms: f64,
    pub inference_ms: f64,
}

fn ms(a: Instant, b: Instant) -> f64 {
    (b - a).as_secs_f64() * 1000.0
}

/// The detector's input for `frame`: letterboxed to `imgsz × imgsz` (grey 114
/// padding), RGB in 0..1, planar `[3, S, S]`; and the letterbox used.
pub fn detector_input(frame: &Frame, imgsz: u32) -> Result<(Vec<f32>, Letterbox), MlError> {
    let lb = Letterbox::plan(frame.width(), frame.height(), LetterboxShape::Square(imgsz))?;
    let mut input = Vec::new();
    letterbox_chw_into(&lb, frame, &Normalize::default(), &mut input)?;
    Ok((input, lb))
}

/// Letterboxes, runs the engine and decodes (no NMS yet).
pub fn frame_candidates(
    engine: &dyn Engine,
    frame: &Frame,
    conf: f32,
    multi_label: bool,
) -> Result<FrameCandidates, MlError> {
    let t0 = Instant::now();
    let (input, lb) = detector_input(frame, engine.imgsz())?;
    let t1 = Instant::now();
    let (shape, data) = engine.infer(input)?;
    let t2 = Instant::now();
    let candidates = if multi_label {
        decode_multi_label(&data, &shape, conf)?
    } else {
        decode(&data, &shape, conf)?
    };
    Ok(FrameCandidates {
        candidates,
        letterbox: lb,
        preprocess_ms: ms(t0, t1),
        inference_ms: ms(t1, t2),
    })
}

/// The full prediction of one frame: boxes in original pixels, named.
pub fn predict_frame(
    engine: &dyn Engine,
    names: &[String],
    frame: &Frame,
    opts: &PredictOptions,
) -> Result<Prediction, MlError> {
    opts.validate()?;
    let fc = frame_candidates(engine, frame, opts.conf, false)?;
    let t2 = Instant::now();
    let cands = &fc.candidates;
    let keep = nms_class_aware(cands, opts.iou, opts.max_det);
    let detections = keep
        .into_iter()
        .map(|i| {
            let c = &cands[i];
            Detection {
                class_id: c.class,
                name: names
                    .get(c.class as usize)
                    .cloned()
                    .unwrap_or_else(|| format!("class{}", c.class)),
                confidence: c.score,
                bbox: fc.letterbox.to_original(&c.bbox),
            }
        })
        .collect();
    Ok(Prediction {
        detections,
        preprocess_ms: fc.preprocess_ms,
        inference_ms: fc.inference_ms,
        postprocess_ms: ms(t2, Instant::now()),
    })
}
