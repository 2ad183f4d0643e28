//! Tests of the training batch loader on a small dataset written to a temporary
//! folder: solid red rectangles where the boxes are, so that after the full
//! augmentation (mosaic, affine, HSV, flips) the boxes can be checked against the
//! pixels. Also the throughput measurement on NEU-DET (ignored by default).

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use detective_core::Rng;
use detective_data::{DatasetWriter, YoloDataset, YoloLabel};
use detective_ml::detect::loader::{
    LoaderConfig, LoaderError, TrainBatch, TrainLoader, TrainSample, letterbox_eval, samples_from_split,
};
use detective_vision::augment::{AugmentParams, letterbox_train, load_resized};
use detective_vision::encode::encode_png;
use detective_vision::{DecodeLimits, Frame, decode_file};

/// Tests that start loader threads run one at a time, so the thread census of
/// [`dropping_the_iterator_early_returns_promptly_and_stops_workers`] is exact.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

const RED: [u8; 3] = [255, 0, 0];
const BACKGROUND: [u8; 3] = [70, 70, 70];
const IMGSZ: u32 = 128;
const N_IMAGES: usize = 14;

/// Writes `N_IMAGES` PNGs of assorted sizes with one or two red rectangles each
/// (two images are backgrounds without labels) and returns the dataset root.
fn write_dataset(dir: &Path) -> PathBuf {
    let root = dir.join("ds");
    let names = vec!["a".to_string(), "b".to_string()];
    let w = DatasetWriter::create(&root, &names, &["train", "val"], false).unwrap();
    let sizes = [
        (160, 120),
        (96, 96),
        (200, 100),
        (64, 64),
        (128, 128),
        (100, 150),
        (250, 180),
    ];
    let mut rng = Rng::new(42);
    for i in 0..N_IMAGES {
        let (iw, ih) = sizes[i % sizes.len()];
        let mut f = Frame::filled(iw, ih, BACKGROUND).unwrap();
        let mut labels = Vec::new();
        let n_rects = if i % 7 == 3 { 0 } else { 1 + i % 2 };
        for k in 0..n_rects {
            // left or right half so two rectangles never overlap
            let half = iw / 2;
            let rw = (half as f32 * rng.range_f32(0.45, 0.9)) as u32;
            let rh = (ih as f32 * rng.range_f32(0.25, 0.6)) as u32;
            let x0 = k as u32 * half + rng.range_usize(0, (half - rw) as usize + 1) as u32;
            let y0 = rng.range_usize(0, (ih - rh) as usize + 1) as u32;
            for y in y0..y0 + rh {
                for x in x0..x0 + rw {
                    f.put_pixel(x, y, RED);
                }
            }
            let b = [x0 as f64, y0 as f64, (x0 + rw) as f64, (y0 + rh) as f64];
            labels.push(YoloLabel::from_xyxy((i + k) as u32 % 2, b, iw, ih));
        }
        let png = encode_png(&f).unwrap();
        w.add_image_bytes("train", &format!("img_{i:02}.png"), &png, &labels)
            .unwrap();
    }
    root
}

fn dataset_samples(root: &Path) -> Vec<TrainSample> {
    let ds = YoloDataset::load(root).unwrap();
    samples_from_split(&ds, "train").unwrap()
}

fn cfg(workers: usize) -> LoaderConfig {
    LoaderConfig {
        imgsz: IMGSZ,
        batch: 4,
        workers,
        seed: 7,
        ..LoaderConfig::default()
    }
}

fn collect(loader: &TrainLoader, epoch: usize, mosaic: bool) -> Vec<TrainBatch> {
    loader.epoch(epoch, mosaic).collect::<Result<Vec<_>, _>>().unwrap()
}

/// The RGB bytes of image `i` of a batch.
fn batch_image(b: &TrainBatch, i: usize) -> Frame {
    let s = b.imgsz as usize;
    let plane = s * s;
    let img = &b.images[i * 3 * plane..(i + 1) * 3 * plane];
    let mut data = Vec::with_capacity(plane * 3);
    for p in 0..plane {
        for c in 0..3 {
            data.push((img[c * plane + p] * 255.0).round() as u8);
        }
    }
    Frame::from_rgb(b.imgsz, b.imgsz, data).unwrap()
}

fn reddish(p: [u8; 3]) -> bool {
    p[0] as i32 > p[1] as i32 + 20 && p[0] as i32 > p[2] as i32 + 20
}

/// The loader threads still listed, after giving the kernel up to a second to reap
/// threads already joined: `join` returns when the thread clears its tid, a moment
/// before `/proc/self/task` drops its entry.
fn loader_threads_settled(expected: usize) -> usize {
    let deadline = Instant::now() + Duration::from_secs(1);
    loop {
        let n = loader_threads();
        if n == expected || Instant::now() >= deadline {
            return n;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn loader_threads() -> usize {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    tasks
        .filter_map(|t| t.ok())
        .filter_map(|t| std::fs::read_to_string(t.path().join("comm")).ok())
        .filter(|name| name.starts_with("train-loader"))
        .count()
}

#[test]
fn batches_have_the_right_shapes_and_boxes_inside() {
    let _g = serial();
    let dir = tempfile::tempdir().unwrap();
    let root = write_dataset(dir.path());
    let samples = dataset_samples(&root);
    assert_eq!(samples.len(), N_IMAGES);
    let loader = TrainLoader::new(samples, cfg(2)).unwrap();
    assert_eq!(loader.len_batches(), 4);
    for mosaic in [true, false] {
        let batches = collect(&loader, 0, mosaic);
        assert_eq!(batches.iter().map(|b| b.batch).collect::<Vec<_>>(), vec![4, 4, 4, 2]);
        let mut paths = Vec::new();
        for b in &batches {
            let s = IMGSZ as usize;
            assert_eq!(b.shape(), [b.batch, 3, s, s]);
            assert_eq!(b.images.len(), b.batch * 3 * s * s);
            assert_eq!(b.paths.len(), b.batch);
            assert!(b.images.iter().all(|v| (0.0..=1.0).contains(v)));
            for t in &b.targets {
                assert!(t.image < b.batch && t.class < 2, "{t:?}");
                let [x1, y1, x2, y2] = t.bbox;
                let sf = IMGSZ as f32;
                assert!(
                    0.0 <= x1 && x1 < x2 && x2 <= sf && 0.0 <= y1 && y1 < y2 && y2 <= sf,
                    "{t:?}"
                );
                assert!(
                    x2 - x1 > 2.0 && y2 - y1 > 2.0,
                    "box_candidates lets no sliver through: {t:?}"
                );
            }
            // targets are grouped by image in batch order
            assert!(b.targets.windows(2).all(|w| w[0].image <= w[1].image));
            paths.extend(b.paths.iter().cloned());
        }
        paths.sort();
        paths.dedup();
        assert_eq!(paths.len(), N_IMAGES, "every image once per epoch");
        assert!(batches.iter().map(|b| b.targets.len()).sum::<usize>() > 0);
    }
}

#[test]
fn same_seed_same_batches_whatever_the_worker_count() {
    let _g = serial();
    let dir = tempfile::tempdir().unwrap();
    let root = write_dataset(dir.path());
    let samples = dataset_samples(&root);
    let reference = collect(&TrainLoader::new(samples.clone(), cfg(0)).unwrap(), 3, true);
    for workers in [1, 2, 5] {
        let l = TrainLoader::new(samples.clone(), cfg(workers)).unwrap();
        assert!(
            collect(&l, 3, true) == reference,
            "{workers} workers differ from inline loading"
        );
    }
    let cached = TrainLoader::new(
        samples.clone(),
        LoaderConfig {
            cache_images: true,
            ..cfg(2)
        },
    )
    .unwrap();
    assert!(
        collect(&cached, 3, true) == reference,
        "image cache changes the batches"
    );
    assert!(
        collect(&cached, 3, true) == reference,
        "second pass over the cache differs"
    );
    let l = TrainLoader::new(samples.clone(), cfg(2)).unwrap();
    assert!(collect(&l, 4, true) != reference, "another epoch must differ");
    assert!(collect(&l, 3, false) != reference, "mosaic off must differ");
    let other_seed = TrainLoader::new(samples, LoaderConfig { seed: 8, ..cfg(2) }).unwrap();
    assert!(collect(&other_seed, 3, true) != reference, "another seed must differ");
}

#[test]
fn resuming_mid_epoch_gives_the_same_batches() {
    let _g = serial();
    let dir = tempfile::tempdir().unwrap();
    let root = write_dataset(dir.path());
    let samples = dataset_samples(&root);
    let full = collect(&TrainLoader::new(samples.clone(), cfg(2)).unwrap(), 2, true);
    for workers in [0, 1, 3] {
        let l = TrainLoader::new(samples.clone(), cfg(workers)).unwrap();
        for first in 0..=full.len() {
            let rest = l.epoch_from(2, true, first).collect::<Result<Vec<_>, _>>().unwrap();
            assert!(
                rest[..] == full[first..],
                "{workers} workers, resuming at batch {first}"
            );
        }
    }
}

#[test]
fn mosaic_off_gives_letterboxed_images() {
    let _g = serial();
    let dir = tempfile::tempdir().unwrap();
    let root = write_dataset(dir.path());
    let samples = dataset_samples(&root);
    let expected = |path: &Path| {
        let f = load_resized(decode_file(path, &DecodeLimits::default()).unwrap(), IMGSZ).unwrap();
        let (lb, _) = letterbox_train(&f, &[], IMGSZ).unwrap();
        (0..3)
            .flat_map(|c| lb.as_rgb().chunks_exact(3).map(move |p| p[c] as f32 / 255.0))
            .collect::<Vec<f32>>()
    };
    let plain = LoaderConfig {
        hyp: AugmentParams::none(),
        ..cfg(2)
    };
    let no_aug = LoaderConfig {
        augment: false,
        ..cfg(2)
    };
    for config in [plain, no_aug] {
        let loader = TrainLoader::new(samples.clone(), config).unwrap();
        for b in collect(&loader, 0, false) {
            let n = 3 * (IMGSZ * IMGSZ) as usize;
            for (i, path) in b.paths.iter().enumerate() {
                assert!(
                    b.images[i * n..(i + 1) * n] == expected(path)[..],
                    "{}: not the letterboxed image",
                    path.display()
                );
            }
        }
    }
    // the same settings with mosaic on give 2×2 mosaics instead
    let loader = TrainLoader::new(samples, plain).unwrap();
    let b = &collect(&loader, 0, true)[0];
    let n = 3 * (IMGSZ * IMGSZ) as usize;
    assert!(b.images[..n] != expected(&b.paths[0])[..]);
}

#[test]
fn images_and_boxes_stay_aligned_through_the_full_augmentation() {
    let _g = serial();
    let dir = tempfile::tempdir().unwrap();
    let root = write_dataset(dir.path());
    let loader = TrainLoader::new(dataset_samples(&root), cfg(2)).unwrap();
    let (mut checked, mut red_total, mut red_outside) = (0usize, 0usize, 0usize);
    for (epoch, mosaic) in [(0, true), (1, true), (2, true), (3, false), (4, false)] {
        for b in collect(&loader, epoch, mosaic) {
            for i in 0..b.batch {
                let img = batch_image(&b, i);
                let boxes: Vec<[f32; 4]> = b.targets.iter().filter(|t| t.image == i).map(|t| t.bbox).collect();
                for bb in &boxes {
                    let (x1, y1) = (bb[0].ceil() as u32, bb[1].ceil() as u32);
                    let (x2, y2) = (bb[2].floor() as u32, bb[3].floor() as u32);
                    if x2 < x1 + 6 || y2 < y1 + 6 {
                        continue;
                    }
                    let total = ((x2 - x1) * (y2 - y1)) as f32;
                    let red = (y1..y2)
                        .flat_map(|y| (x1..x2).map(move |x| (x, y)))
                        .filter(|&(x, y)| reddish(img.pixel(x, y)))
                        .count() as f32;
                    assert!(
                        red / total >= 0.9,
                        "epoch {epoch} {}: box {bb:?} is only {:.0} % red",
                        b.paths[i].display(),
                        100.0 * red / total
                    );
                    checked += 1;
                }
                for y in 0..IMGSZ {
                    for x in 0..IMGSZ {
                        if !reddish(img.pixel(x, y)) {
                            continue;
                        }
                        red_total += 1;
                        let (xf, yf) = (x as f32 + 0.5, y as f32 + 0.5);
                        let inside = boxes
                            .iter()
                            .any(|bb| xf >= bb[0] - 1.0 && xf <= bb[2] + 1.0 && yf >= bb[1] - 1.0 && yf <= bb[3] + 1.0);
                        if !inside {
                            red_outside += 1;
                        }
                    }
                }
            }
        }
    }
    assert!(checked > 30, "only {checked} boxes checked");
    // red left outside every box: slivers that box_candidates dropped, as in Ultralytics
    let outside = red_outside as f64 / red_total as f64;
    assert!(
        outside < 0.03,
        "{:.1} % of the red pixels lie outside every box",
        100.0 * outside
    );
}

#[test]
fn dropping_the_iterator_early_returns_promptly_and_stops_workers() {
    let _g = serial();
    let dir = tempfile::tempdir().unwrap();
    let root = write_dataset(dir.path());
    let loader = TrainLoader::new(dataset_samples(&root), LoaderConfig { batch: 1, ..cfg(2) }).unwrap();
    assert_eq!(loader.len_batches(), N_IMAGES);
    let before = loader_threads();
    let mut it = loader.epoch(0, true);
    assert!(it.next().unwrap().is_ok());
    // let the workers fill their bounded channels and block on them
    std::thread::sleep(Duration::from_millis(200));
    let t = Instant::now();
    drop(it);
    assert!(t.elapsed() < Duration::from_secs(2), "drop took {:?}", t.elapsed());
    assert_eq!(loader_threads_settled(before), before, "loader threads left running");
    // a fresh epoch still works after an abandoned one
    assert_eq!(collect(&loader, 1, true).len(), N_IMAGES);
    assert_eq!(loader_threads_settled(before), before);
}

#[test]
fn unreadable_image_is_a_typed_error_naming_the_file() {
    let _g = serial();
    let dir = tempfile::tempdir().unwrap();
    let root = write_dataset(dir.path());
    let mut samples = dataset_samples(&root);
    let corrupt = dir.path().join("corrupt.png");
    let png = std::fs::read(&samples[0].0).unwrap();
    std::fs::write(&corrupt, &png[..png.len() / 2]).unwrap();
    samples.truncate(2);
    samples.push((corrupt.clone(), Vec::new()));
    for workers in [0, 2] {
        let loader = TrainLoader::new(
            samples.clone(),
            LoaderConfig {
                batch: 8,
                ..cfg(workers)
            },
        )
        .unwrap();
        let results: Vec<_> = loader.epoch(0, false).collect();
        assert_eq!(results.len(), 1);
        match &results[0] {
            Err(e @ LoaderError::Image { path, .. }) => {
                assert_eq!(path, &corrupt);
                assert!(e.to_string().contains("corrupt.png"), "{e}");
            }
            other => panic!("expected an image error, got {:?}", other.as_ref().map(|b| b.batch)),
        }
    }
}

#[test]
fn samples_from_split_keeps_backgrounds_and_names_unknown_splits() {
    let dir = tempfile::tempdir().unwrap();
    let root = write_dataset(dir.path());
    let ds = YoloDataset::load(&root).unwrap();
    let samples = samples_from_split(&ds, "train").unwrap();
    assert_eq!(samples.iter().filter(|(_, b)| b.is_empty()).count(), 2);
    for (_, boxes) in &samples {
        for (c, b) in boxes {
            assert!(*c < 2 && b[0] < b[2] && b[1] < b[3] && b.iter().all(|v| (0.0..=1.0).contains(v)));
        }
    }
    assert!(samples_from_split(&ds, "val").unwrap().is_empty());
    let err = samples_from_split(&ds, "holdout").unwrap_err();
    assert!(err.to_string().contains("holdout"), "{err}");
    // a label file with a broken line or an unknown class drops that image
    let labels = root.join("labels/train/img_00.txt");
    std::fs::write(&labels, "0 0.5 0.5 0.2 0.2\n0 0.5 0.5\n").unwrap();
    std::fs::write(root.join("labels/train/img_01.txt"), "7 0.5 0.5 0.2 0.2\n").unwrap();
    std::fs::write(
        root.join("labels/train/img_02.txt"),
        "1 0.5 0.5 0.2 0.2\n1 0.5 0.5 0.2 0.2\n",
    )
    .unwrap();
    let ds = YoloDataset::load(&root).unwrap();
    let samples = samples_from_split(&ds, "train").unwrap();
    assert_eq!(samples.len(), N_IMAGES - 2);
    let dup = samples.iter().find(|(p, _)| p.ends_with("img_02.png")).unwrap();
    assert_eq!(dup.1.len(), 1, "duplicate boxes are kept once");
}

#[test]
fn letterbox_eval_maps_predictions_back() {
    let f = Frame::filled(200, 100, [10, 20, 30]).unwrap();
    let (tensor, lb) = letterbox_eval(&f, IMGSZ).unwrap();
    assert_eq!(tensor.len(), 3 * (IMGSZ * IMGSZ) as usize);
    assert_eq!((lb.content_w, lb.content_h, lb.pad_left, lb.pad_top), (128, 64, 0, 32));
    // padding rows are grey 114, content keeps the colour
    assert!((tensor[0] - 114.0 / 255.0).abs() < 1e-6);
    assert!((tensor[(64 * 128) as usize] - 10.0 / 255.0).abs() < 1e-6);
    let b = detective_core::BBox::from([20.0, 10.0, 120.0, 90.0]);
    let back = lb.to_original(&lb.to_letterboxed(&b));
    assert!((back.x1 - 20.0).abs() < 0.5 && (back.y2 - 90.0).abs() < 0.5, "{back:?}");
    assert!(letterbox_eval(&f, 100).is_err());
}

/// Throughput of `epoch()` on NEU-DET train, Ultralytics' default augmentation with
/// mosaic, imgsz 320, batch 16, 2 workers; run with
/// `cargo test --release -p detective-ml --test ml train_loader -- --ignored --nocapture`.
#[test]
#[ignore]
fn loader_throughput_neu_det() {
    let _g = serial();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/NEU-DET");
    let ds = YoloDataset::load(&root).unwrap();
    let samples = samples_from_split(&ds, "train").unwrap();
    let n = samples.len();
    for cache_images in [false, true] {
        let config = LoaderConfig {
            imgsz: 320,
            batch: 16,
            workers: 2,
            seed: 0,
            cache_images,
            ..LoaderConfig::default()
        };
        let loader = TrainLoader::new(samples.clone(), config).unwrap();
        for epoch in 0..2 {
            let t = Instant::now();
            let (mut images, mut boxes) = (0, 0);
            for b in loader.epoch(epoch, true) {
                let b = b.unwrap();
                images += b.batch;
                boxes += b.targets.len();
            }
            let s = t.elapsed().as_secs_f64();
            assert_eq!(images, n);
            println!(
                "NEU-DET train: {images} images ({boxes} boxes) in {s:.2} s = {:.0} images/s \
                 (mosaic, imgsz 320, batch 16, 2 workers, cache_images {cache_images}, epoch {epoch})",
                images as f64 / s
            );
        }
    }
}
