//! ONNX export of our YOLOv8 against Burn's own forward pass, in the real ONNX
//! Runtime (`./scripts/setup-onnxruntime.sh`; without it these tests fail and say
//! so). The networks are fresh but not trivial: every batch norm gets random
//! scale, shift and running statistics, so the folding into the convolutions is
//! exercised, and the checkpoint goes through `save_model` / `load_model` first.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use burn::tensor::Device;
use detective_core::Rng;
use detective_ml::checkpoint::{ModelMeta, load_model, save_model};
use detective_ml::detect::{Scale, YoloConfig, YoloV8};
use detective_ml::export::{burn_forward, compare_with_burn, export_onnx, read_onnx};
use detective_ml::train::params::{read_params, write_params};
use detective_ml::{Detector, MlError, OnnxDetector};
use detective_vision::preprocess::{Letterbox, LetterboxShape, Normalize, to_chw};
use detective_vision::{DecodeLimits, decode_file};

const TOLERANCE: f32 = 1e-3;

fn names(n: usize) -> Vec<String> {
    ["scratch", "spot", "crack", "dent", "pit"][..n]
        .iter()
        .map(|s| s.to_string())
        .collect()
}

/// A fresh model with random batch-norm parameters and statistics, saved as
/// `dir/NAME.bpk` and loaded back.
fn checkpoint(dir: &Path, name: &str, scale: Scale, nc: usize, imgsz: u32, seed: u64) -> (PathBuf, YoloV8, ModelMeta) {
    let device = Device::flex();
    let model = YoloV8::new(&YoloConfig { scale, num_classes: nc }, &device);
    let (infos, mut values) = read_params(&model);
    let touched = crate::common::randomize_batch_norms(&infos, &mut values, seed, |p| {
        // Scores around 0.5 rather than the tiny prior, so their differences mean something.
        (p.starts_with("cls_branches") && p.ends_with("pred.bias")).then_some((-1.0, 1.0))
    });
    assert!(touched > 100, "only {touched} batch-norm tensors found");
    let model = write_params(model, &values, &device);
    let meta = ModelMeta::new(scale, names(nc), imgsz);
    let path = dir.join(format!("{name}.bpk"));
    save_model(&model, &meta, &path).unwrap();
    let (loaded, meta2) = load_model(&path, &device).unwrap();
    assert_eq!(meta2, meta);
    (path, loaded, meta)
}

fn grey(s: u32) -> Vec<f32> {
    vec![114.0 / 255.0; 3 * (s * s) as usize]
}

fn noise(s: u32, seed: u64) -> Vec<f32> {
    let mut rng = Rng::new(seed);
    (0..3 * (s * s) as usize).map(|_| rng.f32()).collect()
}

/// A NEU-DET test image letterboxed like the serving path does.
fn real_image(s: u32) -> Vec<f32> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/NEU-DET/images/test/scratches_260.jpg");
    let frame = decode_file(&path, &DecodeLimits::default()).expect("NEU-DET test image");
    let lb = Letterbox::plan(frame.width(), frame.height(), LetterboxShape::Square(s)).unwrap();
    to_chw(&lb.apply(&frame).unwrap(), &Normalize::default())
}

fn max_diff(model: &YoloV8, onnx: &Path, input: &[f32]) -> f32 {
    compare_with_burn(model, onnx, input).expect("ONNX Runtime run (is it installed? ./scripts/setup-onnxruntime.sh)")
}

/// Max |Δ| of the box rows and of the score rows separately, and the spread of
/// Burn's outputs (so a dead network cannot pass by giving constants).
fn diff_by_rows(model: &YoloV8, onnx: &Path, input: &[f32], imgsz: u32) -> (f32, f32, f32, f32) {
    let ort = OnnxDetector::load(onnx, None, 1).expect("ONNX Runtime");
    let (shape, a) = ort.infer(input.to_vec()).unwrap();
    let (_, b) = burn_forward(model, input, imgsz).unwrap();
    let n = shape[2] as usize;
    let diff = |r: std::ops::Range<usize>| r.map(|i| (a[i] - b[i]).abs()).fold(0.0f32, f32::max);
    let spread = |r: std::ops::Range<usize>| {
        let (lo, hi) = r
            .map(|i| b[i])
            .fold((f32::MAX, f32::MIN), |(l, h), v| (l.min(v), h.max(v)));
        hi - lo
    };
    (
        diff(0..4 * n),
        diff(4 * n..b.len()),
        spread(2 * n..3 * n),
        spread(4 * n..b.len()),
    )
}

#[test]
fn export_matches_burn_forward_on_grey_noise_and_a_real_image() {
    let dir = tempfile::tempdir().unwrap();
    let (_, model, meta) = checkpoint(dir.path(), "n3", Scale::N, 3, 128, 1);
    let out = dir.path().join("n3-128.onnx");
    let report = export_onnx(&model, &meta, 128, &out).unwrap();
    assert_eq!(report.path, out);
    assert_eq!(report.bytes, std::fs::metadata(&out).unwrap().len());
    assert_eq!(report.anchors, 16 * 16 + 8 * 8 + 4 * 4);
    let mut worst = 0.0f32;
    for (what, input) in [
        ("grey", grey(128)),
        ("noise", noise(128, 7)),
        ("NEU-DET", real_image(128)),
    ] {
        let d = max_diff(&model, &out, &input);
        eprintln!("imgsz 128, {what}: max |ONNX Runtime - Burn| = {d:e}");
        assert!(d <= TOLERANCE, "{what}: max diff {d}");
        worst = worst.max(d);
    }
    // One larger input size, from the same weights.
    let out320 = dir.path().join("n3-320.onnx");
    let r320 = export_onnx(&model, &meta, 320, &out320).unwrap();
    assert_eq!(r320.anchors, 40 * 40 + 20 * 20 + 10 * 10);
    assert_eq!(r320.params, report.params, "weights do not depend on the input size");
    let d = max_diff(&model, &out320, &real_image(320));
    eprintln!("imgsz 320, NEU-DET: max |ONNX Runtime - Burn| = {d:e}");
    let (boxes, scores, width_spread, score_spread) = diff_by_rows(&model, &out320, &real_image(320), 320);
    eprintln!(
        "imgsz 320, NEU-DET: boxes {boxes:e}, scores {scores:e}; Burn's widths span {width_spread} px, scores {score_spread}"
    );
    assert!(
        width_spread > 1.0 && score_spread > 0.1,
        "the network's outputs hardly vary"
    );
    assert!(d <= TOLERANCE, "320: max diff {d}");
    eprintln!("worst max diff: {:e}", worst.max(d));
}

#[test]
fn exported_graph_has_ultralytics_layout_metadata_and_folded_batch_norm() {
    let dir = tempfile::tempdir().unwrap();
    let (_, model, meta) = checkpoint(dir.path(), "meta", Scale::N, 3, 96, 2);
    let out = dir.path().join("sub/dir/meta.onnx");
    let report = export_onnx(&model, &meta, 96, &out).unwrap();
    let m = read_onnx(&out).unwrap();
    assert_eq!(m.opset_import[0].version, Some(17));
    let g = m.graph.as_ref().unwrap();
    assert_eq!(g.node.len(), report.nodes);
    assert_eq!(g.input.len(), 1);
    assert_eq!(g.input[0].name.as_deref(), Some("images"));
    assert_eq!(g.input[0].dims(), [Some(1), Some(3), Some(96), Some(96)]);
    assert_eq!(g.output[0].name.as_deref(), Some("output0"));
    assert_eq!(g.output[0].dims(), [Some(1), Some(7), Some(144 + 36 + 9)]);
    let ops: BTreeSet<&str> = g.node.iter().filter_map(|n| n.op_type.as_deref()).collect();
    let expected: BTreeSet<&str> = [
        "Add", "Concat", "Conv", "MatMul", "MaxPool", "Mul", "Reshape", "Resize", "Sigmoid", "Softmax", "Split", "Sub",
    ]
    .into_iter()
    .collect();
    assert_eq!(ops, expected, "no BatchNormalization: it is folded");
    // Folded: every convolution has a bias; 63 convolutions in a YOLOv8 n/s (Ultralytics'
    // graph has a 64th for the DFL, which is a MatMul here).
    let convs: Vec<_> = g.node.iter().filter(|n| n.op_type.as_deref() == Some("Conv")).collect();
    assert!(convs.iter().all(|n| n.input.len() == 3));
    assert_eq!(convs.len(), 63);
    // Parameters: each batch norm's four vectors (γ, β, mean, variance) became one bias.
    let (infos, _) = read_params(&model);
    let bn: usize = infos.iter().filter(|i| i.path.contains(".bn.")).map(|i| i.len()).sum();
    let total: usize = infos.iter().map(|i| i.len()).sum();
    assert_eq!(report.params, total - bn + bn / 4);
    // Metadata as Ultralytics writes it.
    assert_eq!(m.metadata("names"), Some("{0: 'scratch', 1: 'spot', 2: 'crack'}"));
    assert_eq!(m.metadata("imgsz"), Some("[96, 96]"));
    assert_eq!(m.metadata("stride"), Some("32"));
    assert_eq!(m.metadata("task"), Some("detect"));
    assert_eq!(m.metadata("batch"), Some("1"));
    assert_eq!(m.metadata("author"), Some("Defect Detective"));
    assert!(m.metadata("description").is_some_and(|d| d.contains("YOLOv8n")));
    // ONNX Runtime reads the same names and input size back.
    let det = OnnxDetector::load(&out, None, 1).expect("ONNX Runtime");
    assert_eq!(det.names, meta.names);
    assert_eq!(det.imgsz, 96);
    // No temporary file is left behind.
    let left: Vec<_> = std::fs::read_dir(out.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left, [std::ffi::OsString::from("meta.onnx")]);
}

#[test]
fn bad_imgsz_is_refused_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let device = Device::flex();
    let model = YoloV8::new(
        &YoloConfig {
            scale: Scale::N,
            num_classes: 2,
        },
        &device,
    );
    let meta = ModelMeta::new(Scale::N, names(2), 64);
    let out = dir.path().join("bad.onnx");
    for imgsz in [0, 100, 321, 8192] {
        match export_onnx(&model, &meta, imgsz, &out) {
            Err(MlError::InvalidArgument(m)) => assert!(m.contains("multiple of 32"), "{m}"),
            other => panic!("imgsz {imgsz}: {other:?}"),
        }
    }
    // Metadata that does not fit the network is refused too.
    let wrong = ModelMeta::new(Scale::N, names(3), 64);
    assert!(matches!(
        export_onnx(&model, &wrong, 64, &out),
        Err(MlError::InvalidArgument(_))
    ));
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn scale_s_exports_and_matches_burn() {
    let dir = tempfile::tempdir().unwrap();
    let (_, model, meta) = checkpoint(dir.path(), "s2", Scale::S, 2, 64, 3);
    let out = dir.path().join("s2.onnx");
    let report = export_onnx(&model, &meta, 64, &out).unwrap();
    // YOLOv8s has ~11.1 M parameters (80 classes); with 2 classes a little fewer.
    assert!((10_500_000..11_200_000).contains(&report.params), "{}", report.params);
    let d = max_diff(&model, &out, &noise(64, 11));
    eprintln!("scale s, imgsz 64, noise: max |ONNX Runtime - Burn| = {d:e}");
    assert!(d <= TOLERANCE, "max diff {d}");
}

#[test]
fn detector_load_prefers_the_onnx_export_next_to_the_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let (path, model, meta) = checkpoint(dir.path(), "best", Scale::N, 2, 64, 4);
    let burn = Detector::load(&path, None, 1).unwrap();
    assert_eq!(burn.backend, "burn");
    export_onnx(&model, &meta, meta.imgsz, &path.with_extension("onnx")).unwrap();
    let ort = Detector::load(&path, None, 1).unwrap();
    assert_eq!(ort.backend, "onnxruntime");
    assert_eq!(ort.names, meta.names);
    assert_eq!(ort.imgsz, 64);
    let input = real_image(64);
    let (s1, a) = burn.engine().infer(input.clone()).unwrap();
    let (s2, b) = ort.engine().infer(input).unwrap();
    assert_eq!(s1, s2);
    let d = a.iter().zip(&b).map(|(x, y)| (x - y).abs()).fold(0.0f32, f32::max);
    assert!(d <= TOLERANCE, "max diff {d}");
}
