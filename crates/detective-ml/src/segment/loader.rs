//! The segmenter's data: the images of a split with their masks and boxes, an
//! image decoded with its mask (or its per-class label map), and the batches of
//! an epoch, decoded and augmented on a worker thread and handed over through a
//! bounded channel so the trainer does not wait on image decoding and memory stays
//! bounded. Masks come from `masks/{split}/` (binary PNG, same stem as the image;
//! no mask file = a defect-free part).

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, sync_channel};

use detective_core::Rng;
use detective_data::image_size::image_size;
use detective_data::{YoloDataset, YoloLabel, mask_path_for};
use detective_vision::augment::{augment_pair, sample_patch};
use detective_vision::preprocess::{Normalize, to_chw_into};
use detective_vision::synth::paste_anomalies;
use detective_vision::tiles::sample_window;
use detective_vision::{DecodeLimits, Frame, GrayFrame, decode_file};

use super::args::SegTrainArgs;
use super::classes::{binary_map, class_map, push_targets};
use crate::train::error::{TrainError, io_err};

/// An image, its mask file (None: a defect-free part) and its YOLO boxes (which
/// give the defect pixels their classes with `--classes`).
#[derive(Debug, Clone, PartialEq)]
pub struct SegSample {
    pub image: PathBuf,
    pub mask: Option<PathBuf>,
    pub boxes: Vec<YoloLabel>,
}

/// The images of `split` with their masks.
pub fn seg_samples(ds: &YoloDataset, split: &str) -> Vec<SegSample> {
    ds.split(split)
        .map(|s| {
            s.samples
                .iter()
                .map(|s| {
                    let m = mask_path_for(&s.image);
                    SegSample {
                        image: s.image.clone(),
                        mask: m.is_file().then_some(m),
                        boxes: s.labels.clone(),
                    }
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Decodes an image and its mask (mask pixels ≥ 128 are defects); a missing mask
/// is an empty one. The mask must have the image's size.
pub fn load_pair(sample: &SegSample, limits: &DecodeLimits) -> Result<(Frame, GrayFrame), TrainError> {
    let frame =
        decode_file(&sample.image, limits).map_err(|e| TrainError::Io(format!("{}: {e}", sample.image.display())))?;
    let mask = load_mask(sample, (frame.width(), frame.height()), limits)?;
    Ok((frame, mask))
}

/// The mask of `sample`, whose image is `size` (width, height): 255 where the
/// mask file's pixel is ≥ 128, else 0; all 0 without a mask file.
fn load_mask(sample: &SegSample, size: (u32, u32), limits: &DecodeLimits) -> Result<GrayFrame, TrainError> {
    let Some(p) = &sample.mask else {
        return Ok(GrayFrame::new(size.0, size.1));
    };
    let m = decode_file(p, limits).map_err(|e| TrainError::Io(format!("{}: {e}", p.display())))?;
    if (m.width(), m.height()) != size {
        return Err(TrainError::Io(format!(
            "mask {} is {}×{} but its image is {}×{}",
            p.display(),
            m.width(),
            m.height(),
            size.0,
            size.1
        )));
    }
    Ok(GrayFrame::binary_mask_of(&m))
}

/// An image and its label map (0: background, `c + 1`: class `c`). `per_class`
/// `Some(nc)` reads the classes from the image's boxes ([`class_map`]); `None`
/// makes every defect pixel class 0.
pub fn load_labelled(
    sample: &SegSample,
    per_class: Option<usize>,
    limits: &DecodeLimits,
) -> Result<(Frame, GrayFrame), TrainError> {
    let (frame, mask) = load_pair(sample, limits)?;
    let map = match per_class {
        None => binary_map(&mask),
        Some(nc) => class_map(&mask, &sample.boxes, nc).map_err(|e| io_err(&sample.image, e))?,
    };
    Ok((frame, map))
}

/// Checks before a per-class run that every image's boxes fit the `nc` classes and
/// that every defect mask has a box to take its class from (only the masks of
/// images without boxes are decoded).
pub fn check_class_labels(samples: &[SegSample], nc: usize) -> Result<(), TrainError> {
    let limits = DecodeLimits::default();
    for s in samples {
        if let Some(b) = s.boxes.iter().find(|b| b.class as usize >= nc) {
            return Err(TrainError::Args(format!(
                "{}: a label has class {} but the dataset has {nc} classes",
                s.image.display(),
                b.class
            )));
        }
        if s.mask.is_some() && s.boxes.is_empty() {
            let (_, mask) = load_pair(s, &limits)?;
            if mask.data.iter().any(|&v| v >= 128) {
                return Err(TrainError::Args(format!(
                    "{}: the mask marks defects but the image has no labelled box (labels/…/{}.txt) to give them \
                     a class; --classes needs one",
                    s.image.display(),
                    s.image.file_stem().map(|n| n.to_string_lossy()).unwrap_or_default()
                )));
            }
        }
    }
    Ok(())
}

/// For each sample, whether its mask marks a defect pixel (decoded once, at the
/// start of a run that samples by [`epoch_order`]'s defect share).
/// Only the masks are decoded; the images' sizes come from their headers.
pub fn defect_flags(samples: &[SegSample]) -> Result<Vec<bool>, TrainError> {
    let limits = DecodeLimits::default();
    samples
        .iter()
        .map(|s| match &s.mask {
            None => Ok(false),
            Some(_) => {
                let size = image_size(&s.image)?;
                load_mask(s, size, &limits).map(|m| m.data.iter().any(|&v| v != 0))
            }
        })
        .collect()
}

/// The defect-free samples (no labelled box, no defect pixel in the mask): what
/// an anomaly model trains on.
pub fn good_samples(samples: &[SegSample]) -> Result<Vec<SegSample>, TrainError> {
    let flags = defect_flags(samples)?;
    Ok(samples
        .iter()
        .zip(flags)
        .filter(|(s, defective)| !defective && s.boxes.is_empty())
        .map(|(s, _)| s.clone())
        .collect())
}

/// The samples epoch `epoch` visits, in order: with `defect_share` 0 (or no
/// flags) every sample once, shuffled; otherwise `n` draws, each from the
/// defective samples with probability `defect_share` and from the clean ones
/// otherwise, each kind taken in a shuffled round before any repeats. The same
/// seed and epoch give the same order.
pub fn epoch_order(n: usize, defective: Option<&[bool]>, defect_share: f32, seed: u64, epoch: usize) -> Vec<usize> {
    let mut rng = Rng::derive(seed, 0x5e9_0000 + epoch as u64);
    let flags = defective.filter(|f| defect_share > 0.0 && f.len() == n);
    let Some(flags) = flags else {
        let mut order: Vec<usize> = (0..n).collect();
        rng.shuffle(&mut order);
        return order;
    };
    let mut pools: [Vec<usize>; 2] = [
        (0..n).filter(|&i| !flags[i]).collect(),
        (0..n).filter(|&i| flags[i]).collect(),
    ];
    let mut next = [0usize; 2];
    for pool in pools.iter_mut() {
        rng.shuffle(pool);
    }
    let mut order = Vec::with_capacity(n);
    for _ in 0..n {
        let want = usize::from(rng.chance(defect_share));
        let kind = if pools[want].is_empty() { 1 - want } else { want };
        if next[kind] == pools[kind].len() {
            rng.shuffle(&mut pools[kind]);
            next[kind] = 0;
        }
        order.push(pools[kind][next[kind]]);
        next[kind] += 1;
    }
    order
}

/// A batch ready for the network.
pub(crate) struct SegBatch {
    pub(crate) n: usize,
    /// `[n, 3, s, s]`, 0..1 (`s`: the training side, imgsz or patch).
    pub(crate) images: Vec<f32>,
    /// `[n, classes, s, s]`, 0 or 1.
    pub(crate) masks: Vec<f32>,
}

/// Starts the worker that decodes and augments the batches of one epoch, which
/// visits `samples` in `order` ([`epoch_order`]).
pub(crate) fn epoch_batches(
    samples: Arc<Vec<SegSample>>,
    order: Vec<usize>,
    args: &SegTrainArgs,
    per_class: Option<usize>,
    epoch: usize,
) -> Receiver<Result<SegBatch, TrainError>> {
    let (tx, rx) = sync_channel(2);
    let (size, batch, seed, mut aug) = (args.imgsz, args.batch, args.seed, args.augment());
    let (patch, patch_defect, tile) = (args.patch, args.patch_defect, args.tile);
    let anomaly_share = if args.anomaly { args.anomaly_share } else { 0.0 };
    if tile > 0 {
        // native scale: no zooming crop; the flips, rotations and colour stay
        aug.crop_min = 1.0;
    }
    let side = args.train_side() as usize;
    let outputs = per_class.unwrap_or(1);
    std::thread::spawn(move || {
        let limits = DecodeLimits::default();
        for (c, chunk) in order.chunks(batch).enumerate() {
            let mut b = SegBatch {
                n: chunk.len(),
                images: Vec::with_capacity(chunk.len() * 3 * side * side),
                masks: Vec::with_capacity(chunk.len() * outputs * side * side),
            };
            let mut failed = None;
            for (k, &i) in chunk.iter().enumerate() {
                // keyed by the draw too, so a sample drawn twice is augmented two ways
                let draw = (c * batch + k) as u64;
                let mut rng = Rng::derive(seed ^ ((epoch as u64) << 32), (draw << 32) | i as u64);
                match load_labelled(&samples[i], per_class, &limits).and_then(|(f, m)| {
                    let seen = if tile > 0 {
                        sample_window(&f, &m, tile, patch_defect, &mut rng)
                            .and_then(|(f, m)| augment_pair(&f, &m, tile, &aug, &mut rng))
                    } else {
                        augment_pair(&f, &m, size, &aug, &mut rng).and_then(|(f, m)| match patch {
                            0 => Ok((f, m)),
                            p => sample_patch(&f, &m, p, patch_defect, &mut rng),
                        })
                    };
                    let (mut f, m) =
                        seen.map_err(|e| TrainError::Io(format!("{}: {e}", samples[i].image.display())))?;
                    // an anomaly model's targets: the anomalies pasted onto a good image
                    if anomaly_share > 0.0 && rng.chance(anomaly_share) {
                        let pasted = paste_anomalies(&mut f, &mut rng);
                        return Ok((f, binary_map(&pasted)));
                    }
                    Ok((f, m))
                }) {
                    Ok((f, m)) => {
                        to_chw_into(&f, &Normalize::default(), &mut b.images);
                        push_targets(&m, outputs, &mut b.masks);
                    }
                    Err(e) => {
                        failed = Some(e);
                        break;
                    }
                }
            }
            let msg = match failed {
                Some(e) => Err(e),
                None => Ok(b),
            };
            if tx.send(msg).is_err() {
                return;
            }
        }
    });
    rx
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_a_defect_share_an_epoch_visits_every_image_once() {
        let flags = vec![false; 10];
        for order in [
            epoch_order(10, None, 0.5, 1, 0),
            epoch_order(10, Some(&flags), 0.0, 1, 0),
        ] {
            let mut sorted = order.clone();
            sorted.sort_unstable();
            assert_eq!(sorted, (0..10).collect::<Vec<_>>());
        }
        assert_ne!(epoch_order(10, None, 0.0, 1, 0), epoch_order(10, None, 0.0, 1, 1));
    }

    #[test]
    fn a_defect_share_draws_the_rare_defective_images_that_often_in_rounds() {
        // 4 defective images among 40
        let flags: Vec<bool> = (0..40).map(|i| i % 10 == 3).collect();
        let order = epoch_order(40, Some(&flags), 0.5, 7, 2);
        assert_eq!(order.len(), 40);
        assert_eq!(order, epoch_order(40, Some(&flags), 0.5, 7, 2));
        let defective: Vec<usize> = order.iter().copied().filter(|&i| flags[i]).collect();
        assert!(
            (12..=28).contains(&defective.len()),
            "{} of 40 draws defective",
            defective.len()
        );
        // taken in rounds: the four are drawn equally often, give or take one
        for i in [3, 13, 23, 33] {
            let n = defective.iter().filter(|&&d| d == i).count();
            assert!(n + 1 >= defective.len() / 4 && n <= defective.len() / 4 + 1, "{i}: {n}");
        }
        // the clean images are not repeated within their first round
        let clean: Vec<usize> = order.iter().copied().filter(|&i| !flags[i]).collect();
        let mut unique = clean.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), clean.len());
        // only defective or only clean images: every draw from the kind there is
        let all_clean = vec![false; 5];
        let mut o = epoch_order(5, Some(&all_clean), 0.9, 1, 0);
        o.sort_unstable();
        assert_eq!(o, vec![0, 1, 2, 3, 4]);
    }
}
