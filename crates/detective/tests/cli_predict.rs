//! `detective predict` through the real binary on the Ultralytics NEU-DET model.

mod common;

use common::{detective, run, stderr, stdout};

fn model() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/models/neu-yolov8n-320.onnx")
}

#[test]
fn json_lines_per_image_and_annotated_images_are_written() {
    let d = tempfile::tempdir().unwrap();
    let src = common::shared_data("NEU-DET").join("images/test");
    let pattern = format!("{}/patches_26*.jpg", src.display());
    let o = run(detective(d.path())
        .arg("predict")
        .arg("--model")
        .arg(model())
        .args(["--source", &pattern, "--json", "--save", "out"]));
    assert!(o.status.success(), "{}", stderr(&o));
    let lines: Vec<serde_json::Value> = stdout(&o).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 10);
    let first = &lines[0];
    assert!(first["image"].as_str().unwrap().ends_with("patches_260.jpg"));
    assert!(first["ms"].as_f64().unwrap() > 0.0);
    let det = &first["detections"][0];
    assert_eq!(det["name"], "patches");
    assert_eq!(det["bbox"].as_array().unwrap().len(), 4);
    assert!(d.path().join("out/patches_260.jpg").is_file());
    // conf filter applies
    let o = run(detective(d.path())
        .arg("predict")
        .arg("--model")
        .arg(model())
        .args(["--source", &pattern, "--json", "--conf", "0.9"]));
    let strict: usize = stdout(&o)
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["detections"]
                .as_array()
                .unwrap()
                .len()
        })
        .sum();
    let loose: usize = lines.iter().map(|l| l["detections"].as_array().unwrap().len()).sum();
    assert!(strict < loose, "{strict} vs {loose}");
}

#[test]
fn bad_model_source_and_thresholds_are_refused_clearly() {
    let d = tempfile::tempdir().unwrap();
    let img = common::shared_data("NEU-DET").join("images/test/patches_263.jpg");
    let img = img.to_string_lossy().into_owned();
    let o = run(detective(d.path()).args(["predict", "--model", "nope.onnx", "--source", &img]));
    assert!(
        !o.status.success() && stderr(&o).contains("file not found"),
        "{}",
        stderr(&o)
    );
    let o = run(detective(d.path())
        .arg("predict")
        .arg("--model")
        .arg(model())
        .args(["--source", "nothing/here"]));
    assert!(
        !o.status.success() && stderr(&o).contains("is not an image"),
        "{}",
        stderr(&o)
    );
    let o = run(detective(d.path())
        .arg("predict")
        .arg("--model")
        .arg(model())
        .args(["--source", &img, "--conf", "1.5"]));
    assert!(
        !o.status.success() && stderr(&o).contains("within 0..1"),
        "{}",
        stderr(&o)
    );
    let o = run(detective(d.path())
        .arg("predict")
        .arg("--model")
        .arg(model())
        .args(["--source", &img, "--imgsz", "640"]));
    assert!(
        !o.status.success() && stderr(&o).contains("fixed input size 320"),
        "{}",
        stderr(&o)
    );
    std::fs::write(d.path().join("fake.onnx"), b"<html>not a model</html>").unwrap();
    let o = run(detective(d.path()).args(["predict", "--model", "fake.onnx", "--source", &img]));
    assert!(
        !o.status.success() && stderr(&o).contains("fake.onnx"),
        "{}",
        stderr(&o)
    );
}
