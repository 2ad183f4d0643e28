//! Evaluation metrics of the ml crate: object detection (Ultralytics'
//! mAP50 / mAP50-95 / P / R, pycocotools' AP, the confusion matrix) and
//! segmentation (Dice, IoU, best threshold).

pub mod detection;
mod numeric;
pub mod pro;
pub mod segmentation;

pub use detection::{
    COCO_DEFAULT_MAX_DETS, ClassCurve, ClassMetrics, CocoClassMetrics, CocoMetrics, ConfusionMatrix,
    DetectionEvaluator, DetectionMetrics, GtBox, PrCurve, PredBox,
};
pub use segmentation::{
    ClassSegScores, ImageCounts, PixelCounts, SegEvaluator, SegMetrics, SegScores, threshold_for_false_alarms,
};
