//! Object detection: the YOLOv8-style network in Burn ([`model`], [`blocks`]),
//! what trains it ([`assigner`], [`loss`], [`loader`], [`args`], [`trainer`]) and
//! validates it ([`validate`]), and what serves it: one [`engine`] contract with
//! Ultralytics' pre- and post-processing ([`output`], [`nms`], and for tiled
//! frames [`tile_merge`]), two engines (ONNX
//! Runtime: [`onnx_detector`]; Burn: [`burn_engine`]), the [`detector`] that picks
//! one for a model file, and the models compiled into the binary ([`bundled`], and
//! [`prior`], the pretrained start of training).
//!
//! The epoch loop's shared parts (optimiser, EMA, parameters, resumable state,
//! errors) live in [`crate::train`], which the segmenter uses too.

pub mod args;
pub mod assigner;
pub mod blocks;
pub mod bundled;
pub mod burn_engine;
pub mod detector;
pub mod engine;
pub mod loader;
pub mod loss;
pub mod model;
pub mod nms;
pub mod onnx_detector;
pub mod output;
pub mod prior;
pub mod tile_merge;
pub mod trainer;
pub mod validate;

pub use model::{REG_MAX, STRIDES, Scale, YoloConfig, YoloV8, anchors, decode_raw, dfl_distances};
