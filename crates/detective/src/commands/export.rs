//! `detective export`: our checkpoint (`.bpk` + `.json`) to an ONNX model in
//! Ultralytics' export layout, then, when ONNX Runtime is available, a check of
//! the export against Burn's forward pass on a grey image.

use std::process::ExitCode;

use anyhow::{Result, bail};
use detective_ml::MlError;
use detective_ml::export::{export_checkpoint, verify_checkpoint_export};

use crate::cli::ExportArgs;
use crate::config::Config;

/// Largest acceptable max |Δ| between the export and Burn (box coordinates are in
/// input pixels, so float rounding alone reaches ~1e-4 at 640).
const VERIFY_TOLERANCE: f32 = 1e-2;

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
    let report = export_checkpoint(&args.model, args.imgsz, &out)?;
    println!(
        "exported {} ({}, {} nodes, {:.2} M parameters, imgsz {}, opset {})",
        report.path.display(),
        human_size(report.bytes),
        report.nodes,
        report.params as f64 / 1e6,
        report.imgsz,
        report.opset
    );
    match verify_checkpoint_export(&args.model, &out) {
        Ok(d) if d <= VERIFY_TOLERANCE => {
            println!("verified in ONNX Runtime: max |Δ| vs Burn = {d:.1e} on a grey image");
        }
        Ok(d) => bail!(
            "verification failed: {} differs from Burn's forward pass by up to {d} (tolerance {VERIFY_TOLERANCE})",
            out.display()
        ),
        Err(e @ (MlError::RuntimeMissing { .. } | MlError::RuntimeLoad { .. })) => {
            eprintln!("note: export not verified: {e}");
        }
        Err(e) => return Err(e.into()),
    }
    Ok(ExitCode::SUCCESS)
}
