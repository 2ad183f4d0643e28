//! Models of Defect Detective. Today: serving YOLO detectors exported to ONNX
//! (ours or Ultralytics' `best.onnx`) through ONNX Runtime, with the same
//! post-processing as Ultralytics (confidence filter, class-aware NMS, max-det).

pub mod error;
pub mod nms;
pub mod onnx_detector;
pub mod runtime;
pub mod yolo_output;

pub use error::MlError;
pub use onnx_detector::{OnnxDetector, PredictOptions, Prediction};
