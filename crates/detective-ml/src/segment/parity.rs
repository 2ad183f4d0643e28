//! One training batch of the segmenter written out for a side-by-side check against
//! the PyTorch reference (`scripts/seg-parity.py`, issue 23): the first `batch`
//! images of a split as the validation path sees them (decoded, resized to
//! `imgsz`, no augmentation) with their masks, a fresh UNetTiny's weights, and
//! what our code computes from them — train-mode logits, BCE and soft Dice (over
//! the batch, the reference's loss), every parameter's gradient, the batch-norm
//! running statistics after that step, and eval-mode logits with them.
//!
//! The reference's transposed convolution has one bias per output channel where our
//! 1×1 convolution + depth-to-space has one per channel and offset, so those four
//! biases start equal here (the reference's gradient is then their sum).
//!
//! Files in `out`: `parity.json` (the figures, the image paths, and each tensor's
//! name, shape and offset) and `tensors.f32` (every tensor, little-endian `f32`,
//! one after another).

use std::io::Write;
use std::path::Path;

use burn::tensor::{Device, Tensor, TensorData};
use detective_data::YoloDataset;
use detective_vision::DecodeLimits;
use detective_vision::augment::resize_pair;
use detective_vision::preprocess::{Normalize, to_chw_into};
use serde::Serialize;

use super::classes::push_targets;
use super::loader::{load_labelled, seg_samples};
use super::loss::{DiceScope, weighted_segmentation_loss};
use super::model::{UNET_DIVISOR, UNetConfig, UNetTiny};
use crate::export::onnx::host;
use crate::train::error::{TrainError, io_err};
use crate::train::optimizer::gradients;
use crate::train::params::{read_params, write_params};

/// Most images one parity batch may hold (it is one step, in memory).
pub const MAX_PARITY_BATCH: usize = 64;

/// A tensor in `tensors.f32`.
#[derive(Debug, Clone, Serialize)]
pub struct DumpedTensor {
    pub name: String,
    pub shape: Vec<usize>,
    /// Offset in `f32`s from the start of the file.
    pub offset: usize,
}

/// What `parity.json` holds.
#[derive(Debug, Clone, Serialize)]
pub struct ParityDump {
    pub imgsz: u32,
    pub split: String,
    pub images: Vec<String>,
    pub masks: Vec<Option<String>>,
    /// Mean BCE over the pixels, and `1 − soft Dice` over the batch (smooth 1).
    pub bce: f32,
    pub dice: f32,
    pub batch_norm_momentum: f64,
    pub batch_norm_epsilon: f64,
    pub tensors: Vec<DumpedTensor>,
}

struct TensorFile {
    path: std::path::PathBuf,
    file: std::io::BufWriter<std::fs::File>,
    written: usize,
    index: Vec<DumpedTensor>,
}

impl TensorFile {
    fn push(&mut self, name: impl Into<String>, shape: &[usize], values: &[f32]) -> Result<(), TrainError> {
        let name = name.into();
        if shape.iter().product::<usize>() != values.len() {
            return Err(TrainError::Io(format!(
                "parity: {name} has {} values for shape {shape:?}",
                values.len()
            )));
        }
        for v in values {
            self.file
                .write_all(&v.to_le_bytes())
                .map_err(|e| io_err(&self.path, e))?;
        }
        self.index.push(DumpedTensor {
            name,
            shape: shape.to_vec(),
            offset: self.written,
        });
        self.written += values.len();
        Ok(())
    }
}

/// Writes the parity batch of `data`'s `split` into `out` (created if needed).
pub fn write_parity_batch(
    data: &Path,
    split: &str,
    imgsz: u32,
    batch: usize,
    seed: u64,
    device: &Device,
    out: &Path,
) -> Result<ParityDump, TrainError> {
    if imgsz == 0 || !(imgsz as usize).is_multiple_of(UNET_DIVISOR) {
        return Err(TrainError::Args(format!(
            "--imgsz must be a positive multiple of {UNET_DIVISOR}"
        )));
    }
    if !(1..=MAX_PARITY_BATCH).contains(&batch) {
        return Err(TrainError::Args(format!("--batch must be 1..={MAX_PARITY_BATCH}")));
    }
    let dataset = YoloDataset::load(data)?;
    let samples: Vec<_> = seg_samples(&dataset, split).into_iter().take(batch).collect();
    if samples.is_empty() {
        return Err(TrainError::Args(format!("the {split} split has no images")));
    }
    let (n, s) = (samples.len(), imgsz as usize);
    let limits = DecodeLimits::default();
    let (mut images, mut masks) = (Vec::with_capacity(n * 3 * s * s), Vec::with_capacity(n * s * s));
    for sample in &samples {
        let (frame, mask) = load_labelled(sample, None, &limits)?;
        let (frame, mask) = resize_pair(&frame, &mask, imgsz)
            .map_err(|e| TrainError::Io(format!("{}: {e}", sample.image.display())))?;
        to_chw_into(&frame, &Normalize::default(), &mut images);
        push_targets(&mask, 1, &mut masks);
    }

    let ad = device.clone().autodiff();
    ad.seed(seed);
    let model = tie_up_biases(UNetTiny::new(&UNetConfig::default(), &ad), &ad);
    let (infos, before) = read_params(&model);

    std::fs::create_dir_all(out).map_err(|e| io_err(out, e))?;
    let path = out.join("tensors.f32");
    let f = std::fs::File::create(&path).map_err(|e| io_err(&path, e))?;
    let mut file = TensorFile {
        path,
        file: std::io::BufWriter::new(f),
        written: 0,
        index: Vec::new(),
    };
    file.push("images", &[n, 3, s, s], &images)?;
    file.push("masks", &[n, 1, s, s], &masks)?;
    for (info, v) in infos.iter().zip(&before) {
        file.push(format!("param:{}", info.path), &info.shape, v)?;
    }

    let x = Tensor::<1>::from_data(TensorData::new(images, [n * 3 * s * s]), &ad).reshape([n, 3, s, s]);
    let y = Tensor::<1>::from_data(TensorData::new(masks, [n * s * s]), &ad).reshape([n, 1, s, s]);
    let logits = model.forward(x.clone());
    file.push("logits_train", &[n, 1, s, s], &host(logits.clone().detach())?)?;
    let (loss, items) = weighted_segmentation_loss(logits, y, DiceScope::Batch, 1.0);
    let grads = gradients(loss, &model);
    for (info, g) in infos.iter().zip(&grads) {
        if let Some(g) = g {
            file.push(format!("grad:{}", info.path), &info.shape, g)?;
        }
    }
    // the running statistics after this one training-mode forward, and the
    // eval-mode logits that use them
    let (_, after) = read_params(&model);
    for (info, v) in infos.iter().zip(&after) {
        if info.path.ends_with("running_mean") || info.path.ends_with("running_var") {
            file.push(format!("after:{}", info.path), &info.shape, v)?;
        }
    }
    let eval = write_params(UNetTiny::new(&UNetConfig::default(), device), &after, device);
    let x_eval = Tensor::<4>::from_data(x.into_data(), device);
    file.push("logits_eval", &[n, 1, s, s], &host(eval.forward(x_eval))?)?;
    file.file.flush().map_err(|e| io_err(&file.path, e))?;

    let bn = &model.enc[0].a.bn;
    let dump = ParityDump {
        imgsz,
        split: split.to_string(),
        images: samples.iter().map(|p| p.image.display().to_string()).collect(),
        masks: samples
            .iter()
            .map(|p| p.mask.as_ref().map(|m| m.display().to_string()))
            .collect(),
        bce: items.bce,
        dice: items.dice,
        batch_norm_momentum: bn.momentum,
        batch_norm_epsilon: bn.epsilon,
        tensors: file.index,
    };
    let json = serde_json::to_vec_pretty(&dump).map_err(|e| TrainError::Io(e.to_string()))?;
    let json_path = out.join("parity.json");
    std::fs::write(&json_path, json).map_err(|e| io_err(&json_path, e))?;
    Ok(dump)
}

/// `model` with each up-convolution's four biases per output channel (one per
/// offset of the 2×2 window) set to the first of them.
fn tie_up_biases(model: UNetTiny, device: &Device) -> UNetTiny {
    let (infos, mut values) = read_params(&model);
    for (info, v) in infos.iter().zip(values.iter_mut()) {
        if info.path.starts_with("up.") && info.path.ends_with("bias") {
            for group in v.chunks_mut(4) {
                let first = group[0];
                group.fill(first);
            }
        }
    }
    write_params(model, &values, device)
}

#[cfg(test)]
mod tests {
    use super::*;
    use detective_vision::Frame;

    fn tiny_set(dir: &Path) {
        for sub in ["images/train", "labels/train", "masks/train"] {
            std::fs::create_dir_all(dir.join(sub)).unwrap();
        }
        std::fs::write(
            dir.join("data.yaml"),
            "path: .\ntrain: images/train\nnames: ['defect']\n",
        )
        .unwrap();
        for i in 0..3u8 {
            let rgb: Vec<u8> = (0..40 * 24 * 3).map(|k| (k as u8).wrapping_mul(i + 1)).collect();
            let f = Frame::from_rgb(40, 24, rgb).unwrap();
            let png = detective_vision::encode::encode_png(&f).unwrap();
            std::fs::write(dir.join(format!("images/train/p{i}.png")), png).unwrap();
            std::fs::write(dir.join(format!("labels/train/p{i}.txt")), "").unwrap();
        }
        let mut m = vec![0u8; 40 * 24 * 3];
        m[(10 * 40 + 5) * 3..(10 * 40 + 15) * 3].fill(255);
        let f = Frame::from_rgb(40, 24, m).unwrap();
        std::fs::write(
            dir.join("masks/train/p1.png"),
            detective_vision::encode::encode_png(&f).unwrap(),
        )
        .unwrap();
    }

    #[test]
    fn the_parity_batch_holds_every_tensor_the_reference_needs() {
        let _serial = crate::burn_test_lock();
        let dir = tempfile::tempdir().unwrap();
        tiny_set(dir.path());
        let out = dir.path().join("parity");
        let d = write_parity_batch(dir.path(), "train", 32, 8, 1, &Device::flex(), &out).unwrap();
        assert_eq!(d.images.len(), 3);
        assert_eq!(d.masks.iter().filter(|m| m.is_some()).count(), 1);
        assert!(
            d.bce.is_finite() && d.dice > 0.0 && d.dice < 1.0,
            "{} {}",
            d.bce,
            d.dice
        );
        let names: Vec<&str> = d.tensors.iter().map(|t| t.name.as_str()).collect();
        for want in [
            "images",
            "masks",
            "logits_train",
            "logits_eval",
            "param:head.weight",
            "grad:head.weight",
        ] {
            assert!(names.contains(&want), "{want} missing from {names:?}");
        }
        assert!(
            names
                .iter()
                .any(|n| n.starts_with("after:") && n.ends_with("running_var"))
        );
        // the file holds exactly the tensors listed, and the mask's defect is there
        let bytes = std::fs::read(out.join("tensors.f32")).unwrap();
        let last = d.tensors.last().unwrap();
        assert_eq!(bytes.len(), 4 * (last.offset + last.shape.iter().product::<usize>()));
        let masks = &d.tensors[1];
        let at = |k: usize| f32::from_le_bytes(bytes[4 * k..4 * k + 4].try_into().unwrap());
        let marked = (0..3 * 32 * 32).filter(|&k| at(masks.offset + k) == 1.0).count();
        assert!(marked > 0, "no defect pixel in the dumped masks");
        // the up-convolutions' biases are tied in fours
        let bias = d.tensors.iter().find(|t| t.name == "param:up.0.conv.bias").unwrap();
        for g in 0..bias.shape[0] / 4 {
            let first = at(bias.offset + 4 * g);
            assert!((1..4).all(|k| at(bias.offset + 4 * g + k) == first));
        }
        // bad sizes are refused before anything is read
        assert!(write_parity_batch(dir.path(), "train", 30, 8, 1, &Device::flex(), &out).is_err());
        assert!(write_parity_batch(dir.path(), "train", 32, 0, 1, &Device::flex(), &out).is_err());
        assert!(write_parity_batch(dir.path(), "val", 32, 8, 1, &Device::flex(), &out).is_err());
    }
}
