//! Our models on disk: `NAME.bpk` holds the weights in Burn's burnpack
//! format, `NAME.json` beside it what is needed to rebuild and use the network
//! (detector: scale, classes, names, input size; segmenter: outputs, names, input
//! size, threshold) and where it came from (epoch, metrics).

use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::tensor::Device;
use detective_core::Task;
use serde::{Deserialize, Serialize};

use crate::MlError;
use crate::detect::{Scale, YoloConfig, YoloV8};
use crate::segment::{UNetConfig, UNetTiny};

/// Format marker of the detector's metadata file.
pub const FORMAT: &str = "defect-detective/yolov8";
/// Format marker of the segmenter's metadata file.
pub const SEG_FORMAT: &str = "defect-detective/unet-tiny";

/// The metadata saved next to the weights.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ModelMeta {
    pub format: String,
    pub task: Task,
    pub scale: Scale,
    pub num_classes: usize,
    pub names: Vec<String>,
    pub imgsz: u32,
    /// The median long side of the training images (whole images resized into
    /// the input): `--tile auto` tiles images more than twice as large. Absent in
    /// checkpoints saved before it was recorded (the input side then).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub native_side: Option<u32>,
    #[serde(default)]
    pub epoch: Option<usize>,
    #[serde(default)]
    pub metrics: Option<serde_json::Value>,
    /// Where the weights came from when they were imported (`detective import`:
    /// "Ultralytics 8.4.190 ONNX export (best.onnx)").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
    /// Batch norm arrived folded into the convolutions (an ONNX import): exact
    /// for inference, calibrated on the training images before fine-tuning
    /// (`import::bn_calibrate`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub bn_folded: bool,
}

impl ModelMeta {
    pub fn new(scale: Scale, names: Vec<String>, imgsz: u32) -> Self {
        ModelMeta {
            format: FORMAT.to_string(),
            task: Task::Detect,
            scale,
            num_classes: names.len(),
            names,
            imgsz,
            native_side: None,
            epoch: None,
            metrics: None,
            origin: None,
            bn_folded: false,
        }
    }

    pub fn config(&self) -> YoloConfig {
        YoloConfig {
            scale: self.scale,
            num_classes: self.num_classes,
        }
    }
}

/// The metadata path of a weights file (`best.bpk` → `best.json`).
pub fn meta_path(weights: &Path) -> PathBuf {
    weights.with_extension("json")
}

fn model_err(path: &Path, reason: impl ToString) -> MlError {
    MlError::Model {
        path: path.display().to_string(),
        reason: reason.to_string(),
    }
}

/// Writes `path` (burnpack) and its metadata; both via a temporary file and a
/// rename, so a crash never leaves a half-written model behind.
pub fn save_model(model: &YoloV8, meta: &ModelMeta, path: &Path) -> Result<(), MlError> {
    save_with_meta(model, meta, path)
}

fn save_with_meta<M: Module, T: Serialize>(model: &M, meta: &T, path: &Path) -> Result<(), MlError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| model_err(path, e))?;
    }
    let tmp = path.with_extension("bpk.tmp");
    model.clone().save_file(&tmp).map_err(|e| model_err(path, e))?;
    std::fs::rename(&tmp, path).map_err(|e| model_err(path, e))?;
    let mp = meta_path(path);
    let tmp_meta = mp.with_extension("json.tmp");
    let text = serde_json::to_string_pretty(meta).map_err(|e| model_err(&mp, e))?;
    std::fs::write(&tmp_meta, text).map_err(|e| model_err(&mp, e))?;
    std::fs::rename(&tmp_meta, &mp).map_err(|e| model_err(&mp, e))?;
    Ok(())
}

/// Reads only the metadata of a saved model.
pub fn load_meta(path: &Path) -> Result<ModelMeta, MlError> {
    let mp = meta_path(path);
    let text = std::fs::read_to_string(&mp)
        .map_err(|e| model_err(path, format!("cannot read its metadata {}: {e}", mp.display())))?;
    let value: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| model_err(&mp, format!("invalid metadata: {e}")))?;
    if value.get("format").and_then(|f| f.as_str()) == Some(SEG_FORMAT) {
        return Err(model_err(
            path,
            "this is a segmentation model (UNetTiny), not a detector: use --task segment",
        ));
    }
    let meta: ModelMeta =
        serde_json::from_value(value).map_err(|e| model_err(&mp, format!("invalid metadata: {e}")))?;
    if meta.format != FORMAT {
        return Err(model_err(&mp, format!("format {:?} is not {FORMAT:?}", meta.format)));
    }
    if meta.num_classes == 0 || meta.names.len() != meta.num_classes {
        return Err(model_err(
            &mp,
            format!("{} classes but {} names", meta.num_classes, meta.names.len()),
        ));
    }
    if meta.imgsz == 0 || !meta.imgsz.is_multiple_of(32) || meta.imgsz > 4096 {
        return Err(model_err(
            &mp,
            format!("imgsz {} is not a multiple of 32 in 32..4096", meta.imgsz),
        ));
    }
    Ok(meta)
}

/// Loads weights and metadata onto `device`.
pub fn load_model(path: &Path, device: &Device) -> Result<(YoloV8, ModelMeta), MlError> {
    if !path.is_file() {
        return Err(model_err(path, "file not found"));
    }
    let meta = load_meta(path)?;
    let model = YoloV8::new(&meta.config(), device)
        .try_load_file(path)
        .map_err(|e| model_err(path, e))?;
    Ok((model, meta))
}

/// The metadata saved next to a segmenter's weights.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SegMeta {
    pub format: String,
    pub task: Task,
    /// Logit maps per pixel (1: defect or not).
    pub outputs: usize,
    /// What each output marks.
    pub names: Vec<String>,
    /// Square input side the model was trained at (a multiple of 16).
    pub imgsz: u32,
    /// Probability from which a pixel counts as a defect.
    pub threshold: f32,
    /// Trained on windows of this side at the images' native scale: predictions
    /// run tiled the same way by default (None: whole images resized to `imgsz`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tile: Option<u32>,
    /// Each input image is standardised per channel inside the network
    /// (`--input-norm image`); absent in checkpoints saved before the choice.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub standardize: bool,
    /// The median long side of the training images (whole images resized into
    /// the input): `--tile auto` tiles images more than twice as large. Absent in
    /// checkpoints saved before it was recorded (the input side then).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub native_side: Option<u32>,
    #[serde(default)]
    pub epoch: Option<usize>,
    #[serde(default)]
    pub metrics: Option<serde_json::Value>,
}

impl SegMeta {
    pub fn new(names: Vec<String>, imgsz: u32, threshold: f32) -> Self {
        SegMeta {
            format: SEG_FORMAT.to_string(),
            task: Task::Segment,
            outputs: names.len(),
            names,
            imgsz,
            threshold,
            tile: None,
            standardize: false,
            native_side: None,
            epoch: None,
            metrics: None,
        }
    }

    pub fn config(&self) -> UNetConfig {
        UNetConfig {
            in_channels: 3,
            classes: self.outputs,
            standardize: self.standardize,
        }
    }
}

/// Writes a segmenter and its metadata (atomically, as [`save_model`]).
pub fn save_segmenter(model: &UNetTiny, meta: &SegMeta, path: &Path) -> Result<(), MlError> {
    save_with_meta(model, meta, path)
}

/// Which task a saved model is for, from its metadata (no `task` there: a
/// detector, as the first checkpoints were).
pub fn model_task(path: &Path) -> Result<Task, MlError> {
    let mp = meta_path(path);
    let text = std::fs::read_to_string(&mp)
        .map_err(|e| model_err(path, format!("cannot read its metadata {}: {e}", mp.display())))?;
    let v: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| model_err(&mp, format!("invalid metadata: {e}")))?;
    match v.get("task").and_then(|t| t.as_str()) {
        None => Ok(Task::Detect),
        Some(t) => t.parse().map_err(|e| model_err(&mp, format!("invalid metadata: {e}"))),
    }
}

/// Reads only the metadata of a saved segmenter.
pub fn load_seg_meta(path: &Path) -> Result<SegMeta, MlError> {
    let mp = meta_path(path);
    let text = std::fs::read_to_string(&mp)
        .map_err(|e| model_err(path, format!("cannot read its metadata {}: {e}", mp.display())))?;
    let meta: SegMeta = serde_json::from_str(&text).map_err(|e| model_err(&mp, format!("invalid metadata: {e}")))?;
    if meta.format != SEG_FORMAT {
        return Err(model_err(
            &mp,
            format!("format {:?} is not {SEG_FORMAT:?}", meta.format),
        ));
    }
    if meta.outputs == 0 || meta.names.len() != meta.outputs {
        return Err(model_err(
            &mp,
            format!("{} outputs but {} names", meta.outputs, meta.names.len()),
        ));
    }
    if meta.imgsz == 0 || !meta.imgsz.is_multiple_of(16) || meta.imgsz > 4096 {
        return Err(model_err(
            &mp,
            format!("imgsz {} is not a multiple of 16 in 16..4096", meta.imgsz),
        ));
    }
    if !(meta.threshold > 0.0 && meta.threshold < 1.0) {
        return Err(model_err(
            &mp,
            format!("threshold {} is not within (0, 1)", meta.threshold),
        ));
    }
    Ok(meta)
}

/// Loads a segmenter's weights and metadata onto `device`.
pub fn load_segmenter(path: &Path, device: &Device) -> Result<(UNetTiny, SegMeta), MlError> {
    if !path.is_file() {
        return Err(model_err(path, "file not found"));
    }
    let meta = load_seg_meta(path)?;
    let model = UNetTiny::new(&meta.config(), device)
        .try_load_file(path)
        .map_err(|e| model_err(path, e))?;
    Ok((model, meta))
}
