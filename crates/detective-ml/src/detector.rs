//! One detector API over every engine: Ultralytics' pre-processing (square
//! letterbox, grey 114, RGB / 255), an engine that maps the input to the
//! `[1, 4 + nc, N]` output layout, then confidence filter, class-aware NMS and
//! boxes mapped back to the original image.
//!
//! `Detector::load` picks the engine from the file: `.onnx` runs in ONNX Runtime;
//! our checkpoint (`.bpk` + `.json`) runs through its ONNX export (`NAME.onnx`, if
//! not older than the weights) in ONNX Runtime, else on Burn's CPU backend (the
//! fallback engine).

use std::path::Path;
use std::sync::Once;
use std::time::Instant;

use detective_core::Detection;
use detective_vision::Frame;
use detective_vision::preprocess::{Letterbox, LetterboxShape, Normalize, letterbox_chw_into};

use crate::burn_engine::BurnEngine;
use crate::nms::{Candidate, nms_class_aware};
use crate::yolo_output::{decode, decode_multi_label};
use crate::{MlError, OnnxDetector, PredictOptions, Prediction};

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

/// A loaded detector: engine, class names and input size.
pub struct Detector {
    engine: Box<dyn Engine>,
    pub names: Vec<String>,
    pub imgsz: u32,
    /// "onnxruntime" or "burn".
    pub backend: &'static str,
}

static FALLBACK_LOGGED: Once = Once::new();

impl Detector {
    /// Loads `path`: an `.onnx` model (ours or Ultralytics'), or our checkpoint
    /// `.bpk` (with its `.json`). `names` overrides the model's class names.
    pub fn load(path: &Path, names: Option<Vec<String>>, threads: usize) -> Result<Detector, MlError> {
        let ext = path
            .extension()
            .map(|e| e.to_string_lossy().to_ascii_lowercase())
            .unwrap_or_default();
        match ext.as_str() {
            "onnx" => {
                let m = OnnxDetector::load(path, names, threads)?;
                Ok(Detector {
                    names: m.names.clone(),
                    imgsz: m.imgsz,
                    engine: Box::new(m),
                    backend: "onnxruntime",
                })
            }
            "bpk" => {
                let meta = crate::checkpoint::load_meta(path)?;
                let names = match names {
                    Some(n) if n.len() != meta.num_classes => {
                        return Err(MlError::InvalidArgument(format!(
                            "{} names given for a model of {} classes",
                            n.len(),
                            meta.num_classes
                        )));
                    }
                    Some(n) => n,
                    None => meta.names.clone(),
                };
                let onnx = path.with_extension("onnx");
                let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
                let stale = matches!((modified(&onnx), modified(path)), (Some(o), Some(w)) if o < w);
                if stale {
                    tracing::warn!(
                        "{} is older than {}: ignoring it (re-run `detective export`)",
                        onnx.display(),
                        path.display()
                    );
                }
                if onnx.is_file() && !stale {
                    match OnnxDetector::load(&onnx, Some(names.clone()), threads) {
                        Ok(m) => {
                            return Ok(Detector {
                                names,
                                imgsz: m.imgsz,
                                engine: Box::new(m),
                                backend: "onnxruntime",
                            });
                        }
                        Err(e @ (MlError::RuntimeMissing { .. } | MlError::RuntimeLoad { .. })) => {
                            FALLBACK_LOGGED.call_once(|| {
                                tracing::warn!("{e}; running the model on Burn's CPU backend instead (slower)")
                            });
                        }
                        Err(e) => return Err(e),
                    }
                }
                let engine = BurnEngine::load(path)?;
                Ok(Detector {
                    names,
                    imgsz: engine.imgsz(),
                    engine: Box::new(engine),
                    backend: "burn",
                })
            }
            _ => Err(MlError::Model {
                path: path.display().to_string(),
                reason: "unknown model format: expected .onnx or our .bpk checkpoint".into(),
            }),
        }
    }

    pub fn engine(&self) -> &dyn Engine {
        self.engine.as_ref()
    }

    /// Detects defects in one frame.
    pub fn predict(&self, frame: &Frame, opts: &PredictOptions) -> Result<Prediction, MlError> {
        predict_frame(self.engine.as_ref(), &self.names, frame, opts)
    }
}
