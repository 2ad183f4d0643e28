//! `detective export --int8`: one of our checkpoints (detector or segmenter) to a
//! statically quantised QDQ ONNX model. The float graph is built in memory,
//! calibrated on images preprocessed exactly as at inference ([`super::calibrate`]),
//! rewritten ([`super::quantize`]) and written; then the written file is loaded in
//! ONNX Runtime and its outputs compared with the float graph's on a few of the
//! calibration images.

use std::path::{Path, PathBuf};

use burn::tensor::Device;
use detective_core::Task;
use prost::Message;
use serde::Serialize;

use super::calibrate::{CalibMethod, calibrate};
use super::proto::StringStringEntryProto;
use super::quantize::{QuantOptions, QuantSummary, calibration_points, quantize_model};
use super::{
    ExportReport, OPSET, check_checkpoint_paths, detector_graph, max_abs_diff, segmenter_graph, write_model_file,
};
use crate::MlError;
use crate::checkpoint::{load_model, load_segmenter, model_task};
use crate::detect::engine::detector_input;
use crate::segment::onnx_segmenter::segmenter_input;

/// Calibration images compared between the float and the int8 graph.
const COMPARE_IMAGES: usize = 8;

/// How to quantise.
#[derive(Debug, Clone)]
pub struct Int8Options {
    /// Calibration images (see [`pick_calibration`]).
    pub images: Vec<PathBuf>,
    pub method: CalibMethod,
    pub reduce_range: bool,
    /// SiLU in float between the integer convolutions ([`QuantOptions::float_silu`]).
    pub float_silu: bool,
    /// ONNX Runtime threads for calibration (0 = every core).
    pub threads: usize,
}

/// What an int8 export wrote and how far it moved from the float graph.
#[derive(Debug, Clone, Serialize)]
pub struct Int8Report {
    /// The int8 file.
    pub export: ExportReport,
    /// Size of the same graph in float.
    pub fp32_bytes: u64,
    /// `detect` or `segment`.
    pub task: Task,
    pub convs: usize,
    pub activations: usize,
    pub calibration_images: usize,
    pub method: String,
    /// Images on which the two graphs were compared.
    pub compared_images: usize,
    /// Largest and mean |int8 − float| of the compared values: class scores of a
    /// detector, pixel probabilities of a segmenter.
    pub max_abs_diff: f32,
    pub mean_abs_diff: f32,
}

/// `count` of `images` spread evenly over the list (all of them when fewer), so a
/// sorted folder of several classes is sampled across the classes.
pub fn pick_calibration(images: &[PathBuf], count: usize) -> Vec<PathBuf> {
    if count == 0 || images.is_empty() {
        return Vec::new();
    }
    if images.len() <= count {
        return images.to_vec();
    }
    (0..count).map(|k| images[k * images.len() / count].clone()).collect()
}

enum Family {
    Detector,
    Segmenter,
}

/// The model's input for one image file.
fn input_for(family: &Family, path: &Path, imgsz: u32) -> Result<Vec<f32>, MlError> {
    let frame = detective_vision::decode_file(path, &detective_vision::DecodeLimits::default())?;
    match family {
        Family::Detector => Ok(detector_input(&frame, imgsz)?.0),
        Family::Segmenter => segmenter_input(&frame, imgsz),
    }
}

/// Quantises the checkpoint `weights` (`.bpk` with its `.json`) and writes the int8
/// model to `out`; `imgsz` defaults to the checkpoint's.
pub fn export_checkpoint_int8(
    weights: &Path,
    imgsz: Option<u32>,
    out: &Path,
    opts: &Int8Options,
) -> Result<Int8Report, MlError> {
    check_checkpoint_paths(weights, out)?;
    opts.method.validate()?;
    if opts.images.is_empty() {
        return Err(MlError::InvalidArgument(
            "int8 export needs calibration images (--calibration DIR)".into(),
        ));
    }
    let task = model_task(weights)?;
    let device = Device::flex();
    let (family, float, imgsz) = if task != Task::Detect {
        let (model, meta) = load_segmenter(weights, &device)?;
        let imgsz = imgsz.unwrap_or(meta.imgsz);
        (Family::Segmenter, segmenter_graph(&model, &meta, imgsz)?.model, imgsz)
    } else {
        let (model, meta) = load_model(weights, &device)?;
        let imgsz = imgsz.unwrap_or(meta.imgsz);
        (Family::Detector, detector_graph(&model, &meta, imgsz)?.model, imgsz)
    };
    let qopts = QuantOptions {
        reduce_range: opts.reduce_range,
        float_silu: opts.float_silu,
    };
    let points = calibration_points(&float, &qopts)?;
    tracing::info!(images = opts.images.len(), tensors = points.len(), method = %opts.method, "calibrating");
    let ranges = calibrate(
        &float,
        &points,
        opts.images.iter().map(|p| input_for(&family, p, imgsz)),
        imgsz,
        opts.method,
        opts.threads,
    )?;
    let (mut quantized, summary) = quantize_model(&float, &ranges, &qopts)?;
    let QuantSummary { convs, activations } = summary;
    quantized.metadata_props.push(StringStringEntryProto {
        key: Some("quantization".into()),
        value: Some(format!(
            "int8 QDQ: weights int8 per output channel{}, activations uint8 per tensor, {} over {} calibration images",
            if opts.reduce_range { " (7-bit)" } else { "" },
            opts.method,
            opts.images.len()
        )),
    });
    let bytes = quantized.encode_to_vec();
    write_model_file(&bytes, out)?;
    let float_bytes = float.encode_to_vec();
    let compare: Vec<&PathBuf> = opts.images.iter().take(COMPARE_IMAGES).collect();
    let (max_abs, mean_abs) = match compare_graphs(&float_bytes, out, &family, &compare, imgsz, opts.threads) {
        Ok(d) => d,
        Err(e) => {
            // a model ONNX Runtime cannot run is not left behind
            let _ = std::fs::remove_file(out);
            return Err(e);
        }
    };
    let nodes = quantized.graph.as_ref().map_or(0, |g| g.node.len());
    Ok(Int8Report {
        export: ExportReport {
            path: out.to_path_buf(),
            bytes: bytes.len() as u64,
            nodes,
            params: 0,
            imgsz,
            anchors: 0,
            opset: OPSET,
        },
        fp32_bytes: float_bytes.len() as u64,
        task,
        convs,
        activations,
        calibration_images: opts.images.len(),
        method: opts.method.to_string(),
        compared_images: compare.len(),
        max_abs_diff: max_abs,
        mean_abs_diff: mean_abs,
    })
}

/// Runs the float graph (in memory) and the written int8 file on `images`:
/// `(max, mean)` |Δ| of the class scores (detector: rows 4.. of `[1, 4+nc, A]`) or
/// of the probabilities (segmenter).
fn compare_graphs(
    float: &[u8],
    int8: &Path,
    family: &Family,
    images: &[&PathBuf],
    imgsz: u32,
    threads: usize,
) -> Result<(f32, f32), MlError> {
    let a = std::sync::Mutex::new(crate::runtime::onnx::open_session_from_memory(
        float,
        "float graph",
        threads,
    )?);
    let b = std::sync::Mutex::new(crate::runtime::onnx::open_session(int8, threads)?);
    let (mut max, mut sum, mut n) = (0.0f32, 0.0f64, 0usize);
    for path in images {
        let input = input_for(family, path, imgsz)?;
        let (shape, fa) = crate::runtime::onnx::run_image(&a, super::onnx::INPUT, imgsz, input.clone())?;
        let (shape_b, fb) = crate::runtime::onnx::run_image(&b, super::onnx::INPUT, imgsz, input)?;
        if shape != shape_b || fa.len() != fb.len() {
            return Err(MlError::Export(format!(
                "int8 output shape {shape_b:?} differs from the float graph's {shape:?}"
            )));
        }
        let skip = match family {
            Family::Detector => 4 * shape.get(2).copied().unwrap_or(0).max(0) as usize,
            Family::Segmenter => 0,
        };
        let (fa, fb) = (&fa[skip.min(fa.len())..], &fb[skip.min(fb.len())..]);
        max = max.max(max_abs_diff(fa, fb));
        sum += fa.iter().zip(fb).map(|(x, y)| (x - y).abs() as f64).sum::<f64>();
        n += fa.len();
    }
    Ok((max, if n > 0 { (sum / n as f64) as f32 } else { 0.0 }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calibration_picks_spread_over_the_whole_list() {
        let _serial = crate::burn_test_lock();
        let images: Vec<PathBuf> = (0..10).map(|i| PathBuf::from(format!("{i}.png"))).collect();
        let picked = pick_calibration(&images, 3);
        assert_eq!(
            picked,
            vec![PathBuf::from("0.png"), PathBuf::from("3.png"), PathBuf::from("6.png")]
        );
        assert_eq!(pick_calibration(&images, 50).len(), 10);
        assert!(pick_calibration(&images, 0).is_empty());
    }
}
