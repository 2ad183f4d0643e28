//! Models of Defect Detective, organised by concept: object detection
//! ([`detect`]: the YOLOv8-style detector in Burn, its loss and trainer, and
//! serving through ONNX Runtime — ours or Ultralytics' `best.onnx` — or Burn, with
//! Ultralytics' post-processing), segmentation ([`segment`]: UNetTiny, its loss,
//! trainer and serving), what every task's training shares ([`train`]), the
//! network building blocks both use ([`nn`]), where models run ([`runtime`]),
//! validation [`metrics`], ONNX [`export`] and int8 quantisation, Ultralytics
//! weights brought in ([`import`]), the model files on disk ([`checkpoint`]),
//! run plots ([`plots`]) and benchmarks ([`bench`]).

pub mod bench;
pub mod checkpoint;
pub mod detect;
pub mod error;
pub mod export;
pub mod import;
pub mod llm;
pub mod metrics;
pub mod nn;
pub mod plots;
pub mod runtime;
pub mod segment;
pub mod train;

pub use detect::detector::Detector;
pub use detect::engine::{Engine, PredictOptions, Prediction};
pub use detect::onnx_detector::OnnxDetector;
pub use error::MlError;

/// Held by every unit test that runs Burn: two Burn computations at once in the
/// test harness's threads now and then leave one of them with all-zero values
/// (first seen with two backward passes, later also with a forward-only
/// reference), so the tests that run Burn take turns.
#[cfg(test)]
pub(crate) fn burn_test_lock() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}
