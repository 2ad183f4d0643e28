//! `detective import`: Ultralytics YOLOv8 weights (`.onnx` export or `.pt`
//! checkpoint) into our checkpoint (`.bpk` + `.json`), written only after Burn's
//! forward pass has been checked against the ONNX model (when ONNX Runtime is
//! available).

use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use detective_ml::MlError;
use detective_ml::import::{check_against_onnx, import_detector};

use crate::cli::ImportArgs;

/// Largest acceptable max |Δ| between Burn and ONNX Runtime: box coordinates are
/// in input pixels, so float rounding alone reaches ~1e-4 at 640.
const CHECK_TOLERANCE: f32 = 1e-2;

pub fn run(args: &ImportArgs) -> Result<ExitCode> {
    if args.out.extension().and_then(|e| e.to_str()) != Some("bpk") {
        bail!("--out must name a .bpk file (its .json is written beside it)");
    }
    let device = detective_ml::runtime::device::ComputeDevice::Cpu.burn_device()?;
    let started = std::time::Instant::now();
    let imported = import_detector(&args.model, &device)?;
    let meta = &imported.meta;
    let params: usize = detective_ml::train::params::param_infos(&imported.model)
        .iter()
        .filter(|p| p.kind != detective_ml::train::params::ParamKind::Buffer)
        .map(|p| p.len())
        .sum();
    println!(
        "imported {} in {:.1} s: YOLOv8{}, {} classes ({}), imgsz {}, {:.2} M parameters, batch norm {}",
        meta.origin.as_deref().unwrap_or("?"),
        started.elapsed().as_secs_f64(),
        meta.scale.as_str(),
        meta.num_classes,
        meta.names.join(", "),
        meta.imgsz,
        params as f64 / 1e6,
        if meta.bn_folded {
            "folded into the convolutions (calibrated on the training images when fine-tuning)"
        } else {
            "kept"
        }
    );
    let reference = args.check_against.clone().or_else(|| {
        let is_onnx = args.model.extension().is_some_and(|e| e.eq_ignore_ascii_case("onnx"));
        is_onnx.then(|| args.model.clone())
    });
    if let Some(onnx) = reference {
        match check_against_onnx(&imported.model, meta.imgsz, &onnx) {
            Ok(d) if d <= CHECK_TOLERANCE => {
                println!(
                    "checked against {} in ONNX Runtime: max |Δ| = {d:.1e} on a test pattern",
                    onnx.display()
                );
            }
            Ok(d) => bail!(
                "check failed: Burn's forward pass differs from {} by up to {d} (tolerance {CHECK_TOLERANCE})",
                onnx.display()
            ),
            Err(e @ (MlError::RuntimeMissing { .. } | MlError::RuntimeLoad { .. })) => {
                eprintln!("note: import not checked: {e}");
            }
            Err(e) => return Err(e).with_context(|| format!("checking against {}", onnx.display())),
        }
    }
    detective_ml::checkpoint::save_model(&imported.model, meta, &args.out)?;
    println!(
        "wrote {} and {}",
        args.out.display(),
        detective_ml::checkpoint::meta_path(&args.out).display()
    );
    Ok(ExitCode::SUCCESS)
}
