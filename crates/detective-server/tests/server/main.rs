//! The API integration tests of `detective-server`, as one test binary with a
//! module per former test file: every test binary links the whole dependency
//! tree, so one binary instead of 4 saves that link each time.
//! Run one file's tests with `cargo test -p detective-server --test server <module>::`.

#[macro_use]
mod common;

mod accounts;
mod alerts;
mod annotations;
mod anomaly_jobs;
mod api;
mod audit;
mod dataset_import;
mod dataset_seed;
mod insights;
mod mlflow;
mod openapi_compat;
mod roboflow;
mod roles;
mod rules;
mod sampling;
mod segment_jobs;
mod training;
