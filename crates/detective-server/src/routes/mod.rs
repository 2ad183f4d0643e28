//! The handlers of `/api`, one module per resource. Handlers stay thin: parse,
//! check the caller's role, call the store, map the result.

pub mod alerts;
pub mod analytics;
pub mod annotations;
pub mod cameras;
pub mod datasets;
pub mod edge;
pub mod images;
pub mod inspections;
pub mod keys;
pub mod labeling;
pub mod log;
pub mod models;
pub mod predict;
pub mod retraining;
pub mod roboflow;
pub mod rules;
pub mod segmentation;
pub mod settings;
pub mod status;
pub mod stream;
pub mod training;
pub mod users;
