//! Exporting our detector for serving: [`export_onnx`] writes a `YoloV8` as an
//! ONNX model in Ultralytics' export layout (input `images` `[1, 3, S, S]`,
//! output `output0` `[1, 4 + nc, A]`, metadata `names`, `imgsz`, `stride`, …),
//! so that ONNX Runtime serves it exactly like an Ultralytics `best.onnx`;
//! [`export_checkpoint`] does the same from a `.bpk` file; [`compare_with_burn`]
//! and [`verify_checkpoint_export`] check an export against Burn's own forward pass.
//! The segmenter (UNetTiny) has the same three: [`export_segmenter`],
//! [`export_seg_checkpoint`] and [`verify_seg_export`] (its output `output0`
//! `[1, C, S, S]` holds probabilities).

pub mod calibrate;
pub mod int8;
pub mod onnx;
pub mod proto;
pub mod quantize;
pub mod unet_onnx;

use std::io::Write;
use std::path::{Path, PathBuf};

use burn::tensor::{Device, Tensor, TensorData};
use prost::Message;
use serde::Serialize;

use crate::checkpoint::{ModelMeta, SegMeta, load_model, load_segmenter, meta_path};
use crate::detect::YoloV8;
use crate::segment::UNetTiny;
use crate::segment::onnx_segmenter::OnnxSegmenter;
use crate::{MlError, OnnxDetector};

pub use onnx::{IR_VERSION, OPSET, names_metadata};

/// What an export wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExportReport {
    pub path: PathBuf,
    /// File size.
    pub bytes: u64,
    /// Graph nodes.
    pub nodes: usize,
    /// Float weights and biases after batch-norm folding.
    pub params: usize,
    /// Square input size of the exported graph.
    pub imgsz: u32,
    /// Anchors (columns of the output).
    pub anchors: usize,
    pub opset: i64,
}

/// Largest input side accepted (as for checkpoints).
pub const MAX_IMGSZ: u32 = 4096;

/// Checks that `imgsz` is a positive multiple of 32 up to [`MAX_IMGSZ`].
pub fn check_imgsz(imgsz: u32) -> Result<(), MlError> {
    if imgsz == 0 || !imgsz.is_multiple_of(32) || imgsz > MAX_IMGSZ {
        return Err(MlError::InvalidArgument(format!(
            "imgsz {imgsz} must be a multiple of 32 in 32..={MAX_IMGSZ} (the anchors of the exported graph depend on it)"
        )));
    }
    Ok(())
}

fn io_err(path: &Path, e: impl std::fmt::Display) -> MlError {
    MlError::Export(format!("{}: {e}", path.display()))
}

/// Writes `model` (with its metadata `meta`) to `out` as an ONNX graph for a square
/// input of `imgsz`, through a temporary file and a rename.
pub fn export_onnx(model: &YoloV8, meta: &ModelMeta, imgsz: u32, out: &Path) -> Result<ExportReport, MlError> {
    let built = detector_graph(model, meta, imgsz)?;
    let bytes = built.model.encode_to_vec();
    write_model_file(&bytes, out)?;
    tracing::info!(path = %out.display(), bytes = bytes.len(), nodes = built.nodes, "exported ONNX model");
    Ok(ExportReport {
        path: out.to_path_buf(),
        bytes: bytes.len() as u64,
        nodes: built.nodes,
        params: built.params,
        imgsz,
        anchors: built.anchors,
        opset: OPSET,
    })
}

/// The ONNX graph of the detector `model` for a square input of `imgsz`.
fn detector_graph(model: &YoloV8, meta: &ModelMeta, imgsz: u32) -> Result<onnx::Built, MlError> {
    check_imgsz(imgsz)?;
    if meta.num_classes != model.num_classes || meta.names.len() != model.num_classes {
        return Err(MlError::InvalidArgument(format!(
            "metadata has {} classes and {} names but the network has {} classes",
            meta.num_classes,
            meta.names.len(),
            model.num_classes
        )));
    }
    onnx::build_model(model, meta, imgsz)
}

/// The ONNX graph of the segmenter `model` for a square input of `imgsz`.
fn segmenter_graph(model: &UNetTiny, meta: &SegMeta, imgsz: u32) -> Result<unet_onnx::BuiltUnet, MlError> {
    if imgsz == 0 || !imgsz.is_multiple_of(16) || imgsz > MAX_IMGSZ {
        return Err(MlError::InvalidArgument(format!(
            "imgsz {imgsz} must be a multiple of 16 in 16..={MAX_IMGSZ}"
        )));
    }
    unet_onnx::build_unet(model, meta, imgsz)
}

/// Writes `bytes` to `out` through a temporary file and a rename.
fn write_model_file(bytes: &[u8], out: &Path) -> Result<(), MlError> {
    let file_name = out
        .file_name()
        .ok_or_else(|| MlError::InvalidArgument(format!("output {} is not a file path", out.display())))?;
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| io_err(dir, e))?;
    }
    let tmp = out.with_file_name(format!(".{}.tmp", file_name.to_string_lossy()));
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, out)
    };
    if let Err(e) = write() {
        let _ = std::fs::remove_file(&tmp);
        return Err(io_err(out, e));
    }
    Ok(())
}

/// Loads our checkpoint `weights` (`.bpk` with its `.json`) on the CPU and exports it
/// to `out`; `imgsz` defaults to the checkpoint's.
pub fn export_checkpoint(weights: &Path, imgsz: Option<u32>, out: &Path) -> Result<ExportReport, MlError> {
    check_checkpoint_paths(weights, out)?;
    let (model, meta) = load_model(weights, &Device::flex())?;
    export_onnx(&model, &meta, imgsz.unwrap_or(meta.imgsz), out)
}

fn check_checkpoint_paths(weights: &Path, out: &Path) -> Result<(), MlError> {
    let ext = weights
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    if ext != "bpk" {
        return Err(MlError::InvalidArgument(format!(
            "{} is not our checkpoint: export takes a .bpk file (with its .json beside it)",
            weights.display()
        )));
    }
    if out == weights || out == meta_path(weights) {
        return Err(MlError::InvalidArgument(format!(
            "output {} would overwrite the checkpoint",
            out.display()
        )));
    }
    Ok(())
}

/// Checks an export of the checkpoint `weights`: max |Δ| between ONNX Runtime on
/// `onnx` and Burn's forward on a uniform grey (114) image of the export's size.
pub fn verify_checkpoint_export(weights: &Path, onnx: &Path) -> Result<f32, MlError> {
    let (model, _) = load_model(weights, &Device::flex())?;
    let imgsz = read_onnx(onnx)?
        .graph
        .as_ref()
        .and_then(|g| g.input.first())
        .and_then(|i| i.dims().get(2).copied().flatten())
        .ok_or_else(|| MlError::Export(format!("{}: input has no fixed size", onnx.display())))?;
    let s = usize::try_from(imgsz).map_err(|_| MlError::Export(format!("input size {imgsz}")))?;
    compare_with_burn(&model, onnx, &vec![114.0 / 255.0; 3 * s * s])
}

/// Reads an ONNX file's protobuf (for inspection; serving uses ONNX Runtime).
pub fn read_onnx(path: &Path) -> Result<proto::ModelProto, MlError> {
    let bytes = std::fs::read(path).map_err(|e| io_err(path, e))?;
    proto::ModelProto::decode(bytes.as_slice()).map_err(|e| io_err(path, format!("not an ONNX model: {e}")))
}

/// Burn's `forward` of `model` on one `[1, 3, S, S]` input: `(shape, values)`.
pub fn burn_forward(model: &YoloV8, input: &[f32], imgsz: u32) -> Result<(Vec<i64>, Vec<f32>), MlError> {
    let s = imgsz as usize;
    if input.len() != 3 * s * s {
        return Err(MlError::InvalidArgument(format!(
            "input has {} values, expected 3×{s}×{s}",
            input.len()
        )));
    }
    let device = model.b0.conv.weight.val().device();
    let x = Tensor::<4>::from_data(TensorData::new(input.to_vec(), [1, 3, s, s]), &device);
    host_output(model.forward(x))
}

/// A network output as `(shape, values)` on the host.
fn host_output<const D: usize>(y: Tensor<D>) -> Result<(Vec<i64>, Vec<f32>), MlError> {
    let shape = y.dims().iter().map(|&d| d as i64).collect();
    let values = y
        .into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .map_err(|e| MlError::Inference(format!("{e:?}")))?;
    Ok((shape, values))
}

/// Max |Δ| of two `(shape, values)` outputs; an error when their shapes differ.
fn output_diff(ort: (Vec<i64>, Vec<f32>), burn: (Vec<i64>, Vec<f32>)) -> Result<f32, MlError> {
    let ((ort_shape, ort), (burn_shape, burn)) = (ort, burn);
    if ort_shape != burn_shape || ort.len() != burn.len() {
        return Err(MlError::Export(format!(
            "ONNX output shape {ort_shape:?} differs from Burn's {burn_shape:?}"
        )));
    }
    Ok(max_abs_diff(&ort, &burn))
}

/// Largest absolute difference between ONNX Runtime on the exported `onnx` and
/// Burn's forward of `model`, on one `[1, 3, S, S]` input (S = the export's size).
/// Fails when ONNX Runtime is missing, or when the output shapes differ.
pub fn compare_with_burn(model: &YoloV8, onnx: &Path, input: &[f32]) -> Result<f32, MlError> {
    let session = OnnxDetector::load(onnx, None, 0)?;
    output_diff(
        session.infer(input.to_vec())?,
        burn_forward(model, input, session.imgsz)?,
    )
}

/// Writes the segmenter `model` to `out` as an ONNX graph for a square input of
/// `imgsz` (a multiple of 16).
pub fn export_segmenter(model: &UNetTiny, meta: &SegMeta, imgsz: u32, out: &Path) -> Result<ExportReport, MlError> {
    let built = segmenter_graph(model, meta, imgsz)?;
    let bytes = built.model.encode_to_vec();
    write_model_file(&bytes, out)?;
    tracing::info!(path = %out.display(), bytes = bytes.len(), nodes = built.nodes, "exported ONNX segmenter");
    Ok(ExportReport {
        path: out.to_path_buf(),
        bytes: bytes.len() as u64,
        nodes: built.nodes,
        params: built.params,
        imgsz,
        anchors: 0,
        opset: OPSET,
    })
}

/// Exports the segmenter checkpoint `weights`; `imgsz` defaults to the checkpoint's.
pub fn export_seg_checkpoint(weights: &Path, imgsz: Option<u32>, out: &Path) -> Result<ExportReport, MlError> {
    check_checkpoint_paths(weights, out)?;
    let (model, meta) = load_segmenter(weights, &Device::flex())?;
    export_segmenter(&model, &meta, imgsz.unwrap_or(meta.imgsz), out)
}

/// Burn's probabilities (sigmoid of the logits) of `model` on one `[1, 3, S, S]` input.
pub fn burn_seg_forward(model: &UNetTiny, input: &[f32], imgsz: u32) -> Result<(Vec<i64>, Vec<f32>), MlError> {
    let s = imgsz as usize;
    if input.len() != 3 * s * s {
        return Err(MlError::InvalidArgument(format!(
            "input has {} values, expected 3×{s}×{s}",
            input.len()
        )));
    }
    let device = model.head.weight.val().device();
    let x = Tensor::<4>::from_data(TensorData::new(input.to_vec(), [1, 3, s, s]), &device);
    host_output(burn::tensor::activation::sigmoid(model.forward(x)))
}

/// Largest absolute difference between ONNX Runtime on the exported segmenter
/// `onnx` and Burn's probabilities of `model` on `input`.
pub fn compare_seg_with_burn(model: &UNetTiny, onnx: &Path, input: &[f32]) -> Result<f32, MlError> {
    let session = OnnxSegmenter::load(onnx, 0)?;
    output_diff(
        session.infer(input.to_vec())?,
        burn_seg_forward(model, input, session.imgsz)?,
    )
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(a, b)| (a - b).abs()).fold(
        0.0f32,
        |m, d| {
            if m.is_nan() || d.is_nan() { f32::NAN } else { m.max(d) }
        },
    )
}

/// Checks a segmenter export against its checkpoint on a deterministic textured
/// image (a grey image would leave most of the net in one regime).
pub fn verify_seg_export(weights: &Path, onnx: &Path) -> Result<f32, MlError> {
    let (model, _) = load_segmenter(weights, &Device::flex())?;
    let s = OnnxSegmenter::load(onnx, 0)?.imgsz as usize;
    let input: Vec<f32> = (0..3 * s * s).map(|i| ((i * 7919) % 255) as f32 / 255.0).collect();
    compare_seg_with_burn(&model, onnx, &input)
}
