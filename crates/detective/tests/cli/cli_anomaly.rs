//! `detective train --task anomaly` through the real binary on a tiny synthetic
//! set: it trains on the good images only, calibrates its threshold on the good
//! validation images, and `val`, `predict` and `export` treat the model as an
//! anomaly model (image and pixel AUROC, the image score); clear refusals.

use std::path::Path;

use crate::common::{detective, json_stdout, run, stderr, stdout};

/// A synthetic set in `dir/data` where half the parts are good (empty label
/// files) and half carry defects with masks.
fn half_good_set(dir: &Path, count: &str, seed: &str) {
    let o = run(detective(dir).args([
        "synth",
        "--task",
        "segment",
        "--count",
        count,
        "--size",
        "64x64",
        "--out",
        "data",
        "--seed",
        seed,
        "--split",
        "0.6,0.4,0",
        "--defect-rate",
        "0.5",
    ]));
    assert!(o.status.success(), "{}", stderr(&o));
}

fn good_train_images(dir: &Path) -> usize {
    std::fs::read_dir(dir.join("data/labels/train"))
        .unwrap()
        .filter(|e| std::fs::metadata(e.as_ref().unwrap().path()).unwrap().len() == 0)
        .count()
}

#[test]
fn an_anomaly_model_learns_good_parts_only_and_flags_synthetic_defects() {
    let d = tempfile::tempdir().unwrap();
    half_good_set(d.path(), "160", "11");
    let good = good_train_images(d.path());
    assert!(good > 20 && good < 76, "{good} good training images");
    let o = run(detective(d.path()).args([
        "train", "--task", "anomaly", "--data", "data", "--epochs", "15", "--imgsz", "64", "--batch", "8", "--out",
        "run",
    ]));
    assert!(o.status.success(), "{}", stderr(&o));
    let err = stderr(&o);
    // only the good images are trained on
    assert!(err.contains(&format!("): {good} training images")), "{err}");
    assert!(err.contains("image AUROC") && err.contains("pixel AUROC"), "{err}");
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.path().join("run/weights/best.json")).unwrap()).unwrap();
    assert_eq!(meta["task"], "anomaly");
    assert_eq!(meta["names"], serde_json::json!(["anomaly"]));
    let threshold = meta["threshold"].as_f64().unwrap();
    assert!(threshold > 0.0 && threshold < 1.0, "{threshold}");

    // val knows it is an anomaly model and scores it at its calibrated threshold
    let v = json_stdout(&run(detective(d.path()).args([
        "val",
        "--model",
        "run/weights/best.bpk",
        "--data",
        "data",
        "--split",
        "val",
        "--json",
    ])));
    assert_eq!(v["task"], "anomaly", "{v}");
    assert_eq!(v["images"], 64);
    assert!((v["threshold"].as_f64().unwrap() - threshold).abs() < 1e-6, "{v}");
    let (image_auroc, pixel_auroc) = (v["image_auroc"].as_f64().unwrap(), v["pixel_auroc"].as_f64().unwrap());
    // the defects of the synthetic engine are what it was shown pasted onto
    // good parts: it must rank the defective parts and pixels well above chance
    assert!(image_auroc > 0.75, "image AUROC {image_auroc}");
    assert!(pixel_auroc > 0.75, "pixel AUROC {pixel_auroc}");
    // PRO weighs each defect region alike: a map that ranks pixels well finds
    // more of each region than a map of noise would (about 0.15)
    let pro = v["pro"].as_f64().unwrap();
    assert!(pro > 0.3 && pro <= 1.0, "PRO {pro}");
    for k in ["f1", "precision", "recall", "false_alarm_rate", "tp", "fp", "fn", "tn"] {
        assert!(v[k].is_number(), "{k} missing: {v}");
    }
    let flagged_good = v["fp"].as_u64().unwrap() + v["tn"].as_u64().unwrap();
    assert_eq!(flagged_good + v["tp"].as_u64().unwrap() + v["fn"].as_u64().unwrap(), 64);

    // predict gives each image's score and the maps
    let o = run(detective(d.path()).args([
        "predict",
        "--model",
        "run/weights/best.bpk",
        "--source",
        "data/images/val",
        "--save",
        "pred",
        "--json",
    ]));
    assert!(o.status.success(), "{}", stderr(&o));
    let lines: Vec<serde_json::Value> = stdout(&o).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 64);
    for l in &lines {
        let s = l["score"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&s), "{l}");
        assert_eq!(l["anomalous"], s >= l["threshold"].as_f64().unwrap(), "{l}");
    }
    assert_eq!(std::fs::read_dir(d.path().join("pred")).unwrap().count(), 192);

    // the ONNX export says it is an anomaly model and scores the same
    let o = run(detective(d.path()).args(["export", "--model", "run/weights/best.bpk"]));
    assert!(o.status.success(), "{}", stderr(&o));
    let w = json_stdout(&run(detective(d.path()).args([
        "val",
        "--model",
        "run/weights/best.onnx",
        "--data",
        "data",
        "--split",
        "val",
        "--json",
    ])));
    assert_eq!(
        (&w["task"], &w["backend"]),
        (&"anomaly".into(), &"onnxruntime".into()),
        "{w}"
    );
    for k in ["image_auroc", "pixel_auroc", "pro"] {
        let (a, b) = (v[k].as_f64().unwrap(), w[k].as_f64().unwrap());
        assert!((a - b).abs() < 1e-3, "{k}: burn {a}, onnx {b}");
    }
}

#[test]
fn anomaly_training_needs_good_images_and_its_options_need_the_task() {
    let d = tempfile::tempdir().unwrap();
    // every image has a defect: nothing to learn "good" from
    let o = run(detective(d.path()).args([
        "synth",
        "--task",
        "segment",
        "--count",
        "8",
        "--size",
        "64x64",
        "--out",
        "data",
        "--seed",
        "1",
        "--defect-rate",
        "1",
    ]));
    assert!(o.status.success(), "{}", stderr(&o));
    let o = run(detective(d.path()).args([
        "train", "--task", "anomaly", "--data", "data", "--epochs", "1", "--imgsz", "64", "--out", "run",
    ]));
    assert!(!o.status.success());
    assert!(stderr(&o).contains("defect-free images"), "{}", stderr(&o));
    assert!(!d.path().join("run/results.csv").exists());
    let o = run(detective(d.path()).args(["train", "--data", "data", "--epochs", "1", "--anomaly-share", "0.5"]));
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("are for --task segment or anomaly"),
        "{}",
        stderr(&o)
    );
    let o = run(detective(d.path()).args([
        "train",
        "--task",
        "segment",
        "--data",
        "data",
        "--epochs",
        "1",
        "--false-alarms",
        "0.01",
    ]));
    assert!(!o.status.success());
    assert!(stderr(&o).contains("are for --task anomaly"), "{}", stderr(&o));
    let o = run(detective(d.path()).args(["train", "--task", "anomaly", "--data", "data", "--false-alarms", "0.7"]));
    assert!(!o.status.success());
    assert!(stderr(&o).contains("false-alarms 0.7"), "{}", stderr(&o));
}
