//! Evaluation metrics of the ml crate. Today: object detection (Ultralytics'
//! mAP50 / mAP50-95 / P / R, pycocotools' AP, the confusion matrix).

pub mod detection;
mod numeric;

pub use detection::{
    COCO_DEFAULT_MAX_DETS, ClassCurve, ClassMetrics, CocoClassMetrics, CocoMetrics, ConfusionMatrix,
    DetectionEvaluator, DetectionMetrics, GtBox, PrCurve, PredBox,
};
