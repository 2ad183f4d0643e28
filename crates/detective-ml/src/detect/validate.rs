//! Validation of a detector on a labelled split, as Ultralytics' validator:
//! confidence 0.001, multi-label candidates, class-aware NMS (IoU 0.7, 300 per
//! image), boxes compared with the ground truth in original image pixels;
//! precision/recall at the best-F1 confidence, mAP50 and mAP50-95 overall and
//! per class, a confusion matrix (conf 0.25, IoU 0.45) and, for our own model
//! during training, the validation losses.

use std::time::Instant;

use burn::tensor::{Tensor, TensorData};
use detective_core::BBox;
use detective_vision::{DecodeLimits, decode_file};
use serde::Serialize;

use super::assigner::{AssignerConfig, GtBox};
use super::loader::{TrainSample, letterbox_eval};
use super::loss::{LossGains, LossItems, detection_loss};
use crate::MlError;
use crate::detect::engine::{Engine, image_candidates};
use crate::detect::nms::{Candidate, nms_class_aware};
use crate::detect::output::decode_multi_label;
use crate::detect::tile_merge::final_boxes;
use crate::detect::{YoloV8, decode_raw};
use crate::metrics::detection::{ConfusionMatrix, DetectionEvaluator, DetectionMetrics, GtBox as EvalGt, PredBox};
use detective_vision::tiles::TileSight;

/// Confidence threshold of mAP computation (Ultralytics' validator).
pub const VAL_CONF: f32 = 0.001;

/// What one validation pass measured.
#[derive(Debug, Clone, Serialize)]
pub struct ValReport {
    pub metrics: DetectionMetrics,
    #[serde(skip)]
    pub confusion: ConfusionMatrix,
    /// Validation losses (our model only).
    #[serde(skip)]
    pub loss: Option<LossItems>,
    pub images: usize,
    /// Mean milliseconds per image (decode excluded).
    pub ms_per_image: f64,
    #[serde(skip)]
    pub evaluator: DetectionEvaluator,
}

fn data_err(e: impl std::fmt::Display) -> MlError {
    MlError::Inference(e.to_string())
}

/// Ground truth of a sample in original pixels.
fn gts_of(sample: &TrainSample, w: u32, h: u32) -> Vec<EvalGt> {
    sample
        .1
        .iter()
        .map(|(c, b)| EvalGt {
            class: *c,
            bbox: [b[0] * w as f32, b[1] * h as f32, b[2] * w as f32, b[3] * h as f32],
        })
        .collect()
}

fn preds_of(cands: &[Candidate], keep: &[usize], to_original: impl Fn(&BBox) -> BBox) -> Vec<PredBox> {
    keep.iter()
        .map(|&i| {
            let c = &cands[i];
            let b = to_original(&c.bbox);
            PredBox {
                class: c.class as usize,
                bbox: [b.x1, b.y1, b.x2, b.y2],
                confidence: c.score,
            }
        })
        .collect()
}

fn finish(
    evaluator: DetectionEvaluator,
    names: &[String],
    loss: Option<LossItems>,
    images: usize,
    ms: f64,
) -> ValReport {
    let metrics = evaluator.finish(names);
    let confusion = evaluator.confusion_matrix(0.25, 0.45);
    ValReport {
        metrics,
        confusion,
        loss,
        images,
        ms_per_image: ms / images.max(1) as f64,
        evaluator,
    }
}

/// Validates our Burn model (on a non-autodiff device) in batches; with `loss`
/// set, also computes the validation losses.
#[allow(clippy::too_many_arguments)]
pub fn validate_model(
    model: &YoloV8,
    samples: &[TrainSample],
    names: &[String],
    imgsz: u32,
    iou: f32,
    max_det: usize,
    batch: usize,
    loss: Option<(&AssignerConfig, &LossGains)>,
) -> Result<ValReport, MlError> {
    let nc = names.len();
    let s = imgsz as usize;
    let device = model.b0.conv.weight.device();
    let limits = DecodeLimits::default();
    let mut evaluator = DetectionEvaluator::new(nc);
    let mut loss_sum = [0f64; 3];
    let mut loss_batches = 0usize;
    let mut ms = 0.0;
    for chunk in samples.chunks(batch.max(1)) {
        let mut input = Vec::with_capacity(chunk.len() * 3 * s * s);
        let mut lbs = Vec::with_capacity(chunk.len());
        let mut gts = Vec::with_capacity(chunk.len());
        for sample in chunk {
            let frame = decode_file(&sample.0, &limits).map_err(|e| MlError::Model {
                path: sample.0.display().to_string(),
                reason: e.to_string(),
            })?;
            gts.push(gts_of(sample, frame.width(), frame.height()));
            let (x, lb) = letterbox_eval(&frame, imgsz).map_err(data_err)?;
            input.extend_from_slice(&x);
            lbs.push(lb);
        }
        let t0 = Instant::now();
        let b = chunk.len();
        let x = Tensor::<1>::from_data(TensorData::new(input, [b * 3 * s * s]), &device).reshape([b, 3, s, s]);
        let raw = model.forward_raw(x);
        if let Some((assigner, gains)) = loss {
            let targets: Vec<Vec<GtBox>> = gts
                .iter()
                .zip(&lbs)
                .map(|(g, lb)| {
                    g.iter()
                        .map(|t| {
                            let bb = lb.to_letterboxed(&BBox {
                                x1: t.bbox[0],
                                y1: t.bbox[1],
                                x2: t.bbox[2],
                                y2: t.bbox[3],
                            });
                            GtBox {
                                class: t.class,
                                xyxy: [bb.x1, bb.y1, bb.x2, bb.y2],
                            }
                        })
                        .collect()
                })
                .collect();
            let out = detection_loss(raw.clone(), &targets, nc, (s, s), assigner, gains);
            loss_sum[0] += out.items.box_loss as f64;
            loss_sum[1] += out.items.cls_loss as f64;
            loss_sum[2] += out.items.dfl_loss as f64;
            loss_batches += 1;
        }
        let decoded = decode_raw(raw, nc, s, s);
        let [_, rows, a] = decoded.dims();
        let host = decoded
            .into_data()
            .convert::<f32>()
            .try_into_vec::<f32>()
            .map_err(|e| MlError::Inference(format!("{e:?}")))?;
        for (k, (lb, g)) in lbs.iter().zip(&gts).enumerate() {
            let slice = &host[k * rows * a..(k + 1) * rows * a];
            let cands = decode_multi_label(slice, &[1, rows as i64, a as i64], VAL_CONF)?;
            let keep = nms_class_aware(&cands, iou, max_det);
            evaluator.add_image_unclipped(
                &preds_of(&cands, &keep, |bb| lb.to_original_unclipped(bb)),
                g,
                lb.src_w as f32,
                lb.src_h as f32,
            );
        }
        ms += t0.elapsed().as_secs_f64() * 1000.0;
    }
    let loss = (loss_batches > 0).then(|| {
        let n = loss_batches as f64;
        LossItems {
            box_loss: (loss_sum[0] / n) as f32,
            cls_loss: (loss_sum[1] / n) as f32,
            dfl_loss: (loss_sum[2] / n) as f32,
        }
    });
    Ok(finish(evaluator, names, loss, samples.len(), ms))
}

/// Validates any engine (an ONNX model, ours or Ultralytics'), one image at a
/// time, each image whole or tiled as `sight` says.
pub fn validate_engine(
    engine: &dyn Engine,
    sight: &TileSight,
    samples: &[TrainSample],
    names: &[String],
    iou: f32,
    max_det: usize,
    mut progress: impl FnMut(usize, usize),
) -> Result<ValReport, MlError> {
    let limits = DecodeLimits::default();
    let mut evaluator = DetectionEvaluator::new(names.len());
    let mut ms = 0.0;
    for (i, sample) in samples.iter().enumerate() {
        let frame = decode_file(&sample.0, &limits).map_err(|e| MlError::Model {
            path: sample.0.display().to_string(),
            reason: e.to_string(),
        })?;
        let gts = gts_of(sample, frame.width(), frame.height());
        let t0 = Instant::now();
        let tiling = sight.tiling(frame.width(), frame.height());
        let (cands, _, _) = image_candidates(engine, &frame, VAL_CONF, true, tiling)?;
        let boxes = final_boxes(&cands, iou, max_det, false);
        let all: Vec<usize> = (0..boxes.len()).collect();
        evaluator.add_image_unclipped(
            &preds_of(&boxes, &all, |bb| *bb),
            &gts,
            frame.width() as f32,
            frame.height() as f32,
        );
        ms += t0.elapsed().as_secs_f64() * 1000.0;
        progress(i + 1, samples.len());
    }
    Ok(finish(evaluator, names, None, samples.len(), ms))
}
