//! Two segmenter versions side by side on the same validation images of a
//! dataset version: each image with its mask, and per version the probability
//! heatmap, the overlay and the image's Dice and IoU at the version's own
//! threshold — what the registry's comparison shows beside the figures.

use std::path::Path;
use std::time::Instant;

use detective_ml::segment::segmenter::AnySegmenter;
use detective_store::models::ModelVersion;
use detective_store::{Db, Objects};
use detective_vision::DecodeLimits;
use serde_json::{Value, json};

use super::artifacts::fetch_servable;
use crate::OpsError;
use crate::segmentation_lab::{png_url, view_of};

/// Most images one comparison shows.
pub const MAX_SAMPLES: usize = 8;

/// Validation images read to find `n` with a defect.
const MAX_SCANNED: usize = 64;

/// Up to `n` validation images of dataset version (`dataset_id`, `version`)
/// that hold a defect, through segmenters `a` and `b`.
pub async fn segment_samples(
    db: &Db,
    objects: &Objects,
    work_dir: &Path,
    (a, b): (&ModelVersion, &ModelVersion),
    (dataset_id, version): (i64, i64),
    n: usize,
) -> Result<Vec<Value>, OpsError> {
    let n = n.min(MAX_SAMPLES);
    if n == 0 {
        return Ok(Vec::new());
    }
    let items = detective_store::datasets::items(db, dataset_id, version).await?;
    let mut candidates = Vec::new();
    for (item, img) in items.iter().filter(|(i, _)| i.split == "val") {
        let Some(mask_key) = &item.mask_key else { continue };
        candidates.push((
            img.filename.clone(),
            objects.get(&img.object_key).await?,
            objects.get(mask_key).await?,
        ));
        if candidates.len() >= MAX_SCANNED {
            break;
        }
    }
    let dir = work_dir.join(format!("side-{}", uuid::Uuid::new_v4().simple()));
    let result = async {
        let pa = fetch_servable(objects, a, &dir.join("a")).await?;
        let pb = fetch_servable(objects, b, &dir.join("b")).await?;
        tokio::task::spawn_blocking(move || -> Result<Vec<Value>, OpsError> {
            let limits = DecodeLimits::default();
            let load = |p: &Path| AnySegmenter::load(p, 0).map_err(|e| OpsError::Io(format!("{}: {e}", p.display())));
            let (sa, sb) = (load(&pa)?, load(&pb)?);
            let mut out = Vec::new();
            for (name, image, mask) in candidates {
                let unusable = |e: detective_vision::VisionError| OpsError::Unusable(format!("{name}: {e}"));
                let truth = detective_vision::encode::decode_gray(&mask, &limits).map_err(unusable)?;
                if !truth.data.iter().any(|&v| v >= 128) {
                    continue;
                }
                let frame = detective_vision::decode_image(&image, &limits).map_err(unusable)?;
                let mut views = Vec::new();
                for seg in [&sa, &sb] {
                    let t0 = Instant::now();
                    let probs = seg
                        .probabilities(&frame, seg.imgsz())
                        .map_err(|e| OpsError::Io(format!("segmentation: {e}")))?;
                    let ms = t0.elapsed().as_secs_f64() * 1000.0;
                    views.push(view_of(&probs, ms, &frame, Some(&truth), seg.threshold())?);
                }
                let enc = |e: detective_vision::VisionError| OpsError::Io(format!("encoding: {e}"));
                let [va, vb]: [Value; 2] = views.try_into().map_err(|_| OpsError::Io("two views".into()))?;
                out.push(json!({
                    "image": name,
                    "input": png_url(detective_vision::encode::encode_png(&frame).map_err(enc)?),
                    "truth": png_url(detective_vision::encode::encode_gray_png(&truth).map_err(enc)?),
                    "a": va, "b": vb,
                }));
                if out.len() >= n {
                    break;
                }
            }
            Ok(out)
        })
        .await
        .map_err(|e| OpsError::Io(format!("side by side: {e}")))?
    }
    .await;
    let _ = tokio::fs::remove_dir_all(&dir).await;
    result
}
