//! `detective train`: trains a detector with a progress bar per epoch; Ctrl-C
//! stops at the next optimiser step and saves `weights/last` for `--resume`.

use std::io::IsTerminal;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use detective_ml::detect::Scale;
use detective_ml::detect::args::TrainArgs;
use detective_ml::detect::prior::{self, Start};
use detective_ml::detect::trainer::{TrainEvent, train};
use detective_ml::runtime::device::ComputeDevice;
use indicatif::ProgressBar;

use crate::cli::{TaskArg, TrainCliArgs};
use crate::commands::train_common::{epoch_bar_style, install_stop_handler};
use crate::config::Config;

fn to_args(a: &TrainCliArgs, start: &Start, device: ComputeDevice) -> Result<TrainArgs> {
    let model = match (&a.model, start) {
        (Some(m), _) => Scale::parse(m).context("--model must be t, n or s")?,
        (None, Start::File(w)) => detective_ml::import::detector_scale(w)
            .with_context(|| format!("reading the scale of --weights {}", w.display()))?,
        (None, _) => Scale::N,
    };
    // A resumed run starts from its own saved state, whatever is named here.
    let weights = if a.resume {
        None
    } else {
        start.weights(model).context("unpacking the pretrained prior")?
    };
    let mut args = TrainArgs {
        model,
        weights,
        // On resume the saved count wins unless a larger one is given.
        epochs: a.epochs.unwrap_or(if a.resume { 0 } else { 100 }),
        imgsz: a.imgsz.unwrap_or(640),
        batch: a.batch.unwrap_or(16),
        out: a.out.clone().unwrap_or_else(|| "runs/detect/train".into()),
        seed: a.seed,
        workers: a.workers,
        device: device.to_string(),
        patience: a.patience,
        optimizer: a.optimizer.clone(),
        close_mosaic: a.close_mosaic,
        val: !a.no_val,
        save_period: a.save_period,
        plots: !a.no_plots,
        ..TrainArgs::default()
    };
    if let Some(d) = &a.data {
        args.data = d.clone();
    }
    if let Some(lr) = a.lr0 {
        args.lr0 = lr;
    }
    if let Some(m) = a.mosaic {
        args.mosaic = m;
    }
    if let Some(w) = a.warmup_epochs {
        args.warmup_epochs = w;
    }
    Ok(args)
}

/// What the run starts from, said before it starts.
fn start_line(start: &Start, scale: Scale) -> String {
    match start {
        Start::Prior if prior::exists(scale) => format!(
            "start: the pretrained defect prior of scale {} (models/prior-{}.bpk; --weights none trains from random weights)",
            scale.as_str(),
            scale.as_str()
        ),
        Start::Prior => format!(
            "start: random weights (scale {} has no pretrained prior)",
            scale.as_str()
        ),
        Start::Scratch => "start: random weights (--weights none)".to_string(),
        Start::File(w) => format!("start: {}", w.display()),
    }
}

pub fn run(a: &TrainCliArgs, config: &Config) -> Result<ExitCode> {
    // `--resume --out RUN` of a segmentation run needs no --task: its state says so.
    let segment_run = a.resume
        && a.out
            .as_deref()
            .is_some_and(|o| detective_ml::segment::trainer::seg_state_path(o).is_file());
    let device = super::device::resolve(&a.device, true)?;
    if matches!(a.task, TaskArg::Segment | TaskArg::Anomaly) || segment_run {
        return super::train_segment::run(a, device, config);
    }
    if a.classes {
        bail!("--classes is for --task segment (a detector always has one output per class)");
    }
    let segment_only = [
        a.patch.is_some(),
        a.patch_defect.is_some(),
        a.tile.is_some(),
        a.pos_weight.is_some(),
        a.crop_min.is_some(),
        a.dice.is_some(),
        a.defect_share.is_some(),
        a.input_norm.is_some(),
        a.anomaly_share.is_some(),
        a.false_alarms.is_some(),
    ];
    if segment_only.into_iter().any(|x| x) {
        bail!(
            "--patch, --patch-defect, --tile, --pos-weight, --crop-min, --dice, --defect-share, --input-norm, \
             --anomaly-share and --false-alarms are for --task segment or anomaly"
        );
    }
    if a.data.is_none() && !a.resume {
        bail!("--data is required (a dataset folder holding data.yaml, or the yaml itself)");
    }
    let start = Start::parse(a.weights.as_deref());
    let args = to_args(a, &start, device)?;
    if !a.resume {
        args.validate().map_err(|e| anyhow::anyhow!(e))?;
        eprintln!("{}", start_line(&start, args.model));
    }
    let mlflow = super::train_mlflow::CliMlflow::start(config, "detect", &args, &args.data, &args.out);
    let out = args.out.clone();
    let stop = install_stop_handler("step")?;
    let style = epoch_bar_style();
    let mut bar: Option<ProgressBar> = None;
    let mut epochs = 0usize;
    // Without a terminal the bar is hidden: print a plain line every tenth of an epoch.
    let plain = !std::io::stderr().is_terminal();
    let mut observer = |e: &TrainEvent| match e {
        TrainEvent::Started {
            epochs: n,
            start_epoch,
            batches,
            images,
            optimizer,
            lr0,
            resumed,
        } => {
            epochs = *n;
            eprintln!(
                "{} {images} training images, {batches} batches per epoch, epochs {}..{n}, optimizer {optimizer} lr0 {lr0}",
                if *resumed { "resuming:" } else { "training:" },
                start_epoch + 1
            );
            eprintln!(
                "{:>9} {:>9} {:>9} {:>9}  then P, R, mAP50, mAP50-95 on validation",
                "epoch", "box_loss", "cls_loss", "dfl_loss"
            );
        }
        TrainEvent::Batch {
            epoch,
            batch,
            batches,
            loss,
            images_per_sec,
        } => {
            let b = bar.get_or_insert_with(|| {
                let b = ProgressBar::new(*batches as u64).with_style(style.clone());
                b.set_prefix(format!("{}/{}", epoch + 1, epochs));
                b
            });
            b.set_position(*batch as u64 + 1);
            let step = (*batches / 10).max(1);
            if plain && (batch + 1) % step == 0 && batch + 1 < *batches {
                eprintln!(
                    "{:>9} batch {}/{}: box {:.4} cls {:.4} dfl {:.4}, {:.1} img/s",
                    format!("{}/{}", epoch + 1, epochs),
                    batch + 1,
                    batches,
                    loss.box_loss,
                    loss.cls_loss,
                    loss.dfl_loss,
                    images_per_sec
                );
            }
            b.set_message(format!(
                "{:>8.4} {:>8.4} {:>8.4} {:>5.1} img/s",
                loss.box_loss, loss.cls_loss, loss.dfl_loss, images_per_sec
            ));
        }
        TrainEvent::Validating { .. } => {
            if let Some(b) = &bar {
                b.set_message(format!("{} validating…", b.message()));
            }
        }
        TrainEvent::EpochEnd {
            row,
            validated,
            improved,
            train_images_per_sec,
            ..
        } => {
            if let Some(b) = bar.take() {
                b.finish_and_clear();
            }
            let metrics = if *validated {
                format!(
                    "P {:.3} R {:.3} mAP50 {:.3} mAP50-95 {:.3}",
                    row.precision, row.recall, row.map50, row.map50_95
                )
            } else {
                "(no validation)".to_string()
            };
            eprintln!(
                "{:>9} {:>9.4} {:>9.4} {:>9.4}  {metrics}  {:.1} img/s{}",
                format!("{}/{}", row.epoch, epochs),
                row.train.box_loss,
                row.train.cls_loss,
                row.train.dfl_loss,
                train_images_per_sec,
                if *improved { "  *best" } else { "" }
            );
            if let Some(m) = &mlflow {
                m.epoch(row.epoch, row);
            }
        }
        TrainEvent::Stopped { epoch, batch } => {
            if let Some(b) = bar.take() {
                b.finish_and_clear();
            }
            eprintln!("stopped at epoch {} batch {batch}: resume with --resume", epoch + 1);
        }
        TrainEvent::Finished {
            best,
            last,
            best_fitness,
        } => {
            eprintln!(
                "weights: {} (fitness {}), {}",
                best.display(),
                best_fitness.map(|f| format!("{f:.4}")).unwrap_or_else(|| "-".into()),
                last.display()
            );
        }
    };
    let summary = match train(args, a.resume, &mut observer, stop) {
        Ok(s) => s,
        Err(e) => {
            super::train_mlflow::CliMlflow::end(mlflow, true, false, &out);
            return Err(e.into());
        }
    };
    if let Some(v) = &summary.final_val {
        println!(
            "{}",
            serde_json::json!({"out": summary.out, "best": summary.best, "epochs": summary.epochs_done,
                "precision": v.metrics.precision, "recall": v.metrics.recall,
                "map50": v.metrics.map50, "map50_95": v.metrics.map50_95})
        );
    }
    if a.export && !summary.stopped && summary.best.is_file() {
        let onnx = summary.best.with_extension("onnx");
        let report = detective_ml::export::export_checkpoint(&summary.best, None, &onnx)?;
        eprintln!("exported {} ({} bytes)", report.path.display(), report.bytes);
    }
    super::train_mlflow::CliMlflow::end(mlflow, false, summary.stopped, &summary.out);
    Ok(if summary.stopped {
        ExitCode::from(130)
    } else {
        ExitCode::SUCCESS
    })
}
