//! The epochs of `detective train` (the steps that the shared loop,
//! [`crate::train::epochs`], runs), Ultralytics' recipe: warm-up of learning
//! rate, momentum and gradient accumulation; linear learning-rate decay;
//! optimiser steps every `nbs / batch` batches with the global gradient norm
//! clipped to 10; EMA of the weights; validation of the EMA after every epoch;
//! `results.csv`, `args.yaml`, `weights/last.*` and `weights/best.*`; mosaic
//! switched off for the last `close_mosaic` epochs; early stop on `patience`.
//!
//! A stop request (Ctrl-C, or the API) is honoured at the next optimiser-step
//! boundary: the state is saved to `weights/last.state` and `--resume`
//! continues from that exact batch.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use burn::tensor::{Device, Tensor, TensorData};
use detective_data::YoloDataset;
use detective_vision::augment::AugmentParams;
use serde::{Deserialize, Serialize};

use super::args::TrainArgs;
use super::assigner::{AssignerConfig, GtBox};
use super::loader::{LoaderConfig, TrainLoader, TrainSample, samples_from_split};
use super::loss::{LossGains, LossItems, detection_loss};
use super::validate::{ValReport, validate_model};
use crate::checkpoint::{ModelMeta, save_model};
use crate::detect::{YoloConfig, YoloV8};
use crate::runtime::device::ComputeDevice;
use crate::train::ema::Ema;
use crate::train::epochs::{EpochRun, StopBetween, run_epochs};
use crate::train::error::{TrainError, io_err};
use crate::train::optimizer::{GroupLr, Optimizer, OptimizerKind, accumulate, clip_global_norm, gradients};
use crate::train::params::{ParamInfo, read_params, write_params};
use crate::train::run::{already_holds_a_run, append_row, load_resume, write_args, write_results_header};
use crate::train::state::{RunTensors, StateHeader, save_state};
use detective_data::image_size::median_long_side;

/// What the trainer reports while it runs.
#[derive(Debug, Clone)]
pub enum TrainEvent {
    Started {
        epochs: usize,
        start_epoch: usize,
        batches: usize,
        images: usize,
        optimizer: String,
        lr0: f32,
        resumed: bool,
    },
    Batch {
        epoch: usize,
        batch: usize,
        batches: usize,
        /// Running means of the epoch so far.
        loss: LossItems,
        images_per_sec: f64,
    },
    Validating {
        epoch: usize,
    },
    EpochEnd {
        epoch: usize,
        row: ResultsRow,
        /// False when validation was off (`--no-val`): the row's metrics are zeros.
        validated: bool,
        improved: bool,
        train_images_per_sec: f64,
    },
    Stopped {
        epoch: usize,
        batch: usize,
    },
    Finished {
        best: PathBuf,
        last: PathBuf,
        best_fitness: Option<f64>,
    },
}

/// Receives [`TrainEvent`]s (progress bars, server-sent events, logs).
pub trait TrainObserver {
    fn on_event(&mut self, event: &TrainEvent);
}

impl<F: FnMut(&TrainEvent)> TrainObserver for F {
    fn on_event(&mut self, event: &TrainEvent) {
        self(event)
    }
}

/// One line of `results.csv` (Ultralytics' columns).
#[derive(Debug, Clone, Serialize)]
pub struct ResultsRow {
    pub epoch: usize,
    pub time: f64,
    pub train: LossItemsSer,
    pub precision: f64,
    pub recall: f64,
    pub map50: f64,
    pub map50_95: f64,
    pub val: LossItemsSer,
    pub lr: [f32; 3],
    pub fitness: f64,
}

#[derive(Debug, Clone, Copy, Serialize, Default)]
pub struct LossItemsSer {
    pub box_loss: f64,
    pub cls_loss: f64,
    pub dfl_loss: f64,
}

impl From<LossItems> for LossItemsSer {
    fn from(l: LossItems) -> Self {
        LossItemsSer {
            box_loss: l.box_loss as f64,
            cls_loss: l.cls_loss as f64,
            dfl_loss: l.dfl_loss as f64,
        }
    }
}

pub const RESULTS_HEADER: &str = "epoch,time,train/box_loss,train/cls_loss,train/dfl_loss,metrics/precision(B),metrics/recall(B),metrics/mAP50(B),metrics/mAP50-95(B),val/box_loss,val/cls_loss,val/dfl_loss,lr/pg0,lr/pg1,lr/pg2";

impl ResultsRow {
    fn csv(&self) -> String {
        // pg0 = biases, pg1 = decayed weights, pg2 = norm weights (Ultralytics' order).
        format!(
            "{},{:.3},{:.5},{:.5},{:.5},{:.5},{:.5},{:.5},{:.5},{:.5},{:.5},{:.5},{:.6e},{:.6e},{:.6e}",
            self.epoch,
            self.time,
            self.train.box_loss,
            self.train.cls_loss,
            self.train.dfl_loss,
            self.precision,
            self.recall,
            self.map50,
            self.map50_95,
            self.val.box_loss,
            self.val.cls_loss,
            self.val.dfl_loss,
            self.lr[2],
            self.lr[0],
            self.lr[1],
        )
    }
}

/// Result of a finished (or stopped) run.
#[derive(Debug, Clone)]
pub struct TrainSummary {
    pub out: PathBuf,
    pub best: PathBuf,
    pub last: PathBuf,
    pub best_fitness: Option<f64>,
    pub epochs_done: usize,
    pub stopped: bool,
    pub final_val: Option<ValReport>,
}

/// Paths of a run folder.
pub struct RunPaths {
    pub out: PathBuf,
    pub weights: PathBuf,
    pub last: PathBuf,
    pub best: PathBuf,
    pub state: PathBuf,
    pub results: PathBuf,
    pub args: PathBuf,
}

impl RunPaths {
    pub fn new(out: &Path) -> RunPaths {
        let weights = out.join("weights");
        RunPaths {
            out: out.to_path_buf(),
            last: weights.join("last.bpk"),
            best: weights.join("best.bpk"),
            state: weights.join("last.state"),
            results: out.join("results.csv"),
            args: out.join("args.yaml"),
            weights,
        }
    }
}

/// Counters and settings of a run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunState {
    pub args: TrainArgs,
    pub names: Vec<String>,
    /// Epoch to run next (0-based) and the first batch of it to run.
    pub epoch: usize,
    pub batch: usize,
    /// Global batch index of the last optimiser step (Ultralytics' `last_opt_step`).
    pub last_opt_step: i64,
    pub best_fitness: Option<f64>,
    pub best_epoch: Option<usize>,
    /// Sums of the loss items of the epoch in progress, and their count.
    pub tloss: [f64; 3],
    pub tloss_count: usize,
    pub optimizer: Optimizer,
    pub ema: Ema,
    pub elapsed_secs: f64,
    /// Tensor lengths of each section, in order.
    pub lengths: Vec<usize>,
    pub sections: Vec<String>,
}

impl StateHeader for RunState {
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

fn interp(x: f64, x0: f64, x1: f64, y0: f64, y1: f64) -> f64 {
    if x <= x0 {
        y0
    } else if x >= x1 {
        y1
    } else {
        y0 + (y1 - y0) * (x - x0) / (x1 - x0)
    }
}

/// Optimiser, learning rate and momentum as Ultralytics' `optimizer=auto` picks them.
fn choose_optimizer(args: &TrainArgs, images: usize, nc: usize) -> (OptimizerKind, f32, f32, f32) {
    match args.optimizer.as_str() {
        "SGD" => (OptimizerKind::Sgd, args.lr0, args.momentum, args.warmup_bias_lr),
        "AdamW" => (OptimizerKind::AdamW, args.lr0, args.momentum, args.warmup_bias_lr),
        _ => {
            let iterations = images.div_ceil(args.batch.max(args.nbs)) * args.epochs;
            if iterations > 10_000 {
                (OptimizerKind::Sgd, 0.01, 0.9, 0.0)
            } else {
                let lr_fit = (0.002 * 5.0 / (4.0 + nc as f64) * 1e6).round() / 1e6;
                (OptimizerKind::AdamW, lr_fit as f32, 0.9, 0.0)
            }
        }
    }
}

/// Trains a detector. `resume` continues the run in `args.out` from its
/// `weights/last.state` (the settings saved there win, except `epochs` when larger).
///
/// [`DetectRun::prepare`] makes the run (a new one or the resumed one);
/// [`run_epochs`] drives its steps, DetectRun's [`EpochRun`]: per epoch
/// `train_epoch` (the batches, with the warm-up [`Schedule`]), `validate_epoch`
/// (the EMA) and `record_epoch` (`results.csv`, best/last, the state), the early
/// stop on `patience`, a stop request after an epoch, and `finish`.
pub fn train(
    args: TrainArgs,
    resume: bool,
    observer: &mut dyn TrainObserver,
    stop: Arc<AtomicBool>,
) -> Result<TrainSummary, TrainError> {
    let run = DetectRun::prepare(args, resume)?;
    run_epochs(run, &mut |event: &TrainEvent| observer.on_event(event), &stop)
}

/// Ultralytics' schedule of the optimiser's settings: over the first `nw` batches
/// (at least 100) the learning rates rise from 0 (biases: fall from
/// `warmup_bias_lr`), SGD's momentum from `warmup_momentum`, and the number of
/// batches accumulated per step from 1 to `nbs / batch`; the base rate decays
/// linearly per epoch to `lr0 · lrf`.
struct Schedule {
    lr0: f32,
    lrf: f32,
    epochs: usize,
    /// Warm-up batches (-1: none).
    nw: i64,
    nbs: usize,
    batch: usize,
    kind: OptimizerKind,
    momentum: f32,
    warmup_momentum: f32,
    warmup_bias_lr: f32,
    accumulate_target: usize,
}

impl Schedule {
    /// Batches to accumulate, learning rate per group and momentum at global batch
    /// `ni` of `epoch`.
    fn at(&self, epoch: usize, ni: i64) -> (usize, GroupLr, f32) {
        let lf = (1.0 - epoch as f64 / self.epochs as f64).max(0.0) * (1.0 - self.lrf as f64) + self.lrf as f64;
        let base_lr = self.lr0 as f64 * lf;
        let nw = self.nw;
        if ni <= nw {
            let acc_now = interp(ni as f64, 0.0, nw as f64, 1.0, self.nbs as f64 / self.batch as f64)
                .round()
                .max(1.0) as usize;
            let lr_w = interp(ni as f64, 0.0, nw as f64, 0.0, base_lr) as f32;
            let lr_b = interp(ni as f64, 0.0, nw as f64, self.warmup_bias_lr as f64, base_lr) as f32;
            let m = if self.kind == OptimizerKind::Sgd {
                interp(
                    ni as f64,
                    0.0,
                    nw as f64,
                    self.warmup_momentum as f64,
                    self.momentum as f64,
                ) as f32
            } else {
                self.momentum
            };
            (acc_now, [lr_w, lr_w, lr_b], m)
        } else {
            (self.accumulate_target, [base_lr as f32; 3], self.momentum)
        }
    }
}

/// What one epoch's batches did (for the epoch's row and event).
struct Trained {
    images: usize,
    secs: f64,
}

/// A detection run between its steps: settings, data, the model being trained
/// and everything `--resume` restores.
struct DetectRun {
    args: TrainArgs,
    paths: RunPaths,
    names: Vec<String>,
    nc: usize,
    val_samples: Vec<TrainSample>,
    val_split: &'static str,
    loader: TrainLoader,
    nb: usize,
    n_images: usize,
    device: Device,
    ad: Device,
    model: YoloV8,
    eval_template: YoloV8,
    kind: OptimizerKind,
    lr0: f32,
    schedule: Schedule,
    assigner: AssignerConfig,
    gains: LossGains,
    state: RunState,
    ema: Ema,
    /// Gradients accumulated since the last optimiser step.
    acc: Vec<Option<Vec<f32>>>,
    meta: ModelMeta,
    run_start: Instant,
    last_lr: GroupLr,
    /// The run continues a saved one (`--resume`).
    resume: bool,
}

impl DetectRun {
    /// A new run, or the one in `args.out` resumed from its state (whose settings
    /// win, except a larger `epochs`): data, loader, device, model, optimiser and
    /// EMA, with `args.yaml` written and, for a new run, `results.csv` begun.
    fn prepare(args: TrainArgs, resume: bool) -> Result<DetectRun, TrainError> {
        let paths = RunPaths::new(&args.out);
        let (args, resumed) = settings(args, resume, &paths)?;
        let data = DetectData::load(&args)?;

        std::fs::create_dir_all(&paths.weights).map_err(|e| io_err(&paths.weights, e))?;
        write_args(&paths.args, &args)?;

        let device = args
            .device
            .parse::<ComputeDevice>()
            .and_then(|d| d.burn_device())
            .map_err(|e| TrainError::Args(e.to_string()))?;
        let ad = device.clone().autodiff();
        let cfg = YoloConfig {
            scale: args.model,
            num_classes: data.nc,
        };
        // Same seed, same initial weights (Burn's initialisers draw from the device's generator).
        device.seed(args.seed);
        ad.seed(args.seed);
        let model = YoloV8::new(&cfg, &ad);
        let (infos, init_values) = read_params(&model);
        let eval_template = YoloV8::new(&cfg, &device);

        let (kind, lr0, momentum, warmup_bias_lr) = choose_optimizer(&args, data.n_images, data.nc);
        let accumulate_target = ((args.nbs as f64 / args.batch as f64).round() as usize).max(1);
        let weight_decay = args.weight_decay * (args.batch * accumulate_target) as f32 / args.nbs as f32;

        let (model, state, ema, acc) = match resumed {
            Some((state, tensors)) => restore(model, &infos, state, tensors, &ad)?,
            None => {
                let optimizer = Optimizer::new(kind, weight_decay);
                let begun = begin(model, init_values, &data, &args, optimizer, &device, &ad)?;
                write_results_header(&paths.results, RESULTS_HEADER)?;
                begun
            }
        };

        let nw: i64 = if args.warmup_epochs > 0.0 {
            ((args.warmup_epochs * data.nb as f32).round() as i64).max(100)
        } else {
            -1
        };
        let schedule = Schedule {
            lr0,
            lrf: args.lrf,
            epochs: args.epochs,
            nw,
            nbs: args.nbs,
            batch: args.batch,
            kind,
            momentum,
            warmup_momentum: args.warmup_momentum,
            warmup_bias_lr,
            accumulate_target,
        };
        let gains = LossGains {
            box_gain: args.box_gain,
            cls_gain: args.cls_gain,
            dfl_gain: args.dfl_gain,
        };
        let meta = ModelMeta {
            native_side: data.native_side,
            ..ModelMeta::new(args.model, data.names.clone(), args.imgsz)
        };
        Ok(DetectRun {
            args,
            paths,
            names: data.names,
            nc: data.nc,
            val_samples: data.val_samples,
            val_split: data.val_split,
            loader: data.loader,
            nb: data.nb,
            n_images: data.n_images,
            device,
            ad,
            model,
            eval_template,
            kind,
            lr0,
            schedule,
            assigner: AssignerConfig::default(),
            gains,
            state,
            ema,
            acc,
            meta,
            run_start: Instant::now(),
            last_lr: [0.0; 3],
            resume,
        })
    }
}

/// The detector's steps of the shared epoch loop ([`run_epochs`]).
impl EpochRun for DetectRun {
    type Event = TrainEvent;
    type Trained = Trained;
    type Model = YoloV8;
    type Report = ValReport;
    type Summary = TrainSummary;

    /// Reports the start and starts the clock (a resumed run's time goes on from
    /// where it stopped).
    fn start(&mut self, observer: &mut dyn FnMut(&TrainEvent)) {
        observer(&TrainEvent::Started {
            epochs: self.args.epochs,
            start_epoch: self.state.epoch,
            batches: self.nb,
            images: self.n_images,
            optimizer: self.kind.as_str().to_string(),
            lr0: self.lr0,
            resumed: self.resume,
        });
        self.run_start = Instant::now() - std::time::Duration::from_secs_f64(self.state.elapsed_secs);
    }

    /// The epoch the state names, until `epochs` are done.
    fn next_epoch(&self) -> Option<usize> {
        (self.state.epoch < self.args.epochs).then_some(self.state.epoch)
    }

    /// The batches of `epoch` (from `state.batch` on a resumed epoch): forward,
    /// loss, backward, gradients accumulated and an optimiser step with the EMA
    /// updated when the schedule says. `None` when a stop request ended the epoch
    /// at an optimiser-step boundary (the state and `last` are saved).
    fn train_epoch(
        &mut self,
        epoch: usize,
        observer: &mut dyn FnMut(&TrainEvent),
        stop: &AtomicBool,
    ) -> Result<Option<Trained>, TrainError> {
        let nb = self.nb;
        let imgsz = self.args.imgsz as usize;
        let mosaic = epoch + self.args.close_mosaic < self.args.epochs;
        let epoch_start = Instant::now();
        let mut images_done = 0usize;
        let skip = self.state.batch;
        let mut iter = self.loader.epoch_from(epoch, mosaic, skip);
        for i in skip..nb {
            let Some(batch) = iter.next() else { break };
            let batch = batch?;
            let ni = (i + nb * epoch) as i64;
            let (accumulate_now, lr, mom) = self.schedule.at(epoch, ni);
            self.last_lr = lr;

            let b = batch.batch;
            let x = batch_input(batch.images, b, imgsz, &self.ad);
            let mut targets: Vec<Vec<GtBox>> = vec![Vec::new(); b];
            for t in &batch.targets {
                if t.image < b {
                    targets[t.image].push(GtBox {
                        class: t.class,
                        xyxy: t.bbox,
                    });
                }
            }
            let raw = self.model.forward_raw(x);
            let out = detection_loss(raw, &targets, self.nc, (imgsz, imgsz), &self.assigner, &self.gains);
            accumulate(&mut self.acc, gradients(out.total, &self.model));

            let items = out.items;
            let state = &mut self.state;
            if items.box_loss.is_finite() && items.cls_loss.is_finite() && items.dfl_loss.is_finite() {
                state.tloss[0] += items.box_loss as f64;
                state.tloss[1] += items.cls_loss as f64;
                state.tloss[2] += items.dfl_loss as f64;
                state.tloss_count += 1;
            }
            images_done += b;

            let stepped = ni - state.last_opt_step >= accumulate_now as i64;
            if stepped {
                clip_global_norm(&mut self.acc, 10.0);
                let (model, values) = state
                    .optimizer
                    .step_model(self.model.clone(), &self.acc, lr, mom, &self.ad);
                self.model = model;
                self.ema.update(&values);
                self.acc.clear();
                state.last_opt_step = ni;
            }
            let n = state.tloss_count.max(1) as f64;
            observer(&TrainEvent::Batch {
                epoch,
                batch: i,
                batches: nb,
                loss: LossItems {
                    box_loss: (state.tloss[0] / n) as f32,
                    cls_loss: (state.tloss[1] / n) as f32,
                    dfl_loss: (state.tloss[2] / n) as f32,
                },
                images_per_sec: images_done as f64 / epoch_start.elapsed().as_secs_f64().max(1e-9),
            });
            if stop.load(Ordering::SeqCst) && stepped && i + 1 < nb {
                state.batch = i + 1;
                save_run(&self.paths, state, &self.model, &self.ema, &self.acc, &self.run_start)?;
                save_model(
                    &materialize(&self.eval_template, &self.ema.values, &self.device),
                    &self.meta,
                    &self.paths.last,
                )?;
                observer(&TrainEvent::Stopped { epoch, batch: i + 1 });
                return Ok(None);
            }
        }
        drop(iter);
        Ok(Some(Trained {
            images: images_done,
            secs: epoch_start.elapsed().as_secs_f64(),
        }))
    }

    /// The EMA as a model, and its validation (when on and there is a split).
    fn validate_epoch(
        &mut self,
        epoch: usize,
        observer: &mut dyn FnMut(&TrainEvent),
    ) -> Result<(YoloV8, Option<ValReport>), TrainError> {
        let ema_model = materialize(&self.eval_template, &self.ema.values, &self.device);
        let report = if self.args.val && !self.val_samples.is_empty() {
            observer(&TrainEvent::Validating { epoch });
            Some(validate_model(
                &ema_model,
                &self.val_samples,
                &self.names,
                self.args.imgsz,
                self.args.iou,
                self.args.max_det,
                self.args.batch,
                Some((&self.assigner, &self.gains)),
            )?)
        } else {
            None
        };
        Ok((ema_model, report))
    }

    /// The end of an epoch: its row of `results.csv`, `best` (when the fitness
    /// improved), `last` and the periodic copy, the state for `--resume`, the
    /// results plot and the event.
    fn record_epoch(
        &mut self,
        epoch: usize,
        model: &YoloV8,
        report: Option<&ValReport>,
        trained: Trained,
        observer: &mut dyn FnMut(&TrainEvent),
    ) -> Result<(), TrainError> {
        let train_ips = trained.images as f64 / trained.secs.max(1e-9);
        let state = &mut self.state;
        let n = state.tloss_count.max(1) as f64;
        let train_items = LossItemsSer {
            box_loss: state.tloss[0] / n,
            cls_loss: state.tloss[1] / n,
            dfl_loss: state.tloss[2] / n,
        };
        let (p, r, m50, m5095, fitness, val_items) = match report {
            Some(v) => (
                v.metrics.precision,
                v.metrics.recall,
                v.metrics.map50,
                v.metrics.map50_95,
                v.metrics.fitness,
                v.loss.map(LossItemsSer::from).unwrap_or_default(),
            ),
            // Without validation the latest epoch is the best one.
            None => (0.0, 0.0, 0.0, 0.0, epoch as f64, LossItemsSer::default()),
        };
        let row = ResultsRow {
            epoch: epoch + 1,
            time: self.run_start.elapsed().as_secs_f64(),
            train: train_items,
            precision: p,
            recall: r,
            map50: m50,
            map50_95: m5095,
            val: val_items,
            lr: self.last_lr,
            fitness,
        };
        append_row(&self.paths.results, &row.csv())?;

        let improved = state.best_fitness.is_none_or(|b| fitness > b);
        let val_split = self.val_split;
        self.meta.epoch = Some(epoch + 1);
        self.meta.metrics = report.map(|_| {
            serde_json::json!({"precision": p, "recall": r, "map50": m50, "map50_95": m5095, "fitness": fitness, "split": val_split})
        });
        if improved {
            state.best_fitness = Some(fitness);
            state.best_epoch = Some(epoch);
            save_model(model, &self.meta, &self.paths.best)?;
        }
        save_model(model, &self.meta, &self.paths.last)?;
        if self.args.save_period > 0 && (epoch + 1).is_multiple_of(self.args.save_period) {
            save_model(
                model,
                &self.meta,
                &self.paths.weights.join(format!("epoch_{}.bpk", epoch + 1)),
            )?;
        }
        state.epoch = epoch + 1;
        state.batch = 0;
        state.tloss = [0.0; 3];
        state.tloss_count = 0;
        save_run(&self.paths, state, &self.model, &self.ema, &self.acc, &self.run_start)?;
        if self.args.plots {
            let _ = crate::plots::plot_results_csv(&self.paths.results, self.paths.out.join("results.svg"));
        }
        observer(&TrainEvent::EpochEnd {
            epoch,
            validated: report.is_some(),
            row,
            improved,
            train_images_per_sec: train_ips,
        });
        Ok(())
    }

    /// The epoch of the best fitness so far.
    fn best_epoch(&self) -> Option<usize> {
        self.state.best_epoch
    }

    /// `--patience`.
    fn patience(&self) -> usize {
        self.args.patience
    }

    /// Logs the early stop.
    fn log_early_stop(&self) {
        tracing::info!("no improvement for {} epochs: stopping early", self.args.patience);
    }

    /// The run ends at the epoch boundary, reported as `Stopped` at batch 0 of the
    /// next epoch; it counts as stopped when epochs were left.
    fn stop_between_epochs(&mut self, observer: &mut dyn FnMut(&TrainEvent)) -> StopBetween {
        observer(&TrainEvent::Stopped {
            epoch: self.state.epoch,
            batch: 0,
        });
        StopBetween::End {
            stopped: self.state.epoch < self.args.epochs,
        }
    }

    /// The curves of the last validation (a run that was not stopped), the
    /// `Finished` event and the summary.
    fn finish(
        self,
        stopped: bool,
        final_val: Option<ValReport>,
        observer: &mut dyn FnMut(&TrainEvent),
    ) -> Result<TrainSummary, TrainError> {
        let paths = self.paths;
        if !stopped
            && self.args.plots
            && let Some(v) = &final_val
        {
            let names = &self.names;
            let _ = crate::plots::plot_pr_curve(&v.metrics, paths.out.join("PR_curve.svg"));
            let _ =
                crate::plots::plot_confusion_matrix(&v.confusion, names, paths.out.join("confusion_matrix.svg"), false);
            let _ = crate::plots::plot_confusion_matrix(
                &v.confusion,
                names,
                paths.out.join("confusion_matrix_normalized.svg"),
                true,
            );
        }
        observer(&TrainEvent::Finished {
            best: paths.best.clone(),
            last: paths.last.clone(),
            best_fitness: self.state.best_fitness,
        });
        Ok(TrainSummary {
            out: paths.out.clone(),
            best: paths.best,
            last: paths.last,
            best_fitness: self.state.best_fitness,
            epochs_done: self.state.epoch,
            stopped,
            final_val,
        })
    }
}

/// The settings of the run: `args`, or with `resume` those saved in the run's
/// state (a larger `epochs` extends it; the folder is where it is now), checked.
/// A new run refuses a folder that holds one.
fn settings(
    mut args: TrainArgs,
    resume: bool,
    paths: &RunPaths,
) -> Result<(TrainArgs, Option<(RunState, RunTensors)>), TrainError> {
    let resumed: Option<(RunState, RunTensors)> = if resume {
        let (state, tensors): (RunState, RunTensors) = load_resume(&paths.state, &args.out, "")?;
        let epochs = args.epochs.max(state.args.epochs);
        // The run folder is where it is now, even if it was moved since.
        let out = args.out.clone();
        args = state.args.clone();
        args.epochs = epochs;
        args.out = out;
        Some((state, tensors))
    } else {
        if paths.state.exists() || paths.results.exists() {
            return Err(already_holds_a_run(&args.out));
        }
        None
    };
    args.validate().map_err(TrainError::Args)?;
    Ok((args, resumed))
}

/// The dataset's classes, the training loader (Ultralytics' augmentation) and
/// the validation images (of `val`, else `test`).
struct DetectData {
    names: Vec<String>,
    nc: usize,
    val_samples: Vec<TrainSample>,
    val_split: &'static str,
    loader: TrainLoader,
    nb: usize,
    n_images: usize,
    /// The median long side of the training images.
    native_side: Option<u32>,
}

impl DetectData {
    fn load(args: &TrainArgs) -> Result<DetectData, TrainError> {
        let dataset = YoloDataset::load(&args.data)?;
        let names: Vec<String> = dataset.names().to_vec();
        let nc = names.len();
        if nc == 0 {
            return Err(TrainError::Args("the dataset names no classes".into()));
        }
        let train_samples = samples_from_split(&dataset, "train")?;
        if train_samples.is_empty() {
            return Err(TrainError::Args("the train split has no images".into()));
        }
        let native_side = median_long_side(train_samples.iter().map(|(p, _)| p.as_path()))?;
        let val_split = ["val", "test"].into_iter().find(|s| dataset.split(s).is_some());
        let val_samples = match (args.val, val_split) {
            (true, Some(split)) => samples_from_split(&dataset, split)?,
            (true, None) => {
                tracing::warn!("the dataset has no val or test split: training without validation");
                Vec::new()
            }
            (false, _) => Vec::new(),
        };
        let val_split = val_split.unwrap_or("none");

        let hyp = AugmentParams {
            hsv_h: args.hsv_h,
            hsv_s: args.hsv_s,
            hsv_v: args.hsv_v,
            degrees: args.degrees,
            translate: args.translate,
            scale: args.scale,
            shear: args.shear,
            flipud: args.flipud,
            fliplr: args.fliplr,
        };
        let loader = TrainLoader::new(
            train_samples,
            LoaderConfig {
                imgsz: args.imgsz,
                batch: args.batch,
                workers: args.workers,
                seed: args.seed,
                mosaic: args.mosaic,
                hyp,
                cache_images: args.cache,
                augment: true,
            },
        )?;
        let nb = loader.len_batches();
        let n_images = loader.len_images();
        Ok(DetectData {
            names,
            nc,
            val_samples,
            val_split,
            loader,
            nb,
            n_images,
            native_side,
        })
    }
}

/// What the epoch loop continues from: the model, the run state, the EMA and the
/// gradients accumulated since the last optimiser step.
type Trainable = (YoloV8, RunState, Ema, Vec<Option<Vec<f32>>>);

/// Model, state, EMA and accumulated gradients as a resumed run left them.
fn restore(
    model: YoloV8,
    infos: &[ParamInfo],
    mut state: RunState,
    tensors: RunTensors,
    ad: &Device,
) -> Result<Trainable, TrainError> {
    if tensors.model.len() != infos.len() || tensors.model.iter().zip(infos).any(|(v, i)| v.len() != i.len()) {
        return Err(TrainError::Resume(
            "the saved state does not match this model (scale or classes changed?)".into(),
        ));
    }
    let model = write_params(model, &tensors.model, ad);
    state.optimizer.m = tensors.m;
    state.optimizer.v = tensors.v;
    let acc = if tensors.acc.is_empty() {
        Vec::new()
    } else {
        tensors.acc
    };
    let mut ema = state.ema.clone();
    ema.values = tensors.ema;
    Ok((model, state, ema, acc))
}

/// A new run's model (its initial weights, or those of `args.weights` where the
/// shapes match), state and EMA.
fn begin(
    mut model: YoloV8,
    init_values: Vec<Vec<f32>>,
    data: &DetectData,
    args: &TrainArgs,
    optimizer: Optimizer,
    device: &Device,
    ad: &Device,
) -> Result<Trainable, TrainError> {
    let mut values = init_values;
    if let Some(w) = &args.weights {
        let (mut pre_model, meta_w) = crate::import::load_detector(w, device)?;
        if meta_w.scale != args.model {
            return Err(TrainError::Args(format!(
                "--weights {} is a YOLOv8{} but the model to train is {}: give --model {} or leave --model out",
                w.display(),
                meta_w.scale.as_str(),
                args.model.as_str(),
                meta_w.scale.as_str()
            )));
        }
        if meta_w.bn_folded {
            // Epoch 0's batches, with mosaic as epoch 0 draws them.
            let mosaic = args.close_mosaic < args.epochs;
            pre_model = calibrate_folded(pre_model, &data.loader, mosaic, args.imgsz as usize, device)?;
        }
        let (_, pre) = read_params(&pre_model);
        let mut copied = 0;
        for (dst, src) in values.iter_mut().zip(pre) {
            if dst.len() == src.len() {
                *dst = src;
                copied += 1;
            }
        }
        tracing::info!(
            "transferred {copied}/{} tensors from {} ({} classes)",
            values.len(),
            w.display(),
            meta_w.num_classes
        );
        model = write_params(model, &values, ad);
    }
    let ema = Ema::new(values.clone());
    let state = RunState {
        args: args.clone(),
        names: data.names.clone(),
        epoch: 0,
        batch: 0,
        last_opt_step: -1,
        best_fitness: None,
        best_epoch: None,
        tloss: [0.0; 3],
        tloss_count: 0,
        optimizer,
        ema: ema.clone(),
        elapsed_secs: 0.0,
        lengths: Vec::new(),
        sections: Vec::new(),
    };
    let mut run_ema = state.ema.clone();
    run_ema.values = ema.values;
    Ok((model, state, run_ema, Vec::new()))
}

/// A loader batch's images (`b` planar RGB `imgsz²` images) as the network's input.
fn batch_input(images: Vec<f32>, b: usize, imgsz: usize, device: &Device) -> Tensor<4> {
    Tensor::<4>::from_data(TensorData::new(images, [b, 3, imgsz, imgsz]), device)
}

/// Images of the first training batches used to calibrate a folded start model.
const CALIBRATION_IMAGES: usize = 64;

/// Batch norm of a start model that arrived folded (an ONNX import) given the
/// statistics of the training images (see `import::bn_calibrate`).
fn calibrate_folded(
    model: YoloV8,
    loader: &TrainLoader,
    mosaic: bool,
    imgsz: usize,
    device: &Device,
) -> Result<YoloV8, TrainError> {
    let mut batches = Vec::new();
    let mut seen = 0;
    for batch in loader.epoch(0, mosaic) {
        let batch = batch?;
        let b = batch.batch;
        batches.push(batch_input(batch.images, b, imgsz, device));
        seen += b;
        if seen >= CALIBRATION_IMAGES {
            break;
        }
    }
    let (model, layers) = crate::import::bn_calibrate::calibrate(model, &batches);
    tracing::info!("batch norm of {layers} folded layers calibrated on {seen} training images");
    Ok(model)
}

/// The EMA values in a fresh non-autodiff model.
fn materialize(template: &YoloV8, values: &[Vec<f32>], device: &Device) -> YoloV8 {
    write_params(template.clone(), values, device)
}

fn save_run(
    paths: &RunPaths,
    state: &mut RunState,
    model: &YoloV8,
    ema: &Ema,
    acc: &[Option<Vec<f32>>],
    run_start: &Instant,
) -> Result<(), TrainError> {
    let (_, values) = read_params(model);
    state.elapsed_secs = run_start.elapsed().as_secs_f64();
    state.ema = Ema {
        values: Vec::new(),
        ..ema.clone()
    };
    let tensors = RunTensors {
        model: values,
        ema: ema.values.clone(),
        m: state.optimizer.m.clone(),
        v: state.optimizer.v.clone(),
        acc: acc.to_vec(),
    };
    let mut header = state.clone();
    header.optimizer.m = Vec::new();
    header.optimizer.v = Vec::new();
    save_state(&paths.state, &header, &tensors).map_err(TrainError::Io)
}
