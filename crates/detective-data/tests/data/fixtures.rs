//! Small hand-made datasets for each rule: Roboflow layout, `.txt` split lists,
//! malformed labels reported as file:line: reason, splits, COCO name mapping.

use std::path::Path;

use detective_data::check::check_dataset;
use detective_data::coco::{CocoAnnotation, CocoCategory, CocoFile, CocoImage, from_coco};
use detective_data::split::{SplitRatios, stratified_split, write_split};
use detective_data::{Sample, YoloDataset, YoloLabel};

fn png(path: &Path, w: u32, h: u32, shade: u8) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    image::GrayImage::from_pixel(w, h, image::Luma([shade]))
        .save(path)
        .unwrap();
}

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

#[test]
fn roboflow_export_layout_loads() {
    let d = tempfile::tempdir().unwrap();
    let r = d.path();
    write(
        &r.join("data.yaml"),
        "train: ../train/images\nval: ../valid/images\ntest: ../test/images\nnc: 2\nnames: ['dent', 'scratch']\n",
    );
    for (split, n) in [("train", 3), ("valid", 2), ("test", 1)] {
        for i in 0..n {
            png(&r.join(format!("{split}/images/im{i}.jpg.png")), 20, 10, i as u8 * 40);
            write(&r.join(format!("{split}/labels/im{i}.jpg.txt")), "1 0.5 0.5 0.2 0.2\n");
        }
    }
    let ds = YoloDataset::load(r).unwrap();
    let counts: Vec<(String, usize)> = ds.splits.iter().map(|s| (s.name.clone(), s.samples.len())).collect();
    assert_eq!(
        counts,
        [("train".to_string(), 3), ("val".into(), 2), ("test".into(), 1)]
    );
    assert!(ds.splits.iter().all(|s| s.missing.is_empty()));
    assert_eq!(ds.split("val").unwrap().samples[0].labels[0].class, 1);
}

#[test]
fn txt_lists_and_lists_of_folders_load_and_missing_entries_are_reported() {
    let d = tempfile::tempdir().unwrap();
    let r = d.path();
    png(&r.join("images/a/1.png"), 8, 8, 0);
    png(&r.join("images/b/2.png"), 8, 8, 50);
    png(&r.join("images/c/3.png"), 8, 8, 100);
    write(&r.join("lists/val.txt"), "./../images/c/3.png\nimages/c/missing.png\n");
    write(
        &r.join("data.yaml"),
        "path: .\ntrain: [images/a, images/b]\nval: lists/val.txt\ntest: images/nothere\nnames: [x]\n",
    );
    let ds = YoloDataset::load(&r.join("data.yaml")).unwrap();
    assert_eq!(ds.split("train").unwrap().samples.len(), 2);
    let val = ds.split("val").unwrap();
    assert_eq!(val.samples.len(), 1);
    assert_eq!(val.missing.len(), 1);
    let report = check_dataset(&ds);
    let text = report.to_string();
    assert!(text.contains("missing.png: val split: does not exist"), "{text}");
    assert!(text.contains("nothere: test split: does not exist"), "{text}");
    assert!(!report.is_ok());
}

#[test]
fn check_names_every_malformed_line_with_file_and_line() {
    let d = tempfile::tempdir().unwrap();
    let r = d.path();
    write(&r.join("data.yaml"), "train: images/train\nnames: [a, b]\n");
    png(&r.join("images/train/good.png"), 10, 10, 1);
    png(&r.join("images/train/bad.png"), 10, 10, 2);
    png(&r.join("images/train/copy.png"), 10, 10, 1); // same bytes as good.png
    write(&r.join("images/train/broken.png"), "not really a png");
    write(&r.join("labels/train/good.txt"), "0 0.5 0.5 0.2 0.2\n");
    write(
        &r.join("labels/train/bad.txt"),
        "0 0.5 0.5 0.2\n5 0.5 0.5 0.2 0.2\n0 1.5 0.5 0.2 0.2\n0 0.5 0.5 0 0.2\n1 0.5 0.5 0.1 0.1\n1 0.5 0.5 0.1 0.1\n0 0.5 abc 0.2 0.2\n",
    );
    let report = check_dataset(&YoloDataset::load(r).unwrap());
    let lines: Vec<String> = report.problems.iter().map(|p| p.to_string()).collect();
    let has = |needle: &str| lines.iter().any(|l| l.contains(needle));
    assert!(has("bad.txt:1: wrong field count"), "{lines:#?}");
    assert!(has("bad.txt:2: class 5 out of range"), "{lines:#?}");
    assert!(has("bad.txt:3: coordinates outside 0..1"), "{lines:#?}");
    assert!(has("bad.txt:4: zero-size box"), "{lines:#?}");
    assert!(has("bad.txt:6: duplicate label line"), "{lines:#?}");
    assert!(has("bad.txt:7: value \"abc\" is not a number"), "{lines:#?}");
    assert!(has("broken.png: unreadable image"), "{lines:#?}");
    assert!(
        lines
            .iter()
            .any(|l| l.contains("duplicate image: same content as") && l.contains("good.png")),
        "{lines:#?}"
    );
    assert_eq!(report.problems.len(), 8, "{lines:#?}");
    assert!(report.to_string().ends_with("8 problems"));
}

fn sample(class: Option<u32>, i: usize) -> Sample {
    Sample {
        image: format!("/x/images/train/{i}.png").into(),
        label_path: format!("/x/labels/train/{i}.txt").into(),
        labels: class
            .map(|c| {
                vec![YoloLabel {
                    class: c,
                    cx: 0.5,
                    cy: 0.5,
                    w: 0.1,
                    h: 0.1,
                }]
            })
            .unwrap_or_default(),
        issues: vec![],
        label_file_exists: true,
    }
}

#[test]
fn split_is_deterministic_stratified_and_checks_ratios() {
    let samples: Vec<Sample> = (0..200)
        .map(|i| sample(if i % 5 == 4 { None } else { Some((i % 5) as u32) }, i))
        .collect();
    let refs: Vec<&Sample> = samples.iter().collect();
    let ratios = SplitRatios::new(0.7, 0.15, 0.15).unwrap();
    let a = stratified_split(&refs, 4, ratios, 7);
    assert_eq!(a, stratified_split(&refs, 4, ratios, 7), "same seed, same split");
    assert_ne!(a, stratified_split(&refs, 4, ratios, 8), "other seed, other split");
    // every class (and background) lands 28/6/6 in train/val/test
    for key in 0..5 {
        let mut counts = [0; 3];
        for (i, &k) in a.iter().enumerate() {
            if i % 5 == key {
                counts[k] += 1;
            }
        }
        assert_eq!(counts, [28, 6, 6], "stratum {key}");
    }
    assert!(SplitRatios::new(0.7, 0.2, 0.2).is_err());
    assert!(SplitRatios::new(1.2, -0.1, -0.1).is_err());
}

#[test]
fn write_split_copies_images_labels_and_masks() {
    let d = tempfile::tempdir().unwrap();
    let r = d.path().join("src");
    write(
        &r.join("data.yaml"),
        "train: images/train\nval: images/val\nnames: [a]\n",
    );
    for i in 0..10 {
        let split = if i < 8 { "train" } else { "val" };
        png(&r.join(format!("images/{split}/{i}.png")), 8, 8, i as u8);
        png(&r.join(format!("masks/{split}/{i}.png")), 8, 8, 255);
        write(&r.join(format!("labels/{split}/{i}.txt")), "0 0.5 0.5 0.5 0.5\n");
    }
    let ds = YoloDataset::load(&r).unwrap();
    let out = d.path().join("out");
    let counts = write_split(&ds, SplitRatios::new(0.6, 0.2, 0.2).unwrap(), 1, &out, false).unwrap();
    assert_eq!(counts.iter().sum::<usize>(), 10);
    assert_eq!(counts, [6, 2, 2]);
    let back = YoloDataset::load(&out).unwrap();
    assert_eq!(back.samples().count(), 10);
    assert!(
        back.samples()
            .all(|(_, s)| s.labels.len() == 1 && detective_data::mask_path_for(&s.image).is_file())
    );
    assert!(
        write_split(&ds, SplitRatios::new(0.6, 0.2, 0.2).unwrap(), 1, &out, false).is_err(),
        "non-empty out refused"
    );
}

#[test]
fn coco_categories_map_by_name_and_unknown_names_are_appended() {
    let coco = CocoFile {
        images: vec![CocoImage {
            id: 7,
            file_name: "a.jpg".into(),
            width: 100,
            height: 50,
        }],
        annotations: vec![
            CocoAnnotation {
                id: 1,
                image_id: 7,
                category_id: 10,
                bbox: [10.0, 5.0, 20.0, 10.0],
                area: 200.0,
                iscrowd: 0,
                segmentation: None,
                source: None,
            },
            CocoAnnotation {
                id: 2,
                image_id: 7,
                category_id: 3,
                bbox: [0.0, 0.0, 100.0, 50.0],
                area: 5000.0,
                iscrowd: 0,
                segmentation: None,
                source: None,
            },
        ],
        categories: vec![
            CocoCategory {
                id: 3,
                name: "rust".into(),
                supercategory: None,
            },
            CocoCategory {
                id: 10,
                name: "scratch".into(),
                supercategory: None,
            },
        ],
    };
    let names = vec!["dent".to_string(), "scratch".to_string()];
    let imp = from_coco(&coco, &names).unwrap();
    assert_eq!(imp.names, ["dent", "scratch", "rust"]);
    assert_eq!(imp.added_names, ["rust"]);
    let l = &imp.images[0].labels;
    assert_eq!(
        l[0],
        YoloLabel {
            class: 1,
            cx: 0.2,
            cy: 0.2,
            w: 0.2,
            h: 0.2
        }
    );
    assert_eq!(l[1].class, 2);
    let bad = CocoFile {
        annotations: vec![CocoAnnotation {
            image_id: 99,
            ..coco.annotations[0].clone()
        }],
        ..coco.clone()
    };
    assert!(
        from_coco(&bad, &names)
            .unwrap_err()
            .to_string()
            .contains("unknown image 99")
    );
}

#[test]
fn check_reports_a_split_whose_label_folder_is_missing() {
    let d = tempfile::tempdir().unwrap();
    let r = d.path();
    write(
        &r.join("data.yaml"),
        "train: images/train\nval: images/val\nnames: [a]\n",
    );
    png(&r.join("images/train/a.png"), 8, 8, 1);
    write(&r.join("labels/train/a.txt"), "0 0.5 0.5 0.2 0.2\n");
    png(&r.join("images/val/b.png"), 8, 8, 2);
    png(&r.join("images/val/c.png"), 8, 8, 3);
    let ds = YoloDataset::load(r).unwrap();
    assert!(ds.split("val").unwrap().samples.iter().all(|s| s.labels.is_empty()));
    let report = check_dataset(&ds);
    let lines: Vec<String> = report.problems.iter().map(|p| p.to_string()).collect();
    assert_eq!(lines.len(), 1, "{lines:#?}");
    assert!(
        lines[0].ends_with("val: val split: label folder does not exist (2 images would be read as background)"),
        "{lines:#?}"
    );
}
