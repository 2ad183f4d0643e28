//! The model the agent runs: a detector, a segmenter or an anomaly model behind
//! one call that answers detections. A segmenter's defect regions (connected
//! components of its thresholded mask) become boxes with their mean probability
//! as confidence, as in the cloud's `task=segment`, so all flow through the same
//! uncertain flag, spool and wire format. An anomaly model's regions (named
//! `anomaly`) carry their peak score calibrated so that the model's threshold is
//! 0.5 ([`detective_ml::segment::anomaly_confidence`]): the camera's uncertain
//! band sends the parts scored near the threshold to review.

use std::path::Path;
use std::time::Instant;

use detective_core::{Detection, Task};
use detective_ml::detect::detector::Detector;
use detective_ml::segment::anomaly_confidence::{calibrate_detections, score_at};
use detective_ml::segment::segmenter::{AnySegmenter, map_task};
use detective_ml::{MlError, PredictOptions};
use detective_vision::Frame;
use detective_vision::tiles::TilePlan;

/// A loaded model of either task.
pub enum EdgeModel {
    Detect(Detector),
    /// A model that gives maps, and its task (segment or anomaly).
    Segment(Box<AnySegmenter>, Task),
}

/// One frame's result.
pub struct Inference {
    pub detections: Vec<Detection>,
    /// Pre-processing, network and post-processing, in milliseconds.
    pub ms: f64,
}

impl EdgeModel {
    /// Loads `path` as a segmenter when its metadata says so, else as a detector;
    /// `threads` is ONNX Runtime's thread count (0 = every core); `tiles` says
    /// when frames run tiled at native scale.
    pub fn load(path: &Path, threads: usize, tiles: TilePlan) -> Result<Self, MlError> {
        if let Some(task) = map_task(path) {
            Ok(EdgeModel::Segment(
                Box::new(AnySegmenter::load(path, threads)?.with_tiles(tiles)),
                task,
            ))
        } else {
            Ok(EdgeModel::Detect(
                Detector::load(path, None, threads)?.with_tiles(tiles),
            ))
        }
    }

    /// What the model does.
    pub fn task(&self) -> Task {
        match self {
            EdgeModel::Detect(_) => Task::Detect,
            EdgeModel::Segment(_, task) => *task,
        }
    }

    /// The detections in `frame` with confidence ≥ `conf` (a segmenter marks pixels
    /// at its own threshold first).
    pub fn infer(&self, frame: &Frame, conf: f32) -> Result<Inference, MlError> {
        match self {
            EdgeModel::Detect(d) => {
                let opts = PredictOptions {
                    conf,
                    // One box per defect on the line.
                    agnostic: true,
                    ..PredictOptions::default()
                };
                let p = d.predict(frame, &opts)?;
                Ok(Inference {
                    detections: p.detections,
                    ms: p.preprocess_ms + p.inference_ms + p.postprocess_ms,
                })
            }
            EdgeModel::Segment(s, Task::Anomaly) => {
                // regions down to the score whose calibrated confidence is `conf`,
                // so that those just under the model's threshold reach the
                // uncertain band (and review)
                let t = Instant::now();
                let threshold = s.threshold();
                let seg = s.segment(frame, s.imgsz(), score_at(conf, threshold))?;
                let detections = calibrate_detections(seg.detections, &seg.probs, frame.width(), threshold);
                Ok(Inference {
                    detections: detections.into_iter().filter(|d| d.confidence >= conf).collect(),
                    ms: t.elapsed().as_secs_f64() * 1000.0,
                })
            }
            EdgeModel::Segment(s, _) => {
                let t = Instant::now();
                let seg = s.segment(frame, s.imgsz(), s.threshold())?;
                Ok(Inference {
                    detections: seg.detections.into_iter().filter(|d| d.confidence >= conf).collect(),
                    ms: t.elapsed().as_secs_f64() * 1000.0,
                })
            }
        }
    }
}
