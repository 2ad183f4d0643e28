//! `--device` of the commands that run or train models: `auto` resolved (its
//! fallback to the CPU logged with the reason), a CUDA device that this build or
//! machine cannot use refused with a clear error, and for inference the
//! process's device set once, where every model loader reads it.

use std::path::Path;

use anyhow::{Result, anyhow};
use detective_ml::runtime::device::{ComputeDevice, DeviceChoice, set_inference_device};

/// Whether `model` is an ONNX file (which runs on a GPU in any build).
fn is_onnx(model: &Path) -> bool {
    model.extension().is_some_and(|e| e.eq_ignore_ascii_case("onnx"))
}

/// The device `spec` names for running our checkpoints (`burn`) or ONNX
/// models; `auto`'s fallback is logged.
pub fn resolve(spec: &str, burn: bool) -> Result<ComputeDevice> {
    let choice: DeviceChoice = spec.parse().map_err(|e| anyhow!("--device {spec}: {e}"))?;
    let r = choice.resolve(burn).map_err(|e| anyhow!("--device {spec}: {e}"))?;
    if let Some(why) = &r.fallback {
        tracing::warn!("{why}");
    }
    Ok(r.device)
}

/// Resolves `spec` for the model at `model` and makes it where this process's
/// models run.
pub fn use_for_inference(spec: &str, model: &Path) -> Result<ComputeDevice> {
    let d = resolve(spec, !is_onnx(model))?;
    set_inference_device(d)?;
    if d != ComputeDevice::Cpu {
        tracing::info!("models run on {d}");
    }
    Ok(d)
}
