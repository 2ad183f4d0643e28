//! Training of the YOLOv8 detector: data loading, target assignment, loss,
//! optimiser, EMA, checkpoints and the epoch loop.

pub mod assigner;
pub mod loader;
pub mod loss;
pub mod params;
pub mod ema;
pub mod optimizer;
pub mod args;
pub mod state;
pub mod trainer;
pub mod validate;
