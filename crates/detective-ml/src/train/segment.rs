//! `detective train --task segment`: the epoch loop of the segmenter (UNetTiny).
//!
//! It shares the detector's machinery — the dataset layout and reader, the
//! optimiser (AdamW with the three parameter groups), gradient clipping, the
//! parameter read/write helpers, the checkpoint format (burnpack + JSON) and the
//! run folder (`args.yaml`, `results.csv`, `weights/`) — and differs where the task
//! does: masks from `masks/{split}/` (binary PNG, same stem as the image; no mask
//! file = a defect-free part), paired augmentation, BCE + soft Dice, Dice/IoU
//! validation, and a checkpoint per epoch (`weights/epoch_{N}.*`, so epochs can be
//! compared side by side) as well as `last` and `best` (by per-image Dice).
//!
//! With `classes` (`--classes`) the head has one logit map per dataset class; the
//! targets of each class are the mask's pixels that the image's YOLO boxes give
//! that class ([`super::seg_classes`]), and validation adds Dice/IoU per class.
//!
//! Batches are decoded and augmented on a worker thread and handed over through a
//! bounded channel, so the trainer does not wait on image decoding and memory stays
//! bounded. Learning rate: linear warm-up over `warmup_epochs`, then linear decay
//! to `lr0 · lrf`. Ctrl-C (the `stop` flag) ends the run after the current batch,
//! saving `weights/last.*`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, sync_channel};
use std::time::Instant;

use burn::optim::GradientsParams;
use burn::tensor::activation::sigmoid;
use burn::tensor::{Device, Tensor, TensorData};
use detective_core::Rng;
use detective_data::{YoloDataset, YoloLabel, mask_path_for};
use detective_vision::augment::{SegAugmentParams, augment_pair, sample_patch};
use detective_vision::preprocess::{Normalize, resize_like_opencv, to_chw, to_chw_into};
use detective_vision::{DecodeLimits, Frame, GrayFrame, decode_file};
use serde::{Deserialize, Serialize};

use super::ema::Ema;
use super::optimizer::{Optimizer, OptimizerKind, clip_global_norm, take_grads};
use super::params::{read_params, write_params};
use super::seg_classes::{MAX_SEG_CLASSES, binary_map, class_map, push_targets};
use super::trainer::TrainError;
use crate::checkpoint::{SegMeta, save_segmenter};
use crate::metrics::{ClassSegScores, SegEvaluator, SegMetrics};
use crate::unet::{DiceScope, SegLossItems, UNET_DIVISOR, UNetConfig, UNetTiny, segmentation_loss};

/// Settings of a segmentation run (saved as `args.yaml`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SegTrainArgs {
    pub data: PathBuf,
    pub out: PathBuf,
    /// Start from this segmenter checkpoint (fine-tuning, or training longer).
    #[serde(default)]
    pub weights: Option<PathBuf>,
    pub epochs: usize,
    /// Square training size, a multiple of 16.
    pub imgsz: u32,
    pub batch: usize,
    pub lr0: f32,
    /// Final learning rate as a fraction of `lr0`.
    pub lrf: f32,
    pub weight_decay: f32,
    pub warmup_epochs: f32,
    pub seed: u64,
    /// Threshold of the validation metrics (and saved with the model).
    pub threshold: f32,
    pub val: bool,
    /// Stop when the validation Dice has not improved for this many epochs.
    pub patience: usize,
    pub fliplr: f32,
    pub flipud: f32,
    pub rot90: bool,
    pub brightness: f32,
    pub contrast: f32,
    pub crop_min: f32,
    /// One output per dataset class instead of one defect map; a pixel's class
    /// comes from the image's YOLO boxes.
    #[serde(default)]
    pub classes: bool,
    /// Train on `patch × patch` windows of the augmented `imgsz` images (0: the
    /// whole image). Validation and prediction still see whole images.
    #[serde(default)]
    pub patch: u32,
    /// With `patch`: the probability that a window is centred on a defect pixel.
    #[serde(default = "default_patch_defect")]
    pub patch_defect: f32,
    /// What the soft Dice loss sums over: the batch, or each image (`--dice`).
    /// Runs saved before the setting existed used the batch.
    #[serde(default)]
    pub dice: DiceScope,
    /// Validate and save an exponential moving average of the weights (window of
    /// about two epochs) instead of the latest weights. Runs saved before the
    /// setting existed did not.
    #[serde(default)]
    pub ema: bool,
}

fn default_patch_defect() -> f32 {
    0.5
}

impl Default for SegTrainArgs {
    fn default() -> Self {
        let aug = SegAugmentParams::default();
        SegTrainArgs {
            data: PathBuf::new(),
            out: PathBuf::from("runs/segment/train"),
            weights: None,
            epochs: 50,
            imgsz: 256,
            batch: 8,
            lr0: 1e-3,
            lrf: 0.01,
            weight_decay: 1e-4,
            warmup_epochs: 1.0,
            seed: 0,
            threshold: 0.5,
            val: true,
            patience: 100,
            fliplr: aug.fliplr,
            flipud: aug.flipud,
            rot90: aug.rot90,
            brightness: aug.brightness,
            contrast: aug.contrast,
            crop_min: aug.crop_min,
            classes: false,
            patch: 0,
            patch_defect: default_patch_defect(),
            dice: DiceScope::Image,
            ema: true,
        }
    }
}

impl SegTrainArgs {
    /// The side of the training inputs: `patch`, or `imgsz` without patches.
    pub fn train_side(&self) -> u32 {
        if self.patch > 0 { self.patch } else { self.imgsz }
    }

    pub fn augment(&self) -> SegAugmentParams {
        SegAugmentParams {
            fliplr: self.fliplr,
            flipud: self.flipud,
            rot90: self.rot90,
            brightness: self.brightness,
            contrast: self.contrast,
            crop_min: self.crop_min,
        }
    }

    pub fn validate(&self) -> Result<(), String> {
        let mut bad = Vec::new();
        if !(1..=100_000).contains(&self.epochs) {
            bad.push(format!("epochs {} must be within 1..=100000", self.epochs));
        }
        if self.imgsz < 32 || self.imgsz > 2048 || !(self.imgsz as usize).is_multiple_of(UNET_DIVISOR) {
            bad.push(format!(
                "imgsz {} must be a multiple of {UNET_DIVISOR} within 32..=2048",
                self.imgsz
            ));
        }
        if !(1..=512).contains(&self.batch) {
            bad.push(format!("batch {} must be within 1..=512", self.batch));
        }
        if !(self.lr0 > 0.0 && self.lr0 <= 1.0) {
            bad.push(format!("lr0 {} must be within (0, 1]", self.lr0));
        }
        if !(self.lrf > 0.0 && self.lrf <= 1.0) {
            bad.push(format!("lrf {} must be within (0, 1]", self.lrf));
        }
        if !(0.0..=1.0).contains(&self.weight_decay) {
            bad.push(format!("weight decay {} must be within 0..=1", self.weight_decay));
        }
        if !(0.0..=100.0).contains(&self.warmup_epochs) {
            bad.push(format!("warmup epochs {} must be within 0..=100", self.warmup_epochs));
        }
        if self.patch != 0
            && (self.patch < 32 || self.patch > self.imgsz || !(self.patch as usize).is_multiple_of(UNET_DIVISOR))
        {
            bad.push(format!(
                "patch {} must be 0 (whole images) or a multiple of {UNET_DIVISOR} within 32..=imgsz ({})",
                self.patch, self.imgsz
            ));
        }
        if !(0.0..=1.0).contains(&self.patch_defect) {
            bad.push(format!(
                "patch-defect {} must be a probability within 0..=1",
                self.patch_defect
            ));
        }
        if !(self.threshold > 0.0 && self.threshold < 1.0) {
            bad.push(format!("threshold {} must be within (0, 1)", self.threshold));
        }
        if let Err(e) = self.augment().validate() {
            bad.push(e.to_string());
        }
        if bad.is_empty() { Ok(()) } else { Err(bad.join("; ")) }
    }
}

/// One row of `results.csv`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SegResultsRow {
    pub epoch: usize,
    pub time: f64,
    pub train: SegLossItems,
    /// Zero when validation is off.
    pub dice: f64,
    pub iou: f64,
    pub dice_pixels: f64,
    pub iou_pixels: f64,
    pub best_threshold: f32,
    pub best_dice: f64,
    pub lr: f32,
    /// A per-class model: Dice over pixels of each class (empty otherwise).
    pub class_dice_pixels: Vec<f64>,
}

/// Header of `results.csv` (a single defect map).
pub const SEG_RESULTS_HEADER: &str = "epoch,time,train/bce_loss,train/dice_loss,metrics/dice,metrics/iou,metrics/dice_pixels,metrics/iou_pixels,metrics/best_threshold,metrics/best_dice,lr/pg0";

/// Header of `results.csv` for a model whose outputs are `names`: a per-class
/// model adds a `metrics/dice_pixels(NAME)` column per class.
pub fn seg_results_header(names: &[String]) -> String {
    let mut h = SEG_RESULTS_HEADER.to_string();
    if names.len() > 1 {
        for n in names {
            h.push_str(&format!(",metrics/dice_pixels({})", n.replace([',', '\n', '\r'], " ")));
        }
    }
    h
}

impl SegResultsRow {
    pub fn csv(&self) -> String {
        let mut line = format!(
            "{},{:.3},{:.5},{:.5},{:.5},{:.5},{:.5},{:.5},{:.2},{:.5},{:.8}",
            self.epoch,
            self.time,
            self.train.bce,
            self.train.dice,
            self.dice,
            self.iou,
            self.dice_pixels,
            self.iou_pixels,
            self.best_threshold,
            self.best_dice,
            self.lr
        );
        for d in &self.class_dice_pixels {
            line.push_str(&format!(",{d:.5}"));
        }
        line
    }
}

/// What the segmentation trainer reports while it runs.
#[derive(Debug, Clone)]
pub enum SegTrainEvent {
    Started {
        epochs: usize,
        batches: usize,
        images: usize,
        val_images: usize,
        params: usize,
        /// What the output maps mark: `["defect"]`, or the classes.
        outputs: Vec<String>,
    },
    Batch {
        epoch: usize,
        batch: usize,
        batches: usize,
        /// Running means of the epoch so far.
        loss: SegLossItems,
        images_per_sec: f64,
    },
    Validating {
        epoch: usize,
    },
    EpochEnd {
        row: SegResultsRow,
        validated: bool,
        improved: bool,
        train_images_per_sec: f64,
    },
    Stopped {
        epoch: usize,
    },
    Finished {
        best: PathBuf,
        last: PathBuf,
    },
}

/// The result of a run.
#[derive(Debug, Clone)]
pub struct SegTrainSummary {
    pub out: PathBuf,
    pub best: PathBuf,
    pub last: PathBuf,
    pub epochs_done: usize,
    pub stopped: bool,
    pub final_val: Option<SegMetrics>,
}

/// An image, its mask file (None: a defect-free part) and its YOLO boxes (which
/// give the defect pixels their classes with `--classes`).
#[derive(Debug, Clone, PartialEq)]
pub struct SegSample {
    pub image: PathBuf,
    pub mask: Option<PathBuf>,
    pub boxes: Vec<YoloLabel>,
}

/// The images of `split` with their masks.
pub fn seg_samples(ds: &YoloDataset, split: &str) -> Vec<SegSample> {
    ds.split(split)
        .map(|s| {
            s.samples
                .iter()
                .map(|s| {
                    let m = mask_path_for(&s.image);
                    SegSample {
                        image: s.image.clone(),
                        mask: m.is_file().then_some(m),
                        boxes: s.labels.clone(),
                    }
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Decodes an image and its mask (mask pixels ≥ 128 are defects); a missing mask
/// is an empty one. The mask must have the image's size.
pub fn load_pair(sample: &SegSample, limits: &DecodeLimits) -> Result<(Frame, GrayFrame), TrainError> {
    let frame =
        decode_file(&sample.image, limits).map_err(|e| TrainError::Io(format!("{}: {e}", sample.image.display())))?;
    let mask = match &sample.mask {
        None => GrayFrame::new(frame.width(), frame.height()),
        Some(p) => {
            let m = decode_file(p, limits).map_err(|e| TrainError::Io(format!("{}: {e}", p.display())))?;
            if (m.width(), m.height()) != (frame.width(), frame.height()) {
                return Err(TrainError::Io(format!(
                    "mask {} is {}×{} but its image is {}×{}",
                    p.display(),
                    m.width(),
                    m.height(),
                    frame.width(),
                    frame.height()
                )));
            }
            let data = m
                .as_rgb()
                .chunks_exact(3)
                .map(|px| if px[0].max(px[1]).max(px[2]) >= 128 { 255 } else { 0 })
                .collect();
            GrayFrame {
                width: m.width(),
                height: m.height(),
                data,
            }
        }
    };
    Ok((frame, mask))
}

/// An image and its label map (0: background, `c + 1`: class `c`). `per_class`
/// `Some(nc)` reads the classes from the image's boxes ([`class_map`]); `None`
/// makes every defect pixel class 0.
pub fn load_labelled(
    sample: &SegSample,
    per_class: Option<usize>,
    limits: &DecodeLimits,
) -> Result<(Frame, GrayFrame), TrainError> {
    let (frame, mask) = load_pair(sample, limits)?;
    let map = match per_class {
        None => binary_map(&mask),
        Some(nc) => class_map(&mask, &sample.boxes, nc).map_err(|e| io_err(&sample.image, e))?,
    };
    Ok((frame, map))
}

/// Checks before a per-class run that every image's boxes fit the `nc` classes and
/// that every defect mask has a box to take its class from (only the masks of
/// images without boxes are decoded).
pub fn check_class_labels(samples: &[SegSample], nc: usize) -> Result<(), TrainError> {
    let limits = DecodeLimits::default();
    for s in samples {
        if let Some(b) = s.boxes.iter().find(|b| b.class as usize >= nc) {
            return Err(TrainError::Args(format!(
                "{}: a label has class {} but the dataset has {nc} classes",
                s.image.display(),
                b.class
            )));
        }
        if s.mask.is_some() && s.boxes.is_empty() {
            let (_, mask) = load_pair(s, &limits)?;
            if mask.data.iter().any(|&v| v >= 128) {
                return Err(TrainError::Args(format!(
                    "{}: the mask marks defects but the image has no labelled box (labels/…/{}.txt) to give them \
                     a class; --classes needs one",
                    s.image.display(),
                    s.image.file_stem().map(|n| n.to_string_lossy()).unwrap_or_default()
                )));
            }
        }
    }
    Ok(())
}

/// A batch ready for the network.
struct SegBatch {
    n: usize,
    /// `[n, 3, s, s]`, 0..1 (`s`: the training side, imgsz or patch).
    images: Vec<f32>,
    /// `[n, classes, s, s]`, 0 or 1.
    masks: Vec<f32>,
}

/// Starts the worker that decodes and augments the batches of one epoch.
fn epoch_batches(
    samples: Arc<Vec<SegSample>>,
    args: &SegTrainArgs,
    per_class: Option<usize>,
    epoch: usize,
) -> Receiver<Result<SegBatch, TrainError>> {
    let (tx, rx) = sync_channel(2);
    let (size, batch, seed, aug) = (args.imgsz, args.batch, args.seed, args.augment());
    let (patch, patch_defect) = (args.patch, args.patch_defect);
    let side = args.train_side() as usize;
    let outputs = per_class.unwrap_or(1);
    std::thread::spawn(move || {
        let mut order: Vec<usize> = (0..samples.len()).collect();
        let mut rng = Rng::derive(seed, 0x5e9_0000 + epoch as u64);
        for i in (1..order.len()).rev() {
            order.swap(i, rng.range_usize(0, i + 1));
        }
        let limits = DecodeLimits::default();
        for chunk in order.chunks(batch) {
            let mut b = SegBatch {
                n: chunk.len(),
                images: Vec::with_capacity(chunk.len() * 3 * side * side),
                masks: Vec::with_capacity(chunk.len() * outputs * side * side),
            };
            let mut failed = None;
            for &i in chunk {
                let mut rng = Rng::derive(seed ^ ((epoch as u64) << 32), i as u64);
                match load_labelled(&samples[i], per_class, &limits).and_then(|(f, m)| {
                    augment_pair(&f, &m, size, &aug, &mut rng)
                        .and_then(|(f, m)| match patch {
                            0 => Ok((f, m)),
                            p => sample_patch(&f, &m, p, patch_defect, &mut rng),
                        })
                        .map_err(|e| TrainError::Io(format!("{}: {e}", samples[i].image.display())))
                }) {
                    Ok((f, m)) => {
                        to_chw_into(&f, &Normalize::default(), &mut b.images);
                        push_targets(&m, outputs, &mut b.masks);
                    }
                    Err(e) => {
                        failed = Some(e);
                        break;
                    }
                }
            }
            let msg = match failed {
                Some(e) => Err(e),
                None => Ok(b),
            };
            if tx.send(msg).is_err() {
                return;
            }
        }
    });
    rx
}

/// Bilinear resize of a probability map (half-pixel centres, edges clamped).
pub fn resize_map(map: &[f32], w: usize, h: usize, dw: usize, dh: usize) -> Vec<f32> {
    if (w, h) == (dw, dh) {
        return map.to_vec();
    }
    let taps = |src: usize, dst: usize| -> Vec<(usize, usize, f32)> {
        (0..dst)
            .map(|d| {
                let f = ((d as f32 + 0.5) * src as f32 / dst as f32 - 0.5).max(0.0);
                let i0 = (f as usize).min(src - 1);
                let i1 = (i0 + 1).min(src - 1);
                (i0, i1, f - i0 as f32)
            })
            .collect()
    };
    let (xt, yt) = (taps(w, dw), taps(h, dh));
    let mut out = Vec::with_capacity(dw * dh);
    for &(y0, y1, fy) in &yt {
        let (r0, r1) = (&map[y0 * w..(y0 + 1) * w], &map[y1 * w..(y1 + 1) * w]);
        for &(x0, x1, fx) in &xt {
            let top = r0[x0] + (r0[x1] - r0[x0]) * fx;
            let bottom = r1[x0] + (r1[x1] - r1[x0]) * fx;
            out.push(top + (bottom - top) * fy);
        }
    }
    out
}

/// Probability maps of each output (the defect map, or one per class) of a model's
/// `[C, S, S]` output, each resized to `w × h`.
pub fn split_maps(probs: &[f32], s: usize, w: usize, h: usize) -> Vec<Vec<f32>> {
    probs.chunks_exact(s * s).map(|m| resize_map(m, s, s, w, h)).collect()
}

/// The pixel-wise maximum of the maps: the probability that a pixel is a defect
/// of any class.
pub fn max_map(maps: &[Vec<f32>]) -> Vec<f32> {
    let mut out = maps.first().cloned().unwrap_or_default();
    for m in maps.iter().skip(1) {
        for (o, &v) in out.iter_mut().zip(m) {
            *o = o.max(v);
        }
    }
    out
}

/// The probability maps of every output (one, or one per class) of `model` on
/// `frame`, at the frame's own resolution: the frame is resized to
/// `imgsz × imgsz`, run, and each map resized back.
pub fn predict_class_probs(
    model: &UNetTiny,
    frame: &Frame,
    imgsz: u32,
    device: &Device,
) -> Result<Vec<Vec<f32>>, TrainError> {
    let s = imgsz as usize;
    let resized = resize_like_opencv(frame, imgsz, imgsz).map_err(|e| TrainError::Io(e.to_string()))?;
    let x = to_chw(&resized, &Normalize::default());
    let input = Tensor::<1>::from_data(TensorData::new(x, [3 * s * s]), device).reshape([1, 3, s, s]);
    let probs: Vec<f32> = sigmoid(model.forward(input))
        .into_data()
        .try_into_vec::<f32>()
        .map_err(|e| TrainError::Io(format!("{e:?}")))?;
    Ok(split_maps(&probs, s, frame.width() as usize, frame.height() as usize))
}

/// Dice/IoU of `model` (whose outputs are `names`) on `samples` at the images'
/// own resolution.
pub fn validate_segmenter(
    model: &UNetTiny,
    names: &[String],
    samples: &[SegSample],
    imgsz: u32,
    threshold: f32,
    device: &Device,
) -> Result<SegMetrics, TrainError> {
    validate_with(samples, names, threshold, |frame| {
        predict_class_probs(model, frame, imgsz, device)
    })
}

/// Dice/IoU on `samples` of any segmenter whose outputs are `names`: `maps` gives
/// a frame's probability maps (one per output) at the frame's own size. The
/// headline scores compare the defect map (with several outputs: their
/// pixel-wise maximum) with the mask; a per-class model adds each class's map
/// against the pixels the boxes give that class.
pub fn validate_with(
    samples: &[SegSample],
    names: &[String],
    threshold: f32,
    mut maps: impl FnMut(&Frame) -> Result<Vec<Vec<f32>>, TrainError>,
) -> Result<SegMetrics, TrainError> {
    let limits = DecodeLimits::default();
    let nc = names.len().max(1);
    let per_class = nc > 1;
    let mut eval = SegEvaluator::new(threshold);
    let mut class_evals = vec![SegEvaluator::new(threshold); if per_class { nc } else { 0 }];
    for s in samples {
        let (frame, mask) = load_pair(s, &limits)?;
        let m = maps(&frame)?;
        if m.len() != nc || m.iter().any(|p| p.len() != mask.data.len()) {
            return Err(TrainError::Io(format!(
                "{}: the model gave {} maps of {} values for {nc} outputs of {} pixels",
                s.image.display(),
                m.len(),
                m.first().map_or(0, |p| p.len()),
                mask.data.len()
            )));
        }
        let truth: Vec<bool> = mask.data.iter().map(|&v| v >= 128).collect();
        eval.add_image(&max_map(&m), &truth);
        if per_class {
            let labels = class_map(&mask, &s.boxes, nc).map_err(|e| io_err(&s.image, e))?;
            for (c, (e, p)) in class_evals.iter_mut().zip(&m).enumerate() {
                let v = (c + 1) as u8;
                let truth: Vec<bool> = labels.data.iter().map(|&l| l == v).collect();
                e.add_image(p, &truth);
            }
        }
    }
    let mut out = eval.finish();
    out.per_class = class_evals
        .iter()
        .zip(names)
        .enumerate()
        .map(|(c, (e, name))| ClassSegScores::from_metrics(c, name, &e.finish()))
        .collect();
    Ok(out)
}

fn io_err(path: &Path, e: impl std::fmt::Display) -> TrainError {
    TrainError::Io(format!("{}: {e}", path.display()))
}

/// Trains a UNetTiny as `args` say.
/// Where a segmentation run keeps its resumable state.
pub fn seg_state_path(out: &Path) -> PathBuf {
    out.join("weights").join("last.segstate")
}

/// The counters of a segmentation run at an epoch boundary (`weights/last.segstate`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SegRunState {
    pub args: SegTrainArgs,
    /// The epoch to run next (0-based); optimiser steps taken so far.
    pub epoch: usize,
    pub step: usize,
    pub best_dice: Option<f64>,
    pub best_epoch: usize,
    pub optimizer: Optimizer,
    pub elapsed_secs: f64,
    /// The weight average's counters (its values are in the tensors' `ema` section).
    #[serde(default)]
    pub ema: Option<Ema>,
    pub lengths: Vec<usize>,
    pub sections: Vec<String>,
}

/// The segmenter's weight average: Ultralytics' `ModelEMA` form, with the decay
/// sized to the run (a window of about two epochs, reached after the first epoch)
/// rather than their 0.9999 / 2000 updates, which on a few hundred images an epoch
/// would barely average anything within a run.
pub fn seg_ema(values: Vec<Vec<f32>>, batches_per_epoch: usize) -> Ema {
    let nb = batches_per_epoch.max(1) as f64;
    Ema {
        decay: 1.0 - 1.0 / (2.0 * nb),
        tau: nb,
        updates: 0,
        values,
    }
}

impl super::state::StateHeader for SegRunState {
    fn lengths(&self) -> &[usize] {
        &self.lengths
    }
    fn sections(&self) -> &[String] {
        &self.sections
    }
    fn set_layout(&mut self, lengths: Vec<usize>, sections: Vec<String>) {
        self.lengths = lengths;
        self.sections = sections;
    }
}

/// Trains a segmenter. With `resume`, `args.out` names the run to continue: its
/// state after the last completed epoch is loaded (an interrupted epoch runs
/// again from its start, on the same batches, so the result equals an
/// uninterrupted run) and `args.epochs`, when larger, extends it.
pub fn train_segmenter(
    args: SegTrainArgs,
    observer: &mut dyn FnMut(&SegTrainEvent),
    stop: Arc<AtomicBool>,
    resume: bool,
) -> Result<SegTrainSummary, TrainError> {
    let resumed: Option<(SegRunState, super::state::RunTensors)> = if resume {
        let path = seg_state_path(&args.out);
        if !path.is_file() {
            return Err(TrainError::Resume(format!(
                "{} does not exist: nothing to resume in {} (a state is saved after each completed epoch)",
                path.display(),
                args.out.display()
            )));
        }
        Some(super::state::load_state(&path).map_err(TrainError::Resume)?)
    } else {
        None
    };
    // A resumed run keeps its own settings; only a larger epoch count extends it.
    let args = match &resumed {
        Some((st, _)) => SegTrainArgs {
            epochs: args.epochs.max(st.args.epochs),
            ..st.args.clone()
        },
        None => args,
    };
    args.validate().map_err(TrainError::Args)?;
    let weights_dir = args.out.join("weights");
    let results = args.out.join("results.csv");
    if results.exists() && resumed.is_none() {
        return Err(TrainError::Args(format!(
            "{} already holds a run: pass --resume to continue it, or choose another --out",
            args.out.display()
        )));
    }
    let dataset = YoloDataset::load(&args.data)?;
    let train = seg_samples(&dataset, "train");
    if train.is_empty() {
        return Err(TrainError::Args("the train split has no images".into()));
    }
    let with_masks = train.iter().filter(|s| s.mask.is_some()).count();
    if with_masks == 0 {
        return Err(TrainError::Args(format!(
            "no masks found for the train images (expected masks/train/<stem>.png next to images/train/ in {})",
            args.data.display()
        )));
    }
    let val_split = ["val", "test"].into_iter().find(|s| dataset.split(s).is_some());
    let val = match (args.val, val_split) {
        (true, Some(split)) => seg_samples(&dataset, split),
        _ => Vec::new(),
    };
    // the outputs: one defect map, or one map per dataset class
    let names: Vec<String> = if args.classes {
        dataset.names().to_vec()
    } else {
        vec!["defect".to_string()]
    };
    let per_class = args.classes.then_some(names.len());
    if let Some(nc) = per_class {
        if !(1..=MAX_SEG_CLASSES).contains(&nc) {
            return Err(TrainError::Args(format!(
                "--classes: the dataset has {nc} classes; a segmenter has 1..={MAX_SEG_CLASSES}"
            )));
        }
        check_class_labels(&train, nc)?;
        check_class_labels(&val, nc)?;
    }
    std::fs::create_dir_all(&weights_dir).map_err(|e| io_err(&weights_dir, e))?;
    let args_path = args.out.join("args.yaml");
    let yaml = serde_norway::to_string(&args).map_err(|e| io_err(&args_path, e))?;
    std::fs::write(&args_path, yaml).map_err(|e| io_err(&args_path, e))?;
    match &resumed {
        // Keep the rows of the completed epochs only (a row written after the
        // state was saved would otherwise appear twice).
        Some((st, _)) => {
            let text = std::fs::read_to_string(&results).map_err(|e| io_err(&results, e))?;
            let kept: Vec<&str> = text.lines().take(st.epoch + 1).collect();
            std::fs::write(&results, format!("{}\n", kept.join("\n"))).map_err(|e| io_err(&results, e))?;
        }
        None => {
            std::fs::write(&results, format!("{}\n", seg_results_header(&names))).map_err(|e| io_err(&results, e))?
        }
    }

    let device = Device::flex();
    let ad = device.clone().autodiff();
    device.seed(args.seed);
    ad.seed(args.seed);
    let cfg = UNetConfig {
        classes: names.len(),
        ..UNetConfig::default()
    };
    let mut model = UNetTiny::new(&cfg, &ad);
    let (infos, _) = read_params(&model);
    if let Some(w) = args.weights.as_ref().filter(|_| resumed.is_none()) {
        let (pre, _) = crate::checkpoint::load_segmenter(w, &device)?;
        let (pre_infos, values) = read_params(&pre);
        if pre_infos.len() != infos.len() || pre_infos.iter().zip(&infos).any(|(a, b)| a.shape != b.shape) {
            return Err(TrainError::Args(format!(
                "{} is not a UNetTiny of this shape (its outputs: {}; this run's: {})",
                w.display(),
                pre.classes(),
                names.len()
            )));
        }
        model = write_params(model, &values, &ad);
        tracing::info!("starting from the weights of {}", w.display());
    }
    let template = UNetTiny::new(&cfg, &device);
    let mut opt = Optimizer::new(OptimizerKind::AdamW, args.weight_decay);
    let (mut start_epoch, mut step, mut best_dice, mut best_epoch, mut elapsed_before) =
        (0usize, 0usize, None, 0usize, 0.0);
    let nb = train.len().div_ceil(args.batch);
    let mut ema = args.ema.then(|| seg_ema(read_params(&model).1, nb));
    if let Some((st, t)) = resumed {
        if t.model.len() != infos.len() || t.model.iter().zip(&infos).any(|(v, i)| v.len() != i.len()) {
            return Err(TrainError::Resume("the saved state is not of this UNetTiny".into()));
        }
        model = write_params(model, &t.model, &ad);
        opt = st.optimizer;
        opt.m = t.m;
        opt.v = t.v;
        if args.ema {
            let saved = st.ema.filter(|_| t.ema.len() == infos.len()).ok_or_else(|| {
                TrainError::Resume("the saved state has no weight average although the run keeps one".into())
            })?;
            ema = Some(Ema { values: t.ema, ..saved });
        }
        (start_epoch, step, best_dice, best_epoch, elapsed_before) =
            (st.epoch, st.step, st.best_dice, st.best_epoch, st.elapsed_secs);
        tracing::info!("resuming {} at epoch {}", args.out.display(), start_epoch + 1);
    }
    let warmup_steps = (args.warmup_epochs * nb as f32).round() as usize;
    let total_steps = nb * args.epochs;
    let lr_at = |step: usize| -> f32 {
        let decay = 1.0 - (1.0 - args.lrf) * step as f32 / total_steps.max(1) as f32;
        let warm = if step < warmup_steps {
            (step + 1) as f32 / warmup_steps as f32
        } else {
            1.0
        };
        args.lr0 * decay * warm
    };
    let mut meta = SegMeta::new(names.clone(), args.imgsz, args.threshold);
    let last = weights_dir.join("last.bpk");
    let best = weights_dir.join("best.bpk");
    observer(&SegTrainEvent::Started {
        epochs: args.epochs,
        batches: nb,
        images: train.len(),
        val_images: val.len(),
        params: infos.iter().map(|i| i.len()).sum(),
        outputs: names.clone(),
    });

    let samples = Arc::new(train);
    let run_start = Instant::now();
    let s = args.train_side() as usize;
    let nc = names.len();
    let mut final_val = None;
    let mut stopped = false;
    let mut epochs_done = start_epoch;
    for epoch in start_epoch..args.epochs {
        let epoch_start = Instant::now();
        let rx = epoch_batches(samples.clone(), &args, per_class, epoch);
        let (mut sum, mut count, mut images_done) = (SegLossItems::default(), 0usize, 0usize);
        let mut lr = 0.0;
        for (i, batch) in rx.iter().enumerate() {
            let b = batch?;
            let x = Tensor::<1>::from_data(TensorData::new(b.images, [b.n * 3 * s * s]), &ad).reshape([b.n, 3, s, s]);
            let y = Tensor::<1>::from_data(TensorData::new(b.masks, [b.n * nc * s * s]), &ad).reshape([b.n, nc, s, s]);
            let (loss, items) = segmentation_loss(model.forward(x), y, args.dice);
            let grads = loss.backward();
            let mut grads = GradientsParams::from_grads(grads, &model);
            let mut g = take_grads(&model, &mut grads);
            clip_global_norm(&mut g, 10.0);
            lr = lr_at(step);
            let (_, mut values) = read_params(&model);
            opt.step(&infos, &mut values, &g, [lr; 3], 0.9);
            model = write_params(model, &values, &ad);
            if let Some(e) = ema.as_mut() {
                e.update(&values);
            }
            step += 1;
            if items.bce.is_finite() && items.dice.is_finite() {
                sum.bce += items.bce;
                sum.dice += items.dice;
                count += 1;
            }
            images_done += b.n;
            let n = count.max(1) as f32;
            observer(&SegTrainEvent::Batch {
                epoch,
                batch: i,
                batches: nb,
                loss: SegLossItems {
                    bce: sum.bce / n,
                    dice: sum.dice / n,
                },
                images_per_sec: images_done as f64 / epoch_start.elapsed().as_secs_f64().max(1e-9),
            });
            if stop.load(Ordering::SeqCst) {
                stopped = true;
                break;
            }
        }
        let train_ips = images_done as f64 / epoch_start.elapsed().as_secs_f64().max(1e-9);
        // what is validated and saved: the weight average, or the latest weights
        let eval_model = match &ema {
            Some(e) => write_params(template.clone(), &e.values, &device),
            None => write_params(template.clone(), &read_params(&model).1, &device),
        };
        if stopped {
            save_segmenter(&eval_model, &meta, &last)?;
            observer(&SegTrainEvent::Stopped { epoch });
            break;
        }
        let report = if !val.is_empty() {
            observer(&SegTrainEvent::Validating { epoch });
            Some(validate_segmenter(
                &eval_model,
                &names,
                &val,
                args.imgsz,
                args.threshold,
                &device,
            )?)
        } else {
            None
        };
        let n = count.max(1) as f32;
        let row = SegResultsRow {
            epoch: epoch + 1,
            time: elapsed_before + run_start.elapsed().as_secs_f64(),
            train: SegLossItems {
                bce: sum.bce / n,
                dice: sum.dice / n,
            },
            dice: report.as_ref().map_or(0.0, |r| r.at.dice),
            iou: report.as_ref().map_or(0.0, |r| r.at.iou),
            dice_pixels: report.as_ref().map_or(0.0, |r| r.at.dice_pixels),
            iou_pixels: report.as_ref().map_or(0.0, |r| r.at.iou_pixels),
            best_threshold: report.as_ref().map_or(0.0, |r| r.best.threshold),
            best_dice: report.as_ref().map_or(0.0, |r| r.best.dice),
            lr,
            class_dice_pixels: match (&report, per_class) {
                (Some(r), Some(n)) if n > 1 => r.per_class.iter().map(|c| c.dice_pixels).collect(),
                (None, Some(n)) if n > 1 => vec![0.0; n],
                _ => Vec::new(),
            },
        };
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&results)
            .map_err(|e| io_err(&results, e))?;
        writeln!(f, "{}", row.csv()).map_err(|e| io_err(&results, e))?;
        // without validation the latest epoch is the best
        let score = report.as_ref().map_or(epoch as f64, |r| r.at.dice);
        let improved = best_dice.is_none_or(|b| score > b);
        meta.epoch = Some(epoch + 1);
        meta.metrics = report.as_ref().and_then(|r| serde_json::to_value(r).ok());
        save_segmenter(
            &eval_model,
            &meta,
            &weights_dir.join(format!("epoch_{}.bpk", epoch + 1)),
        )?;
        save_segmenter(&eval_model, &meta, &last)?;
        if improved {
            best_dice = Some(score);
            best_epoch = epoch;
            save_segmenter(&eval_model, &meta, &best)?;
        }
        // The state after this epoch, for --resume.
        let (_, model_values) = read_params(&model);
        let state = SegRunState {
            args: args.clone(),
            epoch: epoch + 1,
            step,
            best_dice,
            best_epoch,
            optimizer: opt.clone(),
            elapsed_secs: elapsed_before + run_start.elapsed().as_secs_f64(),
            ema: ema.as_ref().map(|e| Ema {
                decay: e.decay,
                tau: e.tau,
                updates: e.updates,
                values: Vec::new(),
            }),
            lengths: Vec::new(),
            sections: Vec::new(),
        };
        let tensors = super::state::RunTensors {
            model: model_values,
            ema: ema.as_ref().map(|e| e.values.clone()).unwrap_or_default(),
            m: opt.m.clone(),
            v: opt.v.clone(),
            ..Default::default()
        };
        super::state::save_state(&seg_state_path(&args.out), &state, &tensors).map_err(TrainError::Io)?;
        observer(&SegTrainEvent::EpochEnd {
            row,
            validated: report.is_some(),
            improved,
            train_images_per_sec: train_ips,
        });
        final_val = report;
        epochs_done = epoch + 1;
        if epoch >= best_epoch + args.patience {
            tracing::info!(
                "no improvement for {} epochs (best: epoch {}): stopping early",
                args.patience,
                best_epoch + 1
            );
            break;
        }
    }
    if !stopped {
        observer(&SegTrainEvent::Finished {
            best: best.clone(),
            last: last.clone(),
        });
    }
    Ok(SegTrainSummary {
        out: args.out.clone(),
        best,
        last,
        epochs_done,
        stopped,
        final_val,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn map_resize_keeps_constants_and_interpolates_between_pixels() {
        let m = resize_map(&[0.25; 6], 3, 2, 7, 5);
        assert_eq!(m.len(), 35);
        assert!(m.iter().all(|&v| (v - 0.25).abs() < 1e-6));
        // 2×1 → 4×1: centres at 0.25, 0.75 of the first pixel …
        let m = resize_map(&[0.0, 1.0], 2, 1, 4, 1);
        assert_eq!(m, vec![0.0, 0.25, 0.75, 1.0]);
    }

    #[test]
    fn settings_saved_before_dice_and_ema_existed_keep_the_old_behaviour() {
        let mut yaml = serde_norway::to_string(&SegTrainArgs::default()).unwrap();
        assert!(yaml.contains("dice: image") && yaml.contains("ema: true"), "{yaml}");
        yaml = yaml
            .lines()
            .filter(|l| !l.starts_with("dice:") && !l.starts_with("ema:"))
            .collect::<Vec<_>>()
            .join("\n");
        let old: SegTrainArgs = serde_norway::from_str(&yaml).unwrap();
        assert_eq!((old.dice, old.ema), (DiceScope::Batch, false));
    }

    #[test]
    fn the_weight_average_spans_about_two_epochs() {
        let mut ema = seg_ema(vec![vec![0.0]], 50);
        // once warmed up, the decay is 1 − 1/(2·50)
        ema.updates = 5_000;
        assert!((ema.current_decay() - 0.99).abs() < 1e-3, "{}", ema.current_decay());
        // a step change is half absorbed after ~0.7 · 100 updates
        for _ in 0..69 {
            ema.update(&[vec![1.0]]);
        }
        assert!((ema.values[0][0] - 0.5).abs() < 0.02, "{}", ema.values[0][0]);
    }

    #[test]
    fn bad_settings_are_refused_with_every_reason() {
        let args = SegTrainArgs {
            imgsz: 100,
            batch: 0,
            threshold: 1.5,
            patch: 40,
            patch_defect: 2.0,
            ..SegTrainArgs::default()
        };
        let e = args.validate().unwrap_err();
        assert!(
            e.contains("imgsz 100") && e.contains("batch 0") && e.contains("threshold 1.5"),
            "{e}"
        );
        assert!(e.contains("patch 40") && e.contains("patch-defect 2"), "{e}");
        let big = SegTrainArgs {
            patch: 512,
            ..SegTrainArgs::default()
        };
        assert!(big.validate().unwrap_err().contains("patch 512"));
        let ok = SegTrainArgs {
            patch: 128,
            ..SegTrainArgs::default()
        };
        assert!(ok.validate().is_ok());
        assert_eq!((ok.train_side(), SegTrainArgs::default().train_side()), (128, 256));
        assert!(SegTrainArgs::default().validate().is_ok());
    }
}
