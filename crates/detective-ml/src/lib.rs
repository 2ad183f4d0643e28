//! Models of Defect Detective: the YOLOv8-style detector in Burn (network,
//! loss, trainer), validation metrics, and serving through ONNX Runtime (ours
//! or Ultralytics' `best.onnx`) or Burn, with Ultralytics' post-processing
//! (confidence filter, class-aware NMS, max-det).

pub mod bench;
pub mod bundled;
pub mod burn_engine;
pub mod checkpoint;
pub mod compute_device;
pub mod detector;
pub mod error;
pub mod export;
pub mod init;
pub mod metrics;
pub mod nms;
pub mod onnx_detector;
pub mod onnx_segmenter;
pub mod plots;
pub mod runtime;
pub mod segmenter;
pub mod train;
pub mod unet;
pub mod yolo;
pub mod yolo_output;

pub use detector::{Detector, Engine};
pub use error::MlError;
pub use onnx_detector::{OnnxDetector, PredictOptions, Prediction};

/// Held by the unit tests that take gradients: Burn's autodiff graph is shared by the
/// test harness's threads, and two backward passes at once now and then leave one test
/// with all-zero gradients.
#[cfg(test)]
pub(crate) fn autodiff_test_lock() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}
