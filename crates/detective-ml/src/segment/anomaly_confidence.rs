//! An anomaly model's scores as confidences: a region's confidence is its peak
//! score calibrated so that the model's threshold (set on good validation images)
//! is 0.5, `σ(logit(score) − logit(threshold))`. The uncertain bands and class
//! thresholds of the inspection rules, made for a detector's confidences, then
//! read the same way for an anomaly model: a region scored just under the model's
//! threshold lands in the band and goes to review.

use detective_core::{BBox, Detection};

/// Scores are kept this far from 0 and 1, where the logit is infinite.
const EPS: f32 = 1e-6;

fn logit(p: f32) -> f32 {
    let p = p.clamp(EPS, 1.0 - EPS);
    (p / (1.0 - p)).ln()
}

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

/// The confidence of an anomaly `score` for a model whose threshold is `threshold`.
pub fn calibrated(score: f32, threshold: f32) -> f32 {
    sigmoid(logit(score) - logit(threshold))
}

/// The score whose confidence is `confidence` (the inverse of [`calibrated`]): the
/// pixel threshold that finds every region a confidence threshold keeps.
pub fn score_at(confidence: f32, threshold: f32) -> f32 {
    sigmoid(logit(confidence) + logit(threshold)).clamp(EPS, 1.0 - EPS)
}

/// The highest of `probs` (row-major, `width` wide) inside `bbox`.
fn peak_in(probs: &[f32], width: u32, bbox: &BBox) -> f32 {
    let w = width as usize;
    if w == 0 {
        return 0.0;
    }
    let h = probs.len() / w;
    let (x1, y1) = (bbox.x1.max(0.0) as usize, bbox.y1.max(0.0) as usize);
    let (x2, y2) = ((bbox.x2.max(0.0) as usize).min(w), (bbox.y2.max(0.0) as usize).min(h));
    let mut best = 0.0f32;
    for y in y1..y2 {
        for &p in &probs[y * w + x1.min(x2)..y * w + x2] {
            best = best.max(p);
        }
    }
    best
}

/// `detections` (regions of an anomaly map `probs`, `width` wide) with their
/// confidence replaced by their peak score calibrated against `threshold`.
pub fn calibrate_detections(detections: Vec<Detection>, probs: &[f32], width: u32, threshold: f32) -> Vec<Detection> {
    detections
        .into_iter()
        .map(|mut d| {
            d.confidence = calibrated(peak_in(probs, width, &d.bbox), threshold);
            d
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_model_threshold_is_confidence_one_half_and_the_mapping_inverts() {
        assert!((calibrated(0.98, 0.98) - 0.5).abs() < 1e-4);
        assert!(calibrated(0.99, 0.98) > 0.5 && calibrated(0.9, 0.98) < 0.5);
        for c in [0.1, 0.25, 0.4, 0.7] {
            let s = score_at(c, 0.98);
            assert!((calibrated(s, 0.98) - c).abs() < 1e-3, "{c}: {s}");
        }
        // ordered: a higher score is a higher confidence
        assert!(calibrated(0.999, 0.98) > calibrated(0.99, 0.98));
    }

    #[test]
    fn a_region_takes_the_peak_score_inside_its_box() {
        // 4×2 map, a region over columns 1..3 of row 0
        let probs = [0.1, 0.6, 0.9, 0.99, 0.2, 0.3, 0.4, 0.5];
        let d = Detection {
            class_id: 0,
            name: "anomaly".into(),
            confidence: 0.0,
            bbox: BBox {
                x1: 1.0,
                y1: 0.0,
                x2: 3.0,
                y2: 1.0,
            },
        };
        let out = calibrate_detections(vec![d], &probs, 4, 0.9);
        assert!((out[0].confidence - 0.5).abs() < 1e-4, "{}", out[0].confidence);
    }
}
