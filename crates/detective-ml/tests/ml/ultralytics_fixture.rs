//! Compatibility with Ultralytics: their YOLOv8n trained on NEU-DET and exported by
//! them to ONNX must give, through our serving path, the detections Ultralytics'
//! own `predict` gave (conf 0.25, IoU 0.7, imgsz 320) on the 270 NEU-DET test
//! images: every reference box matched by one of ours of the same class with IoU ≥
//! 0.98 and confidence within 0.01, and no extra boxes.
//!
//! Needs the ONNX Runtime library (`./scripts/setup-onnxruntime.sh`, run by
//! `./scripts/test.sh`); without it the test fails and says so.

use detective_ml::{OnnxDetector, PredictOptions};

use crate::common::ultralytics_reference::{Matched, neu_test_image, reference, shared};

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
    let reference = reference("neu-yolov8n-320");
    assert_eq!(reference.len(), 270);
    let opts = PredictOptions {
        conf: 0.25,
        iou: 0.7,
        max_det: 300,
        agnostic: false,
    };
    let mut m = Matched::new();
    for (file, refs) in &reference {
        let ours = model.predict(&neu_test_image(file), &opts).unwrap().detections;
        m.add(file, refs, &ours);
    }
    m.assert_all();
    assert_eq!(m.matched, 399);
}
