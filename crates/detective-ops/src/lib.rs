//! The MLOps loop of Defect Detective (DESIGN.md §1): training jobs taken from
//! the database queue and run by a worker ([`worker`], [`runner`]), dataset
//! versions written out for training ([`dataset_files`]), and the model
//! registry's actions ([`registry`]: register, stage, rollback, compare),
//! drift detection ([`drift`]), and the retraining conditions, trigger and
//! completion ([`retraining`]) that the periodic [`policy`] job runs.

pub mod dataset_files;
pub mod drift;
pub mod error;
pub mod job_request;
pub mod policy;
pub mod registry;
pub mod retraining;
pub mod runner;
pub mod worker;

pub use error::OpsError;
