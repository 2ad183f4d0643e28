//! Reading the real datasets in ../shared/data and checking the counts that
//! ../shared/README.md gives for them.

use std::path::PathBuf;

use detective_data::check::check_dataset;
use detective_data::coco::{from_coco, to_coco};
use detective_data::stats::dataset_stats;
use detective_data::{Sample, YoloDataset, mask_path_for};

fn shared(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data")
        .join(name)
}

#[test]
fn neu_det_has_1800_images_4189_boxes_and_210_45_45_images_per_class() {
    let ds = YoloDataset::load(&shared("NEU-DET")).unwrap();
    assert_eq!(
        ds.names(),
        [
            "crazing",
            "inclusion",
            "patches",
            "pitted_surface",
            "rolled-in_scale",
            "scratches"
        ]
    );
    let st = dataset_stats(&ds);
    let per_split: Vec<usize> = st.splits.iter().map(|s| s.images).collect();
    assert_eq!(per_split, [1260, 270, 270]);
    assert_eq!(st.total_images(), 1800);
    assert_eq!(st.total_instances(), 4189);
    // Every NEU-DET image belongs to one class, named by its file name prefix.
    for (split, expected) in ds.splits.iter().zip([210, 45, 45]) {
        for class in ds.names() {
            let n = split
                .samples
                .iter()
                .filter(|s| {
                    s.image
                        .file_name()
                        .unwrap()
                        .to_string_lossy()
                        .starts_with(&format!("{class}_"))
                })
                .count();
            assert_eq!(n, expected, "{} {class}", split.name);
        }
    }
    let sizes = st.sizes.unwrap();
    assert_eq!(
        (sizes.min_width, sizes.max_width, sizes.min_height, sizes.max_height),
        (200, 200, 200, 200)
    );
    println!("{}", dataset_stats(&ds));
}

#[test]
fn magnetic_tile_has_1338_images_with_masks_and_background_images() {
    let ds = YoloDataset::load(&shared("MagneticTile")).unwrap();
    assert_eq!(ds.names(), ["blowhole", "break", "crack", "fray", "uneven"]);
    let st = dataset_stats(&ds);
    let per_split: Vec<usize> = st.splits.iter().map(|s| s.images).collect();
    assert_eq!(per_split, [933, 203, 202]);
    let background: usize = st.splits.iter().map(|s| s.background).sum();
    assert!(background > 0, "defect-free images are present");
    for (_, s) in ds.samples() {
        assert!(mask_path_for(&s.image).is_file(), "mask for {}", s.image.display());
        assert!(
            s.label_file_exists,
            "label file (possibly empty) for {}",
            s.image.display()
        );
    }
    let sizes = st.sizes.unwrap();
    assert!(sizes.min_width >= 100 && sizes.max_width <= 640, "{sizes:?}");
    println!("{}", dataset_stats(&ds));
}

#[test]
fn check_passes_magnetic_tile_and_finds_the_four_real_problems_of_neu_det() {
    let ds = YoloDataset::load(&shared("MagneticTile")).unwrap();
    let report = check_dataset(&ds);
    assert!(report.is_ok(), "MagneticTile:\n{report}");
    assert_eq!(report.images_checked, 1338);

    // NEU-DET as shipped has three label files with a repeated line and one image
    // stored twice under two names: the check must name exactly these.
    let ds = YoloDataset::load(&shared("NEU-DET")).unwrap();
    let report = check_dataset(&ds);
    assert_eq!(report.images_checked, 1800);
    let found: Vec<String> = report
        .problems
        .iter()
        .map(|p| {
            let file = p.file.file_name().unwrap().to_string_lossy().into_owned();
            format!(
                "{file}:{}: {}",
                p.line.map_or("-".into(), |l| l.to_string()),
                p.reason.split(':').next().unwrap()
            )
        })
        .collect();
    assert_eq!(
        found,
        [
            "crazing_120.txt:4: duplicate label line",
            "inclusion_62.txt:7: duplicate label line",
            "patches_105.jpg:-: duplicate image",
            "patches_198.txt:3: duplicate label line",
        ],
        "{report}"
    );
    assert!(report.problems[2].reason.contains("patches_101.jpg"));
}

#[test]
fn yolo_to_coco_to_yolo_is_lossless_on_neu_det() {
    let ds = YoloDataset::load(&shared("NEU-DET")).unwrap();
    let samples: Vec<&Sample> = ds.samples().map(|(_, s)| s).collect();
    let coco = to_coco(&samples, ds.names(), &ds.yaml.root).unwrap();
    assert_eq!(coco.images.len(), 1800);
    assert_eq!(coco.annotations.len(), 4189);
    let json = serde_json::to_string(&coco).unwrap();
    let back = from_coco(&serde_json::from_str(&json).unwrap(), ds.names()).unwrap();
    assert_eq!(back.names, ds.names());
    assert!(back.added_names.is_empty());
    for (s, im) in samples.iter().zip(&back.images) {
        assert_eq!(s.labels.len(), im.labels.len());
        for (a, b) in s.labels.iter().zip(&im.labels) {
            assert_eq!(a.class, b.class);
            for (x, y) in [(a.cx, b.cx), (a.cy, b.cy), (a.w, b.w), (a.h, b.h)] {
                assert!((x - y).abs() < 1e-6, "{}: {a:?} vs {b:?}", s.image.display());
            }
            assert_eq!(a.to_line(), b.to_line());
        }
    }
}
