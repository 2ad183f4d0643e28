//! Where a model trains or runs in Burn: `cpu` (Burn's Flex backend with our own
//! convolution and batch-norm kernels: the default and the tested path) or a CUDA
//! GPU (Burn's CUDA backend, only in a build with the `cuda` cargo feature; the
//! network then uses Burn's own convolution and batch norm). Ultralytics'
//! spellings are accepted: `cpu`, `0`, `cuda`, `cuda:1`.

use std::fmt;
use std::str::FromStr;

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
    /// Whether this build can use the device: a CUDA device needs the `cuda`
    /// feature, and the error says how to get it.
    pub fn available(&self) -> Result<(), MlError> {
        match self {
            ComputeDevice::Cuda(_) if !cfg!(feature = "cuda") => Err(MlError::InvalidArgument(format!(
                "device {self}: this build has no CUDA support (rebuild with `cargo build --release --features cuda`)"
            ))),
            _ => Ok(()),
        }
    }

    /// The Burn device (without autodiff); see [`ComputeDevice::available`].
    pub fn burn_device(&self) -> Result<Device, MlError> {
        self.available()?;
        #[cfg(feature = "cuda")]
        if let ComputeDevice::Cuda(i) = self {
            return Ok(Device::cuda(*i));
        }
        Ok(Device::flex())
    }
}

/// True for Burn's Flex (CPU) backend, with or without autodiff: the devices our
/// own kernels (`nn::fast_conv`, `nn::bn_silu`) run on.
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
}
