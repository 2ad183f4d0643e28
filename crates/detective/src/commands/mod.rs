//! One module per sub-command; each exposes `run(...) -> anyhow::Result<ExitCode>`.

pub mod bench;
pub mod config_show;
pub mod dataset;
pub mod export;
pub mod predict;
pub mod predict_segment;
pub mod synth;
pub mod train;
pub mod train_segment;
pub mod val;
