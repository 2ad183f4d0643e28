//! The shipped MagneticTile anomaly model (models/README.md) scores the figures
//! recorded there on the real test split, in Burn and in ONNX Runtime.

use crate::common::val_shipped;

/// Test image and pixel AUROC of `models/magnetictile-anomaly.bpk` as
/// models/README.md records them (0.773, 0.708), less a rounding margin.
const SHIPPED_IMAGE_AUROC: f64 = 0.7725 - 0.005;
const SHIPPED_PIXEL_AUROC: f64 = 0.7079 - 0.005;

#[test]
fn the_shipped_magnetictile_anomaly_model_scores_its_recorded_figures_in_every_engine() {
    let d = tempfile::tempdir().unwrap();
    let val = |file: &str| val_shipped(d.path(), "MagneticTile", "test", file);
    let burn = val("magnetictile-anomaly.bpk");
    assert_eq!(
        (burn["task"].as_str(), burn["images"].as_u64()),
        (Some("anomaly"), Some(202))
    );
    let (image, pixel) = (
        burn["image_auroc"].as_f64().unwrap(),
        burn["pixel_auroc"].as_f64().unwrap(),
    );
    assert!(image >= SHIPPED_IMAGE_AUROC, "Burn: test image AUROC {image}");
    assert!(pixel >= SHIPPED_PIXEL_AUROC, "Burn: test pixel AUROC {pixel}");
    // the calibrated threshold lets about 1 % of the good parts through
    assert!(burn["false_alarm_rate"].as_f64().unwrap() <= 0.03, "{burn}");
    let onnx = val("magnetictile-anomaly.onnx");
    for (k, b) in [("image_auroc", image), ("pixel_auroc", pixel)] {
        let o = onnx[k].as_f64().unwrap();
        assert!((o - b).abs() < 2e-3, "{k}: ONNX {o} against Burn {b}");
    }
}
