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

use detective_core::{BBox, Detection};
use detective_vision::Frame;
use detective_vision::preprocess::{Letterbox, LetterboxShape, Normalize, letterbox_chw_into};
use detective_vision::tiles::{Tiling, Window, crop};
use serde::Serialize;

use super::nms::Candidate;
use super::output::{decode, decode_multi_label};
use super::tile_merge::{SourcedCandidates, WHOLE_FRAME, final_boxes};
use crate::MlError;

/// Thresholds of one prediction (Ultralytics' defaults).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PredictOptions {
    pub conf: f32,
    pub iou: f32,
    pub max_det: usize,
    /// Class-agnostic NMS: one box per defect even where the model hesitates
    /// between two classes (Ultralytics' `agnostic_nms`; off by default there
    /// and in `detective predict`, on in `serve`, the live stream and the edge).
    pub agnostic: bool,
}

impl Default for PredictOptions {
    fn default() -> Self {
        PredictOptions {
            conf: 0.25,
            iou: 0.7,
            max_det: 300,
            agnostic: false,
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

/// Candidates of `frame` with boxes in its own pixels (unclipped), before NMS,
/// each with where it was seen, and the pre-processing and inference times: the
/// whole frame letterboxed; or, with `tiling`, every window's candidates moved
/// into the frame plus those of one pass over the whole frame, which
/// [`final_boxes`] makes one set.
pub fn image_candidates(
    engine: &dyn Engine,
    frame: &Frame,
    conf: f32,
    multi_label: bool,
    tiling: Option<Tiling>,
) -> Result<(SourcedCandidates, f64, f64), MlError> {
    let whole = Window {
        x: 0,
        y: 0,
        w: frame.width(),
        h: frame.height(),
    };
    let mut views: Vec<(u32, Window)> = match tiling {
        Some(t) => t
            .windows(frame.width(), frame.height())
            .into_iter()
            .enumerate()
            .map(|(i, w)| (i as u32, w))
            .collect(),
        None => Vec::new(),
    };
    views.push((WHOLE_FRAME, whole));
    let mut out = SourcedCandidates {
        tiled: tiling.is_some(),
        ..Default::default()
    };
    let (mut pre, mut inf) = (0.0, 0.0);
    for (source, win) in views {
        let t0 = Instant::now();
        let view = if source == WHOLE_FRAME {
            std::borrow::Cow::Borrowed(frame)
        } else {
            std::borrow::Cow::Owned(crop(frame, win)?)
        };
        pre += ms(t0, Instant::now());
        let fc = frame_candidates(engine, &view, conf, multi_label)?;
        pre += fc.preprocess_ms;
        inf += fc.inference_ms;
        let (dx, dy) = (win.x as f32, win.y as f32);
        for c in &fc.candidates {
            let b = fc.letterbox.to_original_unclipped(&c.bbox);
            out.cands.push(Candidate {
                bbox: BBox {
                    x1: b.x1 + dx,
                    y1: b.y1 + dy,
                    x2: b.x2 + dx,
                    y2: b.y2 + dy,
                },
                ..*c
            });
            out.source.push(source);
        }
    }
    Ok((out, pre, inf))
}

/// The full prediction of one frame (tiled when `tiling` is given): boxes in
/// original pixels, named.
pub fn predict_frame(
    engine: &dyn Engine,
    names: &[String],
    frame: &Frame,
    opts: &PredictOptions,
    tiling: Option<Tiling>,
) -> Result<Prediction, MlError> {
    opts.validate()?;
    let (cands, preprocess_ms, inference_ms) = image_candidates(engine, frame, opts.conf, false, tiling)?;
    let t2 = Instant::now();
    let (w, h) = (frame.width() as f32, frame.height() as f32);
    let detections = final_boxes(&cands, opts.iou, opts.max_det, opts.agnostic)
        .into_iter()
        .map(|c| Detection {
            class_id: c.class,
            name: names
                .get(c.class as usize)
                .cloned()
                .unwrap_or_else(|| format!("class{}", c.class)),
            confidence: c.score,
            bbox: c.bbox.clamp_to(w, h),
        })
        .collect();
    Ok(Prediction {
        detections,
        preprocess_ms,
        inference_ms,
        postprocess_ms: ms(t2, Instant::now()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An engine that sees one box of side 8 in the middle of every input.
    struct CentreEngine;

    impl Engine for CentreEngine {
        fn imgsz(&self) -> u32 {
            64
        }
        fn infer(&self, _input: Vec<f32>) -> Result<(Vec<i64>, Vec<f32>), MlError> {
            Ok((vec![1, 5, 1], vec![32.0, 32.0, 8.0, 8.0, 0.9]))
        }
    }

    #[test]
    fn tiled_prediction_moves_each_window_s_boxes_into_the_frame() {
        let frame = Frame::filled(200, 100, [50, 50, 50]).unwrap();
        let names = vec!["crack".to_string()];
        let opts = PredictOptions::default();
        // whole: one box in the middle of the letterboxed frame
        let whole = predict_frame(&CentreEngine, &names, &frame, &opts, None).unwrap();
        assert_eq!(whole.detections.len(), 1);
        let b = whole.detections[0].bbox;
        assert!(
            ((b.x1 + b.x2) / 2.0 - 100.0).abs() < 0.5 && ((b.y1 + b.y2) / 2.0 - 50.0).abs() < 0.5,
            "{b:?}"
        );
        // two 100-px windows side by side: one box in the middle of each, in frame
        // pixels; and the pass over the whole frame sees its own in the middle
        let tiling = Tiling::new(100, 0.0).unwrap();
        let tiled = predict_frame(&CentreEngine, &names, &frame, &opts, Some(tiling)).unwrap();
        let mut centres: Vec<(f32, f32, f32)> = tiled
            .detections
            .iter()
            .map(|d| {
                (
                    (d.bbox.x1 + d.bbox.x2) / 2.0,
                    (d.bbox.y1 + d.bbox.y2) / 2.0,
                    d.bbox.x2 - d.bbox.x1,
                )
            })
            .collect();
        centres.sort_by(|a, b| a.0.total_cmp(&b.0));
        assert_eq!(centres.len(), 3, "{centres:?}");
        // a 100-px window seen at 64: the 8-px box is 12.5 px of the frame; the
        // 200-px frame seen at 64: 25 px
        for (c, (x, side)) in centres.iter().zip([(50.0, 12.5), (100.0, 25.0), (150.0, 12.5)]) {
            assert!(
                (c.0 - x).abs() < 0.5 && (c.1 - 50.0).abs() < 0.5 && (c.2 - side).abs() < 0.1,
                "{c:?}"
            );
        }
        // overlapping windows (x at 0 and 1) that see the same box give it once
        // (NMS over the frame)
        let frame = Frame::filled(111, 100, [50, 50, 50]).unwrap();
        let same = predict_frame(
            &CentreEngine,
            &names,
            &frame,
            &opts,
            Some(Tiling::new(110, 0.5).unwrap()),
        )
        .unwrap();
        assert_eq!(same.detections.len(), 1, "{:?}", same.detections);
    }
}
