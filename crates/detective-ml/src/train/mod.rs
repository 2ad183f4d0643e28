//! Training of the YOLOv8 detector (data loading, target assignment, loss,
//! optimiser, EMA, checkpoints and the epoch loop) and of the segmenter
//! ([`segment`], which reuses the optimiser, parameter and checkpoint machinery).

pub mod args;
pub mod assigner;
pub mod ema;
pub mod loader;
pub mod loss;
pub mod optimizer;
pub mod params;
pub mod seg_classes;
pub mod segment;
pub mod state;
pub mod trainer;
pub mod validate;
