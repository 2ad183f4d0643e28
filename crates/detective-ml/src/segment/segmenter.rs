//! A loaded segmenter (UNetTiny checkpoint or its ONNX export) ready to turn
//! frames into defect probability maps, masks and regions. A per-class model
//! (`--classes`) gives one map per class; its regions carry their class.

use std::path::Path;

use burn::tensor::Device;
use detective_vision::tiles::{TilePlan, TileSight};
use detective_vision::{Frame, GrayFrame};

use super::loader::SegSample;
use super::maps::{max_map, predict_maps, seg_sight};
use super::validate::validate_segmenter;
use crate::MlError;
use crate::checkpoint::{SegMeta, load_segmenter};
use crate::metrics::SegMetrics;
use crate::segment::UNetTiny;

/// A segmenter and its metadata.
pub struct Segmenter {
    pub model: UNetTiny,
    pub meta: SegMeta,
    /// When frames run tiled (`--tile`; default auto).
    pub tiles: TilePlan,
    device: Device,
}

impl Segmenter {
    /// Loads `path` (`.bpk` with its `.json`) onto the process's inference device.
    pub fn load(path: &Path) -> Result<Self, MlError> {
        Self::load_on(path, &crate::runtime::device::inference_device().burn_device()?)
    }

    /// Loads `path` onto `device` (the Segmentation lab's choice).
    pub fn load_on(path: &Path, device: &Device) -> Result<Self, MlError> {
        let device = device.clone();
        let (model, meta) = load_segmenter(path, &device)?;
        Ok(Segmenter {
            model,
            meta,
            tiles: TilePlan::default(),
            device,
        })
    }

    /// How frames are seen at `imgsz`: resized, or tiled as `tiles` says.
    pub fn sight(&self, imgsz: u32) -> TileSight {
        seg_sight(&self.meta, imgsz, self.tiles)
    }

    /// Probability per pixel of each output (row-major, the frame's size), the
    /// frame seen at `imgsz × imgsz`, or tiled at native scale where `tiles` says.
    pub fn class_probabilities(&self, frame: &Frame, imgsz: u32) -> Result<Vec<Vec<f32>>, MlError> {
        predict_maps(&self.model, frame, &self.sight(imgsz), &self.device)
            .map_err(|e| MlError::InvalidArgument(e.to_string()))
    }

    /// Defect probability per pixel of `frame` (of any class), the frame seen at
    /// `imgsz × imgsz`.
    pub fn probabilities(&self, frame: &Frame, imgsz: u32) -> Result<Vec<f32>, MlError> {
        Ok(max_map(&self.class_probabilities(frame, imgsz)?))
    }

    /// Dice/IoU on `samples`.
    pub fn validate(&self, samples: &[SegSample], imgsz: u32, threshold: f32) -> Result<SegMetrics, MlError> {
        let sight = self.sight(imgsz);
        validate_segmenter(&self.model, &self.meta.names, samples, &sight, threshold, &self.device)
            .map_err(|e| MlError::InvalidArgument(e.to_string()))
    }
}

/// A segmenter behind either engine: our checkpoint on Burn (`.bpk`), or an ONNX
/// export in ONNX Runtime (`.onnx`, fixed input size, the threshold of its metadata).
pub enum AnySegmenter {
    Burn(Box<Segmenter>),
    Onnx(crate::segment::onnx_segmenter::OnnxSegmenter),
}

impl AnySegmenter {
    /// Loads by extension; `threads` applies to ONNX Runtime (0 = every core).
    pub fn load(path: &Path, threads: usize) -> Result<Self, MlError> {
        if path.extension().is_some_and(|e| e.eq_ignore_ascii_case("onnx")) {
            Ok(AnySegmenter::Onnx(crate::segment::onnx_segmenter::OnnxSegmenter::load(
                path, threads,
            )?))
        } else {
            Ok(AnySegmenter::Burn(Box::new(Segmenter::load(path)?)))
        }
    }

    /// Sets when frames run tiled (`--tile`, `--overlap`).
    pub fn with_tiles(mut self, plan: TilePlan) -> Self {
        match &mut self {
            AnySegmenter::Burn(s) => s.tiles = plan,
            AnySegmenter::Onnx(s) => s.sight.plan = plan,
        }
        self
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
            AnySegmenter::Onnx(s) => s.threshold,
        }
    }

    /// What each output marks: `["defect"]`, or the class names of a per-class
    /// model.
    pub fn names(&self) -> &[String] {
        match self {
            AnySegmenter::Burn(s) => &s.meta.names,
            AnySegmenter::Onnx(s) => &s.names,
        }
    }

    pub fn backend(&self) -> &'static str {
        match self {
            AnySegmenter::Burn(_) => "burn",
            AnySegmenter::Onnx(_) => "onnxruntime",
        }
    }

    /// Probability per pixel of each output at the frame's size; `imgsz` is used
    /// by Burn (ONNX uses its own).
    pub fn class_probabilities(&self, frame: &Frame, imgsz: u32) -> Result<Vec<Vec<f32>>, MlError> {
        match self {
            AnySegmenter::Burn(s) => s.class_probabilities(frame, imgsz),
            AnySegmenter::Onnx(s) => s.class_probabilities(frame),
        }
    }

    /// Defect probability per pixel of `frame` (of any class) at the frame's size.
    pub fn probabilities(&self, frame: &Frame, imgsz: u32) -> Result<Vec<f32>, MlError> {
        Ok(max_map(&self.class_probabilities(frame, imgsz)?))
    }

    /// Dice/IoU on `samples` (their masks) at `imgsz` and a pixel `threshold`, in
    /// either engine: what `detective val` and the registry's evaluation report.
    pub fn validate(&self, samples: &[SegSample], imgsz: u32, threshold: f32) -> Result<SegMetrics, MlError> {
        crate::segment::validate::validate_with(samples, self.names(), threshold, |frame| {
            self.class_probabilities(frame, imgsz)
                .map_err(|e| crate::train::error::TrainError::Io(e.to_string()))
        })
        .map_err(|e| MlError::InvalidArgument(e.to_string()))
    }
}

/// Regions smaller than this many pixels are noise, not defects.
pub const MIN_REGION_PIXELS: usize = 4;

/// One frame seen by a segmenter: the probability map, the thresholded mask, and
/// the defect regions (connected components) as detections, so masks flow
/// through the same `Detection` type and pipeline as the detector's boxes.
pub struct Segmentation {
    /// Defect probability per pixel (of any class), row-major at the frame's size.
    pub probs: Vec<f32>,
    /// 255 where `probs >= threshold`, else 0.
    pub mask: GrayFrame,
    pub regions: Vec<detective_vision::regions::Region>,
    /// One per region: its class (0 for a single defect map) and class name, mean
    /// probability, box.
    pub detections: Vec<detective_core::Detection>,
    /// Pixels marked as defect.
    pub defect_pixels: usize,
}

impl Segmentation {
    /// The map's highest value: an anomaly model's score of the whole image
    /// (the image-level score `val` ranks images by).
    pub fn score(&self) -> f32 {
        self.probs.iter().copied().fold(0.0, f32::max)
    }
}

impl AnySegmenter {
    /// Segments `frame` at `imgsz` (Burn; ONNX uses its fixed size) with a pixel
    /// `threshold`.
    pub fn segment(&self, frame: &Frame, imgsz: u32, threshold: f32) -> Result<Segmentation, MlError> {
        let maps = self.class_probabilities(frame, imgsz)?;
        segment_maps(&maps, self.names(), frame.width(), frame.height(), threshold)
    }
}

/// The segmentation of a `width × height` frame from its probability maps (one
/// per output, named by `names`) at a pixel `threshold`. A pixel is a defect when
/// its highest probability reaches the threshold, and of the class of that
/// highest map; the regions are the connected components of each class's pixels.
pub fn segment_maps(
    maps: &[Vec<f32>],
    names: &[String],
    width: u32,
    height: u32,
    threshold: f32,
) -> Result<Segmentation, MlError> {
    let pixels = width as usize * height as usize;
    if maps.is_empty() || maps.len() != names.len() || maps.iter().any(|m| m.len() != pixels) {
        return Err(MlError::Inference(format!(
            "{} maps for {} outputs of {width}×{height} pixels",
            maps.len(),
            names.len()
        )));
    }
    let probs = max_map(maps);
    let mask = GrayFrame {
        width,
        height,
        data: probs.iter().map(|&p| if p >= threshold { 255 } else { 0 }).collect(),
    };
    // each pixel's class: its highest map (ties: the first class), found once
    let top: Vec<usize> = (0..pixels)
        .map(|i| maps.iter().position(|m| m[i] == probs[i]).unwrap_or(0))
        .collect();
    let mut regions = Vec::new();
    let mut detections = Vec::new();
    for (c, (map, name)) in maps.iter().zip(names).enumerate() {
        // the defect pixels of this class
        let data = mask
            .data
            .iter()
            .zip(&top)
            .map(|(&m, &t)| if m > 0 && t == c { 255 } else { 0 })
            .collect();
        let class_mask = GrayFrame { width, height, data };
        for r in detective_vision::regions::connected_regions(&class_mask, map, MIN_REGION_PIXELS)? {
            detections.push(detective_core::Detection {
                class_id: c as u32,
                name: name.clone(),
                confidence: r.mean_prob,
                bbox: r.bbox,
            });
            regions.push(r);
        }
    }
    let defect_pixels = mask.data.iter().filter(|&&v| v > 0).count();
    Ok(Segmentation {
        probs,
        mask,
        regions,
        detections,
        defect_pixels,
    })
}

/// Whether `path` is a segmenter or an anomaly model (both give maps): our
/// checkpoint whose metadata says so, or an ONNX model with `task: segment` or
/// `task: anomaly` in its metadata.
pub fn is_segmenter(path: &Path) -> bool {
    map_task(path).is_some()
}

/// The task of a model that gives maps: `Segment` or `Anomaly` (None for a
/// detector or a file that is neither).
pub fn map_task(path: &Path) -> Option<detective_core::Task> {
    use detective_core::Task;
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    let task = match ext.as_str() {
        "bpk" => crate::checkpoint::model_task(path).ok()?,
        "onnx" => crate::export::read_onnx(path).ok().and_then(|m| {
            m.metadata_props
                .iter()
                .find(|p| p.key.as_deref() == Some("task"))
                .and_then(|p| p.value.as_deref()?.parse::<Task>().ok())
        })?,
        _ => return None,
    };
    matches!(task, Task::Segment | Task::Anomaly).then_some(task)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `w × h` map that is `hi` inside the pixel rectangle `[x0, x1) × [y0, y1)`.
    fn block(w: usize, h: usize, r: [usize; 4], hi: f32, lo: f32) -> Vec<f32> {
        (0..w * h)
            .map(|i| {
                let (x, y) = (i % w, i / w);
                if (r[0]..r[2]).contains(&x) && (r[1]..r[3]).contains(&y) {
                    hi
                } else {
                    lo
                }
            })
            .collect()
    }

    #[test]
    fn per_class_maps_give_regions_of_their_own_class() {
        let _serial = crate::burn_test_lock();
        let names = vec!["crack".to_string(), "spot".to_string()];
        // crack on the left, spot on the right; where the crack's map is weakly
        // raised under the spot, the spot's higher map wins
        let crack = block(12, 6, [0, 0, 3, 3], 0.9, 0.1);
        let mut spot = block(12, 6, [7, 2, 10, 5], 0.8, 0.05);
        spot[0] = 0.6; // below crack's 0.9 at (0, 0)
        let seg = segment_maps(&[crack, spot], &names, 12, 6, 0.5).unwrap();
        assert_eq!(seg.detections.len(), 2, "{:?}", seg.detections);
        let c = &seg.detections[0];
        assert_eq!((c.class_id, c.name.as_str()), (0, "crack"));
        assert_eq!(<[f32; 4]>::from(c.bbox), [0.0, 0.0, 3.0, 3.0]);
        assert!((c.confidence - 0.9).abs() < 1e-6);
        let s = &seg.detections[1];
        assert_eq!((s.class_id, s.name.as_str()), (1, "spot"));
        assert_eq!(<[f32; 4]>::from(s.bbox), [7.0, 2.0, 10.0, 5.0]);
        assert_eq!(seg.defect_pixels, 18);
        assert_eq!(seg.probs[0], 0.9, "the defect map is the maximum of the class maps");
    }

    #[test]
    fn one_map_gives_class_zero_regions_and_mismatched_maps_are_refused() {
        let _serial = crate::burn_test_lock();
        let names = vec!["defect".to_string()];
        let seg = segment_maps(&[block(8, 8, [2, 2, 6, 6], 0.7, 0.0)], &names, 8, 8, 0.5).unwrap();
        assert_eq!(seg.detections.len(), 1);
        assert_eq!(
            (seg.detections[0].class_id, seg.detections[0].name.as_str()),
            (0, "defect")
        );
        assert!(segment_maps(&[vec![0.0; 10]], &names, 8, 8, 0.5).is_err());
        assert!(segment_maps(&[vec![0.0; 64], vec![0.0; 64]], &names, 8, 8, 0.5).is_err());
    }
}
