//! The CLI integration tests of `detective`, as one test binary with a
//! module per former test file: every test binary links the whole dependency
//! tree, so one binary instead of 14 saves that link each time.
//! Run one file's tests with `cargo test -p detective --test cli <module>::`.

#[macro_use]
mod common;

mod api_schema;
mod cli_anomaly;
mod cli_anomaly_real;
mod cli_backup;
mod cli_bench;
mod cli_config;
mod cli_dataset;
mod cli_edge;
mod cli_export;
mod cli_import;
mod cli_predict;
mod cli_retention;
mod cli_serve;
mod cli_synth;
mod cli_tiles;
mod cli_tls;
mod cli_train;
mod cli_train_mlflow;
mod cli_train_segment;
mod cli_train_segment_real;
mod cli_users;
mod cli_val;
mod cli_worker;
mod dashboard;
mod deploy;
mod faults;
mod mlops_loop;
