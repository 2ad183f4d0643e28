//! `detective import` and `detective train --weights` with Ultralytics' weights
//! through the real binary: their NEU-DET YOLOv8n export, imported, validates on
//! Burn to Ultralytics' own test metrics; their `.pt` and `.onnx` start a
//! fine-tuning run that keeps what the model knew; files that are not YOLOv8
//! weights are refused with a reason and nothing written.

use std::path::{Path, PathBuf};

use crate::common::{detective, json_stdout, run, stderr, stdout};

fn shared() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared")
}

/// NEU-DET with `train` and `val` images of each class (as data.yaml names them).
fn neu_subset(dir: &Path, train: usize, val: usize) -> PathBuf {
    let src = shared().join("data/NEU-DET");
    let out = dir.join("neu");
    for (split, n) in [("train", train), ("val", val)] {
        std::fs::create_dir_all(out.join("images").join(split)).unwrap();
        std::fs::create_dir_all(out.join("labels").join(split)).unwrap();
        let mut files: Vec<String> = std::fs::read_dir(src.join("images").join(split))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        files.sort();
        for class in [
            "crazing",
            "inclusion",
            "patches",
            "pitted_surface",
            "rolled-in_scale",
            "scratches",
        ] {
            for f in files.iter().filter(|f| f.starts_with(&format!("{class}_"))).take(n) {
                std::fs::copy(
                    src.join("images").join(split).join(f),
                    out.join("images").join(split).join(f),
                )
                .unwrap();
                let label = f.replace(".jpg", ".txt");
                std::fs::copy(
                    src.join("labels").join(split).join(&label),
                    out.join("labels").join(split).join(&label),
                )
                .unwrap();
            }
        }
    }
    std::fs::copy(src.join("data.yaml"), out.join("data.yaml")).unwrap();
    out
}

#[test]
fn an_imported_ultralytics_export_validates_on_burn_to_ultralytics_test_metrics() {
    let d = tempfile::tempdir().unwrap();
    let o = run(detective(d.path())
        .arg("import")
        .arg(shared().join("models/neu-yolov8n-320.onnx"))
        .args(["--out", "neu.bpk"]));
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(text.contains("YOLOv8n, 6 classes (crazing, inclusion"), "{text}");
    assert!(
        text.contains("checked against") || stderr(&o).contains("not checked"),
        "{text}"
    );
    assert!(d.path().join("neu.json").is_file());
    assert!(
        !d.path().join("neu.onnx").exists(),
        "Burn must serve the import, not an ONNX beside it"
    );

    let expected: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(shared().join("models/neu-yolov8n-320.metrics.json")).unwrap())
            .unwrap();
    let o = run(detective(d.path())
        .args(["val", "--split", "test", "--json", "--model", "neu.bpk", "--data"])
        .arg(shared().join("data/NEU-DET")));
    let v = json_stdout(&o);
    assert_eq!(v["backend"], "burn");
    assert_eq!(v["images"], 270);
    for (ours, theirs) in [
        ("precision", "test_P"),
        ("recall", "test_R"),
        ("map50", "test_mAP50"),
        ("map50_95", "test_mAP50_95"),
    ] {
        let (a, b) = (v[ours].as_f64().unwrap(), expected[theirs].as_f64().unwrap());
        assert!((a - b).abs() <= 0.005, "{ours}: {a} against Ultralytics' {b}");
    }
}

#[test]
fn fine_tuning_starts_from_ultralytics_weights_and_keeps_what_they_know() {
    let d = tempfile::tempdir().unwrap();
    neu_subset(d.path(), 6, 3);
    let onnx = shared().join("models/neu-yolov8n-320.onnx");
    // What the imported model scores on this validation subset before training.
    let o = run(detective(d.path())
        .arg("import")
        .arg(&onnx)
        .args(["--out", "start.bpk"]));
    assert!(o.status.success(), "{}", stderr(&o));
    let o = run(detective(d.path()).args([
        "val",
        "--model",
        "start.bpk",
        "--data",
        "neu",
        "--split",
        "val",
        "--json",
    ]));
    let before = json_stdout(&o)["map50"].as_f64().unwrap();

    let train = |weights: &Path, out: &str| {
        let o = run(detective(d.path())
            .env("RUST_LOG", "info")
            .args([
                "train", "--data", "neu", "--epochs", "1", "--imgsz", "320", "--batch", "8",
            ])
            .args([
                "--close-mosaic",
                "1",
                "--workers",
                "1",
                "--no-plots",
                "--out",
                out,
                "--weights",
            ])
            .arg(weights));
        assert!(o.status.success(), "{}", stderr(&o));
        (
            stderr(&o),
            std::fs::read_to_string(d.path().join(out).join("args.yaml")).unwrap(),
        )
    };
    // From the ONNX export: batch norm calibrated, every tensor taken, scale n from the file.
    let (log, args) = train(&onnx, "from-onnx");
    assert!(log.contains("batch norm of 57 folded layers calibrated"), "{log}");
    assert!(log.contains("transferred 297/297 tensors"), "{log}");
    assert!(args.contains("model: n"), "{args}");
    let o = run(detective(d.path()).args([
        "val",
        "--model",
        "from-onnx/weights/last.bpk",
        "--data",
        "neu",
        "--split",
        "val",
        "--json",
    ]));
    let after = json_stdout(&o)["map50"].as_f64().unwrap();
    println!("mAP50 on the validation subset: imported {before:.3}, after one epoch {after:.3}");
    assert!(before > 0.4, "the imported model should know NEU-DET: {before}");
    assert!(
        after > 0.8 * before,
        "fine-tuning lost what the model knew: {before} → {after}"
    );

    // From the .pt checkpoint: its batch norm is kept, nothing to calibrate.
    let (log, _) = train(&shared().join("models/ultralytics-yolov8n-neu-e1.pt"), "from-pt");
    assert!(!log.contains("calibrated"), "{log}");
    assert!(log.contains("transferred 297/297 tensors"), "{log}");

    // A scale that is not the weights' is refused before any work.
    let o = run(detective(d.path())
        .args([
            "train",
            "--data",
            "neu",
            "--epochs",
            "1",
            "--model",
            "s",
            "--out",
            "bad",
            "--weights",
        ])
        .arg(&onnx));
    assert!(!o.status.success());
    assert!(stderr(&o).contains("is a YOLOv8n"), "{}", stderr(&o));
}

#[test]
fn files_that_are_not_yolov8_weights_are_refused_and_nothing_is_written() {
    let d = tempfile::tempdir().unwrap();
    let cases: Vec<(PathBuf, &str, &str)> = vec![
        (
            shared().join("models/neu-yolov8n-320.metrics.json"),
            "x.bpk",
            "cannot import a .json",
        ),
        (
            shared().join("models/neu-yolov8n-320.onnx"),
            "x.onnx",
            "--out must name a .bpk",
        ),
        (d.path().join("garbage.pt"), "x.bpk", "not a PyTorch zip checkpoint"),
        (d.path().join("garbage.onnx"), "x.bpk", "not an ONNX model"),
        (d.path().join("missing.pt"), "x.bpk", "cannot read"),
    ];
    std::fs::write(d.path().join("garbage.pt"), b"PK\x03\x04 not really a zip").unwrap();
    std::fs::write(d.path().join("garbage.onnx"), [0xffu8; 64]).unwrap();
    for (model, out, reason) in cases {
        let o = run(detective(d.path()).arg("import").arg(&model).args(["--out", out]));
        assert!(!o.status.success(), "{} was accepted", model.display());
        assert!(stderr(&o).contains(reason), "{}: {}", model.display(), stderr(&o));
        assert!(!d.path().join("x.bpk").exists() && !d.path().join("x.json").exists());
    }
    // Our own ONNX export of a segmenter is not a YOLOv8 detector.
    let o = run(detective(d.path())
        .arg("import")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/magnetictile-seg.onnx"))
        .args(["--out", "x.bpk"]));
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("only detection models are imported"),
        "{}",
        stderr(&o)
    );
}
