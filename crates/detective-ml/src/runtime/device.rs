//! Where a model trains or runs: `cpu` (Burn's Flex backend with our own
//! convolution and batch-norm kernels, and ONNX Runtime's CPU provider: the
//! default and the tested path) or a CUDA GPU — for our checkpoints Burn's
//! LibTorch backend over PyTorch's CUDA build (only in a build with the `cuda`
//! cargo feature; the network then uses LibTorch's convolution and batch norm),
//! for ONNX models ONNX Runtime's CUDA execution provider (any build, with a GPU
//! build of the ONNX Runtime library). Ultralytics' spellings are accepted:
//! `cpu`, `0`, `cuda`, `cuda:1`; and `auto` ([`DeviceChoice`]): the first GPU
//! when there is one this build can use, else the CPU, saying why.
//!
//! Inference commands set the device once per process
//! ([`set_inference_device`]); the model loaders read it
//! ([`inference_device`]), as ONNX Runtime's environment is one per process.

use std::fmt;
use std::str::FromStr;
use std::sync::OnceLock;

use burn::tensor::Device;

use crate::error::MlError;

/// A compute device named on the command line or in `args.yaml`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ComputeDevice {
    Cpu,
    Cuda(usize),
}

impl FromStr for ComputeDevice {
    type Err = MlError;

    fn from_str(s: &str) -> Result<Self, MlError> {
        let t = s.trim().to_ascii_lowercase();
        let index = |digits: &str| {
            digits
                .parse::<usize>()
                .ok()
                .filter(|&i| i < 64)
                .ok_or_else(|| MlError::InvalidArgument(format!("device {s:?}: the GPU index must be 0..63")))
        };
        match t.as_str() {
            "cpu" => Ok(ComputeDevice::Cpu),
            "cuda" | "gpu" => Ok(ComputeDevice::Cuda(0)),
            _ => {
                if let Some(rest) = t.strip_prefix("cuda:") {
                    Ok(ComputeDevice::Cuda(index(rest)?))
                } else if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) {
                    Ok(ComputeDevice::Cuda(index(&t)?))
                } else {
                    Err(MlError::InvalidArgument(format!(
                        "device {s:?}: expected cpu, cuda, cuda:N or a GPU index N"
                    )))
                }
            }
        }
    }
}

impl fmt::Display for ComputeDevice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ComputeDevice::Cpu => f.write_str("cpu"),
            ComputeDevice::Cuda(i) => write!(f, "cuda:{i}"),
        }
    }
}

impl ComputeDevice {
    /// Whether this build and machine can run our checkpoints (Burn) on the
    /// device: a CUDA device needs the `cuda` feature and that GPU; the error
    /// says which is missing and how to get it.
    pub fn available(&self) -> Result<(), MlError> {
        self.usable(true)
    }

    /// Whether this build and machine can run a model on the device: our
    /// checkpoints (`burn`) on a GPU need the `cuda` feature; an ONNX model only
    /// the GPU (ONNX Runtime's CUDA provider then needs a GPU build of its library).
    pub fn usable(&self, burn: bool) -> Result<(), MlError> {
        match self {
            ComputeDevice::Cpu => Ok(()),
            ComputeDevice::Cuda(_) if burn && !cfg!(feature = "cuda") => Err(MlError::InvalidArgument(format!(
                "device {self}: this build has no CUDA support for our checkpoints (build with `--features cuda`, \
                 see docs/training.md; an ONNX model runs on a GPU in any build)"
            ))),
            ComputeDevice::Cuda(i) => gpu_present(*i),
        }
    }

    /// The Burn device (without autodiff); see [`ComputeDevice::available`].
    pub fn burn_device(&self) -> Result<Device, MlError> {
        self.available()?;
        // Burn marks its LibTorch backend deprecated in favour of its CubeCL
        // backends, whose CUDA build downloads LLVM (see detective-ml's Cargo.toml):
        // LibTorch is the GPU path that builds offline.
        #[cfg(feature = "cuda")]
        #[allow(deprecated)]
        if let ComputeDevice::Cuda(i) = self {
            return Ok(Device::libtorch_cuda(*i));
        }
        Ok(Device::flex())
    }
}

/// What `--device` asks for: `auto`, or one device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceChoice {
    /// The first GPU when there is one this build can use, else the CPU.
    Auto,
    Exact(ComputeDevice),
}

impl FromStr for DeviceChoice {
    type Err = MlError;

    fn from_str(s: &str) -> Result<Self, MlError> {
        if s.trim().eq_ignore_ascii_case("auto") {
            return Ok(DeviceChoice::Auto);
        }
        // The device's own reason (e.g. an index out of range), with the one more choice.
        s.parse::<ComputeDevice>()
            .map(DeviceChoice::Exact)
            .map_err(|e| match e {
                MlError::InvalidArgument(why) => MlError::InvalidArgument(format!("{why}, or auto")),
                other => other,
            })
    }
}

impl fmt::Display for DeviceChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeviceChoice::Auto => f.write_str("auto"),
            DeviceChoice::Exact(d) => d.fmt(f),
        }
    }
}

/// A resolved choice: the device, and with `auto` on the CPU, why no GPU.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedDevice {
    pub device: ComputeDevice,
    /// `auto` fell back to the CPU: the reason, to log and to show.
    pub fallback: Option<String>,
}

impl DeviceChoice {
    /// The device to run on, for our checkpoints (`burn`) or an ONNX model: an
    /// exact CUDA device must be usable (else a clear error); `auto` takes
    /// `cuda:0` when it is, else the CPU with the reason.
    pub fn resolve(self, burn: bool) -> Result<ResolvedDevice, MlError> {
        match self {
            DeviceChoice::Exact(d) => {
                d.usable(burn)?;
                Ok(ResolvedDevice {
                    device: d,
                    fallback: None,
                })
            }
            DeviceChoice::Auto => Ok(match ComputeDevice::Cuda(0).usable(burn) {
                Ok(()) => ResolvedDevice {
                    device: ComputeDevice::Cuda(0),
                    fallback: None,
                },
                Err(e) => ResolvedDevice {
                    device: ComputeDevice::Cpu,
                    fallback: Some(format!("--device auto runs on cpu: {e}")),
                },
            }),
        }
    }
}

/// The GPUs the NVIDIA driver shows (`/proc/driver/nvidia/gpus/*`), as
/// `CUDA_VISIBLE_DEVICES` narrows them (a list of indices; empty or `-1`: none).
pub fn cuda_device_count() -> usize {
    let found = std::fs::read_dir("/proc/driver/nvidia/gpus").map_or(0, |d| d.count());
    visible_gpus(found, std::env::var("CUDA_VISIBLE_DEVICES").ok().as_deref())
}

/// Of `found` GPUs, how many a `CUDA_VISIBLE_DEVICES` value leaves (its entries
/// up to the first empty or negative one, as CUDA reads it).
fn visible_gpus(found: usize, visible: Option<&str>) -> usize {
    match visible {
        Some(v) => v
            .split(',')
            .map(str::trim)
            .take_while(|x| !x.is_empty() && !x.starts_with('-'))
            .count()
            .min(found),
        None => found,
    }
}

/// Fails unless GPU `index` is there.
fn gpu_present(index: usize) -> Result<(), MlError> {
    let n = cuda_device_count();
    if index < n {
        Ok(())
    } else {
        Err(MlError::InvalidArgument(format!(
            "device cuda:{index}: this machine has {} (no NVIDIA driver sees one; check nvidia-smi and \
             CUDA_VISIBLE_DEVICES)",
            match n {
                0 => "no CUDA GPU".to_string(),
                1 => "1 CUDA GPU, cuda:0".to_string(),
                n => format!("{n} CUDA GPUs, cuda:0..cuda:{}", n - 1),
            }
        )))
    }
}

/// One device as the Segmentation lab lists it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct DeviceInfo {
    /// `cpu`, `cuda:0`, … (what `device` takes).
    pub name: String,
    pub available: bool,
    /// Threads of the CPU, or why a GPU cannot be used.
    pub detail: String,
}

/// The devices of this machine and build: the CPU, each GPU the driver shows
/// (or `cuda:0` marked unavailable when there is none), with what stops a GPU.
pub fn list_devices() -> Vec<DeviceInfo> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut out = vec![DeviceInfo {
        name: "cpu".into(),
        available: true,
        detail: format!("{threads} threads"),
    }];
    for i in 0..cuda_device_count().max(1) {
        let d = ComputeDevice::Cuda(i);
        let (available, detail) = match d.available() {
            Ok(()) => (true, "CUDA (LibTorch)".to_string()),
            Err(e) => (false, e.to_string()),
        };
        out.push(DeviceInfo {
            name: d.to_string(),
            available,
            detail,
        });
    }
    out
}

static INFERENCE_DEVICE: OnceLock<ComputeDevice> = OnceLock::new();

/// Sets where this process's models run (once; a second, different device is
/// refused). ONNX sessions then use CUDA's execution provider on a GPU, and our
/// checkpoints load onto [`ComputeDevice::burn_device`].
pub fn set_inference_device(d: ComputeDevice) -> Result<(), MlError> {
    match INFERENCE_DEVICE.get_or_init(|| d) {
        set if *set == d => Ok(()),
        set => Err(MlError::InvalidArgument(format!(
            "the inference device is {set} already; cannot switch to {d}"
        ))),
    }
}

/// Where this process's models run (the CPU unless [`set_inference_device`] said otherwise).
pub fn inference_device() -> ComputeDevice {
    INFERENCE_DEVICE.get().copied().unwrap_or(ComputeDevice::Cpu)
}

/// True for Burn's Flex (CPU) backend, with or without autodiff: the devices our
/// own kernels (`nn::fast_conv`, `nn::bn_act`) run on.
pub fn is_flex(device: &Device) -> bool {
    matches!(
        device.clone().inner().as_dispatch(),
        burn::backend::DispatchDevice::Flex(_)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ultralytics_device_spellings_parse() {
        let _serial = crate::burn_test_lock();
        assert_eq!("cpu".parse::<ComputeDevice>().unwrap(), ComputeDevice::Cpu);
        assert_eq!("CPU".parse::<ComputeDevice>().unwrap(), ComputeDevice::Cpu);
        assert_eq!("0".parse::<ComputeDevice>().unwrap(), ComputeDevice::Cuda(0));
        assert_eq!("cuda".parse::<ComputeDevice>().unwrap(), ComputeDevice::Cuda(0));
        assert_eq!("cuda:2".parse::<ComputeDevice>().unwrap(), ComputeDevice::Cuda(2));
        assert_eq!(ComputeDevice::Cuda(2).to_string(), "cuda:2");
        for bad in ["", "tpu", "cuda:", "cuda:x", "-1", "99", "0,1"] {
            assert!(bad.parse::<ComputeDevice>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn cpu_is_the_flex_backend_with_or_without_autodiff() {
        let _serial = crate::burn_test_lock();
        let d = ComputeDevice::Cpu.burn_device().unwrap();
        assert!(is_flex(&d));
        assert!(is_flex(&d.autodiff()));
    }

    #[cfg(not(feature = "cuda"))]
    #[test]
    fn cuda_without_the_feature_says_how_to_build_it() {
        let _serial = crate::burn_test_lock();
        let e = ComputeDevice::Cuda(0).burn_device().unwrap_err().to_string();
        assert!(e.contains("--features cuda"), "{e}");
    }

    #[test]
    fn auto_parses_and_falls_back_to_the_cpu_saying_why() {
        assert_eq!("AUTO".parse::<DeviceChoice>().unwrap(), DeviceChoice::Auto);
        assert_eq!(
            "cuda:1".parse::<DeviceChoice>().unwrap(),
            DeviceChoice::Exact(ComputeDevice::Cuda(1))
        );
        assert!(
            "gpu:x"
                .parse::<DeviceChoice>()
                .unwrap_err()
                .to_string()
                .contains("auto")
        );
        assert_eq!(
            DeviceChoice::Exact(ComputeDevice::Cpu).resolve(true).unwrap().fallback,
            None
        );
        // This machine (and CI's) has no usable GPU: auto says so, an exact
        // CUDA device is an error, and the lab lists the GPU as unavailable.
        if ComputeDevice::Cuda(0).available().is_err() {
            let r = DeviceChoice::Auto.resolve(true).unwrap();
            assert_eq!(r.device, ComputeDevice::Cpu);
            assert!(r.fallback.unwrap().contains("runs on cpu"));
            assert!(DeviceChoice::Exact(ComputeDevice::Cuda(0)).resolve(true).is_err());
            let listed = list_devices();
            assert!(listed[0].available && listed[0].name == "cpu");
            assert!(
                listed
                    .iter()
                    .any(|d| d.name == "cuda:0" && !d.available && !d.detail.is_empty())
            );
        }
    }

    #[test]
    fn cuda_visible_devices_narrows_the_gpus() {
        assert_eq!(visible_gpus(4, None), 4);
        assert_eq!(visible_gpus(4, Some("1,3")), 2);
        assert_eq!(visible_gpus(4, Some("")), 0);
        assert_eq!(visible_gpus(4, Some("-1")), 0);
        assert_eq!(visible_gpus(4, Some("0,-1,2")), 1);
        assert_eq!(visible_gpus(1, Some("0,1,2")), 1, "never more than the driver shows");
    }
}
