//! A loaded segmenter (UNetTiny checkpoint) ready to turn frames into defect
//! probability maps, masks and regions, on Burn's CPU backend.

use std::path::Path;

use burn::tensor::Device;
use detective_vision::{Frame, GrayFrame};

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

/// A segmenter behind either engine: our checkpoint on Burn (`.bpk`), or an ONNX
/// export in ONNX Runtime (`.onnx`, fixed input size, threshold 0.5).
pub enum AnySegmenter {
    Burn(Box<Segmenter>),
    Onnx(crate::onnx_segmenter::OnnxSegmenter),
}

impl AnySegmenter {
    /// Loads by extension; `threads` applies to ONNX Runtime (0 = every core).
    pub fn load(path: &Path, threads: usize) -> Result<Self, MlError> {
        if path.extension().is_some_and(|e| e.eq_ignore_ascii_case("onnx")) {
            Ok(AnySegmenter::Onnx(crate::onnx_segmenter::OnnxSegmenter::load(
                path, threads,
            )?))
        } else {
            Ok(AnySegmenter::Burn(Box::new(Segmenter::load(path)?)))
        }
    }

    /// The input side the model was trained or exported at.
    pub fn imgsz(&self) -> u32 {
        match self {
            AnySegmenter::Burn(s) => s.meta.imgsz,
            AnySegmenter::Onnx(s) => s.imgsz,
        }
    }

    /// Whether the input side is fixed (ONNX graphs are exported for one size).
    pub fn fixed_size(&self) -> bool {
        matches!(self, AnySegmenter::Onnx(_))
    }

    /// The model's pixel threshold.
    pub fn threshold(&self) -> f32 {
        match self {
            AnySegmenter::Burn(s) => s.meta.threshold,
            AnySegmenter::Onnx(_) => 0.5,
        }
    }

    /// What the output marks.
    pub fn name(&self) -> String {
        match self {
            AnySegmenter::Burn(s) => s.meta.names.first().cloned().unwrap_or_else(|| "defect".into()),
            AnySegmenter::Onnx(_) => "defect".into(),
        }
    }

    pub fn backend(&self) -> &'static str {
        match self {
            AnySegmenter::Burn(_) => "burn",
            AnySegmenter::Onnx(_) => "onnxruntime",
        }
    }

    /// Defect probability per pixel of `frame` at the frame's size; `imgsz` is
    /// used by Burn (ONNX uses its own).
    pub fn probabilities(&self, frame: &Frame, imgsz: u32) -> Result<Vec<f32>, MlError> {
        match self {
            AnySegmenter::Burn(s) => s.probabilities(frame, imgsz),
            AnySegmenter::Onnx(s) => s.probabilities(frame),
        }
    }
}

/// Regions smaller than this many pixels are noise, not defects.
pub const MIN_REGION_PIXELS: usize = 4;

/// One frame seen by a segmenter: the probability map, the thresholded mask, and
/// the defect regions (connected components) as detections, so masks flow
/// through the same `Detection` type and pipeline as the detector's boxes.
pub struct Segmentation {
    /// Defect probability per pixel, row-major at the frame's size.
    pub probs: Vec<f32>,
    /// 255 where `probs >= threshold`, else 0.
    pub mask: GrayFrame,
    pub regions: Vec<detective_vision::regions::Region>,
    /// One per region: class 0, the model's class name, mean probability, box.
    pub detections: Vec<detective_core::Detection>,
    /// Pixels marked as defect.
    pub defect_pixels: usize,
}

impl AnySegmenter {
    /// Segments `frame` at `imgsz` (Burn; ONNX uses its fixed size) with a pixel
    /// `threshold`.
    pub fn segment(&self, frame: &Frame, imgsz: u32, threshold: f32) -> Result<Segmentation, MlError> {
        let probs = self.probabilities(frame, imgsz)?;
        let mask = GrayFrame {
            width: frame.width(),
            height: frame.height(),
            data: probs.iter().map(|&p| if p >= threshold { 255 } else { 0 }).collect(),
        };
        let regions = detective_vision::regions::connected_regions(&mask, &probs, MIN_REGION_PIXELS)?;
        let name = self.name();
        let detections = regions
            .iter()
            .map(|r| detective_core::Detection {
                class_id: 0,
                name: name.clone(),
                confidence: r.mean_prob,
                bbox: r.bbox,
            })
            .collect();
        let defect_pixels = mask.data.iter().filter(|&&v| v > 0).count();
        Ok(Segmentation {
            probs,
            mask,
            regions,
            detections,
            defect_pixels,
        })
    }
}

/// Whether `path` is a segmenter: our checkpoint whose metadata says so, or an
/// ONNX model with `task: segment` in its metadata.
pub fn is_segmenter(path: &Path) -> bool {
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "bpk" => crate::checkpoint::model_task(path).is_ok_and(|t| t == "segment"),
        "onnx" => crate::export::read_onnx(path).is_ok_and(|m| {
            m.metadata_props
                .iter()
                .any(|p| p.key.as_deref() == Some("task") && p.value.as_deref() == Some("segment"))
        }),
        _ => false,
    }
}
