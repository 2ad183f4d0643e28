//! A loaded segmenter (UNetTiny checkpoint) ready to turn frames into defect
//! probability maps, masks and regions, on Burn's CPU backend.

use std::path::Path;

use burn::tensor::Device;
use detective_vision::Frame;

use crate::MlError;
use crate::checkpoint::{SegMeta, load_segmenter};
use crate::metrics::SegMetrics;
use crate::train::segment::{SegSample, predict_probs, validate_segmenter};
use crate::unet::UNetTiny;

/// A segmenter and its metadata.
pub struct Segmenter {
    pub model: UNetTiny,
    pub meta: SegMeta,
    device: Device,
}

impl Segmenter {
    /// Loads `path` (`.bpk` with its `.json`).
    pub fn load(path: &Path) -> Result<Self, MlError> {
        let device = Device::flex();
        let (model, meta) = load_segmenter(path, &device)?;
        Ok(Segmenter { model, meta, device })
    }

    /// Defect probability per pixel of `frame` (row-major, the frame's size), the
    /// frame seen at `imgsz × imgsz`.
    pub fn probabilities(&self, frame: &Frame, imgsz: u32) -> Result<Vec<f32>, MlError> {
        predict_probs(&self.model, frame, imgsz, &self.device).map_err(|e| MlError::InvalidArgument(e.to_string()))
    }

    /// Dice/IoU on `samples`.
    pub fn validate(&self, samples: &[SegSample], imgsz: u32, threshold: f32) -> Result<SegMetrics, MlError> {
        validate_segmenter(&self.model, samples, imgsz, threshold, &self.device)
            .map_err(|e| MlError::InvalidArgument(e.to_string()))
    }
}
