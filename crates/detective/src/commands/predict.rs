//! `detective predict`: detections for images or the frames of a video, as a table,
//! JSON lines, or annotated images / an annotated video with red boxes (for a
//! segmenter, see `predict_segment`).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use detective_edge::is_video_source;
use detective_ml::{Detector, PredictOptions, Prediction};
use detective_vision::Frame;
use detective_vision::encode::{encode_jpeg, encode_png};
use detective_vision::overlay::draw_detections;

use crate::cli::{PredictArgs, TaskArg};
use crate::commands::predict_common::{finish_images, run_video};
use crate::config::Config;

/// The images a `--source` names, in a stable order.
pub fn resolve_source(source: &str) -> Result<Vec<PathBuf>> {
    let p = Path::new(source);
    if p.is_file() {
        return Ok(vec![p.to_path_buf()]);
    }
    let mut images: Vec<PathBuf> = if p.is_dir() {
        std::fs::read_dir(p)
            .with_context(|| format!("reading folder {source}"))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file() && detective_data::is_image_path(p))
            .collect()
    } else if source.contains(['*', '?', '[']) {
        glob::glob(source)
            .with_context(|| format!("bad glob pattern {source:?}"))?
            .filter_map(|r| r.ok())
            .filter(|p| p.is_file() && detective_data::is_image_path(p))
            .collect()
    } else {
        bail!("source {source:?} is not an image, a folder, a glob pattern or a video that exists");
    };
    images.sort();
    if images.is_empty() {
        bail!(
            "no images found in {source:?} (looked for {})",
            detective_data::dataset::IMAGE_EXTENSIONS.join(", ")
        );
    }
    Ok(images)
}

pub fn run(args: &PredictArgs, config: &Config) -> Result<ExitCode> {
    super::device::use_for_inference(&args.device, &args.model)?;
    let segment = match args.task {
        Some(t) => t != TaskArg::Detect,
        None => detective_ml::segment::segmenter::is_segmenter(&args.model),
    };
    if segment {
        let images = if is_video_source(&args.source) {
            Vec::new()
        } else {
            resolve_source(&args.source)?
        };
        return super::predict_segment::run(args, config, &images);
    }
    let opts = PredictOptions {
        conf: args.conf.unwrap_or(config.thresholds.conf),
        iou: args.iou,
        max_det: args.max_det,
        agnostic: args.agnostic_nms,
    };
    opts.validate()?;
    let video = is_video_source(&args.source);
    let images = if video {
        Vec::new()
    } else {
        resolve_source(&args.source)?
    };
    let model_path = detective_ml::detect::bundled::resolve(&args.model)?;
    let model = Detector::load(&model_path, args.names.clone(), args.threads)?.with_tiles(args.tiles.plan());
    tracing::debug!(backend = model.backend, "model loaded");
    if let Some(s) = args.imgsz
        && s != model.imgsz
    {
        bail!(
            "--imgsz {s} does not match the model's fixed input size {}",
            model.imgsz
        );
    }
    if let Some(dir) = &args.save {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    if video {
        let source = args.source.clone();
        run_video(args, config, |i, mut frame| {
            let pred = model.predict(&frame, &opts)?;
            let ms = pred.preprocess_ms + pred.inference_ms + pred.postprocess_ms;
            report(args, &source, Some(i), &pred, ms);
            if args.save.is_some() {
                draw_detections(&mut frame, &pred.detections);
            }
            Ok((ms, frame))
        })
    } else {
        run_images(args, config, &model, &opts, &images)
    }
}

/// Prints one result: a JSON line, or a readable line.
fn report(args: &PredictArgs, label: &str, frame: Option<u64>, pred: &Prediction, ms: f64) {
    if args.json {
        let mut line =
            serde_json::json!({"image": label, "detections": pred.detections, "ms": (ms * 1000.0).round() / 1000.0});
        if let Some(i) = frame {
            line["frame"] = i.into();
        }
        println!("{line}");
        return;
    }
    let summary: Vec<String> = pred
        .detections
        .iter()
        .map(|d| format!("{} {:.2}", d.name, d.confidence))
        .collect();
    let what = match frame {
        Some(i) => format!("{label} frame {i}"),
        None => label.to_string(),
    };
    println!(
        "{what}: {} defects{} ({ms:.1} ms)",
        pred.detections.len(),
        if summary.is_empty() {
            String::new()
        } else {
            format!(": {}", summary.join(", "))
        }
    );
}

fn run_images(
    args: &PredictArgs,
    config: &Config,
    model: &Detector,
    opts: &PredictOptions,
    images: &[PathBuf],
) -> Result<ExitCode> {
    let limits = config.decode_limits();
    let (mut total_ms, mut failed) = (0.0, 0usize);
    for path in images {
        let frame = match detective_vision::decode_file(path, &limits) {
            Ok(f) => f,
            Err(e) => {
                eprintln!("{}: skipped: {e}", path.display());
                failed += 1;
                continue;
            }
        };
        let pred = model.predict(&frame, opts)?;
        let ms = pred.preprocess_ms + pred.inference_ms + pred.postprocess_ms;
        total_ms += ms;
        report(args, &path.display().to_string(), None, &pred, ms);
        if let Some(dir) = &args.save {
            save_image(dir, path, frame, &pred)?;
        }
    }
    finish_images(args.json, images.len(), failed, total_ms, "")
}

fn save_image(dir: &Path, path: &Path, mut frame: Frame, pred: &Prediction) -> Result<()> {
    draw_detections(&mut frame, &pred.detections);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "image.jpg".into());
    let is_png = name.to_ascii_lowercase().ends_with(".png");
    let bytes = if is_png {
        encode_png(&frame)?
    } else {
        encode_jpeg(&frame, 90)?
    };
    let out = dir.join(if is_png || name.to_ascii_lowercase().ends_with(".jpg") {
        name
    } else {
        format!("{name}.jpg")
    });
    std::fs::write(&out, bytes).with_context(|| format!("writing {}", out.display()))?;
    Ok(())
}
