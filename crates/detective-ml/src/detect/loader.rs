//! The batch loader of the YOLOv8 trainer: images decoded, resized and augmented the
//! way Ultralytics trains (mosaic, random affine, HSV, flips — see
//! [`detective_vision::augment`]), stacked into `B × 3 × S × S` RGB tensors scaled to
//! 0..1, with every box of the batch as a [`Target`].
//!
//! Batches are built on `workers` threads ahead of the consumer. Worker `k` builds
//! batches `k, k + workers, …` and hands them over through its own bounded channel
//! (two batches deep), so at most `2 · workers` finished batches wait in memory and
//! the consumer receives them in order. Every random choice of a sample comes from a
//! generator derived from `(seed, epoch, position in the epoch)` and the epoch's
//! shuffle from `(seed, epoch)`: the same seed, epoch and mosaic switch give the same
//! batches in the same order whatever the worker count or thread timing, so an
//! interrupted run resumes exactly. Dropping the iterator stops and joins its workers.
//!
//! The three mosaic partners of a sample are drawn from a window of
//! `min(images, 8 · batch, 1000)` consecutive positions of the epoch order around it:
//! the size of Ultralytics' buffer of recently loaded images, from which it draws them
//! (theirs depends on worker timing, ours on the position only). Without
//! `cache_images`, the decoded images of that working set stay in a small shared
//! cache, so an image is decoded about once per epoch instead of once per use.
//!
//! Other differences from Ultralytics, deliberate: the random streams are ours, and
//! Albumentations' 1 % blur/median-blur/grey/CLAHE (applied only when that package is
//! installed) is not reproduced.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, LazyLock, Mutex, OnceLock};
use std::thread::JoinHandle;

use detective_core::Rng;
use detective_data::YoloDataset;
use detective_vision::augment::{self, AugmentParams, LabeledBox};
use detective_vision::preprocess::{Letterbox, LetterboxShape, letterbox};
use detective_vision::{DecodeLimits, Frame, VisionError, decode_file};
use thiserror::Error;
use tracing::warn;

/// One training image: its path and its boxes as `(class, [x1, y1, x2, y2])`
/// normalised to the image size (0..1, corners, not centre form).
pub type TrainSample = (PathBuf, Vec<(usize, [f32; 4])>);

/// Finished batches each worker may hold before it waits for the consumer.
const BATCHES_PER_WORKER: usize = 2;

/// Mosaic partners come from `min(images, MOSAIC_WINDOW_BATCHES · batch,
/// MOSAIC_WINDOW_MAX)` positions around the sample (Ultralytics' buffer size).
const MOSAIC_WINDOW_BATCHES: usize = 8;
const MOSAIC_WINDOW_MAX: usize = 1000;

/// Errors of the training data pipeline; each names the file or setting at fault.
#[derive(Debug, Error)]
pub enum LoaderError {
    #[error("{}: cannot load image: {source}", path.display())]
    Image { path: PathBuf, source: VisionError },
    #[error("{}: augmentation failed: {source}", path.display())]
    Augment { path: PathBuf, source: VisionError },
    #[error("{}: box {index} {bbox:?} is not a normalised [x1, y1, x2, y2] box", path.display())]
    InvalidBox {
        path: PathBuf,
        index: usize,
        bbox: [f32; 4],
    },
    #[error("invalid loader configuration: {0}")]
    Config(String),
    #[error("dataset has no split {split:?} (it has: {available})")]
    UnknownSplit { split: String, available: String },
    #[error("could not start a loader thread: {0}")]
    Spawn(std::io::Error),
    #[error("a loader worker thread panicked")]
    WorkerPanicked,
    #[error("the epoch was dropped before this batch was finished")]
    Cancelled,
    #[error(transparent)]
    Vision(#[from] VisionError),
}

/// How the loader builds batches.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LoaderConfig {
    /// Side of the square network input; a positive multiple of 32.
    pub imgsz: u32,
    /// Images per batch (the last batch of an epoch may be smaller).
    pub batch: usize,
    /// Threads building batches ahead of the consumer; 0 builds them on the
    /// consumer's thread when it asks for the next batch.
    pub workers: usize,
    /// Seed of the shuffles and of every augmentation draw.
    pub seed: u64,
    /// Probability of a mosaic for each sample while mosaic is on (Ultralytics: 1.0).
    pub mosaic: f32,
    /// Geometric, colour and flip augmentation ranges.
    pub hyp: AugmentParams,
    /// Keep every decoded, resized image in memory after its first use
    /// (`imgsz² · 3` bytes per image at most).
    pub cache_images: bool,
    /// `false`: no augmentation at all, images only resized and letterboxed
    /// (what Ultralytics does for a dataset built with `augment=False`).
    pub augment: bool,
}

impl Default for LoaderConfig {
    /// Ultralytics' training defaults at 640 with batch 16, two workers, seed 0.
    fn default() -> Self {
        LoaderConfig {
            imgsz: 640,
            batch: 16,
            workers: 2,
            seed: 0,
            mosaic: 1.0,
            hyp: AugmentParams::default(),
            cache_images: false,
            augment: true,
        }
    }
}

impl LoaderConfig {
    fn validate(&self) -> Result<(), LoaderError> {
        if self.imgsz == 0 || !self.imgsz.is_multiple_of(32) {
            return Err(LoaderError::Config(format!(
                "imgsz {} must be a positive multiple of 32",
                self.imgsz
            )));
        }
        if self.batch == 0 {
            return Err(LoaderError::Config("batch must be at least 1".into()));
        }
        if !(0.0..=1.0).contains(&self.mosaic) {
            return Err(LoaderError::Config(format!(
                "mosaic {} is a probability and must be within 0..=1",
                self.mosaic
            )));
        }
        self.hyp.validate().map_err(|e| LoaderError::Config(e.to_string()))
    }
}

/// One box of a batch.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Target {
    /// Index of the image in the batch.
    pub image: usize,
    pub class: usize,
    /// `[x1, y1, x2, y2]` in pixels of the `S × S` network input.
    pub bbox: [f32; 4],
}

/// A batch ready for the network.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainBatch {
    /// `batch × 3 × imgsz × imgsz` floats, RGB planes, pixel / 255.
    pub images: Vec<f32>,
    /// Number of images in this batch.
    pub batch: usize,
    pub imgsz: u32,
    /// Every box of the batch, grouped by image in batch order.
    pub targets: Vec<Target>,
    /// The image file behind each batch entry (the first tile of a mosaic).
    pub paths: Vec<PathBuf>,
}

impl TrainBatch {
    /// `[batch, 3, imgsz, imgsz]`.
    pub fn shape(&self) -> [usize; 4] {
        let s = self.imgsz as usize;
        [self.batch, 3, s, s]
    }
}

struct Shared {
    samples: Vec<TrainSample>,
    cfg: LoaderConfig,
    cache: FrameCache,
    limits: DecodeLimits,
}

/// The training data loader; cheap to share, one [`TrainLoader::epoch`] at a time or many.
pub struct TrainLoader {
    shared: Arc<Shared>,
}

impl TrainLoader {
    /// A loader over `samples` (boxes normalised `[x1, y1, x2, y2]`, see
    /// [`TrainSample`]); images without boxes are kept as backgrounds. Checks the
    /// configuration and the boxes (finite, ordered, within 0..1 up to 1e-3, then
    /// clipped); images are read later, by the workers.
    pub fn new(samples: Vec<TrainSample>, cfg: LoaderConfig) -> Result<Self, LoaderError> {
        cfg.validate()?;
        if samples.is_empty() {
            return Err(LoaderError::Config("no training images".into()));
        }
        let mut samples = samples;
        for (path, boxes) in &mut samples {
            for (index, (_, b)) in boxes.iter_mut().enumerate() {
                let ok =
                    b.iter().all(|v| v.is_finite() && (-1e-3..=1.0 + 1e-3).contains(v)) && b[2] >= b[0] && b[3] >= b[1];
                if !ok {
                    return Err(LoaderError::InvalidBox {
                        path: path.clone(),
                        index,
                        bbox: *b,
                    });
                }
                for v in b.iter_mut() {
                    *v = v.clamp(0.0, 1.0);
                }
            }
        }
        let window = mosaic_window(samples.len(), cfg.batch);
        let cache = if cfg.cache_images {
            FrameCache::All((0..samples.len()).map(|_| OnceLock::new()).collect())
        } else {
            FrameCache::Recent(Mutex::new(RecentFrames {
                capacity: window + cfg.batch * (cfg.workers.max(1) + 2),
                tick: 0,
                frames: HashMap::new(),
            }))
        };
        Ok(TrainLoader {
            shared: Arc::new(Shared {
                samples,
                cfg,
                cache,
                limits: DecodeLimits::default(),
            }),
        })
    }

    /// Batches per epoch (the last one may be partial).
    pub fn len_batches(&self) -> usize {
        self.shared.samples.len().div_ceil(self.shared.cfg.batch)
    }

    /// Images per epoch.
    pub fn len_images(&self) -> usize {
        self.shared.samples.len()
    }

    pub fn config(&self) -> &LoaderConfig {
        &self.shared.cfg
    }

    pub fn samples(&self) -> &[TrainSample] {
        &self.shared.samples
    }

    /// The order in which epoch `epoch` visits the samples (a seeded shuffle).
    pub fn order(&self, epoch: usize) -> Vec<usize> {
        let mut order: Vec<usize> = (0..self.shared.samples.len()).collect();
        Rng::derive(self.shared.cfg.seed ^ 0x5348_5546_464C_4521, epoch as u64).shuffle(&mut order);
        order
    }

    /// The batches of one epoch, in order, built ahead on `workers` threads
    /// (bounded: at most `2 · workers` finished batches wait). `mosaic` switches the
    /// mosaic on or off (off for the last `close_mosaic` epochs). The same seed,
    /// epoch and `mosaic` always give the same batches. After an error the iterator
    /// yields that error and ends. Dropping it stops and joins its threads.
    pub fn epoch(&self, epoch: usize, mosaic: bool) -> EpochIter {
        self.epoch_from(epoch, mosaic, 0)
    }

    /// [`epoch`](Self::epoch) starting at batch `first_batch`, without building the
    /// batches before it: batch `b` is the same as the `b`-th of a full epoch, so an
    /// interrupted epoch resumes exactly.
    pub fn epoch_from(&self, epoch: usize, mosaic: bool, first_batch: usize) -> EpochIter {
        let plan = Arc::new(EpochPlan {
            shared: Arc::clone(&self.shared),
            order: self.order(epoch),
            epoch,
            mosaic,
        });
        let n_batches = self.len_batches();
        let first = first_batch.min(n_batches);
        let workers = self.shared.cfg.workers.min(n_batches - first);
        let stop = Arc::new(AtomicBool::new(false));
        let mut iter = EpochIter {
            plan: Arc::clone(&plan),
            first_batch: first,
            next_batch: first,
            n_batches,
            receivers: Vec::with_capacity(workers),
            handles: Vec::with_capacity(workers),
            stop: Arc::clone(&stop),
            pending_error: None,
            done: false,
        };
        for k in 0..workers {
            let (tx, rx) = sync_channel(BATCHES_PER_WORKER);
            let (plan, stop) = (Arc::clone(&plan), Arc::clone(&stop));
            let batches = (first + k..n_batches).step_by(workers);
            let spawned = std::thread::Builder::new()
                .name(format!("train-loader-{k}"))
                .spawn(move || worker(plan, batches, tx, stop));
            match spawned {
                Ok(handle) => {
                    iter.receivers.push(rx);
                    iter.handles.push(handle);
                }
                Err(e) => {
                    iter.pending_error = Some(LoaderError::Spawn(e));
                    break;
                }
            }
        }
        iter
    }
}

/// Builds `batches` in order and sends each through `tx`; stops at the first error,
/// when the receiver is gone or when `stop` is raised.
fn worker(
    plan: Arc<EpochPlan>,
    batches: std::iter::StepBy<std::ops::Range<usize>>,
    tx: SyncSender<Result<TrainBatch, LoaderError>>,
    stop: Arc<AtomicBool>,
) {
    for b in batches {
        if stop.load(Ordering::Relaxed) {
            return;
        }
        let result = plan.build_batch(b, &stop);
        let failed = result.is_err();
        if tx.send(result).is_err() || failed {
            return;
        }
    }
}

/// Everything a worker needs to build any batch of one epoch.
struct EpochPlan {
    shared: Arc<Shared>,
    order: Vec<usize>,
    epoch: usize,
    mosaic: bool,
}

impl EpochPlan {
    fn build_batch(&self, b: usize, stop: &AtomicBool) -> Result<TrainBatch, LoaderError> {
        let cfg = &self.shared.cfg;
        let start = b * cfg.batch;
        let end = (start + cfg.batch).min(self.order.len());
        let s = cfg.imgsz as usize;
        let mut images = Vec::with_capacity((end - start) * 3 * s * s);
        let mut targets = Vec::new();
        let mut paths = Vec::with_capacity(end - start);
        for (i, pos) in (start..end).enumerate() {
            if stop.load(Ordering::Relaxed) {
                return Err(LoaderError::Cancelled);
            }
            let idx = self.order[pos];
            let path = &self.shared.samples[idx].0;
            let (frame, boxes) = self.build_sample(pos)?;
            if (frame.width() as usize, frame.height() as usize) != (s, s) {
                return Err(LoaderError::Augment {
                    path: path.clone(),
                    source: VisionError::InvalidArgument(format!(
                        "augmented image is {}×{}, expected {s}×{s}",
                        frame.width(),
                        frame.height()
                    )),
                });
            }
            push_chw(&frame, &mut images);
            targets.extend(boxes.into_iter().map(|(class, bbox)| Target { image: i, class, bbox }));
            paths.push(path.clone());
        }
        Ok(TrainBatch {
            images,
            batch: end - start,
            imgsz: cfg.imgsz,
            targets,
            paths,
        })
    }

    /// The augmented image and boxes at position `pos` of the epoch.
    fn build_sample(&self, pos: usize) -> Result<(Frame, Vec<LabeledBox>), LoaderError> {
        let shared = &self.shared;
        let cfg = &shared.cfg;
        let idx = self.order[pos];
        let path = &shared.samples[idx].0;
        let aug_err = |source| LoaderError::Augment {
            path: path.clone(),
            source,
        };
        let mut rng = Rng::derive(
            cfg.seed ^ 0x4155_474D_454E_5421,
            ((self.epoch as u64) << 32) ^ pos as u64,
        );
        let imgsz = cfg.imgsz;
        if !cfg.augment {
            let (img, boxes) = shared.load(idx)?;
            return augment::letterbox_train(&img, &boxes, imgsz).map_err(aug_err);
        }
        let hyp = &cfg.hyp;
        let use_mosaic = self.mosaic && rng.f32() < cfg.mosaic;
        let (mut frame, mut boxes) = if use_mosaic {
            let n = self.order.len();
            let window = mosaic_window(n, cfg.batch);
            let start = pos.saturating_sub(window / 2).min(n - window);
            let others = [
                self.order[start + rng.range_usize(0, window)],
                self.order[start + rng.range_usize(0, window)],
                self.order[start + rng.range_usize(0, window)],
            ];
            let t0 = shared.load(idx)?;
            let t1 = shared.load(others[0])?;
            let t2 = shared.load(others[1])?;
            let t3 = shared.load(others[2])?;
            let (canvas, boxes) = augment::mosaic4(
                [
                    (&*t0.0, t0.1.as_slice()),
                    (&*t1.0, t1.1.as_slice()),
                    (&*t2.0, t2.1.as_slice()),
                    (&*t3.0, t3.1.as_slice()),
                ],
                imgsz,
                &mut rng,
            )
            .map_err(aug_err)?;
            augment::random_perspective(&canvas, &boxes, -((imgsz / 2) as i32), hyp, &mut rng).map_err(aug_err)?
        } else {
            let (img, boxes) = shared.load(idx)?;
            let (lb, boxes) = augment::letterbox_train(&img, &boxes, imgsz).map_err(aug_err)?;
            augment::random_perspective(&lb, &boxes, 0, hyp, &mut rng).map_err(aug_err)?
        };
        augment::random_hsv(&mut frame, hyp.hsv_h, hyp.hsv_s, hyp.hsv_v, &mut rng);
        if rng.f32() < hyp.flipud {
            augment::flip_ud(&mut frame, &mut boxes);
        }
        if rng.f32() < hyp.fliplr {
            augment::flip_lr(&mut frame, &mut boxes);
        }
        Ok((frame, boxes))
    }
}

impl Shared {
    /// The decoded image of sample `idx` resized to `imgsz` on its long side (from
    /// the cache when it holds it) and its boxes in that image's pixels.
    fn load(&self, idx: usize) -> Result<(Arc<Frame>, Vec<LabeledBox>), LoaderError> {
        let (path, norm_boxes) = &self.samples[idx];
        let frame = match &self.cache {
            FrameCache::All(slots) => match slots[idx].get() {
                Some(f) => Arc::clone(f),
                None => {
                    let f = Arc::new(self.read(path)?);
                    // another worker may have filled the slot meanwhile: same pixels
                    let _ = slots[idx].set(Arc::clone(&f));
                    f
                }
            },
            FrameCache::Recent(recent) => {
                let hit = recent.lock().unwrap_or_else(|e| e.into_inner()).get(idx);
                match hit {
                    Some(f) => f,
                    None => {
                        let f = Arc::new(self.read(path)?);
                        recent
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .put(idx, Arc::clone(&f));
                        f
                    }
                }
            }
        };
        let (w, h) = (frame.width() as f32, frame.height() as f32);
        let boxes = norm_boxes
            .iter()
            .map(|&(c, b)| (c, [b[0] * w, b[1] * h, b[2] * w, b[3] * h]))
            .collect();
        Ok((frame, boxes))
    }

    fn read(&self, path: &Path) -> Result<Frame, LoaderError> {
        let image_err = |source| LoaderError::Image {
            path: path.to_path_buf(),
            source,
        };
        let frame = decode_file(path, &self.limits).map_err(image_err)?;
        augment::load_resized(frame, self.cfg.imgsz).map_err(image_err)
    }
}

/// Where decoded, resized images are kept between uses.
enum FrameCache {
    /// Every image, for the whole run (`cache_images`).
    All(Vec<OnceLock<Arc<Frame>>>),
    /// The most recently used images only: enough for the mosaic window of the
    /// batches being built.
    Recent(Mutex<RecentFrames>),
}

struct RecentFrames {
    capacity: usize,
    tick: u64,
    /// Image index → (last use, image).
    frames: HashMap<usize, (u64, Arc<Frame>)>,
}

impl RecentFrames {
    fn get(&mut self, idx: usize) -> Option<Arc<Frame>> {
        self.tick += 1;
        let tick = self.tick;
        self.frames.get_mut(&idx).map(|(used, f)| {
            *used = tick;
            Arc::clone(f)
        })
    }

    fn put(&mut self, idx: usize, frame: Arc<Frame>) {
        self.tick += 1;
        self.frames.insert(idx, (self.tick, frame));
        if self.frames.len() > self.capacity {
            let oldest = self.frames.iter().min_by_key(|(_, (used, _))| *used).map(|(k, _)| *k);
            if let Some(k) = oldest {
                self.frames.remove(&k);
            }
        }
    }
}

/// Positions of the epoch order the mosaic partners of a sample are drawn from.
fn mosaic_window(images: usize, batch: usize) -> usize {
    images.min(MOSAIC_WINDOW_BATCHES * batch).clamp(1, MOSAIC_WINDOW_MAX)
}

/// Pixel values as `f32` divided by 255, as Ultralytics' `img.float() / 255`.
static UNIT_SCALE: LazyLock<[f32; 256]> = LazyLock::new(|| std::array::from_fn(|i| i as f32 / 255.0));

/// Appends the frame as three planes R, G, B of `pixel / 255`.
fn push_chw(frame: &Frame, out: &mut Vec<f32>) {
    let plane = frame.width() as usize * frame.height() as usize;
    let start = out.len();
    out.resize(start + 3 * plane, 0.0);
    let (r, rest) = out[start..].split_at_mut(plane);
    let (g, b) = rest.split_at_mut(plane);
    let lut = &*UNIT_SCALE;
    for (((px, r), g), b) in frame.as_rgb().chunks_exact(3).zip(r).zip(g).zip(b) {
        *r = lut[px[0] as usize];
        *g = lut[px[1] as usize];
        *b = lut[px[2] as usize];
    }
}

/// The batches of one epoch; see [`TrainLoader::epoch`].
pub struct EpochIter {
    plan: Arc<EpochPlan>,
    first_batch: usize,
    next_batch: usize,
    n_batches: usize,
    receivers: Vec<Receiver<Result<TrainBatch, LoaderError>>>,
    handles: Vec<JoinHandle<()>>,
    stop: Arc<AtomicBool>,
    pending_error: Option<LoaderError>,
    done: bool,
}

impl EpochIter {
    fn shutdown(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // dropping the receivers wakes workers blocked on a full channel
        self.receivers.clear();
        for h in self.handles.drain(..) {
            let _ = h.join();
        }
    }
}

impl Iterator for EpochIter {
    type Item = Result<TrainBatch, LoaderError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done || self.next_batch >= self.n_batches {
            return None;
        }
        if let Some(e) = self.pending_error.take() {
            self.done = true;
            self.shutdown();
            return Some(Err(e));
        }
        let b = self.next_batch;
        let result = if self.receivers.is_empty() {
            let never = AtomicBool::new(false);
            self.plan.build_batch(b, &never)
        } else {
            let rx = &self.receivers[(b - self.first_batch) % self.receivers.len()];
            rx.recv().unwrap_or(Err(LoaderError::WorkerPanicked))
        };
        self.next_batch += 1;
        if result.is_err() {
            self.done = true;
            self.shutdown();
        }
        Some(result)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = if self.done { 0 } else { self.n_batches - self.next_batch };
        (0, Some(left))
    }
}

impl Drop for EpochIter {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// The training samples of one split of a dataset: every image with its boxes as
/// normalised `[x1, y1, x2, y2]`; images without labels stay, as backgrounds.
/// As Ultralytics does, an image whose label file has unreadable lines or a class
/// outside the dataset's `names` is left out (with a warning), and duplicate boxes
/// are kept once.
pub fn samples_from_split(ds: &YoloDataset, split: &str) -> Result<Vec<TrainSample>, LoaderError> {
    let data = ds.split(split).ok_or_else(|| LoaderError::UnknownSplit {
        split: split.to_string(),
        available: ds.splits.iter().map(|s| s.name.as_str()).collect::<Vec<_>>().join(", "),
    })?;
    for p in &data.missing {
        warn!(path = %p.display(), split, "listed image or folder does not exist");
    }
    let nc = ds.names().len();
    let mut out = Vec::with_capacity(data.samples.len());
    'samples: for sample in &data.samples {
        if let Some(issue) = sample.issues.first() {
            warn!(
                label = %sample.label_path.display(),
                line = issue.line,
                reason = %issue.reason,
                "image left out of training: unreadable label line"
            );
            continue;
        }
        let mut boxes: Vec<(usize, [f32; 4])> = Vec::with_capacity(sample.labels.len());
        for l in &sample.labels {
            let class = l.class as usize;
            if nc > 0 && class >= nc {
                warn!(
                    label = %sample.label_path.display(),
                    class,
                    classes = nc,
                    "image left out of training: class outside the dataset's names"
                );
                continue 'samples;
            }
            let b = [
                (l.cx - l.w / 2.0).clamp(0.0, 1.0) as f32,
                (l.cy - l.h / 2.0).clamp(0.0, 1.0) as f32,
                (l.cx + l.w / 2.0).clamp(0.0, 1.0) as f32,
                (l.cy + l.h / 2.0).clamp(0.0, 1.0) as f32,
            ];
            if !boxes.contains(&(class, b)) {
                boxes.push((class, b));
            }
        }
        out.push((sample.image.clone(), boxes));
    }
    Ok(out)
}

/// Evaluation preprocessing of one image: the centred square letterbox of
/// [`detective_vision::preprocess::letterbox`] (scale to fit `imgsz`, up or down,
/// OpenCV-exact bilinear, grey 114 padding split as Ultralytics does — what
/// Ultralytics' `predict` does at a fixed square size), returned as a `3 × imgsz ×
/// imgsz` RGB tensor of `pixel / 255` (as the training batches) with the [`Letterbox`] whose
/// [`to_original`](Letterbox::to_original) maps predicted boxes back to the image.
///
/// Ultralytics' validation *during training* sees the same scaled pixels but pads
/// each batch to a rectangle rounded up with half a stride (`rect=True`, `pad=0.5`:
/// 352 × 352 for square images at 320); boxes map back the same way.
pub fn letterbox_eval(frame: &Frame, imgsz: u32) -> Result<(Vec<f32>, Letterbox), LoaderError> {
    let (img, lb) = letterbox(frame, LetterboxShape::Square(imgsz))?;
    let mut tensor = Vec::with_capacity(3 * img.width() as usize * img.height() as usize);
    push_chw(&img, &mut tensor);
    Ok((tensor, lb))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn samples(n: usize) -> Vec<TrainSample> {
        (0..n)
            .map(|i| (PathBuf::from(format!("/nonexistent/{i}.png")), Vec::new()))
            .collect()
    }

    #[test]
    fn config_and_boxes_are_checked() {
        let bad = [
            LoaderConfig {
                imgsz: 300,
                ..LoaderConfig::default()
            },
            LoaderConfig {
                batch: 0,
                ..LoaderConfig::default()
            },
            LoaderConfig {
                mosaic: 1.5,
                ..LoaderConfig::default()
            },
        ];
        for cfg in bad {
            assert!(matches!(TrainLoader::new(samples(3), cfg), Err(LoaderError::Config(_))));
        }
        assert!(TrainLoader::new(Vec::new(), LoaderConfig::default()).is_err());
        let s = vec![(PathBuf::from("a.png"), vec![(0, [0.5, 0.1, 0.2, 0.3])])];
        let err = TrainLoader::new(s, LoaderConfig::default()).err().unwrap();
        assert!(err.to_string().contains("a.png"), "{err}");
    }

    #[test]
    fn shuffle_is_a_seeded_permutation_and_partial_batch_is_kept() {
        let cfg = LoaderConfig {
            batch: 4,
            ..LoaderConfig::default()
        };
        let l = TrainLoader::new(samples(10), cfg).unwrap();
        assert_eq!(l.len_batches(), 3);
        let mut o = l.order(0);
        assert_eq!(o, l.order(0));
        assert_ne!(o, l.order(1));
        o.sort();
        assert_eq!(o, (0..10).collect::<Vec<_>>());
    }

    #[test]
    fn recent_frames_evict_the_least_recently_used() {
        let f = Arc::new(Frame::filled(1, 1, [0; 3]).unwrap());
        let mut r = RecentFrames {
            capacity: 2,
            tick: 0,
            frames: HashMap::new(),
        };
        r.put(0, Arc::clone(&f));
        r.put(1, Arc::clone(&f));
        assert!(r.get(0).is_some());
        r.put(2, Arc::clone(&f));
        assert!(r.get(1).is_none(), "1 was the least recently used");
        assert!(r.get(0).is_some() && r.get(2).is_some());
        assert_eq!(mosaic_window(1260, 16), 128);
        assert_eq!(mosaic_window(10, 16), 10);
        assert_eq!(mosaic_window(100_000, 256), 1000);
    }

    #[test]
    fn missing_image_is_a_typed_error_naming_the_file() {
        let cfg = LoaderConfig {
            imgsz: 64,
            batch: 2,
            workers: 2,
            ..LoaderConfig::default()
        };
        let l = TrainLoader::new(samples(5), cfg).unwrap();
        let mut it = l.epoch(0, true);
        match it.next() {
            Some(Err(LoaderError::Image { path, .. })) => {
                assert!(path.starts_with("/nonexistent"), "{}", path.display())
            }
            other => panic!("expected an image error, got {:?}", other.map(|r| r.map(|b| b.batch))),
        }
        assert!(it.next().is_none(), "the iterator ends after an error");
    }
}
