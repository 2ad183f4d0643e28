//! The application layer of Defect Detective (DESIGN.md §2): every use case of
//! the product, one module per family, each a plain async function over the
//! database, the object store and the models, with typed inputs and typed
//! errors ([`OpsError`]). The HTTP handlers of `detective-server` and the CLI
//! commands parse their input, call one function here, and present its result.
//!
//! - [`images`]: image ingest (upload, labelled frames, importers);
//! - [`datasets`]: datasets and versions, the YOLO layout for training, exports;
//! - [`ingest`]: prediction batches from edge agents; [`inspections`]: the
//!   prediction log; [`analytics`]: its figures;
//! - [`labeling`]: the labeling queue's decisions;
//! - [`training`] with [`job_request`], [`runner`] and [`worker`]: training jobs
//!   from the database queue;
//! - [`registry`]: register, stage, roll back, compare, serve model files;
//! - [`drift`], [`retraining`] and the periodic [`policy`] job;
//! - [`segmentation_lab`]: segmentation runs, samples and checkpoints side by side;
//! - [`keys`]: API keys.

pub mod accounts;
pub mod alerts;
pub mod analytics;
pub mod annotations;
pub mod datasets;
pub mod drift;
pub mod error;
pub mod images;
pub mod ingest;
pub mod insights;
pub mod inspections;
pub mod job_request;
pub mod keys;
pub mod labeling;
pub mod llm;
pub mod mlflow;
pub mod policy;
pub mod registry;
pub mod retention;
pub mod retraining;
pub mod roboflow;
pub mod rules;
pub mod runner;
pub mod sampling;
pub mod segmentation_lab;
pub mod training;
pub mod worker;

pub use error::OpsError;
