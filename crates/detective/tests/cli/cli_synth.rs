//! `detective synth` through the real binary: layout, determinism, exact labels.

use std::collections::BTreeMap;
use std::path::Path;

use crate::common::{detective, run, stderr, stdout};

fn files(root: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    for e in walk(root) {
        out.insert(
            e.strip_prefix(root).unwrap().display().to_string(),
            std::fs::read(&e).unwrap(),
        );
    }
    out
}

fn walk(p: &Path) -> Vec<std::path::PathBuf> {
    let mut v = Vec::new();
    for e in std::fs::read_dir(p).unwrap() {
        let path = e.unwrap().path();
        if path.is_dir() {
            v.extend(walk(&path))
        } else {
            v.push(path)
        }
    }
    v
}

fn synth(dir: &Path, out: &str, extra: &[&str]) -> std::process::Output {
    let o = run(detective(dir)
        .args(["synth", "--count", "40", "--size", "96x64", "--out", out])
        .args(extra));
    assert!(o.status.success(), "{}", stderr(&o));
    o
}

#[test]
fn same_seed_gives_byte_identical_datasets_and_another_seed_does_not() {
    let d = tempfile::tempdir().unwrap();
    synth(d.path(), "a", &["--seed", "5", "--task", "segment"]);
    synth(d.path(), "b", &["--seed", "5", "--task", "segment"]);
    synth(d.path(), "c", &["--seed", "6", "--task", "segment"]);
    let (a, b, c) = (
        files(&d.path().join("a")),
        files(&d.path().join("b")),
        files(&d.path().join("c")),
    );
    assert_eq!(a.len(), 1 + 40 * 3, "data.yaml + image, label, mask per sample");
    assert_eq!(a, b);
    assert_ne!(a, c);
}

#[test]
fn detect_layout_has_data_yaml_splits_and_no_masks() {
    let d = tempfile::tempdir().unwrap();
    let o = synth(
        d.path(),
        "ds",
        &["--split", "0.5,0.25,0.25", "--classes", "crack,dent", "--format", "jpg"],
    );
    assert!(stdout(&o).contains("20 train / 10 val / 10 test"), "{}", stdout(&o));
    let root = d.path().join("ds");
    let yaml = std::fs::read_to_string(root.join("data.yaml")).unwrap();
    assert!(
        yaml.contains("train: images/train") && yaml.contains("0: crack") && yaml.contains("1: dent"),
        "{yaml}"
    );
    assert_eq!(std::fs::read_dir(root.join("images/val")).unwrap().count(), 10);
    assert!(root.join("images/train/synth_000000.jpg").is_file());
    assert!(root.join("labels/test/synth_000039.txt").is_file());
    assert!(!root.join("masks").exists());
    let check = run(detective(d.path()).args(["dataset", "check", "ds"]));
    assert!(check.status.success(), "{}", stdout(&check));
}

#[test]
fn label_boxes_are_exactly_the_boxes_of_the_mask_pixels() {
    let d = tempfile::tempdir().unwrap();
    synth(
        d.path(),
        "seg",
        &["--task", "segment", "--seed", "9", "--defect-rate", "1"],
    );
    let root = d.path().join("seg");
    let mut checked_single = 0;
    for split in ["train", "val", "test"] {
        for e in std::fs::read_dir(root.join("labels").join(split)).unwrap() {
            let label_path = e.unwrap().path();
            let stem = label_path.file_stem().unwrap().to_string_lossy().into_owned();
            let bytes = std::fs::read(root.join("masks").join(split).join(format!("{stem}.png"))).unwrap();
            let mask =
                detective_vision::encode::decode_gray(&bytes, &detective_vision::DecodeLimits::default()).unwrap();
            let (w, h) = (mask.width, mask.height);
            let boxes: Vec<[f64; 4]> = std::fs::read_to_string(&label_path)
                .unwrap()
                .lines()
                .map(|l| {
                    let v: Vec<f64> = l.split_whitespace().skip(1).map(|x| x.parse().unwrap()).collect();
                    let (cx, cy, bw, bh) = (v[0] * w as f64, v[1] * h as f64, v[2] * w as f64, v[3] * h as f64);
                    [cx - bw / 2.0, cy - bh / 2.0, cx + bw / 2.0, cy + bh / 2.0]
                })
                .collect();
            let on = |x: u32, y: u32| mask.get(x, y) == 255;
            // every mask pixel lies in some box
            for y in 0..h {
                for x in 0..w {
                    if on(x, y) {
                        assert!(
                            boxes.iter().any(|b| x as f64 + 0.5 > b[0]
                                && x as f64 + 0.5 < b[2]
                                && y as f64 + 0.5 > b[1]
                                && y as f64 + 0.5 < b[3]),
                            "{stem}: mask pixel ({x},{y}) outside all boxes"
                        );
                    }
                }
            }
            // every box is tight: mask pixels on its first and last row and column
            for b in &boxes {
                let (x1, y1, x2, y2) = (
                    b[0].round() as u32,
                    b[1].round() as u32,
                    b[2].round() as u32,
                    b[3].round() as u32,
                );
                assert!(
                    (x1..x2).any(|x| on(x, y1)) && (x1..x2).any(|x| on(x, y2 - 1)),
                    "{stem}: {b:?} not tight vertically"
                );
                assert!(
                    (y1..y2).any(|y| on(x1, y)) && (y1..y2).any(|y| on(x2 - 1, y)),
                    "{stem}: {b:?} not tight horizontally"
                );
            }
            if boxes.len() == 1 {
                let b = boxes[0];
                let px: Vec<(u32, u32)> = (0..h)
                    .flat_map(|y| (0..w).map(move |x| (x, y)))
                    .filter(|&(x, y)| on(x, y))
                    .collect();
                let derived = [
                    px.iter().map(|p| p.0).min().unwrap() as f64,
                    px.iter().map(|p| p.1).min().unwrap() as f64,
                    px.iter().map(|p| p.0).max().unwrap() as f64 + 1.0,
                    px.iter().map(|p| p.1).max().unwrap() as f64 + 1.0,
                ];
                for (p, q) in b.iter().zip(derived) {
                    assert!((p - q).abs() < 1e-3, "{stem}: label {b:?} vs mask box {derived:?}");
                }
                checked_single += 1;
            }
        }
    }
    assert!(
        checked_single > 5,
        "{checked_single} single-defect images compared exactly"
    );
}

#[test]
fn bad_arguments_are_refused_and_existing_output_is_protected() {
    let d = tempfile::tempdir().unwrap();
    for args in [
        vec!["--classes", "scratch,bubble"],
        vec!["--size", "10x10"],
        vec!["--defect-rate", "2"],
        vec!["--split", "0.5,0.5,0.5"],
        vec!["--count", "0"],
    ] {
        let o = run(detective(d.path()).args(["synth", "--out", "x"]).args(&args));
        assert!(!o.status.success(), "{args:?} accepted");
        assert!(stderr(&o).contains("error"), "{args:?}: {}", stderr(&o));
    }
    synth(d.path(), "y", &[]);
    let o = run(detective(d.path()).args(["synth", "--count", "2", "--out", "y"]));
    assert!(!o.status.success() && stderr(&o).contains("--force"), "{}", stderr(&o));
}

#[test]
fn a_wide_corpus_mixes_sizes_and_looks_and_the_standard_variety_is_unchanged_by_it() {
    let d = tempfile::tempdir().unwrap();
    let o = run(detective(d.path()).args([
        "synth",
        "--count",
        "40",
        "--size",
        "96x64,64x64",
        "--variety",
        "wide",
        "--out",
        "wide",
        "--split",
        "1,0,0",
    ]));
    assert!(o.status.success(), "{}", stderr(&o));
    let mut sizes = std::collections::BTreeSet::new();
    let mut grey = 0;
    for p in walk(&d.path().join("wide/images/train")) {
        let bytes = std::fs::read(&p).unwrap();
        let img = detective_vision::decode::decode_image(&bytes, &Default::default()).unwrap();
        sizes.insert((img.width(), img.height()));
        if img.as_rgb().chunks_exact(3).all(|px| px[0] == px[1] && px[1] == px[2]) {
            grey += 1;
        }
    }
    assert_eq!(sizes.into_iter().collect::<Vec<_>>(), [(64, 64), (96, 64)]);
    assert!((8..=32).contains(&grey), "{grey} of 40 grey images");
    // `--variety standard` (the default) writes what it wrote before `wide` existed
    synth(d.path(), "a", &["--seed", "5"]);
    synth(d.path(), "b", &["--seed", "5", "--variety", "standard"]);
    assert_eq!(files(&d.path().join("a")), files(&d.path().join("b")));
    let o = run(detective(d.path()).args(["synth", "--out", "c", "--variety", "loud"]));
    assert!(!o.status.success());
}
