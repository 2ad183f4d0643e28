//! Everything that can stop a training run, of any task: bad settings, an
//! unreadable dataset or image, a model that cannot be built or saved, a state
//! that cannot be resumed. One type, so that the CLI, the job runner and the API
//! report a failed run the same way whatever the task.

use std::path::Path;

use thiserror::Error;

use crate::MlError;
use crate::detect::loader::LoaderError;

/// Everything that can stop a training run.
#[derive(Debug, Error)]
pub enum TrainError {
    #[error("invalid training settings: {0}")]
    Args(String),
    #[error(transparent)]
    Data(#[from] detective_data::DataError),
    #[error(transparent)]
    Loader(#[from] LoaderError),
    #[error(transparent)]
    Model(#[from] MlError),
    #[error("{0}")]
    Io(String),
    #[error("cannot resume: {0}")]
    Resume(String),
}

/// An I/O failure on `path`, as a [`TrainError::Io`] naming the file.
pub(crate) fn io_err(path: &Path, e: impl std::fmt::Display) -> TrainError {
    TrainError::Io(format!("{}: {e}", path.display()))
}
