//! Our detector on Burn's CPU backend (`flex`): the fallback engine when ONNX
//! Runtime is not available, and the engine of validation during training.

use std::path::Path;
use std::sync::Mutex;

use burn::tensor::{Device, Tensor, TensorData};

use super::engine::Engine;
use super::model::YoloV8;
use crate::MlError;
use crate::checkpoint::{ModelMeta, load_model};

pub struct BurnEngine {
    model: Mutex<YoloV8>,
    device: Device,
    pub meta: ModelMeta,
}

impl BurnEngine {
    /// Loads a checkpoint (`.bpk` + `.json`) onto the process's inference device.
    pub fn load(path: &Path) -> Result<BurnEngine, MlError> {
        let device = crate::runtime::device::inference_device().burn_device()?;
        let (model, meta) = load_model(path, &device)?;
        Ok(BurnEngine {
            model: Mutex::new(model),
            device,
            meta,
        })
    }

    /// Wraps a model already in memory (on a non-autodiff device).
    pub fn from_model(model: YoloV8, meta: ModelMeta, device: Device) -> BurnEngine {
        BurnEngine {
            model: Mutex::new(model),
            device,
            meta,
        }
    }

    /// Runs a batch `[B, 3, S, S]`; returns `[B, 4 + nc, A]` values and `A`.
    pub fn infer_batch(&self, input: Vec<f32>, batch: usize) -> Result<(Vec<f32>, usize), MlError> {
        let s = self.meta.imgsz as usize;
        if input.len() != batch * 3 * s * s {
            return Err(MlError::InvalidArgument(format!(
                "input has {} values, expected {batch}×3×{s}×{s}",
                input.len()
            )));
        }
        let x =
            Tensor::<1>::from_data(TensorData::new(input, [batch * 3 * s * s]), &self.device).reshape([batch, 3, s, s]);
        let model = self
            .model
            .lock()
            .map_err(|_| MlError::Inference("model lock poisoned".into()))?;
        let y = model.forward(x);
        let [_, _, a] = y.dims();
        let data = y
            .into_data()
            .convert::<f32>()
            .try_into_vec::<f32>()
            .map_err(|e| MlError::Inference(format!("{e:?}")))?;
        Ok((data, a))
    }
}

impl Engine for BurnEngine {
    fn imgsz(&self) -> u32 {
        self.meta.imgsz
    }

    fn infer(&self, input: Vec<f32>) -> Result<(Vec<i64>, Vec<f32>), MlError> {
        let (data, a) = self.infer_batch(input, 1)?;
        Ok((vec![1, (4 + self.meta.num_classes) as i64, a as i64], data))
    }
}
