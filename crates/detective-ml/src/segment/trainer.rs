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
//! that class ([`super::classes`]), and validation adds Dice/IoU per class.
//!
//! Batches come from [`super::loader`], decoded and augmented on a worker thread.
//! Learning rate: linear warm-up over `warmup_epochs`, then linear decay
//! to `lr0 · lrf`. Ctrl-C (the `stop` flag) ends the run after the current batch,
//! saving `weights/last.*`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use burn::optim::GradientsParams;
use burn::tensor::{Device, Tensor, TensorData};
use detective_data::YoloDataset;
use serde::{Deserialize, Serialize};

use super::args::SegTrainArgs;
use super::classes::MAX_SEG_CLASSES;
use super::loader::{check_class_labels, epoch_batches, seg_samples};
use super::loss::{SegLossItems, segmentation_loss};
use super::model::{UNetConfig, UNetTiny};
use super::validate::validate_segmenter;
use crate::checkpoint::{SegMeta, save_segmenter};
use crate::metrics::SegMetrics;
use crate::train::ema::Ema;
use crate::train::error::{TrainError, io_err};
use crate::train::optimizer::{Optimizer, OptimizerKind, clip_global_norm, take_grads};
use crate::train::params::{read_params, write_params};
use crate::train::state::{RunTensors, StateHeader, load_state, save_state};

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

impl StateHeader for SegRunState {
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
    let resumed: Option<(SegRunState, RunTensors)> = if resume {
        let path = seg_state_path(&args.out);
        if !path.is_file() {
            return Err(TrainError::Resume(format!(
                "{} does not exist: nothing to resume in {} (a state is saved after each completed epoch)",
                path.display(),
                args.out.display()
            )));
        }
        Some(load_state(&path).map_err(TrainError::Resume)?)
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
        let tensors = RunTensors {
            model: model_values,
            ema: ema.as_ref().map(|e| e.values.clone()).unwrap_or_default(),
            m: opt.m.clone(),
            v: opt.v.clone(),
            ..Default::default()
        };
        save_state(&seg_state_path(&args.out), &state, &tensors).map_err(TrainError::Io)?;
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
}
