//! `detective predict`: detections for images, as a table, JSON lines, or annotated
//! images with red boxes.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use detective_ml::{Detector, PredictOptions};
use detective_vision::encode::{encode_jpeg, encode_png};
use detective_vision::overlay::draw_detections;

use crate::cli::PredictArgs;
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
    } else if ["mp4", "avi", "mkv", "mov"]
        .iter()
        .any(|e| source.to_ascii_lowercase().ends_with(e))
    {
        bail!("video sources are not supported by predict yet: extract frames to a folder first");
    } else {
        bail!("source {source:?} is not an image, a folder or a glob pattern that exists");
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
    let opts = PredictOptions {
        conf: args.conf.unwrap_or(config.thresholds.conf),
        iou: args.iou,
        max_det: args.max_det,
    };
    opts.validate()?;
    let images = resolve_source(&args.source)?;
    let model = Detector::load(&args.model, args.names.clone(), args.threads)?;
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
    let limits = config.decode_limits();
    let (mut total_ms, mut failed) = (0.0, 0usize);
    for path in &images {
        let frame = match detective_vision::decode_file(path, &limits) {
            Ok(f) => f,
            Err(e) => {
                eprintln!("{}: skipped: {e}", path.display());
                failed += 1;
                continue;
            }
        };
        let pred = model.predict(&frame, &opts)?;
        let ms = pred.preprocess_ms + pred.inference_ms + pred.postprocess_ms;
        total_ms += ms;
        if args.json {
            let line = serde_json::json!({"image": path.display().to_string(), "detections": pred.detections, "ms": (ms * 1000.0).round() / 1000.0});
            println!("{line}");
        } else {
            let summary: Vec<String> = pred
                .detections
                .iter()
                .map(|d| format!("{} {:.2}", d.name, d.confidence))
                .collect();
            println!(
                "{}: {} defects{} ({ms:.1} ms)",
                path.display(),
                pred.detections.len(),
                if summary.is_empty() {
                    String::new()
                } else {
                    format!(": {}", summary.join(", "))
                }
            );
        }
        if let Some(dir) = &args.save {
            let mut annotated = frame;
            draw_detections(&mut annotated, &pred.detections);
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| "image.jpg".into());
            let is_png = name.to_ascii_lowercase().ends_with(".png");
            let bytes = if is_png {
                encode_png(&annotated)?
            } else {
                encode_jpeg(&annotated, 90)?
            };
            let out = dir.join(if is_png || name.to_ascii_lowercase().ends_with(".jpg") {
                name
            } else {
                format!("{name}.jpg")
            });
            std::fs::write(&out, bytes).with_context(|| format!("writing {}", out.display()))?;
        }
    }
    let done = images.len() - failed;
    if !args.json {
        eprintln!(
            "{done} images in {total_ms:.0} ms ({:.1} ms per image){}",
            total_ms / done.max(1) as f64,
            if failed > 0 {
                format!(", {failed} unreadable")
            } else {
                String::new()
            }
        );
    }
    Ok(if failed > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
