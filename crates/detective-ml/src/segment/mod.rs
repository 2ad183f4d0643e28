//! Segmentation: UNetTiny in Burn ([`model`]) and its loss (BCE + soft Dice,
//! [`loss`]); what trains it ([`args`], [`loader`], per-class targets in
//! [`classes`], [`trainer`], the first batch drawn by [`preview`]) and validates it ([`validate`], Dice/IoU); its
//! probability maps ([`maps`]); and what serves it: the [`segmenter`] front over
//! Burn or ONNX Runtime ([`onnx_segmenter`]). [`parity`] writes one training batch
//! for the side-by-side check against the PyTorch reference.
//!
//! An anomaly model is a UNetTiny trained on good parts with pasted anomalies
//! (`args.anomaly`); its regions' confidences are calibrated against its
//! threshold ([`anomaly_confidence`]).
//!
//! The epoch loop's shared parts (optimiser, EMA, parameters, resumable state,
//! errors) live in [`crate::train`], which the detector uses too.

pub mod anomaly_confidence;
pub mod args;
pub mod classes;
pub mod loader;
pub mod loss;
pub mod maps;
pub mod model;
pub mod onnx_segmenter;
pub mod parity;
pub mod preview;
pub mod segmenter;
pub mod trainer;
pub mod validate;

pub use loss::{DiceScope, SegLossItems, segmentation_loss};
pub use model::{UNET_CHANNELS, UNET_DIVISOR, UNetConfig, UNetTiny};
