//! The model registry (DESIGN.md §1): versions of named models with their
//! artifacts under `models/{name}/v{n}/` (`model.bpk` + `model.json` for our
//! checkpoints, `model.onnx` for serving, `metrics.json`), stages, rollback,
//! evaluation on a dataset version's validation split, and comparison.
//!
//! - [`resolve`](resolve()) / [`require`]: which version a name means;
//! - `register_job` / `register_upload`: new versions;
//! - `promote` / `rollback` and the reads;
//! - `artifact_files` / `artifact_file` / `fetch_*`: the files;
//! - `evaluate` / `compare` (two segmenters also side by side on validation
//!   images: `side_by_side`).

mod artifacts;
mod evaluate;
mod register;
mod resolve;
mod side_by_side;
mod stages;

pub use artifacts::{BUNDLED_BASE, artifact_file, artifact_files, fetch_servable, fetch_weights};
pub(crate) use evaluate::evaluate_segmenter;
pub use evaluate::{compare, dataset_of_version, evaluate, metrics_json, seg_metrics_json, validation_set};
pub use register::{MAX_MODEL_BYTES, ModelUpload, add_with_files, register_job, register_upload};
pub use resolve::{require, resolve};
pub use side_by_side::MAX_SAMPLES as MAX_COMPARE_SAMPLES;
pub use stages::{list, production, production_entry, promote, rollback, versions, versions_view};
