//! Validation of a segmenter on a labelled split: Dice and IoU per image and over
//! pixels, the best threshold, and with a per-class model Dice/IoU per class (the
//! class of a defect pixel read from the image's boxes, [`super::classes`]).

use burn::tensor::Device;
use detective_vision::{DecodeLimits, Frame};

use super::classes::class_map;
use super::loader::{SegSample, load_pair};
use detective_vision::tiles::TileSight;

use super::maps::{max_map, predict_maps};
use super::model::UNetTiny;
use crate::metrics::{ClassSegScores, SegEvaluator, SegMetrics};
use crate::train::error::{TrainError, io_err};

/// Dice/IoU of `model` (whose outputs are `names`) on `samples` at the images'
/// own resolution, each image seen as `sight` says (resized, or tiled).
pub fn validate_segmenter(
    model: &UNetTiny,
    names: &[String],
    samples: &[SegSample],
    sight: &TileSight,
    threshold: f32,
    device: &Device,
) -> Result<SegMetrics, TrainError> {
    validate_with(samples, names, threshold, |frame| {
        predict_maps(model, frame, sight, device)
    })
}

/// Dice/IoU on `samples` of any segmenter whose outputs are `names`: `maps` gives
/// a frame's probability maps (one per output) at the frame's own size. The
/// headline scores compare the defect map (with several outputs: their
/// pixel-wise maximum) with the mask; a per-class model adds each class's map
/// against the pixels the boxes give that class.
pub fn validate_with(
    samples: &[SegSample],
    names: &[String],
    threshold: f32,
    mut maps: impl FnMut(&Frame) -> Result<Vec<Vec<f32>>, TrainError>,
) -> Result<SegMetrics, TrainError> {
    let limits = DecodeLimits::default();
    let nc = names.len().max(1);
    let per_class = nc > 1;
    let mut eval = SegEvaluator::new(threshold);
    let mut class_evals = vec![SegEvaluator::new(threshold); if per_class { nc } else { 0 }];
    for s in samples {
        let (frame, mask) = load_pair(s, &limits)?;
        let m = maps(&frame)?;
        if m.len() != nc || m.iter().any(|p| p.len() != mask.data.len()) {
            return Err(TrainError::Io(format!(
                "{}: the model gave {} maps of {} values for {nc} outputs of {} pixels",
                s.image.display(),
                m.len(),
                m.first().map_or(0, |p| p.len()),
                mask.data.len()
            )));
        }
        let truth: Vec<bool> = mask.data.iter().map(|&v| v >= 128).collect();
        // an image with labelled boxes is defective even where no mask marks it
        let map = max_map(&m);
        eval.add_labelled_image(&map, &truth, !s.boxes.is_empty());
        eval.add_regions(&map, &truth, mask.width as usize);
        if per_class {
            let labels = class_map(&mask, &s.boxes, nc).map_err(|e| io_err(&s.image, e))?;
            for (c, (e, p)) in class_evals.iter_mut().zip(&m).enumerate() {
                let v = (c + 1) as u8;
                let truth: Vec<bool> = labels.data.iter().map(|&l| l == v).collect();
                e.add_image(p, &truth);
            }
        }
    }
    let mut out = eval.finish();
    out.per_class = class_evals
        .iter()
        .zip(names)
        .enumerate()
        .map(|(c, (e, name))| ClassSegScores::from_metrics(c, name, &e.finish()))
        .collect();
    Ok(out)
}
