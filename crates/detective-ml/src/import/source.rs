//! What every reader of Ultralytics weights produces and how it fails: the
//! state dict, what the file says about its model, and the import's errors
//! (shared by the readers and the mapping, below all of them).

use std::collections::BTreeMap;

use thiserror::Error;

/// A state dict: tensor name → (shape, values in row-major order).
pub type Weights = BTreeMap<String, (Vec<usize>, Vec<f32>)>;

/// What a source file says about its model.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SourceMeta {
    /// Who wrote it ("Ultralytics 8.4.190 ONNX export", …).
    pub producer: String,
    pub names: Vec<String>,
    pub imgsz: Option<u32>,
    pub task: Option<String>,
}

/// Why a file could not be imported.
#[derive(Debug, Error)]
pub enum ImportError {
    #[error("cannot read {0}")]
    Io(String),
    #[error("{0}")]
    Format(String),
    #[error("pickle at byte {offset}: {reason}")]
    Pickle { offset: usize, reason: String },
    #[error("not a YOLOv8 detector we can build: {0}")]
    Architecture(String),
    #[error("tensor {name} is missing")]
    Missing { name: String },
    #[error("tensor {name} has shape {found:?}; the YOLOv8{scale} network needs {expected:?}")]
    Shape {
        name: String,
        scale: String,
        expected: Vec<usize>,
        found: Vec<usize>,
    },
}
