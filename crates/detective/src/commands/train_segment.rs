//! `detective train --task segment`: trains the UNetTiny segmenter with a progress
//! bar per epoch; Ctrl-C ends the run after the current batch and saves
//! `weights/last`; `--resume --out RUN` continues from the state saved after the
//! last completed epoch.

use std::io::IsTerminal;
use std::process::ExitCode;

use anyhow::{Context, Result};
use detective_ml::runtime::device::ComputeDevice;
use detective_ml::segment::DiceScope;
use detective_ml::segment::args::SegTrainArgs;
use detective_ml::segment::trainer::{SegResultsRow, SegTrainEvent, train_segmenter};
use indicatif::ProgressBar;

use crate::cli::{TaskArg, TrainCliArgs};
use crate::config::Config;

fn to_args(a: &TrainCliArgs) -> Result<SegTrainArgs> {
    if a.resume {
        // The run's own settings are read from its state; only --out and a larger --epochs count.
        let out = a.out.clone().context("--resume needs --out RUN, the run to continue")?;
        return Ok(SegTrainArgs {
            out,
            epochs: a.epochs.unwrap_or(0),
            ..SegTrainArgs::default()
        });
    }
    let data = a
        .data
        .clone()
        .context("--data is required (a dataset folder holding data.yaml and masks/, or the yaml itself)")?;
    let mut args = SegTrainArgs {
        data,
        // `none` (random weights) is the default of a segmenter anyway.
        weights: a.weights.clone().filter(|w| w.as_os_str() != "none"),
        seed: a.seed,
        patience: a.patience,
        val: !a.no_val,
        classes: a.classes,
        anomaly: a.task == TaskArg::Anomaly,
        ..SegTrainArgs::default()
    };
    if !args.anomaly && (a.anomaly_share.is_some() || a.false_alarms.is_some()) {
        anyhow::bail!("--anomaly-share and --false-alarms are for --task anomaly");
    }
    if let Some(v) = a.anomaly_share {
        args.anomaly_share = v;
    }
    if let Some(v) = a.false_alarms {
        args.false_alarm_rate = v;
    }
    if args.anomaly && args.out == SegTrainArgs::default().out {
        args.out = "runs/anomaly/train".into();
    }
    if let Some(e) = a.epochs {
        args.epochs = e;
    }
    if let Some(s) = a.imgsz {
        args.imgsz = s;
    }
    if let Some(b) = a.batch {
        args.batch = b;
    }
    if let Some(o) = &a.out {
        args.out = o.clone();
    }
    if let Some(lr) = a.lr0 {
        args.lr0 = lr;
    }
    if let Some(w) = a.warmup_epochs {
        args.warmup_epochs = w;
    }
    if let Some(p) = a.patch {
        args.patch = p;
    }
    if let Some(t) = a.tile {
        args.tile = t;
    }
    if let Some(w) = a.pos_weight {
        args.pos_weight = w;
    }
    if let Some(p) = a.patch_defect {
        if a.patch.is_none() && a.tile.is_none() {
            anyhow::bail!("--patch-defect needs --patch or --tile");
        }
        args.patch_defect = p;
    }
    if let Some(d) = a.defect_share {
        args.defect_share = d;
    }
    if let Some(n) = &a.input_norm {
        args.standardize = n == "image";
    }
    if let Some(c) = a.crop_min {
        args.crop_min = c;
    }
    if let Some(d) = &a.dice {
        args.dice = DiceScope::from_name(d).with_context(|| format!("--dice {d}: expected batch or image"))?;
    }
    args.validate().map_err(|e| anyhow::anyhow!(e))?;
    Ok(args)
}

pub fn run(a: &TrainCliArgs, device: ComputeDevice, config: &Config) -> Result<ExitCode> {
    let mut args = to_args(a)?;
    if !a.resume {
        args.device = device.to_string();
    }
    let mlflow = super::train_mlflow::CliMlflow::start(config, "segment", &args, &args.data, &args.out);
    let out = args.out.clone();
    let stop = super::train_common::install_stop_handler("batch")?;
    let style = super::train_common::epoch_bar_style();
    let mut bar: Option<ProgressBar> = None;
    let mut epochs = 0usize;
    let plain = !std::io::stderr().is_terminal();
    let mut observer = |e: &SegTrainEvent| match e {
        SegTrainEvent::Started {
            epochs: n,
            batches,
            images,
            val_images,
            params,
            outputs,
        } => {
            epochs = *n;
            eprintln!(
                "training UNetTiny ({params} parameters): {images} training images, {batches} batches per epoch, \
                 {n} epochs, {val_images} validation images"
            );
            if outputs.len() > 1 {
                eprintln!("one output map per class: {}", outputs.join(", "));
            }
            eprintln!(
                "{:>9} {:>9} {:>9}  then Dice and IoU on validation (per image / over pixels)",
                "epoch", "bce_loss", "dice_loss"
            );
        }
        SegTrainEvent::Batch {
            epoch,
            batch,
            batches,
            loss,
            images_per_sec,
        } => {
            if plain {
                let step = (batches / 10).max(1);
                if (batch + 1) % step == 0 || batch + 1 == *batches {
                    eprintln!(
                        "{:>9} batch {}/{batches}: bce {:.4} dice {:.4}, {images_per_sec:.1} img/s",
                        format!("{}/{}", epoch + 1, epochs),
                        batch + 1,
                        loss.bce,
                        loss.dice
                    );
                }
                return;
            }
            let b = bar.get_or_insert_with(|| {
                let b = ProgressBar::new(*batches as u64);
                b.set_style(style.clone());
                b.set_prefix(format!("{}/{}", epoch + 1, epochs));
                b
            });
            b.set_position(*batch as u64 + 1);
            b.set_message(format!(
                "{:>8.4} {:>8.4} {:>5.1} img/s",
                loss.bce, loss.dice, images_per_sec
            ));
        }
        SegTrainEvent::Validating { .. } => {
            if let Some(b) = &bar {
                b.set_message(format!("{} validating…", b.message()));
            }
        }
        SegTrainEvent::EpochEnd {
            row: row @ SegResultsRow { anomaly: Some(an), .. },
            improved,
            train_images_per_sec,
            ..
        } => {
            if let Some(b) = bar.take() {
                b.finish_and_clear();
            }
            let fig = |v: Option<f64>| v.map_or("—".to_string(), |v| format!("{v:.3}"));
            eprintln!(
                "{:>9} {:>9.4} {:>9.4}  image AUROC {}  pixel AUROC {}  PRO {}  threshold {:.4} (calibrated on \
                 good validation images)  {train_images_per_sec:.1} img/s{}",
                format!("{}/{}", row.epoch, epochs),
                row.train.bce,
                row.train.dice,
                fig(an.image_auroc),
                fig(an.pixel_auroc),
                fig(an.pro),
                an.threshold,
                if *improved { "  *best" } else { "" }
            );
        }
        SegTrainEvent::EpochEnd {
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
                let per_class = if row.class_dice_pixels.is_empty() {
                    String::new()
                } else {
                    let d: Vec<String> = row.class_dice_pixels.iter().map(|d| format!("{d:.3}")).collect();
                    format!("  per class (pixels) {}", d.join(" "))
                };
                format!(
                    "Dice {:.3} / {:.3}  IoU {:.3} / {:.3}  (best threshold {:.2}: fitness {:.3} = defect pixels' \
                     Dice {:.3} with {:.0} % of clean parts clean; Dice {:.3}){per_class}",
                    row.dice,
                    row.dice_pixels,
                    row.iou,
                    row.iou_pixels,
                    row.best_threshold,
                    row.best_fitness,
                    row.best_dice_defects,
                    row.best_clean_ok * 100.0,
                    row.best_dice
                )
            } else {
                "(no validation)".to_string()
            };
            eprintln!(
                "{:>9} {:>9.4} {:>9.4}  {metrics}  {train_images_per_sec:.1} img/s{}",
                format!("{}/{}", row.epoch, epochs),
                row.train.bce,
                row.train.dice,
                if *improved { "  *best" } else { "" }
            );
            if let Some(m) = &mlflow {
                m.epoch(row.epoch, row);
            }
        }
        SegTrainEvent::Stopped { epoch } => {
            if let Some(b) = bar.take() {
                b.finish_and_clear();
            }
            eprintln!(
                "stopped in epoch {}: weights/last saved; continue with --resume (the epoch runs again from its start)",
                epoch + 1
            );
        }
        SegTrainEvent::Finished { best, last } => {
            eprintln!("weights: {}, {}", best.display(), last.display());
        }
    };
    let anomaly = args.anomaly;
    let summary = match train_segmenter(args, &mut observer, stop, a.resume) {
        Ok(s) => s,
        Err(e) => {
            super::train_mlflow::CliMlflow::end(mlflow, true, false, &out);
            return Err(e.into());
        }
    };
    if let Some(v) = summary.final_val.as_ref().filter(|_| anomaly) {
        // the last epoch's figures; the threshold is the one calibrated for `best`
        let threshold = detective_ml::checkpoint::load_seg_meta(&summary.best)
            .ok()
            .map(|m| m.threshold);
        println!(
            "{}",
            serde_json::json!({"out": summary.out, "best": summary.best, "epochs": summary.epochs_done,
                "task": "anomaly", "image_auroc": v.auroc, "pixel_auroc": v.pixel_auroc, "pro": v.pro,
                "threshold": threshold})
        );
    } else if let Some(v) = &summary.final_val {
        println!(
            "{}",
            serde_json::json!({"out": summary.out, "best": summary.best, "epochs": summary.epochs_done,
                "dice": v.at.dice, "iou": v.at.iou, "dice_pixels": v.at.dice_pixels, "iou_pixels": v.at.iou_pixels,
                "threshold": v.at.threshold, "best_threshold": v.best.threshold, "best_dice": v.best.dice,
                "best_fitness": v.best.fitness, "best_dice_defects": v.best.dice_defects, "best_clean_ok": v.best.clean_ok})
        );
    }
    if a.export {
        eprintln!("--export is not available for --task segment yet");
    }
    super::train_mlflow::CliMlflow::end(mlflow, false, summary.stopped, &summary.out);
    Ok(if summary.stopped {
        ExitCode::from(130)
    } else {
        ExitCode::SUCCESS
    })
}
