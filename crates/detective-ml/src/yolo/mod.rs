//! The YOLOv8-style detector in Burn: network, blocks, and the decoding of its
//! head into Ultralytics' export layout.

pub mod blocks;
pub mod bn_silu;
pub mod fast_conv;
pub mod model;

pub use model::{REG_MAX, STRIDES, Scale, YoloConfig, YoloV8, anchors, decode_raw, dfl_distances};
