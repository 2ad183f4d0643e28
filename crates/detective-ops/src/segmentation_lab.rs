//! The Segmentation lab: the segmentation training runs in a runs folder
//! (each with `args.yaml` and `weights/epoch_N.bpk`), the validation samples of
//! a run's dataset, and one image (a sample, or uploaded) through one or two
//! epoch checkpoints at a threshold — the probability heatmap, the overlay,
//! and Dice and IoU against the sample's ground-truth mask when it has one.
//! Runs on the device asked for (CPU by default; [`devices`] lists them);
//! checkpoints are read from the run folder.

use std::path::{Path, PathBuf};
use std::time::Instant;

use base64::Engine;
use detective_ml::segment::args::SegTrainArgs;
use detective_ml::segment::loader::{SegSample, seg_samples};
use detective_ml::segment::segmenter::Segmenter;
use detective_vision::{DecodeLimits, Frame, GrayFrame};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::OpsError;

/// Samples listed per run.
const MAX_SAMPLES: usize = 200;

/// A run name a client may use: one plain path segment.
fn plain(name: &str) -> bool {
    detective_core::names::check_segment("run", name).is_ok()
}

/// The epochs with a checkpoint in `run/weights/`, ascending.
fn epochs_of(run: &Path) -> Vec<usize> {
    let mut v: Vec<usize> = std::fs::read_dir(run.join("weights"))
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter_map(|e| {
                    let n = e.file_name().to_string_lossy().into_owned();
                    n.strip_prefix("epoch_")?.strip_suffix(".bpk")?.parse().ok()
                })
                .collect()
        })
        .unwrap_or_default();
    v.sort_unstable();
    v
}

/// A run folder by name, with its training settings.
fn run_dir(runs: &Path, run: &str) -> Result<(PathBuf, SegTrainArgs), OpsError> {
    if !plain(run) {
        return Err(OpsError::invalid(format!("{run:?} is not a run name")));
    }
    let dir = runs.join(run);
    let text = std::fs::read_to_string(dir.join("args.yaml"))
        .map_err(|_| OpsError::not_found(format!("segmentation run {run:?} under the runs folder")))?;
    let args: SegTrainArgs = serde_norway::from_str(&text)
        .map_err(|_| OpsError::not_found(format!("segmentation settings (args.yaml) of run {run:?}")))?;
    Ok((dir, args))
}

/// The validation (else test) samples of a run's dataset, and the split's name.
fn samples_of(args: &SegTrainArgs) -> (String, Vec<SegSample>) {
    let Ok(ds) = detective_data::YoloDataset::load(&args.data) else {
        return (String::new(), Vec::new());
    };
    for split in ["val", "test"] {
        let s = seg_samples(&ds, split);
        if !s.is_empty() {
            return (split.to_string(), s);
        }
    }
    (String::new(), Vec::new())
}

fn sample_name(s: &SegSample) -> String {
    s.image
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// The runs under `runs`, newest first: name, epochs with a checkpoint,
/// image size, threshold, task (`segment`, or `anomaly` for an anomaly model's
/// run) and dataset.
pub async fn runs(runs: &Path) -> Result<Vec<Value>, OpsError> {
    let root = runs.to_path_buf();
    let items = tokio::task::spawn_blocking(move || {
        let mut runs: Vec<(std::time::SystemTime, Value)> = Vec::new();
        for e in std::fs::read_dir(&root).into_iter().flatten().flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let dir = e.path();
            let Ok(text) = std::fs::read_to_string(dir.join("args.yaml")) else {
                continue;
            };
            let Ok(args) = serde_norway::from_str::<SegTrainArgs>(&text) else {
                continue;
            };
            let epochs = epochs_of(&dir);
            if !plain(&name) || epochs.is_empty() {
                continue;
            }
            let when = e.metadata().and_then(|m| m.modified()).unwrap_or(std::time::UNIX_EPOCH);
            // an anomaly run's threshold is the one calibrated at its latest epoch
            let threshold = match epochs.last().filter(|_| args.anomaly) {
                Some(last) => {
                    detective_ml::checkpoint::load_seg_meta(&dir.join("weights").join(format!("epoch_{last}.bpk")))
                        .map_or(args.threshold, |m| m.threshold)
                }
                None => args.threshold,
            };
            let task = if args.anomaly { "anomaly" } else { "segment" };
            runs.push((
                when,
                json!({"name": name, "epochs": epochs, "imgsz": args.imgsz, "threshold": threshold,
                       "task": task, "data": args.data.display().to_string()}),
            ));
        }
        runs.sort_by_key(|r| std::cmp::Reverse(r.0));
        runs.into_iter().map(|(_, v)| v).collect::<Vec<_>>()
    })
    .await
    .map_err(|e| OpsError::Io(format!("listing runs: {e}")))?;
    Ok(items)
}

/// The validation (else test) split's name and its first samples (name, has a mask).
pub async fn samples(runs: &Path, run: &str) -> Result<(String, Vec<Value>), OpsError> {
    let (_, args) = run_dir(runs, run)?;
    let (split, samples) = tokio::task::spawn_blocking(move || samples_of(&args))
        .await
        .map_err(|e| OpsError::Io(format!("reading samples: {e}")))?;
    let items: Vec<Value> = samples
        .iter()
        .take(MAX_SAMPLES)
        .map(|s| json!({"name": sample_name(s), "has_mask": s.mask.is_some()}))
        .collect();
    Ok((split, items))
}

#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CompareRequest {
    pub run: String,
    /// One or two epochs with a checkpoint.
    pub epochs: Vec<usize>,
    /// A sample of the run's validation split, by file name…
    pub sample: Option<String>,
    /// …or an uploaded image, base64.
    pub image: Option<String>,
    /// Pixel threshold (default: the run's).
    pub threshold: Option<f32>,
    /// Where the checkpoints run: `cpu` (default), `cuda[:N]` or `auto` (see
    /// [`devices`]); a GPU this server cannot use is refused, `auto` falls back
    /// to the CPU and says why in `device_note`.
    #[serde(default)]
    pub device: Option<String>,
}

/// The devices this server has for the lab (the CPU, and each GPU with what
/// stops it), and where its served models run.
pub fn devices() -> Value {
    use detective_ml::runtime::device::{inference_device, list_devices};
    json!({"items": list_devices(), "inference": inference_device().to_string()})
}

pub(crate) fn png_url(bytes: Vec<u8>) -> String {
    format!(
        "data:image/png;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    )
}

/// One checkpoint's view of the image.
fn view(
    seg: &Segmenter,
    frame: &Frame,
    truth: Option<&GrayFrame>,
    imgsz: u32,
    threshold: f32,
) -> Result<Value, OpsError> {
    let t0 = Instant::now();
    let probs = seg
        .probabilities(frame, imgsz)
        .map_err(|e| OpsError::Io(format!("segmentation: {e}")))?;
    view_of(&probs, t0.elapsed().as_secs_f64() * 1000.0, frame, truth, threshold)
}

/// A model's defect probabilities `probs` of `frame` (taking `ms`) as the lab
/// and the registry's comparison show them: the heatmap, the overlay, the
/// defect pixels at `threshold`, and Dice and IoU against `truth` when given.
pub(crate) fn view_of(
    probs: &[f32],
    ms: f64,
    frame: &Frame,
    truth: Option<&GrayFrame>,
    threshold: f32,
) -> Result<Value, OpsError> {
    let enc = |e: detective_vision::VisionError| OpsError::Io(format!("drawing: {e}"));
    let heat = detective_vision::overlay::heatmap(probs, frame.width(), frame.height()).map_err(enc)?;
    let overlay = detective_vision::overlay::blend_heatmap(frame, probs, 0.45).map_err(enc)?;
    let defect_pixels = probs.iter().filter(|&&p| p >= threshold).count();
    let (dice, iou) = match truth {
        Some(t) => {
            let mut c = detective_ml::metrics::PixelCounts::default();
            for (&p, &m) in probs.iter().zip(&t.data) {
                match (p >= threshold, m >= 128) {
                    (true, true) => c.tp += 1,
                    (true, false) => c.fp += 1,
                    (false, true) => c.fn_ += 1,
                    (false, false) => {}
                }
            }
            (Some(c.dice()), Some(c.iou()))
        }
        None => (None, None),
    };
    Ok(json!({
        "heatmap": png_url(detective_vision::encode::encode_png(&heat).map_err(enc)?),
        "overlay": png_url(detective_vision::encode::encode_png(&overlay).map_err(enc)?),
        "dice": dice, "iou": iou, "defect_pixels": defect_pixels, "ms": ms,
    }))
}

/// `req.sample` or `req.image` through the checkpoints `req.epochs` of run `req.run`.
pub async fn compare(runs: &Path, limits: &DecodeLimits, req: CompareRequest) -> Result<Value, OpsError> {
    let (dir, args) = run_dir(runs, &req.run)?;
    if req.epochs.is_empty() || req.epochs.len() > 2 {
        return Err(OpsError::invalid("give one or two epochs to compare"));
    }
    let available = epochs_of(&dir);
    if let Some(e) = req.epochs.iter().find(|e| !available.contains(e)) {
        return Err(OpsError::not_found(format!(
            "checkpoint of epoch {e} in run {}",
            req.run
        )));
    }
    let threshold = req.threshold.unwrap_or(args.threshold);
    if !(threshold > 0.0 && threshold < 1.0) {
        return Err(OpsError::invalid("threshold must be within (0, 1)"));
    }
    let choice: detective_ml::runtime::device::DeviceChoice = req
        .device
        .as_deref()
        .unwrap_or("cpu")
        .parse()
        .map_err(|e: detective_ml::MlError| OpsError::invalid(e.to_string()))?;
    let resolved = choice.resolve(true).map_err(|e| OpsError::invalid(e.to_string()))?;
    let burn_device = resolved
        .device
        .burn_device()
        .map_err(|e| OpsError::invalid(e.to_string()))?;
    let limits: DecodeLimits = *limits;
    let out = tokio::task::spawn_blocking(move || -> Result<Value, OpsError> {
        let (frame, truth) = match (&req.sample, &req.image) {
            (Some(name), None) => {
                let (_, samples) = samples_of(&args);
                let s = samples
                    .iter()
                    .find(|s| sample_name(s) == *name)
                    .ok_or_else(|| OpsError::not_found(format!("sample {name:?} in the run's dataset")))?;
                let (frame, mask) = detective_ml::segment::loader::load_pair(s, &limits)
                    .map_err(|e| OpsError::Unusable(e.to_string()))?;
                (frame, s.mask.is_some().then_some(mask))
            }
            (None, Some(b64)) => {
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(b64.trim())
                    .map_err(|_| OpsError::invalid("image is not base64"))?;
                let frame = detective_vision::decode_image(&bytes, &limits)
                    .map_err(|e| OpsError::Unusable(format!("image: {e}")))?;
                (frame, None)
            }
            _ => return Err(OpsError::invalid("give either `sample` or `image`")),
        };
        let mut results = Vec::new();
        for &epoch in &req.epochs {
            let seg = Segmenter::load_on(&dir.join("weights").join(format!("epoch_{epoch}.bpk")), &burn_device)
                .map_err(|e| OpsError::Io(format!("epoch {epoch}: {e}")))?;
            let mut v = view(&seg, &frame, truth.as_ref(), args.imgsz, threshold)?;
            v["epoch"] = epoch.into();
            results.push(v);
        }
        let enc = |e: detective_vision::VisionError| OpsError::Io(format!("encoding: {e}"));
        Ok(json!({
            "input": png_url(detective_vision::encode::encode_png(&frame).map_err(enc)?),
            "truth": match &truth {
                Some(t) => Value::String(png_url(detective_vision::encode::encode_gray_png(t).map_err(enc)?)),
                None => Value::Null,
            },
            "threshold": threshold, "device": resolved.device.to_string(),
            "device_note": resolved.fallback, "results": results,
        }))
    })
    .await
    .map_err(|e| OpsError::Io(format!("compare: {e}")))??;
    Ok(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn run_and_sample_names_must_be_plain() {
        assert!(super::plain("seg-run_2.v1"));
        for bad in ["", "..", "../runs", "a/b", ".hidden", "x y"] {
            assert!(!super::plain(bad), "{bad}");
        }
    }
}
