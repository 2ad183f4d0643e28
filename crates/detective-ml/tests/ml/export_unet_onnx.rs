//! ONNX export of the segmenter (UNetTiny) against Burn's own forward pass, in the
//! real ONNX Runtime (`./scripts/setup-onnxruntime.sh`). The network is fresh but
//! not trivial: every batch norm gets random scale, shift and running statistics
//! (so the folding is exercised) and the checkpoint goes through
//! `save_segmenter` / `load_segmenter` first; inputs are noise and a real
//! MagneticTile image.

use std::path::{Path, PathBuf};

use burn::tensor::Device;
use detective_core::Rng;
use detective_ml::checkpoint::{SegMeta, load_segmenter, save_segmenter};
use detective_ml::export::{compare_seg_with_burn, export_segmenter, read_onnx, verify_seg_export};
use detective_ml::segment::onnx_segmenter::OnnxSegmenter;
use detective_ml::segment::{UNetConfig, UNetTiny};
use detective_ml::train::params::{read_params, write_params};
use detective_vision::{DecodeLimits, decode_file};

const TOLERANCE: f32 = 1e-3;

fn checkpoint(dir: &Path, imgsz: u32, seed: u64) -> (PathBuf, UNetTiny) {
    checkpoint_with(dir, imgsz, seed, false)
}

fn checkpoint_with(dir: &Path, imgsz: u32, seed: u64, standardize: bool) -> (PathBuf, UNetTiny) {
    let device = Device::flex();
    let cfg = UNetConfig {
        standardize,
        ..UNetConfig::default()
    };
    let model = UNetTiny::new(&cfg, &device);
    let (infos, mut values) = read_params(&model);
    let touched = crate::common::randomize_batch_norms(&infos, &mut values, seed, |_| None);
    assert!(touched >= 4 * 14, "only {touched} batch-norm tensors found");
    let model = write_params(model, &values, &device);
    let path = dir.join("seg.bpk");
    let meta = SegMeta {
        standardize,
        ..SegMeta::new(vec!["defect".into()], imgsz, 0.5)
    };
    save_segmenter(&model, &meta, &path).unwrap();
    let (loaded, meta2) = load_segmenter(&path, &device).unwrap();
    assert_eq!(meta2, meta);
    (path, loaded)
}

#[test]
fn exported_segmenter_matches_burn_on_noise_and_a_real_tile() {
    let d = tempfile::tempdir().unwrap();
    let (path, model) = checkpoint(d.path(), 96, 5);
    for s in [96u32, 160] {
        let onnx = d.path().join(format!("seg{s}.onnx"));
        let report = export_segmenter(&model, &load_segmenter(&path, &Device::flex()).unwrap().1, s, &onnx).unwrap();
        assert_eq!(report.imgsz, s);
        let mut rng = Rng::new(s as u64);
        let noise: Vec<f32> = (0..3 * (s * s) as usize).map(|_| rng.f32()).collect();
        let diff = compare_seg_with_burn(&model, &onnx, &noise).expect("ONNX Runtime runs the export");
        assert!(diff <= TOLERANCE, "imgsz {s}: max |Δ| {diff}");
        assert!(verify_seg_export(&path, &onnx).unwrap() <= TOLERANCE);
    }
    // a real MagneticTile image through the ONNX segmenter's own preprocessing
    let tile = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/MagneticTile/images/test");
    let first = std::fs::read_dir(&tile)
        .expect("MagneticTile test images")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .min()
        .unwrap();
    let frame = decode_file(&first, &DecodeLimits::default()).unwrap();
    let seg = OnnxSegmenter::load(&d.path().join("seg96.onnx"), 1).unwrap();
    let probs = seg.probabilities(&frame).unwrap();
    assert_eq!(probs.len(), (frame.width() * frame.height()) as usize);
    assert!(probs.iter().all(|p| (0.0..=1.0).contains(p)));
    let burn = detective_ml::segment::segmenter::Segmenter::load(&path)
        .unwrap()
        .probabilities(&frame, 96)
        .unwrap();
    let diff = probs
        .iter()
        .zip(&burn)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    assert!(diff <= TOLERANCE, "real tile: max |Δ| {diff}");
}

#[test]
fn segmenter_graph_declares_its_task_shapes_and_metadata() {
    let d = tempfile::tempdir().unwrap();
    let (path, model) = checkpoint(d.path(), 64, 9);
    let onnx = d.path().join("seg.onnx");
    let meta = load_segmenter(&path, &Device::flex()).unwrap().1;
    export_segmenter(&model, &meta, 64, &onnx).unwrap();
    let m = read_onnx(&onnx).unwrap();
    let prop = |k: &str| {
        m.metadata_props
            .iter()
            .find(|p| p.key.as_deref() == Some(k))
            .and_then(|p| p.value.clone())
    };
    assert_eq!(prop("task").as_deref(), Some("segment"));
    assert_eq!(prop("imgsz").as_deref(), Some("[64, 64]"));
    let g = m.graph.unwrap();
    let ops: Vec<&str> = g.node.iter().filter_map(|n| n.op_type.as_deref()).collect();
    assert_eq!(ops.iter().filter(|o| **o == "DepthToSpace").count(), 3);
    assert!(!ops.contains(&"BatchNormalization"), "batch norm must be folded");
    assert_eq!(ops.last(), Some(&"Sigmoid"));
    // sizes not divisible by 16 are refused
    assert!(export_segmenter(&model, &meta, 72, &d.path().join("bad.onnx")).is_err());
}

#[test]
fn a_standardising_segmenter_exports_instance_normalization_and_matches_burn() {
    let d = tempfile::tempdir().unwrap();
    let (path, model) = checkpoint_with(d.path(), 64, 11, true);
    assert!(model.standardize, "the loaded model standardises, as its metadata says");
    let onnx = d.path().join("seg.onnx");
    let meta = load_segmenter(&path, &Device::flex()).unwrap().1;
    export_segmenter(&model, &meta, 64, &onnx).unwrap();
    let g = read_onnx(&onnx).unwrap().graph.unwrap();
    assert_eq!(
        g.node.first().and_then(|n| n.op_type.as_deref()),
        Some("InstanceNormalization")
    );
    // a dim, low-contrast input: what the standardisation is for
    let mut rng = Rng::new(3);
    let dim: Vec<f32> = (0..3 * 64 * 64).map(|_| 0.2 + 0.1 * rng.f32()).collect();
    let diff = compare_seg_with_burn(&model, &onnx, &dim).expect("ONNX Runtime runs the export");
    assert!(diff <= TOLERANCE, "max |Δ| {diff}");
    assert!(verify_seg_export(&path, &onnx).unwrap() <= TOLERANCE);
}
