//! `detective predict --task segment`: defect masks for images or the frames of
//! a video. Per image (frame) it reports the defect regions (connected components
//! of the thresholded probability map) as detections — box, area, mean
//! probability — and with `--save DIR` writes `NAME_heatmap.png` (probabilities in
//! the turbo colour map), `NAME_overlay.png` (heatmap blended over the image,
//! regions boxed in red), `NAME_mask.png` (binary mask, 0/255); for a video, one
//! `NAME.mp4` of the overlays.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use detective_core::{BBox, Detection};
use detective_ml::segment::segmenter::{AnySegmenter, Segmentation};
use detective_vision::GrayFrame;
use detective_vision::encode::{encode_gray_png, encode_png};
use detective_vision::overlay::{blend_heatmap, draw_detections, heatmap};

use crate::cli::PredictArgs;
use crate::config::Config;

pub fn run(args: &PredictArgs, config: &Config, images: &[PathBuf]) -> Result<ExitCode> {
    let model_path = detective_ml::detect::bundled::resolve(&args.model)?;
    let engine = AnySegmenter::load(&model_path, args.threads)?.with_tiles(args.tiles.plan());
    let (model_imgsz, model_threshold) = (engine.imgsz(), engine.threshold());
    let imgsz = args.imgsz.unwrap_or(model_imgsz);
    if imgsz == 0 || !imgsz.is_multiple_of(16) || imgsz > 4096 {
        bail!("--imgsz {imgsz} must be a multiple of 16 up to 4096");
    }
    if engine.fixed_size() && imgsz != model_imgsz {
        bail!("--imgsz {imgsz} does not match the ONNX model's fixed input size {model_imgsz}");
    }
    let threshold = args.conf.unwrap_or(model_threshold);
    if !(threshold > 0.0 && threshold < 1.0) {
        bail!("--conf {threshold} (the pixel threshold of a segmenter) must be within (0, 1)");
    }
    if let Some(dir) = &args.save {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    if detective_edge::is_video_source(&args.source) {
        let source = args.source.clone();
        return super::predict_common::run_video(args, config, |i, frame| {
            let t0 = Instant::now();
            let seg = engine.segment(&frame, imgsz, threshold)?;
            let ms = t0.elapsed().as_secs_f64() * 1000.0;
            print_result(args.json, &source, Some(i), &seg, threshold, ms);
            if args.save.is_none() {
                return Ok((ms, frame));
            }
            let mut overlay = blend_heatmap(&frame, &seg.probs, 0.45)?;
            draw_detections(&mut overlay, &seg.detections);
            Ok((ms, overlay))
        });
    }
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
        let t0 = Instant::now();
        let seg = engine.segment(&frame, imgsz, threshold)?;
        let ms = t0.elapsed().as_secs_f64() * 1000.0;
        total_ms += ms;
        print_result(args.json, &path.display().to_string(), None, &seg, threshold, ms);
        if let Some(dir) = &args.save {
            save_outputs(dir, path, &frame, &seg.probs, &seg.mask, &seg.detections)?;
        }
    }
    let extra = format!(" at imgsz {imgsz}, threshold {threshold:.2}");
    super::predict_common::finish_images(args.json, images.len(), failed, total_ms, &extra)
}

/// One image's or frame's result: a JSON line, or a readable line.
fn print_result(json: bool, label: &str, frame: Option<u64>, seg: &Segmentation, threshold: f32, ms: f64) {
    if json {
        let regions: Vec<serde_json::Value> = seg
            .regions
            .iter()
            .zip(&seg.detections)
            .map(|(r, d)| {
                let b: [f32; 4] = BBox::into(d.bbox);
                serde_json::json!({"class": d.class_id, "name": d.name, "confidence": r.mean_prob, "bbox": b, "area": r.area})
            })
            .collect();
        let score = seg.score();
        let mut line = serde_json::json!({"image": label, "detections": regions,
            "defect_pixels": seg.defect_pixels, "threshold": threshold, "score": score,
            "anomalous": score >= threshold, "ms": (ms * 1000.0).round() / 1000.0});
        if let Some(i) = frame {
            line["frame"] = i.into();
        }
        println!("{line}");
    } else {
        let at = frame.map(|i| format!(" frame {i}")).unwrap_or_default();
        let score = seg.score();
        println!(
            "{label}{at}: {} defect regions, {} defect pixels, score {score:.4} ({ms:.1} ms)",
            seg.regions.len(),
            seg.defect_pixels
        );
    }
}

fn save_outputs(
    dir: &Path,
    path: &Path,
    frame: &detective_vision::Frame,
    probs: &[f32],
    mask: &GrayFrame,
    detections: &[Detection],
) -> Result<()> {
    let stem = path
        .file_stem()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "image".into());
    let write = |suffix: &str, bytes: Vec<u8>| -> Result<()> {
        let out = dir.join(format!("{stem}_{suffix}.png"));
        std::fs::write(&out, bytes).with_context(|| format!("writing {}", out.display()))
    };
    write("heatmap", encode_png(&heatmap(probs, frame.width(), frame.height())?)?)?;
    let mut overlay = blend_heatmap(frame, probs, 0.45)?;
    draw_detections(&mut overlay, detections);
    write("overlay", encode_png(&overlay)?)?;
    write("mask", encode_gray_png(mask)?)?;
    Ok(())
}
