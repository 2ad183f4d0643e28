//! What `detective predict` does the same for detectors (`predict`) and segmenters
//! (`predict_segment`): the loop over the frames of a video file or stream, which
//! writes the annotated video, and the closing line and exit code of a run over
//! images. Each model kind keeps its own per-image work and output.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context, Result, bail};
use detective_edge::{VideoReader, VideoWriter};

use crate::cli::PredictArgs;
use crate::config::Config;

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
