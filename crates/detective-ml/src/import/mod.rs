//! Ultralytics YOLOv8 weights brought into our Burn detector, so a user's
//! `best.pt` or `best.onnx` can be served by Burn, validated and fine-tuned.
//!
//! Two sources: an ONNX export ([`onnx_weights`]: initializers, batch norm
//! already folded into each convolution) and a PyTorch checkpoint
//! ([`torch_pt`]: the zip + pickle `torch.save` writes, read without running
//! it by [`pickle`]). Both give a state dict under Ultralytics' names, which
//! [`yolo_map`] lays onto [`YoloV8`]. A folded batch norm arrives as an
//! identity normalisation (scale 1, mean 0) after a convolution with the folded
//! weights, which computes exactly what the export computes; before training,
//! [`bn_calibrate`] gives such layers the statistics of real images so that
//! training-mode batch norm starts from the same function.

pub mod bn_calibrate;
pub mod onnx_weights;
pub mod pickle;
pub mod source;
pub mod torch_pt;
pub mod yolo_map;

use std::path::Path;

use burn::tensor::Device;

use crate::checkpoint::ModelMeta;
use crate::detect::YoloV8;
pub use source::{ImportError, SourceMeta, Weights};

/// An imported detector and its metadata.
pub struct Imported {
    pub model: YoloV8,
    pub meta: ModelMeta,
}

/// The kinds of files [`import_detector`] reads, by extension.
pub fn is_importable(path: &Path) -> bool {
    matches!(extension(path).as_str(), "onnx" | "pt" | "pth")
}

fn extension(path: &Path) -> String {
    path.extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase()
}

/// Builds our detector from an Ultralytics YOLOv8 (t, n or s) `.onnx` export or
/// `.pt` checkpoint; `names` from the file unless it has none (then `class0`…).
pub fn import_detector(path: &Path, device: &Device) -> Result<Imported, crate::MlError> {
    let (weights, source) = read_source(path)?;
    let built = yolo_map::build(&weights, device).map_err(|e| model_error(path, e))?;
    let names = if source.names.len() == built.num_classes {
        source.names
    } else {
        if !source.names.is_empty() {
            tracing::warn!(
                "{}: {} class names for {} classes; using class0…",
                path.display(),
                source.names.len(),
                built.num_classes
            );
        }
        (0..built.num_classes).map(|i| format!("class{i}")).collect()
    };
    let mut meta = ModelMeta::new(built.scale, names, source.imgsz.unwrap_or(640));
    meta.origin = Some(format!(
        "{} ({})",
        source.producer,
        path.file_name().and_then(|n| n.to_str()).unwrap_or("")
    ));
    meta.bn_folded = built.folded_layers > 0;
    Ok(Imported {
        model: built.model,
        meta,
    })
}

fn model_error(path: &Path, e: ImportError) -> crate::MlError {
    crate::MlError::Model {
        path: path.display().to_string(),
        reason: e.to_string(),
    }
}

/// The state dict and metadata of an `.onnx` or `.pt` file of a detection
/// model (any other task is refused).
fn read_source(path: &Path) -> Result<(Weights, SourceMeta), crate::MlError> {
    let (weights, source) = match extension(path).as_str() {
        "onnx" => onnx_weights::read(path),
        "pt" | "pth" => torch_pt::read(path),
        other => Err(ImportError::Format(format!(
            "cannot import a .{other} file: give an Ultralytics .onnx export or .pt checkpoint"
        ))),
    }
    .map_err(|e| model_error(path, e))?;
    if let Some(task) = source.task.as_deref().filter(|t| *t != "detect") {
        return Err(model_error(
            path,
            ImportError::Architecture(format!(
                "the file is a '{task}' model; only detection models are imported"
            )),
        ));
    }
    Ok((weights, source))
}

/// A detector's weights from any file we read: our `.bpk` checkpoint, or an
/// Ultralytics `.onnx` / `.pt` imported on the fly.
pub fn load_detector(path: &Path, device: &Device) -> Result<(YoloV8, ModelMeta), crate::MlError> {
    if is_importable(path) {
        let imported = import_detector(path, device)?;
        Ok((imported.model, imported.meta))
    } else {
        crate::checkpoint::load_model(path, device)
    }
}

/// Max |Δ| between `model` on Burn and the ONNX model `onnx` in ONNX Runtime on
/// the same textured `imgsz`² input (stripes, blobs and noise, so every
/// channel of every layer is exercised, unlike a flat grey image).
pub fn check_against_onnx(model: &YoloV8, imgsz: u32, onnx: &Path) -> Result<f32, crate::MlError> {
    crate::export::compare_with_burn(model, onnx, &test_pattern(imgsz as usize))
}

/// A deterministic `[3, s, s]` input in 0..1.
pub fn test_pattern(s: usize) -> Vec<f32> {
    let mut rng = detective_core::Rng::new(0x9e37_79b9);
    let mut noise = move || rng.f32();
    let mut out = Vec::with_capacity(3 * s * s);
    for c in 0..3 {
        for y in 0..s {
            for x in 0..s {
                let (fx, fy) = (x as f32 / s as f32, y as f32 / s as f32);
                let stripes = 0.5 + 0.3 * (fx * 37.0 + c as f32).sin() * (fy * 23.0).cos();
                let blob = (-((fx - 0.6).powi(2) + (fy - 0.4).powi(2)) * 40.0).exp() * 0.4;
                out.push((stripes + blob + 0.15 * (noise() - 0.5)).clamp(0.0, 1.0));
            }
        }
    }
    out
}

/// The scale of a detector's weights file (`.bpk`, `.onnx` or `.pt`); an
/// `.onnx` or `.pt` is imported whole, so weights we could not train are refused.
pub fn detector_scale(path: &Path) -> Result<crate::detect::Scale, crate::MlError> {
    if is_importable(path) {
        Ok(import_detector(path, &Device::flex())?.meta.scale)
    } else {
        Ok(crate::checkpoint::load_meta(path)?.scale)
    }
}
