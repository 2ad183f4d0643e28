//! One module per sub-command; each exposes `run(...) -> anyhow::Result<ExitCode>`.

pub mod bench;
pub mod bench_edge;
pub mod bench_http;
pub mod config_show;
pub mod dataset;
pub mod db;
pub mod demo;
pub mod device;
pub mod edge;
pub mod export;
pub mod import;
pub mod keys;
pub mod mlflow;
pub mod predict;
pub mod predict_common;
pub mod predict_segment;
pub mod serve;
pub mod storage;
pub mod synth;
pub mod train;
pub mod train_common;
pub mod train_mlflow;
pub mod train_segment;
pub mod users;
pub mod val;
pub mod worker;
