//! Typed errors of the ml crate.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum MlError {
    #[error(
        "ONNX Runtime library not found (looked in: {searched}); run ./scripts/setup-onnxruntime.sh or set DETECTIVE_ORT_LIB to libonnxruntime.so"
    )]
    RuntimeMissing { searched: String },
    #[error("could not load ONNX Runtime from {path}: {reason}")]
    RuntimeLoad { path: String, reason: String },
    #[error("model {path}: {reason}")]
    Model { path: String, reason: String },
    #[error("inference failed: {0}")]
    Inference(String),
    #[error("export failed: {0}")]
    Export(String),
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    #[error(transparent)]
    Vision(#[from] detective_vision::VisionError),
}
