//! Errors of the embedded language model.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum LlmError {
    #[error("model file: {0}")]
    Io(String),
    #[error("model file is not usable: {0}")]
    Format(String),
    #[error("{0}")]
    Input(String),
}
