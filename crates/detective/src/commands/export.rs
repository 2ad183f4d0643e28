//! `detective export`: our checkpoint (`.bpk` + `.json`) to an ONNX model — a
//! detector in Ultralytics' export layout, a segmenter with a probability map out
//! — then, when ONNX Runtime is available, a check of the export against Burn's
//! forward pass.

use std::process::ExitCode;

use anyhow::{Result, bail};
use detective_ml::MlError;
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
    let out = args.out.clone().unwrap_or_else(|| args.model.with_extension("onnx"));
    let segment = detective_ml::checkpoint::model_task(&args.model).is_ok_and(|t| t == "segment");
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
