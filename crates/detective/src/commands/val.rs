//! `detective val`: precision, recall, mAP50 and mAP50-95 of a model on a split,
//! overall and per class, as a table or JSON.

use std::process::ExitCode;

use anyhow::{Result, bail};
use detective_data::YoloDataset;
use detective_ml::Detector;
use detective_ml::detect::loader::samples_from_split;
use detective_ml::detect::validate::validate_engine;
use indicatif::{ProgressBar, ProgressStyle};

use crate::cli::{TaskArg, ValArgs};
use crate::config::Config;

pub fn run(a: &ValArgs, _config: &Config) -> Result<ExitCode> {
    super::device::use_for_inference(&a.device, &a.model)?;
    // the task its metadata names, when the file gives maps (read once)
    let map_task = detective_ml::segment::segmenter::map_task(&a.model);
    let segment = match a.task {
        Some(t) => t != TaskArg::Detect,
        None => map_task.is_some(),
    };
    if segment {
        let anomaly = a.task == Some(TaskArg::Anomaly) || map_task == Some(detective_core::Task::Anomaly);
        return run_segment(a, anomaly);
    }
    if a.threshold.is_some() {
        bail!("--threshold is for segmentation models (detection uses --iou and conf 0.001)");
    }
    if !(0.0..=1.0).contains(&a.iou) || a.max_det == 0 {
        bail!("--iou must be within 0..1 and --max-det positive");
    }
    let ds = YoloDataset::load(&a.data)?;
    let samples = samples_from_split(&ds, &a.split)?;
    if samples.is_empty() {
        bail!("split {:?} of {} has no images", a.split, a.data.display());
    }
    let model =
        Detector::load(&detective_ml::detect::bundled::resolve(&a.model)?, None, a.threads)?.with_tiles(a.tiles.plan());
    if let Some(s) = a.imgsz
        && s != model.imgsz
    {
        bail!(
            "--imgsz {s} does not match the model's fixed input size {}",
            model.imgsz
        );
    }
    let names = ds.names().to_vec();
    if names.len() != model.names.len() {
        bail!(
            "the dataset has {} classes but the model {} ({})",
            names.len(),
            model.names.len(),
            model.names.join(", ")
        );
    }
    let bar = if a.json {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(samples.len() as u64).with_style(
            ProgressStyle::with_template("validating {bar:30.cyan/blue} {pos}/{len} [{elapsed_precise}<{eta_precise}]")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        )
    };
    let report = validate_engine(
        model.engine(),
        &model.sight(),
        &samples,
        &names,
        a.iou,
        a.max_det,
        |i, _| bar.set_position(i as u64),
    )?;
    bar.finish_and_clear();
    let m = &report.metrics;
    let coco = report.evaluator.finish_coco_with_max_dets(100);
    if a.json {
        let out = serde_json::json!({
            "model": a.model, "data": a.data, "split": a.split, "backend": model.backend,
            "images": report.images, "instances": m.instances,
            "precision": m.precision, "recall": m.recall, "map50": m.map50, "map50_95": m.map50_95,
            "fitness": m.fitness,
            "per_class": m.per_class.iter().map(|c| serde_json::json!({
                "class": c.class, "name": c.name, "images": c.images, "instances": c.instances,
                "precision": c.precision, "recall": c.recall, "map50": c.map50, "map50_95": c.map50_95})).collect::<Vec<_>>(),
            "coco": {"ap": coco.ap, "ap50": coco.ap50, "ap75": coco.ap75, "max_dets": coco.max_dets},
            "ms_per_image": report.ms_per_image,
        });
        println!("{out}");
    } else {
        println!(
            "{:>18} {:>7} {:>9} {:>7} {:>7} {:>7} {:>9}",
            "class", "images", "instances", "P", "R", "mAP50", "mAP50-95"
        );
        println!(
            "{:>18} {:>7} {:>9} {:>7.3} {:>7.3} {:>7.3} {:>9.3}",
            "all", m.images, m.instances, m.precision, m.recall, m.map50, m.map50_95
        );
        for c in &m.per_class {
            println!(
                "{:>18} {:>7} {:>9} {:>7.3} {:>7.3} {:>7.3} {:>9.3}",
                c.name, c.images, c.instances, c.precision, c.recall, c.map50, c.map50_95
            );
        }
        println!(
            "COCO (pycocotools method, maxDets 100): AP50 {:.3}  AP50-95 {:.3}   {:.1} ms per image on {}",
            coco.ap50.unwrap_or(f64::NAN),
            coco.ap.unwrap_or(f64::NAN),
            report.ms_per_image,
            model.backend
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `detective val --task segment|anomaly`: Dice and IoU of a segmenter on a
/// split, or an anomaly model's figures ([`print_anomaly`]) when `anomaly`.
fn run_segment(a: &ValArgs, anomaly: bool) -> Result<ExitCode> {
    use detective_ml::segment::loader::seg_samples;
    use detective_ml::segment::segmenter::AnySegmenter;
    let seg = AnySegmenter::load(&a.model, a.threads)?.with_tiles(a.tiles.plan());
    let (model_imgsz, model_threshold) = (seg.imgsz(), seg.threshold());
    let imgsz = a.imgsz.unwrap_or(model_imgsz);
    if imgsz == 0 || !imgsz.is_multiple_of(16) || imgsz > 4096 {
        bail!("--imgsz {imgsz} must be a multiple of 16 up to 4096");
    }
    if seg.fixed_size() && imgsz != model_imgsz {
        bail!("--imgsz {imgsz} does not match the ONNX model's fixed input size {model_imgsz}");
    }
    let threshold = a.threshold.unwrap_or(model_threshold);
    if !(threshold > 0.0 && threshold < 1.0) {
        bail!("--threshold {threshold} must be within (0, 1)");
    }
    let ds = YoloDataset::load(&a.data)?;
    let samples = seg_samples(&ds, &a.split);
    if samples.is_empty() {
        bail!("split {:?} of {} has no images", a.split, a.data.display());
    }
    // an anomaly model is scored per image from the labels alone where there are no masks
    if !anomaly && samples.iter().all(|s| s.mask.is_none()) {
        bail!(
            "no masks for split {:?} in {} (expected masks/{}/<stem>.png)",
            a.split,
            a.data.display(),
            a.split
        );
    }
    let start = std::time::Instant::now();
    let names = seg.names().to_vec();
    let m = seg.validate(&samples, imgsz, threshold)?;
    let backend = seg.backend();
    let ms = start.elapsed().as_secs_f64() * 1000.0 / samples.len() as f64;
    if anomaly {
        print_anomaly(a, &m, imgsz, ms, backend);
        return Ok(ExitCode::SUCCESS);
    }
    if a.json {
        let out = serde_json::json!({
            "model": a.model, "data": a.data, "split": a.split, "task": "segment", "imgsz": imgsz,
            "images": m.images, "images_with_defects": m.images_with_defects, "false_alarms": m.false_alarms,
            "threshold": m.at.threshold, "dice": m.at.dice, "iou": m.at.iou,
            "dice_pixels": m.at.dice_pixels, "iou_pixels": m.at.iou_pixels,
            "dice_defects": m.at.dice_defects, "clean_ok": m.at.clean_ok, "fitness": m.at.fitness,
            "best_threshold": m.best.threshold, "best_dice": m.best.dice, "best_iou": m.best.iou,
            "best_dice_pixels": m.best.dice_pixels, "best_dice_defects": m.best.dice_defects,
            "best_clean_ok": m.best.clean_ok, "best_fitness": m.best.fitness, "auroc": m.auroc,
            "ms_per_image": ms, "backend": backend, "names": names, "per_class": m.per_class,
        });
        println!("{out}");
    } else {
        println!(
            "{} images ({} with defects) at imgsz {imgsz}, threshold {:.2}",
            m.images, m.images_with_defects, m.at.threshold
        );
        println!("{:>22} {:>8} {:>8}", "", "Dice", "IoU");
        println!("{:>22} {:>8.4} {:>8.4}", "mean per image", m.at.dice, m.at.iou);
        println!(
            "{:>22} {:>8.4} {:>8.4}",
            "over all pixels", m.at.dice_pixels, m.at.iou_pixels
        );
        println!("{:>22} {:>8.4}", "defective images' pixels", m.at.dice_defects);
        println!(
            "false alarms on clean parts: {} of {}; fitness (harmonic mean of the defect pixels' Dice and the clean \
             parts without a false alarm) {:.4}",
            m.false_alarms,
            m.images - m.images_with_defects,
            m.at.fitness
        );
        if let Some(auc) = m.auroc {
            println!("defective or not, scored by each image's highest probability: AUROC {auc:.4}");
        }
        println!(
            "best threshold by fitness {:.2}: fitness {:.4} (defect pixels' Dice {:.4}, clean parts without a false \
             alarm {:.1} %); Dice {:.4} per image, {:.4} over pixels",
            m.best.threshold,
            m.best.fitness,
            m.best.dice_defects,
            m.best.clean_ok * 100.0,
            m.best.dice,
            m.best.dice_pixels
        );
        if !m.per_class.is_empty() {
            println!(
                "per class: each class's map at threshold {:.2} against the pixels the boxes give that class \
                 (an image without the class is a clean part for it):",
                m.at.threshold
            );
            println!(
                "{:>22} {:>7} {:>8} {:>8} {:>13} {:>13}",
                "class", "images", "Dice", "IoU", "Dice (pixels)", "IoU (pixels)"
            );
            for c in &m.per_class {
                println!(
                    "{:>22} {:>7} {:>8.4} {:>8.4} {:>13.4} {:>13.4}",
                    c.name, c.images_with_defects, c.dice, c.iou, c.dice_pixels, c.iou_pixels
                );
            }
        }
        println!("{ms:.1} ms per image on {backend}");
    }
    Ok(ExitCode::SUCCESS)
}

/// An anomaly model's figures: image AUROC (each image scored by its map's
/// highest value), pixel AUROC, PRO (area to 30 % false positives), and at the threshold (the calibrated one saved
/// with the model unless --threshold) the images flagged: F1, precision, recall,
/// false alarms on the good images; the masks' Dice at the threshold too.
fn print_anomaly(a: &ValArgs, m: &detective_ml::metrics::SegMetrics, imgsz: u32, ms: f64, backend: &str) {
    let f = &m.flagged;
    if a.json {
        let out = serde_json::json!({
            "model": a.model, "data": a.data, "split": a.split, "task": "anomaly", "imgsz": imgsz,
            "images": m.images, "images_with_defects": m.images_with_defects,
            "image_auroc": m.auroc, "pixel_auroc": m.pixel_auroc, "pro": m.pro, "threshold": m.at.threshold,
            "f1": f.f1, "precision": f.precision, "recall": f.recall,
            "false_alarm_rate": f.false_alarm_rate, "tp": f.tp, "fp": f.fp, "fn": f.fn_, "tn": f.tn,
            "dice_pixels": m.at.dice_pixels, "iou_pixels": m.at.iou_pixels, "dice_defects": m.at.dice_defects,
            "ms_per_image": ms, "backend": backend,
        });
        println!("{out}");
        return;
    }
    let fig = |v: Option<f64>| {
        v.map_or("— (the split needs good and defective images)".to_string(), |v| {
            format!("{v:.4}")
        })
    };
    println!(
        "{} images ({} with defects, {} good) at imgsz {imgsz}",
        m.images,
        m.images_with_defects,
        m.images - m.images_with_defects
    );
    println!(
        "image AUROC (defective or not, by each map's highest value): {}",
        fig(m.auroc)
    );
    println!(
        "pixel AUROC (anomalous pixel or not, over every pixel):      {}",
        fig(m.pixel_auroc)
    );
    println!(
        "PRO (each defect region's share found, to 30 % false pixels): {}",
        fig(m.pro)
    );
    println!(
        "at threshold {:.4}: {} of {} defective images flagged (recall {:.3}), {} of {} good images flagged \
         (false alarms {:.1} %); precision {:.3}, F1 {:.3}",
        m.at.threshold,
        f.tp,
        f.tp + f.fn_,
        f.recall,
        f.fp,
        f.fp + f.tn,
        f.false_alarm_rate * 100.0,
        f.precision,
        f.f1
    );
    println!(
        "anomalous pixels at that threshold against the masks: Dice {:.4} over pixels (IoU {:.4})",
        m.at.dice_pixels, m.at.iou_pixels
    );
    println!("{ms:.1} ms per image on {backend}");
}
