//! Where models run: ONNX Runtime for serving ([`onnx`]: finding the shared
//! library, sessions, running one image) and the Burn compute device for training
//! and Burn inference ([`device`]: CPU, or CUDA in a `cuda` build).

pub mod device;
pub mod onnx;
