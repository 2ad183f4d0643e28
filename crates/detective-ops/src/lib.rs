//! The MLOps loop of Defect Detective (DESIGN.md §1): training jobs taken from
//! the database queue and run by a worker ([`worker`], [`runner`]), dataset
//! versions written out for training ([`dataset_files`]), and the model
//! registry's actions ([`registry`]: register, stage, rollback, compare).

pub mod dataset_files;
pub mod error;
pub mod job_request;
pub mod registry;
pub mod runner;
pub mod worker;

pub use error::OpsError;
