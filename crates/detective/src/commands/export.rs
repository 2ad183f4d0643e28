//! `detective export`: our checkpoint (`.bpk` + `.json`) to an ONNX model — a
//! detector in Ultralytics' export layout, a segmenter with a probability map out
//! — then, when ONNX Runtime is available, a check of the export against Burn's
//! forward pass. With `--int8`, a statically quantised QDQ model calibrated on
//! images, checked against the float graph in ONNX Runtime.

use std::process::ExitCode;

use anyhow::{Result, bail};
use detective_core::Task;
use detective_ml::MlError;
use detective_ml::export::calibrate::CalibMethod;
use detective_ml::export::int8::{Int8Options, export_checkpoint_int8, pick_calibration};
use detective_ml::export::{export_checkpoint, export_seg_checkpoint, verify_checkpoint_export, verify_seg_export};

use crate::cli::ExportArgs;
use crate::config::Config;

/// Largest acceptable max |Δ| between the export and Burn (box coordinates are in
/// input pixels, so float rounding alone reaches ~1e-4 at 640).
const VERIFY_TOLERANCE: f32 = 1e-2;
/// The same for a segmenter, whose outputs are probabilities.
const SEG_VERIFY_TOLERANCE: f32 = 1e-3;

fn human_size(bytes: u64) -> String {
    if bytes >= 1_000_000 {
        format!("{:.1} MB", bytes as f64 / 1e6)
    } else {
        format!("{:.1} kB", bytes as f64 / 1e3)
    }
}

pub fn run(args: &ExportArgs, _config: &Config) -> Result<ExitCode> {
    if args.format != "onnx" {
        bail!("unsupported --format {:?}: only onnx", args.format);
    }
    if args.int8 {
        return run_int8(args);
    }
    let out = args.out.clone().unwrap_or_else(|| args.model.with_extension("onnx"));
    let segment = detective_ml::checkpoint::model_task(&args.model).is_ok_and(|t| t != Task::Detect);
    let report = if segment {
        export_seg_checkpoint(&args.model, args.imgsz, &out)?
    } else {
        export_checkpoint(&args.model, args.imgsz, &out)?
    };
    println!(
        "exported {} ({}, {} nodes, {:.2} M parameters, imgsz {}, opset {})",
        report.path.display(),
        human_size(report.bytes),
        report.nodes,
        report.params as f64 / 1e6,
        report.imgsz,
        report.opset
    );
    let (verified, tolerance, on) = if segment {
        // probabilities in 0..1
        (
            verify_seg_export(&args.model, &out),
            SEG_VERIFY_TOLERANCE,
            "a textured test image",
        )
    } else {
        (
            verify_checkpoint_export(&args.model, &out),
            VERIFY_TOLERANCE,
            "a grey image",
        )
    };
    match verified {
        Ok(d) if d <= tolerance => {
            println!("verified in ONNX Runtime: max |Δ| vs Burn = {d:.1e} on {on}");
        }
        Ok(d) => bail!(
            "verification failed: {} differs from Burn's forward pass by up to {d} (tolerance {tolerance})",
            out.display()
        ),
        Err(e @ (MlError::RuntimeMissing { .. } | MlError::RuntimeLoad { .. })) => {
            eprintln!("note: export not verified: {e}");
        }
        Err(e) => return Err(e.into()),
    }
    Ok(ExitCode::SUCCESS)
}

fn run_int8(args: &ExportArgs) -> Result<ExitCode> {
    let Some(calibration) = args.calibration.as_deref() else {
        bail!("--int8 needs --calibration DIR (images like the ones the model will see)");
    };
    let method = match args.calib_method.as_str() {
        "percentile" => CalibMethod::Percentile(args.percentile),
        _ => CalibMethod::MinMax,
    };
    method.validate()?;
    let all = super::predict::resolve_source(calibration)?;
    let images = pick_calibration(&all, usize::try_from(args.calib_count).unwrap_or(usize::MAX));
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| args.model.with_extension("int8.onnx"));
    eprintln!(
        "calibrating on {} of {} images in {calibration} ({method})…",
        images.len(),
        all.len()
    );
    let opts = Int8Options {
        images,
        method,
        reduce_range: args.weight_bits == 7,
        float_silu: args.silu == "float",
        threads: args.threads,
    };
    let r = export_checkpoint_int8(&args.model, args.imgsz, &out, &opts)?;
    println!(
        "exported {} (int8 QDQ, {} vs {} float, {} nodes, imgsz {}, opset {}): {} convolutions with int8 weights, {} activations quantised",
        r.export.path.display(),
        human_size(r.export.bytes),
        human_size(r.fp32_bytes),
        r.export.nodes,
        r.export.imgsz,
        r.export.opset,
        r.convs,
        r.activations
    );
    let what = if r.task != Task::Detect {
        "pixel probabilities"
    } else {
        "class scores"
    };
    println!(
        "checked in ONNX Runtime against the float graph on {} calibration images: {what} differ by {:.4} on average, {:.4} at most",
        r.compared_images, r.mean_abs_diff, r.max_abs_diff
    );
    println!(
        "measure accuracy with `detective val --model {}` and speed with `detective bench infer --model {}`",
        r.export.path.display(),
        r.export.path.display()
    );
    Ok(ExitCode::SUCCESS)
}
