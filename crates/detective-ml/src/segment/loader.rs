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
use detective_data::{YoloDataset, YoloLabel, mask_path_for};
use detective_vision::augment::{augment_pair, sample_patch};
use detective_vision::preprocess::{Normalize, to_chw_into};
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
    let mask = match &sample.mask {
        None => GrayFrame::new(frame.width(), frame.height()),
        Some(p) => {
            let m = decode_file(p, limits).map_err(|e| TrainError::Io(format!("{}: {e}", p.display())))?;
            if (m.width(), m.height()) != (frame.width(), frame.height()) {
                return Err(TrainError::Io(format!(
                    "mask {} is {}×{} but its image is {}×{}",
                    p.display(),
                    m.width(),
                    m.height(),
                    frame.width(),
                    frame.height()
                )));
            }
            let data = m
                .as_rgb()
                .chunks_exact(3)
                .map(|px| if px[0].max(px[1]).max(px[2]) >= 128 { 255 } else { 0 })
                .collect();
            GrayFrame {
                width: m.width(),
                height: m.height(),
                data,
            }
        }
    };
    Ok((frame, mask))
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

/// A batch ready for the network.
pub(crate) struct SegBatch {
    pub(crate) n: usize,
    /// `[n, 3, s, s]`, 0..1 (`s`: the training side, imgsz or patch).
    pub(crate) images: Vec<f32>,
    /// `[n, classes, s, s]`, 0 or 1.
    pub(crate) masks: Vec<f32>,
}

/// Starts the worker that decodes and augments the batches of one epoch.
pub(crate) fn epoch_batches(
    samples: Arc<Vec<SegSample>>,
    args: &SegTrainArgs,
    per_class: Option<usize>,
    epoch: usize,
) -> Receiver<Result<SegBatch, TrainError>> {
    let (tx, rx) = sync_channel(2);
    let (size, batch, seed, mut aug) = (args.imgsz, args.batch, args.seed, args.augment());
    let (patch, patch_defect, tile) = (args.patch, args.patch_defect, args.tile);
    if tile > 0 {
        // native scale: no zooming crop; the flips, rotations and colour stay
        aug.crop_min = 1.0;
    }
    let side = args.train_side() as usize;
    let outputs = per_class.unwrap_or(1);
    std::thread::spawn(move || {
        let mut order: Vec<usize> = (0..samples.len()).collect();
        let mut rng = Rng::derive(seed, 0x5e9_0000 + epoch as u64);
        for i in (1..order.len()).rev() {
            order.swap(i, rng.range_usize(0, i + 1));
        }
        let limits = DecodeLimits::default();
        for chunk in order.chunks(batch) {
            let mut b = SegBatch {
                n: chunk.len(),
                images: Vec::with_capacity(chunk.len() * 3 * side * side),
                masks: Vec::with_capacity(chunk.len() * outputs * side * side),
            };
            let mut failed = None;
            for &i in chunk {
                let mut rng = Rng::derive(seed ^ ((epoch as u64) << 32), i as u64);
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
                    seen.map_err(|e| TrainError::Io(format!("{}: {e}", samples[i].image.display())))
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
