//! `detective export` through the real binary: a checkpoint made by the library
//! (no training) is exported to ONNX, verified in ONNX Runtime, and served by
//! `detective predict`; bad arguments fail clearly with a non-zero exit.

use std::path::{Path, PathBuf};

use crate::common::{detective, json_stdout, run, stderr, stdout};
use burn::tensor::Device;
use detective_ml::checkpoint::{ModelMeta, save_model};
use detective_ml::detect::{Scale, YoloConfig, YoloV8};
use detective_vision::encode::encode_png;
use detective_vision::{DecodeLimits, decode_file};

/// A fresh two-class YOLOv8n saved as `dir/best.bpk` (+ `best.json`), input 64.
fn checkpoint(dir: &Path) -> PathBuf {
    let model = YoloV8::new(
        &YoloConfig {
            scale: Scale::N,
            num_classes: 2,
        },
        &Device::flex(),
    );
    let meta = ModelMeta::new(Scale::N, vec!["scratch".into(), "spot".into()], 64);
    let path = dir.join("best.bpk");
    save_model(&model, &meta, &path).unwrap();
    path
}

/// A real NEU-DET image re-encoded as PNG into `dir/part.png`.
fn png(dir: &Path) -> PathBuf {
    let src = crate::common::shared_data("NEU-DET").join("images/test/inclusion_260.jpg");
    let frame = decode_file(&src, &DecodeLimits::default()).unwrap();
    let path = dir.join("part.png");
    std::fs::write(&path, encode_png(&frame).unwrap()).unwrap();
    path
}

#[test]
fn export_writes_a_verified_onnx_model_that_predict_serves() {
    let d = tempfile::tempdir().unwrap();
    checkpoint(d.path());
    // Defaults: format onnx, the checkpoint's imgsz, output next to the checkpoint.
    let o = run(detective(d.path()).args(["export", "--model", "best.bpk"]));
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    let first = out.lines().next().unwrap_or_default();
    assert!(
        first.starts_with("exported best.onnx (") && first.contains(" nodes") && first.contains("imgsz 64"),
        "{out}"
    );
    assert!(out.contains("verified in ONNX Runtime: max |Δ| vs Burn"), "{out}");
    assert!(d.path().join("best.onnx").is_file());

    let o = run(detective(d.path()).args([
        "export",
        "--model",
        "best.bpk",
        "--format",
        "onnx",
        "--imgsz",
        "96",
        "--out",
        "models/part.onnx",
    ]));
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("imgsz 96"), "{}", stdout(&o));
    let image = png(d.path());
    let o = run(detective(d.path())
        .args(["predict", "--model", "models/part.onnx", "--source"])
        .arg(&image)
        .arg("--json"));
    let line = json_stdout(&o);
    assert!(line["image"].as_str().unwrap().ends_with("part.png"));
    assert!(line["detections"].is_array());
    // The checkpoint itself now runs through its export too.
    let o = run(detective(d.path())
        .args(["predict", "--model", "best.bpk", "--source"])
        .arg(&image)
        .arg("--json"));
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn bad_format_missing_model_and_bad_imgsz_are_refused_clearly() {
    let d = tempfile::tempdir().unwrap();
    checkpoint(d.path());
    let o = run(detective(d.path()).args(["export", "--model", "best.bpk", "--format", "torchscript"]));
    assert!(
        !o.status.success() && stderr(&o).contains("torchscript") && stderr(&o).contains("onnx"),
        "{}",
        stderr(&o)
    );
    let o = run(detective(d.path()).args(["export", "--model", "nope.bpk"]));
    assert!(
        !o.status.success() && stderr(&o).contains("file not found"),
        "{}",
        stderr(&o)
    );
    let o = run(detective(d.path()).args(["export", "--model", "best.bpk", "--imgsz", "100"]));
    assert!(
        !o.status.success() && stderr(&o).contains("multiple of 32"),
        "{}",
        stderr(&o)
    );
    let o = run(detective(d.path()).args(["export", "--model", "best.onnx"]));
    assert!(
        !o.status.success() && stderr(&o).contains("not our checkpoint"),
        "{}",
        stderr(&o)
    );
    let o = run(detective(d.path()).args(["export", "--model", "best.bpk", "--out", "best.json"]));
    assert!(
        !o.status.success() && stderr(&o).contains("overwrite the checkpoint"),
        "{}",
        stderr(&o)
    );
    assert!(!d.path().join("best.onnx").exists(), "nothing was exported");
}

#[test]
fn int8_export_calibrates_on_a_folder_and_predict_serves_it() {
    let d = tempfile::tempdir().unwrap();
    checkpoint(d.path());
    let calib = d.path().join("calib");
    std::fs::create_dir(&calib).unwrap();
    for name in ["a", "b", "c"] {
        std::fs::copy(png(d.path()), calib.join(format!("{name}.png"))).unwrap();
    }
    let o = run(detective(d.path()).args([
        "export",
        "--model",
        "best.bpk",
        "--int8",
        "--calibration",
        "calib",
        "--calib-count",
        "2",
    ]));
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.starts_with("exported best.int8.onnx (int8 QDQ, "), "{out}");
    assert!(out.contains("convolutions with int8 weights"), "{out}");
    assert!(
        out.contains("checked in ONNX Runtime against the float graph on 2 calibration images"),
        "{out}"
    );
    assert!(stderr(&o).contains("calibrating on 2 of 3 images"), "{}", stderr(&o));
    let o = run(detective(d.path()).args(["predict", "--model", "best.int8.onnx", "--source", "part.png"]));
    assert!(o.status.success(), "{}", stderr(&o));

    // --int8 without images, an empty folder, a bad percentile: clear errors, nothing written
    for (args, says) in [
        (vec!["--int8"], "--calibration"),
        (vec!["--int8", "--calibration", "empty"], "no images found"),
        (
            vec![
                "--int8",
                "--calibration",
                "calib",
                "--calib-method",
                "percentile",
                "--percentile",
                "30",
            ],
            "percentile",
        ),
        (
            vec!["--int8", "--calibration", "calib", "--weight-bits", "4"],
            "weight-bits",
        ),
    ] {
        std::fs::create_dir_all(d.path().join("empty")).unwrap();
        let mut cmd = detective(d.path());
        cmd.args(["export", "--model", "best.bpk", "--out", "bad.onnx"])
            .args(&args);
        let o = run(&mut cmd);
        assert!(!o.status.success(), "{args:?} succeeded");
        assert!(stderr(&o).contains(says), "{args:?}: {}", stderr(&o));
        assert!(!d.path().join("bad.onnx").exists());
    }
}
