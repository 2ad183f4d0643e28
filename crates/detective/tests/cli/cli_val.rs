//! `detective val` on Ultralytics' own NEU-DET model reproduces the metrics
//! Ultralytics 8.4.190 reported for it (../shared/models/neu-yolov8n-320.metrics.json).

use crate::common::{detective, json_stdout, run};

#[test]
fn val_reproduces_ultralytics_metrics_on_their_neu_det_model() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared");
    let expected: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(root.join("models/neu-yolov8n-320.metrics.json")).unwrap())
            .unwrap();
    let d = tempfile::tempdir().unwrap();
    let o = run(detective(d.path())
        .args(["val", "--split", "test", "--json", "--threads", "2", "--model"])
        .arg(root.join("models/neu-yolov8n-320.onnx"))
        .arg("--data")
        .arg(root.join("data/NEU-DET")));
    let v = json_stdout(&o);
    let got = |k: &str| v[k].as_f64().unwrap();
    let want = |k: &str| expected[k].as_f64().unwrap();
    assert_eq!(v["images"], 270);
    assert_eq!(v["per_class"].as_array().unwrap().len(), 6);
    // The reference holds 4 decimals. mAP50-95 only agrees because predictions are
    // matched unclipped, as Ultralytics 8.4 does (clipped: 0.2698, see docs/training.md).
    assert!((got("precision") - want("test_P")).abs() < 0.001, "{v}");
    assert!((got("recall") - want("test_R")).abs() < 0.001, "{v}");
    assert!((got("map50") - want("test_mAP50")).abs() < 0.001, "{v}");
    assert!((got("map50_95") - want("test_mAP50_95")).abs() < 0.001, "{v}");
}
