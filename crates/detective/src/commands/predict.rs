//! `detective predict`: detections for images or the frames of a video, as a table,
//! JSON lines, or annotated images / an annotated video with red boxes (for a
//! segmenter, see `predict_segment`).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context, Result, bail};
use detective_edge::{VideoReader, VideoWriter, is_video_source};
use detective_ml::{Detector, PredictOptions, Prediction};
use detective_vision::Frame;
use detective_vision::encode::{encode_jpeg, encode_png};
use detective_vision::overlay::draw_detections;

use crate::cli::{PredictArgs, TaskArg};
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
    let segment = match args.task {
        Some(t) => t == TaskArg::Segment,
        None => detective_ml::segmenter::is_segmenter(&args.model),
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
    };
    opts.validate()?;
    let video = is_video_source(&args.source);
    let images = if video {
        Vec::new()
    } else {
        resolve_source(&args.source)?
    };
    let model_path = detective_ml::bundled::resolve(&args.model)?;
    let model = Detector::load(&model_path, args.names.clone(), args.threads)?;
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

/// The closing line of an image run (unless `--json`) and its exit code: failure
/// when any image could not be read.
pub(super) fn finish_images(json: bool, images: usize, failed: usize, total_ms: f64, extra: &str) -> Result<ExitCode> {
    let done = images - failed;
    if !json {
        eprintln!(
            "{done} images in {total_ms:.0} ms ({:.1} ms per image){extra}{}",
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

/// Name of the annotated video written for `source` into `--save`.
fn video_output_name(source: &str) -> String {
    let path = source.strip_prefix("file://").unwrap_or(source);
    let stem = if source.contains("://") && !source.starts_with("file://") {
        None
    } else {
        Path::new(path).file_stem().map(|s| s.to_string_lossy().into_owned())
    };
    format!("{}.mp4", stem.unwrap_or_else(|| "stream".into()))
}

/// Every frame of a video file or stream through `step` (frame index, frame →
/// milliseconds spent and the frame to write, annotated when saving; `step`
/// reports the frame itself). Ctrl-C stops at the next frame and still finishes
/// the annotated video. Used by detectors and segmenters alike.
pub(crate) fn run_video(
    args: &PredictArgs,
    config: &Config,
    mut step: impl FnMut(u64, detective_vision::Frame) -> Result<(f64, detective_vision::Frame)>,
) -> Result<ExitCode> {
    let source = args.source.as_str();
    let mut reader = VideoReader::open(source, &config.decode_limits()).with_context(|| format!("opening {source}"))?;
    let info = reader.info().clone();
    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        if let Err(e) = ctrlc::set_handler(move || stop.store(true, Ordering::SeqCst)) {
            tracing::warn!("Ctrl-C handler not installed: {e}");
        }
    }
    let mut writer = match &args.save {
        Some(dir) => {
            let out = dir.join(video_output_name(source));
            let fps = info.fps.filter(|f| *f > 0.0 && *f <= 1000.0).unwrap_or(25.0);
            Some((
                VideoWriter::create(&out, info.width, info.height, fps)
                    .with_context(|| format!("writing {}", out.display()))?,
                out,
            ))
        }
        None => None,
    };
    let (mut total_ms, mut frames, mut error) = (0.0, 0u64, None);
    for (i, frame) in reader.by_ref().enumerate() {
        let frame = match frame {
            Ok(f) => f,
            Err(e) => {
                error = Some(e);
                break;
            }
        };
        let (ms, shown) = step(i as u64, frame)?;
        total_ms += ms;
        frames += 1;
        if let Some((w, _)) = writer.as_mut() {
            w.write(&shown)?;
        }
        if stop.load(Ordering::SeqCst) {
            eprintln!("stopped after {frames} frames (Ctrl-C)");
            break;
        }
    }
    if let Some((w, out)) = writer {
        let n = w.finish().with_context(|| format!("finishing {}", out.display()))?;
        if !args.json {
            eprintln!("annotated video: {} ({n} frames)", out.display());
        }
    }
    if !args.json {
        eprintln!(
            "{frames} frames in {total_ms:.0} ms ({:.1} ms per frame)",
            total_ms / frames.max(1) as f64
        );
    }
    if let Some(e) = error {
        return Err(anyhow::Error::new(e).context(format!("decoding {source} after {frames} frames")));
    }
    if frames == 0 {
        bail!("{source}: the video has no frames");
    }
    Ok(ExitCode::SUCCESS)
}
