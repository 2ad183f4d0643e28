//! `detective train --task segment`: the epochs of the segmenter (UNetTiny), the
//! steps that the shared loop ([`crate::train::epochs`]) runs.
//!
//! It shares the detector's machinery — the epoch loop, the dataset layout and
//! reader, the optimiser (AdamW with the three parameter groups), gradient
//! clipping, the parameter read/write helpers, the checkpoint format (burnpack +
//! JSON) and the run folder (`args.yaml`, `results.csv`, `weights/`) — and
//! differs where the task does: masks from `masks/{split}/` (binary PNG, same
//! stem as the image; no mask file = a defect-free part), paired augmentation,
//! BCE + soft Dice, Dice/IoU validation, and a checkpoint per epoch
//! (`weights/epoch_{N}.*`, so epochs can be compared side by side) as well as
//! `last` and `best` (by validation fitness, [`crate::metrics::SegScores::fitness`]).
//!
//! With `classes` (`--classes`) the head has one logit map per dataset class; the
//! targets of each class are the mask's pixels that the image's YOLO boxes give
//! that class ([`super::classes`]), and validation adds Dice/IoU per class.
//!
//! Batches come from [`super::loader`], decoded and augmented on a worker thread.
//! Learning rate: linear warm-up over `warmup_epochs`, then linear decay
//! to `lr0 · lrf`. Ctrl-C (the `stop` flag) ends the run after the current batch,
//! saving `weights/last.*`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use burn::tensor::{Device, Tensor, TensorData};
use detective_data::YoloDataset;
use detective_vision::encode::encode_png;
use serde::{Deserialize, Serialize};

use super::args::SegTrainArgs;
use super::classes::MAX_SEG_CLASSES;
use super::loader::{
    SegBatch, SegSample, check_class_labels, defect_flags, epoch_batches, epoch_order, good_samples, seg_samples,
};
use super::loss::{SegLossItems, weighted_segmentation_loss};
use super::maps::seg_sight;
use super::model::{UNetConfig, UNetTiny};
use super::preview::batch_preview;
use super::validate::validate_segmenter;
use crate::checkpoint::{SegMeta, save_segmenter};
use crate::metrics::{SegMetrics, threshold_for_false_alarms};
use crate::train::ema::Ema;
use crate::train::epochs::{EpochRun, StopBetween, run_epochs};
use crate::train::error::{TrainError, io_err};
use crate::train::optimizer::{Optimizer, OptimizerKind, clip_global_norm, gradients};
use crate::train::params::{ParamInfo, read_params, write_params};
use crate::train::run::{already_holds_a_run, append_row, load_resume, write_args, write_results_header};
use crate::train::state::{RunTensors, StateHeader, save_state};
use detective_data::image_size::median_long_side;
use detective_vision::tiles::TilePlan;

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
    /// At the best threshold: the fitness that picks `best` (the harmonic mean
    /// of the next two), the Dice over the defective images' pixels, and the
    /// share of clean images without a false alarm.
    pub best_fitness: f64,
    pub best_dice_defects: f64,
    pub best_clean_ok: f64,
    pub lr: f32,
    /// A per-class model: Dice over pixels of each class (empty otherwise).
    pub class_dice_pixels: Vec<f64>,
    /// An anomaly model: its AUROCs, PRO and calibrated threshold (validated
    /// epochs only), serialised beside the other figures.
    #[serde(flatten)]
    pub anomaly: Option<AnomalyEpoch>,
}

/// Header of `results.csv` (a single defect map).
pub const SEG_RESULTS_HEADER: &str = "epoch,time,train/bce_loss,train/dice_loss,metrics/dice,metrics/iou,metrics/dice_pixels,metrics/iou_pixels,metrics/best_threshold,metrics/best_dice,metrics/best_fitness,metrics/best_dice_defects,metrics/best_clean_ok,lr/pg0";

/// Columns an anomaly model's `results.csv` adds.
pub const ANOMALY_RESULTS_COLUMNS: &str = ",metrics/image_auroc,metrics/pixel_auroc,metrics/pro,metrics/threshold";

/// Header of `results.csv` for a model whose outputs are `names`: a per-class
/// model adds a `metrics/dice_pixels(NAME)` column per class, an anomaly model
/// [`ANOMALY_RESULTS_COLUMNS`].
pub fn seg_results_header(names: &[String], anomaly: bool) -> String {
    let mut h = SEG_RESULTS_HEADER.to_string();
    if names.len() > 1 {
        for n in names {
            h.push_str(&format!(",metrics/dice_pixels({})", n.replace([',', '\n', '\r'], " ")));
        }
    }
    if anomaly {
        h.push_str(ANOMALY_RESULTS_COLUMNS);
    }
    h
}

impl SegResultsRow {
    pub fn csv(&self) -> String {
        let mut line = format!(
            "{},{:.3},{:.5},{:.5},{:.5},{:.5},{:.5},{:.5},{:.2},{:.5},{:.5},{:.5},{:.5},{:.8}",
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
            self.best_fitness,
            self.best_dice_defects,
            self.best_clean_ok,
            self.lr
        );
        for d in &self.class_dice_pixels {
            line.push_str(&format!(",{d:.5}"));
        }
        if let Some(a) = &self.anomaly {
            let fig = |v: Option<f64>| v.map_or(String::new(), |v| format!("{v:.5}"));
            line.push_str(&format!(
                ",{},{},{},{:.6}",
                fig(a.image_auroc),
                fig(a.pixel_auroc),
                fig(a.pro),
                a.threshold
            ));
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

/// An anomaly model's figures of one epoch on the validation split: image and
/// pixel AUROC and PRO (where the split has both kinds), and the calibrated
/// threshold saved with the epoch.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct AnomalyEpoch {
    pub image_auroc: Option<f64>,
    pub pixel_auroc: Option<f64>,
    pub pro: Option<f64>,
    pub threshold: f32,
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
    /// The best epoch's score: its validation fitness (runs saved before the
    /// fitness existed kept the per-image Dice here).
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
///
/// [`SegRun::prepare`] makes the run (a new one or the resumed one);
/// [`run_epochs`] drives its steps, SegRun's [`EpochRun`] — the loop the
/// detector runs too: per epoch `train_epoch` (the batches, with the warm-up
/// [`SegSchedule`]), `validate_epoch` and `record_epoch` (`results.csv`, the
/// epoch's, last and best weights, the state), the early stop on `patience`, and
/// `finish`.
pub fn train_segmenter(
    args: SegTrainArgs,
    observer: &mut dyn FnMut(&SegTrainEvent),
    stop: Arc<AtomicBool>,
    resume: bool,
) -> Result<SegTrainSummary, TrainError> {
    let run = SegRun::prepare(args, resume)?;
    run_epochs(run, observer, &stop)
}

/// The learning rate at optimiser step `step`: linear warm-up over the first
/// `warmup_steps`, times a linear decay to `lr0 · lrf` over the run.
struct SegSchedule {
    lr0: f32,
    lrf: f32,
    warmup_steps: usize,
    total_steps: usize,
}

impl SegSchedule {
    fn at(&self, step: usize) -> f32 {
        let decay = 1.0 - (1.0 - self.lrf) * step as f32 / self.total_steps.max(1) as f32;
        let warm = if step < self.warmup_steps {
            (step + 1) as f32 / self.warmup_steps as f32
        } else {
            1.0
        };
        self.lr0 * decay * warm
    }
}

/// What one epoch's batches did.
struct SegTrained {
    sum: SegLossItems,
    count: usize,
    lr: f32,
    train_ips: f64,
    /// A stop request ended the epoch early.
    stopped: bool,
}

/// A segmentation run between its steps: settings, data, the model being trained
/// and everything `--resume` restores.
struct SegRun {
    args: SegTrainArgs,
    names: Vec<String>,
    per_class: Option<usize>,
    samples: Arc<Vec<SegSample>>,
    /// Which training images hold a defect (read when `--defect-share` is set).
    defective: Option<Vec<bool>>,
    val: Vec<SegSample>,
    nb: usize,
    device: Device,
    ad: Device,
    model: UNetTiny,
    infos: Vec<ParamInfo>,
    template: UNetTiny,
    opt: Optimizer,
    ema: Option<Ema>,
    schedule: SegSchedule,
    /// Epochs completed (those of the resumed run included): the next to run.
    epochs_done: usize,
    step: usize,
    best_dice: Option<f64>,
    best_epoch: usize,
    elapsed_before: f64,
    meta: SegMeta,
    weights_dir: PathBuf,
    results: PathBuf,
    last: PathBuf,
    best: PathBuf,
    run_start: Instant,
}

impl SegRun {
    /// A new run, or the one in `args.out` resumed from its state (whose settings
    /// win, except a larger `epochs`): samples, `args.yaml`, `results.csv` (begun,
    /// or cut back to the completed epochs), model, optimiser and weight average.
    fn prepare(args: SegTrainArgs, resume: bool) -> Result<SegRun, TrainError> {
        let (args, resumed) = seg_settings(args, resume)?;
        let weights_dir = args.out.join("weights");
        let results = args.out.join("results.csv");
        let data = SegData::load(&args)?;
        std::fs::create_dir_all(&weights_dir).map_err(|e| io_err(&weights_dir, e))?;
        write_args(&args.out.join("args.yaml"), &args)?;
        match &resumed {
            // Keep the rows of the completed epochs only (a row written after the
            // state was saved would otherwise appear twice).
            Some((st, _)) => {
                let text = std::fs::read_to_string(&results).map_err(|e| io_err(&results, e))?;
                let kept: Vec<&str> = text.lines().take(st.epoch + 1).collect();
                std::fs::write(&results, format!("{}\n", kept.join("\n"))).map_err(|e| io_err(&results, e))?;
            }
            None => write_results_header(&results, &seg_results_header(&data.names, args.anomaly))?,
        }

        let device = args
            .device
            .parse::<crate::runtime::device::ComputeDevice>()
            .and_then(|d| d.burn_device())
            .map_err(|e| TrainError::Args(e.to_string()))?;
        let ad = device.clone().autodiff();
        device.seed(args.seed);
        ad.seed(args.seed);
        let cfg = UNetConfig {
            classes: data.names.len(),
            standardize: args.standardize,
            ..UNetConfig::default()
        };
        let mut model = UNetTiny::new(&cfg, &ad);
        let (infos, _) = read_params(&model);
        if let Some(w) = args.weights.as_ref().filter(|_| resumed.is_none()) {
            model = start_from(model, &infos, w, data.names.len(), &device, &ad)?;
        }
        let template = UNetTiny::new(&cfg, &device);
        let mut opt = Optimizer::new(OptimizerKind::AdamW, args.weight_decay);
        let (mut start_epoch, mut step, mut best_dice, mut best_epoch, mut elapsed_before) =
            (0usize, 0usize, None, 0usize, 0.0);
        let nb = data.train.len().div_ceil(args.batch);
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
        let schedule = SegSchedule {
            lr0: args.lr0,
            lrf: args.lrf,
            warmup_steps: (args.warmup_epochs * nb as f32).round() as usize,
            total_steps: nb * args.epochs,
        };
        // a tiled model's input is its tile (what an ONNX export fixes)
        let meta = SegMeta {
            tile: (args.tile > 0).then_some(args.tile),
            standardize: args.standardize,
            native_side: if args.tile > 0 {
                None
            } else {
                median_long_side(data.train.iter().map(|s| s.image.as_path()))?
            },
            task: if args.anomaly {
                detective_core::Task::Anomaly
            } else {
                detective_core::Task::Segment
            },
            ..SegMeta::new(data.names.clone(), args.model_input(), args.threshold)
        };
        let last = weights_dir.join("last.bpk");
        let best = weights_dir.join("best.bpk");
        let defective = if args.defect_share > 0.0 {
            let flags = defect_flags(&data.train)?;
            let n = flags.iter().filter(|&&d| d).count();
            if n == 0 {
                return Err(TrainError::Args(
                    "--defect-share: no training mask marks a defect pixel".into(),
                ));
            }
            tracing::info!(
                "{n} of {} training images hold a defect; {:.0} % of the draws take one",
                flags.len(),
                100.0 * args.defect_share
            );
            Some(flags)
        } else {
            None
        };
        Ok(SegRun {
            args,
            names: data.names,
            per_class: data.per_class,
            samples: Arc::new(data.train),
            defective,
            val: data.val,
            nb,
            device,
            ad,
            model,
            infos,
            template,
            opt,
            ema,
            schedule,
            epochs_done: start_epoch,
            step,
            best_dice,
            best_epoch,
            elapsed_before,
            meta,
            weights_dir,
            results,
            last,
            best,
            run_start: Instant::now(),
        })
    }

    /// What is validated and saved: the weight average, or the latest weights.
    fn eval_model(&self) -> UNetTiny {
        match &self.ema {
            Some(e) => write_params(self.template.clone(), &e.values, &self.device),
            None => write_params(self.template.clone(), &read_params(&self.model).1, &self.device),
        }
    }

    /// The batches of `epoch`: forward, loss, backward, clipped gradients, an
    /// AdamW step at the scheduled rate and the weight average updated. A stop
    /// request ends the epoch after the current batch.
    fn batches(
        &mut self,
        epoch: usize,
        observer: &mut dyn FnMut(&SegTrainEvent),
        stop: &AtomicBool,
    ) -> Result<SegTrained, TrainError> {
        let s = self.args.train_side() as usize;
        let nc = self.names.len();
        let nb = self.nb;
        let ad = &self.ad;
        let epoch_start = Instant::now();
        let order = epoch_order(
            self.samples.len(),
            self.defective.as_deref(),
            self.args.defect_share,
            self.args.seed,
            epoch,
        );
        let rx = epoch_batches(self.samples.clone(), order, &self.args, self.per_class, epoch);
        let (mut sum, mut count, mut images_done) = (SegLossItems::default(), 0usize, 0usize);
        let mut lr = 0.0;
        let mut stopped = false;
        for (i, batch) in rx.iter().enumerate() {
            let b = batch?;
            if epoch == 0 && i == 0 {
                self.save_batch_preview(&b);
            }
            let x = Tensor::<1>::from_data(TensorData::new(b.images, [b.n * 3 * s * s]), ad).reshape([b.n, 3, s, s]);
            let y = Tensor::<1>::from_data(TensorData::new(b.masks, [b.n * nc * s * s]), ad).reshape([b.n, nc, s, s]);
            let (loss, items) =
                weighted_segmentation_loss(self.model.forward(x), y, self.args.dice, self.args.pos_weight);
            let mut g = gradients(loss, &self.model);
            clip_global_norm(&mut g, 10.0);
            lr = self.schedule.at(self.step);
            let (model, values) = self.opt.step_model(self.model.clone(), &g, [lr; 3], 0.9, ad);
            self.model = model;
            if let Some(e) = self.ema.as_mut() {
                e.update(&values);
            }
            self.step += 1;
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
        Ok(SegTrained {
            sum,
            count,
            lr,
            train_ips,
            stopped,
        })
    }

    /// Writes `train_batch0.png` (see [`batch_preview`]); a failure is only logged.
    fn save_batch_preview(&self, b: &SegBatch) {
        let path = self.args.out.join("train_batch0.png");
        let s = self.args.train_side() as usize;
        let written = batch_preview(&b.images, &b.masks, b.n, s, self.names.len())
            .and_then(|f| encode_png(&f))
            .map_err(|e| e.to_string())
            .and_then(|png| std::fs::write(&path, png).map_err(|e| e.to_string()));
        if let Err(e) = written {
            tracing::warn!("could not write {}: {e}", path.display());
        }
    }

    /// The state after `epoch`, for `--resume`.
    fn save_state(&self, epoch: usize) -> Result<(), TrainError> {
        let (_, model_values) = read_params(&self.model);
        let ema = self.ema.as_ref();
        let state = SegRunState {
            args: self.args.clone(),
            epoch: epoch + 1,
            step: self.step,
            best_dice: self.best_dice,
            best_epoch: self.best_epoch,
            optimizer: self.opt.clone(),
            elapsed_secs: self.elapsed_before + self.run_start.elapsed().as_secs_f64(),
            ema: ema.map(|e| Ema {
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
            ema: ema.map(|e| e.values.clone()).unwrap_or_default(),
            m: self.opt.m.clone(),
            v: self.opt.v.clone(),
            ..Default::default()
        };
        save_state(&seg_state_path(&self.args.out), &state, &tensors).map_err(TrainError::Io)
    }
}

/// The segmenter's steps of the shared epoch loop ([`run_epochs`]).
impl EpochRun for SegRun {
    type Event = SegTrainEvent;
    type Trained = SegTrained;
    type Model = UNetTiny;
    type Report = SegMetrics;
    type Summary = SegTrainSummary;

    /// Reports the start and starts the clock.
    fn start(&mut self, observer: &mut dyn FnMut(&SegTrainEvent)) {
        observer(&SegTrainEvent::Started {
            epochs: self.args.epochs,
            batches: self.nb,
            images: self.samples.len(),
            val_images: self.val.len(),
            params: self.infos.iter().map(|i| i.len()).sum(),
            outputs: self.names.clone(),
        });
        self.run_start = Instant::now();
    }

    /// The epoch after `start` or the last recorded one, until `epochs` are done.
    fn next_epoch(&self) -> Option<usize> {
        (self.epochs_done < self.args.epochs).then_some(self.epochs_done)
    }

    /// The batches of `epoch` ([`SegRun::batches`]); a stop request ends the
    /// epoch after the current batch, saves `last` and reports `Stopped`.
    fn train_epoch(
        &mut self,
        epoch: usize,
        observer: &mut dyn FnMut(&SegTrainEvent),
        stop: &AtomicBool,
    ) -> Result<Option<SegTrained>, TrainError> {
        let trained = self.batches(epoch, observer, stop)?;
        if !trained.stopped {
            return Ok(Some(trained));
        }
        save_segmenter(&self.eval_model(), &self.meta, &self.last)?;
        observer(&SegTrainEvent::Stopped { epoch });
        Ok(None)
    }

    /// What is validated and saved ([`SegRun::eval_model`]), and its Dice/IoU on
    /// the validation images, if there are any.
    fn validate_epoch(
        &mut self,
        epoch: usize,
        observer: &mut dyn FnMut(&SegTrainEvent),
    ) -> Result<(UNetTiny, Option<SegMetrics>), TrainError> {
        let eval_model = self.eval_model();
        if self.val.is_empty() {
            return Ok((eval_model, None));
        }
        observer(&SegTrainEvent::Validating { epoch });
        let report = validate_segmenter(
            &eval_model,
            &self.names,
            &self.val,
            &seg_sight(&self.meta, self.meta.imgsz, TilePlan::default()),
            self.args.threshold,
            &self.device,
        )?;
        Ok((eval_model, Some(report)))
    }

    /// The end of an epoch: its row of `results.csv`, the epoch's weights, `last`
    /// and (when the fitness at its best threshold improved) `best`, the state for `--resume`,
    /// and the event.
    fn record_epoch(
        &mut self,
        epoch: usize,
        model: &UNetTiny,
        report: Option<&SegMetrics>,
        trained: SegTrained,
        observer: &mut dyn FnMut(&SegTrainEvent),
    ) -> Result<(), TrainError> {
        let n = trained.count.max(1) as f32;
        // the saved model predicts at the threshold validation chose by fitness;
        // an anomaly model at the one that lets the chosen share of good
        // validation images through
        self.meta.threshold = match report {
            None => self.args.threshold,
            Some(r) if self.args.anomaly => {
                threshold_for_false_alarms(&r.clean_peaks, self.args.false_alarm_rate).unwrap_or(self.args.threshold)
            }
            Some(r) => r.best.threshold,
        };
        let row = SegResultsRow {
            epoch: epoch + 1,
            time: self.elapsed_before + self.run_start.elapsed().as_secs_f64(),
            train: SegLossItems {
                bce: trained.sum.bce / n,
                dice: trained.sum.dice / n,
            },
            dice: report.map_or(0.0, |r| r.at.dice),
            iou: report.map_or(0.0, |r| r.at.iou),
            dice_pixels: report.map_or(0.0, |r| r.at.dice_pixels),
            iou_pixels: report.map_or(0.0, |r| r.at.iou_pixels),
            best_threshold: report.map_or(0.0, |r| r.best.threshold),
            best_dice: report.map_or(0.0, |r| r.best.dice),
            best_fitness: report.map_or(0.0, |r| r.best.fitness),
            best_dice_defects: report.map_or(0.0, |r| r.best.dice_defects),
            best_clean_ok: report.map_or(0.0, |r| r.best.clean_ok),
            lr: trained.lr,
            class_dice_pixels: match (report, self.per_class) {
                (Some(r), Some(n)) if n > 1 => r.per_class.iter().map(|c| c.dice_pixels).collect(),
                (None, Some(n)) if n > 1 => vec![0.0; n],
                _ => Vec::new(),
            },
            anomaly: report.filter(|_| self.args.anomaly).map(|r| AnomalyEpoch {
                image_auroc: r.auroc,
                pixel_auroc: r.pixel_auroc,
                pro: r.pro,
                threshold: self.meta.threshold,
            }),
        };
        append_row(&self.results, &row.csv())?;
        // the best fitness at its best threshold (predicting nothing cannot win
        // it); without validation the latest epoch is the best
        let score = match report {
            None => epoch as f64,
            Some(r) if self.args.anomaly => anomaly_fitness(r, epoch),
            Some(r) => r.best.fitness,
        };
        let improved = self.best_dice.is_none_or(|b| score > b);
        self.meta.epoch = Some(epoch + 1);
        self.meta.metrics = report.and_then(|r| serde_json::to_value(r).ok());
        save_segmenter(
            model,
            &self.meta,
            &self.weights_dir.join(format!("epoch_{}.bpk", epoch + 1)),
        )?;
        save_segmenter(model, &self.meta, &self.last)?;
        if improved {
            self.best_dice = Some(score);
            self.best_epoch = epoch;
            save_segmenter(model, &self.meta, &self.best)?;
        }
        self.save_state(epoch)?;
        observer(&SegTrainEvent::EpochEnd {
            row,
            validated: report.is_some(),
            improved,
            train_images_per_sec: trained.train_ips,
        });
        self.epochs_done = epoch + 1;
        Ok(())
    }

    /// The epoch of the best fitness so far.
    fn best_epoch(&self) -> Option<usize> {
        Some(self.best_epoch)
    }

    /// `--patience`.
    fn patience(&self) -> usize {
        self.args.patience
    }

    /// Logs the early stop, naming the best epoch.
    fn log_early_stop(&self) {
        tracing::info!(
            "no improvement for {} epochs (best: epoch {}): stopping early",
            self.args.patience,
            self.best_epoch + 1
        );
    }

    /// The run goes on: the next epoch's first batch honours the request.
    fn stop_between_epochs(&mut self, _observer: &mut dyn FnMut(&SegTrainEvent)) -> StopBetween {
        StopBetween::Deferred
    }

    /// The `Finished` event (a run that was not stopped) and the summary.
    fn finish(
        self,
        stopped: bool,
        final_val: Option<SegMetrics>,
        observer: &mut dyn FnMut(&SegTrainEvent),
    ) -> Result<SegTrainSummary, TrainError> {
        if !stopped {
            observer(&SegTrainEvent::Finished {
                best: self.best.clone(),
                last: self.last.clone(),
            });
        }
        Ok(SegTrainSummary {
            out: self.args.out.clone(),
            best: self.best,
            last: self.last,
            epochs_done: self.epochs_done,
            stopped,
            final_val,
        })
    }
}

/// What picks an anomaly model's best epoch: the mean of the image and the pixel
/// AUROC on the validation split where it holds defects (the one there is, if
/// only one); a split of good images only has neither, and the latest epoch wins.
fn anomaly_fitness(r: &SegMetrics, epoch: usize) -> f64 {
    r.mean_auroc().unwrap_or(epoch as f64)
}

/// The settings of the run: `args`, or with `resume` those saved in the run's
/// state (only a larger `epochs` extends it), checked. A new run refuses a folder
/// that holds one.
fn seg_settings(
    args: SegTrainArgs,
    resume: bool,
) -> Result<(SegTrainArgs, Option<(SegRunState, RunTensors)>), TrainError> {
    let resumed: Option<(SegRunState, RunTensors)> = if resume {
        Some(load_resume(
            &seg_state_path(&args.out),
            &args.out,
            " (a state is saved after each completed epoch)",
        )?)
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
    if args.out.join("results.csv").exists() && resumed.is_none() {
        return Err(already_holds_a_run(&args.out));
    }
    Ok((args, resumed))
}

/// The images of a run (train, and val or test) and what its outputs mark: one
/// defect map, or one map per dataset class (`per_class`), checked against the
/// labels.
struct SegData {
    train: Vec<SegSample>,
    val: Vec<SegSample>,
    names: Vec<String>,
    per_class: Option<usize>,
}

impl SegData {
    fn load(args: &SegTrainArgs) -> Result<SegData, TrainError> {
        let dataset = YoloDataset::load(&args.data)?;
        let train = seg_samples(&dataset, "train");
        if train.is_empty() {
            return Err(TrainError::Args("the train split has no images".into()));
        }
        let with_masks = train.iter().filter(|s| s.mask.is_some()).count();
        let train = if args.anomaly {
            let good = good_samples(&train)?;
            if good.is_empty() {
                return Err(TrainError::Args(format!(
                    "an anomaly model trains on defect-free images (an empty label file and no defect in the \
                     mask), and none of the {} train images is one",
                    train.len()
                )));
            }
            tracing::info!(
                "anomaly model: training on the {} defect-free images of {} in the train split",
                good.len(),
                train.len()
            );
            good
        } else if with_masks == 0 {
            return Err(TrainError::Args(format!(
                "no masks found for the train images (expected masks/train/<stem>.png next to images/train/ in {})",
                args.data.display()
            )));
        } else {
            train
        };
        let val_split = ["val", "test"].into_iter().find(|s| dataset.split(s).is_some());
        let val = match (args.val, val_split) {
            (true, Some(split)) => seg_samples(&dataset, split),
            _ => Vec::new(),
        };
        // the outputs: one defect map, or one map per dataset class
        let names: Vec<String> = if args.anomaly {
            vec!["anomaly".to_string()]
        } else if args.classes {
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
        Ok(SegData {
            train,
            val,
            names,
            per_class,
        })
    }
}

/// `model` with the weights of the segmenter checkpoint `w`, which must have this
/// run's shape (`outputs` maps).
fn start_from(
    model: UNetTiny,
    infos: &[ParamInfo],
    w: &Path,
    outputs: usize,
    device: &Device,
    ad: &Device,
) -> Result<UNetTiny, TrainError> {
    let (pre, _) = crate::checkpoint::load_segmenter(w, device)?;
    let (pre_infos, values) = read_params(&pre);
    if pre_infos.len() != infos.len() || pre_infos.iter().zip(infos).any(|(a, b)| a.shape != b.shape) {
        return Err(TrainError::Args(format!(
            "{} is not a UNetTiny of this shape (its outputs: {}; this run's: {})",
            w.display(),
            pre.classes(),
            outputs
        )));
    }
    let model = write_params(model, &values, ad);
    tracing::info!("starting from the weights of {}", w.display());
    Ok(model)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_weight_average_spans_about_two_epochs() {
        let _serial = crate::burn_test_lock();
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
