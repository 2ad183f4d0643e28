//! Compatibility with Ultralytics: their YOLOv8n trained on NEU-DET and exported by
//! them to ONNX must give, through our serving path, the detections Ultralytics'
//! own `predict` gave (conf 0.25, IoU 0.7, imgsz 320) on the 270 NEU-DET test
//! images: every reference box matched by one of ours of the same class with IoU ≥
//! 0.98 and confidence within 0.01, and no extra boxes.
//!
//! Needs the ONNX Runtime library (`./scripts/setup-onnxruntime.sh`, run by
//! `./scripts/test.sh`); without it the test fails and says so.

use std::collections::BTreeMap;
use std::path::PathBuf;

use detective_core::BBox;
use detective_ml::{OnnxDetector, PredictOptions};
use detective_vision::{DecodeLimits, decode_file};
use serde::Deserialize;

#[derive(Deserialize)]
struct RefDet {
    class: u32,
    confidence: f32,
    bbox: [f32; 4],
}

fn shared() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared")
}

#[test]
fn ultralytics_export_gives_ultralytics_detections_on_neu_det_test() {
    let model = OnnxDetector::load(&shared().join("models/neu-yolov8n-320.onnx"), None, 2)
        .expect("load model (is ONNX Runtime installed?)");
    assert_eq!(model.imgsz, 320);
    assert_eq!(
        model.names,
        [
            "crazing",
            "inclusion",
            "patches",
            "pitted_surface",
            "rolled-in_scale",
            "scratches"
        ]
    );
    let text = std::fs::read_to_string(shared().join("models/neu-yolov8n-320.predictions.json")).unwrap();
    let reference: BTreeMap<String, Vec<RefDet>> = serde_json::from_str(&text).unwrap();
    assert_eq!(reference.len(), 270);
    let opts = PredictOptions {
        conf: 0.25,
        iou: 0.7,
        max_det: 300,
    };
    let (mut matched, mut worst_iou, mut worst_conf) = (0usize, 1.0f32, 0.0f32);
    let mut failures = Vec::new();
    for (file, refs) in &reference {
        let frame = decode_file(
            &shared().join("data/NEU-DET/images/test").join(file),
            &DecodeLimits::default(),
        )
        .unwrap();
        let ours = model.predict(&frame, &opts).unwrap().detections;
        let mut used = vec![false; ours.len()];
        for r in refs {
            let rb = BBox::from(r.bbox);
            let best = ours
                .iter()
                .enumerate()
                .filter(|(i, d)| !used[*i] && d.class_id == r.class)
                .map(|(i, d)| (i, d.bbox.iou(&rb), (d.confidence - r.confidence).abs()))
                .max_by(|a, b| a.1.total_cmp(&b.1));
            match best {
                Some((i, iou, dconf)) if iou >= 0.98 && dconf <= 0.01 => {
                    used[i] = true;
                    matched += 1;
                    worst_iou = worst_iou.min(iou);
                    worst_conf = worst_conf.max(dconf);
                }
                other => failures.push(format!(
                    "{file}: reference {:?} class {} conf {} → best match {other:?}",
                    r.bbox, r.class, r.confidence
                )),
            }
        }
        for (i, d) in ours.iter().enumerate() {
            if !used[i] {
                failures.push(format!(
                    "{file}: extra box {:?} class {} conf {}",
                    d.bbox, d.class_id, d.confidence
                ));
            }
        }
    }
    println!("matched {matched} reference boxes; worst IoU {worst_iou:.4}, worst |Δconf| {worst_conf:.4}");
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert_eq!(matched, 399);
}
